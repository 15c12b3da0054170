//! Calling a worker: attempts with a per-attempt timeout, panics caught, retries with
//! exponential backoff and seeded full jitter.

use std::num::NonZeroU64;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use orch_dsl::ir::RetryPolicy;
use serde_json::Value;
use smallvec::SmallVec;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::{RunControl, Shared, lock};
use crate::event::Event;
use crate::trail::{Attempt, AttemptStatus};
use crate::worker::{Call, Cancel, Reply, Worker, WorkerError};

/// Why a state's work failed after its attempts.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: String,
    /// The last attempt timed out.
    pub timed_out: bool,
}

/// The attempts of the current state that are not in the trail yet — under way, or finished
/// but held by the state until it writes them — so that a run stopped mid-state still records
/// every one of them.
#[derive(Default)]
pub(crate) struct Flights {
    next: AtomicU64,
    /// By id, which is the order they started in. A list with room for one in place: a run
    /// usually has one attempt here, and a list of its own would be another allocation, and
    /// another cache miss, at every step (a map node per run would cost kilobytes with 100,000
    /// runs under way).
    attempts: Mutex<SmallVec<[(u64, Flight); 1]>>,
}

pub(crate) struct Flight {
    pub attempt: Box<Attempt>,
    /// The attempt finished; its record is complete.
    pub landed: bool,
}

impl Flights {
    fn start(&self, attempt: Box<Attempt>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let flight = Flight {
            attempt,
            landed: false,
        };
        let mut flights = lock(&self.attempts);
        let at = flights.partition_point(|(other, _)| *other < id);
        flights.insert(at, (id, flight));
        id
    }

    /// Completes the record of a finished attempt and returns it. Unless `take`, a copy is
    /// returned and the record stays here until the state writes it to the trail; with `take`
    /// the caller writes it before the run can stop (the state's last attempt, written with no
    /// wait in between), and the record itself leaves.
    fn land(&self, id: u64, take: bool, finish: impl FnOnce(&mut Attempt)) -> Option<Box<Attempt>> {
        let mut flights = lock(&self.attempts);
        let at = flights.binary_search_by_key(&id, |(id, _)| *id).ok()?;
        let flight = &mut flights[at].1;
        finish(&mut flight.attempt);
        flight.landed = true;
        Some(if take {
            flights.remove(at).1.attempt
        } else {
            flight.attempt.clone()
        })
    }

    /// Takes every attempt not yet in the trail, in the order they started, and the list's
    /// room with them: for a run that ends, whose control block outlives it.
    pub fn take_all(&self) -> impl Iterator<Item = Flight> + use<> {
        std::mem::take(&mut *lock(&self.attempts))
            .into_iter()
            .map(|(_, flight)| flight)
    }

    /// Takes every attempt not yet in the trail, in the order they started.
    pub fn drain(&self) -> SmallVec<[Flight; 1]> {
        lock(&self.attempts)
            .drain(..)
            .map(|(_, flight)| flight)
            .collect()
    }
}

/// The records of one call's attempts, in the order they were made: nearly always one, held
/// without a list of its own.
#[derive(Default)]
pub(crate) struct Records {
    first: Option<Box<Attempt>>,
    /// Boxed: retries are rare, and the list's room would be part of every run waiting on a
    /// worker.
    #[expect(
        clippy::box_collection,
        reason = "the list is boxed for room; its records go into the trail boxed, as they are"
    )]
    retries: Option<Box<Vec<Box<Attempt>>>>,
}

impl Records {
    fn push(&mut self, record: Box<Attempt>) {
        match self.first {
            None => self.first = Some(record),
            Some(_) => self.retries.get_or_insert_default().push(record),
        }
    }
}

impl IntoIterator for Records {
    type Item = Box<Attempt>;
    type IntoIter =
        std::iter::Chain<std::option::IntoIter<Box<Attempt>>, std::vec::IntoIter<Box<Attempt>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first
            .into_iter()
            .chain(self.retries.map(|retries| *retries).unwrap_or_default())
    }
}

/// Where a call is made besides its state: at most one of a parallel's branch, a map's item or
/// a loop's iteration.
#[derive(Clone)]
pub(crate) enum Place {
    State,
    Branch(Arc<str>),
    Item(usize),
    Iteration(u64),
}

