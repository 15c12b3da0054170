//! Helps for syntax errors: the likeliest fix for the mistakes people make most.

use std::collections::BTreeSet;

use super::lexical::{Token, TokenKind};
use super::{
    Body, COMPARISON, DECLARATION, DURATION, Expected, INDEX, MULTIPLIER, NAME, RESERVED_WORDS,
    TRANSITION, WHOLE_NUMBER, Wanted,
};

/// The pieces a help is chosen from.
pub(super) struct Context<'a> {
    pub source: &'a str,
    pub wanted: &'a Wanted,
    pub found: Option<Token>,
    /// The text of the found token ("" at the end of the input).
    pub text: &'a str,
    pub prev: Option<Token>,
    pub tokens: &'a [Token],
}

impl Context<'_> {
    fn found_is(&self, kind: TokenKind) -> bool {
        self.found.is_some_and(|t| t.kind == kind)
    }

    /// True when a line break separates the found token from the one before it.
    pub fn found_on_new_line(&self) -> bool {
        match (self.prev, self.found) {
            (Some(prev), Some(found)) => {
                self.source[prev.span.end()..found.span.start()].contains('\n')
            }
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The token after the found one.
    fn next(&self) -> Option<Token> {
        let found = self.found?;
        let i = self
            .tokens
            .partition_point(|t| t.span.start() <= found.span.start());
        self.tokens.get(i).copied()
    }

    /// The text of the `n`th token before the found one (`1` is the one just before).
    fn before(&self, n: usize) -> Option<&str> {
        let end = self.found.map_or(self.source.len(), |t| t.span.start());
        let i = self.tokens.partition_point(|t| t.span.end() <= end);
        let token = self.tokens.get(i.checked_sub(n)?)?;
        Some(token.span.text(self.source))
    }
}

pub(super) fn help_for(cx: &Context<'_>) -> Option<String> {
    let wanted = cx.wanted;
    let text = cx.text;
    if let Some(inner) = text.strip_prefix('\'') {
        let inner = inner.strip_suffix('\'').unwrap_or(inner);
        return Some(format!("strings use double quotes: `\"{inner}\"`"));
    }
    if text == "#" {
        return Some("comments start with `//`".to_string());
    }
    if cx.found_is(TokenKind::Doc) {
        return Some(
            "doc comments (`///`) document workflows, workers, signals, input fields, states and \
             branches; write `//` for other comments"
                .to_string(),
        );
    }
    if let Some(help) = operator_help(cx) {
        return Some(help);
    }
    if cx.found_is(TokenKind::Number)
        && let Some(help) = number_help(cx)
    {
        return Some(help);
    }
    if text == "-" && wanted.has_phrase(WHOLE_NUMBER) {
        return Some("a count cannot be negative".to_string());
    }
    if let Some(help) = body_help(cx) {
        return Some(help);
    }
    let bound_count = if wanted.has("else") && cx.before(2) == Some("max") {
        cx.before(1)
    } else if wanted.has_phrase(NAME) && cx.before(1) == Some("else") && cx.before(3) == Some("max")
    {
        cx.before(2)
    } else {
        None
    };
    if let Some(count) = bound_count {
        return Some(format!(
            "name the state to go to once the bound is reached: `max {count} else <state>`"
        ));
    }
    if wanted.has_phrase(WHOLE_NUMBER) && cx.before(1) == Some("retry") {
        return Some(
            "`retry` takes the number of retries after the first attempt, as in `retry 2`"
                .to_string(),
        );
    }
    if wanted.has_phrase(INDEX) {
        return Some(
            "an index is a number, as in `tasks[0]` or `tasks[-1]` (from the end); to run a step \
             for every item, use a `map` state"
                .to_string(),
        );
    }
    if wanted.has_phrase(NAME) && cx.before(1) == Some("workflow") {
        return Some("name the workflow: `workflow Name { … }`".to_string());
    }
    if wanted.set == BTreeSet::from([Expected::token("workflow")])
        && crate::suggest::closest(text, ["workflow"]).is_none()
    {
        return Some("a file holds workflows, each written `workflow Name { … }`".to_string());
    }
    if let Some(help) = shape_help(cx) {
        return Some(help);
    }
    if cx.found_is(TokenKind::Ident)
        && let Some(help) = did_you_mean(cx)
    {
        return Some(help);
    }
    let next_is_colon = cx.found.is_some_and(|found| {
        let i = cx
            .tokens
            .partition_point(|t| t.span.start() <= found.span.start());
        cx.tokens
            .get(i)
            .is_some_and(|t| t.span.text(cx.source) == ":")
    });
    if wanted.has(",") && (text == ";" || next_is_colon || cx.found_on_new_line()) {
        return Some("separate the entries with `,`".to_string());
    }
    if wanted.has(";") && (cx.found_on_new_line() || text == "}") {
        return Some("end the statement with `;`".to_string());
    }
    None
}

/// `=` for `==`, `and` for `&&`, `=>` for `->`, `a == b == c`.
fn operator_help(cx: &Context<'_>) -> Option<String> {
    let wanted = cx.wanted;
    let comparison = wanted.has_phrase(COMPARISON) || wanted.has("==");
    match cx.text {
        "=" if comparison => Some("use `==` to compare two values".to_string()),
        "=>" | "=" | "-" | ">" if wanted.has("->") => {
            Some("a transition is written with `->`".to_string())
        }
        "and" | "AND" if wanted.has("&&") => Some(format!("use `&&` instead of `{}`", cx.text)),
        "or" | "OR" if wanted.has("||") => Some(format!("use `||` instead of `{}`", cx.text)),
        "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" if wanted.has("&&") => Some(
            "comparisons cannot be chained; combine two comparisons with `&&`, as in \
             `a < b && b < c`"
                .to_string(),
        ),
        _ => None,
    }
}

/// A duration without a unit or with an unknown one, a multiplier written `2x`, `1h 30m`.
fn number_help(cx: &Context<'_>) -> Option<String> {
    let wanted = cx.wanted;
    let text = cx.text;
    if wanted.has_phrase(DURATION) {
        let unit_after = cx
            .next()
            .filter(|next| matches!(next.span.text(cx.source), "ms" | "s" | "m" | "h" | "d"));
        if let Some(unit) = unit_after {
            return Some(format!(
                "write the unit right after the number: `{text}{}`",
                unit.span.text(cx.source)
            ));
        }
        let all_digits = text.chars().all(|c| c.is_ascii_digit() || c == '.');
        return Some(if all_digits {
            format!("add a unit: `{text}ms`, `{text}s`, `{text}m`, `{text}h` or `{text}d`")
        } else if text.ends_with(|c: char| c.is_ascii_digit()) {
            format!("every number in a duration needs a unit, as in `{text}m`")
        } else {
            let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            format!(
                "the units of a duration are `ms`, `s`, `m`, `h` and `d`, as in `{digits}s` or \
                 `{digits}m`"
            )
        });
    }
    if wanted.has_phrase(MULTIPLIER) {
        let factor = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        return Some(format!(
            "a multiplier is `x` followed by the factor, as in `x{factor}`"
        ));
    }
    let prev = cx.prev?;
    let prev_text = prev.span.text(cx.source);
    let is_duration = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_digit())
            && s.ends_with(['s', 'm', 'h', 'd'])
            && !s.contains('x')
    };
    if wanted.has(";")
        && prev.kind == TokenKind::Number
        && is_duration(prev_text)
        && is_duration(text)
    {
        return Some(format!(
            "write the parts of a duration without spaces: `{prev_text}{text}`"
        ));
    }
    None
}

