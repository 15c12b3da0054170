//! A workflow that calls another: its `Workers` trait covers the called workflow's workers, and
//! both workflows get their own module.

use orch_runtime::{Call, WorkerResult};
use serde_json::{Value, json};

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
        task write by Writer {
            with { notes: research.output }
            ok -> done;
            fail -> failed;
        }
        succeed done output write.output;
        fail failed;
    }

    workflow Research {
        input { topic: string }
        worker Searcher;
        start search;

        task search by Searcher {
            with { topic: "{{input.topic}}" }
            ok -> found;
            fail -> not_found;
        }
        succeed found output search.output;
        fail not_found;
    }
}

struct Staff;

impl report::Workers for Staff {
    async fn writer(&self, call: Call) -> WorkerResult<Value> {
        Ok(json!(format!("report on {}", call.input["notes"])))
    }

    async fn searcher(&self, call: Call) -> WorkerResult<Value> {
        Ok(json!(format!(
            "notes on {}",
            call.input["topic"].as_str().unwrap_or("?")
        )))
    }
}

impl research::Workers for Staff {
    async fn searcher(&self, _call: Call) -> WorkerResult<Value> {
        Ok(json!("only research"))
    }
}

fn main() {
    assert_eq!(report::program().workflows.len(), 2);
    assert_eq!(research::program().workflows.len(), 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let input = report::Input {
            topic: "tides".into(),
        };
        let result = report::run(Staff, input).await.unwrap();
        assert_eq!(result.output, Some(json!("report on \"notes on tides\"")));
        let input = research::Input {
            topic: "tides".into(),
        };
        let result = research::run(Staff, input).await.unwrap();
        assert_eq!(result.output, Some(json!("only research")));
    });
}
