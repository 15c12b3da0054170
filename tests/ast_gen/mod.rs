//! Proptest strategies for random but grammatical syntax trees.
//!
//! Every tree generated here is one the parser could have produced: names avoid the reserved
//! words, settings and events appear at most once per state, template parts agree with the
//! string they came from, and numbers and durations carry the value their text denotes. Spans
//! are all `Span::default()`; the tests compare trees with spans removed.

use std::time::Duration;

use orch_dsl::ast::*;
use proptest::collection::vec;
use proptest::option::of as maybe;
use proptest::prelude::*;
use proptest::sample::select;

const NO_SPAN: Span = Span::new(0, 0);

/// Names for workflows, states, workers and the like. Several look like keywords, durations,
/// multipliers or raw-string prefixes without being one.
pub const NAMES: &[&str] = &[
    "alpha",
    "beta",
    "Gamma",
    "delta_2",
    "r",
    "x2",
    "ok_then",
    "with_x",
    "maxi",
    "nulls",
    "true_",
    "e",
    "ms",
    "h1",
    "s",
    "_tmp",
    "Coder",
    "Reviewer",
    "item",
    "done",
    "failed",
    "review",
    "plan",
    "outputs",
    "existsx",
    "containsy",
    "inputs",
    "br",
    "rr",
];

/// Words usable as path segments and bare keys, where reserved words are allowed.
const FIELDS: &[&str] = &[
    "output", "goal", "ok", "max", "with", "tasks", "score", "true", "null", "timeout", "x1",
];

/// Pieces of string text; `{{` stands for literal braces (written `\{{` in a template).
const TEXT: &[&str] = &[
    "hello",
    " ",
    "wörld",
    "日本",
    "\"",
    "a\\b",
    "\n",
    "\t",
    "\r",
    "\0",
    "\u{1}",
    "\u{7f}",
    "\u{85}",
    "\u{200b}",
    "\u{feff}",
    "}",
    "}}",
    "{{",
    "{ x }",
    "#",
    "\"#",
    "\"##",
    "//",
    "/* ",
    " */",
    "r#\"",
    "'",
    "a fairly long piece of text that pushes a line well past one hundred columns of width",
];

const NUMBERS: &[&str] = &[
    "0",
    "7",
    "42",
    "-1",
    "3.14",
    "-0.5",
    "1_000",
    "1e3",
    "2.5E-3",
    "1e+2",
    "007",
    "-12_3.4_5",
];

const DOCS: &[&str] = &[
    "",
    " Write the specification.",
    " émoji ✓ and `code`",
    "   indented",
    " trailing space ",
    "!inner",
    "\ttab",
    " // not a comment",
    " /* nor this",
    " \"quoted\" {{input.goal}}",
];

const COMMENTS: &[&str] = &[
    "// note",
    "/* block */",
    "/* two\n   lines */",
    "//! inner",
    "//// four slashes",
    "/* nested /* inner */ */",
    "//",
];

pub fn ident() -> BoxedStrategy<Ident> {
    let pooled = select(NAMES).prop_map(str::to_string);
    let random = "[a-z][a-z0-9_]{0,6}".prop_filter("reserved word", |name| {
        !orch_dsl::RESERVED_WORDS.contains(&name.as_str())
    });
    prop_oneof![3 => pooled, 1 => random]
        .prop_map(|name| Ident {
            name: name.into(),
            span: NO_SPAN,
        })
        .boxed()
}

fn word(pool: &'static [&'static str]) -> BoxedStrategy<Ident> {
    select(pool)
        .prop_map(|name| Ident {
            name: name.into(),
            span: NO_SPAN,
        })
        .boxed()
}

