//! Ping-pong: a creator and a critic take turns until the critic scores a version 0.8 or
//! better. The edge back to the creator is bounded (`else -> create max 4 else
//! not_good_enough`), so there are at most five versions. Compiled from
//! `examples/workflows/ping_pong.orch`.
//!
//! The example plays twice: with a critic won over by the third version, and with one never
//! satisfied, whom the bound stops after the fifth. The creator cannot read `critique.output`
//! (E0303: the critic has not run on the first pass); the scripted creator improves on its own.
//!
//! ```text
//! cargo run --example ping_pong
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("ping_pong");

use ping_pong::{Input, Workers};

/// The scores a critic won over gives the first, second and third versions.
pub const PERSUADABLE: &[f64] = &[0.5, 0.7, 0.85];
/// The scores of a critic who is never satisfied.
pub const UNCONVINCED: &[f64] = &[0.3, 0.4, 0.5, 0.6, 0.7];

struct Studio {
    versions: AtomicU32,
    /// The critic's score for each version, in order.
    scores: &'static [f64],
}

impl Workers for Studio {
    async fn creator(&self, call: Call) -> WorkerResult<Value> {
        let version = self.versions.fetch_add(1, Ordering::SeqCst) + 1;
        println!("creator: version {version} of {}", call.input["brief"]);
        Ok(json!({ "version": version, "text": format!("slogan, take {version}") }))
    }

    async fn critic(&self, call: Call) -> WorkerResult<Value> {
        let version = call.input["draft"]["version"].as_u64().unwrap_or(1) as usize;
        let score = self.scores[(version - 1).min(self.scores.len() - 1)];
        println!("critic: version {version} scores {score}");
        Ok(json!({ "score": score }))
    }
}

/// Plays once against a critic who gives `scores`.
pub async fn run(scores: &'static [f64]) -> Result<RunResult, StartError> {
    let studio = Studio {
        versions: AtomicU32::new(0),
        scores,
    };
    let input = Input {
        brief: "a slogan for the town's cycling week".into(),
    };
    ping_pong::run(studio, input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (i, scores) in [PERSUADABLE, UNCONVINCED].into_iter().enumerate() {
        if i > 0 {
            println!();
        }
        let result = run(scores).await?;
        support::print_summary(&result, ping_pong::WORST_CASE_STEPS);
    }
    Ok(())
}
