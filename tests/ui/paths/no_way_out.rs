orch_runtime::workflow! {
    workflow Hello {
        input { polite: bool }
        worker Greeter;
        start greet;
        task greet by Greeter { ok -> ping; fail -> failed; }
        choice ping {
            when input.polite -> pong;
            else -> pong;
        }
        choice pong {
            else -> ping max 3 else ping;
        }
        fail failed;
    }
}

fn main() {}