pub fn path() -> BoxedStrategy<Path> {
    let root = prop_oneof![4 => ident(), 1 => word(&["input", "output", "ok", "max"])];
    let segment = prop_oneof![
        2 => prop_oneof![ident(), word(FIELDS)].prop_map(Segment::Field),
        1 => prop_oneof![-3i64..20, Just(i64::MIN), Just(i64::MAX)]
            .prop_map(|index| Segment::Index { index, span: NO_SPAN }),
    ];
    (root, vec(segment, 0..4), proptest::bool::weighted(0.2))
        .prop_map(|(root, segments, optional)| Path {
            root,
            segments,
            optional,
            span: NO_SPAN,
        })
        .boxed()
}

fn text() -> BoxedStrategy<String> {
    vec(select(TEXT), 0..5)
        .prop_map(|pieces| pieces.concat())
        .boxed()
}

/// The fewest hashes a raw string holding `value` needs, at least `wanted`.
fn raw_hashes(value: &str, wanted: u8) -> u8 {
    let mut hashes = wanted;
    while value.contains(&format!("\"{}", "#".repeat(usize::from(hashes)))) {
        hashes += 1;
    }
    hashes
}

fn string_lit(value: String, raw: Option<u8>) -> StrLit {
    StrLit {
        raw_hashes: raw.map(|wanted| raw_hashes(&value, wanted)),
        value: value.into(),
        span: NO_SPAN,
    }
}

pub fn str_lit() -> BoxedStrategy<StrLit> {
    (text(), maybe(0u8..3))
        .prop_map(|(value, raw)| string_lit(value, raw))
        .boxed()
}

#[derive(Debug)]
enum Piece {
    Text(&'static str),
    Hole { path: Path, spaced: bool },
}

pub fn template() -> BoxedStrategy<Template> {
    let piece = prop_oneof![
        2 => select(TEXT).prop_map(Piece::Text),
        1 => (path(), any::<bool>()).prop_map(|(path, spaced)| Piece::Hole { path, spaced }),
    ];
    (vec(piece, 0..6), maybe(0u8..3))
        .prop_map(|(pieces, raw)| build_template(pieces, raw))
        .boxed()
}

/// Writes the string a template was parsed from, and the parts the parser finds in it.
fn build_template(pieces: Vec<Piece>, raw: Option<u8>) -> Template {
    let mut value = String::new();
    let mut parts = Vec::new();
    let mut text = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(piece) => {
                value.push_str(&piece.replace("{{", "\\{{"));
                text.push_str(piece);
            }
            Piece::Hole { path, spaced } => {
                let pad = if spaced { " " } else { "" };
                value.push_str(&format!("{{{{{pad}{path}{pad}}}}}"));
                if !text.is_empty() {
                    parts.push(TemplatePart::Text {
                        value: std::mem::take(&mut text).into(),
                        span: NO_SPAN,
                    });
                }
                parts.push(TemplatePart::Placeholder(path));
            }
        }
    }
    if !text.is_empty() {
        parts.push(TemplatePart::Text {
            value: text.into(),
            span: NO_SPAN,
        });
    }
    Template {
        lit: string_lit(value, raw),
        parts,
    }
}

pub fn number() -> BoxedStrategy<NumLit> {
    select(NUMBERS)
        .prop_map(|text| NumLit {
            value: text.replace('_', "").parse().expect("a number"),
            text: text.into(),
            span: NO_SPAN,
        })
        .boxed()
}

pub fn int() -> BoxedStrategy<IntLit> {
    prop_oneof![9 => 0u64..1000, 1 => Just(u64::MAX)]
        .prop_map(|value| IntLit {
            value,
            span: NO_SPAN,
        })
        .boxed()
}

