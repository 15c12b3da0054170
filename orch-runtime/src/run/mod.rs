//! One run of a workflow: the loop over states, driven by the checked IR.

mod attempt;
mod durable;
mod fanout;
mod steps;
mod traced;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use orch_dsl::ir::{self, EdgeEvent, StateKind};
use serde_json::Value;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::data::{Locals, RunData};
use crate::engine::{Engine, RunControl, Shared};
use crate::event::Event;
use crate::result::{RunResult, RunStatus, States};
use crate::trail::{Attempt, AttemptStatus, Entry};
use crate::worker::BoxFuture;

pub(crate) use attempt::{Flights, now_ms};
pub(crate) use durable::Durable;

/// Why the loop over states stopped.
pub(crate) enum End {
    Terminal(usize),
    StepLimit(u64),
    TimedOut(u64),
    Cancelled,
    /// The run store failed; the run cannot go on durably.
    Store(String),
}

/// What a state decided.
pub(crate) enum Next<'w> {
    /// Take this edge.
    Edge(EdgeEvent, &'w ir::Edge),
    /// Stop the run.
    Stop(End),
}

pub(crate) struct Run {
    engine: Engine,
    /// The workflow, its names and its workers, shared by its runs.
    pub(crate) shared: Arc<Shared>,
    pub control: Arc<RunControl>,
    data: RunData,
    counters: Box<[u64]>,
    steps: u64,
    trail: Vec<Entry>,
    /// What a replay answers instead of the workers, signals and child runs.
    pub(crate) replay: Option<Arc<crate::replay::Book>>,
    /// The last failure, shown by a `fail` state that gives no error of its own.
    last_error: Option<Box<str>>,
    started: Instant,
    /// The state the run is in (or goes to next).
    current: usize,
    /// The store the run is kept in, and what it has saved there.
    /// Boxed: most runs have no store, and the run is part of every run's future.
    pub(crate) durable: Option<Box<Durable>>,
}

impl Run {
    /// A run of a workflow, with what its runs share (`Registered::bound`).
    pub fn new(engine: Engine, shared: Arc<Shared>, input: Value, control: Arc<RunControl>) -> Run {
        Run {
            current: shared.workflow.start,
            durable: None,
            // The states' data grows as the run enters them (`step_data`): a run keeps none
            // for the states it never reaches.
            data: RunData {
                input,
                steps: Vec::new(),
            },
            counters: vec![0; shared.workflow.bound_count].into_boxed_slice(),
            steps: 0,
            // Made with its first entry: a run waiting to start keeps none.
            trail: Vec::new(),
            last_error: None,
            replay: None,
            started: Instant::now(),
            engine,
            shared,
            control,
        }
    }

    /// Runs to the end, boxed: for a caller that keeps the future itself.
    pub fn drive(self) -> BoxFuture<RunResult> {
        Box::pin(self.run_to_end())
    }

