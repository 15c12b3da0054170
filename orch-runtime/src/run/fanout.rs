//! `parallel` branches and `map` items: concurrent worker calls inside one run.
//!
//! Branches and items are futures polled together by the run's task, so they run concurrently
//! and a decided join or a cancelled run drops (and so cancels) whatever is still running.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use orch_dsl::ir::{self, PathExpr, RetryPolicy, ValueExpr};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::attempt::{self, Failure, Place};
use super::{Next, Run};
use crate::data::{Locals, StepData, kind_of};
use crate::engine::Shared;
use crate::event::Event;
use crate::worker::Reply;

type Finished = (usize, (attempt::Records, Result<Reply, Failure>));

/// How a fan-out ended.
enum Verdict {
    Success,
    Failure(String),
    /// The state's time ran out, or a map item's last attempt timed out.
    TimedOut(String),
}

pub(super) struct MapSpec<'w> {
    pub over: &'w PathExpr,
    pub worker: usize,
    pub input: Option<&'w ValueExpr>,
    pub limit: Option<u64>,
    pub retry: Option<&'w RetryPolicy>,
    pub timeout_ms: Option<u64>,
}

/// Branches polled together in rounds: each round polls every unfinished branch once and yields
/// all that finished, in branch order. So every branch starts before a join decides, and
/// branches that finish together are counted in a fixed order.
struct Rounds<F: Future> {
    futures: Vec<Option<std::pin::Pin<Box<F>>>>,
}

impl<F: Future> Default for Rounds<F> {
    fn default() -> Self {
        Rounds {
            futures: Vec::new(),
        }
    }
}

impl<F: Future> Rounds<F> {
    fn push(&mut self, future: F) {
        self.futures.push(Some(Box::pin(future)));
    }

    /// The branches that finished in the next round; empty when none is left.
    async fn next(&mut self) -> Vec<(usize, F::Output)> {
        std::future::poll_fn(|cx| {
            let mut done = Vec::new();
            for (i, slot) in self.futures.iter_mut().enumerate() {
                if let Some(future) = slot
                    && let std::task::Poll::Ready(output) = future.as_mut().poll(cx)
                {
                    done.push((i, output));
                    *slot = None;
                }
            }
            if done.is_empty() && self.futures.iter().any(Option::is_some) {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(done)
            }
        })
        .await
    }
}

