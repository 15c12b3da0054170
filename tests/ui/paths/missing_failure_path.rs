orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        start greet;
        task greet by Greeter { ok -> done; }
        succeed done;
    }
}

fn main() {}
