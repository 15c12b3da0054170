orch_runtime::workflow! {
    workflow Reviews {
        worker Editor;
        start reviews;
        parallel reviews {
            branch clarity by Editor;
            ok -> done;
            fail -> failed;
        }
        succeed done output reviews.output;
        fail failed;
    }
}

fn main() {}
