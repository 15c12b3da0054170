orch_runtime::workflow! {
    workflow Route {
        worker Classifier;
        start classify;
        task classify by Classifier { ok -> route; fail -> failed; }
        choice route {
            when classify.output.kind == "simple" -> done;
            when classify.output.kind == "hard" -> failed;
        }
        succeed done;
        fail failed;
    }
}

fn main() {}
