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

/// Prints events of the runs this command drives and of the child runs they start.
pub struct Progress {
    quiet: bool,
    /// The runs this command started or resumed.
    mains: Vec<Arc<str>>,
    /// Lines start with their run's id, as several runs go on at once.
    prefixed: bool,
    /// Runs started and not finished, with how deep each is nested and its workflow.
    runs: HashMap<Arc<str>, (usize, Arc<str>)>,
    /// The run store as written on the command line, when the runs are kept in one.
    store: Option<String>,
    /// What was shown of each main run, so that a run paused and resumed in this process does
    /// not show its start, its step and its wait again.
    shown: HashMap<Arc<str>, Shown>,
}

#[derive(Default)]
struct Shown {
    started: bool,
    step: u64,
    resumed: bool,
}

impl Progress {
    pub fn new(quiet: bool, mains: &[&str]) -> Progress {
        Progress {
            quiet,
            mains: mains.iter().map(|m| Arc::from(*m)).collect(),
            prefixed: mains.len() > 1,
            runs: HashMap::new(),
            store: None,
            shown: HashMap::new(),
        }
    }

    /// The runs are kept in `store` (as written on the command line): waits say how to send
    /// their signal, and that Ctrl-C pauses.
    pub fn with_store(mut self, store: String) -> Progress {
        self.store = Some(store);
        self
    }

    /// Shows `event`.
    pub fn show(&mut self, event: &Event) {
        if let Some(line) = self.describe(event) {
            self.line(&line);
        }
    }

    /// A main run was paused and resumed in this process: what it repeats is not shown again.
    pub fn resumed(&mut self, run: &str) {
        if let Some(shown) = self.shown.get_mut(run) {
            shown.resumed = true;
        }
    }

    /// A signal for a waiting run arrived in the store.
    pub fn arrived(&self, run: &str, signal: &str) {
        let depth = self.runs.get(run).map_or(0, |(depth, _)| *depth);
        let indent = "    ".repeat(depth + 1);
        self.line(&self.prefix(run, &format!("{indent}signal `{signal}` arrived")));
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

    fn prefix(&self, run: &str, text: &str) -> String {
        if self.prefixed {
            format!("{run}: {text}")
        } else {
            text.to_string()
        }
    }

    fn is_main(&self, run: &str) -> bool {
        self.mains.iter().any(|m| **m == *run)
    }

    /// The main run a run belongs to: itself, or the only main run (child runs share their
    /// parent's signals).
    fn main_of<'a>(&'a self, run: &'a str) -> Option<&'a str> {
        match &self.mains[..] {
            _ if self.is_main(run) => Some(run),
            [only] => Some(only),
            _ => None,
        }
    }

    /// Whether a main run's step `step` was shown before it was paused and resumed here.
    fn repeated(&mut self, run: &str, step: u64) -> bool {
        let Some(shown) = self.shown.get_mut(run) else {
            return false;
        };
        if shown.resumed && step <= shown.step {
            return true;
        }
        shown.resumed = false;
        shown.step = step;
        false
    }

    fn waiting(&self, run: &str, signal: &str) -> String {
        match &self.store {
            None => format!("waiting for signal `{signal}` (Ctrl-C stops the run)"),
            Some(store) => format!(
                "waiting for signal `{signal}` (`orch signal {} {signal} --store {store}` sends \
                 it; Ctrl-C pauses the run)",
                self.main_of(run).unwrap_or("RUN")
            ),
        }
    }

    fn describe(&mut self, event: &Event) -> Option<String> {
        let depth = |p: &Self, run: &str| p.runs.get(run).map_or(0, |(depth, _)| *depth);
        let (run, text, inner) = match event {
            Event::RunStarted { run, workflow } => {
                let main = self.is_main(run);
                let depth = if main {
                    0
                } else if self.prefixed {
                    1
                } else {
                    self.runs.len().max(1)
                };
                self.runs.insert(run.clone(), (depth, workflow.clone()));
                if main {
                    let shown = self.shown.entry(run.clone()).or_default();
                    if std::mem::replace(&mut shown.started, true) {
                        return None;
                    }
                }
                (run, format!("running {workflow} ({run})"), false)
            }
            Event::RunFinished { run, status } => {
                let (depth, workflow) = self.runs.remove(run)?;
                if self.is_main(run) {
                    return None;
                }
                let indent = "    ".repeat(depth);
                return Some(
                    self.prefix(run, &format!("{indent}{workflow} {}", status_word(*status))),
                );
            }
            Event::StepStarted {
                run, step, state, ..
            } => {
                if self.repeated(run, *step) {
                    return None;
                }
                (run, format!("[{step}] {state}"), false)
            }
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
            Event::Waiting {
                run, step, signal, ..
            } => {
                if self
                    .shown
                    .get(&**run)
                    .is_some_and(|s| s.resumed && *step <= s.step)
                {
                    return None;
                }
                (run, self.waiting(run, signal), true)
            }
            // Events added to the engine later are not shown until this learns them.
            #[allow(unreachable_patterns)]
            _ => return None,
        };
        let indent = "    ".repeat(depth(self, run) + usize::from(inner));
        // Continuation lines of a long message line up under its first line.
        let text = text.replace('\n', &format!("\n{indent}    "));
        Some(self.prefix(run, &format!("{indent}{text}")))
    }
}

fn status_word(status: orch_runtime::RunStatus) -> &'static str {
    use orch_runtime::RunStatus;
    match status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::TimedOut => "timed out",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Paused => "paused",
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
        let mut progress = Progress::new(true, &["main"]);
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
    fn started(run: &str) -> Event {
        Event::RunStarted {
            run: Arc::from(run),
            workflow: Arc::from("W"),
        }
    }

