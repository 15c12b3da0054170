#![deny(deprecated)]

orch_runtime::workflow! {
    workflow Build {
        worker Coder;
        worker Reviewer;
        max_steps 5;
        start code;
        task code by Coder { ok -> review; fail -> failed; }
        task review by Reviewer {
            on approved -> done;
            on changes_requested -> code max 3 else failed;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
