//! Diagrams of a checked workflow: DOT for Graphviz ([`generate_dot`]) and Mermaid flowcharts
//! ([`generate_mermaid`]).
//!
//! Both draw the same picture from the [IR](crate::ir), so they agree on what a workflow looks
//! like:
//!
//! - an entry marker points at the `start` state;
//! - each kind of state has its own shape: a task is a box showing its worker (`by Coder`), a
//!   choice a diamond, a map a stacked box showing what it fans out over, a loop a rounded box
//!   with an edge back to itself (`until …`, `max N`), a wait a hexagon showing its signal, a
//!   call a double box showing the workflow it runs; `succeed` and `fail` states are green and
//!   red terminals;
//! - a parallel state is a group holding a fork bar, one node per branch and a join bar that
//!   says how many branches must succeed (`all`, `any`, `2 of 3`); its edges leave from the join
//!   bar;
//! - edges carry the event that takes them (`ok`, an outcome, `timeout`, `fail`,
//!   `when <condition>`, `else`); failure and timeout edges are dashed and red;
//! - a bounded edge `x max 3 else y` is drawn twice: to `x` as `event (max 3)`, and dashed to
//!   `y` as `event (after 3)`; a loop that runs out of rounds leaves along a dashed
//!   `max N reached` edge;
//! - several edges between the same two states with the same style are drawn as one, their
//!   labels joined with `, `.
//!
//! The output depends only on the IR: the same workflow always gives the same bytes.

mod dot;
mod mermaid;

use std::borrow::Cow;
use std::fmt::Write as _;

use compact_str::{CompactString, format_compact};

use crate::ir::{
    Branch, CompareOp, Cond, Edge, EdgeEvent, Join, Operand, RetryPolicy, StateId, StateKind,
    Workflow,
};

pub use dot::generate_dot;
pub use mermaid::generate_mermaid;

/// Renders a condition as it could be written in a `when` or `until`, with only the parentheses
/// its structure needs.
///
/// Paths appear as written (`classify.output`), literals as JSON (`"COMPLEX"`, `0.8`, `null`).
///
/// ```
/// let source = r#"
///     workflow Route {
///         worker Classifier;
///         start classify;
///         task classify by Classifier { ok -> route; fail -> failed; }
///         choice route {
///             when classify.output == "COMPLEX" && !exists classify.output.hint -> done;
///             when (classify.output.score < 0.5 || classify.output.retry) && true -> failed;
///             else -> done;
///         }
///         succeed done;
///         fail failed;
///     }
/// "#;
/// let compiled = orch_dsl::compile(source).unwrap();
/// let workflow = &compiled.program.workflows[0];
/// let orch_dsl::ir::StateKind::Choice { arms, .. } = &workflow.states[1].kind else {
///     panic!("`route` is a choice");
/// };
/// assert_eq!(
///     orch_dsl::emit::render_condition(&arms[0].0),
///     r#"classify.output == "COMPLEX" && !exists classify.output.hint"#,
/// );
/// assert_eq!(
///     orch_dsl::emit::render_condition(&arms[1].0),
///     "(classify.output.score < 0.5 || classify.output.retry) && true",
/// );
/// ```
pub fn render_condition(cond: &Cond) -> String {
    let mut out = String::new();
    write_condition(&mut out, cond);
    out
}

/// How tightly a condition binds: `||` 1, `&&` 2, comparisons 3, `!` 4, atoms 5.
fn precedence(cond: &Cond) -> u8 {
    match cond {
        Cond::Or { .. } => 1,
        Cond::And { .. } => 2,
        Cond::Compare { .. } => 3,
        Cond::Not { .. } => 4,
        Cond::Exists { .. } => 5,
        Cond::Truthy { operand } => operand_precedence(operand),
    }
}

fn operand_precedence(operand: &Operand) -> u8 {
    match operand {
        Operand::Cond { cond } => precedence(cond),
        Operand::Path { .. } | Operand::Literal { .. } => 5,
    }
}

