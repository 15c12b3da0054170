//! `orch runs list|show|delete --store runs.db`: the runs a run store keeps.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orch_runtime::store::{Lifecycle, LoadedRun, RunFilter, RunSummary, Store};
use orch_runtime::{AttemptStatus, Entry, RunStatus, Trail};
use serde::Serialize;
use serde_json::Value;

use crate::durable::{Holder, Locks, resume_command, show_time};
use crate::error::CliError;
use crate::run::{block_on, print_json};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the runs of a store, oldest first.
    List(ListArgs),
    /// Show a run: where it is, its result, the signals kept for it, and its trail.
    Show(ShowArgs),
    /// Delete runs and everything kept for them.
    Delete(DeleteArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only runs with this status.
    #[arg(long, value_enum)]
    status: Option<Status>,
    /// Only runs of this workflow.
    #[arg(long, short, value_name = "NAME")]
    workflow: Option<String>,
    /// The run store.
    #[arg(long, value_name = "PATH")]
    store: PathBuf,
    /// A table, or JSON for tools.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The run.
    run: String,
    /// Include the audit trail: every attempt, signal, child run and transition so far.
    #[arg(long)]
    trail: bool,
    /// The run store.
    #[arg(long, value_name = "PATH")]
    store: PathBuf,
    /// Text, or JSON for tools.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The runs.
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<String>,
    /// The run store.
    #[arg(long, value_name = "PATH")]
    store: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

/// A status to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Status {
    Running,
    Paused,
    Succeeded,
    Failed,
    #[value(name = "timed_out")]
    TimedOut,
    Cancelled,
}

impl Status {
    fn lifecycle(self) -> Lifecycle {
        match self {
            Status::Running => Lifecycle::Running,
            Status::Paused => Lifecycle::Paused,
            Status::Succeeded => Lifecycle::Finished(RunStatus::Succeeded),
            Status::Failed => Lifecycle::Finished(RunStatus::Failed),
            Status::TimedOut => Lifecycle::Finished(RunStatus::TimedOut),
            Status::Cancelled => Lifecycle::Finished(RunStatus::Cancelled),
        }
    }
}

pub fn run(command: Command) -> Result<u8, CliError> {
    match command {
        Command::List(args) => list(&args),
        Command::Show(args) => show(&args),
        Command::Delete(args) => delete(&args),
    }
}

fn store_error(error: orch_runtime::store::StoreError) -> CliError {
    CliError::new(error.to_string())
}

fn no_run(run: &str, store: &Path) -> CliError {
    CliError::new(format!(
        "no run `{run}` in the run store `{}`",
        store.display()
    ))
}

/// Whether a run the store holds as running has no process running it: one that died.
fn interrupted(summary: &RunSummary, locks: &Locks) -> bool {
    summary.status == Lifecycle::Running && locks.holder(&summary.id) == Holder::Free
}

fn status_text(summary: &RunSummary, locks: &Locks) -> String {
    if interrupted(summary, locks) {
        "running (interrupted)".into()
    } else {
        summary.status.to_string()
    }
}

/// A run of `orch runs list --format json`.
#[derive(Serialize)]
struct Listed<'a> {
    run_id: &'a str,
    workflow: &'a str,
    status: &'a str,
    /// Running in the store, but no process runs it: `orch resume --all` continues it.
    interrupted: bool,
    /// The state the run goes to next; the terminal state once finished.
    state: &'a str,
    steps: u64,
    created_ms: u64,
    updated_ms: u64,
    definition: &'a str,
}

fn list(args: &ListArgs) -> Result<u8, CliError> {
    block_on(async {
        let store = crate::durable::open(&args.store, false)?;
        let runs = store
            .list(RunFilter {
                status: args.status.map(Status::lifecycle),
                workflow: args.workflow.clone(),
            })
            .await
            .map_err(store_error)?;
        let locks = Locks::peek(&args.store);
        if args.format == Format::Json {
            let listed: Vec<Listed> = runs
                .iter()
                .map(|r| Listed {
                    run_id: &r.id,
                    workflow: &r.workflow,
                    status: r.status.as_str(),
                    interrupted: interrupted(r, &locks),
                    state: &r.state,
                    steps: r.steps,
                    created_ms: r.created_ms,
                    updated_ms: r.updated_ms,
                    definition: &r.definition,
                })
                .collect();
            print_json(&listed)?;
            return Ok(0);
        }
        if runs.is_empty() {
            let status = args.status.map_or(String::new(), |s| {
                format!("{} ", s.lifecycle().as_str().replace('_', " "))
            });
            let of = args
                .workflow
                .as_ref()
                .map_or(String::new(), |w| format!(" of `{w}`"));
            eprintln!("no {status}runs{of} in `{}`", args.store.display());
            return Ok(0);
        }
        let header = ["RUN", "WORKFLOW", "STATUS", "STATE", "STEPS", "UPDATED"];
        let rows: Vec<[String; 6]> = runs
            .iter()
            .map(|r| {
                [
                    r.id.clone(),
                    r.workflow.clone(),
                    status_text(r, &locks),
                    r.state.clone(),
                    r.steps.to_string(),
                    show_time(r.updated_ms),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        let mut line = |cells: [&str; 6]| {
            let mut out = String::new();
            for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
                if i == 5 {
                    out.push_str(cell);
                } else if i == 4 {
                    let _ = write!(out, "{cell:>width$}  ");
                } else {
                    let _ = write!(out, "{cell:<width$}  ");
                }
            }
            text.push_str(out.trim_end());
            text.push('\n');
        };
        line(header);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
        }
        crate::write_output(None, text.as_bytes())?;
        Ok(0)
    })
}

/// A pending signal of `orch runs show --format json`.
#[derive(Serialize)]
struct Pending<'a> {
    seq: u64,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected: Option<&'a str>,
}

