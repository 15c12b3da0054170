//! `orch signal RUN NAME [PAYLOAD] --store runs.db`: keep a signal for a stored run; the run
//! gets it when it waits for it, whether it is running now or resumed later.

use std::path::PathBuf;

use orch_runtime::store::Lifecycle;
use orch_runtime::{Engine, SignalError};
use serde_json::Value;

use crate::diagnostics::Colour;
use crate::durable::{Holder, Locks, resume_command, shell_word};
use crate::error::CliError;
use crate::files::Source;
use crate::run::block_on;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run.
    run: String,
    /// The signal, as the workflow declares it.
    name: String,
    /// The payload: JSON when it parses (`'{"by": "ada"}'`, `3`), else text (default: `null`).
    /// The `wait` state's output.
    payload: Option<String>,
    /// The run store.
    #[arg(long, value_name = "PATH")]
    store: PathBuf,
    /// Deliver the signal with this outcome: the `wait` takes `on LABEL ->` (default: `ok`).
    #[arg(long, value_name = "LABEL", conflicts_with = "reject")]
    outcome: Option<String>,
    /// Reject instead: the `wait` takes its `fail ->` path, with REASON as its error.
    #[arg(long, value_name = "REASON", conflicts_with = "payload")]
    reject: Option<String>,
    /// The run's workflow file: the signal and its outcome are checked against it before
    /// they are stored (without it they are stored as they are).
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

pub fn run(args: &Args, colour: Colour) -> Result<u8, CliError> {
    let program = match &args.file {
        Some(file) => Some(crate::run::compile(&Source::read(file)?, colour)?),
        None => None,
    };
    let payload = args.payload.as_deref().map_or(Value::Null, parse_payload);
    block_on(async {
        let store = crate::durable::open(&args.store, false)?;
        let shown_store = args.store.display();
        let stored = store
            .load(&args.run)
            .await
            .map_err(|e| CliError::new(e.to_string()))?
            .ok_or_else(|| {
                CliError::new(format!(
                    "no run `{}` in the run store `{shown_store}`",
                    args.run
                ))
            })?;
        let summary = stored.summary;
        if summary.status.is_finished() {
            return Err(finished(&args.run, summary.status, args));
        }
        let engine = Engine::with_options(crate::durable::options(None)).with_store(store);
        if let (Some(program), Some(file)) = (&program, &args.file) {
            if program.workflow(&summary.workflow).is_none() {
                return Err(CliError::new(format!(
                    "run `{}` runs workflow `{}`, which `{}` does not define",
                    args.run,
                    summary.workflow,
                    file.display()
                )));
            }
            engine.register(program);
        }
        let (run, name) = (args.run.as_str(), args.name.as_str());
        let sent = match (&args.reject, &args.outcome) {
            (Some(reason), _) => engine.reject(run, name, reason).await,
            (None, Some(outcome)) => engine.signal_outcome(run, name, outcome, payload).await,
            (None, None) => engine.signal(run, name, payload).await,
        };
        sent.map_err(|error| match error {
            SignalError::Finished => finished(run, summary.status, args),
            SignalError::UnknownRun(_) => {
                CliError::new(format!("no run `{run}` in the run store `{shown_store}`"))
            }
            other => CliError::new(other.to_string()),
        })?;
        let holder = Locks::peek(&args.store).holder(run);
        let resume = resume_command(run, args.file.as_deref(), &args.store, None);
        let when = match (summary.status, holder) {
            (Lifecycle::Running, Holder::Process(pid)) => format!(
                "the `orch` process running it ({pid}) delivers it when the run waits for it"
            ),
            (Lifecycle::Paused, _) => {
                format!("the run is paused; it gets the signal when resumed: `{resume}`")
            }
            _ => format!(
                "no process is running the run; it gets the signal when resumed: `{resume}` \
                 (or `orch resume --all FILE --store {}`)",
                shell_word(&args.store.display().to_string())
            ),
        };
        eprintln!("signal `{name}` stored for run {run}; {when}");
        Ok(0)
    })
}

fn finished(run: &str, status: Lifecycle, args: &Args) -> CliError {
    CliError::new(format!(
        "run `{run}` has finished ({status}) and takes no more signals; `orch runs show {run} \
         --store {}` shows its result",
        shell_word(&args.store.display().to_string())
    ))
}

/// A payload given on the command line: JSON when it parses, else the text.
fn parse_payload(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_are_json_or_text() {
        assert_eq!(parse_payload(r#"{"by": "ada"}"#), json!({"by": "ada"}));
        assert_eq!(parse_payload("3"), json!(3));
        assert_eq!(parse_payload("looks good"), json!("looks good"));
        assert_eq!(parse_payload("\"quoted\""), json!("quoted"));
        assert_eq!(parse_payload(""), json!(""));
    }
}