/// `30s`, `1.5h`, `1h30m500ms`: the text and the value it denotes.
pub fn duration() -> BoxedStrategy<DurationLit> {
    let unit = select(
        &[
            ("ms", 1_000_000u64),
            ("s", 1_000_000_000),
            ("m", 60_000_000_000),
        ][..],
    );
    let long_unit = select(&[("h", 3_600_000_000_000u64), ("d", 86_400_000_000_000)][..]);
    let part = (0u64..100, maybe(0u64..10), prop_oneof![unit, long_unit]);
    vec(part, 1..4)
        .prop_map(|parts| {
            let mut text = String::new();
            let mut nanos: u64 = 0;
            for (whole, tenth, (unit, unit_nanos)) in parts {
                text.push_str(&whole.to_string());
                if let Some(tenth) = tenth {
                    text.push_str(&format!(".{tenth}"));
                }
                text.push_str(unit);
                nanos += whole * unit_nanos + tenth.unwrap_or(0) * (unit_nanos / 10);
            }
            DurationLit {
                value: Duration::from_nanos(nanos),
                text: text.into(),
                span: NO_SPAN,
            }
        })
        .boxed()
}

pub fn multiplier() -> BoxedStrategy<Multiplier> {
    (1u32..10, maybe(0u32..100))
        .prop_map(|(whole, fraction)| {
            let text = match fraction {
                Some(fraction) => format!("x{whole}.{fraction}"),
                None => format!("x{whole}"),
            };
            Multiplier {
                value: text[1..].parse().expect("a multiplier"),
                text: text.into(),
                span: NO_SPAN,
            }
        })
        .boxed()
}

pub fn literal() -> BoxedStrategy<Literal> {
    prop_oneof![
        str_lit().prop_map(Literal::Str),
        number().prop_map(Literal::Number),
        any::<bool>().prop_map(|value| Literal::Bool {
            value,
            span: NO_SPAN
        }),
        Just(Literal::Null { span: NO_SPAN }),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<Key> {
    prop_oneof![
        prop_oneof![ident(), word(FIELDS)].prop_map(|name| (name.name.to_string(), false)),
        text().prop_map(|name| (name, true)),
    ]
    .prop_map(|(name, quoted)| Key {
        name: name.into(),
        quoted,
        span: NO_SPAN,
    })
    .boxed()
}

/// Entries with distinct keys (the parser rejects a repeated key).
fn entries(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Vec<Entry>> {
    vec((key(), value), 0..5).prop_map(|pairs| {
        let mut entries: Vec<Entry> = Vec::new();
        for (key, value) in pairs {
            if entries.iter().all(|entry| entry.key.name != key.name) {
                entries.push(Entry {
                    key,
                    value,
                    span: NO_SPAN,
                });
            }
        }
        entries
    })
}

pub fn value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        3 => template().prop_map(Value::Template),
        1 => number().prop_map(Value::Number),
        1 => any::<bool>().prop_map(|value| Value::Bool { value, span: NO_SPAN }),
        1 => Just(Value::Null { span: NO_SPAN }),
        2 => path().prop_map(Value::Path),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(|items| Value::List {
                items,
                span: NO_SPAN
            }),
            entries(inner).prop_map(|entries| Value::Object {
                entries,
                span: NO_SPAN
            }),
        ]
    })
    .boxed()
}

fn binop() -> BoxedStrategy<BinOp> {
    select(
        &[
            BinOp::Or,
            BinOp::And,
            BinOp::Eq,
            BinOp::Ne,
            BinOp::Lt,
            BinOp::Le,
            BinOp::Gt,
            BinOp::Ge,
            BinOp::Contains,
        ][..],
    )
    .boxed()
}

pub fn condition() -> BoxedStrategy<Expr> {
    let leaf = prop_oneof![
        literal().prop_map(Expr::Literal),
        path().prop_map(Expr::Path),
        path().prop_map(|path| Expr::Exists {
            path,
            span: NO_SPAN
        }),
    ];
    leaf.prop_recursive(5, 48, 2, |inner| {
        prop_oneof![
            3 => (binop(), inner.clone(), inner.clone()).prop_map(|(op, lhs, rhs)| Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                span: NO_SPAN,
            }),
            1 => inner.prop_map(|expr| Expr::Not {
                expr: Box::new(expr),
                span: NO_SPAN
            }),
        ]
    })
    .boxed()
}

