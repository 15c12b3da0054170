orch_runtime::workflow! {
    workflow Hello {
        input { name: string }
        worker Greeter;
        start greet;
        task greet by Greeter {
            with { prompt: "Greet {{inptu.name}} warmly." }
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
