orch_runtime::workflow! {
    workflow Approval {
        signal Approve;
        start approval;
        wait approval for Approve {
            timeout 24h;
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
