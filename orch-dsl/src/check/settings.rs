//! Durations, counts, retry schedules and timeouts that make sense.

use std::time::Duration;

use super::Scope;
use crate::ast::{self, DurationLit, IntLit, Item, JoinKind, Retry, StateKind};
use crate::diagnostic::{Code, Diagnostic};

pub(super) fn check(scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) {
    let workflow = scope.workflow;
    let run_timeout = workflow.run_timeout();
    for item in &workflow.items {
        match item {
            Item::Timeout(t) => positive(&t.duration, "a run's timeout", diags),
            Item::MaxSteps(m) => nonzero(&m.value, "`max_steps`", diags),
            _ => {}
        }
    }
    for state in &scope.states {
        if let Some(timeout) = state.kind.timeout() {
            positive(&timeout.duration, "a timeout", diags);
        }
        for t in state.kind.transitions() {
            if let Some(bound) = &t.target.bound {
                nonzero(&bound.max, "a bounded edge's `max`", diags);
            }
        }
        match &state.kind {
            StateKind::Task(task) => retry(
                task.retry.as_ref(),
                run_timeout.map(|t| (t, "the run's")),
                diags,
            ),
            StateKind::Map(map) => {
                retry(
                    map.retry.as_ref(),
                    run_timeout.map(|t| (t, "the run's")),
                    diags,
                );
                if let Some(limit) = &map.limit {
                    nonzero(limit, "a map's `limit`", diags);
                }
            }
            StateKind::Loop(lp) => {
                retry(
                    lp.retry.as_ref(),
                    run_timeout.map(|t| (t, "the run's")),
                    diags,
                );
                if let Some(max) = &lp.max {
                    nonzero(&max.count, "a loop's `max`", diags);
                }
            }
            StateKind::Parallel(parallel) => self::parallel(state, parallel, run_timeout, diags),
            StateKind::Choice(choice) => {
                let targets = choice
                    .arms
                    .iter()
                    .map(|a| &a.target)
                    .chain(choice.otherwise.as_ref().map(|o| &o.target));
                for bound in targets.filter_map(|t| t.bound.as_ref()) {
                    nonzero(&bound.max, "a bounded edge's `max`", diags);
                }
            }
            _ => {}
        }
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
        diags.push(
            Diagnostic::error(
                Code::TooFewBranches,
                state.name.span,
                format!(
                    "parallel `{}` has {} branch{}",
                    state.name,
                    count,
                    if count == 1 { "" } else { "es" }
                ),
            )
            .with_label("a parallel runs two or more branches")
            .with_help("use a `task` for a single worker call"),
        );
    }
    if let Some(ast::Join {
        kind: JoinKind::Count(n),
        span,
    }) = &parallel.join
        && (n.value == 0 || n.value as usize > count)
    {
        diags.push(
            Diagnostic::error(
                Code::JoinOutOfRange,
                *span,
                format!("`join {}` with {count} branches", n.value),
            )
            .with_label(format!("must be between 1 and {count}"))
            .with_help("use `join all` to wait for every branch, `join any` for the first"),
        );
    }
    let limit = parallel
        .timeout
        .as_ref()
        .map(|t| (&t.duration, "the parallel's"))
        .or(run_timeout.map(|t| (t, "the run's")));
    for branch in &parallel.branches {
        if let Some(timeout) = &branch.timeout {
            positive(&timeout.duration, "a timeout", diags);
        }
        retry(branch.retry.as_ref(), limit, diags);
    }
}

fn positive(duration: &DurationLit, what: &str, diags: &mut Vec<Diagnostic>) {
    if duration.value == Duration::ZERO {
        diags.push(
            Diagnostic::error(Code::ZeroDuration, duration.span, format!("{what} of zero"))
                .with_label("this duration is zero")
                .with_help("use a positive duration such as `30s`"),
        );
    }
}

fn nonzero(count: &IntLit, what: &str, diags: &mut Vec<Diagnostic>) {
    if count.value == 0 {
        diags.push(
            Diagnostic::error(Code::ZeroCount, count.span, format!("{what} of zero"))
                .with_label("must be at least 1")
                .with_help("use a count of 1 or more"),
        );
    }
}

/// The backoff itself, and its total delay against the time the enclosing run or state allows.
fn retry(retry: Option<&Retry>, limit: Option<(&DurationLit, &str)>, diags: &mut Vec<Diagnostic>) {
    let Some(retry) = retry else { return };
    let Some(backoff) = &retry.backoff else {
        return;
    };
    positive(&backoff.initial, "a backoff delay", diags);
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
    let Some((limit, whose)) = limit else { return };
    let policy = super::lower_ir::retry_policy(retry);
    let window = Duration::from_millis(policy.window_ms());
    if limit.value > Duration::ZERO && window >= limit.value {
        diags.push(
            Diagnostic::error(
                Code::RetryExceedsTimeout,
                retry.span,
                format!(
                    "retry delays add up to {}, but {whose} timeout is {}",
                    show(window),
                    limit.text
                ),
            )
            .with_label("these retries cannot all happen in time")
            .with_secondary(limit.span, "the time allowed")
            .with_help("use fewer retries, a smaller backoff or cap, or a longer timeout"),
        );
    }
}

fn show(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
