//! `orch run FILE`: run a workflow with the workers bound in `orch.toml`, showing progress on
//! standard error and the result as JSON on standard output; with `--store`, keep the run in a
//! run store so that it can be paused, resumed and signalled.

mod chat;
mod config;
mod drive;
mod http;
mod input;
mod process;
mod progress;
mod protocol;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orch_dsl::ir;
use orch_runtime::store::Store;
use orch_runtime::{
    Engine, Entry, LoadError, Options, ResumeError, RunResult, RunStatus, StartError,
};
use serde::Serialize;
use serde_json::Value;

use self::config::{Binding, Config};
pub use self::drive::{Driven, Durable, drive};
use self::input::InputArg;
pub use self::progress::{Progress, show_ms};
use crate::diagnostics::{self, Colour};
use crate::durable::{Locks, shell_word, steps};
use crate::error::{CANCELLED, CliError};
use crate::files::Source;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The workflow file.
    file: PathBuf,
    /// The workflow to run, when the file defines several.
    #[arg(long, short)]
    workflow: Option<String>,
    /// An input field `name=value` (the value is read as JSON when it parses, else as text), or
    /// `@file.json` holding an object of fields (`@-`: standard input). May be repeated; later
    /// fields replace earlier ones.
    #[arg(long = "input", short, value_name = "NAME=VALUE|@FILE", value_parser = input::parse_arg)]
    inputs: Vec<InputArg>,
    /// The worker bindings (default: `orch.toml` next to FILE, else in the current directory).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Include the audit trail in the result.
    #[arg(long)]
    trail: bool,
    /// Seed of the retry jitter, to repeat a run's delays exactly.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Show no progress.
    #[arg(long, short)]
    quiet: bool,
    /// Keep the run in this run store (a SQLite file, created if missing): Ctrl-C pauses the
    /// run, `orch resume` continues it, `orch signal` sends it signals.
    #[arg(long, value_name = "PATH")]
    store: Option<PathBuf>,
}

pub fn run(args: Args, colour: Colour) -> Result<u8, CliError> {
    let loaded = Loaded::read(&args.file, args.config.as_deref(), colour)?;
    let workflows: Vec<&ir::Workflow> = loaded.program.workflows.iter().collect();
    let workflow = crate::graph::choose_workflow(&workflows, args.workflow.as_deref())?;
    loaded.check_bindings(workflow)?;
    let input = input::build(&args.inputs, workflow)?;
    let name = workflow.name.clone();
    let shown = Shown {
        trail: args.trail,
        quiet: args.quiet,
    };
    block_on(async {
        let durable = match &args.store {
            Some(path) => Some(Durable {
                store: crate::durable::open(path, true)?,
                path: path.clone(),
                locks: Locks::open(path)?,
                file: args.file.clone(),
                config: args.config.clone(),
            }),
            None => None,
        };
        let engine = loaded.engine(
            crate::durable::options(args.seed),
            durable.as_ref().map(|d| d.store.clone()),
            colour,
        )?;
        let events = engine.events();
        let interrupts = interrupts();
        let handle = engine.start(&name, input).map_err(start_error)?;
        let id = handle.id().to_string();
        let mut progress = Progress::new(args.quiet, &[&id]);
        if let Some(durable) = &durable {
            // A fresh id: no other process can hold its lock.
            let _ = durable.locks.acquire(&id);
            eprintln!("run {id}: started");
            progress = progress.with_store(shell_word(&durable.path.display().to_string()));
        }
        let mut driven = drive(
            &engine,
            durable.as_ref(),
            events,
            interrupts,
            vec![handle],
            &mut progress,
        )
        .await;
        report_one(driven.remove(0), durable.as_ref(), shown).await
    })
}

/// Runs `future` on a fresh multi-threaded runtime.
pub fn block_on<T>(future: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    let outcome = runtime.block_on(future);
    // HTTP calls still blocking a thread end at their own timeout; do not wait for them.
    runtime.shutdown_background();
    outcome
}

/// A workflow file, checked, with the worker bindings found for it.
pub struct Loaded {
    pub source: Source,
    pub program: ir::Program,
    config: Option<Config>,
}

