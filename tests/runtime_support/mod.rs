//! Shared helpers for the runtime integration tests: scripted workers, recorders, drop guards
//! and trail accessors.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orch::{Attempt, AttemptStatus, Call, Engine, Entry, Reply, RunResult, WorkerError};
use serde_json::Value;
use tokio::time::Instant;

/// An engine with `source` loaded; panics with the diagnostics if it does not load.
pub fn load(engine: &Engine, source: &str) {
    if let Err(error) = engine.load(source) {
        panic!("the workflow did not load: {error}");
    }
}

/// Every attempt of a run's own trail (not of its child runs), in order.
pub fn attempts(result: &RunResult) -> Vec<&Attempt> {
    result
        .trail
        .iter()
        .filter_map(|entry| match entry {
            Entry::Attempt(attempt) => Some(&**attempt),
            _ => None,
        })
        .collect()
}

/// The attempts of one state.
pub fn attempts_of<'r>(result: &'r RunResult, state: &str) -> Vec<&'r Attempt> {
    attempts(result)
        .into_iter()
        .filter(|a| &*a.state == state)
        .collect()
}

/// The statuses of a run's attempts, in trail order.
pub fn statuses(result: &RunResult) -> Vec<AttemptStatus> {
    attempts(result).iter().map(|a| a.status).collect()
}

/// The transitions of a run as `(from, event, to)`.
pub fn transitions(result: &RunResult) -> Vec<(String, String, String)> {
    result
        .trail
        .iter()
        .filter_map(|entry| match entry {
            Entry::Transition {
                from, event, to, ..
            } => Some((from.to_string(), event.to_string(), to.to_string())),
            _ => None,
        })
        .collect()
}

pub fn output(result: &RunResult, state: &str) -> Value {
    result.states[state]
        .output
        .clone()
        .unwrap_or_else(|| panic!("state `{state}` has no output"))
}

pub fn error(result: &RunResult, state: &str) -> String {
    result.states[state]
        .error
        .clone()
        .unwrap_or_else(|| panic!("state `{state}` has no error"))
}

/// A log shared between a test and its workers.
#[derive(Clone, Default)]
pub struct Log<T>(Arc<Mutex<Vec<T>>>);

impl<T: Clone> Log<T> {
    pub fn new() -> Log<T> {
        Log(Arc::new(Mutex::new(Vec::new())))
    }

    pub fn push(&self, value: T) {
        self.0.lock().unwrap().push(value);
    }

    pub fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// A flag set once, shared between a test and its workers.
#[derive(Clone, Default)]
pub struct Flag(Arc<AtomicBool>);

impl Flag {
    pub fn new() -> Flag {
        Flag::default()
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// A guard that sets the flag when it is dropped: held by a worker's future, it proves
    /// the future was dropped.
    pub fn on_drop(&self) -> DropGuard {
        DropGuard(self.clone())
    }

    /// Sets the flag when the call is cancelled, watched from a task of its own (so that it
    /// observes `Call::cancelled` even after the worker's future is gone).
    pub fn on_cancel(&self, call: &Call) {
        let flag = self.clone();
        let call = call.clone();
        tokio::spawn(async move {
            call.cancelled().await;
            flag.set();
        });
    }
}

pub struct DropGuard(Flag);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Counts calls in flight and remembers the most at once.
#[derive(Clone, Default)]
pub struct Tally {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally::default()
    }

    /// Counts one call in flight until the returned guard is dropped.
    pub fn enter(&self) -> TallyGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        TallyGuard(self.now.clone())
    }

    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }
}

pub struct TallyGuard(Arc<AtomicUsize>);

impl Drop for TallyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A worker that answers from a script, one reply per call in call order, repeating the last
/// entry when the script runs out, and records every call's input.
#[derive(Clone)]
pub struct Script {
    replies: Arc<Mutex<Vec<Result<Reply, WorkerError>>>>,
    next: Arc<AtomicUsize>,
    pub calls: Log<Call>,
}

impl Script {
    pub fn new(replies: Vec<Result<Reply, WorkerError>>) -> Script {
        assert!(!replies.is_empty(), "a script needs at least one reply");
        Script {
            replies: Arc::new(Mutex::new(replies)),
            next: Arc::new(AtomicUsize::new(0)),
            calls: Log::new(),
        }
    }

    /// A worker that replies `ok` with `output` every time.
    pub fn ok(output: Value) -> Script {
        Script::new(vec![Ok(Reply::ok(output))])
    }

    pub fn inputs(&self) -> Vec<Value> {
        self.calls.all().into_iter().map(|c| c.input).collect()
    }

    /// The closure to bind.
    pub fn worker(
        &self,
    ) -> impl Fn(
        Call,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Reply, WorkerError>> + Send>,
    > + Send
    + Sync
    + 'static {
        let script = self.clone();
        move |call: Call| {
            let script = script.clone();
            Box::pin(async move {
                script.calls.push(call.clone());
                let n = script.next.fetch_add(1, Ordering::SeqCst);
                let replies = script.replies.lock().unwrap();
                replies[n.min(replies.len() - 1)].clone()
            })
        }
    }
}

/// A worker that sleeps for `ms` of (paused) time and then replies `ok` with its input.
pub fn sleeper(ms: u64) -> impl Fn(Call) -> SleepFuture + Send + Sync + 'static {
    move |call: Call| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Reply::ok(call.input))
        })
    }
}

pub type SleepFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply, WorkerError>> + Send>>;

/// Milliseconds of (paused) time since `start`.
pub fn ms_since(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

/// Lets the runtime make progress for `ms` of paused time.
pub async fn advance(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

pub fn fails(message: &str) -> Result<Reply, WorkerError> {
    Err(WorkerError::new(message))
}

pub fn ok(output: Value) -> Result<Reply, WorkerError> {
    Ok(Reply::ok(output))
}

pub fn outcome(label: &str, output: Value) -> Result<Reply, WorkerError> {
    Ok(Reply::outcome(label, output))
}