    /// Runs to the end. A spawned run's task holds this future itself, rather than a box of
    /// it: one allocation per run instead of two. Not an `async fn`, which would keep the run
    /// twice in its future.
    #[allow(clippy::manual_async_fn, reason = "an async fn's future is larger")]
    pub fn run_to_end(mut self) -> impl Future<Output = RunResult> + Send + 'static {
        async move {
            self.emit(|run| Event::RunStarted {
                run,
                workflow: self.shared.names.workflow.clone(),
            });
            if !self.register().await {
                let error = self.registration_failure();
                return self.finish(End::Store(error)).await;
            }
            // Made after the store's write, so that the future does not keep room for it
            // across that wait as well.
            let span = tracing::info_span!("run", workflow = %self.shared.workflow.name, run = %self.control.id);
            // A count of the control block, not a copy of its token, which locks the token's
            // node to count it and again to let it go.
            let control = self.control.clone();
            let end = {
                // A timer only for a workflow with a run timeout; boxed, so that the runs of
                // the others do not carry its room.
                let timer = self
                    .shared
                    .workflow
                    .timeout_ms
                    .map(|ms| Box::pin(tokio::time::sleep(Duration::from_millis(ms))));
                Guarded::new(&control.cancel, timer, traced::traced(self.body(), span)).await
            };
            // Read again rather than kept: the future would keep room for it across the run.
            let end = end.unwrap_or_else(|| {
                End::TimedOut(self.shared.workflow.timeout_ms.unwrap_or_default())
            });
            self.finish(end).await
        }
    }

    async fn body(&mut self) -> End {
        // One reference for the run: each state borrows what it needs from it.
        let shared = self.shared.clone();
        let mut current = self.current;
        loop {
            self.current = current;
            if let Some(end) = self.count_step() {
                return end;
            }
            let step = self.steps;
            // In a block: the name is not kept across the step.
            let span = {
                let name = &self.shared.names.states[current];
                self.emit(|run| Event::StepStarted {
                    run,
                    step,
                    state: name.clone(),
                });
                tracing::info_span!("step", state = %name, step)
            };
            // Matched in the same expression, so that the decision is not kept across the
            // save below as well (the future would keep room for both).
            match traced::traced(self.state(current, step, &shared), span).await {
                Next::Edge(event, edge) => current = self.take(current, step, event, edge),
                Next::Stop(end) => return end,
            }
            if let Err(error) = self.save(current, self.steps, None).await {
                return End::Store(error);
            }
        }
    }

    /// Counts a step; stops the run when `max_steps` is used up.
    fn count_step(&mut self) -> Option<End> {
        if let Some(limit) = self.shared.workflow.max_steps
            && self.steps >= limit
        {
            return Some(End::StepLimit(limit));
        }
        self.steps += 1;
        None
    }

    /// What state `id` does, as one future: a task's attempts held in place, the rarer kinds
    /// boxed so that the future of every run is sized for a task, and the states that decide
    /// at once ready. A plain function rather than an `async fn`, which would keep its
    /// arguments across the wait as well.
    fn state<'r, 'w: 'r>(
        &'r mut self,
        id: usize,
        step: u64,
        shared: &'w Shared,
    ) -> impl Future<Output = Next<'w>> + Send + 'r {
        let kind = &shared.workflow.states[id].kind;
        use futures_util::future::{Either, ready};
        type Boxed<'r, 'w> = Pin<Box<dyn Future<Output = Next<'w>> + Send + 'r>>;
        let now = |next: Next<'w>| Either::Right(Either::Left(ready(next)));
        let boxed = |future: Boxed<'r, 'w>| Either::Right(Either::Right(future));
        match kind {
            StateKind::Succeed { .. } | StateKind::Fail { .. } => {
                now(Next::Stop(End::Terminal(id)))
            }
            StateKind::Choice { arms, otherwise } => now(self.choose(id, step, arms, otherwise)),
            StateKind::Task {
                worker,
                input,
                retry,
                timeout_ms,
                exits,
            } => Either::Left(self.task(
                shared,
                id,
                step,
                *worker,
                input.as_ref(),
                retry.as_deref(),
                *timeout_ms,
                exits,
            )),
            StateKind::Parallel {
                branches,
                join,
                timeout_ms,
                exits,
            } => boxed(Box::pin(self.parallel(
                shared,
                id,
                step,
                branches,
                *join,
                *timeout_ms,
                exits,
            ))),
            StateKind::Map(map) => {
                let spec = fanout::MapSpec {
                    over: &map.over,
                    worker: map.worker,
                    input: map.input.as_ref(),
                    limit: map.limit,
                    retry: map.retry.as_deref(),
                    timeout_ms: map.timeout_ms,
                };
                boxed(Box::pin(self.map(shared, id, step, spec, &map.exits)))
            }
            StateKind::Loop(_) => boxed(Box::pin(self.repeat(shared, id, step, kind))),
            StateKind::Wait {
                signal,
                timeout_ms,
                exits,
            } => boxed(Box::pin(self.wait(id, step, *signal, *timeout_ms, exits))),
            StateKind::Call {
                workflow,
                input,
                timeout_ms,
                exits,
            } => boxed(Box::pin(self.call_workflow(
                id,
                step,
                workflow,
                input.as_ref(),
                *timeout_ms,
                exits,
            ))),
        }
    }

    /// Follows an edge, counting bounded edges, and records the transition.
    fn take(&mut self, from: usize, step: u64, event: EdgeEvent, edge: &ir::Edge) -> usize {
        let to = match &edge.bound {
            Some(bound) => {
                let taken = self.counters[bound.id];
                self.counters[bound.id] = taken.saturating_add(1);
                edge.destination(taken)
            }
            None => edge.to,
        };
        let label = event.label();
        let next = self.shared.names.states[to].clone();
        self.emit(|run| Event::StepFinished {
            run,
            step,
            state: self.shared.names.states[from].clone(),
            event: label.clone(),
            next: next.clone(),
        });
        self.write(Entry::Transition {
            step,
            from: self.shared.names.states[from].clone(),
            event: label,
            to: next,
        });
        to
    }

    fn choose<'w>(
        &mut self,
        id: usize,
        step: u64,
        arms: &'w [(ir::Cond, ir::Edge)],
        otherwise: &'w ir::Edge,
    ) -> Next<'w> {
        let arm = arms
            .iter()
            .position(|(cond, _)| self.data.test(cond, Locals::default()));
        self.write(Entry::Choice {
            step,
            state: self.shared.names.states[id].clone(),
            arm,
        });
        match arm {
            Some(i) => Next::Edge(EdgeEvent::When(i), &arms[i].1),
            None => Next::Edge(EdgeEvent::Else, otherwise),
        }
    }

    /// A worker call for state `id`, before its attempts.
    fn plan<'w>(
        &self,
        shared: &'w Shared,
        id: usize,
        step: u64,
        worker: usize,
        input: Value,
    ) -> attempt::Plan<'w> {
        attempt::Plan {
            input,
            shared,
            state: id as u32,
            worker: worker as u32,
            step,
            place: attempt::Place::State,
            // Single calls share the run's token; branches and items get their own.
            cancel: None,
        }
    }

    /// Where a reply or failure of a fallible state leads, recording the state's data.
    fn exit<'w>(
        &mut self,
        id: usize,
        exits: &'w ir::Exits,
        result: Result<crate::Reply, attempt::Failure>,
    ) -> Next<'w> {
        match result {
            Ok(reply) => match exits.for_outcome(&reply.outcome) {
                Some(edge) => {
                    let event = if reply.outcome == "ok" {
                        EdgeEvent::Ok
                    } else {
                        EdgeEvent::Outcome(ir::Name::from(&*reply.outcome))
                    };
                    let data = self.step_data(id);
                    data.output = Some(reply.output);
                    data.outcome = Some(reply.outcome);
                    Next::Edge(event, edge)
                }
                None => {
                    let error = if reply.outcome == "ok" {
                        format!(
                            "state `{}` has no `ok` transition",
                            self.shared.names.states[id]
                        )
                    } else {
                        format!(
                            "the reply's outcome `{}` is not handled by state `{}`",
                            reply.outcome, self.shared.names.states[id]
                        )
                    };
                    self.fail(
                        id,
                        exits,
                        attempt::Failure {
                            error,
                            timed_out: false,
                        },
                    )
                }
            },
            Err(failure) => self.fail(id, exits, failure),
        }
    }

    fn fail<'w>(&mut self, id: usize, exits: &'w ir::Exits, failure: attempt::Failure) -> Next<'w> {
        self.last_error =
            Some(format!("{}: {}", self.shared.names.states[id], failure.error).into());
        self.step_data(id).error = Some(failure.error);
        match (&exits.timeout, failure.timed_out) {
            (Some(edge), true) => Next::Edge(EdgeEvent::Timeout, edge),
            _ => Next::Edge(EdgeEvent::Fail, &exits.fail),
        }
    }

    /// Writes a state's attempts to the trail, followed by those it cut off (started, never
    /// finished), as cancelled.
    fn record(&mut self, attempts: impl IntoIterator<Item = Box<Attempt>>) {
        for attempt in attempts {
            self.write(Entry::Attempt(attempt));
        }
        for flight in self.control.flights.drain() {
            if flight.landed {
                continue;
            }
            let mut attempt = flight.attempt;
            attempt.status = AttemptStatus::Cancelled;
            attempt.error = Some("cancelled: no longer needed".into());
            self.write(Entry::Attempt(attempt));
        }
    }

    /// Appends to the trail, which is made with room for a pass through the states.
    pub(super) fn write(&mut self, entry: Entry) {
        if self.trail.capacity() == 0 {
            self.trail.reserve_exact(self.shared.names.trail_room);
        }
        self.trail.push(entry);
    }

    fn emit(&self, make: impl FnOnce(Arc<str>) -> Event) {
        let events = &self.engine.inner.events;
        if events.receiver_count() > 0 {
            let _ = events.send(make(self.control.id.clone()));
        }
    }

    /// Ends the run: its result, once the store (if any) has been told. The run itself is done
    /// with before the store is waited for, so that the future of a run that is finishing is
    /// small (it is part of every run's future).
    fn finish(mut self, end: End) -> impl Future<Output = RunResult> + Send + 'static {
        let paused = matches!(end, End::Cancelled)
            && self
                .control
                .paused
                .load(std::sync::atomic::Ordering::SeqCst);
        self.control.cancel.cancel();
        // The state the run stopped in had not written its attempts yet: the finished ones
        // keep their records, the ones under way were cut off.
        for flight in self.control.flights.take_all() {
            let mut attempt = flight.attempt;
            if !flight.landed {
                attempt.status = AttemptStatus::Cancelled;
            }
            self.write(Entry::Attempt(attempt));
        }
        let locals = Locals::default();
        let (status, terminal, output, error) = match end {
            End::Terminal(id) => match &self.shared.workflow.states[id].kind {
                StateKind::Succeed { output } => (
                    RunStatus::Succeeded,
                    Some(id),
                    Some(
                        output
                            .as_ref()
                            .map_or(Value::Null, |o| self.data.eval(o, locals)),
                    ),
                    None,
                ),
                StateKind::Fail { error } => {
                    let error = match error {
                        Some(e) => self.data.eval(e, locals),
                        None => Value::String(match self.last_error.take() {
                            Some(last) => last.into_string(),
                            None => format!("the run reached `{}`", self.shared.names.states[id]),
                        }),
                    };
                    (RunStatus::Failed, Some(id), None, Some(error))
                }
                _ => (RunStatus::Failed, Some(id), None, None),
            },
            End::StepLimit(limit) => (
                RunStatus::Failed,
                None,
                None,
                Some(Value::String(format!(
                    "the run was stopped after `max_steps {limit}`"
                ))),
            ),
            End::TimedOut(ms) => (
                RunStatus::TimedOut,
                None,
                None,
                Some(Value::String(format!(
                    "the run timed out after {}",
                    show_ms(ms)
                ))),
            ),
            End::Cancelled if paused => (
                RunStatus::Paused,
                None,
                None,
                Some(Value::String("the run was paused".into())),
            ),
            End::Cancelled => (
                RunStatus::Cancelled,
                None,
                None,
                Some(Value::String("the run was cancelled".into())),
            ),
            End::Store(error) => (
                RunStatus::Failed,
                None,
                None,
                Some(Value::String(format!("the run store failed: {error}"))),
            ),
        };
        self.emit(|run| Event::RunFinished { run, status });
        // A durable run's last checkpoint takes what changed since the previous one.
        let last = self.last_checkpoint(terminal);
        let states = States::of_run(
            std::mem::take(&mut self.data.steps),
            self.shared.names.sorted.clone(),
        );
        let mut usage = crate::worker::Usage::default();
        for entry in &self.trail {
            match entry {
                Entry::Attempt(attempt) => {
                    if let Some(used) = &attempt.usage {
                        usage.add(used);
                    }
                }
                Entry::Child { run, .. } => usage.add(&run.usage),
                _ => {}
            }
        }
        let result = RunResult {
            run_id: self.control.id.clone(),
            workflow: self.shared.names.workflow.clone(),
            input: std::mem::take(&mut self.data.input),
            status,
            terminal: terminal.map(|id| self.shared.names.states[id].clone()),
            output,
            error,
            states,
            steps: self.steps,
            duration_ms: self.started.elapsed().as_millis() as u64,
            usage,
            trail: std::mem::take(&mut self.trail),
        };
        let (result, write) = self.conclude_store(last, result);
        let id = self.control.id.clone();
        async move {
            if let Some(write) = write
                && let Err(error) = write.await
            {
                tracing::error!(run = %id, %error, "the run's end could not be stored");
            }
            result
        }
    }
}

