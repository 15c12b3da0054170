//! The engine: holds checked workflows and bound workers, and starts runs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use orch_dsl::ir;
use serde_json::Value;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::event::Event;
use crate::result::{RunResult, RunStatus};
use crate::run::Flights;
use crate::run::Run;
use crate::store::Store;
use crate::worker::{Worker, Workers};

/// Why a text could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The compiler found errors; render them with [`orch_dsl::render`].
    #[error("the workflow text has errors:\n{0}")]
    Invalid(orch_dsl::Diagnostics),
    #[error("workflow `{workflow}` uses worker `{worker}`, which is not bound")]
    UnboundWorker { workflow: String, worker: String },
}

/// Why a run could not start.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("no workflow named `{0}` is loaded")]
    UnknownWorkflow(String),
    #[error("workflow `{workflow}` uses worker `{worker}`, which is not bound")]
    UnboundWorker { workflow: String, worker: String },
    #[error("invalid input for workflow `{workflow}`: {message}")]
    InvalidInput { workflow: String, message: String },
}

/// Why a signal was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("workflow `{workflow}` declares no signal `{signal}`")]
    UnknownSignal { workflow: String, signal: String },
    #[error("signal `{signal}` has no outcome `{outcome}`; it has {}", expected.join(", "))]
    UnknownOutcome {
        signal: String,
        outcome: String,
        expected: Vec<String>,
    },
    #[error("no run `{0}` is running here or kept in the store")]
    UnknownRun(String),
    #[error("the run has finished")]
    Finished,
    #[error("the run store failed: {0}")]
    Store(String),
}

/// A signal on its way to a run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Signal {
    pub name: String,
    pub reply: SignalReply,
    /// Its sequence number in the run store, when kept there.
    pub seq: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SignalReply {
    /// An outcome (`ok` or a custom label) with a payload.
    Outcome(String, Value),
    /// A rejection: the `wait` takes its failure path.
    Reject(String),
}

impl SignalReply {
    pub fn into_stored(self) -> Result<(String, Value), String> {
        match self {
            SignalReply::Outcome(outcome, payload) => Ok((outcome, payload)),
            SignalReply::Reject(reason) => Err(reason),
        }
    }

    pub fn from_stored(stored: Result<(String, Value), String>) -> SignalReply {
        match stored {
            Ok((outcome, payload)) => SignalReply::Outcome(outcome, payload),
            Err(reason) => SignalReply::Reject(reason),
        }
    }
}

/// Signals on their way to a run's `wait` states. A child run shares its parent's mailbox, so
/// a signal sent to the parent reaches a `wait` inside a called workflow.
pub(crate) struct Mailbox {
    pub signals: Mutex<VecDeque<Signal>>,
    pub arrived: Notify,
}

impl Mailbox {
    pub fn new(signals: VecDeque<Signal>) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            signals: Mutex::new(signals),
            arrived: Notify::new(),
        })
    }

    pub fn deliver(&self, signal: Signal) {
        lock(&self.signals).push_back(signal);
        self.arrived.notify_waiters();
    }
}

/// Shared between a run and its handle.
pub(crate) struct RunControl {
    /// The run's id and its workflow's name, here rather than in its handle and in the engine's
    /// list of live runs, which both hold the control block anyway.
    pub id: Arc<str>,
    pub workflow: Arc<str>,
    pub cancel: CancellationToken,
    /// Made when a signal is first sent to the run or awaited by it (most runs have none),
    /// or given: a child run's is its parent's.
    mailbox: OnceLock<Arc<Mailbox>>,
    /// Set when the run is stopped to be resumed later, rather than cancelled.
    pub paused: AtomicBool,
    /// True once the run is recorded in its store (at once for runs without one), so that
    /// signals for it are stored only after it is.
    stored: AtomicBool,
    /// True once the run has ended and left its result in `result`.
    ended: AtomicBool,
    /// How the run ended, from its end until its handle takes the result. A spawned run's
    /// task is not joined: it ends, and its memory goes, as soon as the run does, rather than
    /// staying as large as the run's future until someone asks for the result.
    ending: Mutex<Option<Ending>>,
    /// Wakes whoever waits for the run to be stored or to end; each checks its own flag.
    changed: Notify,
    /// The run's attempts that are not in its trail yet (here rather than in an allocation of
    /// their own: one per run fewer).
    pub flights: Flights,
    /// The run's jitter seed.
    pub seed: u64,
    /// The run replays a recorded one: backoff delays are skipped.
    pub replaying: bool,
}

