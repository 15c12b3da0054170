// The skeleton's `Workers` trait covers the workers of the workflows it calls, as the real one
// does, so an implementation written against the real trait reports no extra errors.

use orch_runtime::{Call, WorkerResult};
use serde_json::Value;

orch_runtime::workflow! {
    workflow Report {
        input { topic: string }
        worker Writer;
        start research;
        call research workflow Research {
            with { topic: input.topic }
            ok -> write;
            fail -> failed;
        }
        task write by Writer { ok -> done; fail -> failed; }
        succeed done output write.output;
        fail failed;
    }

    workflow Research {
        input { topic: string }
        worker Searcher;
        start serch;
        task search by Searcher { ok -> found; fail -> not_found; }
        succeed found output search.output;
        fail not_found;
    }
}

struct Staff;

impl report::Workers for Staff {
    async fn writer(&self, call: Call) -> WorkerResult<Value> {
        Ok(call.input)
    }

    async fn searcher(&self, call: Call) -> WorkerResult<Value> {
        Ok(call.input)
    }
}

fn main() {
    let _ = report::run(
        Staff,
        report::Input {
            topic: "tides".into(),
        },
    );
}
