orch_runtime::workflow! {
    workflow Reviews {
        worker Editor;
        start reviews;
        parallel reviews {
            branch clarity by Editor;
            branch accuracy by Editor;
            join 3;
            ok -> done;
            fail -> failed;
        }
        succeed done output reviews.output;
        fail failed;
    }
}

fn main() {}
