//! Events of running workflows, for live progress and monitoring.

use std::sync::Arc;

use serde::Serialize;

use crate::result::RunStatus;

/// Something that happened in a run. Every event names its run.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run: Arc<str>,
        workflow: Arc<str>,
    },
    StepStarted {
        run: Arc<str>,
        step: u64,
        state: Arc<str>,
    },
    /// An attempt failed and another will follow after `delay_ms`.
    Retrying {
        run: Arc<str>,
        step: u64,
        state: Arc<str>,
        branch: Option<Arc<str>>,
        item: Option<usize>,
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    StepFinished {
        run: Arc<str>,
        step: u64,
        state: Arc<str>,
        event: std::borrow::Cow<'static, str>,
        next: Arc<str>,
    },
    BranchSpawned {
        run: Arc<str>,
        step: u64,
        state: Arc<str>,
        branch: Arc<str>,
    },
    BranchJoined {
        run: Arc<str>,
        step: u64,
        state: Arc<str>,
        branch: Arc<str>,
        ok: bool,
    },
    /// A `wait` is waiting for a signal.
    Waiting {
        run: Arc<str>,
        step: u64,
        state: Arc<str>,
        signal: Arc<str>,
    },
    RunFinished {
        run: Arc<str>,
        status: RunStatus,
    },
}

impl Event {
    /// The run the event belongs to.
    pub fn run(&self) -> &str {
        match self {
            Event::RunStarted { run, .. }
            | Event::StepStarted { run, .. }
            | Event::Retrying { run, .. }
            | Event::StepFinished { run, .. }
            | Event::BranchSpawned { run, .. }
            | Event::BranchJoined { run, .. }
            | Event::Waiting { run, .. }
            | Event::RunFinished { run, .. } => run,
        }
    }
}
