orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        timeout 10s;
        start greet;
        task greet by Greeter {
            retry 3 backoff 2s x2;
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
