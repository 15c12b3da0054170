orch_runtime::workflow! {
    workflow Hello {
        signal Approve;
        start approval;
        wait approval for Aprove { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }
}

fn main() {}
