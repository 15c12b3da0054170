//! Syntax errors in words a user understands: ``expected `->` or `;`, found `done` ``.

use std::collections::BTreeSet;

use pest::error::{Error, InputLocation};

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

/// What the parser wanted, as shown to a user.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Expected {
    /// A token, shown in backticks.
    Token(String),
    /// A kind of thing: "a name", "a duration".
    Phrase(&'static str),
}

pub(crate) fn syntax_error(error: &Error<Rule>, source: &str, tokens: &[Token]) -> Diagnostic {
    let at = offset(error);
    let expected = expectations(error);
    let found_token =
        lexical::token_at(tokens, at).filter(|t| t.span.start <= at.max(t.span.start));
    let found = found_token.map_or("end of input".to_string(), |t| describe_token(t, source));
    let span = found_token.map_or(Span::new(source.len(), source.len()), |t| t.span);
    let wanted = join(&expected);
    let message = if wanted.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {wanted}, found {found}")
    };
    let mut diagnostic =
        Diagnostic::error(Code::Syntax, span, message).with_label(if wanted.is_empty() {
            "unexpected here".to_string()
        } else {
            format!("expected {wanted}")
        });
    if let Some(help) = help_for(&expected, found_token, source) {
        diagnostic = diagnostic.with_help(help);
    }
    if let Some(prev) = lexical::token_before(tokens, at) {
        if expected.contains(&Expected::Token(";".into()))
            && found_token.is_some_and(|t| t.span.start > prev.span.end)
        {
            diagnostic = diagnostic.with_secondary(prev.span, "expected `;` after this");
        }
    }
    diagnostic
}

fn expectations(error: &Error<Rule>) -> BTreeSet<Expected> {
    let mut out = BTreeSet::new();
    let Some(attempts) = error.parse_attempts() else {
        if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
            for rule in positives {
                describe_rule(*rule, &mut out);
            }
        }
        return out;
    };
    for stack in attempts.call_stacks() {
        if let Some(rule) = stack.deepest.get_rule() {
            describe_rule(*rule, &mut out);
        }
    }
    let condition = out.contains(&Expected::Phrase("a condition"));
    let value = out.contains(&Expected::Phrase("a value"));
    for token in attempts.expected_tokens() {
        let token = token.to_string();
        // "a condition" and "a value" already say what they may start with.
        let implied = (condition && matches!(token.as_str(), "(" | "!"))
            || (value && matches!(token.as_str(), "[" | "{"));
        if is_punctuation(&token) && !implied {
            out.insert(Expected::Token(token));
        }
    }
    out
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

fn describe_rule(rule: Rule, out: &mut BTreeSet<Expected>) {
    let keyword = |s: &str| Expected::Token(s.to_string());
    let phrase = match rule {
        Rule::name | Rule::raw_ident | Rule::key => "a name",
        Rule::string | Rule::plain_string | Rule::raw_string => "a string",
        Rule::integer => "a whole number",
        Rule::number => "a number",
        Rule::duration => "a duration such as `30s`",
        Rule::multiplier => "a multiplier such as `x2`",
        Rule::type_name => {
            "a type (`string`, `number`, `integer`, `bool`, `list`, `object` or `any`)"
        }
        Rule::path => "a path such as `input.goal`",
        Rule::value => "a value",
        Rule::literal => "a literal",
        Rule::condition | Rule::conjunct | Rule::comparison | Rule::unary | Rule::primary => {
            "a condition"
        }
        Rule::compare_op => "a comparison",
        Rule::workflow_item => "a declaration or a state",
        Rule::workflow => {
            out.insert(keyword("workflow"));
            return;
        }
        Rule::event => "a transition such as `ok -> next;`",
        Rule::EOI => "end of input",
        // pest folds the alternatives of a state body into the state's rule; list them.
        Rule::task_state => return body(out, &["with", "retry", "timeout"], true),
        Rule::parallel_state => return body(out, &["branch", "join", "timeout"], true),
        Rule::map_state => return body(out, &["with", "limit", "retry", "timeout"], true),
        Rule::loop_state => return body(out, &["with", "until", "max", "retry", "timeout"], true),
        Rule::wait_state => return body(out, &["timeout"], true),
        Rule::call_state => return body(out, &["with", "timeout"], true),
        Rule::branch => return body(out, &["with", "retry", "timeout"], false),
        Rule::choice_state => return body(out, &["when", "else"], false),
        Rule::or_op => {
            out.insert(keyword("||"));
            return;
        }
        Rule::and_op => {
            out.insert(keyword("&&"));
            return;
        }
        Rule::doc | Rule::WHITESPACE | Rule::COMMENT => return,
        other => {
            let name = format!("{other:?}");
            if let Some(word) = name.strip_prefix("kw_") {
                out.insert(keyword(word));
            }
            return;
        }
    };
    out.insert(Expected::Phrase(phrase));
}

fn body(out: &mut BTreeSet<Expected>, keywords: &[&str], transitions: bool) {
    out.extend(keywords.iter().map(|k| Expected::Token((*k).to_string())));
    if transitions {
        out.insert(Expected::Phrase("a transition such as `ok -> next;`"));
    }
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

fn help_for(expected: &BTreeSet<Expected>, found: Option<Token>, source: &str) -> Option<String> {
    let found = found?;
    let text = found.span.text(source);
    if text.starts_with('\'') {
        return Some("strings use double quotes: `\"…\"`".to_string());
    }
    if text == "#" {
        return Some("comments start with `//`".to_string());
    }
    if found.kind == TokenKind::Ident {
        let keywords = expected.iter().filter_map(|e| match e {
            Expected::Token(t) if t.chars().all(|c| c.is_ascii_alphabetic() || c == '_') => {
                Some(t.as_str())
            }
            _ => None,
        });
        let keywords: Vec<&str> =
            if expected.contains(&Expected::Phrase("a declaration or a state")) {
                RESERVED_WORDS.to_vec()
            } else {
                keywords.collect()
            };
        if let Some(best) = crate::suggest::closest(text, keywords) {
            return Some(format!("did you mean `{best}`?"));
        }
    }
    if expected.contains(&Expected::Token(";".into())) {
        return Some("end the statement with `;`".to_string());
    }
    None
}
