//! The pretty-printer behind `orch fmt`: canonical layout, comments kept, and text that parses
//! back to the same syntax tree.

mod ast_gen;

use orch_dsl::ast::File;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

/// A syntax tree as JSON without any `span`, so trees of different texts compare equal.
fn without_spans(file: &File) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("span");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(file).expect("a syntax tree serializes");
    strip(&mut value);
    value
}

fn parse(source: &str) -> File {
    orch_dsl::parse(source).unwrap_or_else(|errors| {
        panic!(
            "does not parse:\n{}\n{source}",
            orch_dsl::render(&errors, "source.orch", source)
        )
    })
}

fn format(source: &str) -> String {
    orch_dsl::format(source).unwrap_or_else(|errors| panic!("does not format: {errors}"))
}

fn comment_texts(file: &File) -> Vec<&str> {
    file.comments.iter().map(|c| c.text.as_str()).collect()
}

/// What every formatted text must satisfy: it parses to the same tree with the same comments
/// in the same order, and formatting it again changes nothing.
fn assert_formats_faithfully(source: &str) -> String {
    let formatted = format(source);
    let before = parse(source);
    let after = parse(&formatted);
    assert_eq!(without_spans(&before), without_spans(&after), "{formatted}");
    assert_eq!(comment_texts(&before), comment_texts(&after), "{formatted}");
    for comment in &before.comments {
        assert_eq!(
            formatted.matches(comment.text.as_str()).count(),
            source.matches(comment.text.as_str()).count(),
            "comment {:?} in\n{formatted}",
            comment.text
        );
    }
    assert_eq!(
        format(&formatted),
        formatted,
        "formatting is not idempotent"
    );
    formatted
}

#[test]
fn fixtures_format_canonically() {
    insta::glob!("fixtures/valid/*.orch", |path| {
        let source = std::fs::read_to_string(path).expect("a fixture");
        let formatted = assert_formats_faithfully(&source);
        insta::assert_snapshot!(formatted);
    });
}

fn workflow(body: &str) -> String {
    format!("workflow W {{\n{body}}}\n")
}

