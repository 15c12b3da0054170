//! The parser and the formatter never panic on any input, and every diagnostic they return
//! points inside the text on character boundaries, so it can be rendered.

use std::path::PathBuf;

use orch_dsl::{Diagnostics, Span};
use proptest::prelude::*;
use proptest::sample::{Index, select};

const KEYWORDS: &[&str] = &[
    "workflow",
    "input",
    "worker",
    "signal",
    "start",
    "timeout",
    "max_steps",
    "max",
    "on",
    "ok",
    "fail",
    "task",
    "by",
    "with",
    "retry",
    "backoff",
    "jitter",
    "choice",
    "when",
    "else",
    "parallel",
    "branch",
    "join",
    "all",
    "any",
    "map",
    "over",
    "as",
    "limit",
    "loop",
    "until",
    "wait",
    "for",
    "call",
    "succeed",
    "output",
    "error",
    "exists",
    "contains",
    "true",
    "false",
    "null",
    "string",
    "number",
    "integer",
    "bool",
    "list",
    "object",
];

const PUNCTUATION: &[&str] = &[
    "{", "}", "(", ")", "[", "]", ";", ":", ",", "->", "==", "!=", "<=", ">=", "<", ">", "&&",
    "||", "!", "=", ".", "-", "/", "*", "#", "'", "@", "\\",
];

const OTHER_TOKENS: &[&str] = &[
    // names and paths
    "a",
    "Coder",
    "_x",
    "r",
    "x2",
    "input.goal",
    "plan.output.tasks[0]",
    "a[-1]",
    "a.",
    "a[",
    // strings, templates, escapes
    "\"text\"",
    "\"\"",
    "\"tab\\t \\\" \\\\ \\u{e9} \\x41 \\0\"",
    "\"{{input.goal}}\"",
    "\"{{ a.b[0] }} and {{c}}\"",
    "\"\\{{ literal }}\"",
    "\"{{ unclosed\"",
    "\"{{}}\"",
    "\"{{ not a path! }}\"",
    "\"\\q\"",
    "\"\\x\"",
    "\"\\xff\"",
    "\"\\u{110000}\"",
    "\"\\u{\"",
    "\"\\u{e9\"",
    "\"line \\\n   continued\"",
    "\"é😀\"",
    "\"",
    "r\"raw\"",
    "r#\"a \"quoted\" b\"#",
    "r##\"{{input.goal}}\"##",
    "r#\"",
    "r#",
    // numbers, durations, multipliers
    "0",
    "42",
    "-1",
    "3.14",
    "1_000",
    "1e3",
    "2.5E-3",
    "99999999999999999999999",
    "1.",
    "30s",
    "500ms",
    "1.5s",
    "1h30m",
    "2d",
    "99999999999999999999d",
    "5x",
    "x1.5",
    "x2",
    "x",
    // comments
    "/// a doc\n",
    "///",
    "// a comment\n",
    "// to the end",
    "//! inner\n",
    "/* block */",
    "/* /* nested */ */",
    "/* unclosed",
    "*/",
    // multi-byte and odd characters
    "é",
    "→",
    "\u{feff}",
    "\u{0}",
    "\r\n",
    "\t",
    // pieces of statements
    "workflow A {",
    "task t by W {",
    "ok -> done;",
    "fail -> failed;",
    "on approved -> a max 3 else b;",
    "with { a: 1, b: [1, {}], \"k\": null }",
    "when a == 1 && !exists b.c || (d contains \"x\") -> e;",
    "else -> f;",
    "retry 2 backoff 1s x2 max 30s jitter;",
    "branch b by W;",
    "join 2;",
    "until a >= 0.5;",
    "succeed done output \"{{a.output}}\";",
    "input { goal: string, n: integer = 3 }",
];

const SEPARATORS: &[&str] = &[" ", " ", " ", "\n", "", "\t", "\r\n"];

fn token() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        2 => select(KEYWORDS),
        2 => select(PUNCTUATION),
        3 => select(OTHER_TOKENS),
    ]
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((token(), select(SEPARATORS)), 0..60).prop_map(|pieces| {
        pieces
            .into_iter()
            .flat_map(|(token, separator)| [token, separator])
            .collect()
    })
}

fn valid_fixtures() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the valid fixtures")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "orch"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .collect()
}

