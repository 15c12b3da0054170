//! Parsing the fixture corpus.
//!
//! Every file in `tests/fixtures/valid` parses without a diagnostic and builds the tree its
//! constructs call for. Every file in `tests/fixtures/invalid` names the code it must produce on
//! its first line (`// E0004: …`); it fails with that code, its spans are sound, and its rendered
//! errors are snapshot-tested, so a change to a message shows up in review.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use orch_dsl::ast::*;
use orch_dsl::{Code, Diagnostic, Diagnostics};
use serde_json::Value as Json;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn fixture_dir(kind: &str) -> PathBuf {
    FsPath::new(env!("CARGO_MANIFEST_DIR"))
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

fn file_name(path: &FsPath) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

/// Reads and parses a valid fixture, failing with the rendered errors if it does not parse.
fn valid(name: &str) -> (String, File) {
    let path = fixture_dir("valid").join(name);
    let source = fs::read_to_string(&path).unwrap();
    match orch_dsl::parse(&source) {
        Ok(file) => (source, file),
        Err(errors) => panic!("{}", orch_dsl::render(&errors, name, &source)),
    }
}

fn invalid(name: &str) -> (String, Diagnostics) {
    let path = fixture_dir("invalid").join(name);
    let source = fs::read_to_string(&path).unwrap();
    match orch_dsl::parse(&source) {
        Ok(_) => panic!("{name} parsed without errors"),
        Err(errors) => (source, errors),
    }
}

fn workflow<'a>(file: &'a File, name: &str) -> &'a Workflow {
    file.workflows
        .iter()
        .find(|w| w.name.name == name)
        .unwrap_or_else(|| panic!("no workflow `{name}`"))
}

fn state<'a>(workflow: &'a Workflow, name: &str) -> &'a State {
    workflow
        .states()
        .find(|s| s.name.name == name)
        .unwrap_or_else(|| panic!("no state `{name}` in `{}`", workflow.name))
}

fn task<'a>(workflow: &'a Workflow, name: &str) -> &'a Task {
    match &state(workflow, name).kind {
        StateKind::Task(task) => task,
        other => panic!("`{name}` is a `{}`", other.keyword()),
    }
}

fn parallel<'a>(workflow: &'a Workflow, name: &str) -> &'a Parallel {
    match &state(workflow, name).kind {
        StateKind::Parallel(parallel) => parallel,
        other => panic!("`{name}` is a `{}`", other.keyword()),
    }
}

fn branch<'a>(parallel: &'a Parallel, name: &str) -> &'a Branch {
    parallel
        .branches
        .iter()
        .find(|b| b.name.name == name)
        .unwrap_or_else(|| panic!("no branch `{name}`"))
}

fn choice<'a>(workflow: &'a Workflow, name: &str) -> &'a Choice {
    match &state(workflow, name).kind {
        StateKind::Choice(choice) => choice,
        other => panic!("`{name}` is a `{}`", other.keyword()),
    }
}

fn entry<'a>(with: &'a With, key: &str) -> &'a Value {
    &with
        .entries
        .iter()
        .find(|e| e.key.name == key)
        .unwrap_or_else(|| panic!("no key `{key}`"))
        .value
}

fn template(value: &Value) -> &Template {
    match value {
        Value::Template(template) => template,
        other => panic!("not a template: {other:?}"),
    }
}

fn text(source: &str, span: Span) -> &str {
    &source[span.start()..span.end()]
}

/// A template's text part: its value, and the source its span covers.
fn text_part<'a>(source: &'a str, part: &'a TemplatePart) -> (&'a str, &'a str) {
    match part {
        TemplatePart::Text { value, span } => (value, text(source, *span)),
        other => panic!("not a text part: {other:?}"),
    }
}

/// A path as written (`plan.output.tasks[0]`).
fn path_text(path: &Path) -> String {
    path.to_string()
}

fn secs(duration: &DurationLit) -> Duration {
    duration.value
}

/// Every span in `node` (any object with a `span` field, and `start`/`end` pairs under it).
fn spans(node: &Json, out: &mut Vec<(usize, usize)>) {
    match node {
        Json::Object(map) => {
            if let (Some(start), Some(end)) = (map.get("start"), map.get("end"))
                && let (Some(start), Some(end)) = (start.as_u64(), end.as_u64())
            {
                out.push((start as usize, end as usize));
            }
            map.values().for_each(|v| spans(v, out));
        }
        Json::Array(items) => items.iter().for_each(|v| spans(v, out)),
        _ => {}
    }
}

/// Every `{ name, span }` object (an identifier) in `node`.
fn idents<'a>(node: &'a Json, out: &mut Vec<(&'a str, usize, usize)>) {
    match node {
        Json::Object(map) => {
            if map.len() == 2
                && let (Some(Json::String(name)), Some(span)) = (map.get("name"), map.get("span"))
            {
                let start = span["start"].as_u64().unwrap() as usize;
                let end = span["end"].as_u64().unwrap() as usize;
                out.push((name, start, end));
            }
            map.values().for_each(|v| idents(v, out));
        }
        Json::Array(items) => items.iter().for_each(|v| idents(v, out)),
        _ => {}
    }
}

/// Every value of a tag field (`kind`, `item`, `event`, `type`, `op`, `ty`) in `node`.
fn tags(node: &Json, out: &mut BTreeSet<String>) {
    match node {
        Json::Object(map) => {
            for (key, value) in map {
                if let Json::String(tag) = value
                    && ["kind", "item", "event", "type", "op", "ty"].contains(&key.as_str())
                {
                    out.insert(format!("{key}:{tag}"));
                }
                tags(value, out);
            }
        }
        Json::Array(items) => items.iter().for_each(|v| tags(v, out)),
        _ => {}
    }
}

fn assert_span_sound(source: &str, start: usize, end: usize, what: &str) {
    assert!(
        start <= end && end <= source.len(),
        "{what}: span {start}..{end} outside a text of {} bytes",
        source.len()
    );
    assert!(
        source.is_char_boundary(start) && source.is_char_boundary(end),
        "{what}: span {start}..{end} not on character boundaries"
    );
}

