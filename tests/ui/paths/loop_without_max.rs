orch_runtime::workflow! {
    workflow Polish {
        worker Writer;
        start refine;
        loop refine by Writer {
            until refine.output.score >= 9;
            ok -> done;
            fail -> failed;
        }
        succeed done output refine.output;
        fail failed;
    }
}

fn main() {}
