//! `orch resume RUN FILE --store runs.db`: continue a stored run, paused or left running by a
//! process that died; `orch resume --all FILE --store runs.db`: every run a dead process left.

use std::path::PathBuf;

use orch_runtime::store::{Lifecycle, RunFilter, RunSummary};
use orch_runtime::{Engine, RunHandle};

use crate::diagnostics::Colour;
use crate::durable::{Holder, Locks, shell_word, steps};
use crate::error::{CANCELLED, CliError};
use crate::run::{
    Driven, Durable, Loaded, Progress, Shown, block_on, drive, ending, interrupts, print_json,
    printed, report_one, resume_error,
};

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "orch resume RUN FILE --store PATH [OPTIONS]\n       orch resume --all FILE --store PATH [OPTIONS]"
)]
pub struct Args {
    /// The run to resume (with `--all`, the workflow file).
    #[arg(value_name = "RUN")]
    run: String,
    /// The workflow file the run runs. Its definition must be the one the run started under;
    /// only documentation may have changed.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Resume every run of FILE's workflows that the store holds as running while no process
    /// runs it: the runs of a process that died. Paused runs stay paused.
    #[arg(long)]
    all: bool,
    /// The run store.
    #[arg(long, value_name = "PATH")]
    store: PathBuf,
    /// The worker bindings (default: `orch.toml` next to FILE, else in the current directory).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Include the audit trail (the whole trail, from the run's start) in the result.
    #[arg(long)]
    trail: bool,
    /// Seed of the retry jitter.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Show no progress.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: Args, colour: Colour) -> Result<u8, CliError> {
    let store_word = shell_word(&args.store.display().to_string());
    let (run, file) = match (args.all, &args.file) {
        (false, Some(file)) => (Some(args.run.clone()), file.clone()),
        (true, None) => (None, PathBuf::from(&args.run)),
        (false, None) => {
            return Err(CliError::new(format!(
                "give the workflow file that run `{run}` runs: `orch resume {run} FILE --store \
                 {store_word}` (the store keeps runs, not workflow files)",
                run = args.run,
            )));
        }
        (true, Some(_)) => {
            return Err(CliError::new(format!(
                "with `--all`, give only the workflow file: `orch resume --all FILE --store \
                 {store_word}`"
            )));
        }
    };
    let loaded = Loaded::read(&file, args.config.as_deref(), colour)?;
    let shown = Shown {
        trail: args.trail,
        quiet: args.quiet,
    };
    block_on(async {
        let durable = Durable {
            store: crate::durable::open(&args.store, false)?,
            path: args.store.clone(),
            locks: Locks::open(&args.store)?,
            file,
            config: args.config.clone(),
        };
        match run {
            Some(run) => one(&run, &loaded, &durable, &args, colour, shown).await,
            None => all(&loaded, &durable, &args, colour, shown).await,
        }
    })
}

/// `orch resume RUN FILE`.
async fn one(
    run: &str,
    loaded: &Loaded,
    durable: &Durable,
    args: &Args,
    colour: Colour,
    shown: Shown,
) -> Result<u8, CliError> {
    let stored = durable
        .store
        .load(run)
        .await
        .map_err(|e| CliError::new(e.to_string()))?
        .ok_or_else(|| no_run(run, durable))?;
    let summary = stored.summary;
    if let Lifecycle::Finished(status) = summary.status {
        return Err(resume_error(
            orch_runtime::ResumeError::Finished {
                run: run.to_string(),
                status: Lifecycle::Finished(status),
            },
            Some(durable),
        ));
    }
    let workflow = workflow_of(&summary, loaded, durable)?;
    durable
        .locks
        .acquire(run)
        .map_err(|holder| running_elsewhere(run, holder))?;
    loaded.check_bindings(workflow)?;
    let engine = loaded.engine(
        crate::durable::options(args.seed),
        Some(durable.store.clone()),
        colour,
    )?;
    let events = engine.events();
    let interrupts = interrupts();
    let handle = engine
        .resume(run)
        .await
        .map_err(|e| resume_error(e, Some(durable)))?;
    eprintln!("{}", resumed_line(&summary));
    let mut progress = progress(args, &[run], durable);
    let mut driven = drive(
        &engine,
        Some(durable),
        events,
        interrupts,
        vec![handle],
        &mut progress,
    )
    .await;
    report_one(driven.remove(0), Some(durable), shown).await
}

