//! Checking the fixture corpus.
//!
//! Every file in `tests/fixtures/valid` compiles with no diagnostic at all: no error and no
//! warning. Every file in `tests/fixtures/checks` parses, and names on its first line the one
//! code the checker must report for it (`// E0303: …`):
//!
//! - for an error code, compiling fails with that code and with no other diagnostic: no
//!   follow-up error of another code, and no warning;
//! - for a warning code, the workflow compiles, and every warning has that code.
//!
//! Every span stays in the text, messages follow the house style, and the rendered diagnostics
//! are snapshot-tested, so a change to a message shows up in review. `many_defects.orch` holds
//! defects of many codes, which must all be reported in one run.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use orch_dsl::{Code, Diagnostic, Diagnostics, Span};

const MANY_DEFECTS: &str = "many_defects.orch";

fn fixture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

/// The `.orch` files of `tests/fixtures/<kind>`, sorted by name.
fn fixtures(kind: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(fixture_dir(kind))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "orch"))
        .collect();
    paths.sort();
    paths
}

fn file_name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

/// What compiling `source` reports, and whether it compiled.
fn compile(source: &str) -> (bool, Diagnostics) {
    match orch_dsl::compile(source) {
        Ok(compiled) => (true, compiled.warnings),
        Err(diagnostics) => (false, diagnostics),
    }
}

/// The code a check fixture names on its first line: `// E0303: …`.
fn expected_code(source: &str, name: &str) -> Code {
    let first = source.lines().next().unwrap_or("");
    let code = first
        .strip_prefix("// ")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("{name}: the first line must name a code, as `// E0303: …`"));
    Code::from_code(code).unwrap_or_else(|| panic!("{name}: unknown code `{code}`"))
}

fn is_warning_code(code: Code) -> bool {
    code.as_str().starts_with('W')
}

/// The checker's codes: everything but the parser's E0001–E0011.
fn checker_codes() -> BTreeSet<Code> {
    Code::ALL
        .iter()
        .copied()
        .filter(|c| !c.as_str().starts_with("E00"))
        .collect()
}

fn all_spans(diagnostic: &Diagnostic) -> impl Iterator<Item = Span> + '_ {
    std::iter::once(diagnostic.span).chain(diagnostic.secondary.iter().map(|l| l.span))
}

fn assert_spans_sound(source: &str, diagnostics: &Diagnostics, name: &str) {
    for diagnostic in diagnostics {
        for span in all_spans(diagnostic) {
            assert!(
                span.start() <= span.end() && span.end() <= source.len(),
                "{name}: `{diagnostic}` has span {}..{} outside a text of {} bytes",
                span.start(),
                span.end(),
                source.len()
            );
            assert!(
                source.is_char_boundary(span.start()) && source.is_char_boundary(span.end()),
                "{name}: `{diagnostic}` has a span off character boundaries"
            );
            assert!(!span.is_empty(), "{name}: `{diagnostic}` has an empty span");
        }
    }
}

fn render(diagnostics: &Diagnostics, name: &str, source: &str) -> String {
    orch_dsl::render(diagnostics, name, source)
}

