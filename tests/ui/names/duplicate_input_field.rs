orch_runtime::workflow! {
    workflow Hello {
        input { name: string, name: string }
        worker Greeter;
        start greet;
        task greet by Greeter {
            with { name: input.name }
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
