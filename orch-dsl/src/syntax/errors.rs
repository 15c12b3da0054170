//! Syntax errors in words a user understands: ``expected `->` or `;`, found `done` ``.
//!
//! pest reports the rules it tried at the farthest position it reached. They are turned into
//! tokens and phrases ("a duration such as `30s`"), then the token found there is named, and a
//! help is added for the mistakes people make most: a misspelled keyword, `=` for `==`, a
//! setting in the wrong kind of state, a missing `;` at the end of a line.

use std::collections::BTreeSet;

use pest::error::{Error, InputLocation};

mod help;

use self::help::{Context, enclosing_body, help_for};
use super::Rule;
use super::lexical::{self, Token, TokenKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

/// The reserved words of the language: they cannot name workflows, states, workers, signals,
/// input fields, branches, outcomes or variables.
pub const RESERVED_WORDS: [&str; 40] = [
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
];

pub(crate) fn offset(error: &Error<Rule>) -> usize {
    if let Some(attempts) = error.parse_attempts() {
        return attempts.max_position;
    }
    match error.location {
        InputLocation::Pos(at) => at,
        InputLocation::Span((at, _)) => at,
    }
}

const NAME: &str = "a name";
const WHOLE_NUMBER: &str = "a whole number";
const NUMBER: &str = "a number";
const DURATION: &str = "a duration such as `30s`";
const MULTIPLIER: &str = "a multiplier such as `x2`";
const INDEX: &str = "an index such as `0` or `-1`";
const CONDITION: &str = "a condition";
const OPERAND: &str = "a path or a literal";
const COMPARISON: &str = "a comparison operator";
const TRANSITION: &str = "a transition such as `ok -> next;`";
const DECLARATION: &str = "a declaration";
const STATE: &str = "a state";

const COMPARISON_TOKENS: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];

/// What the parser wanted, as shown to a user.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Expected {
    /// A token, shown in backticks.
    Token(String),
    /// A kind of thing: "a name", "a duration".
    Phrase(&'static str),
}

impl Expected {
    fn token(text: &str) -> Expected {
        Expected::Token(text.to_string())
    }

    /// Lexical pieces that continue a number token when written right after it.
    fn is_numeric(&self) -> bool {
        matches!(
            self,
            Expected::Phrase(p) if [WHOLE_NUMBER, NUMBER, DURATION, MULTIPLIER, INDEX].contains(p)
        )
    }
}

/// The kind of block pest was inside when it stopped, if it stopped in a state or branch body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Task,
    Choice,
    Parallel,
    Map,
    Loop,
    Wait,
    Call,
    Branch,
}

impl Body {
    fn keyword(self) -> &'static str {
        match self {
            Body::Task => "task",
            Body::Choice => "choice",
            Body::Parallel => "parallel",
            Body::Map => "map",
            Body::Loop => "loop",
            Body::Wait => "wait",
            Body::Call => "call",
            Body::Branch => "branch",
        }
    }

    /// The settings this body takes, as keywords.
    fn settings(self) -> &'static [&'static str] {
        match self {
            Body::Task => &["with", "retry", "timeout"],
            Body::Choice => &["when", "else"],
            Body::Parallel => &["branch", "join", "timeout"],
            Body::Map => &["with", "limit", "retry", "timeout"],
            Body::Loop => &["with", "until", "max", "retry", "timeout"],
            Body::Wait => &["timeout"],
            Body::Call => &["with", "timeout"],
            Body::Branch => &["with", "retry", "timeout"],
        }
    }

    fn has_transitions(self) -> bool {
        !matches!(self, Body::Choice | Body::Branch)
    }

    /// "a `task` state", "a branch".
    fn described(self) -> String {
        match self {
            Body::Branch => "a branch".to_string(),
            other => format!("a `{}` state", other.keyword()),
        }
    }

    const ALL: [Body; 8] = [
        Body::Task,
        Body::Choice,
        Body::Parallel,
        Body::Map,
        Body::Loop,
        Body::Wait,
        Body::Call,
        Body::Branch,
    ];
}

