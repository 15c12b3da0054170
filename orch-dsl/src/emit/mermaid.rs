//! Mermaid flowchart text.

use std::fmt::Write as _;

use super::{
    DiagramEdge, EdgeStyle, diagram_edges, write_branch_lines, write_join, write_state_lines,
    write_title,
};
use crate::ir::{StateId, StateKind, Workflow};

const INDENT: &str = "    ";
/// The indentation inside a subgraph.
const INNER: &str = "        ";

/// Node classes, in the order their `class` lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    EntryPoint,
    Worker,
    ChoiceState,
    WaitState,
    CallState,
    Bar,
    SucceedState,
    FailState,
}

/// The names and styles of the [`Class`]es, in their order: `CLASSES[class as usize]`.
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
    // A workflow takes some 180 to 250 bytes a state: reserving a little more up front spares
    // regrowing (and copying) the output as it is written.
    let mut out = String::with_capacity(1024 + 224 * workflow.states.len());
    // The title and each label are written here, then escaped into `out`.
    let mut text = String::new();
    write_title(&mut text, workflow, " · ");
    let _ = writeln!(out, "---\ntitle: {}\n---", yaml_string(&text));
    out.push_str("flowchart TD\n");
    generate_comment(&mut out, INDENT, &workflow.docs);
    let _ = writeln!(out, "{INDENT}entry((\" \"))");
    let mut links = vec![Link::plain(Node::Entry, Node::State(workflow.start))];
    for (id, state) in workflow.states.iter().enumerate() {
        generate_comment(&mut out, INDENT, &state.docs);
        match &state.kind {
            StateKind::Parallel { .. } => {
                generate_parallel(&mut out, &mut text, workflow, id, &mut links)
            }
            _ => generate_state(&mut out, &mut text, workflow, id),
        }
    }
    let edges = diagram_edges(workflow);
    links.extend(edges.iter().map(|e| Link::edge(workflow, e)));
    generate_links(&mut out, workflow, &links);
    generate_classes(&mut out, workflow);
    out
}

/// A node of the flowchart; [`write_node`] writes its id.
#[derive(Clone, Copy, Debug)]
enum Node {
    /// The entry marker.
    Entry,
    /// A state's node, or a parallel state's fork bar.
    State(StateId),
    /// The branch of a parallel state with this index.
    Branch(StateId, usize),
    /// A parallel state's join bar.
    Join(StateId),
}

/// One `-->` line, and how it is coloured.
struct Link<'a> {
    from: Node,
    to: Node,
    label: Option<&'a str>,
    style: EdgeStyle,
}

impl<'a> Link<'a> {
    fn plain(from: Node, to: Node) -> Self {
        Link {
            from,
            to,
            label: None,
            style: EdgeStyle::Normal,
        }
    }

    fn edge(workflow: &Workflow, edge: &'a DiagramEdge) -> Self {
        Link {
            from: tail(workflow, edge.from),
            to: Node::State(edge.to),
            label: Some(&edge.label),
            style: edge.style,
        }
    }
}

fn generate_state(out: &mut String, text: &mut String, workflow: &Workflow, id: StateId) {
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
    out.push_str(INDENT);
    write_node(out, workflow, Node::State(id));
    out.push_str(open);
    text.clear();
    write_state_lines(text, workflow, id);
    write_label(out, text);
    out.push_str(close);
    out.push('\n');
}

/// A parallel state as a subgraph: fork bar, one node per branch, join bar. Its links are
/// written with the others, after every node, so that no node moves into the subgraph.
fn generate_parallel<'a>(
    out: &mut String,
    text: &mut String,
    workflow: &Workflow,
    id: StateId,
    links: &mut Vec<Link<'a>>,
) {
    let state = &workflow.states[id];
    let StateKind::Parallel { branches, join, .. } = &state.kind else {
        return;
    };
    out.push_str(INDENT);
    out.push_str("subgraph g_");
    write_sanitized(out, &state.name);
    out.push('[');
    write_label(out, &state.name);
    out.push_str("]\n");
    out.push_str(INNER);
    write_node(out, workflow, Node::State(id));
    out.push_str("[\" \"]\n");
    for (index, branch) in branches.iter().enumerate() {
        generate_comment(out, INNER, &branch.docs);
        out.push_str(INNER);
        write_node(out, workflow, Node::Branch(id, index));
        out.push('[');
        text.clear();
        write_branch_lines(text, workflow, branch);
        write_label(out, text);
        out.push_str("]\n");
    }
    let nodes = (0..branches.len()).map(|index| Node::Branch(id, index));
    links.extend(nodes.clone().map(|node| Link::plain(Node::State(id), node)));
    links.extend(nodes.map(|node| Link::plain(node, Node::Join(id))));
    out.push_str(INNER);
    write_node(out, workflow, Node::Join(id));
    out.push('[');
    text.clear();
    text.push_str("join ");
    write_join(text, *join, branches.len());
    write_label(out, text);
    out.push_str("]\n");
    out.push_str(INDENT);
    out.push_str("end\n");
}