/// Writes `cond`, in parentheses when it binds looser than `min`.
fn write_nested(out: &mut String, cond: &Cond, min: u8) {
    if precedence(cond) < min {
        out.push('(');
        write_condition(out, cond);
        out.push(')');
    } else {
        write_condition(out, cond);
    }
}

fn write_condition(out: &mut String, cond: &Cond) {
    match cond {
        // Both operators group to the left, so a right operand of the same kind keeps its
        // parentheses.
        Cond::Or { lhs, rhs } => {
            write_nested(out, lhs, 1);
            out.push_str(" || ");
            write_nested(out, rhs, 2);
        }
        Cond::And { lhs, rhs } => {
            write_nested(out, lhs, 2);
            out.push_str(" && ");
            write_nested(out, rhs, 3);
        }
        Cond::Compare { op, lhs, rhs } => {
            write_operand(out, lhs);
            out.push(' ');
            out.push_str(compare_op(*op));
            out.push(' ');
            write_operand(out, rhs);
        }
        Cond::Not { cond } => {
            out.push('!');
            write_nested(out, cond, 4);
        }
        Cond::Exists { path } => {
            out.push_str("exists ");
            out.push_str(&path.text);
        }
        Cond::Truthy { operand } => write_operand(out, operand),
    }
}

/// Writes an operand of a comparison, which must be a path, a literal or a unary condition.
fn write_operand(out: &mut String, operand: &Operand) {
    match operand {
        Operand::Path { path } => out.push_str(&path.text),
        Operand::Literal { value } => {
            let _ = write!(out, "{value}");
        }
        Operand::Cond { cond } => write_nested(out, cond, 4),
    }
}

fn compare_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "==",
        CompareOp::Ne => "!=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Contains => "contains",
    }
}

/// Text made of lines: writes the separator between them, as [`join`](slice::join) would.
struct Lines<'a> {
    out: &'a mut String,
    separator: &'static str,
    started: bool,
}

impl<'a> Lines<'a> {
    /// Lines written at the end of `out`, separated by `separator`.
    fn new(out: &'a mut String, separator: &'static str) -> Self {
        Lines {
            out,
            separator,
            started: false,
        }
    }

    /// Starts a line, after a separator unless it is the first, and returns the output to write
    /// its text to.
    fn line(&mut self) -> &mut String {
        if self.started {
            self.out.push_str(self.separator);
        }
        self.started = true;
        self.out
    }
}

/// Appends `text` to `out` with each character that `escape` replaces written as its
/// replacement; runs of the other characters are copied whole.
fn write_escaped_with(out: &mut String, text: &str, escape: impl Fn(char) -> Option<&'static str>) {
    let mut plain = 0;
    for (at, c) in text.char_indices() {
        if let Some(escaped) = escape(c) {
            out.push_str(&text[plain..at]);
            out.push_str(escaped);
            plain = at + c.len_utf8();
        }
    }
    out.push_str(&text[plain..]);
}

/// Writes milliseconds as an orch duration: `1h30m`, `45s`, `1s500ms`, `0s`.
fn write_duration(out: &mut String, ms: u64) {
    const UNITS: [(u64, &str); 5] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    if ms == 0 {
        out.push_str("0s");
        return;
    }
    let mut rest = ms;
    for (size, unit) in UNITS {
        if rest >= size {
            let _ = write!(out, "{}{unit}", rest / size);
            rest %= size;
        }
    }
}

/// Writes a retry policy as it is written: `retry 2 backoff 1s x2 max 30s jitter`.
fn write_retry(out: &mut String, retry: &RetryPolicy) {
    let _ = write!(out, "retry {}", retry.retries);
    if retry.initial_ms > 0 {
        out.push_str(" backoff ");
        write_duration(out, retry.initial_ms);
        if retry.multiplier != 1.0 {
            let _ = write!(out, " x{}", retry.multiplier);
        }
        if let Some(max) = retry.max_ms {
            out.push_str(" max ");
            write_duration(out, max);
        }
        if retry.jitter {
            out.push_str(" jitter");
        }
    }
}

