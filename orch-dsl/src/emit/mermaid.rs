//! Mermaid flowchart text.

use std::fmt::Write as _;

use super::{
    DiagramEdge, EdgeStyle, diagram_edges, render_join, state_lines, title_lines, worker_name,
};
use crate::ir::{StateId, StateKind, Workflow};

const INDENT: &str = "    ";

/// Node classes, in the order their `class` lines are written, with their styles.
const CLASSES: [(&str, &str); 8] = [
    ("entryPoint", "fill:#333333,stroke:#333333,color:#ffffff"),
    ("worker", "fill:#e8f0fe,stroke:#5b7dbb"),
    ("choiceState", "fill:#fff4d6,stroke:#b08a2e"),
    ("waitState", "fill:#f3e8fd,stroke:#8a5cb8"),
    ("callState", "fill:#eeeeee,stroke:#555555"),
    ("bar", "fill:#333333,stroke:#333333,color:#ffffff"),
    ("succeedState", "fill:#c8e6c9,stroke:#2e7d32,color:#1b5e20"),
    ("failState", "fill:#f8c4c4,stroke:#c62828,color:#8e0000"),
];
const FAILURE_LINK: &str = "stroke:#c62828,color:#c62828";
const FALLBACK_LINK: &str = "stroke:#6d6d6d,color:#6d6d6d";

/// Draws a workflow as a Mermaid `flowchart TD`, for Markdown pages that render Mermaid.
///
/// A front-matter title shows the workflow's name and the worst-case number of steps of a run;
/// docs become `%%` comments above their nodes. Node ids are the state names with a prefix
/// (`s_review`), so no name can clash with a Mermaid keyword such as `end`; every label is
/// quoted, with Mermaid's entity escapes (`#quot;`) for characters that would end or change it.
/// Failure and fallback edges are dotted and coloured with `linkStyle`; terminals, bars and the
/// other kinds of node are coloured with `classDef`. See the [module docs](crate::emit) for the
/// shapes and edge labels.
///
/// ```
/// let source = r#"
///     workflow Build {
///         worker Coder;
///         worker Reviewer;
///         start code;
///         task code by Coder { ok -> review; fail -> end; }
///         task review by Reviewer {
///             on approved -> done;
///             on changes_requested -> code max 3 else end;
///             fail -> end;
///         }
///         succeed done;
///         fail end;
///     }
/// "#;
/// let compiled = orch_dsl::compile(source).unwrap();
/// let mermaid = orch_dsl::emit::generate_mermaid(&compiled.program.workflows[0]);
/// assert!(mermaid.contains("flowchart TD\n"));
/// assert!(mermaid.contains(r#"s_code["code<br/>by Coder"]"#));
/// assert!(mermaid.contains(r#"s_review -->|"changes_requested (max 3)"| s_code"#));
/// assert!(mermaid.contains(r#"s_review -.->|"changes_requested (after 3)"| s_end"#));
/// assert!(mermaid.contains(r#"s_review -.->|"fail"| s_end"#));
/// assert!(mermaid.contains(r#"s_end((("end")))"#));
/// ```
pub fn generate_mermaid(workflow: &Workflow) -> String {
    let mut out = String::new();
    let title = title_lines(workflow).join(" · ");
    let _ = writeln!(out, "---\ntitle: {}\n---", yaml_string(&title));
    out.push_str("flowchart TD\n");
    generate_comment(&mut out, INDENT, &workflow.docs);
    let _ = writeln!(out, "{INDENT}entry((\" \"))");
    let mut links = vec![Link::plain("entry", state_id(workflow, workflow.start))];
    for (id, state) in workflow.states.iter().enumerate() {
        generate_comment(&mut out, INDENT, &state.docs);
        match &state.kind {
            StateKind::Parallel { .. } => generate_parallel(&mut out, workflow, id, &mut links),
            _ => generate_state(&mut out, workflow, id),
        }
    }
    links.extend(
        diagram_edges(workflow)
            .iter()
            .map(|e| Link::edge(workflow, e)),
    );
    generate_links(&mut out, &links);
    generate_classes(&mut out, workflow);
    out
}