impl RunControl {
    pub fn new(
        id: Arc<str>,
        workflow: Arc<str>,
        cancel: CancellationToken,
        mailbox: Option<Arc<Mailbox>>,
        seed: u64,
        replaying: bool,
    ) -> Arc<RunControl> {
        Arc::new(RunControl {
            id,
            workflow,
            seed,
            replaying,
            cancel,
            mailbox: mailbox.map(OnceLock::from).unwrap_or_default(),
            paused: AtomicBool::new(false),
            stored: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            ending: Mutex::new(None),
            changed: Notify::new(),
            flights: Flights::default(),
        })
    }

    /// The run's mailbox, made if it has none yet.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        self.mailbox.get_or_init(|| Mailbox::new(VecDeque::new()))
    }

    /// Notes that the run is recorded in its store.
    pub fn mark_stored(&self) {
        self.stored.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Resolves once the run is recorded in its store.
    pub async fn recorded(&self) {
        self.until(|control| control.stored.load(Ordering::SeqCst))
            .await;
    }

    /// Leaves how the run ended for its handle.
    fn end(&self, ending: Ending) {
        *lock(&self.ending) = Some(ending);
        self.ended.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn has_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Waits for the run to end and takes how it did.
    async fn take_ending(&self) -> Option<Ending> {
        self.until(RunControl::has_ended).await;
        lock(&self.ending).take()
    }

    /// Resolves once `done` holds.
    async fn until(&self, done: impl Fn(&RunControl) -> bool) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Listening before looking, so that a change in between is not missed.
            notified.as_mut().enable();
            if done(self) {
                return;
            }
            notified.await;
        }
    }
}

/// How a spawned run's task ended.
enum Ending {
    Finished(Box<RunResult>),
    /// The task panicked outside the workers (whose panics fail their attempts).
    Panicked,
    /// The runtime dropped the task, shutting down, before the run ended.
    Stopped,
}

/// Hands a spawned run's result to its control block, or, if the task ends without one, says
/// how it did.
struct Delivery(Arc<RunControl>);

impl Delivery {
    fn deliver(self, result: RunResult) {
        self.0.end(Ending::Finished(Box::new(result)));
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if self.0.has_ended() {
            return;
        }
        // tokio drops a task's future while unwinding from a panic in it, and without one
        // when the runtime shuts down.
        self.0.end(if std::thread::panicking() {
            Ending::Panicked
        } else {
            Ending::Stopped
        });
    }
}

/// The result of a run whose task ended before the run did.
fn abnormal(id: &str, workflow: &str, status: RunStatus, why: &str) -> RunResult {
    RunResult {
        run_id: id.into(),
        workflow: workflow.into(),
        input: Value::Null,
        status,
        terminal: None,
        output: None,
        error: Some(Value::String(format!(
            "the run's task ended abnormally: it {why}"
        ))),
        states: Default::default(),
        steps: 0,
        duration_ms: 0,
        usage: Default::default(),
        trail: Vec::new(),
    }
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seed of the retry jitter. With the run's place among the engine's runs it decides every
    /// jittered delay, so runs of one engine spread their retries while a given seed repeats.
    pub seed: u64,
    /// How many events a slow subscriber may lag behind before it misses some.
    pub event_capacity: usize,
    /// Limits against careless or hostile definitions and inputs.
    pub limits: Limits,
    /// The name this engine holds leases on stored runs under. An engine restarted with the
    /// same owner resumes its runs at once; processes that share one store need distinct
    /// owners, and take over each other's runs only when a lease expires.
    pub owner: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 0x6f72_6368,
            event_capacity: 1024,
            owner: "local".to_string(),
            limits: Limits::default(),
        }
    }
}

/// A workflow of this engine, with the names and workers its runs share.
#[derive(Clone)]
pub(crate) struct Registered {
    pub workflow: Arc<ir::Workflow>,
    pub names: Arc<Names>,
    /// What its runs share with its workers as bound now, or the first worker it declares
    /// that is not bound. Made again whenever a worker is bound, so that starting a run
    /// neither looks its workers up nor allocates a list of them.
    pub shared: Result<Arc<Shared>, String>,
}