/// Writes the text of a join bar: `all`, `any`, `2 of 3`.
fn write_join(out: &mut String, join: Join, branches: usize) {
    match join {
        Join::All => out.push_str("all"),
        Join::Any => out.push_str("any"),
        Join::Count(n) => {
            let _ = write!(out, "{n} of {branches}");
        }
    }
}

/// Writes the diagram's title: the workflow's name, then its bounds, on two lines separated by
/// `separator`.
fn write_title(out: &mut String, workflow: &Workflow, separator: &'static str) {
    let mut lines = Lines::new(out, separator);
    lines.line().push_str(&workflow.name);
    let out = lines.line();
    let _ = write!(out, "worst case {} steps", workflow.worst_case_steps);
    if let Some(max) = workflow.max_steps {
        let _ = write!(out, ", max_steps {max}");
    }
    if let Some(timeout) = workflow.timeout_ms {
        out.push_str(", timeout ");
        write_duration(out, timeout);
    }
}

/// Appends `text`, a condition, to `out` broken into lines of about 40 characters before its
/// `||` and `&&`, so that edge labels stay narrow. Joining the lines with spaces gives the text
/// back.
fn push_wrapped(out: &mut CompactString, text: &str) {
    const WIDTH: usize = 40;
    // The text is cut into pieces before each operator; a piece joins the current line after a
    // space when the line stays within `WIDTH`, and starts a new line otherwise.
    let mut line_len = None;
    let mut push_piece = |piece: &str| {
        line_len = Some(match line_len {
            None => piece.len(),
            Some(len) if len + 1 + piece.len() <= WIDTH => {
                out.push(' ');
                len + 1 + piece.len()
            }
            Some(_) => {
                out.push('\n');
                piece.len()
            }
        });
        out.push_str(piece);
    };
    let mut rest = text;
    while let Some(at) = [" || ", " && "].iter().filter_map(|op| rest.find(op)).min() {
        push_piece(&rest[..at]);
        rest = &rest[at + 1..];
    }
    push_piece(rest);
}

/// How an edge is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EdgeStyle {
    /// The state completed or a choice routed the run.
    Normal,
    /// The state failed or timed out.
    Failure,
    /// A bound ran out: the `else` half of `max N else x`, or a loop out of rounds.
    Fallback,
}

/// One arrow of a diagram between two states, after bounded edges were split in two and
/// parallel arrows merged.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DiagramEdge {
    from: StateId,
    to: StateId,
    /// Lines separated by `\n`. Most labels are short (`ok`, `fail`, an outcome) and fit in a
    /// `CompactString` without allocating.
    label: CompactString,
    style: EdgeStyle,
}

/// Every arrow between states, in state order and then in the order of [`StateKind::edges`],
/// with a loop's edge back to itself first.
fn diagram_edges(workflow: &Workflow) -> Vec<DiagramEdge> {
    let mut edges = Vec::new();
    // Holds a condition while it is wrapped into a label.
    let mut condition = String::new();
    for (from, state) in workflow.states.iter().enumerate() {
        // The edges of one state are contiguous: only they can merge, so searching them alone
        // keeps this linear in the size of the workflow.
        let group = edges.len();
        if let StateKind::Loop(lp) = &state.kind {
            let mut label = CompactString::default();
            if let Some(until) = &lp.until {
                condition.clear();
                condition.push_str("until ");
                write_condition(&mut condition, until);
                // The wrapped condition is as long as the condition, and `max N` follows.
                label.reserve(condition.len() + 16);
                push_wrapped(&mut label, &condition);
                label.push('\n');
            }
            let _ = write!(label, "max {}", lp.max);
            let edge = DiagramEdge {
                from,
                to: from,
                label,
                style: EdgeStyle::Normal,
            };
            push_merged(&mut edges, group, edge);
        }
        for (event, edge) in state.kind.edges() {
            let style = match event {
                EdgeEvent::Exhausted => EdgeStyle::Fallback,
                _ if event.is_failure() => EdgeStyle::Failure,
                _ => EdgeStyle::Normal,
            };
            let label = event_label(&state.kind, event, &mut condition);
            push_split_edge(&mut edges, group, from, edge, label, style);
        }
    }
    edges
}