fn docs() -> BoxedStrategy<Vec<Doc>> {
    vec(select(DOCS), 0..3)
        .prop_map(|texts| {
            texts
                .into_iter()
                .map(|text| Doc {
                    text: text.to_string(),
                    span: NO_SPAN,
                })
                .collect()
        })
        .boxed()
}

/// Plain comments; with default spans the printer puts them all at the top of the file.
pub fn comments() -> BoxedStrategy<Vec<Comment>> {
    vec(select(COMMENTS), 0..3)
        .prop_map(|texts| {
            texts
                .into_iter()
                .map(|text| Comment {
                    text: text.to_string(),
                    span: NO_SPAN,
                })
                .collect()
        })
        .boxed()
}

pub fn comment_text() -> BoxedStrategy<&'static str> {
    select(COMMENTS).boxed()
}

pub fn target() -> BoxedStrategy<Target> {
    (ident(), maybe((int(), ident())))
        .prop_map(|(state, bound)| Target {
            state,
            bound: bound.map(|(max, otherwise)| {
                Box::new(Bound {
                    max,
                    otherwise,
                    span: NO_SPAN,
                })
            }),
            span: NO_SPAN,
        })
        .boxed()
}

/// Raw transitions; [`settle`] keeps the ones a given state may have.
fn transitions() -> BoxedStrategy<Vec<Transition>> {
    let event = prop_oneof![
        Just(Event::Ok { span: NO_SPAN }),
        Just(Event::Fail { span: NO_SPAN }),
        Just(Event::Timeout { span: NO_SPAN }),
        ident().prop_map(|label| Event::Outcome { label }),
    ];
    vec((event, target()), 0..5)
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(event, target)| Transition {
                    event,
                    target,
                    span: NO_SPAN,
                })
                .collect()
        })
        .boxed()
}

/// Drops repeated events, outcomes where the kind has none, and `timeout ->` without a timeout.
fn settle(transitions: Vec<Transition>, outcomes: bool, timeout: bool) -> Vec<Transition> {
    let mut kept: Vec<Transition> = Vec::new();
    for transition in transitions {
        let allowed = match &transition.event {
            Event::Outcome { .. } => outcomes,
            Event::Timeout { .. } => timeout,
            Event::Ok { .. } | Event::Fail { .. } => true,
        };
        let repeated = kept
            .iter()
            .any(|seen| event_key(&seen.event) == event_key(&transition.event));
        if allowed && !repeated {
            kept.push(transition);
        }
    }
    kept
}

fn event_key(event: &Event) -> String {
    match event {
        Event::Outcome { label } => format!("on {label}"),
        other => other.to_string(),
    }
}

fn with() -> BoxedStrategy<With> {
    entries(value())
        .prop_map(|entries| With {
            entries,
            span: NO_SPAN,
        })
        .boxed()
}

fn retry() -> BoxedStrategy<Box<Retry>> {
    let backoff = (
        duration(),
        maybe(multiplier()),
        maybe(duration()),
        any::<bool>(),
    )
        .prop_map(|(initial, multiplier, max, jitter)| Backoff {
            initial,
            multiplier,
            max,
            jitter,
            span: NO_SPAN,
        });
    (int(), maybe(backoff))
        .prop_map(|(retries, backoff)| {
            Box::new(Retry {
                retries,
                backoff,
                span: NO_SPAN,
            })
        })
        .boxed()
}

fn timeout() -> BoxedStrategy<Box<Timeout>> {
    duration()
        .prop_map(|duration| {
            Box::new(Timeout {
                duration,
                span: NO_SPAN,
            })
        })
        .boxed()
}

