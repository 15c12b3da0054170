orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        start greet;
        task greet by Greeter { ok -> output; fail -> failed; }
        succeed output;
        fail failed;
    }
}

fn main() {}
