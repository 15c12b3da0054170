//! `orch fmt`: formats in place, keeps comments, is idempotent, leaves broken files alone.

mod common;

use common::{copy_of, orch, output};

#[test]
fn check_lists_files_that_would_change_and_changes_nothing() {
    let dir = copy_of("fmt");
    let before = std::fs::read_to_string(dir.path().join("messy.orch")).unwrap();
    let out = output(
        orch()
            .current_dir(dir.path())
            .args(["fmt", "--check", "messy.orch"]),
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "messy.orch\n");
    assert_eq!(out.stderr, "error: 1 file would be reformatted\n");
    let after = std::fs::read_to_string(dir.path().join("messy.orch")).unwrap();
    assert_eq!(before, after);
}

#[test]
fn formats_in_place_keeping_comments_and_is_idempotent() {
    let dir = copy_of("fmt");
    let out = output(orch().current_dir(dir.path()).args(["fmt", "messy.orch"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let formatted = std::fs::read_to_string(dir.path().join("messy.orch")).unwrap();
    insta::assert_snapshot!("fmt_messy", formatted);
    for comment in [
        "// A workflow written in a hurry.",
        "// the only worker",
        "/// Greets.",
        "/* the end */",
    ] {
        assert!(formatted.contains(comment), "{comment} was kept");
    }
    let again = output(
        orch()
            .current_dir(dir.path())
            .args(["fmt", "--check", "messy.orch"]),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, "");
    let out = output(orch().current_dir(dir.path()).args(["fmt", "messy.orch"]));
    assert_eq!(out.code, 0);
    let twice = std::fs::read_to_string(dir.path().join("messy.orch")).unwrap();
    assert_eq!(formatted, twice);
}

#[test]
fn files_with_syntax_errors_are_reported_and_left_untouched() {
    let dir = copy_of("fmt");
    let broken = std::fs::read_to_string(dir.path().join("broken.orch")).unwrap();
    let out = output(orch().current_dir(dir.path()).args(["fmt", "."]));
    assert_eq!(out.code, 1);
    insta::assert_snapshot!("fmt_broken_stderr", out.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("broken.orch")).unwrap(),
        broken
    );
    // The other file of the folder was formatted all the same.
    let check = output(
        orch()
            .current_dir(dir.path())
            .args(["fmt", "--check", "messy.orch"]),
    );
    assert_eq!(check.code, 0, "{}", check.stdout);
}

#[test]
fn standard_input_is_formatted_to_standard_output() {
    let out = output(orch().args(["fmt", "-"]).write_stdin(
        "workflow A { worker W; start a; task a by W { ok -> s; fail -> f; } succeed s; fail f; }",
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("workflow A {\n    worker W;\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_missing_file_changes_nothing() {
    let dir = copy_of("fmt");
    let before = std::fs::read_to_string(dir.path().join("messy.orch")).unwrap();
    let out = output(
        orch()
            .current_dir(dir.path())
            .args(["fmt", "messy.orch", "gone.orch"]),
    );
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "error: cannot read `gone.orch`: no such file or directory\n"
    );
    let after = std::fs::read_to_string(dir.path().join("messy.orch")).unwrap();
    assert_eq!(before, after);
}
