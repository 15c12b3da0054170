//! The engine: holds checked workflows and bound workers, and starts runs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use orch_dsl::ir;
use serde_json::Value;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::event::Event;
use crate::result::{RunResult, RunStatus};
use crate::run::Run;
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
    #[error("the run has finished")]
    Finished,
}

/// A signal delivered to a run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Signal {
    pub name: String,
    pub reply: SignalReply,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SignalReply {
    /// An outcome (`ok` or a custom label) with a payload.
    Outcome(String, Value),
    /// A rejection: the `wait` takes its failure path.
    Reject(String),
}

/// Shared between a run and its handle.
pub(crate) struct RunControl {
    pub cancel: CancellationToken,
    pub signals: Mutex<VecDeque<Signal>>,
    pub arrived: Notify,
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seed of the retry jitter, so that runs are reproducible.
    pub seed: u64,
    /// How many events a slow subscriber may lag behind before it misses some.
    pub event_capacity: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 0x6f72_6368,
            event_capacity: 1024,
        }
    }
}

pub(crate) struct Inner {
    pub workflows: RwLock<HashMap<String, Arc<ir::Workflow>>>,
    pub workers: RwLock<Workers>,
    pub events: broadcast::Sender<Event>,
    pub options: Options,
    next_run: AtomicU64,
    epoch: u64,
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
            .map_or(0, |d| d.as_millis() as u64);
        Engine {
            inner: Arc::new(Inner {
                workflows: RwLock::new(HashMap::new()),
                workers: RwLock::new(Workers::new()),
                events,
                options,
                next_run: AtomicU64::new(1),
                epoch,
            }),
        }
    }

    /// Binds a worker name, for every workflow of this engine.
    pub fn bind(&self, name: impl Into<String>, worker: impl Worker) -> &Engine {
        write(&self.inner.workers).bind(name, worker);
        self
    }

    /// Binds every worker of `workers`.
    pub fn bind_all(&self, workers: Workers) -> &Engine {
        write(&self.inner.workers).extend(workers);
        self
    }

    /// Adds checked workflows (as generated code does for `workflow!` and `build.rs`).
    pub fn register(&self, program: &ir::Program) -> &Engine {
        let mut workflows = write(&self.inner.workflows);
        for workflow in &program.workflows {
            workflows.insert(workflow.name.clone(), Arc::new(workflow.clone()));
        }
        self
    }

    /// Compiles workflow text with the full checker and adds its workflows. A `call` may name
    /// workflows already loaded. Every worker the text uses must already be bound.
    pub fn load(&self, source: &str) -> Result<Vec<String>, LoadError> {
        let file = orch_dsl::parse(source).map_err(LoadError::Invalid)?;
        let externals: Vec<orch_dsl::Signature> = read(&self.inner.workflows)
            .values()
            .filter(|w| !file.workflows.iter().any(|f| f.name.name == w.name))
            .map(|w| signature(w))
            .collect();
        let compiled = orch_dsl::check(&file, &externals).map_err(LoadError::Invalid)?;
        let workers = read(&self.inner.workers);
        for workflow in &compiled.program.workflows {
            if let Some(worker) = workflow.workers.iter().find(|w| !workers.contains(&w.name)) {
                return Err(LoadError::UnboundWorker {
                    workflow: workflow.name.clone(),
                    worker: worker.name.clone(),
                });
            }
        }
        drop(workers);
        self.register(&compiled.program);
        Ok(compiled
            .program
            .workflows
            .iter()
            .map(|w| w.name.clone())
            .collect())
    }

    /// The loaded workflow of that name.
    pub fn workflow(&self, name: &str) -> Option<Arc<ir::Workflow>> {
        read(&self.inner.workflows).get(name).cloned()
    }

    /// Starts a run and returns its handle at once.
    pub fn start(&self, workflow: &str, input: Value) -> Result<RunHandle, StartError> {
        let run = self.prepare(workflow, input, CancellationToken::new())?;
        let id = run.id.clone();
        let control = run.control.clone();
        let join = tokio::spawn(run.drive());
        Ok(RunHandle {
            id,
            control,
            join,
            workflow: self.workflow(workflow),
        })
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

    pub(crate) fn prepare(
        &self,
        name: &str,
        input: Value,
        cancel: CancellationToken,
    ) -> Result<Run, StartError> {
        let workflow = self
            .workflow(name)
            .ok_or_else(|| StartError::UnknownWorkflow(name.to_string()))?;
        let input = crate::data::prepare_input(&workflow, input).map_err(|message| {
            StartError::InvalidInput {
                workflow: name.to_string(),
                message,
            }
        })?;
        let workers = read(&self.inner.workers);
        let bound = workflow
            .workers
            .iter()
            .map(|w| {
                workers
                    .get(&w.name)
                    .cloned()
                    .ok_or_else(|| StartError::UnboundWorker {
                        workflow: name.to_string(),
                        worker: w.name.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        drop(workers);
        let n = self.inner.next_run.fetch_add(1, Ordering::Relaxed);
        let id: Arc<str> = Arc::from(format!("run-{:x}-{n}", self.inner.epoch));
        let control = Arc::new(RunControl {
            cancel,
            signals: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
        });
        Ok(Run::new(self.clone(), workflow, id, input, bound, control))
    }
}

/// The signature of a loaded workflow, for checking text that calls it.
fn signature(workflow: &ir::Workflow) -> orch_dsl::Signature {
    orch_dsl::Signature {
        name: workflow.name.clone(),
        inputs: workflow
            .input
            .iter()
            .map(|f| (f.name.clone(), f.default.is_none()))
            .collect(),
        calls: workflow
            .states
            .iter()
            .filter_map(|s| match &s.kind {
                ir::StateKind::Call { workflow, .. } => Some(workflow.clone()),
                _ => None,
            })
            .collect(),
    }
}

/// Controls a started run.
pub struct RunHandle {
    id: Arc<str>,
    control: Arc<RunControl>,
    join: JoinHandle<RunResult>,
    workflow: Option<Arc<ir::Workflow>>,
}

impl RunHandle {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stops the run: every in-flight worker call and branch is cancelled and the run ends
    /// with [`RunStatus::Cancelled`].
    pub fn cancel(&self) {
        self.control.cancel.cancel();
    }

    /// Delivers a signal with a plain success and a payload; a `wait` for it takes `ok ->`.
    /// Signals that arrive before the run waits are kept until it does.
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
        if self.join.is_finished() {
            return Err(SignalError::Finished);
        }
        if let Some(workflow) = &self.workflow
            && !workflow.signals.iter().any(|s| s.name == signal)
        {
            return Err(SignalError::UnknownSignal {
                workflow: workflow.name.clone(),
                signal: signal.to_string(),
            });
        }
        lock(&self.control.signals).push_back(Signal {
            name: signal.to_string(),
            reply,
        });
        self.control.arrived.notify_waiters();
        Ok(())
    }

    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Waits for the run to end.
    pub async fn result(self) -> RunResult {
        let id = self.id.to_string();
        let workflow = self
            .workflow
            .as_ref()
            .map(|w| w.name.clone())
            .unwrap_or_default();
        match self.join.await {
            Ok(result) => result,
            Err(error) => RunResult {
                run_id: id,
                workflow,
                input: Value::Null,
                status: if error.is_cancelled() {
                    RunStatus::Cancelled
                } else {
                    RunStatus::Failed
                },
                terminal: None,
                output: None,
                error: Some(Value::String(format!(
                    "the run's task ended abnormally: {error}"
                ))),
                states: Default::default(),
                steps: 0,
                duration_ms: 0,
                trail: Vec::new(),
            },
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
