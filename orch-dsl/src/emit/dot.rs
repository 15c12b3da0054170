//! DOT text for Graphviz.

use std::fmt::Write as _;

use super::{
    DiagramEdge, EdgeStyle, diagram_edges, write_branch_lines, write_branch_tooltip, write_join,
    write_state_lines, write_state_tooltip, write_title,
};
use crate::ir::{Branch, State, StateId, StateKind, Workflow};

const WORKER_FILL: &str = "#e8f0fe";
const CHOICE_FILL: &str = "#fff4d6";
const WAIT_FILL: &str = "#f3e8fd";
const CALL_FILL: &str = "#eeeeee";
const SUCCEED_FILL: &str = "#c8e6c9";
const FAIL_FILL: &str = "#f8c4c4";
const FAILURE_COLOR: &str = "#c62828";
const FALLBACK_COLOR: &str = "#6d6d6d";
const BAR_COLOR: &str = "#333333";
const INDENT: &str = "    ";
/// The indentation inside a cluster.
const INNER: &str = "        ";

/// Draws a workflow as a Graphviz `digraph`, ready for `dot -Tsvg`.
///
/// The graph's title shows the workflow's name and the worst-case number of steps of a run; its
/// docs become the graph's tooltip, and each state's docs, worker description and settings its
/// node's tooltip (shown on hover in SVG). Every name and text is escaped for DOT's quoted
/// strings. See the [module docs](crate::emit) for the shapes and edge styles.
///
/// ```
/// let source = r#"
///     /// Writes code until a reviewer approves it.
///     workflow Build {
///         worker Coder;
///         worker Reviewer;
///         start code;
///         task code by Coder { ok -> review; fail -> failed; }
///         task review by Reviewer {
///             on approved -> done;
///             on changes_requested -> code max 3 else failed;
///             fail -> failed;
///         }
///         succeed done;
///         fail failed;
///     }
/// "#;
/// let compiled = orch_dsl::compile(source).unwrap();
/// let workflow = &compiled.program.workflows[0];
/// let dot = orch_dsl::emit::generate_dot(workflow);
/// assert!(dot.starts_with("digraph \"Build\" {\n"));
/// let title = format!(r#"label="Build\nworst case {} steps""#, workflow.worst_case_steps);
/// assert!(dot.contains(&title));
/// assert!(dot.contains(r#""code" [label="code\nby Coder""#));
/// assert!(dot.contains(r#""review" -> "code" [label="changes_requested (max 3)"]"#));
/// assert!(dot.contains(
///     r##""review" -> "failed" [label="changes_requested (after 3)", style=dashed"##
/// ));
/// ```
pub fn generate_dot(workflow: &Workflow) -> String {
    // A workflow takes some 250 to 350 bytes a state: reserving a little more up front spares
    // regrowing (and copying) the output as it is written.
    let mut out = String::with_capacity(1024 + 352 * workflow.states.len());
    // Each label and tooltip is written here, then quoted into `out`.
    let mut text = String::new();
    generate_header(&mut out, &mut text, workflow);
    for (id, state) in workflow.states.iter().enumerate() {
        match &state.kind {
            StateKind::Parallel { .. } => generate_parallel(&mut out, &mut text, workflow, id),
            _ => generate_state(&mut out, &mut text, workflow, id),
        }
    }
    out.push('\n');
    out.push_str(INDENT);
    out.push_str("\"/start\" -> ");
    write_quoted(&mut out, &workflow.states[workflow.start].name);
    out.push_str(";\n");
    for edge in diagram_edges(workflow) {
        generate_edge(&mut out, workflow, &edge);
    }
    out.push_str("}\n");
    out
}

fn generate_header(out: &mut String, text: &mut String, workflow: &Workflow) {
    out.push_str("digraph ");
    write_quoted(out, &workflow.name);
    out.push_str(" {\n");
    out.push_str(INDENT);
    out.push_str("graph [label=");
    text.clear();
    write_title(text, workflow, "\n");
    write_quoted(out, text);
    // Without a second crossing pass, the branches of a parallel keep their source order.
    out.push_str(", labelloc=t, fontname=\"Helvetica\", fontsize=16, remincross=false");
    if !workflow.docs.is_empty() {
        out.push_str(", tooltip=");
        write_quoted(out, &workflow.docs);
    }
    out.push_str("];\n");
    let _ = writeln!(
        out,
        "{INDENT}node [fontname=\"Helvetica\", fontsize=11, shape=box, style=\"rounded,filled\", \
         fillcolor=\"{WORKER_FILL}\"];"
    );
    let _ = writeln!(out, "{INDENT}edge [fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(
        out,
        "{INDENT}\"/start\" [shape=point, width=0.15, style=filled, fillcolor=\"{BAR_COLOR}\", \
         tooltip=\"start\"];"
    );
}