/// The label of an edge taken on `event`; `condition` is a buffer for a choice's condition.
fn event_label(kind: &StateKind, event: EdgeEvent, condition: &mut String) -> CompactString {
    match (kind, event) {
        (StateKind::Choice { arms, .. }, EdgeEvent::When(i)) if i < arms.len() => {
            condition.clear();
            condition.push_str("when ");
            write_condition(condition, &arms[i].0);
            let mut label = CompactString::with_capacity(condition.len());
            push_wrapped(&mut label, condition);
            label
        }
        (StateKind::Loop(lp), EdgeEvent::Exhausted) => format_compact!("max {} reached", lp.max),
        (_, EdgeEvent::Outcome(outcome)) => outcome,
        (_, event) => match event.label() {
            Cow::Borrowed(label) => CompactString::const_new(label),
            Cow::Owned(label) => CompactString::from(label),
        },
    }
}

/// Adds `edge`, or both halves of it when it is bounded, to the edges of its state, which
/// start at `group`.
fn push_split_edge(
    edges: &mut Vec<DiagramEdge>,
    group: usize,
    from: StateId,
    edge: &Edge,
    label: CompactString,
    style: EdgeStyle,
) {
    let Some(bound) = &edge.bound else {
        let edge = DiagramEdge {
            from,
            to: edge.to,
            label,
            style,
        };
        push_merged(edges, group, edge);
        return;
    };
    let within = DiagramEdge {
        from,
        to: edge.to,
        label: format_compact!("{label} (max {})", bound.max),
        style,
    };
    push_merged(edges, group, within);
    let after = DiagramEdge {
        from,
        to: bound.otherwise,
        label: format_compact!("{label} (after {})", bound.max),
        style: match style {
            EdgeStyle::Failure => EdgeStyle::Failure,
            _ => EdgeStyle::Fallback,
        },
    };
    push_merged(edges, group, after);
}

/// Adds `edge` to the edges of its state, which start at `group`, merged into an earlier arrow
/// with the same ends and style if there is one.
fn push_merged(edges: &mut Vec<DiagramEdge>, group: usize, edge: DiagramEdge) {
    let same = edges[group..]
        .iter_mut()
        .find(|m| m.from == edge.from && m.to == edge.to && m.style == edge.style);
    match same {
        Some(existing) => {
            // Single words share a line (`timeout, fail`); longer labels get their own.
            let words = !existing.label.contains(' ') && !edge.label.contains(' ');
            existing.label.push_str(if words { ", " } else { "\n" });
            existing.label.push_str(&edge.label);
        }
        None => edges.push(edge),
    }
}

/// Writes the lines of text inside a state's node, separated by `\n`. A parallel state's node
/// is its fork bar, which shows nothing.
fn write_state_lines(out: &mut String, workflow: &Workflow, state: StateId) {
    let state = &workflow.states[state];
    if let StateKind::Parallel { .. } = state.kind {
        return;
    }
    let mut lines = Lines::new(out, "\n");
    lines.line().push_str(&state.name);
    let by = |lines: &mut Lines<'_>, worker: usize| {
        let out = lines.line();
        out.push_str("by ");
        out.push_str(worker_name(workflow, worker));
    };
    match &state.kind {
        StateKind::Task { worker, .. } => by(&mut lines, *worker),
        StateKind::Loop(lp) => by(&mut lines, lp.worker),
        StateKind::Map(map) => {
            let _ = write!(lines.line(), "over {} as {}", map.over.text, map.item);
            by(&mut lines, map.worker);
            if let Some(limit) = map.limit {
                let _ = write!(lines.line(), "limit {limit}");
            }
        }
        StateKind::Wait {
            signal, timeout_ms, ..
        } => {
            let name = workflow
                .signals
                .get(*signal)
                .map_or("?", |s| s.name.as_str());
            let _ = write!(lines.line(), "for {name}");
            if let Some(timeout) = timeout_ms {
                let out = lines.line();
                out.push_str("timeout ");
                write_duration(out, *timeout);
            }
        }
        StateKind::Call { workflow, .. } => {
            let _ = write!(lines.line(), "workflow {workflow}");
        }
        StateKind::Parallel { .. }
        | StateKind::Choice { .. }
        | StateKind::Succeed { .. }
        | StateKind::Fail { .. } => {}
    }
}