pin_project_lite::pin_project! {
    /// A run's body raced against its cancellation and its run timeout, checked in that order,
    /// in one future: `Some` with how the body ended, or `None` when the timeout expired. A
    /// `select!` over the three kept a reference to the pinned body and state of its own as
    /// well, in the future of every run.
    struct Guarded<'c, B> {
        token: &'c CancellationToken,
        #[pin]
        cancelled: WaitForCancellationFuture<'c>,
        // The waker `cancelled` was last polled with, by the addresses of its data and its
        // functions (0 before the first poll). While the run is polled with that same waker, as
        // a spawned run always is, a cancellation wakes it, so a poll only reads the token's
        // flag: polling `cancelled` again would lock the token's list of waiters every time the
        // run wakes. `cancelled` keeps a clone of that waker, so its address cannot be taken by
        // another waker meanwhile.
        registered: (usize, usize),
        timer: Option<Pin<Box<Sleep>>>,
        #[pin]
        body: B,
    }
}

impl<'c, B> Guarded<'c, B> {
    fn new(token: &'c CancellationToken, timer: Option<Pin<Box<Sleep>>>, body: B) -> Self {
        Guarded {
            token,
            cancelled: token.cancelled(),
            registered: (0, 0),
            timer,
            body,
        }
    }
}

