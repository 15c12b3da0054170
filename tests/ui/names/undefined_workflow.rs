orch_runtime::workflow! {
    workflow Hello {
        start greet;
        call greet workflow Greting { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }

    workflow Greeting {
        worker Greeter;
        start greet;
        task greet by Greeter { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }
}

fn main() {}
