orch_runtime::workflow! {
    workflow Build {
        worker Coder;
        worker Reviewer;
        start code;
        task code by Coder { ok -> review; fail -> failed; }
        task review by Reviewer {
            on approved -> done;
            on changes_requested -> code;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
