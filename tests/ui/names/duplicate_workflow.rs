orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        start greet;
        task greet by Greeter { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }

    workflow Hello {
        worker Waver;
        start wave;
        task wave by Waver { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }
}

fn main() {}