/// The node of a state of any kind but `parallel`.
fn generate_state(out: &mut String, text: &mut String, workflow: &Workflow, id: StateId) {
    let state = &workflow.states[id];
    out.push_str(INDENT);
    write_quoted(out, &state.name);
    write_label_and_tooltip(
        out,
        text,
        |text| write_state_lines(text, workflow, id),
        |text| write_state_tooltip(text, workflow, id),
    );
    let (shape, fill) = match &state.kind {
        StateKind::Choice { .. } => ("diamond", CHOICE_FILL),
        StateKind::Map(_) => ("box3d", WORKER_FILL),
        StateKind::Wait { .. } => ("hexagon", WAIT_FILL),
        StateKind::Call { .. } => ("box", CALL_FILL),
        StateKind::Succeed { .. } => ("doublecircle", SUCCEED_FILL),
        StateKind::Fail { .. } => ("doubleoctagon", FAIL_FILL),
        StateKind::Task { .. } | StateKind::Loop(_) | StateKind::Parallel { .. } => {
            ("box", WORKER_FILL)
        }
    };
    if shape != "box" {
        out.push_str(", shape=");
        out.push_str(shape);
    }
    if fill != WORKER_FILL {
        let _ = write!(out, ", fillcolor=\"{fill}\"");
    }
    if matches!(state.kind, StateKind::Call { .. }) {
        out.push_str(", peripheries=2");
    }
    out.push_str("];\n");
}

/// A parallel state as a cluster: fork bar, one node per branch, join bar.
fn generate_parallel(out: &mut String, text: &mut String, workflow: &Workflow, id: StateId) {
    let state = &workflow.states[id];
    let StateKind::Parallel { branches, join, .. } = &state.kind else {
        return;
    };
    let width = (branches.len() as f64 * 1.2).max(1.5);
    out.push_str(INDENT);
    out.push_str("subgraph \"cluster_");
    write_escaped(out, &state.name);
    out.push_str("\" {\n");
    out.push_str(INNER);
    out.push_str("graph [label=");
    write_quoted(out, &state.name);
    let _ = write!(
        out,
        ", labeljust=l, fontsize=12, style=\"rounded,dashed\", color=\"{FALLBACK_COLOR}\", tooltip="
    );
    // A cluster inherits the graph's tooltip (the workflow's docs) unless it has its own.
    text.clear();
    write_state_tooltip(text, workflow, id);
    if text.is_empty() {
        text.push_str("parallel ");
        text.push_str(&state.name);
    }
    write_quoted(out, text);
    out.push_str("];\n");
    out.push_str(INNER);
    write_quoted(out, &state.name);
    out.push_str(" [label=\"\", tooltip=\"fork ");
    write_escaped(out, &state.name);
    let _ = writeln!(
        out,
        "\", shape=box, style=filled, fillcolor=\"{BAR_COLOR}\", color=\"{BAR_COLOR}\", \
         fixedsize=true, width={width:.1}, height=0.08, ordering=out];",
    );
    for branch in branches {
        generate_branch(out, text, workflow, state, branch);
    }
    // A join's text (`all`, `2 of 3`) needs no escaping.
    out.push_str(INNER);
    write_join_node(out, &state.name);
    out.push_str(" [label=\"");
    write_join(out, *join, branches.len());
    out.push_str("\", tooltip=\"join ");
    write_join(out, *join, branches.len());
    let _ = writeln!(
        out,
        "\", shape=box, style=filled, fillcolor=\"{BAR_COLOR}\", color=\"{BAR_COLOR}\", \
         fontcolor=white, fontsize=9, fixedsize=true, width={width:.1}, height=0.22];",
    );
    // Edges after nodes, fork edges first, so that Graphviz keeps the branches in source order.
    for branch in branches {
        out.push_str(INNER);
        write_quoted(out, &state.name);
        out.push_str(" -> ");
        write_branch_node(out, state, branch);
        out.push_str(";\n");
    }
    for branch in branches {
        out.push_str(INNER);
        write_branch_node(out, state, branch);
        out.push_str(" -> ");
        write_join_node(out, &state.name);
        out.push_str(";\n");
    }
    out.push_str(INDENT);
    out.push_str("}\n");
}