// ---------------------------------------------------------------------------------------------
// Valid fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn valid_fixtures_compile_without_diagnostics() {
    let paths = fixtures("valid");
    assert!(
        paths.len() >= 9,
        "expected the whole corpus, found {paths:?}"
    );
    for path in paths {
        let name = file_name(&path);
        let source = fs::read_to_string(&path).unwrap();
        let (compiled, diagnostics) = compile(&source);
        assert!(
            compiled && diagnostics.is_empty(),
            "{name} is not clean:\n{}",
            render(&diagnostics, name, &source)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Check fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn check_fixtures_parse() {
    for path in fixtures("checks") {
        let name = file_name(&path);
        let source = fs::read_to_string(&path).unwrap();
        if let Err(errors) = orch_dsl::parse(&source) {
            panic!(
                "{name} must parse; its defects are for the checker:\n{}",
                render(&errors, name, &source)
            );
        }
    }
}

#[test]
fn check_fixtures_report_their_code_and_nothing_else() {
    let paths = fixtures("checks");
    assert!(paths.len() >= 60, "only {} check fixtures", paths.len());
    for path in paths {
        let name = file_name(&path);
        if name == MANY_DEFECTS {
            continue;
        }
        let source = fs::read_to_string(&path).unwrap();
        let code = expected_code(&source, name);
        let (compiled, diagnostics) = compile(&source);
        let rendered = render(&diagnostics, name, &source);
        assert!(
            diagnostics.iter().any(|d| d.code == code),
            "{name}: expected {code}, got\n{rendered}"
        );
        assert!(
            diagnostics.iter().all(|d| d.code == code),
            "{name}: expected only {code}, got\n{rendered}"
        );
        if is_warning_code(code) {
            assert!(compiled, "{name}: a warning must not stop the build");
            assert!(
                diagnostics.iter().all(|d| !d.is_error()),
                "{name}: {code} must be a warning"
            );
        } else {
            assert!(!compiled, "{name}: compiled despite {code}");
            assert!(
                diagnostics.iter().all(Diagnostic::is_error),
                "{name}: {code} must be an error"
            );
        }
        assert_spans_sound(&source, &diagnostics, name);
    }
}

/// Messages read like rustc's: lowercase, no trailing period, a label under every primary span.
#[test]
fn check_fixture_messages_follow_the_house_style() {
    for path in fixtures("checks") {
        let name = file_name(&path);
        let source = fs::read_to_string(&path).unwrap();
        let (_, diagnostics) = compile(&source);
        for diagnostic in &diagnostics {
            let message = &diagnostic.message;
            let first = message.chars().next().unwrap();
            assert!(
                first.is_lowercase() || first == '`',
                "{name}: message `{message}` should start in lowercase"
            );
            assert!(
                !diagnostic.label.is_empty(),
                "{name}: `{message}` has no label"
            );
            assert!(diagnostic.help.is_some(), "{name}: `{message}` has no help");
            let texts = std::iter::once(message.as_str())
                .chain(std::iter::once(diagnostic.label.as_str()))
                .chain(diagnostic.secondary.iter().map(|l| l.message.as_str()))
                .chain(diagnostic.help.as_deref())
                .chain(diagnostic.notes.iter().map(String::as_str));
            for text in texts {
                assert!(!text.ends_with('.'), "{name}: `{text}` ends with a period");
                assert_eq!(
                    text.matches('`').count() % 2,
                    0,
                    "{name}: `{text}` has an unbalanced backtick"
                );
            }
        }
    }
}

#[test]
fn check_fixtures_render() {
    insta::glob!("fixtures/checks/*.orch", |path| {
        let source = fs::read_to_string(path).unwrap();
        let (_, diagnostics) = compile(&source);
        insta::assert_snapshot!(render(&diagnostics, file_name(path), &source));
    });
}

#[test]
fn every_checker_code_has_a_fixture() {
    let mut seen = BTreeSet::new();
    for path in fixtures("checks") {
        let name = file_name(&path);
        if name != MANY_DEFECTS {
            seen.insert(expected_code(&fs::read_to_string(&path).unwrap(), name));
        }
    }
    let missing: Vec<&str> = checker_codes()
        .difference(&seen)
        .map(|c| c.as_str())
        .collect();
    assert!(missing.is_empty(), "no check fixture for {missing:?}");
}

#[test]
fn many_defects_are_all_reported() {
    let source = fs::read_to_string(fixture_dir("checks").join(MANY_DEFECTS)).unwrap();
    let (compiled, diagnostics) = compile(&source);
    assert!(!compiled);
    assert_spans_sound(&source, &diagnostics, MANY_DEFECTS);
    let found: Vec<(&str, &str)> = diagnostics
        .iter()
        .map(|d| (d.code.as_str(), d.span.text(&source)))
        .collect();
    assert_eq!(
        found,
        [
            ("E0105", "Writer"),
            ("E0301", "topc"),
            ("E0402", "x0.5"),
            ("E0303", "check.output"),
            ("E0206", "draft"),
            ("E0401", "0s"),
            ("E0102", "Publisher"),
            ("E0404", "3"),
            ("E0201", "check"),
            ("E0201", "polish"),
            ("E0208", "polish"),
        ]
    );
    let codes: BTreeSet<Code> = diagnostics.iter().map(|d| d.code).collect();
    assert!(codes.len() >= 6, "only {} different codes", codes.len());
}