impl Registered {
    /// What its runs share, or the error of starting a run while a worker is not bound.
    pub fn bound(&self) -> Result<Arc<Shared>, StartError> {
        self.shared
            .clone()
            .map_err(|worker| StartError::UnboundWorker {
                workflow: self.workflow.name.to_string(),
                worker,
            })
    }

    fn new(
        workflow: Arc<ir::Workflow>,
        names: Arc<Names>,
        workers: &Workers,
        engine: &Inner,
    ) -> Registered {
        let shared = workers_of(&workflow, workers)
            .map(|workers| Shared::new(workflow.clone(), names.clone(), workers, engine));
        Registered {
            workflow,
            names,
            shared,
        }
    }
}

/// What the runs of one workflow share: its IR, its names and its workers as bound. A run
/// holds one reference to it, and its steps borrow from it: no reference count is written per
/// step (counts that every run on every core would write).
pub(crate) struct Shared {
    pub workflow: Arc<ir::Workflow>,
    pub names: Arc<Names>,
    pub workers: SharedWorkers,
    /// The engine's events, and the largest output a reply may carry: here rather than in
    /// each call's specification, which is part of every run waiting on a worker.
    pub events: broadcast::Sender<Event>,
    pub max_output_bytes: Option<usize>,
}

impl Shared {
    /// What the runs of `workflow` share on `engine`, with `workers` as its workers.
    pub(crate) fn new(
        workflow: Arc<ir::Workflow>,
        names: Arc<Names>,
        workers: SharedWorkers,
        engine: &Inner,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            workflow,
            names,
            workers,
            events: engine.events.clone(),
            max_output_bytes: engine.options.limits.max_output_bytes,
        })
    }
}

/// The workers of a workflow, in the order of its declarations, shared by its runs.
pub(crate) type SharedWorkers = Arc<[Arc<dyn Worker>]>;

/// The workers `workflow` declares, as bound in `workers`; or the first one not bound.
fn workers_of(workflow: &ir::Workflow, workers: &Workers) -> Result<SharedWorkers, String> {
    workflow
        .workers
        .iter()
        .map(|w| {
            workers
                .get(w.name.as_str())
                .cloned()
                .ok_or_else(|| w.name.to_string())
        })
        .collect()
}

/// The most states' data a run makes room for before it needs them.
pub(crate) const DATA_ROOM: usize = 8;

/// Names every run of a workflow uses, made once so that starting a run allocates none.
pub(crate) struct Names {
    pub workflow: Arc<str>,
    pub states: Arc<[Arc<str>]>,
    /// The states' names in name order, for the states of every result.
    pub sorted: Arc<crate::result::StateNames>,
    pub workers: Arc<[Arc<str>]>,
    /// Trail entries a run is likely to write: two (an attempt and a transition) per state it
    /// can leave, so that a run without loops never moves its trail.
    pub trail_room: usize,
    /// Room for states' data that a run makes at once: every state but the terminals declared
    /// after the last other state, up to [`DATA_ROOM`].
    pub data_room: usize,
    /// The definition's hash, made when a durable run first needs it.
    pub definition: std::sync::OnceLock<String>,
}

impl Names {
    fn of(workflow: &ir::Workflow) -> Arc<Names> {
        let states: Arc<[Arc<str>]> = workflow
            .states
            .iter()
            .map(|s| Arc::from(s.name.as_str()))
            .collect();
        Arc::new(Names {
            workflow: Arc::from(workflow.name.as_str()),
            sorted: Arc::new(crate::result::StateNames::new(states.clone())),
            states,
            workers: workflow
                .workers
                .iter()
                .map(|w| Arc::from(w.name.as_str()))
                .collect(),
            trail_room: workflow
                .states
                .iter()
                .filter(|s| !s.kind.is_terminal())
                .count()
                .saturating_mul(2)
                .min(64),
            data_room: workflow
                .states
                .iter()
                .rposition(|s| !s.kind.is_terminal())
                .map_or(1, |last| last + 1)
                .min(DATA_ROOM),
            definition: std::sync::OnceLock::new(),
        })
    }
}

/// Limits that the engine enforces while runs go on; none by default. A run that exceeds one
/// fails through its declared failure path (an input over the limit is refused at start).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// The most items a `map` may fan out to.
    pub max_map_items: Option<usize>,
    /// The largest run input, serialized as JSON, in bytes.
    pub max_input_bytes: Option<usize>,
    /// The largest output a worker reply may carry, serialized as JSON, in bytes.
    pub max_output_bytes: Option<usize>,
}