fn generate_branch(
    out: &mut String,
    text: &mut String,
    workflow: &Workflow,
    state: &State,
    branch: &Branch,
) {
    out.push_str(INDENT);
    out.push_str(INDENT);
    write_branch_node(out, state, branch);
    write_label_and_tooltip(
        out,
        text,
        |text| write_branch_lines(text, workflow, branch),
        |text| write_branch_tooltip(text, workflow, branch),
    );
    out.push_str("];\n");
}

/// ` [label="…"` and, unless it is empty, `, tooltip="…"`: each text written by its writer into
/// `text`, a buffer reused from node to node, then quoted into `out`.
fn write_label_and_tooltip(
    out: &mut String,
    text: &mut String,
    label: impl FnOnce(&mut String),
    tooltip: impl FnOnce(&mut String),
) {
    out.push_str(" [label=");
    text.clear();
    label(text);
    write_quoted(out, text);
    text.clear();
    tooltip(text);
    if !text.is_empty() {
        out.push_str(", tooltip=");
        write_quoted(out, text);
    }
}

/// Writes the node of a parallel branch: `"state.branch"`.
fn write_branch_node(out: &mut String, state: &State, branch: &Branch) {
    out.push('"');
    write_escaped(out, &state.name);
    out.push('.');
    write_escaped(out, &branch.name);
    out.push('"');
}

/// Writes the join bar of a parallel state, `"state/join"`; `/` cannot occur in a name, so no
/// state collides with it.
fn write_join_node(out: &mut String, state: &str) {
    out.push('"');
    write_escaped(out, state);
    out.push_str("/join\"");
}

fn generate_edge(out: &mut String, workflow: &Workflow, edge: &DiagramEdge) {
    let from = &workflow.states[edge.from];
    out.push_str(INDENT);
    match from.kind {
        StateKind::Parallel { .. } => write_join_node(out, &from.name),
        _ => write_quoted(out, &from.name),
    }
    out.push_str(" -> ");
    write_quoted(out, &workflow.states[edge.to].name);
    out.push_str(" [label=");
    write_quoted(out, &edge.label);
    match edge.style {
        EdgeStyle::Normal => {}
        EdgeStyle::Failure => {
            let _ = write!(
                out,
                ", style=dashed, color=\"{FAILURE_COLOR}\", fontcolor=\"{FAILURE_COLOR}\""
            );
        }
        EdgeStyle::Fallback => {
            let _ = write!(
                out,
                ", style=dashed, color=\"{FALLBACK_COLOR}\", fontcolor=\"{FALLBACK_COLOR}\""
            );
        }
    }
    out.push_str("];\n");
}

/// Writes `text` as a DOT double-quoted string; see [`write_escaped`].
fn write_quoted(out: &mut String, text: &str) {
    out.push('"');
    write_escaped(out, text);
    out.push('"');
}

/// Writes `text` escaped for the inside of a DOT double-quoted string. Line breaks become `\n`
/// (centred lines); other control characters become spaces, since DOT strings cannot hold them
/// readably.
fn write_escaped(out: &mut String, text: &str) {
    super::write_escaped_with(out, text, |c| match c {
        '"' => Some("\\\""),
        '\\' => Some("\\\\"),
        '\n' => Some("\\n"),
        '\r' => Some(""),
        c if c.is_control() => Some(" "),
        _ => None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(text: &str) -> String {
        let mut out = String::new();
        write_quoted(&mut out, text);
        out
    }

    #[test]
    fn quote_escapes_dot_strings() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(quote(r#"say "hi"\now"#), r#""say \"hi\"\\now""#);
        assert_eq!(quote("two\r\nlines\tand"), r#""two\nlines and""#);
        assert_eq!(quote("déjà\u{1}vu \"ü\""), r#""déjà vu \"ü\"""#);
    }
}
