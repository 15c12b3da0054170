//! `orch run FILE`: run a workflow with the workers bound in `orch.toml`, showing progress on
//! standard error and the result as JSON on standard output; with `--store`, keep the run in a
//! run store so that it can be paused, resumed and signalled.

mod bindings;
mod chat;
mod config;
mod drive;
mod http;
mod input;
mod process;
mod progress;
mod protocol;

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

pub use self::bindings::{Bindings, WorkerProblem};
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
    bindings: Bindings,
}

impl Loaded {
    /// Reads and checks `file` (rendering its diagnostics) and reads its `orch.toml`.
    pub fn read(file: &Path, config: Option<&Path>, colour: Colour) -> Result<Loaded, CliError> {
        let source = Source::read(file)?;
        let program = compile(&source, colour)?;
        let bindings = Bindings::read(config, Some(file))?;
        Ok(Loaded {
            source,
            program,
            bindings,
        })
    }

    /// Fails when a worker a run of `workflow` may call is not bound, or cannot be called as
    /// it is bound.
    pub fn check_bindings(&self, workflow: &ir::Workflow) -> Result<(), CliError> {
        self.bindings
            .check(&self.program, workflow, &self.source.path)
    }

    /// An engine with the workers bound and the file loaded; needs a tokio runtime.
    pub fn engine(
        &self,
        options: Options,
        store: Option<Arc<dyn Store>>,
        colour: Colour,
    ) -> Result<Engine, CliError> {
        let engine = self.bindings.engine(options, store, &self.program);
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
