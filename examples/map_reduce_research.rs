//! Map-reduce research: a planner lists the topics of a question, a `map` researches each
//! topic — at most two at a time (`limit 2`) — and a synthesizer combines the findings, which
//! arrive as a list in the order of the topics. Compiled from
//! `examples/workflows/map_reduce_research.orch`.
//!
//! Each scripted researcher takes a few milliseconds, so that the limit is visible: the example
//! counts how many researchers were busy at once.
//!
//! ```text
//! cargo run --example map_reduce_research
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("map_reduce_research");

use map_reduce_research::{Input, Workers};

/// What a run produced, and how many researchers were busy at the same time at most.
pub struct Research {
    pub result: RunResult,
    pub peak_concurrency: usize,
}

#[derive(Default)]
struct Busy {
    now: AtomicUsize,
    peak: AtomicUsize,
}

struct Library {
    busy: Arc<Busy>,
}

const TOPICS: [&str; 5] = ["history", "cost", "safety", "regulation", "public opinion"];

impl Workers for Library {
    async fn planner(&self, call: Call) -> WorkerResult<Value> {
        let count = call.input["topics"].as_u64().unwrap_or(5) as usize;
        let topics = &TOPICS[..count.min(TOPICS.len())];
        println!("planner: {} needs {topics:?}", call.input["question"]);
        Ok(json!({ "topics": topics }))
    }

    async fn researcher(&self, call: Call) -> WorkerResult<Value> {
        let topic = call.input["topic"].as_str().unwrap_or_default().to_string();
        let now = self.busy.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.busy.peak.fetch_max(now, Ordering::SeqCst);
        println!("researcher: reading up on {topic}");
        tokio::time::sleep(Duration::from_millis(15)).await;
        self.busy.now.fetch_sub(1, Ordering::SeqCst);
        Ok(json!(format!("three sources on {topic}")))
    }

    async fn synthesizer(&self, call: Call) -> WorkerResult<Value> {
        let findings = call.input["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        println!("synthesizer: combining {} findings", findings.len());
        Ok(json!({
            "answer": "trams are worth it where a bus line is full at peak hours",
            "based_on": findings,
        }))
    }
}

/// Researches one question.
pub async fn run() -> Result<Research, StartError> {
    let busy = Arc::new(Busy::default());
    let input = Input {
        question: "Should our town bring back the tram?".into(),
        topics: None,
    };
    let library = Library { busy: busy.clone() };
    let result = map_reduce_research::run(library, input).await?;
    Ok(Research {
        result,
        peak_concurrency: busy.peak.load(Ordering::SeqCst),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let research = run().await?;
    println!(
        "\nat most {} researchers were busy at once (limit 2)",
        research.peak_concurrency
    );
    support::print_summary(&research.result, map_reduce_research::WORST_CASE_STEPS);
    Ok(())
}
