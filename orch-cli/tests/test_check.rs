//! `orch check`: diagnostics with snippets, summaries, JSON for tools.

mod common;

use common::{orch, output};

#[test]
fn valid_files_print_each_workflows_bounds() {
    let out = output(orch().args(["check", "../tests/fixtures/valid/build_website.orch"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "BuildWebsite: 5 states, worst case 13 steps\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn calls_may_cross_files_and_errors_are_rendered_with_snippets() {
    let out = output(orch().args([
        "check",
        "tests/check/report.orch",
        "tests/check/research.orch",
        "tests/check/broken.orch",
    ]));
    assert_eq!(out.code, 1);
    insta::assert_snapshot!("check_human_stdout", out.stdout);
    insta::assert_snapshot!("check_human_stderr", out.stderr);
}

#[test]
fn a_call_into_a_file_not_given_is_undefined() {
    let out = output(orch().args(["check", "tests/check/report.orch"]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("error[E0104]"), "{}", out.stderr);
}

#[test]
fn warnings_pass_unless_denied() {
    let files = ["tests/check/report.orch", "tests/check/research.orch"];
    let out = output(orch().arg("check").args(files));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("warning[W0001]"), "{}", out.stderr);
    let denied = output(orch().args(["check", "--deny-warnings"]).args(files));
    assert_eq!(denied.code, 1);
    assert!(
        denied
            .stderr
            .ends_with("error: 1 warning denied by `--deny-warnings`\n"),
        "{}",
        denied.stderr
    );
}

#[test]
fn folders_are_searched_for_workflow_files() {
    let out = output(orch().args(["check", "tests/website"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "Website: 5 states, worst case 13 steps\n");
}

#[test]
fn json_reports_every_diagnostic_and_workflow() {
    let out = output(orch().args([
        "check",
        "--format",
        "json",
        "tests/check/report.orch",
        "tests/check/research.orch",
        "tests/check/broken.orch",
    ]));
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr, "", "JSON mode prints nothing else");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["errors"], 2);
    assert_eq!(report["warnings"], 1);
    insta::assert_snapshot!("check_json", out.stdout);
}

#[test]
fn colour_is_used_only_when_asked_or_on_a_terminal() {
    let plain = output(orch().args(["check", "tests/check/broken.orch"]));
    assert!(!plain.stderr.contains('\u{1b}'));
    let coloured = output(orch().args(["--color", "always", "check", "tests/check/broken.orch"]));
    assert!(coloured.stderr.contains("\u{1b}["), "{}", coloured.stderr);
    let stripped = strip_ansi(&coloured.stderr);
    assert_eq!(stripped, plain.stderr);
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
