orch_runtime::workflow! {
    workflow Research {
        input { topics: list }
        worker Researcher;
        start research;
        map research over input.topics as topic by Researcher {
            with { topic: topic }
            limit 0;
            ok -> done;
            fail -> failed;
        }
        succeed done output research.output;
        fail failed;
    }
}

fn main() {}
