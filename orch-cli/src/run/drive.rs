//! Driving started or resumed runs to their end: live progress, Ctrl-C, and, for runs kept in a
//! store, signals that other `orch` processes store for them while they wait.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orch_runtime::store::Store;
use orch_runtime::{Engine, Event, ResumeError, RunHandle, RunResult, RunStatus};
use tokio::sync::{broadcast, mpsc};

use super::progress::Progress;
use crate::durable::{Locks, OWNER};
use crate::error::CANCELLED;

/// How long a run must have been waiting before the store is asked for its signal: a signal
/// already on its way to the run is taken at once.
const SETTLED: Duration = Duration::from_millis(150);
/// How often the store is asked for signals of a waiting run.
const POLL: Duration = Duration::from_millis(250);

/// The store runs are kept in, and what `orch` needs to say how to continue them.
pub struct Durable {
    pub store: Arc<dyn Store>,
    /// The store file, as given.
    pub path: PathBuf,
    pub locks: Locks,
    /// The workflow file and `--config`, for the command that resumes a paused run.
    pub file: PathBuf,
    pub config: Option<PathBuf>,
}

impl Durable {
    /// `orch resume RUN FILE --store …`.
    pub fn resume_command(&self, run: &str) -> String {
        crate::durable::resume_command(run, Some(&self.file), &self.path, self.config.as_deref())
    }
}

/// How one run ended: its result, or why it could not go on.
pub struct Driven {
    pub id: String,
    pub outcome: Result<RunResult, ResumeError>,
}

/// A run being driven.
struct Tracked {
    id: Arc<str>,
    handle: Option<RunHandle>,
    /// Paused to take a signal from the store; resumed once it has stopped.
    cycling: bool,
    /// When this process started driving it, and whether it has resumed it since: a result
    /// then counts its time from the first start.
    started: Instant,
    resumed: bool,
    polled: Option<Instant>,
    outcome: Option<Result<RunResult, ResumeError>>,
}

/// A `wait` in progress, by the run that waits.
struct Wait {
    signal: Arc<str>,
    since: Instant,
}

struct Driver<'a> {
    engine: &'a Engine,
    durable: Option<&'a Durable>,
    progress: &'a mut Progress,
    runs: Vec<Tracked>,
    waits: HashMap<Arc<str>, Wait>,
    interrupted: bool,
}