/// A worker call before each attempt makes it a [`Call`]: the names are the workflow's, shared
/// rather than copied, and the place is one field, so that this is 64 bytes smaller than a
/// `Call` in the future of every run waiting on a worker.
pub(crate) struct Plan<'w> {
    pub input: Value,
    /// The workflow's names and workers, borrowed: no count written per call.
    pub shared: &'w Shared,
    pub state: u32,
    pub worker: u32,
    pub step: u64,
    pub place: Place,
    /// For a branch or an item, a child token of its own; otherwise the call shares the run's
    /// (in its control block), which is not copied into the plan: a copy locks the token's
    /// node to count it, and again to let it go.
    pub cancel: Option<CancellationToken>,
}

impl Plan<'_> {
    fn branch(&self) -> Option<&Arc<str>> {
        match &self.place {
            Place::Branch(name) => Some(name),
            _ => None,
        }
    }

    fn item(&self) -> Option<usize> {
        match self.place {
            Place::Item(item) => Some(item),
            _ => None,
        }
    }

    fn iteration(&self) -> Option<u64> {
        match self.place {
            Place::Iteration(iteration) => Some(iteration),
            _ => None,
        }
    }

    fn state_name(&self) -> &Arc<str> {
        &self.shared.names.states[self.state as usize]
    }

    /// Attempt `attempt` of the call, as its worker gets it, for the run `control` controls.
    fn call(&self, attempt: u32, control: &Arc<RunControl>) -> Call {
        Call {
            input: self.input.clone(),
            run_id: control.id.clone(),
            workflow: self.shared.names.workflow.clone(),
            state: self.state_name().clone(),
            worker: self.shared.names.workers[self.worker as usize].clone(),
            step: self.step,
            branch: self.branch().cloned(),
            item: self.item(),
            iteration: self.iteration(),
            attempt,
            cancel: match &self.cancel {
                Some(token) => Cancel::Token(token.clone()),
                None => Cancel::Run(control.clone()),
            },
        }
    }

    /// The record of attempt `attempt`, not yet finished.
    fn record(&self, attempt: u32) -> Attempt {
        Attempt {
            step: self.step,
            state: self.state_name().clone(),
            worker: self.shared.names.workers[self.worker as usize].clone(),
            branch: self.branch().cloned(),
            item: self.item(),
            iteration: self.iteration(),
            attempt,
            input: self.input.clone(),
            status: AttemptStatus::Cancelled,
            outcome: None,
            output: None,
            error: None,
            usage: None,
            started_at_ms: now_ms(),
            duration_us: 0,
        }
    }
}

/// Everything needed to call one worker for one state (or branch, or item).
pub(crate) struct Spec<'w> {
    pub plan: Plan<'w>,
    /// Borrowed from the workflow: a copy would be 48 bytes of every run waiting on a worker.
    pub retry: Option<&'w RetryPolicy>,
    /// In milliseconds; never zero (the checker refuses a zero duration).
    pub timeout_ms: Option<NonZeroU64>,
    /// The run's control block, which holds its attempts under way, its jitter seed and
    /// whether it replays a recording (backoff delays are skipped then).
    pub control: Arc<RunControl>,
}

impl<'w> Spec<'w> {
    /// The worker to call, borrowed from what the workflow's runs share.
    fn worker(&self) -> &'w dyn Worker {
        &*self.plan.shared.workers[self.plan.worker as usize]
    }

    /// Whether the caller writes the attempts to the trail as soon as they return, with no
    /// wait in between: a task's or a loop's do; a branch's or a map item's wait for the others.
    fn written_at_once(&self) -> bool {
        matches!(self.plan.place, Place::State | Place::Iteration(_))
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(|ms| Duration::from_millis(ms.get()))
    }
}