/// A run driven by this engine right now: its control block, found by the run's id.
pub(crate) struct Live(pub Arc<RunControl>);

impl std::borrow::Borrow<str> for Live {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

impl std::hash::Hash for Live {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl PartialEq for Live {
    fn eq(&self, other: &Live) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Live {}

/// The engine's tables, looked up on every start: hashed with foldhash (seeded per process)
/// rather than SipHash, whose cost showed in the profile of starting runs.
pub(crate) type Table<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) struct Inner {
    pub workflows: RwLock<Table<String, Registered>>,
    pub workers: RwLock<Workers>,
    pub events: broadcast::Sender<Event>,
    pub options: Options,
    pub store: RwLock<Option<Arc<dyn Store>>>,
    /// The runs driven here, by id: a control block each (8 bytes), which holds the id.
    pub live: Mutex<std::collections::HashSet<Live, foldhash::fast::RandomState>>,
    next_run: AtomicU64,
    /// What every run id of this engine starts with: `run-`, the engine's start in
    /// microseconds in hex (distinguishing its ids from those of other processes sharing a
    /// store) and `-`.
    id_prefix: Box<str>,
}

/// Runs checked workflows. Cheap to clone; clones share workflows, workers and events.
///
/// ```
/// use orch_runtime::{Engine, Reply};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let engine = Engine::new();
/// engine.bind("Greeter", |call: orch_runtime::Call| async move {
///     Ok(Reply::ok(format!("hello, {}", call.input["name"].as_str().unwrap_or("?"))))
/// });
/// engine.load(r#"
///     workflow Hello {
///         input { name: string }
///         worker Greeter;
///         start greet;
///         task greet by Greeter { with { name: "{{input.name}}" } ok -> done; fail -> failed; }
///         succeed done output "{{greet.output}}";
///         fail failed;
///     }
/// "#).unwrap();
/// let result = engine.run("Hello", serde_json::json!({"name": "Ada"})).await.unwrap();
/// assert!(result.succeeded());
/// assert_eq!(result.output, Some(serde_json::json!("hello, Ada")));
/// # });
/// ```
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine::with_options(Options::default())
    }

    pub fn with_options(options: Options) -> Engine {
        let (events, _) = broadcast::channel(options.event_capacity.max(1));
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Engine {
            inner: Arc::new(Inner {
                workflows: RwLock::new(Table::default()),
                workers: RwLock::new(Workers::new()),
                events,
                options,
                store: RwLock::new(None),
                live: Mutex::new(Default::default()),
                next_run: AtomicU64::new(1),
                id_prefix: format!("run-{epoch:x}-").into(),
            }),
        }
    }

    /// Keeps every run of this engine in `store`: a checkpoint after every transition, so that
    /// runs can be paused, resumed and recovered after a crash (see [`Engine::resume`]).
    pub fn with_store(self, store: Arc<dyn Store>) -> Engine {
        *write(&self.inner.store) = Some(store);
        self
    }

    /// The store runs are kept in, if any.
    pub fn store(&self) -> Option<Arc<dyn Store>> {
        read(&self.inner.store).clone()
    }

    /// Binds a worker name, for every workflow of this engine.
    pub fn bind(&self, name: impl Into<String>, worker: impl Worker) -> &Engine {
        write(&self.inner.workers).bind(name, worker);
        self.rebind();
        self
    }

    /// Binds every worker of `workers`.
    pub fn bind_all(&self, workers: Workers) -> &Engine {
        write(&self.inner.workers).extend(workers);
        self.rebind();
        self
    }

    /// Makes every workflow's list of workers again, after a worker was bound. The workflows'
    /// table is locked before the workers', here as everywhere.
    fn rebind(&self) {
        let mut workflows = write(&self.inner.workflows);
        let workers = read(&self.inner.workers);
        for registered in workflows.values_mut() {
            *registered = Registered::new(
                registered.workflow.clone(),
                registered.names.clone(),
                &workers,
                &self.inner,
            );
        }
    }