/// A setting or transition in a body that cannot take it.
fn body_help(cx: &Context<'_>) -> Option<String> {
    let body = cx.wanted.body?;
    let word = cx.text;
    if matches!(word, "ok" | "fail" | "on" | "timeout") {
        return match body {
            Body::Branch => Some(
                "a branch has no transitions; write them in the `parallel` state, after its \
                 branches"
                    .to_string(),
            ),
            Body::Choice => Some(
                "a `choice` routes with `when <condition> -> <state>;` and `else -> <state>;`"
                    .to_string(),
            ),
            _ => None,
        };
    }
    if body == Body::Parallel && word == "with" {
        return Some("a `parallel` state takes no `with`; give each branch its own".to_string());
    }
    let homes: Vec<Body> = Body::ALL
        .into_iter()
        .filter(|b| b.settings().contains(&word))
        .collect();
    match homes.as_slice() {
        [] => None,
        [home] if *home != Body::Branch => {
            Some(format!("`{word}` is only allowed in {}", home.described()))
        }
        _ => Some(format!("`{word}` is not allowed in {}", body.described())),
    }
}

/// How a statement is written, when pest stopped in its header.
fn shape_help(cx: &Context<'_>) -> Option<String> {
    let wanted = cx.wanted;
    let word = statement_word(
        cx.tokens,
        cx.source,
        cx.found.map_or(cx.source.len(), |t| t.span.start()),
    )?;
    let header = ["by", "over", "as", "for", "workflow"]
        .iter()
        .any(|k| wanted.has(k));
    if header {
        let shape = match word {
            "task" => "`task <name> by <Worker> { … }`",
            "map" => "`map <name> over <path> as <item> by <Worker> { … }`",
            "loop" => "`loop <name> by <Worker> { … }` or `loop <name> by <Worker> as <var> { … }`",
            "wait" => "`wait <name> for <Signal> { … }`",
            "call" => "`call <name> workflow <Workflow> { … }`",
            "branch" => "`branch <name> by <Worker>;` or `branch <name> by <Worker> { … }`",
            _ => return None,
        };
        let what = if word == "branch" {
            "a branch".to_string()
        } else {
            format!("a `{word}` state")
        };
        return Some(format!("{what} is written {shape}"));
    }
    if matches!(word, "worker" | "signal") && wanted.has(";") && cx.text == "{" {
        return Some(format!(
            "a `{word}` declaration is a name and an optional description, as in \
             `{word} Name \"what it does\";`"
        ));
    }
    if wanted.has("all") && wanted.has("any") {
        return Some(
            "`join all` waits for every branch, `join any` for the first to succeed, `join 2` \
             for two"
                .to_string(),
        );
    }
    // One token missing between two that are right: show the statement with it.
    let prev = cx.prev?.span.text(cx.source);
    let joined = |sep: &str| format!("write `{prev}{sep}{}`", cx.text);
    let fits = cx.text.chars().count() <= 24 && prev.chars().count() <= 24;
    let pieces = cx.found.is_some_and(|t| {
        matches!(
            t.kind,
            TokenKind::Ident | TokenKind::Str | TokenKind::Number
        )
    });
    match wanted.set.iter().collect::<Vec<_>>().as_slice() {
        [Expected::Token(t)] if t == ":" && fits && pieces => Some(joined(": ")),
        [Expected::Token(t)] if t == "->" && fits && cx.found_is(TokenKind::Ident) => {
            Some(joined(" -> "))
        }
        _ => None,
    }
}

