//! What the server holds: the store, its own tables, the limits, the worker bindings, an engine
//! per definition version in use, and the runs it drives now.
//!
//! Each stored definition version gets an engine of its own, so that versions (and workflows of
//! the same name in different definitions) never meet: a run keeps the version it started
//! under, and is resumed under it after a restart. All engines share the store, the owner name
//! and the worker bindings of `orch.toml`; each binds them for its own program, so that a
//! role-bound worker answers the outcomes of the version it runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orch_dsl::{Diagnostics, ir};
use orch_runtime::store::{
    Definition, Definitions, Lifecycle, RunFilter, RunSummary, SqliteStore, Store, definition_hash,
};
use orch_runtime::{Engine, Event, Options, ResumeError, RunHandle, SignalError, StartError};
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::error::{ApiError, ApiResult};
use super::limits::{Bounds, Limits};
use super::tables::{Principal, RunRecord, Tables};
use crate::durable::Locks;
use crate::run::{Bindings, WorkerProblem};

/// How long pause and cancel wait for a run to stop before answering.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// How long a start waits for the new run to be in the store.
const RECORD_WAIT: Duration = Duration::from_secs(10);

pub struct AppState {
    pub store: Arc<SqliteStore>,
    pub tables: Tables,
    pub limits: Limits,
    /// The workers of `orch.toml`, checked and bound by the same code as `orch run`.
    bindings: Arc<Bindings>,
    options: Options,
    locks: Locks,
    versions: tokio::sync::Mutex<HashMap<(String, u64), Arc<Version>>>,
    /// An engine with no workflows, for signals to runs whose definition is gone.
    bare: Engine,
    pub live: Arc<Registry>,
    /// Serializes what must not interleave: changes to definitions, and starting or resuming
    /// runs (against deletions and the per-principal limit).
    pub gate: tokio::sync::Mutex<()>,
}

/// A definition version ready to run.
pub struct Version {
    pub name: String,
    pub version: u64,
    pub engine: Engine,
}

/// A definition text as checked: its diagnostics, what it breaks of the server's rules, and,
/// when it compiles, the program as the server would run it.
pub struct Reviewed {
    pub diagnostics: Diagnostics,
    pub problems: Vec<Problem>,
    pub prepared: Option<Prepared>,
}

pub struct Prepared {
    /// The program with `max_steps` and `timeout` capped.
    pub program: ir::Program,
    pub bounds: Vec<Bounds>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
}

impl Reviewed {
    pub fn is_clean(&self) -> bool {
        !self.diagnostics.has_errors() && self.problems.is_empty() && self.prepared.is_some()
    }
}

impl AppState {
    pub fn new(
        store: Arc<SqliteStore>,
        tables: Tables,
        limits: Limits,
        bindings: Bindings,
        locks: Locks,
    ) -> AppState {
        let mut options = crate::durable::options(None);
        options.limits = limits.engine();
        options.event_capacity = 4096;
        let bare = Engine::with_options(options.clone()).with_store(store.clone());
        AppState {
            store,
            tables,
            limits,
            bindings: Arc::new(bindings),
            options,
            locks,
            versions: tokio::sync::Mutex::new(HashMap::new()),
            bare,
            live: Arc::new(Registry::default()),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// Checks a definition text with the compiler, the limits and the worker bindings, on a
    /// blocking thread. `name`: the workflow the definition is stored under, which the text
    /// must define.
    pub async fn review(&self, name: Option<&str>, text: &str) -> ApiResult<Reviewed> {
        let (limits, bindings) = (self.limits.clone(), self.bindings.clone());
        let (name, text) = (name.map(str::to_string), text.to_string());
        tokio::task::spawn_blocking(move || review(&limits, &bindings, name.as_deref(), &text))
            .await
            .map_err(|e| ApiError::internal("checking a definition failed", e))
    }

    /// The engine of a stored definition version, made on first use.
    pub async fn version(&self, definition: &Definition) -> ApiResult<Arc<Version>> {
        let key = (definition.name.clone(), definition.version);
        let mut versions = self.versions.lock().await;
        if let Some(version) = versions.get(&key) {
            return Ok(version.clone());
        }
        let reviewed = self
            .review(Some(&definition.name), &definition.text)
            .await?;
        let unusable = |why: String| {
            ApiError::conflict(
                "definition_unusable",
                format!(
                    "version {} of `{}` cannot run on this server now: {why}",
                    definition.version, definition.name
                ),
            )
        };
        if reviewed.diagnostics.has_errors() {
            return Err(unusable("it no longer compiles".into()));
        }
        if let Some(problem) = reviewed.problems.first() {
            return Err(unusable(problem.message.clone()));
        }
        let Some(prepared) = reviewed.prepared else {
            return Err(unusable("it no longer compiles".into()));
        };
        // Bound for this program, so that role-bound workers answer the outcomes it declares.
        let engine = self.bindings.engine(
            self.options.clone(),
            Some(self.store.clone()),
            &prepared.program,
        );
        engine.register(&prepared.program);
        // Run ids carry the engine's creation time in microseconds: keep engines apart.
        std::thread::sleep(Duration::from_micros(2));
        watch_events(engine.events(), self.live.clone());
        let version = Arc::new(Version {
            name: definition.name.clone(),
            version: definition.version,
            engine,
        });
        versions.insert(key, version.clone());
        Ok(version)
    }

    /// Forgets the engines of deleted versions (`None`: every version of `name`).
    pub async fn forget(&self, name: &str, version: Option<u64>) {
        self.versions
            .lock()
            .await
            .retain(|(n, v), _| n != name || version.is_some_and(|version| *v != version));
    }

    /// The active version of `name`.
    pub async fn active(&self, name: &str) -> ApiResult<Definition> {
        self.store
            .get_definition(name, None)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                ApiError::not_found(
                    "no_definition",
                    format!("no definition `{name}` with an active version"),
                )
            })
    }