    /// Adds checked workflows (as generated code does for `workflow!` and `build.rs`).
    pub fn register(&self, program: &ir::Program) -> &Engine {
        let mut workflows = write(&self.inner.workflows);
        let workers = read(&self.inner.workers);
        for workflow in &program.workflows {
            let registered = Registered::new(
                Arc::new(workflow.clone()),
                Names::of(workflow),
                &workers,
                &self.inner,
            );
            workflows.insert(workflow.name.to_string(), registered);
        }
        self
    }

    /// Compiles workflow text with the full checker and adds its workflows. A `call` may name
    /// workflows already loaded. Every worker the text uses must already be bound.
    pub fn load(&self, source: &str) -> Result<Vec<String>, LoadError> {
        let file = orch_dsl::parse(source).map_err(LoadError::Invalid)?;
        let externals: Vec<orch_dsl::Signature> = read(&self.inner.workflows)
            .values()
            .filter(|r| {
                !file
                    .workflows
                    .iter()
                    .any(|f| f.name.name == r.workflow.name)
            })
            .map(|r| signature(&r.workflow))
            .collect();
        let compiled = orch_dsl::check(&file, &externals).map_err(LoadError::Invalid)?;
        let workers = read(&self.inner.workers);
        for workflow in &compiled.program.workflows {
            if let Some(worker) = workflow.workers.iter().find(|w| !workers.contains(&w.name)) {
                return Err(LoadError::UnboundWorker {
                    workflow: workflow.name.to_string(),
                    worker: worker.name.to_string(),
                });
            }
        }
        drop(workers);
        self.register(&compiled.program);
        Ok(compiled
            .program
            .workflows
            .iter()
            .map(|w| w.name.to_string())
            .collect())
    }

    /// The loaded workflow of that name.
    pub fn workflow(&self, name: &str) -> Option<Arc<ir::Workflow>> {
        read(&self.inner.workflows)
            .get(name)
            .map(|r| r.workflow.clone())
    }

    /// The workflow of that name with what its runs share, from one lookup.
    pub(crate) fn registered(&self, name: &str) -> Result<Registered, StartError> {
        read(&self.inner.workflows)
            .get(name)
            .cloned()
            .ok_or_else(|| StartError::UnknownWorkflow(name.to_string()))
    }

    /// Starts a run and returns its handle at once. With a store, the run is recorded there
    /// before its first step.
    pub fn start(&self, workflow: &str, input: Value) -> Result<RunHandle, StartError> {
        let mut run = self.prepare(workflow, input, CancellationToken::new(), None)?;
        if let Some(store) = self.store() {
            run.attach(store);
        }
        Ok(self.spawn(run))
    }

    pub(crate) fn spawn(&self, run: Run) -> RunHandle {
        let control = run.control.clone();
        // Listed before the task starts, so that a signal sent right away finds the run; one
        // listed under the same id is replaced, not kept.
        lock(&self.inner.live).replace(Live(control.clone()));
        let delivery = Delivery(control.clone());
        // Not joined: the run's result goes to its control block (`Delivery`), so that the
        // task is freed when the run ends. `map` rather than an `async` block: the block would
        // hold the run's future twice, once as captured and once as awaited.
        drop(tokio::spawn(futures_util::FutureExt::map(
            run.run_to_end(),
            move |result| delivery.deliver(result),
        )));
        RunHandle {
            control,
            engine: self.clone(),
        }
    }

    /// Starts a run and waits for its result.
    pub async fn run(&self, workflow: &str, input: Value) -> Result<RunResult, StartError> {
        Ok(self.start(workflow, input)?.result().await)
    }

    /// Runs one workflow over many inputs, at most `concurrency` at a time; results come back in
    /// the order of the inputs.
    pub async fn run_batch(
        &self,
        workflow: &str,
        inputs: Vec<Value>,
        concurrency: usize,
    ) -> Vec<Result<RunResult, StartError>> {
        use futures_util::StreamExt;
        futures_util::stream::iter(inputs)
            .map(|input| self.run(workflow, input))
            .buffered(concurrency.max(1))
            .collect()
            .await
    }

