#![deny(deprecated)]

orch_runtime::workflow! {
    workflow Hello {
        worker Greeter;
        worker Checker;
        start check;
        task check by Checker { ok -> greet; on skip -> done; fail -> failed; }
        task greet by Greeter { fail -> failed; }
        succeed done;
        fail failed;
    }
}

fn main() {}