    /// Starts a run of the active version of `name` for `principal`.
    pub async fn start(
        &self,
        principal: &Principal,
        name: &str,
        input: Value,
    ) -> ApiResult<(String, Arc<Version>)> {
        let _gate = self.gate.lock().await;
        let definition = self.active(name).await?;
        let version = self.version(&definition).await?;
        let id = {
            let mut runs = self.live.lock();
            self.check_concurrency(&runs, &principal.name)?;
            let handle = version.engine.start(name, input).map_err(start_error)?;
            let id = handle.id().to_string();
            runs.insert(id.clone(), LiveRun::new(handle, &principal.name, &version));
            id
        };
        self.recorded(&id).await?;
        // A fresh id: no other process holds its lock.
        let _ = self.locks.acquire(&id);
        let record = RunRecord {
            principal: principal.name.clone(),
            definition: version.name.clone(),
            version: version.version,
        };
        let run = id.clone();
        if let Err(e) = self
            .tables
            .blocking(move |tables| tables.record_run(&run, &record))
            .await
        {
            eprintln!("orch serve: cannot record who started run {id}: {e}");
        }
        Ok((id, version))
    }

    /// Waits until a run just started is in the store (its task records it before its first
    /// step), so that it can be looked at as soon as its start is answered.
    async fn recorded(&self, id: &str) -> ApiResult<()> {
        let deadline = tokio::time::Instant::now() + RECORD_WAIT;
        loop {
            if self.store.load(id).await.map_err(store_error)?.is_some() {
                return Ok(());
            }
            let ended = self
                .live
                .lock()
                .get(id)
                .is_none_or(|r| r.handle.as_ref().is_none_or(RunHandle::is_finished));
            // A run that ended at once was recorded before it ended.
            if ended && self.store.load(id).await.map_err(store_error)?.is_some() {
                return Ok(());
            }
            if ended || tokio::time::Instant::now() > deadline {
                return Err(ApiError::internal(
                    "a run was not recorded in the store",
                    format!("run {id}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn check_concurrency(&self, runs: &HashMap<String, LiveRun>, principal: &str) -> ApiResult<()> {
        let running = runs.values().filter(|r| r.principal == principal).count();
        let limit = self.limits.max_concurrent_runs;
        if running >= limit {
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_runs",
                format!(
                    "`{principal}` has {running} runs running, the most this server allows at \
                     once ({limit}); wait for one to finish, or pause one"
                ),
            ));
        }
        Ok(())
    }

    /// The stored run, or 404.
    pub async fn stored(&self, id: &str) -> ApiResult<orch_runtime::store::LoadedRun> {
        self.store
            .load(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| unknown_run(id))
    }

    /// Who started a run and from which definition version, and that version's engine.
    async fn version_of(&self, summary: &RunSummary) -> ApiResult<(String, Arc<Version>)> {
        let id = summary.id.clone();
        let record = self
            .tables
            .blocking(move |tables| tables.run_record(&id))
            .await
            .map_err(|e| ApiError::internal("cannot read a run record", e))?;
        if let Some(record) = record {
            let definition = self
                .store
                .get_definition(&record.definition, Some(record.version))
                .await
                .map_err(store_error)?
                .ok_or_else(|| {
                    ApiError::conflict(
                        "definition_deleted",
                        format!(
                            "run `{}` started under version {} of `{}`, which was deleted",
                            summary.id, record.version, record.definition
                        ),
                    )
                })?;
            return Ok((record.principal, self.version(&definition).await?));
        }
        // A run this server did not start (or did not get to record): the version whose
        // workflow, as this server runs it, has the run's definition hash.
        let latest = self
            .store
            .list_definitions(None, false)
            .await
            .map_err(store_error)?
            .into_iter()
            .find(|d| d.name == summary.workflow)
            .map_or(0, |d| d.version);
        for number in (1..=latest).rev() {
            let Some(definition) = self
                .store
                .get_definition(&summary.workflow, Some(number))
                .await
                .map_err(store_error)?
            else {
                continue;
            };
            let reviewed = self
                .review(Some(&definition.name), &definition.text)
                .await?;
            let matches = reviewed.prepared.as_ref().is_some_and(|p| {
                p.program
                    .workflow(&summary.workflow)
                    .is_some_and(|w| definition_hash(w) == summary.definition)
            });
            if matches {
                return Ok((String::new(), self.version(&definition).await?));
            }
        }
        Err(ApiError::conflict(
            "definition_unknown",
            format!(
                "no stored definition version matches the one run `{}` started under",
                summary.id
            ),
        ))
    }

    /// Resumes a paused or interrupted run under its definition version. `enforce`: refuse
    /// when its principal has the most runs running already.
    pub async fn resume(&self, id: &str, enforce: bool) -> ApiResult<()> {
        let _gate = self.gate.lock().await;
        if self.live.lock().contains_key(id) {
            return Err(ApiError::conflict(
                "already_running",
                format!("run `{id}` is running"),
            ));
        }
        let loaded = self.stored(id).await?;
        if loaded.summary.status.is_finished() {
            return Err(finished(id, loaded.summary.status));
        }
        let (principal, version) = self.version_of(&loaded.summary).await?;
        if enforce && !principal.is_empty() {
            self.check_concurrency(&self.live.lock(), &principal)?;
        }
        if self.locks.acquire(id).is_err() {
            return Err(ApiError::conflict(
                "running_elsewhere",
                format!("run `{id}` is driven by another `orch` process"),
            ));
        }
        let handle = version.engine.resume(id).await.map_err(resume_error)?;
        self.live
            .lock()
            .insert(id.to_string(), LiveRun::new(handle, &principal, &version));
        Ok(())
    }

    /// Pauses a run driven here and waits for it to stop.
    pub async fn pause(&self, id: &str) -> ApiResult<()> {
        let done = self.live.lock().get(id).map(|run| {
            if let Some(handle) = &run.handle {
                handle.pause();
            }
            run.done.subscribe()
        });
        match done {
            Some(done) => {
                wait_done(done, STOP_WAIT).await;
                Ok(())
            }
            None => Err(self.not_running(id).await),
        }
    }

    /// Cancels a run: one driven here at once; a paused or interrupted one by resuming it
    /// cancelled, so that it ends with a result.
    pub async fn cancel(&self, id: &str) -> ApiResult<()> {
        if !self.live.lock().contains_key(id) {
            let loaded = self.stored(id).await?;
            if loaded.summary.status.is_finished() {
                return Err(finished(id, loaded.summary.status));
            }
            match self.resume(id, false).await {
                Ok(()) => {}
                // Resumed by another request in between: cancel it below.
                Err(e) if e.code == "already_running" => {}
                Err(e) => return Err(e),
            }
        }
        let done = self.live.lock().get(id).map(|run| {
            if let Some(handle) = &run.handle {
                handle.cancel();
            }
            run.done.subscribe()
        });
        if let Some(done) = done {
            wait_done(done, STOP_WAIT).await;
        }
        Ok(())
    }

    /// Sends a signal; returns whether the run is running here (and so gets it at once when it
    /// waits for it).
    pub async fn signal(&self, id: &str, signal: &Signal) -> ApiResult<bool> {
        let live = self.live.lock().get(id).map(|r| r.engine.clone());
        let engine = match &live {
            Some(engine) => engine.clone(),
            None => {
                let loaded = self.stored(id).await?;
                if loaded.summary.status.is_finished() {
                    return Err(finished(id, loaded.summary.status));
                }
                match self.version_of(&loaded.summary).await {
                    Ok((_, version)) => version.engine.clone(),
                    Err(_) => self.bare.clone(),
                }
            }
        };
        let sent = match (&signal.reject, &signal.outcome) {
            (Some(reason), _) => engine.reject(id, &signal.name, reason).await,
            (None, Some(outcome)) => {
                engine
                    .signal_outcome(id, &signal.name, outcome, signal.payload.clone())
                    .await
            }
            (None, None) => {
                engine
                    .signal(id, &signal.name, signal.payload.clone())
                    .await
            }
        };
        sent.map_err(|error| match error {
            SignalError::UnknownSignal { .. } | SignalError::UnknownOutcome { .. } => {
                ApiError::unprocessable("invalid_signal", error.to_string())
            }
            SignalError::UnknownRun(_) => unknown_run(id),
            SignalError::Finished => ApiError::conflict(
                "finished",
                format!("run `{id}` has finished and takes no more signals"),
            ),
            SignalError::Store(e) => ApiError::internal("cannot store a signal", e),
        })?;
        Ok(live.is_some())
    }

    async fn not_running(&self, id: &str) -> ApiError {
        match self.stored(id).await {
            Ok(loaded) if loaded.summary.status.is_finished() => {
                finished(id, loaded.summary.status)
            }
            Ok(loaded) => ApiError::conflict(
                "not_running",
                format!(
                    "run `{id}` is not running on this server (it is {})",
                    loaded.summary.status
                ),
            ),
            Err(e) => e,
        }
    }

    /// Resumes every run the store holds as running, as after a restart. Reports each.
    pub async fn resume_all(&self) -> ApiResult<Vec<(String, Result<(), String>)>> {
        let running = self
            .store
            .list(RunFilter {
                status: Some(Lifecycle::Running),
                workflow: None,
            })
            .await
            .map_err(store_error)?;
        let mut outcomes = Vec::new();
        for summary in running {
            let outcome = self.resume(&summary.id, false).await.map_err(|e| e.message);
            outcomes.push((summary.id, outcome));
        }
        Ok(outcomes)
    }
}

/// Checks a definition text with the compiler, the limits and the worker bindings.
fn review(limits: &Limits, bindings: &Bindings, name: Option<&str>, text: &str) -> Reviewed {
    let compiled = match orch_dsl::compile(text) {
        Ok(compiled) => compiled,
        Err(diagnostics) => {
            return Reviewed {
                diagnostics,
                problems: Vec::new(),
                prepared: None,
            };
        }
    };
    let mut program = compiled.program;
    let mut problems = Vec::new();
    if let Some(name) = name
        && program.workflow(name).is_none()
    {
        let defined: Vec<String> = program
            .workflows
            .iter()
            .map(|w| format!("`{}`", w.name))
            .collect();
        problems.push(Problem {
            code: "no_such_workflow",
            message: format!(
                "the definition is named `{name}` but its text defines no workflow `{name}` \
                 (it defines {}); the definition's name is the workflow its runs start",
                if defined.is_empty() {
                    "none".to_string()
                } else {
                    defined.join(", ")
                }
            ),
        });
    }
    problems.extend(
        limits
            .problems(&program)
            .into_iter()
            .map(|message| Problem {
                code: "limit_exceeded",
                message,
            }),
    );
    problems.extend(worker_problems(bindings, &program));
    let bounds = limits.cap(&mut program);
    Reviewed {
        diagnostics: compiled.warnings,
        problems,
        prepared: Some(Prepared { program, bounds }),
    }
}

/// The workers of `program` that `orch.toml` does not bind, or that cannot be called as it
/// binds them, each named with its workflow: the checks of `orch run`.
fn worker_problems(bindings: &Bindings, program: &ir::Program) -> Vec<Problem> {
    let mut problems = Vec::new();
    for workflow in &program.workflows {
        for worker in &workflow.workers {
            let Some(problem) = bindings.problem(program, &worker.name) else {
                continue;
            };
            let (name, workflow) = (&worker.name, &workflow.name);
            problems.push(match problem {
                WorkerProblem::Unbound => Problem {
                    code: "unbound_worker",
                    message: format!(
                        "worker `{name}` of workflow `{workflow}` is not bound on this server: \
                         its `orch.toml` has no `[workers.{name}]`"
                    ),
                },
                // The message names files of the server: it is not shown.
                WorkerProblem::Command(_) => Problem {
                    code: "unusable_worker",
                    message: format!(
                        "worker `{name}` of workflow `{workflow}` cannot start its command on \
                         this server"
                    ),
                },
                WorkerProblem::Role(message) => Problem {
                    code: "unusable_worker",
                    message: format!("workflow `{workflow}`: {message}"),
                },
            });
        }
    }
    problems
}

/// A signal as a request sends it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub name: String,
    #[serde(default)]
    pub payload: Value,
    /// A custom outcome: the `wait` takes `on OUTCOME ->`.
    pub outcome: Option<String>,
    /// A rejection: the `wait` takes `fail ->` with this as its error.
    pub reject: Option<String>,
}

/// The runs this server drives now.
#[derive(Default)]
pub struct Registry {
    runs: Mutex<HashMap<String, LiveRun>>,
}

pub struct LiveRun {
    /// Taken once the run has finished, while its result is being stored.
    handle: Option<RunHandle>,
    pub principal: String,
    pub engine: Engine,
    pub definition: String,
    pub version: u64,
    /// Dropped once the run's end is in the store: `changed()` then fails.
    pub done: watch::Sender<()>,
}

impl LiveRun {
    fn new(handle: RunHandle, principal: &str, version: &Version) -> LiveRun {
        LiveRun {
            handle: Some(handle),
            principal: principal.to_string(),
            engine: version.engine.clone(),
            definition: version.name.clone(),
            version: version.version,
            done: watch::channel(()).0,
        }
    }
}

impl Registry {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveRun>> {
        self.runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A run has ended: once its result is stored, it leaves the registry.
    fn finish(self: &Arc<Registry>, id: &str) {
        let Some(handle) = self.lock().get_mut(id).and_then(|r| r.handle.take()) else {
            return;
        };
        let registry = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let _ = handle.result().await;
            registry.lock().remove(&id);
        });
    }

    /// Finishes the runs whose tasks have ended (for events missed by a lagging listener).
    pub fn sweep(self: &Arc<Registry>) {
        let ended: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, r)| r.handle.as_ref().is_some_and(RunHandle::is_finished))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            self.finish(&id);
        }
    }
}

