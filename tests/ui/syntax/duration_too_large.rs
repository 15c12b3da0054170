orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        start greet;
        task greet by Greeter {
            timeout 99999999999999999999d;
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