#[derive(Clone, Debug)]
enum Edit {
    Delete(Index, Index),
    Duplicate(Index, Index),
    Swap(Index, Index, Index),
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<Index>;
    prop_oneof![
        (at(), at()).prop_map(|(a, b)| Edit::Delete(a, b)),
        (at(), at()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
        (at(), at(), at()).prop_map(|(a, b, c)| Edit::Swap(a, b, c)),
        at().prop_map(Edit::Truncate),
    ]
}

/// Applies an edit to the bytes of a text; short ranges keep most of the structure.
fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let len = bytes.len() + 1;
    let range = |a: &Index, b: &Index| {
        let start = a.index(len);
        (start, (start + b.index(12) + 1).min(bytes.len()).max(start))
    };
    match edit {
        Edit::Delete(a, b) => {
            let (start, end) = range(a, b);
            bytes.drain(start.min(end)..end);
        }
        Edit::Duplicate(a, b) => {
            let (start, end) = range(a, b);
            let piece = bytes[start.min(end)..end].to_vec();
            bytes.splice(end..end, piece);
        }
        Edit::Swap(a, b, c) => {
            let (start, end) = range(a, b);
            let (start, end) = (start.min(end), end);
            let other = c.index(len).min(bytes.len());
            if other >= end {
                let piece: Vec<u8> = bytes.drain(start..end).collect();
                let at = other - piece.len();
                bytes.splice(at..at, piece);
            }
        }
        Edit::Truncate(a) => bytes.truncate(a.index(len)),
    }
}

fn assert_span_in(span: Span, source: &str, what: &str) {
    assert!(
        span.start() <= span.end() && span.end() <= source.len(),
        "{what} span {span:?} outside a text of {} bytes: {source:?}",
        source.len()
    );
    assert!(
        source.is_char_boundary(span.start()) && source.is_char_boundary(span.end()),
        "{what} span {span:?} not on character boundaries: {source:?}"
    );
}

fn assert_diagnostics_fit(diagnostics: &Diagnostics, source: &str) {
    assert!(!diagnostics.is_empty(), "an error without diagnostics");
    for diagnostic in diagnostics {
        assert_span_in(diagnostic.span, source, &diagnostic.to_string());
        for label in &diagnostic.secondary {
            assert_span_in(label.span, source, &label.message);
        }
    }
    let rendered = orch_dsl::render(diagnostics, "fuzz.orch", source);
    assert!(rendered.contains("error"), "{rendered}");
}

/// Every span of a syntax tree, as JSON, points inside the text on character boundaries.
fn assert_tree_spans_fit(value: &serde_json::Value, source: &str) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(span) = map.get("span") {
                let at = |key: &str| span[key].as_u64().expect("an offset") as usize;
                assert_span_in(Span::new(at("start"), at("end")), source, "syntax tree");
            }
            map.values().for_each(|v| assert_tree_spans_fit(v, source));
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| assert_tree_spans_fit(v, source))
        }
        _ => {}
    }
}

/// Parses and formats `source`: errors must fit the text; formatted text must parse back to
/// the same tree and format to itself.
fn check(source: &str) {
    match orch_dsl::parse(source) {
        Ok(file) => {
            assert_tree_spans_fit(&serde_json::to_value(&file).expect("serializes"), source);
            let formatted = orch_dsl::format(source).expect("parsed text formats");
            let reparsed = orch_dsl::parse(&formatted)
                .unwrap_or_else(|errors| panic!("{errors}\nin formatted text\n{formatted}"));
            assert_eq!(file.workflows.len(), reparsed.workflows.len());
            assert_eq!(file.comments.len(), reparsed.comments.len());
            let again = orch_dsl::format(&formatted).expect("formatted text formats");
            assert_eq!(again, formatted, "formatting is not idempotent");
        }
        Err(diagnostics) => {
            assert_diagnostics_fit(&diagnostics, source);
            let from_format = orch_dsl::format(source).expect_err("format fails like parse");
            assert_eq!(from_format, diagnostics);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn token_soups(source in token_soup()) {
        check(&source);
    }

    #[test]
    fn edited_fixtures(which in any::<Index>(), edits in prop::collection::vec(edit(), 1..5)) {
        let fixtures = valid_fixtures();
        prop_assume!(!fixtures.is_empty());
        let mut bytes = which.get(&fixtures).clone().into_bytes();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        check(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn every_token_alone_and_doubled() {
    let tokens = KEYWORDS.iter().chain(PUNCTUATION).chain(OTHER_TOKENS);
    for token in tokens {
        check(token);
        check(&format!("{token}{token}"));
        check(&format!("workflow A {{ {token} }}"));
        check(&format!("workflow A {{ task t by W {{ {token} }} }}"));
    }
}

#[test]
fn every_fixture_truncated_at_every_byte() {
    for fixture in valid_fixtures().iter().take(2) {
        let bytes = fixture.as_bytes();
        for end in 0..=bytes.len() {
            check(&String::from_utf8_lossy(&bytes[..end]));
        }
    }
}