/// Everything pest would have accepted at the error position.
struct Wanted {
    set: BTreeSet<Expected>,
    body: Option<Body>,
}

impl Wanted {
    fn has(&self, token: &str) -> bool {
        self.set.contains(&Expected::token(token))
    }

    fn has_phrase(&self, phrase: &str) -> bool {
        self.set
            .iter()
            .any(|e| matches!(e, Expected::Phrase(p) if *p == phrase))
    }
}

pub(crate) fn syntax_error(error: &Error<Rule>, source: &str, tokens: &[Token]) -> Diagnostic {
    let mut at = offset(error);
    let mut wanted = expectations(error);
    // A number token that ends exactly where pest stopped: either the token itself is malformed
    // (`timeout 10;` wants a duration), or pest also tried to make the number longer, which is
    // not worth mentioning (`max 3;` wants `else`, not more digits).
    if let Some(number) = lexical::token_before(tokens, at)
        .filter(|t| t.kind == TokenKind::Number && t.span.end() == at)
    {
        if !wanted.set.is_empty() && wanted.set.iter().all(Expected::is_numeric) {
            at = number.span.start();
        } else {
            wanted.set.retain(|e| !e.is_numeric());
        }
    }
    let found = lexical::token_at(tokens, at);
    let prev = lexical::token_before(tokens, at);
    if let Some(diagnostic) = space_in_path(&wanted, source, at, prev, found) {
        return diagnostic;
    }
    let text = found.map_or("", |t| t.span.text(source));
    if wanted.body.is_none() {
        wanted.body = enclosing_body(tokens, source, at);
    }
    let help = refine(&mut wanted, source, prev, text);
    let cx = Context {
        source,
        wanted: &wanted,
        found,
        text,
        prev,
        tokens,
    };
    let found_text = found.map_or("end of input".to_string(), |t| describe_token(t, source));
    let span = found.map_or(Span::new(source.len(), source.len()), |t| t.span);
    let list = join(&wanted.set);
    let message = if list.is_empty() {
        format!("unexpected {found_text}")
    } else {
        format!("expected {list}, found {found_text}")
    };
    let mut diagnostic =
        Diagnostic::error(Code::Syntax, span, message).with_label(label(&wanted, &list));
    if let Some(help) = help.or_else(|| help_for(&cx)) {
        diagnostic = diagnostic.with_help(help);
    }
    // A statement that ends at a line break without its `;` (or an entry without its `,`) is the
    // likeliest reading of an error at the start of the next line.
    if let Some(prev) = prev.filter(|_| cx.found_on_new_line() || text == "}")
        && let Some(separator) = [";", ","].into_iter().find(|s| wanted.has(s))
    {
        diagnostic =
            diagnostic.with_secondary(prev.span, format!("expected `{separator}` after this"));
    }
    diagnostic
}

/// Narrows what pest listed to what can follow here, and returns a help when the narrowing
/// itself explains the error.
fn refine(wanted: &mut Wanted, source: &str, prev: Option<Token>, text: &str) -> Option<String> {
    // After a comparison operator only its right-hand side may follow, not a whole condition.
    let after_comparison = prev.is_some_and(|p| {
        let op = p.span.text(source);
        COMPARISON_TOKENS.contains(&op) || op == "contains"
    });
    if after_comparison && wanted.set.remove(&Expected::Phrase(CONDITION)) {
        wanted.set.insert(Expected::Phrase(OPERAND));
    }
    collapse_comparisons(&mut wanted.set);
    // In a choice, `when` and `else` are always listed; if one is found anyway, an `else` arm
    // came before it.
    let only_close = BTreeSet::from([Expected::token("}")]);
    let contradiction = wanted.has(text) || wanted.set == only_close;
    let mut help = None;
    if wanted.body == Some(Body::Choice) && matches!(text, "when" | "else") && contradiction {
        wanted.set = only_close;
        help = Some(if text == "when" {
            "the `else` arm must come last in a `choice`".to_string()
        } else {
            "a `choice` has at most one `else` arm".to_string()
        });
    }
    // The body is worth naming only when pest stopped where a body statement may start.
    if wanted
        .body
        .is_some_and(|body| !body.settings().iter().all(|k| wanted.has(k)))
    {
        wanted.body = None;
    }
    help
}

