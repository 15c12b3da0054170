#![deny(deprecated)]

orch_runtime::workflow! {
    workflow Summarize {
        worker Writer;
        start draft;
        task draft by Writer { ok -> polish; fail -> failed; }
        task polish by Writer { with { draft: draft.output? } ok -> done; fail -> failed; }
        succeed done output polish.output;
        fail failed;
    }
}

fn main() {}
