//! What a finished run reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::StepData;
use crate::trail::{Entry, Trail};
use crate::worker::Usage;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// It reached a `succeed` state.
    Succeeded,
    /// It reached a `fail` state, or was stopped by `max_steps`.
    Failed,
    /// Its `timeout` expired.
    TimedOut,
    /// It was cancelled through its handle.
    Cancelled,
    /// It was paused through its handle; it continues when resumed from its store.
    Paused,
}

/// The result of a finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub run_id: String,
    pub workflow: String,
    /// The run's input, defaults applied.
    pub input: Value,
    pub status: RunStatus,
    /// The terminal state reached, if any.
    pub terminal: Option<String>,
    /// The `succeed … output` value.
    pub output: Option<Value>,
    /// The `fail … error` value, or what stopped the run.
    pub error: Option<Value>,
    /// What each state produced, by state name (parallel states list their branches).
    pub states: BTreeMap<String, StepData>,
    /// Steps taken: state entries and loop iterations.
    pub steps: u64,
    pub duration_ms: u64,
    /// What the run's worker calls consumed, in all (child runs included).
    #[serde(default, skip_serializing_if = "Usage::is_empty")]
    pub usage: Usage,
    pub trail: Vec<Entry>,
}

impl RunResult {
    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Succeeded
    }

    /// The result with every time set to zero, for comparing runs.
    pub fn without_times(&self) -> RunResult {
        RunResult {
            duration_ms: 0,
            trail: self.trail.without_times(),
            ..self.clone()
        }
    }

    /// The states the run went through, in order.
    pub fn path(&self) -> Vec<String> {
        self.trail.path().iter().map(|s| s.to_string()).collect()
    }
}
