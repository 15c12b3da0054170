orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        start greet;
        task greet by Greter { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }
}

fn main() {}
