//! `orch graph`: DOT, Mermaid and SVG from the checked workflow.

mod common;

use common::{orch, output};

#[test]
fn dot_and_mermaid_come_from_the_checked_ir() {
    let dot = output(orch().args(["graph", "tests/website/website.orch"]));
    assert_eq!(dot.code, 0, "{}", dot.stderr);
    insta::assert_snapshot!("graph_dot", dot.stdout);
    let mermaid =
        output(orch().args(["graph", "tests/website/website.orch", "--format", "mermaid"]));
    assert_eq!(mermaid.code, 0, "{}", mermaid.stderr);
    insta::assert_snapshot!("graph_mermaid", mermaid.stdout);

    let source = std::fs::read_to_string("tests/website/website.orch").unwrap();
    let workflow = &orch_dsl::compile(&source).unwrap().program.workflows[0];
    assert_eq!(dot.stdout, orch_dsl::emit::generate_dot(workflow));
    assert_eq!(mermaid.stdout, orch_dsl::emit::generate_mermaid(workflow));
}

#[test]
fn several_workflows_need_a_choice() {
    let file = "../tests/fixtures/valid/sub_workflow.orch";
    let out = output(orch().args(["graph", file]));
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "error: the file defines several workflows; choose one with `--workflow`: `Report`, `Research`\n"
    );
    let misspelt = output(orch().args(["graph", file, "--workflow", "Reserch"]));
    assert_eq!(misspelt.code, 2);
    assert_eq!(
        misspelt.stderr,
        "error: no workflow named `Reserch`; the file defines `Report`, `Research` (did you mean `Research`?)\n"
    );
    let chosen = output(orch().args(["graph", file, "--workflow", "Research"]));
    assert_eq!(chosen.code, 0, "{}", chosen.stderr);
    assert!(chosen.stdout.starts_with("digraph"), "{}", chosen.stdout);
}

#[test]
fn output_files_and_their_extension_choose_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("website.mmd");
    let out = output(
        orch()
            .args(["graph", "tests/website/website.orch", "-o"])
            .arg(&out_file),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let written = std::fs::read_to_string(&out_file).unwrap();
    assert!(written.contains("flowchart TD"), "{written}");
}

#[test]
fn files_with_errors_are_not_drawn() {
    let out = output(orch().args(["graph", "tests/check/broken.orch"]));
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("error[E0101]"), "{}", out.stderr);
}

#[test]
fn svg_needs_graphviz() {
    let empty = tempfile::tempdir().unwrap();
    let out = output(
        orch()
            .args(["graph", "tests/website/website.orch", "--format", "svg"])
            .env("PATH", empty.path()),
    );
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "error: `--format svg` needs graphviz's `dot` command, which is not installed \
         (install graphviz, or use `--format dot` or `--format mermaid`)\n"
    );
}

#[test]
fn svg_is_drawn_by_graphviz_when_installed() {
    let installed = std::process::Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("graphviz is not installed; skipping");
        return;
    }
    let out = output(orch().args(["graph", "tests/website/website.orch", "-f", "svg"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("<svg"), "{}", out.stdout);
    assert!(out.stdout.contains("review"), "{}", out.stdout);
}
