orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        /// Where it all begins.
        start greet;
        task greet by Greeter { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }
}

fn main() {}
