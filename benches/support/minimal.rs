//! The least a run of the concurrent benchmark's workflow needs, written directly rather than
//! through the engine: a floor for what the engine's 100,000 concurrent runs could cost.
//!
//! It keeps what the engine must: a run id; a control block shared with the run's handle, to
//! hand over its result; for each of the three steps a call with the run's input and names,
//! the worker's boxed future, an attempt record with its wall-clock start and duration, the
//! trail's attempt and transition entries and the state's data; at the end a result with all
//! of them. The records and trail entries are the engine's own public types.
//! What it leaves out: the workflow's IR (the three states are a list of names), templates,
//! cancellation, retries, timeouts, events, tracing, stores and every other kind of state.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orch_runtime::{Attempt, AttemptStatus, Entry, StepData, WorkerResult};
use serde_json::Value;
use tokio::sync::Notify;

/// What a worker gets: the same fields as the engine's `Call`.
pub struct Call {
    pub input: Value,
    pub run_id: Arc<str>,
    pub workflow: Arc<str>,
    pub state: Arc<str>,
    pub worker: Arc<str>,
    pub step: u64,
    pub attempt: u32,
}

type Worker = dyn Fn(Call) -> Pin<Box<dyn Future<Output = WorkerResult> + Send>> + Send + Sync;

/// A run's result: the fields of the engine's `RunResult`.
pub struct Finished {
    pub run_id: Arc<str>,
    pub workflow: Arc<str>,
    pub input: Value,
    pub succeeded: bool,
    pub terminal: Option<Arc<str>>,
    pub output: Option<Value>,
    pub states: Vec<StepData>,
    pub steps: u64,
    pub duration_ms: u64,
    pub trail: Vec<Entry>,
}

/// Shared by a run and its handle.
struct Control {
    id: Arc<str>,
    result: Mutex<Option<Finished>>,
    ended: Notify,
}

/// The workflow: three tasks by one worker, then a terminal.
pub struct Minimal {
    workflow: Arc<str>,
    /// The three tasks and the terminal.
    states: [Arc<str>; 4],
    worker_name: Arc<str>,
    worker: Arc<Worker>,
    next_run: AtomicU64,
}

/// A started run.
pub struct Handle {
    control: Arc<Control>,
}

impl Minimal {
    /// The workflow of the concurrent benchmark, its worker sleeping `sleep` at each step.
    pub fn new(sleep: Duration) -> Arc<Minimal> {
        // The call is dropped as the worker starts, as the engine's benchmark worker drops it.
        let worker: Arc<Worker> = Arc::new(move |call: Call| {
            drop(call);
            Box::pin(super::workloads::sleep_then_ok(sleep))
        });
        Arc::new(Minimal {
            workflow: Arc::from("ThreeSteps"),
            states: ["a", "b", "c", "done"].map(Arc::from),
            worker_name: Arc::from("Sleeper"),
            worker,
            next_run: AtomicU64::new(0),
        })
    }

    /// Spawns a run with `input` on the current runtime.
    pub fn start(self: &Arc<Minimal>, input: Value) -> Handle {
        let n = self.next_run.fetch_add(1, Ordering::Relaxed);
        let control = Arc::new(Control {
            id: Arc::from(format!("run-{n}")),
            result: Mutex::new(None),
            ended: Notify::new(),
        });
        tokio::spawn(self.clone().run(control.clone(), input));
        Handle { control }
    }

    async fn run(self: Arc<Minimal>, control: Arc<Control>, input: Value) {
        let began = Instant::now();
        let mut trail = Vec::with_capacity(2 * 3);
        let mut states = Vec::with_capacity(3);
        let mut succeeded = true;
        for step in 0..3 {
            let state = &self.states[step];
            let call = Call {
                input: Value::Null,
                run_id: control.id.clone(),
                workflow: self.workflow.clone(),
                state: state.clone(),
                worker: self.worker_name.clone(),
                step: step as u64 + 1,
                attempt: 1,
            };
            let mut record = Box::new(Attempt {
                step: step as u64 + 1,
                state: state.clone(),
                worker: self.worker_name.clone(),
                branch: None,
                item: None,
                iteration: None,
                attempt: 1,
                input: Value::Null,
                status: AttemptStatus::Cancelled,
                outcome: None,
                output: None,
                error: None,
                usage: None,
                started_at_ms: now_ms(),
                duration_us: 0,
            });
            let called = Instant::now();
            let result = (self.worker)(call).await;
            record.duration_us = called.elapsed().as_micros() as u64;
            let (event, data) = match result {
                Ok(reply) => {
                    record.status = AttemptStatus::Ok;
                    record.outcome = Some(reply.outcome.clone());
                    record.output = Some(reply.output.clone());
                    let data = StepData {
                        output: Some(reply.output),
                        outcome: Some(reply.outcome),
                        error: None,
                        branches: Vec::new(),
                    };
                    (Cow::Borrowed("ok"), data)
                }
                Err(error) => {
                    record.status = AttemptStatus::Failed;
                    record.error = Some(error.message.clone());
                    succeeded = false;
                    let data = StepData {
                        error: Some(error.message),
                        ..StepData::default()
                    };
                    (Cow::Borrowed("fail"), data)
                }
            };
            trail.push(Entry::Attempt(record));
            trail.push(Entry::Transition {
                step: step as u64 + 1,
                from: state.clone(),
                event,
                to: self.states[step + 1].clone(),
            });
            states.push(data);
            if !succeeded {
                break;
            }
        }
        let finished = Finished {
            run_id: control.id.clone(),
            workflow: self.workflow.clone(),
            input,
            succeeded,
            terminal: succeeded.then(|| self.states[3].clone()),
            output: None,
            steps: states.len() as u64 + 1,
            states,
            duration_ms: began.elapsed().as_millis() as u64,
            trail,
        };
        *control.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(finished);
        control.ended.notify_waiters();
    }
}

impl Handle {
    /// Waits for the run's result.
    pub async fn result(self) -> Finished {
        loop {
            let ended = self.control.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if let Some(finished) = self
                .control
                .result
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                return finished;
            }
            ended.await;
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts `runs` runs at once and waits for all: how many succeeded, and how long starting
/// them all took.
pub async fn concurrent_runs(runs: usize) -> (usize, Duration) {
    let minimal = Minimal::new(super::workloads::STEP_SLEEP);
    let began = Instant::now();
    let handles: Vec<Handle> = (0..runs)
        .map(|_| minimal.start(Value::Object(Default::default())))
        .collect();
    let starting = began.elapsed();
    let mut succeeded = 0;
    for handle in handles {
        let finished = handle.result().await;
        // Counted only with every record: three attempts, three transitions, three states.
        succeeded += usize::from(
            finished.succeeded && finished.trail.len() == 6 && finished.states.len() == 3,
        );
    }
    (succeeded, starting)
}