    /// Every event of every run of this engine, from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// A run of `name`, ready to drive. A child run passes its parent's mailbox.
    pub(crate) fn prepare(
        &self,
        name: &str,
        input: Value,
        cancel: CancellationToken,
        mailbox: Option<Arc<Mailbox>>,
    ) -> Result<Run, StartError> {
        let shared = self.registered(name)?.bound()?;
        let input = crate::data::prepare_input(&shared.workflow, input).map_err(|message| {
            StartError::InvalidInput {
                workflow: name.to_string(),
                message,
            }
        })?;
        if let Some(limit) = self.inner.options.limits.max_input_bytes {
            let size = serde_json::to_vec(&input).map_or(0, |bytes| bytes.len());
            if size > limit {
                return Err(StartError::InvalidInput {
                    workflow: name.to_string(),
                    message: format!("the input is {size} bytes, more than the limit of {limit}"),
                });
            }
        }
        let n = self.inner.next_run.fetch_add(1, Ordering::Relaxed);
        let id = run_id(&self.inner.id_prefix, n);
        let workflow = shared.names.workflow.clone();
        let control = RunControl::new(id, workflow, cancel, mailbox, self.seed_for(n), false);
        Ok(Run::new(self.clone(), shared, input, control))
    }

    /// The jitter seed of the engine's `n`th run.
    pub(crate) fn seed_for(&self, n: u64) -> u64 {
        let mut z = self.inner.options.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z ^ (z >> 31)
    }

    /// The next run number, for runs resumed from a store.
    pub(crate) fn next_ordinal(&self) -> u64 {
        self.inner.next_run.fetch_add(1, Ordering::Relaxed)
    }

    /// The signals that `wait` states of a workflow and of the workflows it calls receive.
    pub(crate) fn signals_of(&self, name: &str) -> Vec<ir::Signal> {
        let mut names = vec![name.to_string()];
        let mut signals: Vec<ir::Signal> = Vec::new();
        let mut next = 0;
        while let Some(current) = names.get(next).cloned() {
            next += 1;
            let Some(workflow) = self.workflow(&current) else {
                continue;
            };
            for signal in &workflow.signals {
                if !signals.iter().any(|s| s.name == signal.name) {
                    signals.push(signal.clone());
                }
            }
            for state in &workflow.states {
                if let ir::StateKind::Call {
                    workflow: callee, ..
                } = &state.kind
                    && !names.iter().any(|n| n == callee)
                {
                    names.push(callee.to_string());
                }
            }
        }
        signals
    }
}

/// Checks a signal against the signals a run's `wait` states receive.
pub(crate) fn check_signal(
    workflow: &str,
    signals: &[ir::Signal],
    signal: &str,
    reply: &SignalReply,
) -> Result<(), SignalError> {
    let Some(declared) = signals.iter().find(|s| s.name == signal) else {
        return Err(SignalError::UnknownSignal {
            workflow: workflow.to_string(),
            signal: signal.to_string(),
        });
    };
    match reply {
        SignalReply::Outcome(outcome, _) if !declared.outcomes.iter().any(|o| o == outcome) => {
            Err(SignalError::UnknownOutcome {
                signal: signal.to_string(),
                outcome: outcome.clone(),
                expected: declared.outcomes.iter().map(ToString::to_string).collect(),
            })
        }
        _ => Ok(()),
    }
}

/// The signature of a loaded workflow, for checking text that calls it.
fn signature(workflow: &ir::Workflow) -> orch_dsl::Signature {
    orch_dsl::Signature {
        name: workflow.name.to_string(),
        inputs: workflow
            .input
            .iter()
            .map(|f| (f.name.to_string(), f.default.is_none()))
            .collect(),
        calls: workflow
            .states
            .iter()
            .filter_map(|s| match &s.kind {
                ir::StateKind::Call { workflow, .. } => Some(workflow.to_string()),
                _ => None,
            })
            .collect(),
    }
}

/// The id of an engine's `n`th run: its prefix and `n` in decimal, written on the stack and
/// copied once into its shared string (`format!` grew a `String` twice and then copied it, and
/// its formatting machinery cost more than the rest of starting a run's id).
fn run_id(prefix: &str, mut n: u64) -> Arc<str> {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut id = [0u8; 64];
    let len = prefix.len() + digits.len() - at;
    // A prefix is at most 21 bytes ("run-", 16 hex digits, "-"): never longer than `id`.
    id[..prefix.len()].copy_from_slice(prefix.as_bytes());
    id[prefix.len()..len].copy_from_slice(&digits[at..]);
    Arc::from(std::str::from_utf8(&id[..len]).expect("a prefix and digits are UTF-8"))
}

/// Controls a started run.
pub struct RunHandle {
    /// Holds the run's id and workflow name.
    control: Arc<RunControl>,
    engine: Engine,
}

