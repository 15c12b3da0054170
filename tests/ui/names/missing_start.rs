orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        task greet by Greeter { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }
}

fn main() {}
