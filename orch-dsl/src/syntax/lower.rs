//! Turns pest's parse tree into the [`ast`](crate::ast), reporting what the grammar cannot
//! express: invalid escapes and placeholders, out-of-range numbers and durations, settings given
//! twice, transitions a kind of state cannot take, misplaced doc comments.

use std::time::Duration;

use pest::Parser;
use pest::iterators::Pair;

use super::strings::{self, Decoded, RawPart};
use super::{OrchParser, Rule};
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};

type P<'i> = Pair<'i, Rule>;

fn span(pair: &P<'_>) -> Span {
    pair.as_span().into()
}

fn ident(pair: P<'_>) -> Ident {
    Ident {
        name: pair.as_str().into(),
        span: span(&pair),
    }
}

fn doc(pair: P<'_>) -> Doc {
    let text = pair
        .clone()
        .into_inner()
        .next()
        .map_or("", |text| text.as_str());
    Doc {
        text: text.trim_end_matches('\r').to_string(),
        span: span(&pair),
    }
}

/// The first inner pair with `rule`.
fn child<'i>(pair: &P<'i>, rule: Rule) -> Option<P<'i>> {
    pair.clone().into_inner().find(|p| p.as_rule() == rule)
}

/// Every inner pair with `rule`.
fn children<'i>(pair: &P<'i>, rule: Rule) -> impl Iterator<Item = P<'i>> {
    pair.clone()
        .into_inner()
        .filter(move |p| p.as_rule() == rule)
}

/// An empty list with room for exactly the children of `pair` that match `rule`.
///
/// The tree keeps its lists for as long as it lives. Grown one push at a time, or collected
/// from a filtered iterator, a list keeps room for at least four items, and the tree of a
/// large workflow is spread over twice the memory it needs, which every pass over it then
/// reads through.
fn room_for<T>(pair: &P<'_>, rule: Rule) -> Vec<T> {
    Vec::with_capacity(children(pair, rule).count())
}

/// The settings and transitions a state body may hold, gathered before the state is built.
#[derive(Default)]
struct Body {
    with: Option<With>,
    retry: Option<Box<Retry>>,
    timeout: Option<Box<Timeout>>,
    limit: Option<(IntLit, Span)>,
    until: Option<(Expr, Span)>,
    max: Option<Box<LoopMax>>,
    join: Option<Join>,
    branches: Vec<Branch>,
    transitions: Vec<Transition>,
}

pub(crate) struct Lowerer {
    pub diags: Vec<Diagnostic>,
}

impl Lowerer {
    pub fn file(&mut self, pair: P<'_>, comments: Vec<Comment>) -> File {
        let mut reported = std::collections::HashSet::new();
        for name in pair
            .clone()
            .into_inner()
            .flatten()
            .filter(|p| p.as_rule() == Rule::name)
        {
            let word = name.as_str();
            if super::errors::RESERVED_WORDS.contains(&word) && reported.insert(word) {
                self.diags.push(
                    Diagnostic::error(
                        Code::ReservedName,
                        span(&name),
                        format!("`{word}` is a reserved word and cannot be used as a name"),
                    )
                    .with_label("reserved word")
                    .with_help("choose another name; docs/language.md lists the reserved words"),
                );
            }
        }
        File {
            workflows: children(&pair, Rule::workflow)
                .map(|p| self.workflow(p))
                .collect(),
            comments,
            span: span(&pair),
        }
    }

