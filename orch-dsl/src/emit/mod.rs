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

use crate::ir::{
    CompareOp, Cond, Edge, EdgeEvent, Join, Operand, RetryPolicy, StateId, StateKind, Workflow,
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
        Operand::Literal { value } => out.push_str(&value.to_string()),
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

/// Renders milliseconds as an orch duration: `1h30m`, `45s`, `1s500ms`, `0s`.
fn render_duration(ms: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (size, unit) in UNITS {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// Renders a retry policy as it is written: `retry 2 backoff 1s x2 max 30s jitter`.
fn render_retry(retry: &RetryPolicy) -> String {
    let mut out = format!("retry {}", retry.retries);
    if retry.initial_ms > 0 {
        out.push_str(&format!(" backoff {}", render_duration(retry.initial_ms)));
        if retry.multiplier != 1.0 {
            out.push_str(&format!(" x{}", retry.multiplier));
        }
        if let Some(max) = retry.max_ms {
            out.push_str(&format!(" max {}", render_duration(max)));
        }
        if retry.jitter {
            out.push_str(" jitter");
        }
    }
    out
}

/// The text of a join bar: `all`, `any`, `2 of 3`.
fn render_join(join: Join, branches: usize) -> String {
    match join {
        Join::All => "all".into(),
        Join::Any => "any".into(),
        Join::Count(n) => format!("{n} of {branches}"),
    }
}

/// The diagram's title: the workflow's name, then its bounds.
fn title_lines(workflow: &Workflow) -> Vec<String> {
    let mut bounds = format!("worst case {} steps", workflow.worst_case_steps);
    if let Some(max) = workflow.max_steps {
        bounds.push_str(&format!(", max_steps {max}"));
    }
    if let Some(timeout) = workflow.timeout_ms {
        bounds.push_str(&format!(", timeout {}", render_duration(timeout)));
    }
    vec![workflow.name.to_string(), bounds]
}

/// Breaks a long condition into lines of about 40 characters before its `||` and `&&`, so that
/// edge labels stay narrow. Joining the lines with spaces gives the text back.
fn wrap_condition(text: &str) -> String {
    const WIDTH: usize = 40;
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(at) = [" || ", " && "].iter().filter_map(|op| rest.find(op)).min() {
        pieces.push(&rest[..at]);
        rest = &rest[at + 1..];
    }
    pieces.push(rest);
    let mut lines: Vec<String> = Vec::new();
    for piece in pieces {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + piece.len() <= WIDTH => {
                line.push(' ');
                line.push_str(piece);
            }
            _ => lines.push(piece.to_owned()),
        }
    }
    lines.join("\n")
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
    /// Lines separated by `\n`.
    label: String,
    style: EdgeStyle,
}

/// Every arrow between states, in state order and then in the order of [`StateKind::edges`],
/// with a loop's edge back to itself first.
fn diagram_edges(workflow: &Workflow) -> Vec<DiagramEdge> {
    let mut edges = Vec::new();
    for (from, state) in workflow.states.iter().enumerate() {
        if let StateKind::Loop(lp) = &state.kind {
            let (until, max) = (&lp.until, lp.max);
            let mut label = String::new();
            if let Some(until) = until {
                label.push_str(&wrap_condition(&format!(
                    "until {}",
                    render_condition(until)
                )));
                label.push('\n');
            }
            label.push_str(&format!("max {max}"));
            edges.push(DiagramEdge {
                from,
                to: from,
                label,
                style: EdgeStyle::Normal,
            });
        }
        for (event, edge) in state.kind.edges() {
            let style = match event {
                EdgeEvent::Exhausted => EdgeStyle::Fallback,
                _ if event.is_failure() => EdgeStyle::Failure,
                _ => EdgeStyle::Normal,
            };
            let label = event_label(&state.kind, &event);
            push_split_edge(&mut edges, from, edge, label, style);
        }
    }
    merge_parallel_edges(edges)
}

fn event_label(kind: &StateKind, event: &EdgeEvent) -> String {
    match (kind, event) {
        (StateKind::Choice { arms, .. }, EdgeEvent::When(i)) => match arms.get(*i) {
            Some((cond, _)) => wrap_condition(&format!("when {}", render_condition(cond))),
            None => event.label().into_owned(),
        },
        (StateKind::Loop(lp), EdgeEvent::Exhausted) => format!("max {} reached", lp.max),
        _ => event.label().into_owned(),
    }
}

/// Pushes `edge`, or both halves of it when it is bounded.
fn push_split_edge(
    edges: &mut Vec<DiagramEdge>,
    from: StateId,
    edge: &Edge,
    label: String,
    style: EdgeStyle,
) {
    let Some(bound) = &edge.bound else {
        edges.push(DiagramEdge {
            from,
            to: edge.to,
            label,
            style,
        });
        return;
    };
    edges.push(DiagramEdge {
        from,
        to: edge.to,
        label: format!("{label} (max {})", bound.max),
        style,
    });
    edges.push(DiagramEdge {
        from,
        to: bound.otherwise,
        label: format!("{label} (after {})", bound.max),
        style: match style {
            EdgeStyle::Failure => EdgeStyle::Failure,
            _ => EdgeStyle::Fallback,
        },
    });
}

/// Merges arrows with the same ends and style into one, keeping the first one's place.
fn merge_parallel_edges(edges: Vec<DiagramEdge>) -> Vec<DiagramEdge> {
    let mut merged: Vec<DiagramEdge> = Vec::with_capacity(edges.len());
    // The edges of one state are contiguous: only they can merge, so searching them alone
    // keeps this linear in the size of the workflow.
    let mut group = 0;
    for edge in edges {
        if merged.last().is_some_and(|last| last.from != edge.from) {
            group = merged.len();
        }
        let same = merged[group..]
            .iter_mut()
            .find(|m| m.from == edge.from && m.to == edge.to && m.style == edge.style);
        match same {
            Some(existing) => {
                // Single words share a line (`timeout, fail`); longer labels get their own.
                let words = !existing.label.contains(' ') && !edge.label.contains(' ');
                existing.label.push_str(if words { ", " } else { "\n" });
                existing.label.push_str(&edge.label);
            }
            None => merged.push(edge),
        }
    }
    merged
}

/// The lines of text inside a state's node. A parallel state's node is its fork bar, which
/// shows nothing.
fn state_lines(workflow: &Workflow, state: StateId) -> Vec<String> {
    let state = &workflow.states[state];
    let by = |worker: usize| format!("by {}", worker_name(workflow, worker));
    let mut lines = vec![state.name.to_string()];
    match &state.kind {
        StateKind::Task { worker, .. } => lines.push(by(*worker)),
        StateKind::Loop(lp) => lines.push(by(lp.worker)),
        StateKind::Map(map) => {
            lines.push(format!("over {} as {}", map.over.text, map.item));
            lines.push(by(map.worker));
            if let Some(limit) = map.limit {
                lines.push(format!("limit {limit}"));
            }
        }
        StateKind::Wait {
            signal, timeout_ms, ..
        } => {
            let name = workflow
                .signals
                .get(*signal)
                .map_or("?", |s| s.name.as_str());
            lines.push(format!("for {name}"));
            if let Some(timeout) = timeout_ms {
                lines.push(format!("timeout {}", render_duration(*timeout)));
            }
        }
        StateKind::Call { workflow, .. } => lines.push(format!("workflow {workflow}")),
        StateKind::Parallel { .. } => lines.clear(),
        StateKind::Choice { .. } | StateKind::Succeed { .. } | StateKind::Fail { .. } => {}
    }
    lines
}

fn worker_name(workflow: &Workflow, worker: usize) -> &str {
    workflow
        .workers
        .get(worker)
        .map_or("?", |w| w.name.as_str())
}

/// The hover text of a state: its docs, what its worker or signal is, and its settings.
fn state_tooltip(workflow: &Workflow, state: StateId) -> String {
    let state = &workflow.states[state];
    let mut lines = Vec::new();
    if !state.docs.is_empty() {
        lines.push(state.docs.clone());
    }
    let (retry, timeout) = match &state.kind {
        StateKind::Task {
            worker,
            retry,
            timeout_ms,
            ..
        } => {
            lines.extend(worker_summary(workflow, *worker));
            (retry.as_deref(), *timeout_ms)
        }
        StateKind::Map(map) => {
            lines.extend(worker_summary(workflow, map.worker));
            (map.retry.as_deref(), map.timeout_ms)
        }
        StateKind::Loop(lp) => {
            lines.extend(worker_summary(workflow, lp.worker));
            (lp.retry.as_deref(), lp.timeout_ms)
        }
        StateKind::Wait { signal, .. } => {
            if let Some(signal) = workflow.signals.get(*signal) {
                lines.extend(described(&signal.name, &signal.description));
            }
            (None, None)
        }
        StateKind::Parallel { timeout_ms, .. } | StateKind::Call { timeout_ms, .. } => {
            (None, *timeout_ms)
        }
        _ => (None, None),
    };
    lines.extend(settings_lines(retry, timeout));
    lines.join("\n")
}

/// The hover text of a parallel branch.
fn branch_tooltip(workflow: &Workflow, branch: &crate::ir::Branch) -> String {
    let mut lines = Vec::new();
    if !branch.docs.is_empty() {
        lines.push(branch.docs.clone());
    }
    lines.extend(worker_summary(workflow, branch.worker));
    lines.extend(settings_lines(branch.retry.as_ref(), branch.timeout_ms));
    lines.join("\n")
}

fn worker_summary(workflow: &Workflow, worker: usize) -> Option<String> {
    let worker = workflow.workers.get(worker)?;
    described(&worker.name, &worker.description)
}

fn described(name: &str, description: &str) -> Option<String> {
    (!description.is_empty()).then(|| format!("{name}: {description}"))
}

fn settings_lines(retry: Option<&RetryPolicy>, timeout_ms: Option<u64>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(retry) = retry {
        lines.push(render_retry(retry));
    }
    if let Some(timeout) = timeout_ms {
        lines.push(format!("timeout {}", render_duration(timeout)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(source: &str) -> Workflow {
        crate::compile(source).unwrap().program.workflows.remove(0)
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
