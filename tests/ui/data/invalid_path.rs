orch_runtime::workflow! {
    workflow Reviews {
        worker Editor;
        worker Writer;
        start reviews;
        parallel reviews {
            branch clarity by Editor;
            branch accuracy by Editor;
            ok -> write;
            fail -> failed;
        }
        task write by Writer {
            with { notes: reviews.clarity }
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