/// One `-->` line, and how it is coloured.
struct Link {
    from: String,
    to: String,
    label: Option<String>,
    style: EdgeStyle,
}

impl Link {
    fn plain(from: impl Into<String>, to: impl Into<String>) -> Link {
        Link {
            from: from.into(),
            to: to.into(),
            label: None,
            style: EdgeStyle::Normal,
        }
    }

    fn edge(workflow: &Workflow, edge: &DiagramEdge) -> Link {
        Link {
            from: tail_id(workflow, edge.from),
            to: state_id(workflow, edge.to),
            label: Some(edge.label.clone()),
            style: edge.style,
        }
    }
}

fn generate_state(out: &mut String, workflow: &Workflow, id: StateId) {
    let label = label(&state_lines(workflow, id).join("\n"));
    let (open, close) = match &workflow.states[id].kind {
        StateKind::Task { .. } | StateKind::Parallel { .. } => ("[", "]"),
        StateKind::Choice { .. } => ("{", "}"),
        StateKind::Map(_) => ("[/", "/]"),
        StateKind::Loop(_) => ("([", "])"),
        StateKind::Wait { .. } => ("{{", "}}"),
        StateKind::Call { .. } => ("[[", "]]"),
        StateKind::Succeed { .. } => ("((", "))"),
        StateKind::Fail { .. } => ("(((", ")))"),
    };
    let _ = writeln!(
        out,
        "{INDENT}{}{open}{label}{close}",
        state_id(workflow, id)
    );
}

/// A parallel state as a subgraph: fork bar, one node per branch, join bar. Its links are
/// written with the others, after every node, so that no node moves into the subgraph.
fn generate_parallel(out: &mut String, workflow: &Workflow, id: StateId, links: &mut Vec<Link>) {
    let state = &workflow.states[id];
    let StateKind::Parallel { branches, join, .. } = &state.kind else {
        return;
    };
    let inner = format!("{INDENT}{INDENT}");
    let fork = state_id(workflow, id);
    let join_id = join_node(&state.name);
    let group = format!("g_{}", sanitize(&state.name));
    let _ = writeln!(out, "{INDENT}subgraph {group}[{}]", label(&state.name));
    let _ = writeln!(out, "{inner}{fork}[\" \"]");
    for (index, branch) in branches.iter().enumerate() {
        generate_comment(out, &inner, &branch.docs);
        let node = branch_node(&state.name, index);
        let text = format!(
            "{}\nby {}",
            branch.name,
            worker_name(workflow, branch.worker)
        );
        let _ = writeln!(out, "{inner}{node}[{}]", label(&text));
    }
    let nodes = (0..branches.len()).map(|index| branch_node(&state.name, index));
    links.extend(nodes.clone().map(|node| Link::plain(fork.clone(), node)));
    links.extend(nodes.map(|node| Link::plain(node, join_id.clone())));
    let join_text = format!("join {}", render_join(*join, branches.len()));
    let _ = writeln!(out, "{inner}{join_id}[{}]", label(&join_text));
    let _ = writeln!(out, "{INDENT}end");
}

fn generate_links(out: &mut String, links: &[Link]) {
    for link in links {
        let arrow = match link.style {
            EdgeStyle::Normal => "-->",
            EdgeStyle::Failure | EdgeStyle::Fallback => "-.->",
        };
        let label = link
            .label
            .as_ref()
            .map(|text| format!("|{}|", label(text)))
            .unwrap_or_default();
        let _ = writeln!(out, "{INDENT}{} {arrow}{label} {}", link.from, link.to);
    }
    for (style, css) in [
        (EdgeStyle::Failure, FAILURE_LINK),
        (EdgeStyle::Fallback, FALLBACK_LINK),
    ] {
        let indices: Vec<String> = (0..links.len())
            .filter(|&i| links[i].style == style)
            .map(|i| i.to_string())
            .collect();
        if !indices.is_empty() {
            let _ = writeln!(out, "{INDENT}linkStyle {} {css}", indices.join(","));
        }
    }
}

