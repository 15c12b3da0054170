orch_runtime::workflow! {
    workflow Report {
        input { topic: string }
        start research;
        call research workflow Research {
            with { topic: input.topic, depht: 3 }
            ok -> done;
            fail -> failed;
        }
        succeed done output research.output;
        fail failed;
    }

    workflow Research {
        input { topic: string, depth: integer = 2 }
        worker Searcher;
        start search;
        task search by Searcher {
            with { topic: input.topic, depth: input.depth }
            ok -> done;
            fail -> failed;
        }
        succeed done output search.output;
        fail failed;
    }
}

fn main() {}