/// `orch resume --all FILE`.
async fn all(
    loaded: &Loaded,
    durable: &Durable,
    args: &Args,
    colour: Colour,
    shown: Shown,
) -> Result<u8, CliError> {
    let running = durable
        .store
        .list(RunFilter {
            status: Some(Lifecycle::Running),
            workflow: None,
        })
        .await
        .map_err(|e| CliError::new(e.to_string()))?;
    let engine = loaded.engine(
        crate::durable::options(args.seed),
        Some(durable.store.clone()),
        colour,
    )?;
    let events = engine.events();
    let interrupts = interrupts();
    let mut code = 0;
    let mut handles = Vec::new();
    for summary in &running {
        match start(&engine, summary, loaded, durable).await {
            Ok(Some(handle)) => {
                eprintln!("{}", resumed_line(summary));
                handles.push(handle);
            }
            Ok(None) => {}
            Err(error) => {
                prefixed(error, &summary.id).print(colour);
                code = code.max(crate::error::UNUSABLE);
            }
        }
    }
    if handles.is_empty() {
        if code == 0 {
            eprintln!(
                "no run to resume: `{}` holds no run left running by a process that died",
                durable.path.display()
            );
        }
        print_json(&Vec::<()>::new())?;
        return Ok(code);
    }
    let ids: Vec<String> = handles.iter().map(|h| h.id().to_string()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut progress = progress(args, &ids, durable);
    let driven = drive(
        &engine,
        Some(durable),
        events,
        interrupts,
        handles,
        &mut progress,
    )
    .await;
    Ok(code.max(report_all(driven, durable, shown, colour).await?))
}

/// Resumes one run for `--all`: `None` when it is left alone (another process runs it, or FILE
/// does not define its workflow).
async fn start(
    engine: &Engine,
    summary: &RunSummary,
    loaded: &Loaded,
    durable: &Durable,
) -> Result<Option<RunHandle>, CliError> {
    let run = &summary.id;
    if let Holder::Process(pid) = durable.locks.holder(run) {
        eprintln!("run {run}: left alone, the `orch` process {pid} is running it");
        return Ok(None);
    }
    if loaded.program.workflow(&summary.workflow).is_none() {
        eprintln!(
            "run {run}: left alone, its workflow `{}` is not in `{}`",
            summary.workflow,
            durable.file.display()
        );
        return Ok(None);
    }
    let workflow = workflow_of(summary, loaded, durable)?;
    loaded.check_bindings(workflow)?;
    if let Err(holder) = durable.locks.acquire(run) {
        return Err(running_elsewhere(run, holder));
    }
    let handle = engine
        .resume(run)
        .await
        .map_err(|e| resume_error(e, Some(durable)))?;
    Ok(Some(handle))
}

/// Prints the results of `--all` as a JSON list, and a line for each run.
async fn report_all(
    driven: Vec<Driven>,
    durable: &Durable,
    shown: Shown,
    colour: Colour,
) -> Result<u8, CliError> {
    let results: Vec<_> = driven
        .iter()
        .filter_map(|d| d.outcome.as_ref().ok())
        .collect();
    let printed: Vec<_> = results.iter().map(|r| printed(r, shown.trail)).collect();
    print_json(&printed)?;
    let mut code = 0;
    for run in driven {
        let result = match run.outcome {
            Ok(result) => result,
            Err(error) => {
                let error = prefixed(resume_error(error, Some(durable)), &run.id);
                error.print(colour);
                code = code.max(error.code);
                continue;
            }
        };
        match ending(&result, Some(durable)).await {
            Ok(line) if result.status == orch_runtime::RunStatus::Paused => {
                eprintln!("{line}");
                code = code.max(CANCELLED);
            }
            Ok(line) => {
                if !shown.quiet {
                    eprintln!("run {}: {line}", run.id);
                }
            }
            Err(error) => {
                let error = prefixed(error, &run.id);
                error.print(colour);
                code = code.max(error.code);
            }
        }
    }
    Ok(code)
}

fn progress(args: &Args, runs: &[&str], durable: &Durable) -> Progress {
    Progress::new(args.quiet, runs).with_store(shell_word(&durable.path.display().to_string()))
}

/// `run run-…: resumed at `approval` after 1 step`.
fn resumed_line(summary: &RunSummary) -> String {
    format!(
        "run {}: resumed at `{}` after {}",
        summary.id,
        summary.state,
        steps(summary.steps)
    )
}

/// The workflow of a stored run, as FILE defines it.
fn workflow_of<'a>(
    summary: &RunSummary,
    loaded: &'a Loaded,
    durable: &Durable,
) -> Result<&'a orch_dsl::ir::Workflow, CliError> {
    loaded.program.workflow(&summary.workflow).ok_or_else(|| {
        CliError::new(format!(
            "run `{}` runs workflow `{}`, which `{}` does not define",
            summary.id,
            summary.workflow,
            durable.file.display()
        ))
    })
}

pub fn no_run(run: &str, durable: &Durable) -> CliError {
    CliError::new(format!(
        "no run `{run}` in the run store `{}`",
        durable.path.display()
    ))
}

pub fn running_elsewhere(run: &str, holder: Holder) -> CliError {
    let pid = match holder {
        Holder::Process(pid) => format!(" ({pid})"),
        Holder::Free => String::new(),
    };
    CliError::new(format!(
        "run `{run}` is running in another `orch` process{pid}; Ctrl-C there pauses it"
    ))
}

/// The error with the run it is about, unless it names it already.
fn prefixed(error: CliError, run: &str) -> CliError {
    if error.message.contains(run) {
        return error;
    }
    CliError {
        message: format!("run {run}: {}", error.message),
        code: error.code,
    }
}