/// `classDef` lines for every class in use, then one `class` line per class.
fn generate_classes(out: &mut String, workflow: &Workflow) {
    let mut members: Vec<Vec<String>> = vec![Vec::new(); CLASSES.len()];
    members[0].push("entry".into());
    let mut add = |class: &str, node: String| {
        if let Some(i) = CLASSES.iter().position(|(name, _)| *name == class) {
            members[i].push(node);
        }
    };
    for (id, state) in workflow.states.iter().enumerate() {
        let node = state_id(workflow, id);
        match &state.kind {
            StateKind::Task { .. } | StateKind::Map(_) | StateKind::Loop(_) => add("worker", node),
            StateKind::Choice { .. } => add("choiceState", node),
            StateKind::Wait { .. } => add("waitState", node),
            StateKind::Call { .. } => add("callState", node),
            StateKind::Succeed { .. } => add("succeedState", node),
            StateKind::Fail { .. } => add("failState", node),
            StateKind::Parallel { branches, .. } => {
                add("bar", node);
                add("bar", join_node(&state.name));
                for index in 0..branches.len() {
                    add("worker", branch_node(&state.name, index));
                }
            }
        }
    }
    for ((class, css), nodes) in CLASSES.iter().zip(&members) {
        if !nodes.is_empty() {
            let _ = writeln!(out, "{INDENT}classDef {class} {css}");
        }
    }
    for ((class, _), nodes) in CLASSES.iter().zip(&members) {
        if !nodes.is_empty() {
            let _ = writeln!(out, "{INDENT}class {} {class}", nodes.join(","));
        }
    }
}

/// `%%` comment lines; empty lines are skipped.
fn generate_comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let line: String = line
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let _ = writeln!(out, "{indent}%% {}", line.trim_end());
    }
}

/// The node of a state: `s_` and the sanitized name. Other nodes use other prefixes (`b_`
/// branches, `j_` join bars, `g_` subgraphs, `entry`), so no id collides with another or with a
/// Mermaid keyword.
fn state_id(workflow: &Workflow, id: StateId) -> String {
    format!("s_{}", sanitize(&workflow.states[id].name))
}

/// The node arrows leave from: a parallel state's join bar, or the state itself.
fn tail_id(workflow: &Workflow, id: StateId) -> String {
    let state = &workflow.states[id];
    match state.kind {
        StateKind::Parallel { .. } => join_node(&state.name),
        _ => state_id(workflow, id),
    }
}

fn branch_node(state: &str, index: usize) -> String {
    format!("b_{}_{index}", sanitize(state))
}

fn join_node(state: &str) -> String {
    format!("j_{}", sanitize(state))
}

/// An id made of ASCII letters, digits and `_`. Names are identifiers, which pass unchanged; any
/// other character (in an IR built by hand) becomes `_`, its code point in hex and `_`.
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            let _ = write!(out, "_{:x}_", c as u32);
        }
    }
    out
}

/// A quoted Mermaid label. Mermaid reads `#name;` as an entity, so `#` itself and every
/// character that would end the string or be read as HTML or Markdown is written as one;
/// line breaks become `<br/>`.
fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            '\n' => out.push_str("<br/>"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A YAML double-quoted string for the front matter.
fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_escapes_mermaid_text() {
        assert_eq!(label("plain"), r#""plain""#);
        assert_eq!(
            label(r#"a == "b" || c > 1 #x"#),
            r#""a == #quot;b#quot; #124;#124; c #gt; 1 #35;x""#
        );
        assert_eq!(label("two\nlines"), r#""two<br/>lines""#);
    }

    #[test]
    fn sanitize_keeps_identifiers_and_encodes_the_rest() {
        assert_eq!(sanitize("review_2"), "review_2");
        assert_eq!(sanitize("a-b"), "a_2d_b");
    }
}