impl Loaded {
    /// Reads and checks `file` (rendering its diagnostics) and reads its `orch.toml`.
    pub fn read(file: &Path, config: Option<&Path>, colour: Colour) -> Result<Loaded, CliError> {
        let source = Source::read(file)?;
        let program = compile(&source, colour)?;
        let config = match config::locate(config, file)? {
            Some(path) => Some(Config::read(&path)?),
            None => None,
        };
        Ok(Loaded {
            source,
            program,
            config,
        })
    }

    /// Fails when a worker a run of `workflow` may call is not bound, or its command is missing.
    pub fn check_bindings(&self, workflow: &ir::Workflow) -> Result<(), CliError> {
        let needed = needed_workers(&self.program, workflow);
        check_bindings(workflow, &needed, self.config.as_ref(), &self.source.path)?;
        chat::check(&self.program, &needed, self.config.as_ref())
    }

    /// An engine with the workers bound and the file loaded; needs a tokio runtime.
    pub fn engine(
        &self,
        options: Options,
        store: Option<Arc<dyn Store>>,
        colour: Colour,
    ) -> Result<Engine, CliError> {
        let mut engine = Engine::with_options(options);
        if let Some(store) = store {
            engine = engine.with_store(store);
        }
        bind_workers(&engine, &self.program, self.config.as_ref());
        engine
            .load(&self.source.text)
            .map_err(|e| load_error(e, &self.source, colour))?;
        Ok(engine)
    }
}

/// Parses and checks the file; renders its diagnostics (warnings too).
pub fn compile(source: &Source, colour: Colour) -> Result<ir::Program, CliError> {
    match orch_dsl::compile(&source.text) {
        Ok(compiled) => {
            diagnostics::emit(colour, &compiled.warnings, source);
            Ok(compiled.program)
        }
        Err(errors) => {
            diagnostics::emit(colour, &errors, source);
            let counts = crate::check::Counts {
                errors: errors.iter().filter(|d| d.is_error()).count(),
                warnings: errors.iter().filter(|d| !d.is_error()).count(),
            };
            Err(CliError::failure(format!(
                "`{}` could not be checked: {}",
                source.name,
                counts.describe()
            )))
        }
    }
}

/// The workers a run of `workflow` may call: its own and those of the workflows it calls.
fn needed_workers(program: &ir::Program, workflow: &ir::Workflow) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo = vec![workflow];
    while let Some(workflow) = todo.pop() {
        if !seen.insert(workflow.name.clone()) {
            continue;
        }
        needed.extend(workflow.workers.iter().map(|w| w.name.clone()));
        for state in &workflow.states {
            if let ir::StateKind::Call {
                workflow: called, ..
            } = &state.kind
                && let Some(called) = program.workflow(called)
            {
                todo.push(called);
            }
        }
    }
    needed
}

/// Fails before the run starts when a worker it needs is not bound, or a bound command cannot
/// be found.
fn check_bindings(
    workflow: &ir::Workflow,
    needed: &BTreeSet<String>,
    config: Option<&Config>,
    file: &Path,
) -> Result<(), CliError> {
    let list = |names: &[&String]| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(config) = config else {
        if needed.is_empty() {
            return Ok(());
        }
        let names: Vec<&String> = needed.iter().collect();
        return Err(CliError::new(format!(
            "workflow `{}` uses worker{} {}, but there is no `{}` next to `{}` or in the current \
             directory to bind {} (see `--config`)",
            workflow.name,
            if names.len() == 1 { "" } else { "s" },
            list(&names),
            config::FILE_NAME,
            file.display(),
            if names.len() == 1 { "it" } else { "them" },
        )));
    };
    let missing: Vec<&String> = needed
        .iter()
        .filter(|n| !config.workers.contains_key(*n))
        .collect();
    if !missing.is_empty() {
        let one = missing.len() == 1;
        return Err(CliError::new(format!(
            "worker{} {} used by `{}` {} not bound in `{}`: add a `[workers.{}]` section",
            if one { "" } else { "s" },
            list(&missing),
            workflow.name,
            if one { "is" } else { "are" },
            config.path.display(),
            missing[0],
        )));
    }
    for name in needed {
        if let Some(Binding::Command(spec)) = config.workers.get(name)
            && let Err(problem) = find_program(&spec.program, &spec.cwd)
        {
            return Err(CliError::new(format!(
                "worker `{name}` cannot start `{}`: {problem}",
                spec.program.display()
            )));
        }
    }
    Ok(())
}