/// Calls the worker until it replies or the retries are used up.
///
/// A plain function returning an `async move` block rather than an `async fn`: an `async fn`
/// keeps its arguments twice in its future (as given and as bound), and this future is part of
/// every run waiting on a worker.
#[allow(clippy::manual_async_fn, reason = "an async fn's future is larger")]
pub(crate) fn attempts(
    spec: Spec<'_>,
) -> impl Future<Output = (Records, Result<Reply, Failure>)> + '_ {
    async move {
        let mut records = Records::default();
        let mut number: u32 = 1;
        loop {
            let retries_left = u64::from(number) <= spec.retry.map_or(0, |r| r.retries);
            let (record, result) = attempt(&spec, number, retries_left).await;
            let timed_out = record.status == AttemptStatus::TimedOut;
            records.push(record);
            let delay = match retry_after(&spec, number, retries_left, timed_out, result) {
                Ok(delay) => delay,
                Err(end) => return (records, end),
            };
            if delay > 0 && !spec.control.replaying {
                // Boxed: a backoff is rare, and its timer would size the future of every run.
                Box::pin(tokio::time::sleep(Duration::from_millis(delay))).await;
            }
            number += 1;
        }
    }
}

/// After attempt `number`: `Err` with the state's result when it was the last, or `Ok` with
/// the delay before the next one (announced as [`Event::Retrying`]). Decided here rather than
/// in [`attempts`], so that the reply and the error are not kept across the backoff.
fn retry_after(
    spec: &Spec<'_>,
    number: u32,
    retries_left: bool,
    timed_out: bool,
    result: Result<Reply, WorkerError>,
) -> Result<u64, Result<Reply, Failure>> {
    let error = match result {
        Err(error) if tries_again(&error, retries_left) => error,
        last => {
            return Err(last.map_err(|error| Failure {
                error: error.message,
                timed_out,
            }));
        }
    };
    let delay = spec
        .retry
        .as_ref()
        .map_or(0, |policy| delay_ms(policy, u64::from(number), spec))
        .max(error.retry_after_ms.unwrap_or(0));
    let events = &spec.plan.shared.events;
    if events.receiver_count() > 0 {
        let _ = events.send(Event::Retrying {
            run: spec.control.id.clone(),
            step: spec.plan.step,
            state: spec.plan.state_name().clone(),
            branch: spec.plan.branch().cloned(),
            item: spec.plan.item(),
            attempt: number,
            delay_ms: delay,
            error: error.message,
        });
    }
    Ok(delay)
}

/// Whether a failed attempt is followed by another: the error allows it and retries are left.
fn tries_again(error: &WorkerError, retries_left: bool) -> bool {
    error.retryable && retries_left
}

/// Whether an attempt that ended with `result` is its state's last.
fn is_last(result: &Result<Reply, WorkerError>, retries_left: bool) -> bool {
    !matches!(result, Err(error) if tries_again(error, retries_left))
}