/// Writes the two lines of a parallel branch's node, its name and its worker, separated by
/// `\n`.
fn write_branch_lines(out: &mut String, workflow: &Workflow, branch: &Branch) {
    out.push_str(&branch.name);
    out.push_str("\nby ");
    out.push_str(worker_name(workflow, branch.worker));
}

fn worker_name(workflow: &Workflow, worker: usize) -> &str {
    workflow
        .workers
        .get(worker)
        .map_or("?", |w| w.name.as_str())
}

/// Writes the hover text of a state, lines separated by `\n`: its docs, what its worker or
/// signal is, and its settings. Writes nothing when there is nothing to say.
fn write_state_tooltip(out: &mut String, workflow: &Workflow, state: StateId) {
    let state = &workflow.states[state];
    let mut lines = Lines::new(out, "\n");
    if !state.docs.is_empty() {
        lines.line().push_str(&state.docs);
    }
    let (retry, timeout) = match &state.kind {
        StateKind::Task {
            worker,
            retry,
            timeout_ms,
            ..
        } => {
            write_worker_summary(&mut lines, workflow, *worker);
            (retry.as_deref(), *timeout_ms)
        }
        StateKind::Map(map) => {
            write_worker_summary(&mut lines, workflow, map.worker);
            (map.retry.as_deref(), map.timeout_ms)
        }
        StateKind::Loop(lp) => {
            write_worker_summary(&mut lines, workflow, lp.worker);
            (lp.retry.as_deref(), lp.timeout_ms)
        }
        StateKind::Wait { signal, .. } => {
            if let Some(signal) = workflow.signals.get(*signal) {
                write_described(&mut lines, &signal.name, &signal.description);
            }
            (None, None)
        }
        StateKind::Parallel { timeout_ms, .. } | StateKind::Call { timeout_ms, .. } => {
            (None, *timeout_ms)
        }
        _ => (None, None),
    };
    write_settings(&mut lines, retry, timeout);
}

/// Writes the hover text of a parallel branch, like [`write_state_tooltip`].
fn write_branch_tooltip(out: &mut String, workflow: &Workflow, branch: &Branch) {
    let mut lines = Lines::new(out, "\n");
    if !branch.docs.is_empty() {
        lines.line().push_str(&branch.docs);
    }
    write_worker_summary(&mut lines, workflow, branch.worker);
    write_settings(&mut lines, branch.retry.as_ref(), branch.timeout_ms);
}

/// A line with the worker's name and description, if it has a description.
fn write_worker_summary(lines: &mut Lines<'_>, workflow: &Workflow, worker: usize) {
    if let Some(worker) = workflow.workers.get(worker) {
        write_described(lines, &worker.name, &worker.description);
    }
}

/// A line `name: description`, if there is a description.
fn write_described(lines: &mut Lines<'_>, name: &str, description: &str) {
    if !description.is_empty() {
        let out = lines.line();
        out.push_str(name);
        out.push_str(": ");
        out.push_str(description);
    }
}