/// Finishes runs as their engine reports them finished.
fn watch_events(mut events: broadcast::Receiver<Event>, registry: Arc<Registry>) {
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(Event::RunFinished { run, .. }) => registry.finish(&run),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => registry.sweep(),
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// Waits until a run's end is stored, at most `limit`; false when it is not by then.
pub async fn wait_done(mut done: watch::Receiver<()>, limit: Duration) -> bool {
    tokio::time::timeout(limit, async { while done.changed().await.is_ok() {} })
        .await
        .is_ok()
}

pub fn store_error(error: orch_runtime::store::StoreError) -> ApiError {
    use orch_runtime::store::StoreError;
    match error {
        StoreError::UnknownRun(run) => unknown_run(&run),
        StoreError::UnknownDefinition { .. } => {
            ApiError::not_found("no_definition", error.to_string())
        }
        other => ApiError::internal("the run store failed", other),
    }
}

pub fn unknown_run(id: &str) -> ApiError {
    ApiError::not_found("no_run", format!("no run `{id}`"))
}

fn finished(id: &str, status: Lifecycle) -> ApiError {
    ApiError::conflict("finished", format!("run `{id}` has finished ({status})"))
}

fn start_error(error: StartError) -> ApiError {
    match error {
        StartError::InvalidInput { message, .. } => {
            if message.contains("more than the limit") {
                ApiError::too_large("input_too_large", message)
            } else {
                ApiError::unprocessable("invalid_input", message)
            }
        }
        StartError::UnboundWorker { .. } => {
            ApiError::unprocessable("unbound_worker", error.to_string())
        }
        StartError::UnknownWorkflow(_) => ApiError::not_found("no_definition", error.to_string()),
    }
}

fn resume_error(error: ResumeError) -> ApiError {
    match error {
        ResumeError::UnknownRun(run) => unknown_run(&run),
        ResumeError::Running(run) => {
            ApiError::conflict("already_running", format!("run `{run}` is running"))
        }
        ResumeError::Finished { run, status } => finished(&run, status),
        ResumeError::Claimed { .. }
        | ResumeError::DefinitionChanged { .. }
        | ResumeError::UnknownState { .. } => {
            ApiError::conflict("cannot_resume", error.to_string())
        }
        ResumeError::Start { error, .. } => start_error(error),
        ResumeError::Store(e) => store_error(e),
        ResumeError::NoStore => ApiError::internal("cannot resume", "the engine has no store"),
    }
}
