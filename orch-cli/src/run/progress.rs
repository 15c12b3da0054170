//! Live progress of a run on standard error, from the engine's events.
//!
//! ```text
//! running BuildWebsite (run-…-1)
//! [1] specs
//!     attempt 1 failed, retrying in 1.3s: the worker process exited with status 75 …
//!     ok -> code
//! [2] code
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use orch_runtime::Event;

/// Prints events of one run and of the child runs it starts.
pub struct Progress {
    quiet: bool,
    main: Arc<str>,
    /// Runs started and not finished, with how deep each is nested and its workflow.
    runs: HashMap<Arc<str>, (usize, Arc<str>)>,
}

impl Progress {
    pub fn new(quiet: bool, main: &str) -> Progress {
        Progress {
            quiet,
            main: Arc::from(main),
            runs: HashMap::new(),
        }
    }

    /// Shows `event`; true when it ends the main run.
    pub fn show(&mut self, event: &Event) -> bool {
        let ends_main = matches!(event, Event::RunFinished { run, .. } if *run == self.main);
        if let Some(line) = self.describe(event) {
            self.line(&line);
        }
        ends_main
    }

    /// A note of the command itself, such as a cancellation.
    pub fn note(&self, text: &str) {
        self.line(text);
    }

    pub fn missed(&self, count: u64) {
        self.line(&format!("({count} progress events missed)"));
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }

    fn describe(&mut self, event: &Event) -> Option<String> {
        let depth = |p: &Self, run: &str| p.runs.get(run).map_or(0, |(depth, _)| *depth);
        let (run, text, inner) = match event {
            Event::RunStarted { run, workflow } => {
                let depth = if **run == *self.main {
                    0
                } else {
                    self.runs.len().max(1)
                };
                self.runs.insert(run.clone(), (depth, workflow.clone()));
                (run, format!("running {workflow} ({run})"), false)
            }
            Event::RunFinished { run, status } => {
                let (depth, workflow) = self.runs.remove(run)?;
                if **run == *self.main {
                    return None;
                }
                let indent = "    ".repeat(depth);
                return Some(format!("{indent}{workflow} {}", status_word(*status)));
            }
            Event::StepStarted {
                run, step, state, ..
            } => (run, format!("[{step}] {state}"), false),
            Event::StepFinished {
                run, event, next, ..
            } => (run, format!("{event} -> {next}"), true),
            Event::Retrying {
                run,
                branch,
                item,
                attempt,
                delay_ms,
                error,
                ..
            } => {
                let place = match (branch, item) {
                    (Some(branch), _) => format!("branch {branch}: "),
                    (None, Some(item)) => format!("item {item}: "),
                    (None, None) => String::new(),
                };
                let text = format!(
                    "{place}attempt {attempt} failed, retrying in {}: {error}",
                    show_ms(*delay_ms)
                );
                (run, text, true)
            }
            Event::BranchSpawned { run, branch, .. } => {
                (run, format!("branch {branch} started"), true)
            }
            Event::BranchJoined {
                run, branch, ok, ..
            } => {
                let how = if *ok { "succeeded" } else { "failed" };
                (run, format!("branch {branch} {how}"), true)
            }
            Event::Waiting { run, signal, .. } => (
                run,
                format!("waiting for signal `{signal}` (Ctrl-C stops the run)"),
                true,
            ),
            // Events added to the engine later are not shown until this learns them.
            #[allow(unreachable_patterns)]
            _ => return None,
        };
        let indent = "    ".repeat(depth(self, run) + usize::from(inner));
        // Continuation lines of a long message line up under its first line.
        let text = text.replace('\n', &format!("\n{indent}    "));
        Some(format!("{indent}{text}"))
    }
}

fn status_word(status: orch_runtime::RunStatus) -> &'static str {
    use orch_runtime::RunStatus;
    match status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::TimedOut => "timed out",
        RunStatus::Cancelled => "cancelled",
        // Statuses the engine gains later.
        #[allow(unreachable_patterns)]
        _ => "stopped",
    }
}

/// `850ms`, `1.3s`, `2m5s`.
pub fn show_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => {
            let tenths = ms / 100;
            if tenths.is_multiple_of(10) {
                format!("{}s", tenths / 10)
            } else {
                format!("{}.{}s", tenths / 10, tenths % 10)
            }
        }
        _ => format!("{}m{}s", ms / 60_000, ms % 60_000 / 1_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(show_ms(850), "850ms");
        assert_eq!(show_ms(1_000), "1s");
        assert_eq!(show_ms(1_349), "1.3s");
        assert_eq!(show_ms(125_000), "2m5s");
    }

    #[test]
    fn child_runs_are_indented() {
        let mut progress = Progress::new(true, "main");
        let run = |r: &str| Arc::<str>::from(r);
        let started = |r: &str, w: &str| Event::RunStarted {
            run: run(r),
            workflow: Arc::from(w),
        };
        let step = |r: &str| Event::StepStarted {
            run: run(r),
            step: 1,
            state: Arc::from("s"),
        };
        assert_eq!(
            progress.describe(&started("main", "Parent")).unwrap(),
            "running Parent (main)"
        );
        assert_eq!(
            progress.describe(&started("child", "Child")).unwrap(),
            "    running Child (child)"
        );
        assert_eq!(progress.describe(&step("child")).unwrap(), "    [1] s");
        let retry = Event::Retrying {
            run: run("child"),
            step: 1,
            state: Arc::from("s"),
            branch: None,
            item: Some(2),
            attempt: 1,
            delay_ms: 1_500,
            error: "a\nb".into(),
        };
        assert_eq!(
            progress.describe(&retry).unwrap(),
            "        item 2: attempt 1 failed, retrying in 1.5s: a\n            b"
        );
        let finished = Event::RunFinished {
            run: run("child"),
            status: orch_runtime::RunStatus::Succeeded,
        };
        assert_eq!(progress.describe(&finished).unwrap(), "    Child succeeded");
        assert_eq!(progress.describe(&step("main")).unwrap(), "[1] s");
    }
}