/// The label under the found token: the list itself when it is short, else what it amounts to.
fn label(wanted: &Wanted, list: &str) -> String {
    if list.is_empty() {
        return "unexpected token".to_string();
    }
    if wanted.set.len() <= 3 {
        return format!("expected {list}");
    }
    if wanted.has_phrase(COMPARISON) {
        return "expected an operator".to_string();
    }
    match wanted.body {
        Some(Body::Parallel) => "expected a branch, a setting or a transition".to_string(),
        Some(Body::Branch) => "expected a setting or `}`".to_string(),
        Some(body) if body.has_transitions() => "expected a setting or a transition".to_string(),
        _ if wanted.set.len() <= 5 => format!("expected {list}"),
        _ => "unexpected token".to_string(),
    }
}

/// `plan. output`: paths are written without spaces, so pest stops at the space.
fn space_in_path(
    wanted: &Wanted,
    source: &str,
    at: usize,
    prev: Option<Token>,
    found: Option<Token>,
) -> Option<Diagnostic> {
    let prev = prev.filter(|p| p.span.end() == at)?;
    let after_dot = prev.span.text(source) == ".";
    let after_bracket = prev.span.text(source) == "[";
    let wants_piece =
        (after_dot && wanted.has_phrase(NAME)) || (after_bracket && wanted.has_phrase(INDEX));
    if !wants_piece || !source[at..].starts_with(char::is_whitespace) {
        return None;
    }
    let end = found.map_or(source.len(), |t| t.span.start());
    let mut diagnostic = Diagnostic::error(
        Code::Syntax,
        Span::new(at, end),
        format!(
            "expected {} after `{}`, found a space",
            if after_dot { NAME } else { INDEX },
            prev.span.text(source)
        ),
    )
    .with_label("paths are written without spaces");
    if let Some(found) = found {
        let i = source[..prev.span.start()]
            .rfind(|c: char| c.is_whitespace() || "{([,:".contains(c))
            .map_or(0, |i| i + 1);
        let joined = format!("{}{}", &source[i..at], found.span.text(source));
        diagnostic = diagnostic.with_help(format!("remove the space: `{joined}`"));
    }
    Some(diagnostic)
}

fn expectations(error: &Error<Rule>) -> Wanted {
    let mut wanted = Wanted {
        set: BTreeSet::new(),
        body: None,
    };
    let Some(attempts) = error.parse_attempts() else {
        if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
            for rule in positives {
                describe_rule(*rule, &mut wanted);
            }
        }
        return wanted;
    };
    for stack in attempts.call_stacks() {
        if let Some(rule) = stack.deepest.get_rule() {
            describe_rule(*rule, &mut wanted);
        }
    }
    let condition = wanted.has_phrase(CONDITION) || wanted.has_phrase(OPERAND);
    let value = wanted.has_phrase("a value");
    for token in attempts.expected_tokens() {
        let token = token.to_string();
        // "a condition" and "a value" already say what they may start with.
        let implied = (condition && matches!(token.as_str(), "(" | "!"))
            || (value && matches!(token.as_str(), "[" | "{"));
        if is_punctuation(&token) && !implied {
            wanted.set.insert(Expected::Token(token));
        }
    }
    wanted
}