fn generate_links(out: &mut String, workflow: &Workflow, links: &[Link<'_>]) {
    for link in links {
        let arrow = match link.style {
            EdgeStyle::Normal => "-->",
            EdgeStyle::Failure | EdgeStyle::Fallback => "-.->",
        };
        out.push_str(INDENT);
        write_node(out, workflow, link.from);
        out.push(' ');
        out.push_str(arrow);
        if let Some(label) = link.label {
            out.push('|');
            write_label(out, label);
            out.push('|');
        }
        out.push(' ');
        write_node(out, workflow, link.to);
        out.push('\n');
    }
    for (style, css) in [
        (EdgeStyle::Failure, FAILURE_LINK),
        (EdgeStyle::Fallback, FALLBACK_LINK),
    ] {
        let mut indices = (0..links.len()).filter(|&i| links[i].style == style);
        if let Some(first) = indices.next() {
            let _ = write!(out, "{INDENT}linkStyle {first}");
            for index in indices {
                let _ = write!(out, ",{index}");
            }
            let _ = writeln!(out, " {css}");
        }
    }
}

/// `classDef` lines for every class in use, then one `class` line per class.
fn generate_classes(out: &mut String, workflow: &Workflow) {
    let mut members: [Vec<Node>; CLASSES.len()] = Default::default();
    let mut add = |class: Class, node: Node| members[class as usize].push(node);
    add(Class::EntryPoint, Node::Entry);
    for (id, state) in workflow.states.iter().enumerate() {
        let node = Node::State(id);
        match &state.kind {
            StateKind::Task { .. } | StateKind::Map(_) | StateKind::Loop(_) => {
                add(Class::Worker, node);
            }
            StateKind::Choice { .. } => add(Class::ChoiceState, node),
            StateKind::Wait { .. } => add(Class::WaitState, node),
            StateKind::Call { .. } => add(Class::CallState, node),
            StateKind::Succeed { .. } => add(Class::SucceedState, node),
            StateKind::Fail { .. } => add(Class::FailState, node),
            StateKind::Parallel { branches, .. } => {
                add(Class::Bar, node);
                add(Class::Bar, Node::Join(id));
                for index in 0..branches.len() {
                    add(Class::Worker, Node::Branch(id, index));
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
        if let Some((first, rest)) = nodes.split_first() {
            out.push_str(INDENT);
            out.push_str("class ");
            write_node(out, workflow, *first);
            for node in rest {
                out.push(',');
                write_node(out, workflow, *node);
            }
            let _ = writeln!(out, " {class}");
        }
    }
}

/// `%%` comment lines; empty lines are skipped.
fn generate_comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str(indent);
        out.push_str("%% ");
        let start = out.len();
        out.extend(line.chars().map(|c| if c.is_control() { ' ' } else { c }));
        let end = start + out[start..].trim_end().len();
        out.truncate(end);
        out.push('\n');
    }
}

/// Writes the id of a node. A state's is `s_` and its sanitized name; other nodes use other
/// prefixes (`b_` branches, `j_` join bars, `g_` subgraphs, `entry`), so no id collides with
/// another or with a Mermaid keyword.
fn write_node(out: &mut String, workflow: &Workflow, node: Node) {
    let (prefix, state) = match node {
        Node::Entry => {
            out.push_str("entry");
            return;
        }
        Node::State(state) => ("s_", state),
        Node::Branch(state, _) => ("b_", state),
        Node::Join(state) => ("j_", state),
    };
    out.push_str(prefix);
    write_sanitized(out, &workflow.states[state].name);
    if let Node::Branch(_, index) = node {
        let _ = write!(out, "_{index}");
    }
}

/// The node arrows leave from: a parallel state's join bar, or the state itself.
fn tail(workflow: &Workflow, id: StateId) -> Node {
    match workflow.states[id].kind {
        StateKind::Parallel { .. } => Node::Join(id),
        _ => Node::State(id),
    }
}

/// Writes an id made of ASCII letters, digits and `_`. Names are identifiers, which pass
/// unchanged; any other character (in an IR built by hand) becomes `_`, its code point in hex
/// and `_`.
fn write_sanitized(out: &mut String, name: &str) {
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            let _ = write!(out, "_{:x}_", c as u32);
        }
    }
}

/// Writes a quoted Mermaid label. Mermaid reads `#name;` as an entity, so `#` itself and every
/// character that would end the string or be read as HTML or Markdown is written as one;
/// line breaks become `<br/>`.
fn write_label(out: &mut String, text: &str) {
    out.push('"');
    super::write_escaped_with(out, text, |c| match c {
        '"' => Some("#quot;"),
        '#' => Some("#35;"),
        '&' => Some("#amp;"),
        '<' => Some("#lt;"),
        '>' => Some("#gt;"),
        '|' => Some("#124;"),
        '`' => Some("#96;"),
        '\n' => Some("<br/>"),
        '\r' => Some(""),
        c if c.is_control() => Some(" "),
        _ => None,
    });
    out.push('"');
}

/// A YAML double-quoted string for the front matter.
fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(text: &str) -> String {
        let mut out = String::new();
        write_label(&mut out, text);
        out
    }

    fn sanitize(name: &str) -> String {
        let mut out = String::new();
        write_sanitized(&mut out, name);
        out
    }

    #[test]
    fn label_escapes_mermaid_text() {
        assert_eq!(label("plain"), r#""plain""#);
        assert_eq!(
            label(r#"a == "b" || c > 1 #x"#),
            r#""a == #quot;b#quot; #124;#124; c #gt; 1 #35;x""#
        );
        assert_eq!(label("two\nlines"), r#""two<br/>lines""#);
        assert_eq!(label("déjà\r\u{1}vu <ü>"), r#""déjà vu #lt;ü#gt;""#);
    }

    #[test]
    fn sanitize_keeps_identifiers_and_encodes_the_rest() {
        assert_eq!(sanitize("review_2"), "review_2");
        assert_eq!(sanitize("a-b"), "a_2d_b");
    }
}
