orch_runtime::workflow! {
    workflow Hello {
        input { first: string, last: string }
        worker Greeter;
        start greet;
        task greet by Greeter {
            with { prompt: "Greet {{input.first input.last}}." }
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