fn task() -> BoxedStrategy<StateKind> {
    (
        ident(),
        maybe(with()),
        maybe(retry()),
        maybe(timeout()),
        transitions(),
    )
        .prop_map(|(worker, with, retry, timeout, transitions)| {
            let transitions = settle(transitions, true, timeout.is_some());
            StateKind::Task(Task {
                worker,
                with,
                retry,
                timeout,
                transitions,
            })
        })
        .boxed()
}

fn choice() -> BoxedStrategy<StateKind> {
    let arm = (condition(), target()).prop_map(|(condition, target)| WhenArm {
        condition,
        target,
        span: NO_SPAN,
    });
    let otherwise = target().prop_map(|target| ElseArm {
        target,
        span: NO_SPAN,
    });
    (vec(arm, 0..4), maybe(otherwise))
        .prop_map(|(arms, otherwise)| StateKind::Choice(Choice { arms, otherwise }))
        .boxed()
}

fn branch() -> BoxedStrategy<Branch> {
    (
        docs(),
        ident(),
        ident(),
        maybe(with()),
        maybe(retry()),
        maybe(timeout()),
    )
        .prop_map(|(docs, name, worker, with, retry, timeout)| Branch {
            docs,
            name,
            worker,
            with,
            retry,
            timeout,
            span: NO_SPAN,
        })
        .boxed()
}

fn parallel() -> BoxedStrategy<StateKind> {
    let join = prop_oneof![
        Just(JoinKind::All),
        Just(JoinKind::Any),
        int().prop_map(JoinKind::Count),
    ]
    .prop_map(|kind| Join {
        kind,
        span: NO_SPAN,
    });
    (
        vec(branch(), 0..4),
        maybe(join),
        maybe(timeout()),
        transitions(),
    )
        .prop_map(|(branches, join, timeout, transitions)| {
            let mut distinct: Vec<Branch> = Vec::new();
            for branch in branches {
                if distinct.iter().all(|seen| seen.name != branch.name) {
                    distinct.push(branch);
                }
            }
            StateKind::Parallel(Parallel {
                branches: distinct,
                join,
                transitions: settle(transitions, false, timeout.is_some()),
                timeout,
            })
        })
        .boxed()
}

fn map() -> BoxedStrategy<StateKind> {
    let settings = (
        maybe(with()),
        maybe(int()),
        maybe(retry()),
        maybe(timeout()),
    );
    (path(), ident(), ident(), settings, transitions())
        .prop_map(
            |(over, item, worker, (with, limit, retry, timeout), transitions)| {
                StateKind::Map(Box::new(Map {
                    over,
                    item,
                    worker,
                    with,
                    limit,
                    retry,
                    transitions: settle(transitions, false, timeout.is_some()),
                    timeout,
                }))
            },
        )
        .boxed()
}

fn looped() -> BoxedStrategy<StateKind> {
    let max = (int(), maybe(ident())).prop_map(|(count, otherwise)| {
        Box::new(LoopMax {
            count,
            otherwise,
            span: NO_SPAN,
        })
    });
    let settings = (
        maybe(with()),
        maybe(condition().prop_map(Box::new)),
        maybe(max),
        maybe(retry()),
        maybe(timeout()),
    );
    (ident(), maybe(ident()), settings, transitions())
        .prop_map(
            |(worker, var, (with, until, max, retry, timeout), transitions)| {
                StateKind::Loop(Box::new(Loop {
                    worker,
                    var,
                    with,
                    until,
                    max,
                    retry,
                    transitions: settle(transitions, false, timeout.is_some()),
                    timeout,
                }))
            },
        )
        .boxed()
}

fn wait() -> BoxedStrategy<StateKind> {
    (ident(), maybe(timeout()), transitions())
        .prop_map(|(signal, timeout, transitions)| {
            StateKind::Wait(Wait {
                signal,
                transitions: settle(transitions, true, timeout.is_some()),
                timeout,
            })
        })
        .boxed()
}