/// Drives `handles` until every run has ended, showing progress. Ctrl-C pauses runs kept in a
/// store (cancels the others); a second Ctrl-C quits at once. `events` and `interrupts` were
/// taken before the runs started, so that nothing of them is missed.
pub async fn drive(
    engine: &Engine,
    durable: Option<&Durable>,
    mut events: broadcast::Receiver<Event>,
    mut interrupts: mpsc::UnboundedReceiver<()>,
    handles: Vec<RunHandle>,
    progress: &mut Progress,
) -> Vec<Driven> {
    let runs = handles
        .into_iter()
        .map(|handle| Tracked {
            id: Arc::from(handle.id()),
            handle: Some(handle),
            cycling: false,
            started: Instant::now(),
            resumed: false,
            polled: None,
            outcome: None,
        })
        .collect();
    let mut driver = Driver {
        engine,
        durable,
        progress,
        runs,
        waits: HashMap::new(),
        interrupted: false,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut listening = true;
    while driver.runs.iter().any(|r| r.handle.is_some()) {
        tokio::select! {
            event = events.recv(), if listening => match event {
                Ok(event) => driver.event(&event).await,
                Err(broadcast::error::RecvError::Lagged(n)) => driver.progress.missed(n),
                Err(broadcast::error::RecvError::Closed) => listening = false,
            },
            Some(()) = interrupts.recv() => driver.interrupt(),
            _ = tick.tick() => {
                // A run that ended without its last event (it cannot, but never hang on it).
                for i in 0..driver.runs.len() {
                    if driver.runs[i].handle.as_ref().is_some_and(RunHandle::is_finished) {
                        while let Ok(event) = events.try_recv() {
                            driver.progress.show(&event);
                        }
                        driver.settle(i).await;
                    }
                }
                driver.poll_signals().await;
            }
        }
    }
    driver
        .runs
        .into_iter()
        .map(|run| Driven {
            id: run.id.to_string(),
            // Every run left the loop with an outcome; never panic over one that did not.
            outcome: run
                .outcome
                .unwrap_or_else(|| Err(ResumeError::UnknownRun(run.id.to_string()))),
        })
        .collect()
}

impl Driver<'_> {
    async fn event(&mut self, event: &Event) {
        self.progress.show(event);
        let run = event.run();
        match event {
            Event::Waiting { signal, .. } => {
                self.waits.insert(
                    Arc::from(run),
                    Wait {
                        signal: signal.clone(),
                        since: Instant::now(),
                    },
                );
            }
            Event::RunFinished { .. } => {
                self.waits.remove(run);
                if let Some(i) = self.runs.iter().position(|r| *r.id == *run) {
                    self.settle(i).await;
                }
            }
            _ => {
                self.waits.remove(run);
            }
        }
    }

    fn interrupt(&mut self) {
        if self.interrupted {
            std::process::exit(i32::from(CANCELLED));
        }
        self.interrupted = true;
        let live = self.runs.iter().filter(|r| r.handle.is_some()).count();
        let what = if live == 1 { "the run" } else { "the runs" };
        if self.durable.is_some() {
            self.progress
                .note(&format!("pausing {what} (Ctrl-C again to quit at once)"));
        } else {
            self.progress
                .note(&format!("cancelling {what} (Ctrl-C again to quit at once)"));
        }
        for run in &self.runs {
            if let Some(handle) = &run.handle {
                if self.durable.is_some() {
                    handle.pause();
                } else {
                    handle.cancel();
                }
            }
        }
    }

    /// Takes the result of run `i`, which has ended; a run paused to take a signal is resumed.
    async fn settle(&mut self, i: usize) {
        let Some(handle) = self.runs[i].handle.take() else {
            return;
        };
        let mut result = handle.result().await;
        let id = self.runs[i].id.clone();
        if self.runs[i].resumed {
            result.duration_ms = self.runs[i].started.elapsed().as_millis() as u64;
        }
        if result.status == RunStatus::Paused
            && let Some(durable) = self.durable
        {
            if std::mem::take(&mut self.runs[i].cycling) && !self.interrupted {
                if self.runs.len() == 1 {
                    self.waits.clear();
                } else {
                    self.waits.remove(&id);
                }
                match self.engine.resume(&id).await {
                    Ok(handle) => {
                        self.progress.resumed(&id);
                        self.runs[i].handle = Some(handle);
                        self.runs[i].resumed = true;
                    }
                    Err(error) => self.runs[i].outcome = Some(Err(error)),
                }
                return;
            }
            // Paused for good: let another process resume it at once.
            let _ = durable.store.claim(&id, OWNER, Duration::ZERO).await;
        }
        self.runs[i].outcome = Some(Ok(result));
    }

    /// A run kept in a store only learns of signals sent by other processes when it is resumed:
    /// when one of them is waiting for a signal that the store holds, pause and resume it here.
    async fn poll_signals(&mut self) {
        let Some(durable) = self.durable else {
            return;
        };
        if self.interrupted {
            return;
        }
        let now = Instant::now();
        let single = self.runs.len() == 1;
        for i in 0..self.runs.len() {
            let run = &self.runs[i];
            if run.handle.is_none()
                || run.cycling
                || run.polled.is_some_and(|at| now.duration_since(at) < POLL)
            {
                continue;
            }
            // Child runs share their parent's signals; with one main run they are its own.
            let waited: Vec<Arc<str>> = self
                .waits
                .iter()
                .filter(|(waiting, wait)| {
                    (single || ***waiting == *run.id) && now.duration_since(wait.since) >= SETTLED
                })
                .map(|(_, wait)| wait.signal.clone())
                .collect();
            if waited.is_empty() {
                continue;
            }
            self.runs[i].polled = Some(now);
            let Ok(Some(stored)) = durable.store.load(&self.runs[i].id).await else {
                continue;
            };
            let Some(signal) = stored
                .signals
                .iter()
                .find(|s| waited.iter().any(|w| **w == *s.name))
            else {
                continue;
            };
            let run = &mut self.runs[i];
            if let Some(handle) = &run.handle {
                self.progress.arrived(&run.id, &signal.name);
                run.cycling = true;
                handle.pause();
            }
        }
    }
}
