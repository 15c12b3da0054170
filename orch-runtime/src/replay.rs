//! Replay: run a recorded run again against the workflow as it is loaded now, answering every
//! worker call, signal and child run from the recording, and find the first place where the new
//! run's trail differs from the recorded one.
//!
//! A replay calls no worker and waits for nothing: backoff delays are skipped, a wait that timed
//! out times out at once. Use it to check that a changed definition still takes recorded runs
//! down the same path, or to reproduce a run exactly while debugging.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, Mailbox, RunControl, Signal, SignalReply, StartError};
use crate::result::RunResult;
use crate::run::Run;
use crate::trail::{Attempt, AttemptStatus, Entry, Received};
use crate::worker::{BoxFuture, Call, Reply, Worker, WorkerError, WorkerResult};

/// The outcome of a replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// The new run.
    pub result: RunResult,
    /// The first trail entry where the new run differs from the recording, if any.
    pub divergence: Option<Divergence>,
}

/// Where a replayed trail first differs from the recorded one (times aside).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// Index in the trails.
    pub index: usize,
    /// The recorded entry (`None` when the replay went on past the recording's end).
    pub recorded: Option<Entry>,
    /// The replayed entry (`None` when the replay ended early).
    pub replayed: Option<Entry>,
}

/// Identifies one attempt in a run.
type Key = (
    Arc<str>,
    u64,
    Option<Arc<str>>,
    Option<usize>,
    Option<u64>,
    u32,
);

fn key(
    state: &Arc<str>,
    step: u64,
    branch: &Option<Arc<str>>,
    item: Option<usize>,
    iteration: Option<u64>,
    attempt: u32,
) -> Key {
    (
        state.clone(),
        step,
        branch.clone(),
        item,
        iteration,
        attempt,
    )
}

/// What a recorded run answered.
pub(crate) struct Book {
    attempts: HashMap<Key, Attempt>,
    children: HashMap<(Arc<str>, u64), RunResult>,
    signals: Vec<Signal>,
}

impl Book {
    fn new(recorded: &RunResult) -> Book {
        let mut book = Book {
            attempts: HashMap::new(),
            children: HashMap::new(),
            signals: Vec::new(),
        };
        for entry in &recorded.trail {
            match entry {
                Entry::Attempt(a) => {
                    let k = key(&a.state, a.step, &a.branch, a.item, a.iteration, a.attempt);
                    book.attempts.insert(k, (**a).clone());
                }
                Entry::Child { step, state, run } => {
                    book.children
                        .insert((state.clone(), *step), (**run).clone());
                }
                Entry::Signal(received) if !received.timed_out => {
                    let Received {
                        signal,
                        outcome,
                        payload,
                        rejected,
                        ..
                    } = &**received;
                    book.signals.push(Signal {
                        name: signal.to_string(),
                        reply: match rejected {
                            Some(reason) => SignalReply::Reject(reason.clone()),
                            None => SignalReply::Outcome(
                                outcome.as_deref().unwrap_or(crate::trail::OK).to_string(),
                                payload.clone().unwrap_or(Value::Null),
                            ),
                        },
                        seq: None,
                    });
                }
                _ => {}
            }
        }
        book
    }

    pub fn child(&self, state: &Arc<str>, step: u64) -> Option<&RunResult> {
        self.children.get(&(state.clone(), step))
    }
}

/// Answers worker calls from the book.
struct Recorded {
    book: Arc<Book>,
    /// Stops the replayed run where the recorded one was stopped.
    stop: CancellationToken,
}

