orch_runtime::workflow! {
    workflow Review {
        worker Reviewer outcomes [approved, rejected];
        start review;
        task review by Reviewer {
            on approved -> done;
            on rejected -> failed;
            on unsure -> failed;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