/// Checks that a program exists before the run starts, as the process would look it up.
fn find_program(program: &Path, cwd: &Path) -> Result<(), String> {
    if !cwd.is_dir() {
        return Err(format!("its folder `{}` does not exist", cwd.display()));
    }
    if program.components().count() > 1 {
        return if program.is_file() {
            Ok(())
        } else {
            Err("no such file".into())
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| dir.join(program).is_file()) {
        Ok(())
    } else {
        Err("not found on the `PATH`".into())
    }
}

/// Binds every worker of `orch.toml`, and a stand-in that fails for each declared worker no run
/// of this workflow can call (the engine wants every worker of a loaded file bound).
fn bind_workers(engine: &Engine, program: &ir::Program, config: Option<&Config>) {
    if let Some(config) = config {
        for (name, binding) in &config.workers {
            match binding {
                Binding::Command(spec) => {
                    engine.bind(name.clone(), process::ProcessWorker::new(spec.clone()));
                }
                Binding::Http(spec) => {
                    engine.bind(name.clone(), http::HttpWorker::new(spec.clone()));
                }
                Binding::Role(spec) => {
                    let outcomes = chat::outcomes(program, name);
                    let worker =
                        chat::worker(&spec.role, &spec.prices, spec.timeout, outcomes.as_deref());
                    engine.bind(name.clone(), worker);
                }
                Binding::Pool(spec) => {
                    let outcomes = chat::outcomes(program, name);
                    engine.bind(name.clone(), chat::pool(spec, outcomes.as_deref()));
                }
            }
        }
    }
    let bound = |name: &str| config.is_some_and(|c| c.workers.contains_key(name));
    for worker in program.workflows.iter().flat_map(|w| &w.workers) {
        if !bound(&worker.name) {
            let message = format!("worker `{}` is not bound in `orch.toml`", worker.name);
            engine.bind(worker.name.clone(), move |_call: orch_runtime::Call| {
                let message = message.clone();
                async move { Err(orch_runtime::WorkerError::permanent(message)) }
            });
        }
    }
}

fn load_error(error: LoadError, source: &Source, colour: Colour) -> CliError {
    match error {
        LoadError::Invalid(diagnostics) => {
            diagnostics::emit(colour, &diagnostics, source);
            CliError::failure(format!("`{}` could not be loaded", source.name))
        }
        other => CliError::new(other.to_string()),
    }
}

fn start_error(error: StartError) -> CliError {
    CliError::new(error.to_string())
}

/// Ctrl-C presses, as a channel. On Unix the handler is in place when this returns, so a
/// Ctrl-C right after the run starts cannot kill the command instead of cancelling the run.
pub fn interrupts() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (send, receive) = tokio::sync::mpsc::unbounded_channel();
    #[cfg(unix)]
    if let Ok(mut presses) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    {
        tokio::spawn(async move {
            while presses.recv().await.is_some() {
                if send.send(()).is_err() {
                    break;
                }
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if send.send(()).is_err() {
                break;
            }
        }
    });
    receive
}

/// What `orch run` prints on standard output.
#[derive(Serialize)]
pub struct Printed<'a> {
    run_id: &'a str,
    workflow: &'a str,
    status: RunStatus,
    terminal: Option<&'a str>,
    output: Option<&'a Value>,
    error: Option<&'a Value>,
    steps: u64,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    trail: Option<&'a [Entry]>,
}

/// What to print of a result.
#[derive(Clone, Copy)]
pub struct Shown {
    pub trail: bool,
    pub quiet: bool,
}

/// The result printed as `orch run` prints it.
pub fn printed(result: &RunResult, trail: bool) -> Printed<'_> {
    Printed {
        run_id: &result.run_id,
        workflow: &result.workflow,
        status: result.status,
        terminal: result.terminal.as_deref(),
        output: result.output.as_ref(),
        error: result.error.as_ref(),
        steps: result.steps,
        duration_ms: result.duration_ms,
        trail: trail.then_some(result.trail.as_slice()),
    }
}