/// The six comparison tokens and `contains` read better as one phrase.
fn collapse_comparisons(set: &mut BTreeSet<Expected>) {
    if COMPARISON_TOKENS
        .iter()
        .all(|t| set.contains(&Expected::token(t)))
    {
        for t in COMPARISON_TOKENS.iter().chain(&["contains"]) {
            set.remove(&Expected::token(t));
        }
        set.insert(Expected::Phrase(COMPARISON));
    }
}

fn is_punctuation(token: &str) -> bool {
    matches!(
        token,
        "{" | "}"
            | "("
            | ")"
            | "["
            | "]"
            | ";"
            | ":"
            | ","
            | "->"
            | "="
            | "=="
            | "!="
            | "<="
            | ">="
            | "<"
            | ">"
            | "||"
            | "&&"
            | "!"
    )
}

fn describe_rule(rule: Rule, wanted: &mut Wanted) {
    let out = &mut wanted.set;
    let phrase = match rule {
        Rule::name | Rule::raw_ident | Rule::key => NAME,
        Rule::string | Rule::plain_string | Rule::raw_string => "a string",
        Rule::integer => WHOLE_NUMBER,
        Rule::number => NUMBER,
        Rule::duration => DURATION,
        Rule::multiplier => MULTIPLIER,
        Rule::index => INDEX,
        Rule::type_name => {
            "a type (`string`, `number`, `integer`, `bool`, `list`, `object` or `any`)"
        }
        Rule::path => "a path such as `input.goal`",
        Rule::value => "a value",
        Rule::literal => "a literal",
        Rule::outcome => "an outcome such as `approved`",
        Rule::condition | Rule::conjunct | Rule::comparison | Rule::unary | Rule::primary => {
            CONDITION
        }
        Rule::compare_op => COMPARISON,
        Rule::workflow_item => {
            out.insert(Expected::Phrase(DECLARATION));
            STATE
        }
        Rule::workflow => {
            out.insert(Expected::token("workflow"));
            return;
        }
        Rule::event => TRANSITION,
        Rule::EOI => "end of input",
        // pest folds the alternatives of a state body into the state's rule; list them.
        Rule::task_state => return body(wanted, Body::Task),
        Rule::parallel_state => return body(wanted, Body::Parallel),
        Rule::map_state => return body(wanted, Body::Map),
        Rule::loop_state => return body(wanted, Body::Loop),
        Rule::wait_state => return body(wanted, Body::Wait),
        Rule::call_state => return body(wanted, Body::Call),
        Rule::branch => return body(wanted, Body::Branch),
        Rule::choice_state => return body(wanted, Body::Choice),
        Rule::or_op => {
            out.insert(Expected::token("||"));
            return;
        }
        Rule::and_op => {
            out.insert(Expected::token("&&"));
            return;
        }
        Rule::doc | Rule::WHITESPACE | Rule::COMMENT => return,
        other => {
            let name = format!("{other:?}");
            if let Some(word) = name.strip_prefix("kw_") {
                out.insert(Expected::token(word));
            }
            return;
        }
    };
    out.insert(Expected::Phrase(phrase));
}

fn body(wanted: &mut Wanted, body: Body) {
    wanted
        .set
        .extend(body.settings().iter().map(|k| Expected::token(k)));
    if body.has_transitions() {
        wanted.set.insert(Expected::Phrase(TRANSITION));
    }
    wanted.body = Some(body);
}

fn join(expected: &BTreeSet<Expected>) -> String {
    let shown: Vec<String> = expected
        .iter()
        .map(|e| match e {
            Expected::Token(t) => format!("`{t}`"),
            Expected::Phrase(p) => (*p).to_string(),
        })
        .collect();
    match shown.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn describe_token(token: Token, source: &str) -> String {
    match token.kind {
        TokenKind::Str => "a string".to_string(),
        TokenKind::Doc => "a doc comment".to_string(),
        _ => {
            let text = token.span.text(source);
            if text.chars().count() > 24 {
                format!("`{}…`", text.chars().take(24).collect::<String>())
            } else {
                format!("`{text}`")
            }
        }
    }
}