impl Run {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn parallel<'w>(
        &mut self,
        shared: &'w Shared,
        id: usize,
        step: u64,
        branches: &'w [ir::Branch],
        join: ir::Join,
        timeout_ms: Option<u64>,
        exits: &'w ir::Exits,
    ) -> Next<'w> {
        let required = join.required(branches.len());
        let mut rounds = Rounds::default();
        let mut tokens = Vec::with_capacity(branches.len());
        for branch in branches {
            let name: Arc<str> = Arc::from(branch.name.as_str());
            let input = self.eval(branch.input.as_ref(), Locals::default());
            let mut plan = self.plan(shared, id, step, branch.worker, input);
            plan.place = Place::Branch(name.clone());
            let token = self.control.cancel.child_token();
            tokens.push(token.clone());
            plan.cancel = Some(token);
            let spec = self.spec(plan, branch.retry.as_ref(), branch.timeout_ms);
            rounds.push(attempt::attempts(spec));
            let state = self.shared.names.states[id].clone();
            self.emit(|run| Event::BranchSpawned {
                run,
                step,
                state,
                branch: name,
            });
        }
        let deadline = timeout_ms.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
        let mut results: Vec<Option<Finished>> = (0..branches.len()).map(|_| None).collect();
        let (mut succeeded, mut failed) = (0, 0);
        let verdict = loop {
            let round = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, rounds.next()).await {
                    Ok(round) => round,
                    Err(_) => {
                        let ms = timeout_ms.unwrap_or_default();
                        break Verdict::TimedOut(format!("timed out after {}", super::show_ms(ms)));
                    }
                },
                None => rounds.next().await,
            };
            if round.is_empty() {
                break Verdict::Failure("no branch to run".into());
            }
            for (i, outcome) in round {
                let ok = outcome.1.is_ok();
                let branch: Arc<str> = Arc::from(branches[i].name.as_str());
                let state = self.shared.names.states[id].clone();
                self.emit(|run| Event::BranchJoined {
                    run,
                    step,
                    state,
                    branch,
                    ok,
                });
                if ok {
                    succeeded += 1
                } else {
                    failed += 1
                }
                results[i] = Some((i, outcome));
            }
            if succeeded >= required {
                break Verdict::Success;
            }
            if branches.len() - failed < required {
                break Verdict::Failure(format!(
                    "{failed} of {} branches failed; {required} had to succeed",
                    branches.len()
                ));
            }
        };
        drop(rounds);
        self.settle(&tokens);
        let mut output = serde_json::Map::new();
        let mut data = vec![StepData::default(); branches.len()];
        let mut attempts = Vec::new();
        for (i, (records, result)) in results.into_iter().flatten() {
            attempts.extend(records);
            match result {
                Ok(reply) => {
                    output.insert(branches[i].name.to_string(), reply.output.clone());
                    data[i].output = Some(reply.output);
                    data[i].outcome = Some(reply.outcome);
                }
                Err(failure) => data[i].error = Some(failure.error),
            }
        }
        self.record(attempts);
        self.step_data(id).branches = data;
        self.conclude(id, exits, verdict, Value::Object(output))
    }

    pub(super) async fn map<'w>(
        &mut self,
        shared: &'w Shared,
        id: usize,
        step: u64,
        spec: MapSpec<'w>,
        exits: &'w ir::Exits,
    ) -> Next<'w> {
        let items = match self.data.lookup(spec.over, Locals::default()) {
            Value::Array(items) => items,
            other => {
                let error = format!("`{}` is {}, not a list", spec.over.text, kind_of(&other));
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
        if let Some(limit) = self.engine.inner.options.limits.max_map_items
            && items.len() > limit
        {
            let error = format!(
                "`{}` has {} items, more than the limit of {limit}",
                spec.over.text,
                items.len()
            );
            return self.fail(
                id,
                exits,
                Failure {
                    error,
                    timed_out: false,
                },
            );
        }
        let limit = spec
            .limit
            .map_or(items.len(), |l| usize::try_from(l).unwrap_or(usize::MAX))
            .max(1);
        let mut pending = FuturesUnordered::new();
        let mut tokens = Vec::new();
        let mut outputs: Vec<Option<Value>> = vec![None; items.len()];
        let mut records: Vec<(usize, attempt::Records)> = Vec::new();
        let mut started = 0;
        let verdict = loop {
            while started < items.len() && pending.len() < limit {
                let locals = Locals {
                    item: Some(&items[started]),
                    ..Locals::default()
                };
                let input = self.eval(spec.input, locals);
                let mut plan = self.plan(shared, id, step, spec.worker, input);
                plan.place = Place::Item(started);
                let token = self.control.cancel.child_token();
                tokens.push(token.clone());
                plan.cancel = Some(token);
                let attempt_spec = self.spec(plan, spec.retry, spec.timeout_ms);
                let i = started;
                // `map` rather than an `async` block, which would keep the specification
                // twice: as captured and inside the attempts' future.
                pending.push(attempt::attempts(attempt_spec).map(move |done| (i, done)));
                started += 1;
            }
            // A map's `timeout` limits each attempt of an item, not the whole state.
            let Some((i, (attempts, result))) = pending.next().await else {
                break Verdict::Success;
            };
            records.push((i, attempts));
            match result {
                Ok(reply) => outputs[i] = Some(reply.output),
                Err(failure) => {
                    let error = format!("item {i}: {}", failure.error);
                    break if failure.timed_out {
                        Verdict::TimedOut(error)
                    } else {
                        Verdict::Failure(error)
                    };
                }
            }
        };
        drop(pending);
        self.settle(&tokens);
        records.sort_by_key(|(i, _)| *i);
        self.record(records.into_iter().flat_map(|(_, attempts)| attempts));
        let output = Value::Array(
            outputs
                .into_iter()
                .map(|o| o.unwrap_or(Value::Null))
                .collect(),
        );
        self.conclude(id, exits, verdict, output)
    }

    /// Cancels the calls still running after a fan-out was decided.
    fn settle(&self, tokens: &[CancellationToken]) {
        for token in tokens {
            token.cancel();
        }
    }

    fn conclude<'w>(
        &mut self,
        id: usize,
        exits: &'w ir::Exits,
        verdict: Verdict,
        output: Value,
    ) -> Next<'w> {
        match verdict {
            Verdict::Success => self.exit(id, exits, Ok(Reply::ok(output))),
            Verdict::Failure(error) => self.fail(
                id,
                exits,
                Failure {
                    error,
                    timed_out: false,
                },
            ),
            Verdict::TimedOut(error) => self.fail(
                id,
                exits,
                Failure {
                    error,
                    timed_out: true,
                },
            ),
        }
    }
}
