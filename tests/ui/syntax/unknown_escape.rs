// rustc's lexer reports the escape too, before `workflow!` reports it with its code.
orch_runtime::workflow! {
    workflow Hello {
        worker Greeter "greets \q people";
        start greet;
        task greet by Greeter { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }
}

fn main() {}