// ---------------------------------------------------------------------------------------------
// Valid fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn valid_fixtures_parse_without_diagnostics() {
    let paths = fixtures("valid");
    assert!(
        paths.len() >= 9,
        "expected the whole corpus, found {paths:?}"
    );
    for path in paths {
        let source = fs::read_to_string(&path).unwrap();
        let name = file_name(&path);
        match orch_dsl::parse(&source) {
            Ok(file) => assert!(!file.workflows.is_empty(), "{name} has no workflow"),
            Err(errors) => panic!("{}", orch_dsl::render(&errors, name, &source)),
        }
    }
}

#[test]
fn valid_fixtures_have_sound_spans_and_names() {
    let mut texts = 0;
    for path in fixtures("valid") {
        let name = file_name(&path);
        let (source, file) = valid(name);
        let json = serde_json::to_value(&file).unwrap();
        let mut all = Vec::new();
        spans(&json, &mut all);
        assert!(!all.is_empty());
        for (start, end) in all {
            assert_span_sound(&source, start, end, name);
        }
        let mut names = Vec::new();
        idents(&json, &mut names);
        assert!(!names.is_empty());
        for (ident, start, end) in names {
            assert_eq!(&source[start..end], ident, "{name}: identifier span");
        }
        texts += check_templates(&source, &json, name);
    }
    assert!(texts > 0, "no template has a text part");
}

/// The parts of every template in `node` (an object with `lit` and `parts`) lie in order inside
/// the literal's quotes, and each text part covers its text as written: the value itself in a
/// raw string (with `{{` written `\{{`) or a plain string without escapes. Returns the number
/// of text parts.
fn check_templates(source: &str, node: &Json, what: &str) -> usize {
    let span = |span: &Json| {
        let at = |key: &str| span[key].as_u64().expect("an offset") as usize;
        (at("start"), at("end"))
    };
    match node {
        Json::Object(map) => {
            let mut texts = 0;
            if let (Some(lit), Some(Json::Array(parts))) = (map.get("lit"), map.get("parts")) {
                let (lit_start, lit_end) = span(&lit["span"]);
                let raw = !lit["raw_hashes"].is_null();
                let mut at = lit_start + 1;
                for part in parts {
                    let (kind, body) = part
                        .as_object()
                        .and_then(|part| part.iter().next())
                        .expect("a template part is tagged");
                    let (start, end) = span(&body["span"]);
                    assert!(
                        at <= start && start <= end && end < lit_end,
                        "{what}: {kind} part {start}..{end} out of place in {lit_start}..{lit_end}"
                    );
                    at = end;
                    if kind != "text" {
                        continue;
                    }
                    texts += 1;
                    let value = body["value"].as_str().expect("a text part's value");
                    let written = &source[start..end];
                    assert!(!written.is_empty(), "{what}: empty text part at {start}");
                    if raw {
                        assert_eq!(written.replace("\\{{", "{{"), value, "{what}: raw text");
                    } else if !written.contains('\\') {
                        assert_eq!(written, value, "{what}: text part");
                    }
                }
            }
            texts
                + map
                    .values()
                    .map(|v| check_templates(source, v, what))
                    .sum::<usize>()
        }
        Json::Array(items) => items.iter().map(|v| check_templates(source, v, what)).sum(),
        _ => 0,
    }
}

/// The corpus as a whole uses every kind of item, state, event, value, operator and type.
#[test]
fn valid_fixtures_cover_every_construct() {
    let mut seen = BTreeSet::new();
    let mut text = String::new();
    for path in fixtures("valid") {
        let (source, file) = valid(file_name(&path));
        tags(&serde_json::to_value(&file).unwrap(), &mut seen);
        text.push_str(&source);
    }
    let expected = [
        "item:input",
        "item:worker",
        "item:signal",
        "item:start",
        "item:timeout",
        "item:max_steps",
        "item:default_fail",
        "item:state",
        "kind:task",
        "kind:choice",
        "kind:parallel",
        "kind:map",
        "kind:loop",
        "kind:wait",
        "kind:call",
        "kind:succeed",
        "kind:fail",
        "kind:all",
        "kind:any",
        "event:ok",
        "event:fail",
        "event:timeout",
        "event:outcome",
        "type:template",
        "type:number",
        "type:bool",
        "type:null",
        "type:list",
        "type:object",
        "type:path",
        "kind:str",
        "type:binary",
        "type:not",
        "type:exists",
        "op:or",
        "op:and",
        "op:eq",
        "op:ne",
        "op:lt",
        "op:le",
        "op:gt",
        "op:ge",
        "op:contains",
        "ty:string",
        "ty:number",
        "ty:integer",
        "ty:bool",
        "ty:list",
        "ty:object",
        "ty:any",
    ];
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|tag| !seen.contains(*tag))
        .collect();
    assert!(missing.is_empty(), "no valid fixture uses {missing:?}");
    for written in [
        "join 2;",
        "r#\"",
        "r\"",
        "\\\\{{",
        "\"max-tokens\"",
        "[-1]",
        "jitter;",
        "/* ",
        "1h30m",
        "500ms",
        "2d;",
        " x1.5 ",
    ] {
        assert!(
            text.contains(written),
            "no valid fixture contains `{written}`"
        );
    }
}

#[test]
fn seed_scenarios_have_the_expected_states() {
    let expected: &[(&str, &str, &[&str])] = &[
        (
            "pipeline.orch",
            "Pipeline",
            &["analyze", "design", "implement", "test", "deploy"],
        ),
        (
            "content_pipeline.orch",
            "ContentPipeline",
            &["research", "draft", "reviews", "revise"],
        ),
        (
            "math_solver.orch",
            "MathSolver",
            &["classify", "route", "simple", "complex"],
        ),
        (
            "refinement_loop.orch",
            "Refinement",
            &["refine", "done", "failed"],
        ),
        (
            "map_reduce.orch",
            "MapReduceResearch",
            &["plan", "research", "synthesize"],
        ),
        (
            "human_approval.orch",
            "HumanApproval",
            &["draft", "approval", "escalate", "execute"],
        ),
        ("sub_workflow.orch", "Report", &["research", "write"]),
        ("sub_workflow.orch", "Research", &["search", "summarize"]),
        (
            "build_website.orch",
            "BuildWebsite",
            &["specs", "code", "review"],
        ),
    ];
    for (file_name, workflow_name, states) in expected {
        let (_, file) = valid(file_name);
        let workflow = workflow(&file, workflow_name);
        for name in *states {
            state(workflow, name);
        }
        assert_eq!(workflow.starts().count(), 1, "{workflow_name}: one `start`");
    }
}