    fn workflow(&mut self, pair: P<'_>) -> Workflow {
        let mut docs = Vec::new();
        let mut name = None;
        let mut items = Vec::new();
        let whole = span(&pair);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::doc => docs.push(doc(p)),
                Rule::name => name = Some(ident(p)),
                Rule::workflow_item => items.extend(self.item(p)),
                _ => {}
            }
        }
        let name = name.unwrap_or_else(|| missing(whole));
        let start = docs.first().map_or(name.span, |d| d.span);
        Workflow {
            span: Span::new(start.start().min(whole.start()), whole.end()),
            docs,
            name,
            items,
        }
    }

    fn item(&mut self, pair: P<'_>) -> Option<Item> {
        let mut docs = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() == Rule::doc {
                docs.push(doc(p));
                continue;
            }
            let item_span = span(&p);
            let item = match p.as_rule() {
                Rule::input_block => {
                    self.no_docs(
                        &docs,
                        "an `input` block",
                        "document each input field instead",
                    );
                    Item::Input(InputBlock {
                        fields: children(&p, Rule::input_field)
                            .map(|f| self.input_field(f))
                            .collect(),
                        span: item_span,
                    })
                }
                Rule::worker_decl => {
                    let (name, description, outcomes) = self.declaration(&p);
                    Item::Worker(WorkerDecl {
                        docs,
                        name,
                        description,
                        outcomes,
                        span: item_span,
                    })
                }
                Rule::signal_decl => {
                    let (name, description, outcomes) = self.declaration(&p);
                    Item::Signal(SignalDecl {
                        docs,
                        name,
                        description,
                        outcomes,
                        span: item_span,
                    })
                }
                Rule::start_decl => {
                    self.no_docs(
                        &docs,
                        "`start`",
                        "document the workflow or the state instead",
                    );
                    Item::Start(StartDecl {
                        state: self.name_in(&p, item_span),
                        span: item_span,
                    })
                }
                Rule::run_timeout => {
                    self.no_docs(&docs, "`timeout`", "use a `//` comment");
                    let duration = child(&p, Rule::duration).map(|d| self.duration(d));
                    Item::Timeout(RunTimeout {
                        duration: duration.unwrap_or_else(|| zero_duration(item_span)),
                        span: item_span,
                    })
                }
                Rule::max_steps_decl => {
                    self.no_docs(&docs, "`max_steps`", "use a `//` comment");
                    Item::MaxSteps(MaxSteps {
                        value: self.integer_in(&p, item_span),
                        span: item_span,
                    })
                }
                Rule::default_fail => {
                    self.no_docs(&docs, "`on fail`", "use a `//` comment");
                    Item::DefaultFail(DefaultFail {
                        target: self.name_in(&p, item_span),
                        span: item_span,
                    })
                }
                _ => Item::State(self.state(p, docs)),
            };
            return Some(item);
        }
        None
    }

    fn no_docs(&mut self, docs: &[Doc], what: &str, help: &str) {
        if let (Some(first), Some(last)) = (docs.first(), docs.last()) {
            self.diags.push(
                Diagnostic::error(
                    Code::MisplacedDoc,
                    first.span.to(last.span),
                    format!("doc comment on {what}"),
                )
                .with_label("doc comments document workflows, workers, signals, input fields, states and branches")
                .with_help(help.to_string()),
            );
        }
    }

    fn declaration(&mut self, pair: &P<'_>) -> (Ident, Option<StrLit>, Option<Outcomes>) {
        let name = self.name_in(pair, span(pair));
        let description = child(pair, Rule::string).map(|s| self.string(s).0);
        let outcomes = child(pair, Rule::outcomes).map(|o| self.outcomes(o));
        (name, description, outcomes)
    }

    fn outcomes(&mut self, pair: P<'_>) -> Outcomes {
        let mut labels: Vec<Ident> = Vec::new();
        for label in children(&pair, Rule::outcome).map(ident) {
            if let Some(first) = labels.iter().find(|l| l.name == label.name) {
                let first = first.span;
                self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateSetting,
                        label.span,
                        format!("outcome `{label}` is listed twice"),
                    )
                    .with_label("listed again here")
                    .with_secondary(first, "first listed here")
                    .with_help("list each outcome once"),
                );
                continue;
            }
            labels.push(label);
        }
        Outcomes {
            labels,
            span: span(&pair),
        }
    }

    fn name_in(&mut self, pair: &P<'_>, fallback: Span) -> Ident {
        child(pair, Rule::name).map_or_else(|| missing(fallback), ident)
    }

    fn integer_in(&mut self, pair: &P<'_>, fallback: Span) -> IntLit {
        child(pair, Rule::integer).map_or(
            IntLit {
                value: 0,
                span: fallback,
            },
            |i| self.integer(i),
        )
    }

    fn input_field(&mut self, pair: P<'_>) -> InputField {
        let whole = span(&pair);
        let ty = child(&pair, Rule::type_name).map_or(
            TypeName {
                ty: ValueType::Any,
                span: whole,
            },
            |t| TypeName {
                ty: match t.as_str() {
                    "string" => ValueType::String,
                    "number" => ValueType::Number,
                    "integer" => ValueType::Integer,
                    "bool" => ValueType::Bool,
                    "list" => ValueType::List,
                    "object" => ValueType::Object,
                    _ => ValueType::Any,
                },
                span: span(&t),
            },
        );
        InputField {
            docs: children(&pair, Rule::doc).map(doc).collect(),
            name: self.name_in(&pair, whole),
            ty,
            default: child(&pair, Rule::literal).map(|l| self.literal(l)),
            span: whole,
        }
    }

    fn state(&mut self, pair: P<'_>, docs: Vec<Doc>) -> State {
        let whole = span(&pair);
        let rule = pair.as_rule();
        let names: Vec<Ident> = children(&pair, Rule::name).map(ident).collect();
        let name = names.first().cloned().unwrap_or_else(|| missing(whole));
        let nth = |i: usize| names.get(i).cloned().unwrap_or_else(|| missing(whole));
        let kind = match rule {
            Rule::task_state => {
                let body = self.body(&pair);
                let task = Task {
                    worker: nth(1),
                    with: body.with,
                    retry: body.retry,
                    timeout: body.timeout,
                    transitions: body.transitions,
                };
                self.check_events(&task.transitions, "task", true, task.timeout.is_some());
                StateKind::Task(task)
            }
            Rule::choice_state => StateKind::Choice(Choice {
                arms: self.each(&pair, Rule::when_arm, Self::when_arm),
                otherwise: child(&pair, Rule::else_arm).map(|arm| ElseArm {
                    span: span(&arm),
                    target: self.target_in(&arm),
                }),
            }),
            Rule::parallel_state => {
                let body = self.body(&pair);
                self.check_events(&body.transitions, "parallel", false, body.timeout.is_some());
                StateKind::Parallel(Parallel {
                    branches: body.branches,
                    join: body.join,
                    timeout: body.timeout,
                    transitions: body.transitions,
                })
            }
            Rule::map_state => {
                let body = self.body(&pair);
                self.check_events(&body.transitions, "map", false, body.timeout.is_some());
                let over = child(&pair, Rule::path)
                    .map(|p| self.path(p, &|o| o))
                    .unwrap_or_else(|| Path {
                        root: missing(whole),
                        segments: Vec::new(),
                        optional: false,
                        span: whole,
                    });
                StateKind::Map(Box::new(Map {
                    over,
                    item: nth(1),
                    worker: nth(2),
                    with: body.with,
                    limit: body.limit.map(|(limit, _)| limit),
                    retry: body.retry,
                    timeout: body.timeout,
                    transitions: body.transitions,
                }))
            }
            Rule::loop_state => {
                let body = self.body(&pair);
                self.check_events(&body.transitions, "loop", false, body.timeout.is_some());
                StateKind::Loop(Box::new(Loop {
                    worker: nth(1),
                    var: names.get(2).cloned(),
                    with: body.with,
                    until: body.until.map(|(until, _)| Box::new(until)),
                    max: body.max,
                    retry: body.retry,
                    timeout: body.timeout,
                    transitions: body.transitions,
                }))
            }
            Rule::wait_state => {
                let body = self.body(&pair);
                self.check_events(&body.transitions, "wait", true, body.timeout.is_some());
                StateKind::Wait(Wait {
                    signal: nth(1),
                    timeout: body.timeout,
                    transitions: body.transitions,
                })
            }
            Rule::call_state => {
                let body = self.body(&pair);
                self.check_events(&body.transitions, "call", false, body.timeout.is_some());
                StateKind::Call(Call {
                    workflow: nth(1),
                    with: body.with,
                    timeout: body.timeout,
                    transitions: body.transitions,
                })
            }
            Rule::succeed_state => StateKind::Succeed(Succeed {
                output: child(&pair, Rule::value).map(|v| self.value(v)),
            }),
            _ => StateKind::Fail(Fail {
                error: child(&pair, Rule::value).map(|v| self.value(v)),
            }),
        };
        State {
            docs,
            name,
            kind,
            span: whole,
        }
    }

    /// `lower` of every child of `pair` that matches `rule`, in a list of their number.
    fn each<'i, T>(
        &mut self,
        pair: &P<'i>,
        rule: Rule,
        mut lower: impl FnMut(&mut Self, P<'i>) -> T,
    ) -> Vec<T> {
        let mut out = room_for(pair, rule);
        out.extend(children(pair, rule).map(|p| lower(self, p)));
        out
    }

    /// Gathers a state's (or branch's) settings, reporting any given twice.
    fn body(&mut self, pair: &P<'_>) -> Body {
        let mut body = Body {
            branches: room_for(pair, Rule::branch),
            transitions: room_for(pair, Rule::transition),
            ..Body::default()
        };
        for p in pair.clone().into_inner() {
            let at = span(&p);
            match p.as_rule() {
                Rule::with_block => {
                    let with = self.with_block(p);
                    self.once(&mut body.with, with, at, "with", |w| w.span);
                }
                Rule::retry_stmt => {
                    let retry = Box::new(self.retry(p));
                    self.once(&mut body.retry, retry, at, "retry", |r| r.span);
                }
                Rule::timeout_stmt => {
                    let timeout = Box::new(Timeout {
                        duration: child(&p, Rule::duration)
                            .map_or_else(|| zero_duration(at), |d| self.duration(d)),
                        span: at,
                    });
                    self.once(&mut body.timeout, timeout, at, "timeout", |t| t.span);
                }
                Rule::limit_stmt => {
                    let limit = (self.integer_in(&p, at), at);
                    self.once(&mut body.limit, limit, at, "limit", |l| l.1);
                }
                Rule::until_stmt => {
                    let until = child(&p, Rule::condition).map(|c| (self.condition(c), at));
                    if let Some(until) = until {
                        self.once(&mut body.until, until, at, "until", |u| u.1);
                    }
                }
                Rule::loop_max => {
                    let max = Box::new(LoopMax {
                        count: self.integer_in(&p, at),
                        otherwise: child(&p, Rule::name).map(ident),
                        span: at,
                    });
                    self.once(&mut body.max, max, at, "max", |m| m.span);
                }
                Rule::join_stmt => {
                    let kind = match p
                        .clone()
                        .into_inner()
                        .map(|k| k.as_rule())
                        .find(|&r| r != Rule::kw_join)
                    {
                        Some(Rule::kw_any) => JoinKind::Any,
                        Some(Rule::integer) => JoinKind::Count(self.integer_in(&p, at)),
                        _ => JoinKind::All,
                    };
                    self.once(&mut body.join, Join { kind, span: at }, at, "join", |j| {
                        j.span
                    });
                }
                Rule::branch => {
                    let branch = self.branch(p);
                    if let Some(first) = body
                        .branches
                        .iter()
                        .find(|b| b.name.name == branch.name.name)
                    {
                        let first = first.name.span;
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateSetting,
                                branch.name.span,
                                format!("branch `{}` is declared twice", branch.name),
                            )
                            .with_label("second declaration")
                            .with_secondary(first, "first declared here")
                            .with_help("give each branch its own name"),
                        );
                    }
                    body.branches.push(branch);
                }
                Rule::transition => {
                    let transition = self.transition(p);
                    let repeat = body
                        .transitions
                        .iter()
                        .find(|t| same_event(&t.event, &transition.event));
                    if let Some(first) = repeat {
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateTransition,
                                transition.event.span(),
                                format!("`{}` is handled twice", transition.event),
                            )
                            .with_label("second transition for this event")
                            .with_secondary(first.span, "first handled here")
                            .with_help("keep one transition per event"),
                        );
                    } else {
                        body.transitions.push(transition);
                    }
                }
                _ => {}
            }
        }
        body
    }

    fn once<T>(
        &mut self,
        slot: &mut Option<T>,
        value: T,
        at: Span,
        what: &str,
        at_of: fn(&T) -> Span,
    ) {
        match slot {
            Some(first) => self.diags.push(
                Diagnostic::error(
                    Code::DuplicateSetting,
                    at,
                    format!("`{what}` is given twice"),
                )
                .with_label("second setting")
                .with_secondary(at_of(first), "first given here")
                .with_help(format!("keep one `{what}`")),
            ),
            None => *slot = Some(value),
        }
    }

    /// Reports events that `kind` cannot produce.
    fn check_events(
        &mut self,
        transitions: &[Transition],
        kind: &str,
        outcomes: bool,
        has_timeout: bool,
    ) {
        for t in transitions {
            match &t.event {
                Event::Outcome { label } if !outcomes => self.diags.push(
                    Diagnostic::error(
                        Code::NotAllowedHere,
                        label.span,
                        format!("a `{kind}` state has no outcome `{label}`"),
                    )
                    .with_label("custom outcome")
                    .with_note("only tasks and waits report custom outcomes")
                    .with_help("use `ok ->` and `fail ->`, or route on the output with a `choice`"),
                ),
                Event::Timeout { span } if !has_timeout => self.diags.push(
                    Diagnostic::error(
                        Code::NotAllowedHere,
                        *span,
                        "`timeout ->` without a `timeout` setting",
                    )
                    .with_label("this state never times out")
                    .with_help("add a setting such as `timeout 30s;` to the state"),
                ),
                _ => {}
            }
        }
    }

    fn branch(&mut self, pair: P<'_>) -> Branch {
        let whole = span(&pair);
        let names: Vec<Ident> = children(&pair, Rule::name).map(ident).collect();
        let body = self.body(&pair);
        Branch {
            docs: children(&pair, Rule::doc).map(doc).collect(),
            name: names.first().cloned().unwrap_or_else(|| missing(whole)),
            worker: names.get(1).cloned().unwrap_or_else(|| missing(whole)),
            with: body.with,
            retry: body.retry,
            timeout: body.timeout,
            span: whole,
        }
    }

    fn with_block(&mut self, pair: P<'_>) -> With {
        With {
            span: span(&pair),
            entries: self.entries(&pair),
        }
    }

    fn entries(&mut self, pair: &P<'_>) -> Vec<Entry> {
        let mut entries: Vec<Entry> = room_for(pair, Rule::entry);
        for p in children(pair, Rule::entry) {
            let entry = self.entry(p);
            if let Some(first) = entries.iter().find(|e| e.key.name == entry.key.name) {
                let first = first.key.span;
                self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateSetting,
                        entry.key.span,
                        format!("key `{}` is given twice", entry.key.name),
                    )
                    .with_label("second value")
                    .with_secondary(first, "first given here")
                    .with_help("keep one value per key"),
                );
                continue;
            }
            entries.push(entry);
        }
        entries
    }

    fn entry(&mut self, pair: P<'_>) -> Entry {
        let whole = span(&pair);
        let mut inner = pair.into_inner();
        let key_pair = inner.next();
        let key = match key_pair.and_then(|k| k.into_inner().next()) {
            Some(k) if k.as_rule() == Rule::string => {
                let (lit, _) = self.string(k);
                Key {
                    name: lit.value,
                    quoted: true,
                    span: lit.span,
                }
            }
            Some(k) => Key {
                name: k.as_str().into(),
                quoted: false,
                span: span(&k),
            },
            None => Key {
                name: Name::default(),
                quoted: false,
                span: whole,
            },
        };
        let value = inner
            .next()
            .map_or(Value::Null { span: whole }, |v| self.value(v));
        Entry {
            key,
            value,
            span: whole,
        }
    }

    fn retry(&mut self, pair: P<'_>) -> Retry {
        let whole = span(&pair);
        let mut retries = None;
        let mut initial = None;
        let mut multiplier = None;
        let mut max = None;
        let mut jitter = false;
        let mut backoff_start = None;
        let mut after_max = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::integer => retries = Some(self.integer(p)),
                Rule::kw_backoff => backoff_start = Some(span(&p)),
                Rule::kw_max => after_max = true,
                Rule::duration if after_max => max = Some(self.duration(p)),
                Rule::duration => initial = Some(self.duration(p)),
                Rule::multiplier => multiplier = Some(self.multiplier(p)),
                Rule::kw_jitter => jitter = true,
                _ => {}
            }
        }
        let backoff = initial.map(|initial| {
            let start = backoff_start.unwrap_or(initial.span);
            let end = max.as_ref().map_or(initial.span, |m: &DurationLit| m.span);
            Backoff {
                span: start.to(end),
                initial,
                multiplier,
                max,
                jitter,
            }
        });
        Retry {
            retries: retries.unwrap_or(IntLit {
                value: 0,
                span: whole,
            }),
            backoff,
            span: whole,
        }
    }

    fn transition(&mut self, pair: P<'_>) -> Transition {
        let whole = span(&pair);
        let event = child(&pair, Rule::event).map_or(Event::Fail { span: whole }, |e| {
            let at = span(&e);
            let mut inner = e.into_inner();
            match inner.next().map(|k| k.as_rule()) {
                Some(Rule::kw_ok) => Event::Ok { span: at },
                Some(Rule::kw_timeout) => Event::Timeout { span: at },
                Some(Rule::kw_on) => Event::Outcome {
                    label: inner.next().map_or_else(|| missing(at), ident),
                },
                _ => Event::Fail { span: at },
            }
        });
        Transition {
            event,
            target: self.target_in(&pair),
            span: whole,
        }
    }

    fn target_in(&mut self, pair: &P<'_>) -> Target {
        let whole = span(pair);
        let Some(target) = child(pair, Rule::target) else {
            return Target {
                state: missing(whole),
                bound: None,
                span: whole,
            };
        };
        let at = span(&target);
        let names: Vec<Ident> = children(&target, Rule::name).map(ident).collect();
        let state = names.first().cloned().unwrap_or_else(|| missing(at));
        let bound = child(&target, Rule::integer).map(|max| {
            let max = self.integer(max);
            let otherwise = names.get(1).cloned().unwrap_or_else(|| missing(at));
            Box::new(Bound {
                span: Span::new(state.span.end(), at.end()),
                max,
                otherwise,
            })
        });
        Target {
            state,
            bound,
            span: at,
        }
    }

    fn when_arm(&mut self, pair: P<'_>) -> WhenArm {
        let whole = span(&pair);
        let condition = child(&pair, Rule::condition).map_or(
            Expr::Literal(Literal::Bool {
                value: false,
                span: whole,
            }),
            |c| self.condition(c),
        );
        WhenArm {
            condition,
            target: self.target_in(&pair),
            span: whole,
        }
    }

    fn condition(&mut self, pair: P<'_>) -> Expr {
        self.binary_chain(pair, |this, p| match p.as_rule() {
            Rule::conjunct => this.binary_chain(p, |this, p| this.comparison(p)),
            _ => this.comparison(p),
        })
    }

    /// `operand (op operand)*`, folded to the left.
    fn binary_chain(
        &mut self,
        pair: P<'_>,
        mut operand: impl FnMut(&mut Self, P<'_>) -> Expr,
    ) -> Expr {
        let mut inner = pair.into_inner();
        let Some(first) = inner.next() else {
            return Expr::Literal(Literal::Null {
                span: Span::default(),
            });
        };
        let mut lhs = operand(self, first);
        while let (Some(op), Some(next)) = (inner.next(), inner.next()) {
            let op = binop(&op);
            let rhs = operand(self, next);
            lhs = Expr::Binary {
                op,
                span: lhs.span().to(rhs.span()),
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        lhs
    }

    fn comparison(&mut self, pair: P<'_>) -> Expr {
        self.binary_chain(pair, |this, p| this.unary(p))
    }

    fn unary(&mut self, pair: P<'_>) -> Expr {
        let mut nots = Vec::new();
        let mut expr = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::not_op => nots.push(span(&p)),
                _ => expr = Some(self.primary(p)),
            }
        }
        let mut expr = expr.unwrap_or(Expr::Literal(Literal::Null {
            span: Span::default(),
        }));
        for not in nots.into_iter().rev() {
            expr = Expr::Not {
                span: not.to(expr.span()),
                expr: Box::new(expr),
            };
        }
        expr
    }

    fn primary(&mut self, pair: P<'_>) -> Expr {
        let whole = span(&pair);
        let mut inner = pair.into_inner();
        match inner.next() {
            Some(p) if p.as_rule() == Rule::kw_exists => Expr::Exists {
                path: inner.next().map_or_else(
                    || Path {
                        root: missing(whole),
                        segments: Vec::new(),
                        optional: false,
                        span: whole,
                    },
                    |p| self.path(p, &|o| o),
                ),
                span: whole,
            },
            Some(p) if p.as_rule() == Rule::condition => self.condition(p),
            Some(p) if p.as_rule() == Rule::literal => Expr::Literal(self.literal(p)),
            Some(p) => Expr::Path(self.path(p, &|o| o)),
            None => Expr::Literal(Literal::Null { span: whole }),
        }
    }

    fn literal(&mut self, pair: P<'_>) -> Literal {
        let whole = span(&pair);
        match pair.into_inner().next() {
            Some(p) if p.as_rule() == Rule::string => Literal::Str(self.string(p).0),
            Some(p) if p.as_rule() == Rule::number => Literal::Number(self.number(p)),
            Some(p) if p.as_rule() == Rule::kw_true => Literal::Bool {
                value: true,
                span: whole,
            },
            Some(p) if p.as_rule() == Rule::kw_false => Literal::Bool {
                value: false,
                span: whole,
            },
            _ => Literal::Null { span: whole },
        }
    }

    fn value(&mut self, pair: P<'_>) -> Value {
        let whole = span(&pair);
        let Some(p) = pair.into_inner().next() else {
            return Value::Null { span: whole };
        };
        match p.as_rule() {
            Rule::string => Value::Template(self.template(p)),
            Rule::number => Value::Number(self.number(p)),
            Rule::kw_true => Value::Bool {
                value: true,
                span: whole,
            },
            Rule::kw_false => Value::Bool {
                value: false,
                span: whole,
            },
            Rule::list => Value::List {
                items: self.each(&p, Rule::value, Self::value),
                span: whole,
            },
            Rule::object => Value::Object {
                entries: self.entries(&p),
                span: whole,
            },
            Rule::path => Value::Path(self.path(p, &|o| o)),
            _ => Value::Null { span: whole },
        }
    }

    /// A string literal, decoded, with the map from decoded bytes to source offsets.
    fn string(&mut self, pair: P<'_>) -> (StrLit, Decoded) {
        let whole = span(&pair);
        let Some(inner) = pair.into_inner().next() else {
            return (
                StrLit {
                    value: Name::default(),
                    raw_hashes: None,
                    span: whole,
                },
                strings::decode_raw("", whole.start()),
            );
        };
        let raw = inner.as_rule() == Rule::raw_string;
        let body_rule = if raw {
            Rule::raw_body
        } else {
            Rule::string_body
        };
        let (body, body_start) = child(&inner, body_rule)
            .map_or(("", whole.start()), |b| (b.as_str(), b.as_span().start()));
        let (decoded, raw_hashes) = if raw {
            let hashes = inner.as_str()[1..]
                .bytes()
                .take_while(|&b| b == b'#')
                .count();
            (
                strings::decode_raw(body, body_start),
                Some(u8::try_from(hashes).unwrap_or(u8::MAX)),
            )
        } else {
            (
                strings::decode_plain(body, body_start, &mut self.diags),
                None,
            )
        };
        let lit = StrLit {
            value: decoded.value.as_str().into(),
            raw_hashes,
            span: whole,
        };
        (lit, decoded)
    }

    fn template(&mut self, pair: P<'_>) -> Template {
        let (lit, decoded) = self.string(pair);
        let raw = strings::split_template(&decoded, &mut self.diags);
        // At most one part each; see [`room_for`].
        let mut parts = Vec::with_capacity(raw.len());
        for part in raw {
            match part {
                RawPart::Text { text, start, end } => parts.push(TemplatePart::Text {
                    value: text.into(),
                    span: decoded.span(start, end),
                }),
                RawPart::Placeholder { start, end, open } => {
                    let content = &decoded.value[start..end];
                    let to_source =
                        |offset: usize| decoded.span(start + offset, start + offset).start();
                    match OrchParser::parse(Rule::placeholder, content) {
                        Ok(mut pairs) => {
                            let path = pairs
                                .next()
                                .and_then(|p| child(&p, Rule::path))
                                .map(|p| self.path(p, &to_source));
                            if let Some(path) = path {
                                parts.push(TemplatePart::Placeholder(path));
                            }
                        }
                        Err(_) => self.diags.push(
                            Diagnostic::error(
                                Code::InvalidTemplate,
                                decoded.span(open, end + 2),
                                format!("invalid placeholder `{{{{{}}}}}`", content.trim()),
                            )
                            .with_label("a placeholder holds one path")
                            .with_help("write a path such as `{{input.goal}}`, `{{plan.output.tasks[0]}}` or `{{reviews.clarity.output}}`"),
                        ),
                    }
                }
            }
        }
        Template { lit, parts }
    }

    /// A path; `to_source` maps offsets of the parsed text to offsets in the source.
    fn path(&mut self, pair: P<'_>, to_source: &dyn Fn(usize) -> usize) -> Path {
        let map = |p: &P<'_>| {
            let at = p.as_span();
            Span::new(to_source(at.start()), to_source(at.end()))
        };
        let whole = map(&pair);
        let mut root = None;
        // Every part but the root and a `?`; see [`room_for`].
        let written = pair
            .clone()
            .into_inner()
            .filter(|p| p.as_rule() != Rule::maybe);
        let mut segments = Vec::with_capacity(written.count().saturating_sub(1));
        let mut optional = false;
        for p in pair.into_inner() {
            let at = map(&p);
            let name = Name::from(p.as_str());
            match p.as_rule() {
                Rule::maybe => optional = true,
                Rule::raw_ident if root.is_none() => root = Some(Ident { name, span: at }),
                Rule::raw_ident => segments.push(Segment::Field(Ident { name, span: at })),
                _ => match name.parse::<i64>() {
                    Ok(index) => segments.push(Segment::Index { index, span: at }),
                    Err(_) => self.diags.push(
                        Diagnostic::error(Code::InvalidNumber, at, "index out of range")
                            .with_label("this index does not fit in 64 bits"),
                    ),
                },
            }
        }
        Path {
            root: root.unwrap_or_else(|| missing(whole)),
            segments,
            optional,
            span: whole,
        }
    }

    fn integer(&mut self, pair: P<'_>) -> IntLit {
        let at = span(&pair);
        let digits: String = pair.as_str().chars().filter(|&c| c != '_').collect();
        let value = digits.parse::<u64>().unwrap_or_else(|_| {
            self.diags.push(
                Diagnostic::error(Code::InvalidNumber, at, "number too large")
                    .with_label("this does not fit in 64 bits"),
            );
            0
        });
        IntLit { value, span: at }
    }

    fn number(&mut self, pair: P<'_>) -> NumLit {
        let at = span(&pair);
        let text = pair.as_str().to_string();
        let clean: String = text.chars().filter(|&c| c != '_').collect();
        let value = match clean.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.diags.push(
                    Diagnostic::error(Code::InvalidNumber, at, "number out of range")
                        .with_label("this is not a finite number"),
                );
                0.0
            }
        };
        NumLit {
            value,
            text: text.into(),
            span: at,
        }
    }

    fn multiplier(&mut self, pair: P<'_>) -> Multiplier {
        let at = span(&pair);
        let text = pair.as_str().to_string();
        let value = match text[1..].parse::<f64>() {
            Ok(value) if value.is_finite() => value,
            _ => {
                self.diags.push(
                    Diagnostic::error(Code::InvalidNumber, at, "multiplier out of range")
                        .with_label("this is not a finite number"),
                );
                1.0
            }
        };
        Multiplier {
            value,
            text: text.into(),
            span: at,
        }
    }

    fn duration(&mut self, pair: P<'_>) -> DurationLit {
        let at = span(&pair);
        let text = pair.as_str().to_string();
        let value = parse_duration(&text).unwrap_or_else(|| {
            self.diags.push(
                Diagnostic::error(Code::InvalidDuration, at, "duration out of range")
                    .with_label("too long to represent")
                    .with_help("durations go up to about 584 billion years (2^64 seconds)"),
            );
            Duration::ZERO
        });
        DurationLit {
            value,
            text: text.into(),
            span: at,
        }
    }
}