impl RunHandle {
    pub fn id(&self) -> &str {
        &self.control.id
    }

    /// Stops the run: every in-flight worker call and branch is cancelled and the run ends
    /// with [`RunStatus::Cancelled`].
    pub fn cancel(&self) {
        self.control.cancel.cancel();
    }

    /// Stops the run so that it can be resumed later from its store: in-flight work is
    /// cancelled, the run ends here with [`RunStatus::Paused`], and the store marks it paused;
    /// [`Engine::resume`] continues it from its last checkpoint. Without a store this is the
    /// same as [`cancel`](RunHandle::cancel).
    pub fn pause(&self) {
        self.control.paused.store(true, Ordering::SeqCst);
        self.control.cancel.cancel();
    }

    /// Delivers a signal with a plain success and a payload; a `wait` for it takes `ok ->`.
    /// Signals that arrive before the run waits are kept until it does; with a store they are
    /// also kept there (use [`Engine::signal`] to wait until they are).
    pub fn signal(&self, signal: &str, payload: Value) -> Result<(), SignalError> {
        self.deliver(signal, SignalReply::Outcome("ok".into(), payload))
    }

    /// Delivers a signal with a custom outcome; the `wait` takes `on <outcome> ->`.
    pub fn signal_outcome(
        &self,
        signal: &str,
        outcome: &str,
        payload: Value,
    ) -> Result<(), SignalError> {
        self.deliver(signal, SignalReply::Outcome(outcome.to_string(), payload))
    }

    /// Delivers a rejection; the `wait` takes its failure path.
    pub fn reject(&self, signal: &str, reason: &str) -> Result<(), SignalError> {
        self.deliver(signal, SignalReply::Reject(reason.to_string()))
    }

    fn deliver(&self, signal: &str, reply: SignalReply) -> Result<(), SignalError> {
        if self.control.has_ended() {
            return Err(SignalError::Finished);
        }
        check_signal(
            &self.control.workflow,
            &self.engine.signals_of(&self.control.workflow),
            signal,
            &reply,
        )?;
        match self.engine.store() {
            None => self.control.mailbox().deliver(Signal {
                name: signal.to_string(),
                reply,
                seq: None,
            }),
            Some(store) => {
                let (id, name, control) = (
                    self.control.id.to_string(),
                    signal.to_string(),
                    self.control.clone(),
                );
                tokio::spawn(async move {
                    control.recorded().await;
                    let mailbox = control.mailbox();
                    match store
                        .push_signal(&id, &name, reply.clone().into_stored())
                        .await
                    {
                        Ok(seq) => mailbox.deliver(Signal {
                            name,
                            reply,
                            seq: Some(seq),
                        }),
                        Err(error) => {
                            tracing::error!(run = %id, %error, "a signal could not be stored")
                        }
                    }
                });
            }
        }
        Ok(())
    }

    pub fn is_finished(&self) -> bool {
        self.control.has_ended()
    }

    /// Waits for the run to end and returns its result. The run's task does not wait for this:
    /// it ends with the run, and the result waits here. A run whose task ended before the run
    /// did (its runtime shut down, or a panic outside the workers, whose own panics fail their
    /// attempts) answers too: cancelled or failed, with an error saying which.
    pub async fn result(self) -> RunResult {
        let (status, why) = match self.control.take_ending().await {
            Some(Ending::Finished(result)) => return *result,
            Some(Ending::Panicked) => (RunStatus::Failed, "panicked"),
            Some(Ending::Stopped) => (RunStatus::Cancelled, "was stopped with its runtime"),
            // The handle is the result's only taker, so this is not expected.
            None => (RunStatus::Failed, "left no result"),
        };
        abnormal(&self.control.id, &self.control.workflow, status, why)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::run_id;

    #[test]
    fn run_ids_are_the_prefix_and_the_number_in_decimal() {
        assert_eq!(&*run_id("run-1f-", 7), "run-1f-7");
        assert_eq!(&*run_id("run-1f-", 0), "run-1f-0");
        assert_eq!(&*run_id("run-1f-", 4_096), "run-1f-4096");
        let prefix = format!("run-{:x}-", u64::MAX);
        assert_eq!(&*run_id(&prefix, u64::MAX), format!("{prefix}{}", u64::MAX));
    }
}
