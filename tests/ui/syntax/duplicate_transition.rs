orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        start greet;
        task greet by Greeter {
            ok -> done;
            fail -> failed;
            ok -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