impl<B: Future<Output = End>> Future for Guarded<'_, B> {
    type Output = Option<End>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<End>> {
        let this = self.project();
        let waker = cx.waker();
        let identity = (
            waker.data() as usize,
            std::ptr::from_ref(waker.vtable()) as usize,
        );
        let cancelled = if *this.registered == identity {
            this.token.is_cancelled()
        } else {
            *this.registered = identity;
            this.cancelled.poll(cx).is_ready()
        };
        if cancelled {
            return Poll::Ready(Some(End::Cancelled));
        }
        if let Some(timer) = this.timer
            && timer.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(None);
        }
        this.body.poll(cx).map(Some)
    }
}

pub(crate) fn show_ms(ms: u64) -> String {
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::*;

    /// A waker that counts its wakes.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    fn poll(guarded: Pin<&mut Guarded<'_, std::future::Pending<End>>>, waker: &Waker) -> bool {
        let mut cx = Context::from_waker(waker);
        match guarded.poll(&mut cx) {
            Poll::Ready(Some(End::Cancelled)) => true,
            Poll::Pending => false,
            _ => panic!("only a cancellation ends a pending body"),
        }
    }

    #[test]
    fn a_cancellation_wakes_the_waker_the_run_was_last_polled_with() {
        let token = CancellationToken::new();
        let mut guarded = std::pin::pin!(Guarded::new(&token, None, std::future::pending()));
        let (first, first_waker) = counter();
        let (second, second_waker) = counter();
        assert!(!poll(guarded.as_mut(), &first_waker));
        assert!(!poll(guarded.as_mut(), &first_waker));
        // Moved to another task: the cancellation must wake that one.
        assert!(!poll(guarded.as_mut(), &second_waker));
        token.cancel();
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert!(poll(guarded.as_mut(), &second_waker));
    }

    #[test]
    fn polled_with_the_same_waker_a_run_sees_its_cancellation() {
        let token = CancellationToken::new();
        let mut guarded = std::pin::pin!(Guarded::new(&token, None, std::future::pending()));
        let (woken, waker) = counter();
        for _ in 0..3 {
            assert!(!poll(guarded.as_mut(), &waker));
        }
        token.cancel();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert!(poll(guarded.as_mut(), &waker));
    }
}