/// Formats the body of a workflow and returns the formatted body, unindented by one level.
fn format_body(body: &str) -> String {
    let formatted = assert_formats_faithfully(&workflow(body));
    formatted
        .strip_prefix("workflow W {\n")
        .and_then(|rest| rest.strip_suffix("}\n"))
        .unwrap_or_else(|| panic!("not one workflow:\n{formatted}"))
        .lines()
        .map(|line| line.strip_prefix("    ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

fn condition(text: &str) -> String {
    let body = format_body(&format!("choice c {{ when {text} -> d; }}\n"));
    body.strip_prefix("choice c {\n    when ")
        .and_then(|rest| rest.strip_suffix(" -> d;\n}"))
        .unwrap_or_else(|| panic!("unexpected layout:\n{body}"))
        .to_string()
}

#[test]
fn conditions_get_the_fewest_parentheses() {
    let cases = [
        ("a || b && c", "a || b && c"),
        ("(a || b) && c", "(a || b) && c"),
        ("((a && b)) || c", "a && b || c"),
        ("a || (b || c)", "a || (b || c)"),
        ("(a || b) || c", "a || b || c"),
        ("a && (b && c)", "a && (b && c)"),
        ("(a == b) == c", "(a == b) == c"),
        ("a == (b == c)", "a == (b == c)"),
        ("a < (b && c)", "a < (b && c)"),
        ("!(a)", "!a"),
        ("!(a == b)", "!(a == b)"),
        ("!a == b", "!a == b"),
        ("!(!(exists a.b))", "!!exists a.b"),
        ("(!a) && (b contains \"x\")", "!a && b contains \"x\""),
        (
            "x.y[0] >= -1.5 || (null != z)",
            "x.y[0] >= -1.5 || null != z",
        ),
    ];
    for (written, canonical) in cases {
        assert_eq!(condition(written), canonical, "for `{written}`");
    }
}

#[test]
fn strings_are_escaped_canonically() {
    let body =
        format_body(r#"worker A "tab\there \x41 \u{e9} \u{1} \u{7f} \0 \' \"q\" \\ \r\n é😀";"#);
    assert_eq!(
        body,
        r#"worker A "tab\there A é \u{1} \u{7f} \0 ' \"q\" \\ \r\n é😀";"#
    );
    let continued = format_body("worker A \"one \\\n      two\";\n");
    assert_eq!(continued, "worker A \"one two\";");
}

#[test]
fn templates_print_their_decoded_text() {
    let body =
        format_body("succeed s output \"{{ input.goal }} and \\\\{{ literal }} \\u{7b} {{x}}\";\n");
    assert_eq!(
        body,
        "succeed s output \"{{ input.goal }} and \\\\{{ literal }} { {{x}}\";"
    );
}

#[test]
fn raw_strings_stay_raw() {
    let body = format_body(
        "worker A r\"C:\\path\";\nsucceed s output r##\"say \"#hi\"# {{input.x}}\"##;\n",
    );
    assert_eq!(
        body,
        "worker A r\"C:\\path\";\nsucceed s output r##\"say \"#hi\"# {{input.x}}\"##;"
    );
}

#[test]
fn a_comment_ending_a_line_stays_there() {
    let body =
        format_body("task t by W { ok -> done;   // why\n fail -> failed; /* a */ /* b */\n}\n");
    assert_eq!(
        body,
        "task t by W {\n    ok -> done; // why\n    fail -> failed; /* a */ /* b */\n}"
    );
}

#[test]
fn print_puts_every_comment_on_its_own_line() {
    let source = workflow("start a; // why\n");
    let printed = orch_dsl::print(&parse(&source));
    assert_eq!(printed, "workflow W {\n    start a;\n    // why\n}\n");
}

#[test]
fn comments_inside_blocks_keep_their_place() {
    let body = format_body(
        "task t by W {\n\
         with { a: 1, // first\n b: [2, /* in a list */ 3] }\n\
         ok -> /* in a transition */ done;\n\
         // before the closing brace\n\
         }\n\
         choice c { when a && // in a condition\n b -> d; }\n",
    );
    assert_eq!(
        body,
        "task t by W {\n\
         \x20   with {\n\
         \x20       a: 1, // first\n\
         \x20       b: [\n\
         \x20           2, /* in a list */\n\
         \x20           3,\n\
         \x20       ],\n\
         \x20   }\n\
         \x20   /* in a transition */\n\
         \x20   ok -> done;\n\
         \x20   // before the closing brace\n\
         }\n\
         choice c {\n\
         \x20   // in a condition\n\
         \x20   when a && b -> d;\n\
         }"
    );
}

#[test]
fn comments_around_workflows_are_kept() {
    let source = "// first\n\n\n/// doc\n// between doc and workflow\nworkflow A {} // after A\n\
                  workflow B { /* inside B */ }\n// last";
    let formatted = assert_formats_faithfully(source);
    assert_eq!(
        formatted,
        "// first\n\n/// doc\n// between doc and workflow\nworkflow A {} // after A\n\n\
         workflow B {\n    /* inside B */\n}\n\n// last\n"
    );
}

#[test]
fn blank_lines_are_kept_but_not_doubled() {
    let body = format_body(
        "\n\n  worker A;\n\n\n\n  worker B;\n  worker C;\n\n  // about D\n\n  worker D;\n\n\n",
    );
    assert_eq!(
        body,
        "worker A;\n\nworker B;\nworker C;\n\n// about D\n\nworker D;"
    );
    let in_state = format_body("task t by W {\n\n  ok -> a;\n\n\n  fail -> b;\n\n}\n");
    assert_eq!(in_state, "task t by W {\n    ok -> a;\n\n    fail -> b;\n}");
}

#[test]
fn settings_print_in_a_fixed_order() {
    let body = format_body(
        "loop l by W as v { ok -> x; timeout 1m; retry 2 backoff 1s x1.5 max 1h jitter; \
         max 3 else y; until v.done; with {a: 1} }\n\
         parallel p { fail -> f; join 2; branch b by W {} branch c by W { timeout 5s; with {} } }\n\
         map m over a.list[-1] as i by W { ok -> n; limit 4; with { \"max-tokens\": 1 } }\n",
    );
    assert_eq!(
        body,
        "loop l by W as v {\n\
         \x20   with { a: 1 }\n\
         \x20   until v.done;\n\
         \x20   max 3 else y;\n\
         \x20   retry 2 backoff 1s x1.5 max 1h jitter;\n\
         \x20   timeout 1m;\n\
         \x20   ok -> x;\n\
         }\n\
         parallel p {\n\
         \x20   branch b by W;\n\
         \x20   branch c by W {\n\
         \x20       with {}\n\
         \x20       timeout 5s;\n\
         \x20   }\n\
         \x20   join 2;\n\
         \x20   fail -> f;\n\
         }\n\
         map m over a.list[-1] as i by W {\n\
         \x20   with { \"max-tokens\": 1 }\n\
         \x20   limit 4;\n\
         \x20   ok -> n;\n\
         }"
    );
}

#[test]
fn long_blocks_break_one_entry_per_line() {
    let long = "x".repeat(80);
    let body = format_body(&format!(
        "input {{ a: string, b: string = \"{long}\" }}\n\
         task t by W {{ with {{ short: [1, 2], long: {{ text: \"{long}\" }} }} }}\n"
    ));
    assert_eq!(
        body,
        format!(
            "input {{\n\
             \x20   a: string,\n\
             \x20   b: string = \"{long}\",\n\
             }}\n\
             task t by W {{\n\
             \x20   with {{\n\
             \x20       short: [1, 2],\n\
             \x20       long: {{\n\
             \x20           text: \"{long}\",\n\
             \x20       }},\n\
             \x20   }}\n\
             }}"
        )
    );
}

#[test]
fn format_reports_parse_errors() {
    let errors = orch_dsl::format("workflow A { start }").unwrap_err();
    assert!(errors.has_errors());
}

/// Spans of the strings, doc comments and comments of a parsed text: comments cannot go
/// inside them.
fn string_and_doc_spans(file: &File) -> Vec<(usize, usize)> {
    fn collect(value: &Value, in_docs: bool, out: &mut Vec<(usize, usize)>) {
        match value {
            Value::Object(map) => {
                let is_string =
                    map.contains_key("raw_hashes") || map.get("quoted") == Some(&Value::Bool(true));
                if let (true, Some(span)) = (is_string || in_docs, map.get("span")) {
                    let at = |key: &str| span[key].as_u64().expect("an offset") as usize;
                    // A doc runs to the end of its line: the line break belongs to it.
                    out.push((at("start"), at("end") + usize::from(in_docs)));
                }
                for (key, value) in map {
                    collect(value, key == "docs", out);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, in_docs, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    collect(
        &serde_json::to_value(file).expect("serializes"),
        false,
        &mut out,
    );
    out.extend(file.comments.iter().map(|comment| {
        let line = usize::from(comment.text.starts_with("//"));
        (comment.span.start(), comment.span.end() + line)
    }));
    out
}

/// Puts each comment at one of the spaces or line breaks of `text` outside strings and docs.
fn insert_comments(text: &str, comments: &[(Index, &str)]) -> String {
    let file = parse(text);
    let forbidden = string_and_doc_spans(&file);
    let places: Vec<usize> = text
        .char_indices()
        .filter(|&(i, c)| {
            (c == ' ' || c == '\n') && !forbidden.iter().any(|&(s, e)| s <= i && i < e)
        })
        .map(|(i, _)| i)
        .collect();
    if places.is_empty() {
        return text.to_string();
    }
    let mut chosen: Vec<(usize, &str)> = comments
        .iter()
        .map(|(index, comment)| (*index.get(&places), *comment))
        .collect();
    chosen.sort_by_key(|&(at, _)| std::cmp::Reverse(at));
    let mut out = text.to_string();
    for (at, comment) in chosen {
        let piece = if comment.starts_with("//") {
            format!(" {comment}\n")
        } else {
            format!(" {comment} ")
        };
        out.insert_str(at, &piece);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The oracle for the printer: any tree the parser could produce prints to text that parses
    /// back to the same tree.
    #[test]
    fn printed_trees_parse_back(file in ast_gen::file()) {
        let printed = orch_dsl::print(&file);
        let parsed = orch_dsl::parse(&printed).map_err(|errors| {
            TestCaseError::fail(orch_dsl::render(&errors, "printed.orch", &printed))
        })?;
        prop_assert_eq!(without_spans(&file), without_spans(&parsed), "{}", printed);
        prop_assert_eq!(orch_dsl::print(&parsed), printed.clone());
        prop_assert_eq!(format(&printed), printed);
    }

    /// Comments anywhere between tokens survive formatting, once each and in order, without
    /// changing the tree; and formatting is idempotent.
    #[test]
    fn comments_survive_formatting(
        file in ast_gen::file(),
        comments in prop::collection::vec((any::<Index>(), ast_gen::comment_text()), 1..6),
    ) {
        let printed = orch_dsl::print(&file);
        let source = insert_comments(&printed, &comments);
        let formatted = orch_dsl::format(&source).map_err(|errors| {
            TestCaseError::fail(orch_dsl::render(&errors, "commented.orch", &source))
        })?;
        let before = parse(&source);
        let after = parse(&formatted);
        prop_assert_eq!(without_spans(&before), without_spans(&after), "{}", formatted);
        prop_assert_eq!(comment_texts(&before), comment_texts(&after));
        prop_assert_eq!(format(&formatted), formatted);
    }
}

#[test]
fn generated_names_are_not_reserved() {
    for name in ast_gen::NAMES {
        assert!(!orch_dsl::RESERVED_WORDS.contains(name), "{name}");
    }
}
