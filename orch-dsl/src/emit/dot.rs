//! DOT text for Graphviz.

use std::fmt::Write as _;

use super::{
    DiagramEdge, EdgeStyle, branch_tooltip, diagram_edges, render_join, state_lines, state_tooltip,
    title_lines,
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
    let mut out = String::new();
    generate_header(&mut out, workflow);
    for (id, state) in workflow.states.iter().enumerate() {
        match &state.kind {
            StateKind::Parallel { .. } => generate_parallel(&mut out, workflow, id),
            _ => generate_state(&mut out, workflow, id),
        }
    }
    out.push('\n');
    let start = quote(&workflow.states[workflow.start].name);
    let _ = writeln!(out, "{INDENT}\"/start\" -> {start};");
    for edge in diagram_edges(workflow) {
        generate_edge(&mut out, workflow, &edge);
    }
    out.push_str("}\n");
    out
}

fn generate_header(out: &mut String, workflow: &Workflow) {
    let _ = writeln!(out, "digraph {} {{", quote(&workflow.name));
    let mut graph = vec![
        format!("label={}", quote(&title_lines(workflow).join("\n"))),
        "labelloc=t".into(),
        "fontname=\"Helvetica\"".into(),
        "fontsize=16".into(),
        // Without a second crossing pass, the branches of a parallel keep their source order.
        "remincross=false".into(),
    ];
    if !workflow.docs.is_empty() {
        graph.push(format!("tooltip={}", quote(&workflow.docs)));
    }
    let _ = writeln!(out, "{INDENT}graph [{}];", graph.join(", "));
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
fn generate_state(out: &mut String, workflow: &Workflow, id: StateId) {
    let state = &workflow.states[id];
    let mut attrs = vec![format!(
        "label={}",
        quote(&state_lines(workflow, id).join("\n"))
    )];
    let tooltip = state_tooltip(workflow, id);
    if !tooltip.is_empty() {
        attrs.push(format!("tooltip={}", quote(&tooltip)));
    }
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
        attrs.push(format!("shape={shape}"));
    }
    if fill != WORKER_FILL {
        attrs.push(format!("fillcolor=\"{fill}\""));
    }
    if matches!(state.kind, StateKind::Call { .. }) {
        attrs.push("peripheries=2".into());
    }
    let _ = writeln!(
        out,
        "{INDENT}{} [{}];",
        quote(&state.name),
        attrs.join(", ")
    );
}

/// A parallel state as a cluster: fork bar, one node per branch, join bar.
fn generate_parallel(out: &mut String, workflow: &Workflow, id: StateId) {
    let state = &workflow.states[id];
    let StateKind::Parallel { branches, join, .. } = &state.kind else {
        return;
    };
    let width = (branches.len() as f64 * 1.2).max(1.5);
    let fork = quote(&state.name);
    let join_id = join_node(&state.name);
    let _ = writeln!(
        out,
        "{INDENT}subgraph {} {{",
        quote(&format!("cluster_{}", state.name))
    );
    let mut graph = vec![
        format!("label={}", quote(&state.name)),
        "labeljust=l".into(),
        "fontsize=12".into(),
        "style=\"rounded,dashed\"".into(),
        format!("color=\"{FALLBACK_COLOR}\""),
    ];
    // A cluster inherits the graph's tooltip (the workflow's docs) unless it has its own.
    let mut tooltip = state_tooltip(workflow, id);
    if tooltip.is_empty() {
        tooltip = format!("parallel {}", state.name);
    }
    graph.push(format!("tooltip={}", quote(&tooltip)));
    let inner = format!("{INDENT}{INDENT}");
    let _ = writeln!(out, "{inner}graph [{}];", graph.join(", "));
    let _ = writeln!(
        out,
        "{inner}{fork} [label=\"\", tooltip={}, shape=box, style=filled, \
         fillcolor=\"{BAR_COLOR}\", color=\"{BAR_COLOR}\", fixedsize=true, width={width:.1}, \
         height=0.08, ordering=out];",
        quote(&format!("fork {}", state.name)),
    );
    for branch in branches {
        generate_branch(out, workflow, state, branch);
    }
    let _ = writeln!(
        out,
        "{inner}{join_id} [label={}, tooltip={}, shape=box, style=filled, \
         fillcolor=\"{BAR_COLOR}\", color=\"{BAR_COLOR}\", fontcolor=white, fontsize=9, \
         fixedsize=true, width={width:.1}, height=0.22];",
        quote(&render_join(*join, branches.len())),
        quote(&format!("join {}", render_join(*join, branches.len()))),
    );
    // Edges after nodes, fork edges first, so that Graphviz keeps the branches in source order.
    for branch in branches {
        let _ = writeln!(out, "{inner}{fork} -> {};", branch_node(state, branch));
    }
    for branch in branches {
        let _ = writeln!(out, "{inner}{} -> {join_id};", branch_node(state, branch));
    }
    let _ = writeln!(out, "{INDENT}}}");
}

fn generate_branch(out: &mut String, workflow: &Workflow, state: &State, branch: &Branch) {
    let lines = [
        branch.name.to_string(),
        format!("by {}", super::worker_name(workflow, branch.worker)),
    ];
    let mut attrs = vec![format!("label={}", quote(&lines.join("\n")))];
    let tooltip = branch_tooltip(workflow, branch);
    if !tooltip.is_empty() {
        attrs.push(format!("tooltip={}", quote(&tooltip)));
    }
    let node = branch_node(state, branch);
    let _ = writeln!(out, "{INDENT}{INDENT}{node} [{}];", attrs.join(", "));
}

fn branch_node(state: &State, branch: &Branch) -> String {
    quote(&format!("{}.{}", state.name, branch.name))
}

/// The join bar of a parallel state; `/` cannot occur in a name, so no state collides with it.
fn join_node(state: &str) -> String {
    quote(&format!("{state}/join"))
}

fn generate_edge(out: &mut String, workflow: &Workflow, edge: &DiagramEdge) {
    let from = &workflow.states[edge.from];
    let tail = match from.kind {
        StateKind::Parallel { .. } => join_node(&from.name),
        _ => quote(&from.name),
    };
    let head = quote(&workflow.states[edge.to].name);
    let mut attrs = vec![format!("label={}", quote(&edge.label))];
    match edge.style {
        EdgeStyle::Normal => {}
        EdgeStyle::Failure => attrs.push(format!(
            "style=dashed, color=\"{FAILURE_COLOR}\", fontcolor=\"{FAILURE_COLOR}\""
        )),
        EdgeStyle::Fallback => attrs.push(format!(
            "style=dashed, color=\"{FALLBACK_COLOR}\", fontcolor=\"{FALLBACK_COLOR}\""
        )),
    }
    let _ = writeln!(out, "{INDENT}{tail} -> {head} [{}];", attrs.join(", "));
}

/// A DOT double-quoted string. Line breaks become `\n` (centred lines); other control
/// characters become spaces, since DOT strings cannot hold them readably.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_dot_strings() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(quote(r#"say "hi"\now"#), r#""say \"hi\"\\now""#);
        assert_eq!(quote("two\r\nlines\tand"), r#""two\nlines and""#);
    }
}
