#![deny(deprecated)]

orch_runtime::workflow! {
    workflow Hello {
        input { name: string, mood: string = "cheerful" }
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