/// Prints JSON on standard output.
pub fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(format!("cannot write the result: {e}")))?;
    text.push('\n');
    crate::write_output(None, text.as_bytes())
}

/// Prints the result of the one run of `orch run` or `orch resume RUN` and gives the exit code.
pub async fn report_one(
    driven: Driven,
    durable: Option<&Durable>,
    shown: Shown,
) -> Result<u8, CliError> {
    let result = match driven.outcome {
        Ok(result) => result,
        Err(error) => return Err(resume_error(error, durable)),
    };
    print_json(&printed(&result, shown.trail))?;
    let line = ending(&result, durable).await?;
    let paused = result.status == RunStatus::Paused;
    if !shown.quiet || paused {
        eprintln!("{line}");
    }
    Ok(if paused { CANCELLED } else { 0 })
}

/// The line that ends a run's report: how it succeeded or was paused (`Ok`), or why it did not
/// succeed (`Err`).
pub async fn ending(result: &RunResult, durable: Option<&Durable>) -> Result<String, CliError> {
    let took = progress::show_ms(result.duration_ms);
    let steps = steps(result.steps);
    let at = result
        .terminal
        .as_deref()
        .map(|t| format!(" at `{t}`"))
        .unwrap_or_default();
    let error = result.error.as_ref().map(show_value).unwrap_or_default();
    match result.status {
        RunStatus::Succeeded => Ok(format!("succeeded{at} after {steps} in {took}")),
        RunStatus::Paused => {
            let Some(durable) = durable else {
                return Err(CliError {
                    message: format!("the run was paused after {steps}"),
                    code: CANCELLED,
                });
            };
            let id = &result.run_id;
            let (state, steps) = match durable.store.load(id).await {
                Ok(Some(stored)) => (
                    format!(" at `{}`", stored.summary.state),
                    crate::durable::steps(stored.summary.steps),
                ),
                _ => (String::new(), steps),
            };
            Ok(format!(
                "run {id}: paused{state} after {steps}; continue it with `{}`",
                durable.resume_command(id)
            ))
        }
        RunStatus::Cancelled => Err(CliError {
            message: format!("the run was cancelled after {steps}"),
            code: CANCELLED,
        }),
        RunStatus::Failed => Err(CliError::failure(format!(
            "the run failed{at} after {steps}: {error}"
        ))),
        RunStatus::TimedOut => Err(CliError::failure(format!("{error} ({steps})"))),
        // Statuses the engine gains later end the command as a failure until this learns them.
        #[allow(unreachable_patterns)]
        other => Err(CliError::failure(format!(
            "the run ended with status `{}` after {steps}",
            status_name(other)
        ))),
    }
}

/// Why a stored run could not be resumed, as one line.
pub fn resume_error(error: ResumeError, durable: Option<&Durable>) -> CliError {
    let store = durable.map_or_else(String::new, |d| format!(" `{}`", d.path.display()));
    let store_word = durable.map_or_else(
        || "…".to_string(),
        |d| shell_word(&d.path.display().to_string()),
    );
    let file = durable.map_or_else(String::new, |d| format!(" `{}`", d.file.display()));
    CliError::new(match error {
        ResumeError::UnknownRun(run) => format!("no run `{run}` in the run store{store}"),
        ResumeError::Finished { run, status } => format!(
            "run `{run}` has finished ({status}); `orch runs show {run} --store {store_word}` \
             shows its result"
        ),
        ResumeError::DefinitionChanged { run, workflow } => format!(
            "run `{run}` started under another definition of workflow `{workflow}` than the \
             file{file} has now; a run resumes only under the definition it started under \
             (documentation may change)"
        ),
        ResumeError::Running(run) => format!("run `{run}` is already running"),
        ResumeError::Start { run, error } => format!("cannot resume run `{run}`: {error}"),
        other => other.to_string(),
    })
}

/// A status as the result JSON spells it: `timed_out`.
pub fn status_name(status: RunStatus) -> String {
    match serde_json::to_value(status) {
        Ok(Value::String(name)) => name,
        _ => format!("{status:?}"),
    }
}

/// A run's error on one line: text as it is, lines joined with ` | `; other values as JSON.
pub fn show_value(value: &Value) -> String {
    match value {
        Value::String(text) => text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" | "),
        other => other.to_string(),
    }
}