/// A line for the retry policy and one for the timeout, each if there is one.
fn write_settings(lines: &mut Lines<'_>, retry: Option<&RetryPolicy>, timeout_ms: Option<u64>) {
    if let Some(retry) = retry {
        write_retry(lines.line(), retry);
    }
    if let Some(timeout) = timeout_ms {
        let out = lines.line();
        out.push_str("timeout ");
        write_duration(out, timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(source: &str) -> Workflow {
        crate::compile(source).unwrap().program.workflows.remove(0)
    }

    fn render_duration(ms: u64) -> String {
        let mut out = String::new();
        write_duration(&mut out, ms);
        out
    }

    fn render_retry(retry: &RetryPolicy) -> String {
        let mut out = String::new();
        write_retry(&mut out, retry);
        out
    }

    fn wrap_condition(text: &str) -> String {
        let mut out = CompactString::default();
        push_wrapped(&mut out, text);
        out.into()
    }

    #[test]
    fn render_duration_splits_units() {
        assert_eq!(render_duration(0), "0s");
        assert_eq!(render_duration(500), "500ms");
        assert_eq!(render_duration(1_500), "1s500ms");
        assert_eq!(render_duration(5_400_000), "1h30m");
        assert_eq!(render_duration(2 * 86_400_000), "2d");
    }

    #[test]
    fn render_retry_matches_the_source_syntax() {
        let retry = RetryPolicy {
            retries: 2,
            initial_ms: 1_000,
            multiplier: 1.5,
            max_ms: Some(30_000),
            jitter: true,
        };
        assert_eq!(
            render_retry(&retry),
            "retry 2 backoff 1s x1.5 max 30s jitter"
        );
        let plain = RetryPolicy {
            initial_ms: 0,
            ..retry
        };
        assert_eq!(render_retry(&plain), "retry 2");
    }

    #[test]
    fn render_condition_keeps_needed_parentheses_only() {
        let workflow = compile(
            r#"workflow W {
                worker A;
                start a;
                task a by A { ok -> c; fail -> f; }
                choice c {
                    when a.output.x || a.output.y && a.output.z -> s;
                    when (a.output.x || a.output.y) && !(a.output.n contains "q") -> s;
                    when !!exists a.output.e || a.output.d > -1 -> s;
                    when a.output.x || (a.output.y || a.output.z) -> s;
                    else -> f;
                }
                succeed s;
                fail f;
            }"#,
        );
        let StateKind::Choice { arms, .. } = &workflow.states[1].kind else {
            panic!("`c` is a choice");
        };
        let rendered: Vec<String> = arms.iter().map(|(c, _)| render_condition(c)).collect();
        assert_eq!(
            rendered,
            [
                "a.output.x || a.output.y && a.output.z",
                r#"(a.output.x || a.output.y) && !(a.output.n contains "q")"#,
                "!!exists a.output.e || a.output.d > -1",
                "a.output.x || (a.output.y || a.output.z)",
            ]
        );
    }

    #[test]
    fn wrap_condition_breaks_before_operators() {
        assert_eq!(wrap_condition("when a == 1 || b"), "when a == 1 || b");
        let long = "when plan.output.count < 0 || plan.output.mode != \"normal\" && !exists plan.output.tasks";
        let wrapped = wrap_condition(long);
        assert_eq!(
            wrapped,
            "when plan.output.count < 0\n|| plan.output.mode != \"normal\"\n&& !exists plan.output.tasks"
        );
        assert_eq!(wrapped.replace('\n', " "), long);
    }

    #[test]
    fn bounded_edges_are_split_and_parallel_edges_merged() {
        let workflow = compile(
            r#"workflow W {
                worker A;
                worker B;
                start a;
                task a by A { ok -> b; timeout 1s; timeout -> f; fail -> f; }
                task b by B { on again -> a max 3 else f; ok -> s; fail -> f; }
                succeed s;
                fail f;
            }"#,
        );
        let edges = diagram_edges(&workflow);
        let edges: Vec<(StateId, StateId, &str, EdgeStyle)> = edges
            .iter()
            .map(|e| (e.from, e.to, e.label.as_str(), e.style))
            .collect();
        assert_eq!(
            edges,
            [
                (0, 1, "ok", EdgeStyle::Normal),
                (0, 3, "timeout, fail", EdgeStyle::Failure),
                (1, 2, "ok", EdgeStyle::Normal),
                (1, 0, "again (max 3)", EdgeStyle::Normal),
                (1, 3, "again (after 3)", EdgeStyle::Fallback),
                (1, 3, "fail", EdgeStyle::Failure),
            ]
        );
    }
}