/// The first word of the statement holding `at`: from just after the previous `;`, `{` or `}`
/// at the same depth.
fn statement_word<'a>(tokens: &[Token], source: &'a str, at: usize) -> Option<&'a str> {
    let end = tokens.partition_point(|t| t.span.end() <= at);
    let mut depth = 0usize;
    let mut first = None;
    for i in (0..end).rev() {
        match tokens[i].kind {
            TokenKind::Close(_) if depth == 0 && tokens[i].span.text(source) == "}" => break,
            TokenKind::Close(_) => depth += 1,
            TokenKind::Open(_) if depth == 0 => break,
            TokenKind::Open(_) => depth -= 1,
            TokenKind::Semi | TokenKind::Doc if depth == 0 => break,
            _ => {}
        }
        first = Some(i);
    }
    first.map(|i| tokens[i].span.text(source))
}

fn did_you_mean(cx: &Context<'_>) -> Option<String> {
    let wanted = cx.wanted;
    let mut keywords: Vec<&str> = wanted
        .set
        .iter()
        .filter_map(|e| match e {
            Expected::Token(t) if t.chars().all(|c| c.is_ascii_alphabetic() || c == '_') => {
                Some(t.as_str())
            }
            _ => None,
        })
        .collect();
    if wanted.has_phrase(TRANSITION) {
        keywords.extend(["ok", "fail", "timeout", "on"]);
    }
    if wanted.has_phrase(DECLARATION) {
        keywords.extend(RESERVED_WORDS);
    }
    let best = crate::suggest::closest(cx.text, keywords)?;
    Some(format!("did you mean `{best}`?"))
}

/// The state or branch whose body holds `at`, found by walking back to the `{` that encloses it
/// and reading the first word of the statement that opened it.
pub(super) fn enclosing_body(tokens: &[Token], source: &str, at: usize) -> Option<Body> {
    let end = tokens.partition_point(|t| t.span.end() <= at);
    let mut depth = 0usize;
    let mut brace = None;
    for i in (0..end).rev() {
        match tokens[i].kind {
            TokenKind::Close(_) => depth += 1,
            TokenKind::Open(c) if depth == 0 => {
                brace = (c == '{').then_some(i);
                break;
            }
            TokenKind::Open(_) => depth -= 1,
            _ => {}
        }
    }
    let brace = brace?;
    let mut first = brace;
    for i in (0..brace).rev() {
        match tokens[i].kind {
            TokenKind::Semi | TokenKind::Open('{') | TokenKind::Close('}') | TokenKind::Doc => {
                break;
            }
            _ => first = i,
        }
    }
    let word = tokens[first].span.text(source);
    Body::ALL.into_iter().find(|b| b.keyword() == word)
}