fn call() -> BoxedStrategy<StateKind> {
    (ident(), maybe(with()), maybe(timeout()), transitions())
        .prop_map(|(workflow, with, timeout, transitions)| {
            StateKind::Call(Call {
                workflow,
                with,
                transitions: settle(transitions, false, timeout.is_some()),
                timeout,
            })
        })
        .boxed()
}

fn state() -> BoxedStrategy<State> {
    let kind = prop_oneof![
        3 => task(),
        2 => choice(),
        2 => parallel(),
        2 => map(),
        2 => looped(),
        1 => wait(),
        1 => call(),
        2 => maybe(value()).prop_map(|output| StateKind::Succeed(Succeed { output })),
        2 => maybe(value()).prop_map(|error| StateKind::Fail(Fail { error })),
    ];
    (docs(), ident(), kind)
        .prop_map(|(docs, name, kind)| State {
            docs,
            name,
            kind,
            span: NO_SPAN,
        })
        .boxed()
}

fn input_block() -> BoxedStrategy<Item> {
    let ty = select(
        &[
            ValueType::String,
            ValueType::Number,
            ValueType::Integer,
            ValueType::Bool,
            ValueType::List,
            ValueType::Object,
            ValueType::Any,
        ][..],
    );
    let field =
        (docs(), ident(), ty, maybe(literal())).prop_map(|(docs, name, ty, default)| InputField {
            docs,
            name,
            ty: TypeName { ty, span: NO_SPAN },
            default,
            span: NO_SPAN,
        });
    vec(field, 0..4)
        .prop_map(|fields| {
            Item::Input(InputBlock {
                fields,
                span: NO_SPAN,
            })
        })
        .boxed()
}

/// `outcomes [ok, approved]`: distinct labels, `ok` allowed.
fn outcomes() -> BoxedStrategy<Outcomes> {
    let label =
        prop_oneof![1 => Just("ok".to_string()), 4 => ident().prop_map(|i| i.name.to_string())];
    vec(label, 0..4)
        .prop_map(|labels| {
            let mut seen = std::collections::BTreeSet::new();
            let labels = labels
                .into_iter()
                .filter(|l| seen.insert(l.clone()))
                .map(|name| Ident {
                    name: name.into(),
                    span: NO_SPAN,
                })
                .collect();
            Outcomes {
                labels,
                span: NO_SPAN,
            }
        })
        .boxed()
}

fn item() -> BoxedStrategy<Item> {
    let description = || maybe(str_lit());
    prop_oneof![
        1 => input_block(),
        1 => (docs(), ident(), description(), maybe(outcomes())).prop_map(|(docs, name, description, outcomes)| {
            Item::Worker(WorkerDecl { docs, name, description, outcomes, span: NO_SPAN })
        }),
        1 => (docs(), ident(), description(), maybe(outcomes())).prop_map(|(docs, name, description, outcomes)| {
            Item::Signal(SignalDecl { docs, name, description, outcomes, span: NO_SPAN })
        }),
        1 => ident().prop_map(|state| Item::Start(StartDecl { state, span: NO_SPAN })),
        1 => duration().prop_map(|duration| Item::Timeout(RunTimeout { duration, span: NO_SPAN })),
        1 => int().prop_map(|value| Item::MaxSteps(MaxSteps { value, span: NO_SPAN })),
        1 => ident().prop_map(|target| Item::DefaultFail(DefaultFail { target, span: NO_SPAN })),
        8 => state().prop_map(Item::State),
    ]
    .boxed()
}

fn workflow() -> BoxedStrategy<Workflow> {
    (docs(), ident(), vec(item(), 0..8))
        .prop_map(|(docs, name, items)| Workflow {
            docs,
            name,
            items,
            span: NO_SPAN,
        })
        .boxed()
}

pub fn file() -> BoxedStrategy<File> {
    (vec(workflow(), 0..3), comments())
        .prop_map(|(workflows, comments)| File {
            workflows,
            comments,
            span: NO_SPAN,
        })
        .boxed()
}