/// A run of `orch runs show --format json`: the fields of `orch run`'s result, and where the
/// run is in the store.
#[derive(Serialize)]
struct Shown<'a> {
    run_id: &'a str,
    workflow: &'a str,
    status: &'a str,
    interrupted: bool,
    /// The state the run goes to next; the terminal state once finished.
    state: &'a str,
    terminal: Option<&'a str>,
    output: Option<&'a Value>,
    error: Option<&'a Value>,
    steps: u64,
    duration_ms: Option<u64>,
    input: &'a Value,
    /// The states entered so far.
    path: Vec<String>,
    pending_signals: Vec<Pending<'a>>,
    created_ms: u64,
    updated_ms: u64,
    definition: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    trail: Option<&'a [Entry]>,
}

fn show(args: &ShowArgs) -> Result<u8, CliError> {
    block_on(async {
        let store = crate::durable::open(&args.store, false)?;
        let run = load(&store, &args.run, &args.store).await?;
        let locks = Locks::peek(&args.store);
        let trail = run
            .result
            .as_ref()
            .map_or(run.checkpoint.trail.as_slice(), |r| r.trail.as_slice());
        let summary = &run.summary;
        let pending: Vec<Pending> = run
            .signals
            .iter()
            .map(|s| match &s.reply {
                Ok((outcome, payload)) => Pending {
                    seq: s.seq,
                    name: &s.name,
                    outcome: Some(outcome),
                    payload: Some(payload),
                    rejected: None,
                },
                Err(reason) => Pending {
                    seq: s.seq,
                    name: &s.name,
                    outcome: None,
                    payload: None,
                    rejected: Some(reason),
                },
            })
            .collect();
        let shown = Shown {
            run_id: &summary.id,
            workflow: &summary.workflow,
            status: summary.status.as_str(),
            interrupted: interrupted(summary, &locks),
            state: &summary.state,
            terminal: run.result.as_ref().and_then(|r| r.terminal.as_deref()),
            output: run.result.as_ref().and_then(|r| r.output.as_ref()),
            error: run.result.as_ref().and_then(|r| r.error.as_ref()),
            steps: summary.steps,
            duration_ms: run.result.as_ref().map(|r| r.duration_ms),
            input: &run.input,
            path: trail.path().iter().map(|s| s.to_string()).collect(),
            pending_signals: pending,
            created_ms: summary.created_ms,
            updated_ms: summary.updated_ms,
            definition: &summary.definition,
            trail: args.trail.then_some(trail),
        };
        if args.format == Format::Json {
            print_json(&shown)?;
        } else {
            let text = human(&shown, &run, &locks, &args.store);
            crate::write_output(None, text.as_bytes())?;
        }
        Ok(0)
    })
}

async fn load(store: &Arc<dyn Store>, run: &str, path: &Path) -> Result<LoadedRun, CliError> {
    store
        .load(run)
        .await
        .map_err(store_error)?
        .ok_or_else(|| no_run(run, path))
}

/// `orch runs show` as text: one `key  value` line each, then the trail.
fn human(shown: &Shown<'_>, run: &LoadedRun, locks: &Locks, store: &Path) -> String {
    let mut text = String::new();
    let mut field = |key: &str, value: &str| {
        let _ = writeln!(text, "{key:<10}{value}");
    };
    field("run", shown.run_id);
    field("workflow", shown.workflow);
    field("status", &status_text(&run.summary, locks));
    let finished = run.summary.status.is_finished();
    if finished {
        if let Some(terminal) = shown.terminal {
            field("terminal", terminal);
        }
    } else {
        field("state", shown.state);
    }
    field("steps", &shown.steps.to_string());
    if !shown.path.is_empty() {
        field("path", &shown.path.join(" -> "));
    }
    field("input", &one_line(shown.input));
    if let Some(output) = shown.output {
        field("output", &one_line(output));
    }
    if let Some(error) = shown.error {
        field("error", &one_line(error));
    }
    if let Some(ms) = shown.duration_ms {
        field("duration", &crate::run::show_ms(ms));
    }
    field("created", &show_time(shown.created_ms));
    field("updated", &show_time(shown.updated_ms));
    for (i, signal) in shown.pending_signals.iter().enumerate() {
        let key = if i == 0 { "signals" } else { "" };
        let reply = match (signal.outcome, signal.payload, signal.rejected) {
            (_, _, Some(reason)) => format!("rejected: {reason}"),
            (Some(outcome), Some(payload), None) => format!("{outcome} {}", one_line(payload)),
            _ => String::new(),
        };
        field(key, &format!("{}: {reply}", signal.name));
    }
    if !finished && (run.summary.status == Lifecycle::Paused || shown.interrupted) {
        field("resume", &resume_command(shown.run_id, None, store, None));
    }
    if let Some(trail) = shown.trail {
        text.push_str("trail\n");
        trail_lines(trail, 1, &mut text);
    }
    text
}

