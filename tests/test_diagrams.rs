//! The diagrams of every workflow in `tests/fixtures/valid/*.orch`:
//!
//! - snapshots of the DOT and the Mermaid text (`tests/snapshots/test_diagrams__*`);
//! - Graphviz accepts the DOT (`dot -Tsvg`) and draws a node for every state;
//! - Mermaid's own parser accepts the Mermaid (`tools/mermaid/check.mjs` under Node) and finds
//!   a node for every state and every link written;
//! - the output depends only on the IR: an IR sent through JSON and back draws the same bytes.
//!
//! Graphviz and the Mermaid parser are installed by `scripts/install-test-deps`. When one is
//! missing its test prints a notice and passes, except under `CI=true`, where it fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use orch_dsl::emit::{generate_dot, generate_mermaid};
use orch_dsl::ir::Workflow;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compile_fixture(path: &Path) -> Vec<Workflow> {
    let source = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    match orch_dsl::compile(&source) {
        Ok(compiled) => compiled.program.workflows,
        Err(diags) => panic!(
            "{}",
            orch_dsl::render(&diags, &path.display().to_string(), &source)
        ),
    }
}

/// Text that DOT and Mermaid must escape, in every place that reaches a diagram: docs, worker
/// and signal descriptions, string literals in conditions; and names close to Mermaid keywords.
const TRICKY: &str = r#"
/// Docs with "quotes", a back\slash, <b>markup</b>, #quot; &amp; a | pipe,
/// %%{init: {}}%% and `ticks` -> end
workflow Tricky {
    worker W "says \"hi\"\n on two lines \\ <br/> #35; |x|";
    signal Go "a \"signal\" <i>";
    start end_;
    /// A state named almost like a keyword; "quoted" docs.
    task end_ by W { ok -> graph; fail -> style; }
    choice graph {
        when end_.output == "a \"b\" \\ <c> #d; |e|" || end_.output.x -> subgraph;
        else -> class;
    }
    wait subgraph for Go { timeout 1s; ok -> class; timeout -> style; fail -> style; }
    succeed class;
    fail style;
}
"#;

/// Every workflow of every valid fixture, with its fixture's file name, in a fixed order, then
/// the workflow of [`TRICKY`].
fn all_workflows() -> Vec<(String, Workflow)> {
    let dir = root().join("tests/fixtures/valid");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "orch"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    let mut out = Vec::new();
    for path in paths {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        out.extend(
            compile_fixture(&path)
                .into_iter()
                .map(|w| (file.clone(), w)),
        );
    }
    let tricky = orch_dsl::compile(TRICKY).unwrap_or_else(|d| panic!("{d:?}"));
    let tricky = tricky.program.workflows.into_iter();
    out.extend(tricky.map(|w| ("(escaping)".to_owned(), w)));
    out
}

/// Whether a test whose tool is missing may pass anyway: it may, with a notice, except on CI.
fn skip_without(tool: &str) -> bool {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{tool} is missing under CI=true: run scripts/install-test-deps first");
    }
    eprintln!("notice: {tool} is missing, so this check is skipped; run scripts/install-test-deps");
    true
}

#[test]
fn dot_snapshots() {
    insta::glob!("fixtures/valid/*.orch", |path| {
        for workflow in compile_fixture(path) {
            insta::assert_snapshot!(format!("dot_{}", workflow.name), generate_dot(&workflow));
        }
    });
}

#[test]
fn mermaid_snapshots() {
    insta::glob!("fixtures/valid/*.orch", |path| {
        for workflow in compile_fixture(path) {
            insta::assert_snapshot!(
                format!("mermaid_{}", workflow.name),
                generate_mermaid(&workflow)
            );
        }
    });
}

#[test]
fn diagrams_depend_only_on_the_ir() {
    for (file, workflow) in all_workflows() {
        let json = serde_json::to_string(&workflow).unwrap();
        let back: Workflow = serde_json::from_str(&json).unwrap();
        let name = format!("{file}: {}", workflow.name);
        assert_eq!(generate_dot(&back), generate_dot(&workflow), "{name}");
        assert_eq!(
            generate_mermaid(&back),
            generate_mermaid(&workflow),
            "{name}"
        );
    }
}