#[test]
fn workflow_items_keep_their_order_and_settings() {
    let (_, file) = valid("kitchen_sink.orch");
    assert_eq!(file.workflows.len(), 2);
    let sink = workflow(&file, "KitchenSink");
    let kinds: Vec<&str> = sink
        .items
        .iter()
        .take(12)
        .map(|item| match item {
            Item::Input(_) => "input",
            Item::Worker(_) => "worker",
            Item::Signal(_) => "signal",
            Item::Start(_) => "start",
            Item::Timeout(_) => "timeout",
            Item::MaxSteps(_) => "max_steps",
            Item::DefaultFail(_) => "on fail",
            Item::State(_) => "state",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "input",
            "worker",
            "worker",
            "worker",
            "worker",
            "worker",
            "worker",
            "signal",
            "timeout",
            "max_steps",
            "on fail",
            "start"
        ]
    );
    assert_eq!(
        sink.run_timeout().unwrap().value,
        Duration::from_secs(2 * 86_400)
    );
    assert_eq!(sink.run_timeout().unwrap().text, "2d");
    assert_eq!(sink.max_steps().unwrap().value, 500);
    assert_eq!(sink.default_fail().unwrap().name, "failed");
    assert_eq!(sink.starts().next().unwrap().state.name, "plan");
    let states: Vec<&str> = sink.states().map(|s| s.name.as_str()).collect();
    assert_eq!(states.first(), Some(&"plan"));
    assert_eq!(states.last(), Some(&"failed"));

    let editor = sink.workers().find(|w| w.name.name == "Editor").unwrap();
    assert_eq!(editor.description.as_ref().unwrap().value, "reviews text");
    let checker = sink.workers().find(|w| w.name.name == "Checker").unwrap();
    assert!(checker.description.is_none());
    let signal = sink.signals().next().unwrap();
    assert_eq!(signal.name.name, "Approve");
    assert_eq!(
        signal.description.as_ref().unwrap().value,
        "a person approves the draft"
    );
}