/// The trail, one line per entry, indented by `depth`; child runs' trails nested below them.
fn trail_lines(trail: &[Entry], depth: usize, text: &mut String) {
    let indent = "  ".repeat(depth);
    for entry in trail {
        let (step, state, what) = match entry {
            Entry::Attempt(a) => {
                let place = match (&a.branch, a.item, a.iteration) {
                    (Some(branch), _, _) => format!(" (branch {branch})"),
                    (None, Some(item), _) => format!(" (item {item})"),
                    (None, None, Some(iteration)) => format!(" (iteration {iteration})"),
                    _ => String::new(),
                };
                let how = match a.status {
                    AttemptStatus::Ok => {
                        let outcome = a.outcome.as_deref().unwrap_or("ok");
                        match &a.output {
                            Some(output) => format!("{outcome} {}", one_line(output)),
                            None => outcome.to_string(),
                        }
                    }
                    AttemptStatus::Failed => "failed".into(),
                    AttemptStatus::TimedOut => "timed out".into(),
                    AttemptStatus::Panicked => "panicked".into(),
                    AttemptStatus::Cancelled => "cancelled".into(),
                };
                let error = match (&a.error, a.status) {
                    (Some(error), status) if status != AttemptStatus::Ok => {
                        format!(
                            ": {}",
                            crate::run::show_value(&Value::String(error.clone()))
                        )
                    }
                    _ => String::new(),
                };
                (
                    a.step,
                    &a.state,
                    format!("attempt {} by {}{place}: {how}{error}", a.attempt, a.worker),
                )
            }
            Entry::Choice { step, state, arm } => {
                let arm = arm.map_or("else".to_string(), |arm| format!("arm {}", arm + 1));
                (*step, state, format!("chose {arm}"))
            }
            Entry::Signal(received) => {
                let orch_runtime::Received {
                    step,
                    state,
                    signal,
                    outcome,
                    payload,
                    rejected,
                    timed_out,
                    ..
                } = &**received;
                let how = match (rejected, timed_out, outcome) {
                    (Some(reason), _, _) => format!("rejected: {reason}"),
                    (None, true, _) => "timed out".into(),
                    (None, false, outcome) => {
                        let outcome = outcome.as_deref().unwrap_or("ok");
                        match payload {
                            Some(payload) => format!("{outcome} {}", one_line(payload)),
                            None => outcome.to_string(),
                        }
                    }
                };
                (*step, state, format!("signal {signal}: {how}"))
            }
            Entry::Child { step, state, run } => {
                let line = format!(
                    "child run {} of {}: {}",
                    run.run_id,
                    run.workflow,
                    crate::run::status_name(run.status)
                );
                let _ = writeln!(text, "{indent}[{step}] {state}: {line}");
                trail_lines(&run.trail, depth + 1, text);
                continue;
            }
            Entry::Transition {
                step,
                from,
                event,
                to,
            } => (*step, from, format!("{event} -> {to}")),
        };
        let _ = writeln!(text, "{indent}[{step}] {state}: {what}");
    }
}

/// A value on one line, shortened past 100 characters.
fn one_line(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 100 {
        return text;
    }
    let cut: String = text.chars().take(99).collect();
    format!("{cut}…")
}

fn delete(args: &DeleteArgs) -> Result<u8, CliError> {
    block_on(async {
        let store = crate::durable::open(&args.store, false)?;
        let locks = Locks::peek(&args.store);
        let mut runs: Vec<&str> = Vec::new();
        for run in &args.runs {
            if runs.contains(&run.as_str()) {
                continue;
            }
            let loaded = load(&store, run, &args.store)
                .await
                .map_err(|e| nothing_deleted(e, args.runs.len()))?;
            if loaded.summary.status == Lifecycle::Running
                && let Holder::Process(pid) = locks.holder(run)
            {
                return Err(nothing_deleted(
                    CliError::new(format!(
                        "run `{run}` is running in the `orch` process {pid}; pause it (Ctrl-C \
                         there) or let it end before deleting it"
                    )),
                    args.runs.len(),
                ));
            }
            runs.push(run);
        }
        for run in runs {
            store.delete(run).await.map_err(store_error)?;
            eprintln!("deleted run {run}");
        }
        Ok(0)
    })
}

/// When several runs were named, says that none of them was deleted.
fn nothing_deleted(error: CliError, named: usize) -> CliError {
    if named > 1 {
        CliError {
            message: format!("{}; no run was deleted", error.message),
            code: error.code,
        }
    } else {
        error
    }
}
