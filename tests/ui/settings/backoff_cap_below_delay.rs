orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        start greet;
        task greet by Greeter {
            retry 3 backoff 10s x2 max 5s;
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