/// Runs `dot -Tsvg` on `dot`, returning the SVG, or `None` when Graphviz is not installed.
fn render_svg(dot: &str) -> Option<Result<String, String>> {
    let mut child = match Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run dot: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    // Graphviz reports what it did not understand as warnings; other noise (fontconfig) is not
    // about the diagram.
    let complaints = stderr
        .lines()
        .any(|l| l.starts_with("Warning") || l.starts_with("Error"));
    Some(if output.status.success() && !complaints {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(format!("{}: {stderr}", output.status))
    })
}

#[test]
fn graphviz_accepts_the_dot() {
    for (file, workflow) in all_workflows() {
        let dot = generate_dot(&workflow);
        let Some(svg) = render_svg(&dot) else {
            skip_without("Graphviz (`dot`)");
            return;
        };
        let name = format!("{file}: {}", workflow.name);
        let svg = svg.unwrap_or_else(|e| panic!("{name}: dot rejected the diagram: {e}\n{dot}"));
        for state in &workflow.states {
            let title = format!("<title>{}</title>", state.name);
            assert!(svg.contains(&title), "{name}: no node for `{}`", state.name);
        }
    }
}

/// What `tools/mermaid/check.mjs` found in one diagram.
struct MermaidReport {
    name: String,
    error: Option<String>,
    kind: Option<String>,
    nodes: Vec<String>,
    links: u64,
}

impl MermaidReport {
    fn from_json(value: &serde_json::Value) -> MermaidReport {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        MermaidReport {
            name: text("name").unwrap_or_default(),
            error: text("error"),
            kind: text("type"),
            nodes: value["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect(),
            links: value["links"].as_u64().unwrap_or(0),
        }
    }
}

/// Runs Mermaid's parser on every diagram, or returns `None` when Node or the parser is missing.
fn parse_mermaid(diagrams: &[(String, String)]) -> Option<Vec<MermaidReport>> {
    let tools = root().join("tools/mermaid");
    if !tools.join("node_modules/mermaid/package.json").is_file() {
        return None;
    }
    let input: Vec<serde_json::Value> = diagrams
        .iter()
        .map(|(name, text)| serde_json::json!({ "name": name, "text": text }))
        .collect();
    let mut child = match Command::new("node")
        .arg(tools.join("check.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run node: {e}"),
    };
    let json = serde_json::to_vec(&input).unwrap();
    child.stdin.take().unwrap().write_all(&json).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let reports: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        panic!(
            "check.mjs failed ({}): {e}\n{stdout}\n{stderr}",
            output.status
        )
    });
    let reports = reports.as_array().expect("check.mjs prints an array");
    Some(reports.iter().map(MermaidReport::from_json).collect())
}

#[test]
fn mermaid_parser_accepts_the_mermaid() {
    let workflows = all_workflows();
    let diagrams: Vec<(String, String)> = workflows
        .iter()
        .map(|(file, w)| (format!("{file}: {}", w.name), generate_mermaid(w)))
        .collect();
    let Some(reports) = parse_mermaid(&diagrams) else {
        skip_without("Node or the Mermaid parser (tools/mermaid/node_modules)");
        return;
    };
    assert_eq!(reports.len(), diagrams.len());
    for (((name, text), report), (_, workflow)) in diagrams.iter().zip(&reports).zip(&workflows) {
        assert_eq!(&report.name, name);
        if let Some(error) = &report.error {
            panic!("{name}: Mermaid rejected the diagram: {error}\n{text}");
        }
        assert_eq!(report.kind.as_deref(), Some("flowchart-v2"), "{name}");
        for state in &workflow.states {
            let id = format!("s_{}", state.name);
            assert!(report.nodes.contains(&id), "{name}: no node `{id}`\n{text}");
        }
        let written = text
            .lines()
            .map(str::trim_start)
            .filter(|l| !l.starts_with("%%") && (l.contains("-->") || l.contains("-.->")))
            .count();
        assert_eq!(report.links, written as u64, "{name}: links\n{text}");
    }
}