    fn step(run: &str, step: u64, state: &str) -> Event {
        Event::StepStarted {
            run: Arc::from(run),
            step,
            state: Arc::from(state),
        }
    }

    fn waiting(run: &str, step: u64) -> Event {
        Event::Waiting {
            run: Arc::from(run),
            step,
            state: Arc::from("approval"),
            signal: Arc::from("Approval"),
        }
    }

    #[test]
    fn a_run_resumed_in_place_does_not_show_its_start_step_and_wait_again() {
        let mut progress = Progress::new(true, &["main"]).with_store("runs.db".into());
        assert_eq!(
            progress.describe(&started("main")).unwrap(),
            "running W (main)"
        );
        assert_eq!(
            progress.describe(&step("main", 2, "approval")).unwrap(),
            "[2] approval"
        );
        assert_eq!(
            progress.describe(&waiting("main", 2)).unwrap(),
            "    waiting for signal `Approval` (`orch signal main Approval --store runs.db` sends \
             it; Ctrl-C pauses the run)"
        );
        progress.resumed("main");
        assert_eq!(progress.describe(&started("main")), None);
        assert_eq!(progress.describe(&step("main", 2, "approval")), None);
        assert_eq!(progress.describe(&waiting("main", 2)), None);
        let finished = Event::StepFinished {
            run: Arc::from("main"),
            step: 2,
            state: Arc::from("approval"),
            event: "ok".into(),
            next: Arc::from("publish"),
        };
        assert_eq!(progress.describe(&finished).unwrap(), "    ok -> publish");
        assert_eq!(
            progress.describe(&step("main", 3, "publish")).unwrap(),
            "[3] publish"
        );
    }

    #[test]
    fn lines_of_several_runs_start_with_their_ids() {
        let mut progress = Progress::new(true, &["a", "b"]);
        assert_eq!(
            progress.describe(&started("a")).unwrap(),
            "a: running W (a)"
        );
        assert_eq!(
            progress.describe(&started("b")).unwrap(),
            "b: running W (b)"
        );
        assert_eq!(progress.describe(&step("b", 1, "s")).unwrap(), "b: [1] s");
        assert_eq!(
            progress.describe(&started("child")).unwrap(),
            "child:     running W (child)"
        );
        assert_eq!(
            progress.describe(&waiting("child", 1)).unwrap(),
            "child:         waiting for signal `Approval` (Ctrl-C stops the run)"
        );
    }
}
