orch_runtime::workflow! {
    workflow Countdown {
        worker Counter;
        start count;
        task count by Counter { ok -> again; fail -> failed; }
        call again workflow Countdown { ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }
}

fn main() {}