/// Attempt `number` of the call, recorded. The call is made before the returned future is
/// first polled, and the future keeps only what it needs after: a run waiting on a worker
/// holds this future (an `async move` block for the reason given at [`attempts`]).
#[allow(clippy::manual_async_fn, reason = "an async fn's future is larger")]
fn attempt<'s>(
    spec: &'s Spec<'_>,
    number: u32,
    retries_left: bool,
) -> impl Future<Output = (Box<Attempt>, Result<Reply, WorkerError>)> + 's {
    let mut call = spec.plan.call(number, &spec.control);
    let record = Box::new(spec.plan.record(number));
    // An attempt that can time out gets a token of its own, cancelled when it does, so that
    // the call learns it is no longer needed while the run goes on.
    let own_token = spec.timeout_ms.map(|_| {
        let token = call.cancel.token().child_token();
        call.cancel = Cancel::Token(token.clone());
        token
    });
    // Measured on tokio's clock, the clock of the timeouts.
    let began = Instant::now();
    let flight = spec.control.flights.start(record);
    let worker = spec.worker();
    let future = std::panic::catch_unwind(AssertUnwindSafe(move || worker.call(call)));
    async move {
        let (status, result) = match future {
            Err(panic) => panicked(panic),
            Ok(future) => {
                let guarded = AssertUnwindSafe(Contained(Some(future))).catch_unwind();
                // Boxed: the timer would otherwise size the future of every run waiting on a
                // worker, timeout or not.
                let finished = match spec.timeout() {
                    Some(limit) => Box::pin(tokio::time::timeout(limit, guarded)).await.ok(),
                    None => Some(guarded.await),
                };
                match finished {
                    None => {
                        if let Some(token) = &own_token {
                            token.cancel();
                        }
                        let limit = spec.timeout_ms.map_or(0, NonZeroU64::get);
                        let message = format!("timed out after {}", super::show_ms(limit));
                        (AttemptStatus::TimedOut, Err(WorkerError::new(message)))
                    }
                    Some(Err(panic)) => panicked(panic),
                    Some(Ok(Err(error))) if error.timed_out => {
                        (AttemptStatus::TimedOut, Err(error))
                    }
                    Some(Ok(Err(error))) => (AttemptStatus::Failed, Err(error)),
                    Some(Ok(Ok(reply))) => {
                        match oversized(&reply, spec.plan.shared.max_output_bytes) {
                            Some(error) => (AttemptStatus::Failed, Err(error)),
                            None => (AttemptStatus::Ok, Ok(reply)),
                        }
                    }
                }
            }
        };
        let duration_us = began.elapsed().as_micros() as u64;
        let finish = |record: &mut Attempt| {
            record.status = status;
            record.duration_us = duration_us;
            match &result {
                Ok(reply) => {
                    record.outcome = Some(reply.outcome.clone());
                    record.output = Some(reply.output.clone());
                    record.usage = reply.usage.clone().map(Box::new);
                }
                Err(error) => {
                    record.error = Some(error.message.clone());
                    record.usage = error.usage.clone().map(Box::new);
                }
            }
        };
        let take = spec.written_at_once() && is_last(&result, retries_left);
        let record = spec
            .control
            .flights
            .land(flight, take, finish)
            .unwrap_or_else(|| {
                // Only if the run's attempts were drained while this one was awaited, which
                // `finish` prevents.
                let mut record = spec.plan.record(number);
                finish(&mut record);
                Box::new(record)
            });
        (record, result)
    }
}

/// A worker's future whose panics when it is dropped (cut off by a timeout, a cancellation or a
/// decided join) are caught there: they must not take the run down with it.
struct Contained<F>(Option<F>);

impl<F: Future + Unpin> Future for Contained<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        match &mut self.0 {
            Some(future) => std::pin::Pin::new(future).poll(cx),
            None => std::task::Poll::Pending,
        }
    }
}

impl<F> Drop for Contained<F> {
    fn drop(&mut self) {
        if let Some(future) = self.0.take() {
            // The panic was reported by the panic hook; the attempt already has its outcome.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(future)));
        }
    }
}

fn panicked(panic: Box<dyn std::any::Any + Send>) -> (AttemptStatus, Result<Reply, WorkerError>) {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    (
        AttemptStatus::Panicked,
        Err(WorkerError::new(format!("the worker panicked: {message}"))),
    )
}

/// The delay before retry `retry`: the policy's delay, or with jitter a value drawn uniformly
/// from `0..=delay` by a generator seeded from the engine seed and the attempt's place in the
/// run, so that a run repeats exactly.
fn delay_ms(policy: &RetryPolicy, retry: u64, spec: &Spec) -> u64 {
    let delay = policy.delay_ms(retry);
    if !policy.jitter || delay == 0 {
        return delay;
    }
    let plan = &spec.plan;
    let mut h = spec.control.seed ^ splitmix(plan.step) ^ splitmix(retry.wrapping_mul(0x9e37));
    for byte in plan
        .state_name()
        .bytes()
        .chain(plan.branch().into_iter().flat_map(|b| b.bytes()))
    {
        h = splitmix(h ^ u64::from(byte));
    }
    h = splitmix(h ^ plan.item().map_or(u64::MAX, |i| i as u64));
    h % (delay + 1)
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A reply whose output is larger than the limit becomes a failure that is not retried.
fn oversized(reply: &Reply, limit: Option<usize>) -> Option<WorkerError> {
    let limit = limit?;
    let size = serde_json::to_vec(&reply.output).map_or(0, |bytes| bytes.len());
    (size > limit).then(|| {
        WorkerError::permanent(format!(
            "the output is {size} bytes, more than the limit of {limit}"
        ))
    })
}
