orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        start greet;
        task greet by Greeter {
            retry 3 backoff 1s x0.5;
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