#[test]
fn input_fields_have_types_and_defaults() {
    let (source, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let fields: Vec<&InputField> = sink.input_fields().collect();
    let types: Vec<(&str, ValueType)> = fields.iter().map(|f| (f.name.as_str(), f.ty.ty)).collect();
    assert_eq!(
        types,
        [
            ("goal", ValueType::String),
            ("depth", ValueType::Integer),
            ("ratio", ValueType::Number),
            ("offset", ValueType::Number),
            ("strict", ValueType::Bool),
            ("tags", ValueType::List),
            ("options", ValueType::Object),
            ("extra", ValueType::Any),
            ("label", ValueType::String),
            ("size", ValueType::Number),
        ]
    );
    let field = |name: &str| *fields.iter().find(|f| f.name.name == name).unwrap();
    assert!(field("goal").default.is_none());
    assert_eq!(text(&source, field("depth").ty.span), "integer");
    match &field("depth").default {
        Some(Literal::Number(n)) => assert_eq!((n.value, n.text.as_str()), (3.0, "3")),
        other => panic!("depth default: {other:?}"),
    }
    match &field("offset").default {
        Some(Literal::Number(n)) => assert_eq!(n.value, -2.5),
        other => panic!("offset default: {other:?}"),
    }
    match &field("size").default {
        Some(Literal::Number(n)) => assert_eq!((n.value, n.text.as_str()), (1000.0, "1e3")),
        other => panic!("size default: {other:?}"),
    }
    assert!(matches!(
        field("strict").default,
        Some(Literal::Bool { value: false, .. })
    ));
    assert!(matches!(field("extra").default, Some(Literal::Null { .. })));
    match &field("label").default {
        Some(Literal::Str(s)) => assert_eq!(s.value, "the \"default\"\tlabel é"),
        other => panic!("label default: {other:?}"),
    }
}

#[test]
fn retry_settings_and_backoff() {
    let (_, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");

    let plain = task(sink, "plan").retry.as_ref().unwrap();
    assert_eq!(plain.retries.value, 3);
    assert!(plain.backoff.is_none());

    let reviews = parallel(sink, "reviews_all");
    let simple = branch(reviews, "clarity").retry.as_ref().unwrap();
    assert_eq!(simple.retries.value, 3);
    let backoff = simple.backoff.as_ref().unwrap();
    assert_eq!(backoff.initial.value, Duration::from_millis(500));
    assert!(backoff.multiplier.is_none() && backoff.max.is_none() && !backoff.jitter);

    let StateKind::Map(map) = &state(sink, "research").kind else {
        panic!("`research` is not a map");
    };
    let full = map.retry.as_ref().unwrap();
    assert_eq!(full.retries.value, 2);
    let backoff = full.backoff.as_ref().unwrap();
    assert_eq!(backoff.initial.value, Duration::from_secs(1));
    let multiplier = backoff.multiplier.as_ref().unwrap();
    assert_eq!((multiplier.value, multiplier.text.as_str()), (1.5, "x1.5"));
    assert_eq!(backoff.max.as_ref().unwrap().value, Duration::from_secs(30));
    assert!(backoff.jitter);

    let quick = parallel(sink, "reviews_any");
    let jitter_only = branch(quick, "quick").retry.as_ref().unwrap();
    let backoff = jitter_only.backoff.as_ref().unwrap();
    assert_eq!(backoff.initial.value, Duration::from_millis(1500));
    assert!(backoff.jitter && backoff.max.is_none() && backoff.multiplier.is_none());
    let capped = branch(quick, "slow").retry.as_ref().unwrap();
    let backoff = capped.backoff.as_ref().unwrap();
    assert_eq!(backoff.max.as_ref().unwrap().value, Duration::from_secs(10));
    assert!(backoff.multiplier.is_none() && !backoff.jitter);
}

#[test]
fn durations_have_their_values() {
    let (source, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let timeout = |name: &str| state(sink, name).kind.timeout().unwrap().duration.clone();
    let cases = [
        ("research", "1h30m", Duration::from_secs(5400)),
        ("approval", "24h", Duration::from_secs(86_400)),
        ("plan", "5m", Duration::from_secs(300)),
        ("publish", "2h", Duration::from_secs(7200)),
    ];
    for (name, written, value) in cases {
        let duration = timeout(name);
        assert_eq!(duration.text, written);
        assert_eq!(text(&source, duration.span), written);
        assert_eq!(secs(&duration), value, "{name}");
    }
    let clarity = branch(parallel(sink, "reviews_all"), "clarity");
    assert_eq!(
        clarity.timeout.as_ref().unwrap().duration.value,
        Duration::from_secs(30)
    );
    assert_eq!(
        parallel(sink, "reviews_all")
            .timeout
            .as_ref()
            .unwrap()
            .duration
            .value,
        Duration::from_secs(300)
    );
}

#[test]
fn with_values_of_every_kind() {
    let (source, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let with = task(sink, "plan").with.as_ref().unwrap();

    assert!(matches!(entry(with, "goal"), Value::Template(_)));
    match entry(with, "depth") {
        Value::Path(path) => assert_eq!(path_text(path), "input.depth"),
        other => panic!("depth: {other:?}"),
    }
    let number = |key: &str| match entry(with, key) {
        Value::Number(n) => (n.value, n.text.clone()),
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!(number("temperature"), (0.7, "0.7".into()));
    assert_eq!(number("offset"), (-1.0, "-1".into()));
    assert_eq!(number("big"), (1000.0, "1_000".into()));
    assert_eq!(number("tiny"), (0.0025, "2.5e-3".into()));
    assert!(matches!(
        entry(with, "verbose"),
        Value::Bool { value: true, .. }
    ));
    assert!(matches!(
        entry(with, "quiet"),
        Value::Bool { value: false, .. }
    ));
    assert!(matches!(entry(with, "previous"), Value::Null { .. }));

    let Value::List { items, .. } = entry(with, "list") else {
        panic!("list is not a list");
    };
    let kinds: Vec<&str> = items
        .iter()
        .map(|v| match v {
            Value::Template(_) => "template",
            Value::Number(_) => "number",
            Value::Bool { .. } => "bool",
            Value::Null { .. } => "null",
            Value::List { .. } => "list",
            Value::Object { .. } => "object",
            Value::Path(_) => "path",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "template", "number", "number", "bool", "null", "list", "object", "path"
        ]
    );

    let Value::Object { entries, .. } = entry(with, "limits") else {
        panic!("limits is not an object");
    };
    assert_eq!(entries[0].key.name, "max-tokens");
    assert!(entries[0].key.quoted);
    assert_eq!(text(&source, entries[0].key.span), "\"max-tokens\"");
    assert!(!entries[1].key.quoted);
    let Value::Object {
        entries: nested, ..
    } = &entries[1].value
    else {
        panic!("limits.nested is not an object");
    };
    assert_eq!(nested.len(), 2);
    assert!(matches!(&nested[0].value, Value::List { items, .. } if items.len() == 3));

    let quoted = with
        .entries
        .iter()
        .find(|e| e.key.name == "max-tokens")
        .unwrap();
    assert!(quoted.key.quoted);

    let StateKind::Map(map) = &state(sink, "research").kind else {
        panic!("`research` is not a map");
    };
    let with = map.with.as_ref().unwrap();
    for (key, written, index) in [
        ("first", "plan.output.tasks[0]", 0),
        ("last", "plan.output.tasks[-1]", -1),
    ] {
        let Value::Path(path) = entry(with, key) else {
            panic!("{key} is not a path");
        };
        assert_eq!(path_text(path), written);
        assert_eq!(text(&source, path.span), written);
        assert_eq!(path.root.name, "plan");
        match path.segments.last().unwrap() {
            Segment::Index { index: i, span } => {
                assert_eq!(*i, index);
                assert_eq!(text(&source, *span), index.to_string());
            }
            other => panic!("{key}: last segment {other:?}"),
        }
    }
    match entry(with, "review") {
        Value::Path(path) => assert_eq!(path_text(path), "reviews_all.clarity.output"),
        other => panic!("review: {other:?}"),
    }
}

#[test]
fn template_placeholders_point_into_the_source() {
    let (source, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let with = task(sink, "plan").with.as_ref().unwrap();
    for key in ["goal", "spaced", "raw", "escapes", "braces", "unicode"] {
        let template = template(entry(with, key));
        let paths: Vec<&Path> = template.paths().collect();
        assert_eq!(paths.len(), 1, "{key}: one placeholder");
        let path = paths[0];
        let written = path_text(path);
        assert!(written.starts_with("input."), "{key}: {written}");
        assert_eq!(text(&source, path.span), written, "{key}: path span");
        assert_eq!(text(&source, path.root.span), "input", "{key}: root span");
        match &path.segments[0] {
            Segment::Field(field) => assert_eq!(text(&source, field.span), field.name),
            other => panic!("{key}: {other:?}"),
        }
    }
    // Escapes earlier in the string do not shift the placeholder's span.
    let escapes = template(entry(with, "escapes"));
    assert_eq!(
        text_part(&source, &escapes.parts[0]),
        (
            "tab\t quote\" backslash\\ é😀 A\0 'single' \r\n for ",
            r#"tab\t quote\" backslash\\ \u{e9}\u{1F600} \x41\0 \'single\' \r\n for "#
        )
    );
    assert!(escapes.lit.raw_hashes.is_none());

    let braces = template(entry(with, "braces"));
    assert_eq!(
        text_part(&source, &braces.parts[0]),
        (
            "literal {{ not a placeholder }} then ",
            r"literal \\{{ not a placeholder }} then "
        )
    );
    assert_eq!(
        braces.lit.value,
        "literal \\{{ not a placeholder }} then {{input.goal}}"
    );

    let raw = template(entry(with, "raw"));
    assert_eq!(raw.lit.raw_hashes, Some(1));
    assert_eq!(raw.parts.len(), 3);
    assert_eq!(
        text_part(&source, &raw.parts[0]),
        ("He said \"hi\" about ", "He said \"hi\" about ")
    );
    assert_eq!(
        raw.parts[1],
        TemplatePart::Placeholder(raw.paths().next().unwrap().clone())
    );
    assert_eq!(
        text_part(&source, &raw.parts[2]),
        ("; {{kept}} as written", r"; \{{kept}} as written")
    );
    assert!(text(&source, raw.lit.span).starts_with("r#\""));

    let plain_raw = template(entry(with, "raw_plain"));
    assert_eq!(plain_raw.lit.raw_hashes, Some(0));
    assert_eq!(plain_raw.lit.value, "C:\\path\\no\\escapes");
    assert_eq!(plain_raw.paths().count(), 0);

    let continued = template(entry(with, "continued"));
    assert_eq!(continued.lit.value, "one line continued");
    let [part] = continued.parts.as_slice() else {
        panic!("`continued` is one text part: {:?}", continued.parts);
    };
    let (value, written) = text_part(&source, part);
    assert_eq!(value, "one line continued");
    assert!(
        written.starts_with("one line \\\n") && written.ends_with(" continued"),
        "{written:?}"
    );
    assert_eq!(text(&source, continued.lit.span), format!("\"{written}\""));

    let unicode = template(entry(with, "unicode"));
    assert_eq!(unicode.paths().next().unwrap().to_string(), "input.label");
    assert_eq!(
        text_part(&source, &unicode.parts[0]),
        ("naïve café → ", "naïve café → ")
    );

    // Placeholders in a terminal's output and in a loop variable's template.
    let (source, file) = valid("refinement_loop.orch");
    let refinement = workflow(&file, "Refinement");
    let StateKind::Loop(refine) = &state(refinement, "refine").kind else {
        panic!("`refine` is not a loop");
    };
    let previous = template(entry(refine.with.as_ref().unwrap(), "previous"));
    let path = previous.paths().next().unwrap();
    assert_eq!(text(&source, path.span), "round.previous");
}

#[test]
fn conditions_build_trees_with_precedence() {
    let (source, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let route = choice(sink, "route");
    assert_eq!(route.arms.len(), 6);
    assert_eq!(
        route.otherwise.as_ref().unwrap().target.state.name,
        "reviews_all"
    );

    /// A compact rendering of a condition's shape.
    fn shape(expr: &Expr) -> String {
        match expr {
            Expr::Binary { op, lhs, rhs, .. } => {
                format!("({} {} {})", shape(lhs), op.as_str(), shape(rhs))
            }
            Expr::Not { expr, .. } => format!("!{}", shape(expr)),
            Expr::Exists { path, .. } => format!("exists {path}"),
            Expr::Literal(Literal::Str(s)) => format!("{:?}", s.value),
            Expr::Literal(Literal::Number(n)) => n.text.to_string(),
            Expr::Literal(Literal::Bool { value, .. }) => value.to_string(),
            Expr::Literal(Literal::Null { .. }) => "null".to_string(),
            Expr::Path(path) => path.to_string(),
        }
    }
    let shapes: Vec<String> = route.arms.iter().map(|arm| shape(&arm.condition)).collect();
    assert_eq!(
        shapes,
        [
            "(plan.output.count == 0)",
            "((plan.output.count < 0) || ((plan.output.mode != \"normal\") && !exists plan.output.tasks))",
            "(((plan.output.score <= 0.25) || (plan.output.score > 1.5)) && (input.strict == true))",
            "(plan.output.labels contains \"blocked\")",
            "(!(plan.output.count >= input.depth) && (plan.output.note != null))",
            "(!!exists plan.output.error || (plan.output.delta > -1))",
        ]
    );
    // Spans cover what was written, parentheses aside.
    let arm = &route.arms[1];
    assert_eq!(
        text(&source, arm.condition.span()),
        "plan.output.count < 0 || plan.output.mode != \"normal\" && !exists plan.output.tasks"
    );
    assert_eq!(arm.condition.paths().len(), 3);

    let StateKind::Loop(refine) = &state(sink, "refine").kind else {
        panic!("`refine` is not a loop");
    };
    assert_eq!(
        shape(refine.until.as_ref().unwrap()),
        "((refine.output.score >= 0.9) && !(refine.output.issues contains \"blocker\"))"
    );
}

#[test]
fn parallel_joins_and_branches() {
    let (source, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let join = |name: &str| parallel(sink, name).join.as_ref().unwrap().kind.clone();
    assert_eq!(join("reviews_all"), JoinKind::All);
    assert_eq!(join("reviews_any"), JoinKind::Any);
    match join("reviews_two") {
        JoinKind::Count(count) => {
            assert_eq!(count.value, 2);
            assert_eq!(text(&source, count.span), "2");
        }
        other => panic!("reviews_two joins {other:?}"),
    }

    let reviews = parallel(sink, "reviews_all");
    let names: Vec<&str> = reviews.branches.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["clarity", "accuracy", "style"]);
    let clarity = branch(reviews, "clarity");
    assert_eq!(clarity.worker.name, "Editor");
    assert_eq!(clarity.docs[0].text, " Is the plan clear?");
    assert!(clarity.with.is_some() && clarity.retry.is_some() && clarity.timeout.is_some());
    for bare in ["accuracy", "style"] {
        let bare = branch(reviews, bare);
        assert!(bare.with.is_none() && bare.retry.is_none() && bare.timeout.is_none());
        assert!(bare.docs.is_empty());
    }
    assert_eq!(
        text(&source, branch(reviews, "accuracy").span),
        "branch accuracy by Checker;"
    );
    let third = branch(parallel(sink, "reviews_two"), "third");
    assert!(matches!(
        entry(third.with.as_ref().unwrap(), "strict"),
        Value::Path(_)
    ));

    let (_, file) = valid("content_pipeline.orch");
    let content = workflow(&file, "ContentPipeline");
    let reviews = parallel(content, "reviews");
    assert_eq!(reviews.branches.len(), 2);
    assert!(reviews.branches.iter().all(|b| b.worker.name == "Editor"));
    assert_eq!(reviews.join.as_ref().unwrap().kind, JoinKind::All);
}

#[test]
fn loops_and_maps() {
    let (source, file) = valid("refinement_loop.orch");
    let refinement = workflow(&file, "Refinement");
    let StateKind::Loop(refine) = &state(refinement, "refine").kind else {
        panic!("`refine` is not a loop");
    };
    assert_eq!(refine.var.as_ref().unwrap().name, "round");
    assert_eq!(text(&source, refine.var.as_ref().unwrap().span), "round");
    let max = refine.max.as_ref().unwrap();
    assert_eq!(max.count.value, 5);
    assert!(max.otherwise.is_none());
    match refine.until.as_deref().unwrap() {
        Expr::Binary {
            op: BinOp::Ge,
            lhs,
            rhs,
            ..
        } => {
            assert!(matches!(&**lhs, Expr::Path(p) if p.to_string() == "refine.output.score"));
            assert!(matches!(&**rhs, Expr::Literal(Literal::Number(n)) if n.value == 0.8));
        }
        other => panic!("until: {other:?}"),
    }
    match entry(refine.with.as_ref().unwrap(), "round") {
        Value::Path(path) => assert_eq!(path.to_string(), "round.index"),
        other => panic!("round: {other:?}"),
    }

    let (_, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let StateKind::Loop(refine) = &state(sink, "refine").kind else {
        panic!("`refine` is not a loop");
    };
    assert!(refine.var.is_none());
    let max = refine.max.as_ref().unwrap();
    assert_eq!(max.count.value, 3);
    assert_eq!(max.otherwise.as_ref().unwrap().name, "gave_up");

    let (source, file) = valid("map_reduce.orch");
    let research = workflow(&file, "MapReduceResearch");
    let StateKind::Map(map) = &state(research, "research").kind else {
        panic!("`research` is not a map");
    };
    assert_eq!(map.over.to_string(), "plan.output.topics");
    assert_eq!(text(&source, map.over.span), "plan.output.topics");
    assert_eq!(map.over.root.name, "plan");
    assert_eq!(map.over.segments.len(), 2);
    assert_eq!(map.item.name, "topic");
    assert_eq!(map.worker.name, "Researcher");
    assert_eq!(map.limit.as_ref().unwrap().value, 4);
    let topic = template(entry(map.with.as_ref().unwrap(), "topic"));
    let path = topic.paths().next().unwrap();
    assert!(path.segments.is_empty());
    assert_eq!(text(&source, path.span), "topic");
}

#[test]
fn transitions_events_and_bounds() {
    let (source, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let events: Vec<String> = state(sink, "approval")
        .kind
        .transitions()
        .iter()
        .map(|t| t.event.to_string())
        .collect();
    assert_eq!(events, ["ok", "on rejected", "timeout", "fail"]);
    let StateKind::Wait(wait) = &state(sink, "approval").kind else {
        panic!("`approval` is not a wait");
    };
    assert_eq!(wait.signal.name, "Approve");

    let rejected = &state(sink, "approval").kind.transitions()[1];
    assert_eq!(rejected.target.state.name, "refine");
    let bound = rejected.target.bound.as_ref().unwrap();
    assert_eq!(bound.max.value, 2);
    assert_eq!(bound.otherwise.name, "rejected");
    assert_eq!(
        text(&source, rejected.target.span),
        "refine max 2 else rejected"
    );
    assert_eq!(
        text(&source, rejected.span),
        "on rejected -> refine max 2 else rejected;"
    );

    let check = choice(sink, "check");
    let bound = check.arms[0].target.bound.as_ref().unwrap();
    assert_eq!(
        (bound.max.value, bound.otherwise.name.as_str()),
        (2, "gave_up")
    );
    assert!(check.otherwise.as_ref().unwrap().target.bound.is_none());

    // A task with both `ok` and a custom outcome, and a `timeout ->` next to its `timeout`.
    let plan = state(sink, "plan");
    let events: Vec<String> = plan
        .kind
        .transitions()
        .iter()
        .map(|t| t.event.to_string())
        .collect();
    assert_eq!(events, ["ok", "on empty", "timeout"]);
    assert!(plan.kind.timeout().is_some());

    // A transition written before the settings.
    let StateKind::Call(call) = &state(sink, "publish").kind else {
        panic!("`publish` is not a call");
    };
    assert_eq!(call.workflow.name, "Publisher");
    assert_eq!(call.transitions[0].event.to_string(), "ok");
    assert!(call.with.is_some());

    let (_, file) = valid("build_website.orch");
    let website = workflow(&file, "BuildWebsite");
    let review = state(website, "review").kind.transitions();
    let bound = review[1].target.bound.as_ref().unwrap();
    assert_eq!(
        (bound.max.value, bound.otherwise.name.as_str()),
        (3, "failed")
    );
}

#[test]
fn terminals_carry_values() {
    let (_, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let StateKind::Succeed(done) = &state(sink, "done").kind else {
        panic!("`done` is not a succeed");
    };
    let Some(Value::Object { entries, .. }) = &done.output else {
        panic!("`done` has no object output");
    };
    let keys: Vec<&str> = entries.iter().map(|e| e.key.name.as_str()).collect();
    assert_eq!(keys, ["text", "reviews", "published"]);
    let StateKind::Succeed(nothing) = &state(sink, "nothing_to_do").kind else {
        panic!("`nothing_to_do` is not a succeed");
    };
    assert!(nothing.output.is_none());
    let StateKind::Fail(rejected) = &state(sink, "rejected").kind else {
        panic!("`rejected` is not a fail");
    };
    assert!(matches!(rejected.error, Some(Value::Null { .. })));
    let StateKind::Fail(gave_up) = &state(sink, "gave_up").kind else {
        panic!("`gave_up` is not a fail");
    };
    let Some(Value::Template(message)) = &gave_up.error else {
        panic!("`gave_up` has no template error");
    };
    assert_eq!(message.paths().next().unwrap().to_string(), "input.depth");
    assert!(state(sink, "failed").kind.is_terminal());
}

#[test]
fn sub_workflows_in_one_file() {
    let (_, file) = valid("sub_workflow.orch");
    let names: Vec<&str> = file.workflows.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["Report", "Research"]);
    let report = workflow(&file, "Report");
    let StateKind::Call(call) = &state(report, "research").kind else {
        panic!("`research` is not a call");
    };
    assert_eq!(call.workflow.name, "Research");
    let keys: Vec<&str> = call
        .with
        .as_ref()
        .unwrap()
        .entries
        .iter()
        .map(|e| e.key.name.as_str())
        .collect();
    assert_eq!(keys, ["question", "depth"]);
    let events: Vec<String> = call
        .transitions
        .iter()
        .map(|t| t.event.to_string())
        .collect();
    assert_eq!(events, ["ok", "timeout", "fail"]);
    let research = workflow(&file, "Research");
    assert_eq!(research.default_fail().unwrap().name, "failed");
}

#[test]
fn docs_and_comments() {
    let (source, file) = valid("kitchen_sink.orch");
    let sink = workflow(&file, "KitchenSink");
    let docs: Vec<&str> = sink.docs.iter().map(|d| d.text.as_str()).collect();
    assert_eq!(
        docs,
        [
            " Plans a piece of work, reviews the plan three ways, researches each task,",
            " refines a draft, asks a person, and publishes through a sub-workflow.",
            "",
            " The empty doc line above is kept as an empty doc.",
        ]
    );
    assert!(text(&source, sink.docs[0].span).starts_with("/// Plans"));
    assert!(sink.span.start() <= sink.docs[0].span.start());

    let planner = sink.workers().find(|w| w.name.name == "Planner").unwrap();
    assert_eq!(planner.docs.len(), 2);
    assert_eq!(
        planner.docs[1].text,
        " Reports `empty` when there is nothing to do."
    );
    assert_eq!(
        sink.signals().next().unwrap().docs[0].text,
        " Sent by a person from the review page."
    );
    let depth = sink
        .input_fields()
        .find(|f| f.name.name == "depth")
        .unwrap();
    assert_eq!(depth.docs[0].text, " How many research rounds.");
    assert_eq!(
        state(sink, "plan").docs[0].text,
        " Turn the goal into a list of tasks."
    );
    assert_eq!(
        state(sink, "failed").docs[0].text,
        " The default failure target."
    );
    assert!(state(sink, "escalate").docs.is_empty());

    let comments: Vec<&str> = file.comments.iter().map(|c| c.text.as_str()).collect();
    for expected in [
        "// Every construct of the language, in one file. A line comment before everything.",
        "//! An inner-doc style comment is a plain comment in orch.",
        "//// So is a comment with four slashes.",
        "/* A block comment /* with a nested block comment */ before the first workflow. */",
        "/* inline block comment */",
        "// the whole run",
        "/* a comment inside a condition */",
        "// A comment at the very end.",
    ] {
        assert!(
            comments.contains(&expected),
            "comment `{expected}` not collected"
        );
    }
    for comment in &file.comments {
        assert_eq!(text(&source, comment.span).trim_end(), comment.text);
        assert!(
            !comment.text.starts_with("/// "),
            "doc comment collected as a comment"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid fixtures
// ---------------------------------------------------------------------------------------------

/// The code named on the first line of a fixture: `// E0004: …`.
fn expected_code(source: &str, name: &str) -> Code {
    let first = source.lines().next().unwrap_or("");
    let code = first
        .strip_prefix("// ")
        .and_then(|rest| rest.get(..5))
        .unwrap_or_else(|| panic!("{name}: the first line must name a code"));
    Code::from_code(code).unwrap_or_else(|| panic!("{name}: unknown code `{code}`"))
}

fn all_spans(diagnostic: &Diagnostic) -> impl Iterator<Item = Span> + '_ {
    std::iter::once(diagnostic.span).chain(diagnostic.secondary.iter().map(|l| l.span))
}

#[test]
fn invalid_fixtures_fail_with_their_code() {
    let paths = fixtures("invalid");
    assert!(paths.len() >= 45, "only {} invalid fixtures", paths.len());
    let mut codes_seen = BTreeSet::new();
    for path in paths {
        let name = file_name(&path);
        let (source, errors) = invalid(name);
        let code = expected_code(&source, name);
        codes_seen.insert(code);
        let codes: Vec<Code> = errors.iter().map(|d| d.code).collect();
        assert!(
            codes.contains(&code),
            "{name}: expected {code}, got {codes:?}"
        );
        if name != "many_errors.orch" {
            // One kind of problem per file: no follow-up errors of another kind.
            assert!(
                codes.iter().all(|c| *c == code),
                "{name}: expected only {code}, got\n{}",
                orch_dsl::render(&errors, name, &source)
            );
        }
        for diagnostic in &errors {
            assert!(diagnostic.is_error());
            for span in all_spans(diagnostic) {
                assert_span_sound(&source, span.start(), span.end(), name);
            }
        }
    }
    let parser_codes: BTreeSet<Code> = Code::ALL
        .iter()
        .copied()
        .filter(|c| ("E0001"..="E0011").contains(&c.as_str()))
        .collect();
    assert_eq!(parser_codes.len(), 11);
    assert_eq!(codes_seen, parser_codes, "every parser code has a fixture");
}

/// Messages read like rustc's: lowercase, no trailing period, no grammar rule names.
#[test]
fn invalid_fixture_messages_follow_the_house_style() {
    const RULE_NAMES: [&str; 12] = [
        "kw_",
        "raw_ident",
        "_stmt",
        "_state",
        "_decl",
        "_block",
        "_arm",
        "EOI",
        "SOI",
        "WHITESPACE",
        "COMMENT",
        "Rule",
    ];
    for path in fixtures("invalid") {
        let name = file_name(&path);
        let (_, errors) = invalid(name);
        for diagnostic in &errors {
            let message = &diagnostic.message;
            let first = message.chars().next().unwrap();
            assert!(
                first.is_lowercase() || first == '`',
                "{name}: message `{message}` should start in lowercase"
            );
            let texts = std::iter::once(message.as_str())
                .chain(std::iter::once(diagnostic.label.as_str()))
                .chain(diagnostic.secondary.iter().map(|l| l.message.as_str()))
                .chain(diagnostic.help.as_deref())
                .chain(diagnostic.notes.iter().map(String::as_str));
            for text in texts {
                assert!(!text.ends_with('.'), "{name}: `{text}` ends with a period");
                for rule in RULE_NAMES {
                    assert!(!text.contains(rule), "{name}: `{text}` mentions `{rule}`");
                }
            }
            assert!(
                !diagnostic.label.is_empty(),
                "{name}: `{message}` has no label"
            );
        }
    }
}

#[test]
fn invalid_fixtures_render() {
    insta::glob!("fixtures/invalid/*.orch", |path| {
        let source = fs::read_to_string(path).unwrap();
        let errors = orch_dsl::parse(&source).unwrap_err();
        insta::assert_snapshot!(orch_dsl::render(&errors, file_name(path), &source));
    });
}

#[test]
fn many_errors_are_all_reported() {
    let (source, errors) = invalid("many_errors.orch");
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|d| (d.code.as_str(), text(&source, d.span)))
        .collect();
    assert_eq!(
        found,
        [
            ("E0003", "\\q"),
            ("E0009", "/// Begin with the writer."),
            ("E0001", "10"),
            ("E0005", "99999999999999999999"),
            ("E0004", "input.tone"),
            ("E0007", "retry 3;"),
            ("E0006", "99999999999999999999d"),
            ("E0001", "fail"),
            ("E0010", "approved"),
            ("E0001", "fial"),
            ("E0008", "good"),
            ("E0011", "output"),
        ]
    );
}

/// Recovery blanks the statement around a syntax error and parses again; a statement after it
/// is still checked, and the error is not reported twice.
#[test]
fn recovery_reports_each_syntax_error_once() {
    let source = "workflow A {\n    start x\n    timeout 10;\n    task x by W { ok done; }\n    succeed done;\n}\n";
    let errors = orch_dsl::parse(source).unwrap_err();
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|d| (d.code.as_str(), text(source, d.span)))
        .collect();
    assert_eq!(
        found,
        [("E0001", "timeout"), ("E0001", "10"), ("E0001", "done")]
    );
}

/// Every prefix of a valid fixture (a file cut off while it is being written) parses or fails
/// without a panic, with sound spans and a rendering.
#[test]
fn truncated_fixtures_fail_cleanly() {
    for path in fixtures("valid") {
        let name = file_name(&path);
        let source = fs::read_to_string(&path).unwrap();
        for (cut, _) in source.char_indices() {
            let text = &source[..cut];
            let Err(errors) = orch_dsl::parse(text) else {
                continue;
            };
            assert!(!errors.is_empty());
            for diagnostic in &errors {
                for span in all_spans(diagnostic) {
                    assert_span_sound(text, span.start(), span.end(), name);
                }
            }
            assert!(!orch_dsl::render(&errors, name, text).is_empty());
        }
    }
}

/// Every construct lexes as Rust tokens: each valid fixture goes through Rust's tokenizer and
/// `workflow!`'s writing of tokens back to text, and compiles to exactly the program the file
/// compiles to. (Plain `//` comments are not tokens; `///` comments are, as `#[doc]`.)
#[test]
fn valid_fixtures_lex_as_rust_tokens_and_compile_alike() {
    for path in fixtures("valid") {
        let name = file_name(&path);
        let source = fs::read_to_string(&path).unwrap();
        let tokens: proc_macro2::TokenStream = source
            .parse()
            .unwrap_or_else(|e| panic!("{name} does not lex as Rust tokens: {e}"));
        let written = orch_dsl::expand::SourceText::from_tokens(tokens.clone()).text;
        let from_file = orch_dsl::compile(&source).unwrap_or_else(|d| {
            panic!("{}", orch_dsl::render(&d, name, &source));
        });
        let from_tokens = orch_dsl::compile(&written).unwrap_or_else(|d| {
            panic!(
                "{name}, written from its tokens:\n{}",
                orch_dsl::render(&d, name, &written)
            );
        });
        assert_eq!(
            orch_dsl::codegen::generate_program(&from_tokens.program).to_string(),
            orch_dsl::codegen::generate_program(&from_file.program).to_string(),
            "{name}: the program compiled from its tokens differs"
        );
        let expanded = orch_dsl::expand::expand_workflow(tokens).to_string();
        assert!(
            !expanded.contains("compile_error"),
            "{name}: workflow! reports an error: {expanded}"
        );
    }
}

/// Spans hold 32-bit offsets, so a text longer than they can point into is refused up front
/// with one error at its limit, not parsed with wrapped offsets.
#[test]
fn a_text_past_the_span_limit_is_refused() {
    let len = orch_dsl::Span::MAX_SOURCE + 1;
    let text = " ".repeat(len);
    let diags = orch_dsl::parse(&text).unwrap_err();
    let all: Vec<&Diagnostic> = diags.iter().collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].code, Code::Syntax);
    assert_eq!(all[0].span.start(), orch_dsl::Span::MAX_SOURCE);
    assert!(
        all[0].message.contains(&len.to_string()),
        "{}",
        all[0].message
    );
}
