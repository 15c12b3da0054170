orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        start greet;
        task greet by Greeter {
            timeout 0s;
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
