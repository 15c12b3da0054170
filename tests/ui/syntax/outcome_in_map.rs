orch_runtime::workflow! {
    workflow Hello {
        input { names: list }
        worker Greeter;
        start greet;
        map greet over input.names as name by Greeter {
            with { name: name }
            ok -> done;
            on shy -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