impl Worker for Recorded {
    fn call(&self, call: Call) -> BoxFuture<WorkerResult> {
        let k = key(
            &call.state,
            call.step,
            &call.branch,
            call.item,
            call.iteration,
            call.attempt,
        );
        let Some(attempt) = self.book.attempts.get(&k).cloned() else {
            let message = format!(
                "replay: the recording has no attempt {} of `{}` at step {}",
                call.attempt, call.state, call.step
            );
            return Box::pin(async move { Err(WorkerError::permanent(message)) });
        };
        let mut next = k.clone();
        next.5 += 1;
        let retried = self.book.attempts.contains_key(&next);
        let error = attempt.error.clone().unwrap_or_default();
        let failure = move |e: WorkerError| WorkerError {
            retryable: retried,
            ..e
        };
        match attempt.status {
            AttemptStatus::Ok => Box::pin(async move {
                Ok(Reply {
                    outcome: attempt.outcome.unwrap_or_else(|| "ok".into()),
                    output: attempt.output.unwrap_or(Value::Null),
                    usage: attempt.usage.map(|usage| *usage),
                })
            }),
            AttemptStatus::Failed => Box::pin(async move { Err(failure(WorkerError::new(error))) }),
            AttemptStatus::TimedOut => {
                Box::pin(async move { Err(failure(WorkerError::timed_out(error))) })
            }
            AttemptStatus::Panicked => {
                let message = error
                    .strip_prefix("the worker panicked: ")
                    .unwrap_or(&error)
                    .to_string();
                Box::pin(async move { std::panic::panic_any(message) })
            }
            AttemptStatus::Cancelled => {
                // Cut off in the recording: a join decided without it, or the run was stopped.
                if call.branch.is_none() && call.item.is_none() {
                    // The run stops here, as the recorded one did.
                    self.stop.cancel();
                    return Box::pin(std::future::pending());
                }
                Box::pin(async move {
                    call.cancelled().await;
                    Err(WorkerError::permanent("cancelled"))
                })
            }
        }
    }
}

impl Engine {
    /// Replays a recorded run against the workflow of the same name as loaded now.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use orch_runtime::{Call, Engine, Reply};
    /// let engine = Engine::new();
    /// engine.bind("Coin", |_: Call| async { Ok(Reply::outcome("heads", 1)) });
    /// let text = r#"
    ///     workflow Toss {
    ///         worker Coin;
    ///         start toss;
    ///         task toss by Coin { on heads -> won; on tails -> lost; fail -> lost; }
    ///         succeed won;
    ///         fail lost;
    ///     }
    /// "#;
    /// engine.load(text).unwrap();
    /// let recorded = engine.run("Toss", serde_json::json!({})).await.unwrap();
    ///
    /// // The same definition takes the recorded path.
    /// assert_eq!(engine.replay(&recorded).await.unwrap().divergence, None);
    ///
    /// // A changed definition does not.
    /// let swapped = text.replace("heads -> won; on tails -> lost", "heads -> lost; on tails -> won");
    /// engine.load(&swapped).unwrap();
    /// let replay = engine.replay(&recorded).await.unwrap();
    /// assert_eq!(replay.divergence.unwrap().index, 1);
    /// # });
    /// ```
    pub async fn replay(&self, recorded: &RunResult) -> Result<Replay, StartError> {
        let result = self.replay_run(recorded, CancellationToken::new())?.await;
        let divergence = first_divergence(&recorded.trail, &result.trail);
        Ok(Replay { result, divergence })
    }

    pub(crate) fn replay_run(
        &self,
        recorded: &RunResult,
        cancel: CancellationToken,
    ) -> Result<BoxFuture<RunResult>, StartError> {
        // Its own workers answer from the record: those bound to the engine are not needed.
        let crate::engine::Registered {
            workflow, names, ..
        } = self.registered(&recorded.workflow)?;
        let input =
            crate::data::prepare_input(&workflow, recorded.input.clone()).map_err(|message| {
                StartError::InvalidInput {
                    workflow: recorded.workflow.to_string(),
                    message,
                }
            })?;
        let book = Arc::new(Book::new(recorded));
        let worker: Arc<dyn Worker> = Arc::new(Recorded {
            book: book.clone(),
            stop: cancel.clone(),
        });
        let workers = workflow.workers.iter().map(|_| worker.clone()).collect();
        let shared = crate::engine::Shared::new(workflow, names, workers, &self.inner);
        let mailbox = Mailbox::new(book.signals.iter().cloned().collect::<VecDeque<_>>());
        let control = RunControl::new(
            recorded.run_id.clone(),
            shared.names.workflow.clone(),
            cancel,
            Some(mailbox),
            0,
            true,
        );
        let mut run = Run::new(self.clone(), shared, input, control);
        run.replay = Some(book);
        Ok(run.drive())
    }
}

fn first_divergence(recorded: &[Entry], replayed: &[Entry]) -> Option<Divergence> {
    let len = recorded.len().max(replayed.len());
    (0..len).find_map(|index| {
        let a = recorded.get(index).map(Entry::without_times);
        let b = replayed.get(index).map(Entry::without_times);
        (a != b).then_some(Divergence {
            index,
            recorded: a,
            replayed: b,
        })
    })
}
