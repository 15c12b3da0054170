//! Tasks, loops, waits and calls of child workflows.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use orch_dsl::ir::{self, EdgeEvent, RetryPolicy, StateKind, ValueExpr};
use serde_json::Value;

use super::attempt::{self, Failure, Place, Plan, Spec};
use super::{End, Next, Run};
use crate::data::Locals;
use crate::engine::{Shared, SignalReply, lock};
use crate::event::Event;
use crate::result::RunStatus;
use crate::trail::{Entry, Received};

impl Run {
    pub(super) fn spec<'w>(
        &self,
        plan: Plan<'w>,
        retry: Option<&'w RetryPolicy>,
        timeout_ms: Option<u64>,
    ) -> Spec<'w> {
        Spec {
            plan,
            retry,
            timeout_ms: timeout_ms.and_then(NonZeroU64::new),
            control: self.control.clone(),
        }
    }

    pub(super) fn eval(&self, input: Option<&ValueExpr>, locals: Locals<'_>) -> Value {
        input.map_or(Value::Null, |expr| self.data.eval(expr, locals))
    }

    /// A `task`: its attempts, then the way out they lead to. The call is prepared before the
    /// returned future is polled, which keeps only the attempts and what `exit` needs (an
    /// `async fn` would keep every argument, for the reason given at [`attempt::attempts`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn task<'r, 'w: 'r>(
        &'r mut self,
        shared: &'w Shared,
        id: usize,
        step: u64,
        worker: usize,
        input: Option<&ValueExpr>,
        retry: Option<&'w RetryPolicy>,
        timeout_ms: Option<u64>,
        exits: &'w ir::Exits,
    ) -> impl Future<Output = Next<'w>> + Send + 'r {
        let plan = self.plan(
            shared,
            id,
            step,
            worker,
            self.eval(input, Locals::default()),
        );
        let attempts = attempt::attempts(self.spec(plan, retry, timeout_ms));
        // `map` rather than an `async` block, which would hold the attempts' future twice (as
        // captured and as awaited).
        futures_util::FutureExt::map(attempts, move |(records, result)| {
            self.record(records);
            self.exit(id, exits, result)
        })
    }

    /// A `loop`: iterations until the condition holds or `max` is reached.
    pub(super) async fn repeat<'w>(
        &mut self,
        shared: &'w Shared,
        id: usize,
        step: u64,
        kind: &'w StateKind,
    ) -> Next<'w> {
        let StateKind::Loop(lp) = kind else {
            unreachable!("repeat runs loop states only")
        };
        let ir::Loop {
            worker,
            input,
            until,
            max,
            exhausted,
            retry,
            timeout_ms,
            exits,
            ..
        } = &**lp;
        let mut previous = Value::Null;
        for iteration in 1..=*max {
            let step = if iteration == 1 {
                step
            } else {
                match self.count_step() {
                    Some(end) => return Next::Stop(end),
                    None => self.steps,
                }
            };
            let locals = Locals {
                index: Some(iteration),
                previous: Some(&previous),
                item: None,
            };
            let input = self.eval(input.as_ref(), locals);
            let mut plan = self.plan(shared, id, step, *worker, input);
            plan.place = Place::Iteration(iteration);
            let (records, result) =
                attempt::attempts(self.spec(plan, retry.as_deref(), *timeout_ms)).await;
            self.record(records);
            // Any outcome completes an iteration; `until` can read it as `<loop>.outcome`.
            let reply = match result {
                Ok(reply) => reply,
                Err(failure) => return self.fail(id, exits, failure),
            };
            let data = self.step_data(id);
            data.output = Some(reply.output.clone());
            data.outcome = Some(reply.outcome);
            let locals = Locals {
                index: Some(iteration),
                ..Locals::default()
            };
            if until.as_ref().is_some_and(|c| self.data.test(c, locals)) {
                return self.exit_ok(id, exits);
            }
            previous = reply.output;
        }
        match exhausted {
            Some(edge) => Next::Edge(EdgeEvent::Exhausted, edge),
            None => self.exit_ok(id, exits),
        }
    }

    fn exit_ok<'w>(&mut self, id: usize, exits: &'w ir::Exits) -> Next<'w> {
        match &exits.ok {
            Some(edge) => Next::Edge(EdgeEvent::Ok, edge),
            None => {
                let error = format!(
                    "state `{}` has no `ok` transition",
                    self.shared.names.states[id]
                );
                self.fail(
                    id,
                    exits,
                    Failure {
                        error,
                        timed_out: false,
                    },
                )
            }
        }
    }

    /// A `wait`: the first matching signal, or the timeout.
    pub(super) async fn wait<'w>(
        &mut self,
        id: usize,
        step: u64,
        signal: usize,
        timeout_ms: Option<u64>,
        exits: &'w ir::Exits,
    ) -> Next<'w> {
        let name: Arc<str> = Arc::from(self.shared.workflow.signals[signal].name.as_str());
        self.emit(|run| Event::Waiting {
            run,
            step,
            state: self.shared.names.states[id].clone(),
            signal: name.clone(),
        });
        // The deadline is kept in Unix time, so that a run resumed after a restart waits only
        // for what is left of it.
        let deadline_ms = match self.resumed_deadline(id) {
            Some(deadline) => Some(deadline),
            None => timeout_ms.map(|ms| attempt::now_ms().saturating_add(ms)),
        };
        if deadline_ms.is_some()
            && self.replay.is_none()
            && let Err(error) = self.save(id, step - 1, deadline_ms).await
        {
            return Next::Stop(End::Store(error));
        }
        let deadline = deadline_ms.map(|at| {
            tokio::time::Instant::now()
                + Duration::from_millis(at.saturating_sub(attempt::now_ms()))
        });
        let mailbox = self.control.mailbox().clone();
        let reply = loop {
            let arrived = mailbox.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let taken = {
                let mut queue = lock(&mailbox.signals);
                let at = queue.iter().position(|s| *s.name == *name);
                at.and_then(|at| queue.remove(at))
            };
            if let Some(signal) = taken {
                self.consumed(signal.seq);
                break Some(signal.reply);
            }
            if self.replay.is_some() {
                // The recorded run got no signal here: it timed out, or it was stopped.
                if deadline.is_none() {
                    return Next::Stop(End::Cancelled);
                }
                break None;
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                        break None;
                    }
                }
                None => arrived.await,
            }
        };
        let mut entry = Received {
            step,
            state: self.shared.names.states[id].clone(),
            signal: name,
            outcome: None,
            payload: None,
            rejected: None,
            timed_out: reply.is_none(),
            at_ms: attempt::now_ms(),
        };
        let next = match reply {
            None => {
                let error = format!(
                    "no signal within {}",
                    super::show_ms(timeout_ms.unwrap_or_default())
                );
                self.fail(
                    id,
                    exits,
                    Failure {
                        error,
                        timed_out: true,
                    },
                )
            }
            Some(SignalReply::Reject(reason)) => {
                entry.rejected = Some(reason.clone());
                self.fail(
                    id,
                    exits,
                    Failure {
                        error: reason,
                        timed_out: false,
                    },
                )
            }
            Some(SignalReply::Outcome(label, payload)) => {
                let label = crate::trail::shared(label.into());
                entry.outcome = Some(label.clone());
                entry.payload = Some(payload.clone());
                let reply = crate::Reply {
                    outcome: label,
                    output: payload,
                    usage: None,
                };
                self.exit(id, exits, Ok(reply))
            }
        };
        self.write(Entry::Signal(Box::new(entry)));
        next
    }

    /// A `call`: the child workflow runs inside this run, with its own trail.
    pub(super) async fn call_workflow<'w>(
        &mut self,
        id: usize,
        step: u64,
        workflow: &str,
        input: Option<&ValueExpr>,
        timeout_ms: Option<u64>,
        exits: &'w ir::Exits,
    ) -> Next<'w> {
        let input = self.eval(input, Locals::default());
        let token = self.control.cancel.child_token();
        let child = match &self.replay {
            Some(book) => book.child(&self.shared.names.states[id], step).map_or_else(
                || {
                    Err(format!(
                        "the recorded run has no child run of `{}` at step {step}",
                        self.shared.names.states[id]
                    ))
                },
                |recorded| {
                    self.engine
                        .replay_run(recorded, token.clone())
                        .map_err(|e| e.to_string())
                },
            ),
            None => self
                .engine
                .prepare(
                    workflow,
                    input,
                    token.clone(),
                    Some(self.control.mailbox().clone()),
                )
                .map(Run::drive)
                .map_err(|e| e.to_string()),
        };
        let mut child = match child {
            Ok(child) => child,
            Err(error) => {
                return self.fail(
                    id,
                    exits,
                    Failure {
                        error,
                        timed_out: false,
                    },
                );
            }
        };
        // On timeout the child is stopped and still reports its trail.
        let (result, timed_out) = match timeout_ms {
            Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), &mut child).await {
                Ok(result) => (result, false),
                Err(_) => {
                    token.cancel();
                    (child.await, true)
                }
            },
            None => (child.await, false),
        };
        let status = result.status;
        let output = result.output.clone();
        let error = result.error.clone();
        self.write(Entry::Child {
            step,
            state: self.shared.names.states[id].clone(),
            run: Box::new(result),
        });
        if timed_out {
            let error = format!(
                "workflow `{workflow}` did not finish within {}",
                super::show_ms(timeout_ms.unwrap_or_default())
            );
            return self.fail(
                id,
                exits,
                Failure {
                    error,
                    timed_out: true,
                },
            );
        }
        match status {
            RunStatus::Succeeded => self.exit(
                id,
                exits,
                Ok(crate::Reply::ok(output.unwrap_or(Value::Null))),
            ),
            RunStatus::Cancelled | RunStatus::Paused => Next::Stop(End::Cancelled),
            other => {
                let detail = error.map_or(String::new(), |e| match e {
                    Value::String(s) => format!(": {s}"),
                    other => format!(": {other}"),
                });
                let timed_out = other == RunStatus::TimedOut;
                let what = if timed_out { "timed out" } else { "failed" };
                let error = format!("workflow `{workflow}` {what}{detail}");
                self.fail(id, exits, Failure { error, timed_out })
            }
        }
    }
}
