//! Durations, counts, retry schedules and timeouts that make sense.

use std::fmt;
use std::time::Duration;

use super::Scope;
use crate::ast::{self, DurationLit, IntLit, Item, JoinKind, Retry, StateKind, Target};
use crate::diagnostic::{Code, Diagnostic};

/// The workflow's own settings; [`check_state`] checks each state's.
pub(super) fn check(scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) {
    for item in &scope.settings {
        match item {
            Item::Timeout(t) => positive(
                &t.duration,
                || "the run's timeout is zero".into(),
                "every run would time out at once",
                diags,
            ),
            Item::MaxSteps(m) => nonzero(
                &m.value,
                || "`max_steps 0` allows no step".into(),
                "every run would be stopped at once",
                || "use a limit above the worst case, or leave `max_steps` out".into(),
                diags,
            ),
            _ => {}
        }
    }
}

/// The settings of one state; `run_limit` is the run's timeout, if it has one.
pub(super) fn check_state(
    state: &ast::State,
    run_limit: Option<&(&DurationLit, Limited<'_>)>,
    diags: &mut Vec<Diagnostic>,
) {
    let run_timeout = run_limit.map(|(t, _)| *t);
    let keyword = state.kind.keyword();
    if let Some(timeout) = state.kind.timeout() {
        let label = match &state.kind {
            StateKind::Parallel(_) | StateKind::Wait(_) | StateKind::Call(_) => {
                "the state would time out at once"
            }
            _ => "every attempt would time out at once",
        };
        positive(
            &timeout.duration,
            || format!("{keyword} `{}` has a timeout of zero", state.name),
            label,
            diags,
        );
    }
    for t in state.kind.transitions() {
        bounded_edge(&t.target, diags);
    }
    match &state.kind {
        StateKind::Task(task) => retry(task.retry.as_deref(), run_limit, diags),
        StateKind::Map(map) => {
            retry(map.retry.as_deref(), run_limit, diags);
            if let Some(limit) = &map.limit {
                nonzero(
                    limit,
                    || format!("map `{}` has `limit 0`", state.name),
                    "no element could ever run",
                    || {
                        "use `limit 1` or more, or leave `limit` out to run every element at once"
                            .into()
                    },
                    diags,
                );
            }
        }
        StateKind::Loop(lp) => {
            retry(lp.retry.as_deref(), run_limit, diags);
            if let Some(max) = &lp.max {
                nonzero(
                    &max.count,
                    || format!("loop `{}` has `max 0`", state.name),
                    "the loop could never run an iteration",
                    || "use `max 1` or more".into(),
                    diags,
                );
            }
        }
        StateKind::Parallel(parallel) => self::parallel(state, parallel, run_timeout, diags),
        StateKind::Choice(choice) => {
            let targets = choice
                .arms
                .iter()
                .map(|a| &a.target)
                .chain(choice.otherwise.as_ref().map(|o| &o.target));
            for target in targets {
                bounded_edge(target, diags);
            }
        }
        _ => {}
    }
}

/// `-> x max 0 else y` could never be taken.
fn bounded_edge(target: &Target, diags: &mut Vec<Diagnostic>) {
    if let Some(bound) = &target.bound {
        nonzero(
            &bound.max,
            || format!("the edge to `{}` has `max 0`", target.state),
            "this edge could never be taken",
            || {
                format!(
                    "use `max 1` or more, or write `-> {}` to go to `{}` every time",
                    bound.otherwise, bound.otherwise
                )
            },
            diags,
        );
    }
}

fn parallel(
    state: &ast::State,
    parallel: &ast::Parallel,
    run_timeout: Option<&DurationLit>,
    diags: &mut Vec<Diagnostic>,
) {
    let count = parallel.branches.len();
    if count < 2 {
        let has = if count == 1 {
            "only one branch"
        } else {
            "no branches"
        };
        diags.push(
            Diagnostic::error(
                Code::TooFewBranches,
                state.name.span,
                format!("parallel `{}` has {has}", state.name),
            )
            .with_label("a parallel runs two or more branches")
            .with_help("use a `task` for a single worker call"),
        );
    }
    if let Some(ast::Join {
        kind: JoinKind::Count(n),
        ..
    }) = &parallel.join
    {
        if n.value == 0 {
            diags.push(
                Diagnostic::error(
                    Code::JoinOutOfRange,
                    n.span,
                    "`join 0` would not wait for any branch",
                )
                .with_label("must be at least 1")
                .with_help(
                    "use `join any` to wait for the first success, `join all` for every branch",
                ),
            );
        } else if n.value as usize > count {
            let branches = if count == 1 { "branch" } else { "branches" };
            diags.push(
                Diagnostic::error(
                    Code::JoinOutOfRange,
                    n.span,
                    format!(
                        "`join {}` waits for more branches than parallel `{}` has",
                        n.value, state.name
                    ),
                )
                .with_label(format!("`{}` has {count} {branches}", state.name))
                .with_help(if count == 2 {
                    "use `join all` to wait for both branches".to_string()
                } else {
                    format!("use `join all` to wait for all {count} {branches}")
                }),
            );
        }
    }
    let limit = parallel
        .timeout
        .as_ref()
        .map(|t| (&t.duration, Limited::Parallel(&state.name.name)))
        .or(run_timeout.map(|t| (t, Limited::Run)));
    for branch in &parallel.branches {
        if let Some(timeout) = &branch.timeout {
            positive(
                &timeout.duration,
                || format!("branch `{}` has a timeout of zero", branch.name),
                "every attempt would time out at once",
                diags,
            );
        }
        retry(branch.retry.as_deref(), limit.as_ref(), diags);
    }
}

// The messages are closures, built only for an error: these checks run on every state.
fn positive(
    duration: &DurationLit,
    message: impl FnOnce() -> String,
    label: &str,
    diags: &mut Vec<Diagnostic>,
) {
    if duration.value == Duration::ZERO {
        diags.push(
            Diagnostic::error(Code::ZeroDuration, duration.span, message())
                .with_label(label)
                .with_help("use a positive duration such as `30s`, or leave the timeout out"),
        );
    }
}

fn nonzero(
    count: &IntLit,
    message: impl FnOnce() -> String,
    label: &str,
    help: impl FnOnce() -> String,
    diags: &mut Vec<Diagnostic>,
) {
    if count.value == 0 {
        diags.push(
            Diagnostic::error(Code::ZeroCount, count.span, message())
                .with_label(label)
                .with_help(help()),
        );
    }
}

/// The backoff itself, and its total delay against the time the enclosing run or state allows.
fn retry(
    retry: Option<&Retry>,
    limit: Option<&(&DurationLit, Limited<'_>)>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(retry) = retry else { return };
    let Some(backoff) = &retry.backoff else {
        return;
    };
    if backoff.initial.value == Duration::ZERO {
        diags.push(
            Diagnostic::error(
                Code::ZeroDuration,
                backoff.initial.span,
                "the backoff delay is zero",
            )
            .with_label("this duration is zero")
            .with_help(
                "leave `backoff` out to retry at once, or use a positive delay such as `1s`",
            ),
        );
    }
    if let Some(multiplier) = &backoff.multiplier
        && multiplier.value < 1.0
    {
        diags.push(
            Diagnostic::error(
                Code::MultiplierBelowOne,
                multiplier.span,
                format!("backoff multiplier `{}` is below one", multiplier.text),
            )
            .with_label("delays would shrink")
            .with_help("use `x1` for constant delays or a larger factor such as `x2`"),
        );
    }
    if let Some(max) = &backoff.max
        && max.value < backoff.initial.value
    {
        diags.push(
            Diagnostic::error(
                Code::BackoffCapBelowDelay,
                max.span,
                format!(
                    "backoff cap `{}` is below the first delay `{}`",
                    max.text, backoff.initial.text
                ),
            )
            .with_label("every delay would be cut to this")
            .with_secondary(backoff.initial.span, "first delay")
            .with_help("raise the cap, or lower the first delay"),
        );
    }
    let Some((limit, times_out)) = limit else {
        return;
    };
    let policy = super::lower_ir::retry_policy(retry);
    let window = Duration::from_millis(policy.window_ms());
    if limit.value > Duration::ZERO && window >= limit.value {
        let mut d = Diagnostic::error(
            Code::RetryExceedsTimeout,
            retry.span,
            format!(
                "retry delays add up to {}, but {times_out} after {}",
                show(window),
                limit.text
            ),
        )
        .with_label("these retries cannot all happen in time")
        .with_secondary(limit.span, "the time allowed");
        if (2..=6).contains(&policy.retries) {
            let delays: Vec<String> = (1..=policy.retries)
                .map(|k| show(Duration::from_millis(policy.delay_ms(k))))
                .collect();
            d = d.with_note(format!(
                "the retries wait {}, not counting the attempts themselves",
                join_and(&delays)
            ));
        }
        diags.push(d.with_help("use fewer retries, a smaller backoff or cap, or a longer timeout"));
    }
}

/// What runs out of time at a limit a retry schedule is checked against, for its message.
pub(super) enum Limited<'a> {
    /// The workflow's `timeout`.
    Run,
    /// A parallel state's `timeout`, which bounds its branches' retries.
    Parallel(&'a str),
}

impl fmt::Display for Limited<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limited::Run => f.write_str("the run times out"),
            Limited::Parallel(name) => write!(f, "parallel `{name}` times out"),
        }
    }
}

fn join_and(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((only, [])) => only.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// A duration as it would be written: `90s` → `1m30s`, `1500ms` → `1s500ms`.
fn show(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    out
}