/// Parses `1h30m`, `1.5s`, `500ms`; `None` on overflow. The grammar has checked the shape.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let unit_len = if tail.starts_with("ms") { 2 } else { 1 };
        let (unit, tail) = tail.split_at(unit_len.min(tail.len()));
        let unit_nanos: u128 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return None,
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = whole.parse().ok()?;
        let mut nanos = whole.checked_mul(unit_nanos)?;
        let mut scale = unit_nanos;
        for digit in fraction.bytes() {
            scale /= 10;
            nanos = nanos.checked_add(u128::from(digit - b'0') * scale)?;
        }
        total = total.checked_add(nanos)?;
        rest = tail;
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (total % 1_000_000_000) as u32))
}

fn binop(pair: &P<'_>) -> BinOp {
    match pair.as_str() {
        "||" => BinOp::Or,
        "&&" => BinOp::And,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        _ => BinOp::Contains,
    }
}

fn same_event(a: &Event, b: &Event) -> bool {
    match (a, b) {
        (Event::Outcome { label: a }, Event::Outcome { label: b }) => a.name == b.name,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

fn missing(span: Span) -> Ident {
    Ident {
        name: Name::default(),
        span,
    }
}

fn zero_duration(span: Span) -> DurationLit {
    DurationLit {
        value: Duration::ZERO,
        text: "0s".into(),
        span,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use crate::ast::{Item, StateKind, TemplatePart, Value};
    use std::time::Duration;

    #[test]
    fn the_trees_lists_have_no_room_to_spare() {
        let file = crate::parse(
            r#"
            workflow W {
                worker A;
                start a;
                task a by A {
                    with { x: "{{input.goal}}", y: [1, 2, 3], z: input.list.items[0] }
                    ok -> b;
                    fail -> done;
                }
                choice b {
                    when input.n > 1 -> done;
                    when input.n > 2 -> done;
                    when input.n > 3 -> done;
                    else -> done;
                }
                parallel p { branch one by A; branch two by A; join all; ok -> done; fail -> done; }
                succeed done;
            }
            "#,
        )
        .unwrap();
        let exact = |len: usize, capacity: usize| assert_eq!((len, capacity), (len, len));
        let mut lists = 0;
        for item in &file.workflows[0].items {
            let Item::State(state) = item else { continue };
            match &state.kind {
                StateKind::Task(task) => {
                    exact(task.transitions.len(), task.transitions.capacity());
                    let entries = &task.with.as_ref().unwrap().entries;
                    exact(entries.len(), entries.capacity());
                    for entry in entries {
                        match &entry.value {
                            Value::Template(template) => {
                                exact(template.parts.len(), template.parts.capacity());
                                let TemplatePart::Placeholder(path) = &template.parts[0] else {
                                    panic!("a placeholder")
                                };
                                exact(path.segments.len(), path.segments.capacity());
                            }
                            Value::List { items, .. } => exact(items.len(), items.capacity()),
                            Value::Path(path) => {
                                exact(path.segments.len(), path.segments.capacity())
                            }
                            other => panic!("unexpected {other:?}"),
                        }
                        lists += 1;
                    }
                }
                StateKind::Choice(choice) => exact(choice.arms.len(), choice.arms.capacity()),
                StateKind::Parallel(parallel) => {
                    exact(parallel.branches.len(), parallel.branches.capacity());
                    exact(parallel.transitions.len(), parallel.transitions.capacity());
                }
                _ => continue,
            }
            lists += 1;
        }
        assert_eq!(lists, 6, "every list above was looked at");
    }

    #[test]
    fn durations_add_their_parts() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("0.001ms"), Some(Duration::from_nanos(1_000)));
        assert_eq!(parse_duration("99999999999999999999999d"), None);
    }
}
