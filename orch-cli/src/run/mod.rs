//! `orch run FILE`: run a workflow with the workers bound in `orch.toml`, showing progress on
//! standard error and the result as JSON on standard output.

mod config;
mod http;
mod input;
mod process;
mod progress;
mod protocol;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_dsl::ir;
use orch_runtime::{Engine, Entry, LoadError, Options, RunResult, RunStatus, StartError};
use serde::Serialize;
use serde_json::Value;

use self::config::{Binding, Config};
use self::input::InputArg;
use self::progress::Progress;
use crate::diagnostics::{self, Colour};
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
}

pub fn run(args: Args, colour: Colour) -> Result<u8, CliError> {
    let source = Source::read(&args.file)?;
    let program = compile(&source, colour)?;
    let workflows: Vec<&ir::Workflow> = program.workflows.iter().collect();
    let workflow = crate::graph::choose_workflow(&workflows, args.workflow.as_deref())?;
    let needed = needed_workers(&program, workflow);
    let config = match config::locate(args.config.as_deref(), &args.file)? {
        Some(path) => Some(Config::read(&path)?),
        None => None,
    };
    check_bindings(workflow, &needed, config.as_ref(), &args.file)?;
    let input = input::build(&args.inputs, workflow)?;
    let mut options = Options::default();
    if let Some(seed) = args.seed {
        options.seed = seed;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    let outcome = runtime.block_on(async {
        let engine = Engine::with_options(options);
        bind_workers(&engine, &program, config.as_ref());
        engine
            .load(&source.text)
            .map_err(|e| load_error(e, &source, colour))?;
        execute(&engine, &workflow.name, input, &args).await
    });
    // HTTP calls still blocking a thread end at their own timeout; do not wait for them.
    runtime.shutdown_background();
    outcome
}

/// Parses and checks the file; renders its diagnostics (warnings too).
fn compile(source: &Source, colour: Colour) -> Result<ir::Program, CliError> {
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

/// Starts the run, shows its progress until it ends, prints the result.
async fn execute(
    engine: &Engine,
    workflow: &str,
    input: Value,
    args: &Args,
) -> Result<u8, CliError> {
    let mut events = engine.events();
    let mut interrupts = interrupts();
    let handle = engine.start(workflow, input).map_err(start_error)?;
    let mut progress = Progress::new(args.quiet, handle.id());
    let mut interrupted = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if progress.show(&event) {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => progress.missed(n),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            Some(()) = interrupts.recv() => {
                if interrupted {
                    std::process::exit(i32::from(CANCELLED));
                }
                interrupted = true;
                progress.note("cancelling the run (Ctrl-C again to quit at once)");
                handle.cancel();
            }
            _ = tick.tick() => {
                // A run that ended without its last event (it cannot, but never hang on it).
                if handle.is_finished() {
                    while let Ok(event) = events.try_recv() {
                        progress.show(&event);
                    }
                    break;
                }
            }
        }
    }
    let result = handle.result().await;
    report(&result, args)
}

/// Ctrl-C presses, as a channel. On Unix the handler is in place when this returns, so a
/// Ctrl-C right after the run starts cannot kill the command instead of cancelling the run.
fn interrupts() -> tokio::sync::mpsc::UnboundedReceiver<()> {
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
struct Printed<'a> {
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

fn report(result: &RunResult, args: &Args) -> Result<u8, CliError> {
    let printed = Printed {
        run_id: &result.run_id,
        workflow: &result.workflow,
        status: result.status,
        terminal: result.terminal.as_deref(),
        output: result.output.as_ref(),
        error: result.error.as_ref(),
        steps: result.steps,
        duration_ms: result.duration_ms,
        trail: args.trail.then_some(result.trail.as_slice()),
    };
    let mut text = serde_json::to_string_pretty(&printed)
        .map_err(|e| CliError::new(format!("cannot write the result: {e}")))?;
    text.push('\n');
    crate::write_output(None, text.as_bytes())?;
    let took = progress::show_ms(result.duration_ms);
    let steps = format!(
        "{} step{}",
        result.steps,
        if result.steps == 1 { "" } else { "s" }
    );
    let at = result
        .terminal
        .as_deref()
        .map(|t| format!(" at `{t}`"))
        .unwrap_or_default();
    let error = result.error.as_ref().map(show_value).unwrap_or_default();
    match result.status {
        RunStatus::Succeeded => {
            if !args.quiet {
                eprintln!("succeeded{at} after {steps} in {took}");
            }
            Ok(0)
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

/// A status as the result JSON spells it: `timed_out`.
fn status_name(status: RunStatus) -> String {
    match serde_json::to_value(status) {
        Ok(Value::String(name)) => name,
        _ => format!("{status:?}"),
    }
}

/// A run's error on one line: text as it is, lines joined with ` | `; other values as JSON.
fn show_value(value: &Value) -> String {
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
