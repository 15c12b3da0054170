//! A Rust-like token scan that runs before the grammar.
//!
//! It finds what pest reports badly (an unterminated string or block comment, an unclosed or
//! stray delimiter), collects plain comments for the formatter, and lets syntax errors name the
//! token they stopped at and resynchronise at statement boundaries.

use crate::ast::Comment;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Ident,
    Number,
    Str,
    Doc,
    Open(char),
    Close(char),
    Semi,
    Punct,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

pub(crate) struct Scan {
    pub tokens: Vec<Token>,
    pub comments: Vec<Comment>,
    pub errors: Vec<Diagnostic>,
}

const MULTI_PUNCT: [&str; 8] = ["->", "=>", "==", "!=", "<=", ">=", "&&", "||"];

/// At most this many mismatched closers are checked by scanning the rest of the text.
const MAX_LOOKAHEADS: usize = 8;

pub(crate) fn scan(source: &str) -> Scan {
    let mut scanner = Scanner {
        src: source,
        bytes: source.as_bytes(),
        pos: 0,
        out: Scan {
            tokens: Vec::new(),
            comments: Vec::new(),
            errors: Vec::new(),
        },
        swallowed: false,
    };
    scanner.run();
    let mut delimiter_errors = check_delimiters(source, &scanner.out.tokens, scanner.swallowed);
    scanner.out.errors.append(&mut delimiter_errors);
    scanner.out
}

struct Scanner<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: Scan,
    /// An unterminated string or comment ran to the end of the text.
    swallowed: bool,
}

impl Scanner<'_> {
    fn run(&mut self) {
        while self.pos < self.bytes.len() {
            let start = self.pos;
            let c = self.src[start..].chars().next().unwrap_or(' ');
            if c.is_whitespace() || c == '\u{FEFF}' {
                self.pos += c.len_utf8();
            } else if self.starts_with("///") && !self.starts_with("////") {
                self.line_rest();
                self.push(TokenKind::Doc, start);
            } else if self.starts_with("//") {
                self.line_rest();
                self.comment(start);
            } else if self.starts_with("/*") {
                self.block_comment(start);
            } else if c == '"' {
                self.string(start);
            } else if c == 'r' && self.raw_string_ahead() {
                self.raw_string(start);
            } else if c.is_ascii_alphabetic() || c == '_' {
                self.eat_while(|b| b.is_ascii_alphanumeric() || b == b'_');
                self.push(TokenKind::Ident, start);
            } else if c.is_ascii_digit() {
                self.number();
                self.push(TokenKind::Number, start);
            } else if c == ';' {
                self.pos += 1;
                self.push(TokenKind::Semi, start);
            } else if matches!(c, '(' | '[' | '{') {
                self.pos += 1;
                self.push(TokenKind::Open(c), start);
            } else if matches!(c, ')' | ']' | '}') {
                self.pos += 1;
                self.push(TokenKind::Close(c), start);
            } else if c == '\'' {
                // Not a token of the language; taken whole so an error can show it as written.
                let line_end = self.src[start + 1..]
                    .find('\n')
                    .map_or(self.bytes.len(), |i| start + 1 + i);
                self.pos = self.src[start + 1..line_end]
                    .find('\'')
                    .map_or(start + 1, |i| start + i + 2);
                self.push(TokenKind::Punct, start);
            } else {
                let len = MULTI_PUNCT
                    .iter()
                    .find(|p| self.starts_with(p))
                    .map_or(c.len_utf8(), |p| p.len());
                self.pos += len;
                self.push(TokenKind::Punct, start);
            }
        }
    }

    // Compares bytes: inside a block comment `pos` moves byte by byte, off character boundaries.
    fn starts_with(&self, s: &str) -> bool {
        self.bytes[self.pos..].starts_with(s.as_bytes())
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.out.tokens.push(Token {
            kind,
            span: Span::new(start, self.pos),
        });
    }

    fn comment(&mut self, start: usize) {
        self.out.comments.push(Comment {
            text: self.src[start..self.pos].trim_end().to_string(),
            span: Span::new(start, self.pos),
        });
    }

    fn eat_while(&mut self, keep: impl Fn(u8) -> bool) {
        while self.pos < self.bytes.len() && keep(self.bytes[self.pos]) {
            self.pos += 1;
        }
    }

    fn line_rest(&mut self) {
        self.eat_while(|b| b != b'\n');
    }

    fn number(&mut self) {
        loop {
            self.eat_while(|b| b.is_ascii_alphanumeric() || b == b'_');
            let dot_digit = self.bytes.get(self.pos) == Some(&b'.')
                && self.bytes.get(self.pos + 1).is_some_and(u8::is_ascii_digit);
            if !dot_digit {
                break;
            }
            self.pos += 1;
        }
    }

    fn block_comment(&mut self, start: usize) {
        let mut depth = 0usize;
        let mut nested = false;
        while self.pos < self.bytes.len() {
            if self.starts_with("/*") {
                depth += 1;
                nested |= depth > 1;
                self.pos += 2;
            } else if self.starts_with("*/") {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    self.comment(start);
                    return;
                }
            } else {
                self.pos += 1;
            }
        }
        self.swallowed = true;
        let mut error = Diagnostic::error(
            Code::Unterminated,
            Span::new(start, start + 2),
            "unterminated block comment",
        )
        .with_label("this comment is never closed");
        if nested {
            error = error
                .with_note("block comments nest: each `/*` inside a comment needs its own `*/`");
        }
        self.out.errors.push(error.with_help("close it with `*/`"));
    }

    fn string(&mut self, start: usize) {
        self.pos += 1;
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    self.push(TokenKind::Str, start);
                    return;
                }
                _ => self.pos += 1,
            }
        }
        self.pos = self.bytes.len();
        self.swallowed = true;
        self.out.errors.push(
            Diagnostic::error(
                Code::Unterminated,
                Span::new(start, start + 1),
                "unterminated string",
            )
            .with_label("this string is never closed")
            .with_help("close it with `\"`; write `\\\"` for a quote inside a string"),
        );
    }

    fn raw_string_ahead(&self) -> bool {
        let rest = &self.bytes[self.pos + 1..];
        let hashes = rest.iter().take_while(|&&b| b == b'#').count();
        rest.get(hashes) == Some(&b'"')
    }

    fn raw_string(&mut self, start: usize) {
        self.pos += 1;
        let hashes = self.bytes[self.pos..]
            .iter()
            .take_while(|&&b| b == b'#')
            .count();
        self.pos += hashes + 1;
        let closer = format!("\"{}", "#".repeat(hashes));
        match self.src[self.pos..].find(&closer) {
            Some(at) => {
                self.pos += at + closer.len();
                self.push(TokenKind::Str, start);
            }
            None => {
                self.pos = self.bytes.len();
                self.swallowed = true;
                self.out.errors.push(
                    Diagnostic::error(
                        Code::Unterminated,
                        Span::new(start, start + hashes + 2),
                        "unterminated raw string",
                    )
                    .with_label("this raw string is never closed")
                    .with_help(format!(
                        "close it with `{closer}`: a raw string ends with a quote and as many `#` \
                         as it starts with"
                    )),
                );
            }
        }
    }
}

fn closer_of(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

fn opener_of(close: char) -> char {
    match close {
        ')' => '(',
        ']' => '[',
        _ => '{',
    }
}

/// Matches brackets, reporting every unclosed, mismatched or stray delimiter. When an
/// unterminated string or comment ran to the end (`swallowed`), delimiters still open at the end
/// are its consequence and are not reported.
fn check_delimiters(source: &str, tokens: &[Token], swallowed: bool) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let mut open: Vec<(char, Span)> = Vec::new();
    // The last matched pair whose closer is not indented like its opener's line: the likeliest
    // place for a brace that is missing or extra.
    let mut misindented: Option<(Span, Span)> = None;
    let mut lookaheads = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token.kind {
            TokenKind::Open(c) => open.push((c, token.span)),
            TokenKind::Close(c) => {
                let Some(&(top, top_span)) = open.last() else {
                    errors.push(stray_closer(c, token.span, misindented));
                    continue;
                };
                if closer_of(top) == c {
                    open.pop();
                    if !same_indent(source, top_span, token.span) {
                        misindented = Some((top_span, token.span));
                    }
                    continue;
                }
                // A typo for the right closer if the rest of the text balances without it.
                let rest_balances = lookaheads < MAX_LOOKAHEADS && {
                    lookaheads += 1;
                    balances(&tokens[i + 1..], &open[..open.len() - 1])
                };
                if rest_balances {
                    open.pop();
                    errors.push(
                        Diagnostic::error(
                            Code::Unterminated,
                            token.span,
                            format!("mismatched closing delimiter `{c}`"),
                        )
                        .with_label(format!("expected `{}`", closer_of(top)))
                        .with_secondary(top_span, "unclosed delimiter"),
                    );
                } else if let Some(matching) = open.iter().rposition(|&(o, _)| closer_of(o) == c) {
                    // Openers inside the one this closes were never closed.
                    for (o, span) in open.drain(matching + 1..).rev() {
                        errors.push(
                            Diagnostic::error(
                                Code::Unterminated,
                                span,
                                format!("unclosed delimiter `{o}`"),
                            )
                            .with_label("this delimiter is never closed")
                            .with_secondary(
                                token.span,
                                format!("expected `{}` before this", closer_of(o)),
                            ),
                        );
                    }
                    open.pop();
                } else {
                    errors.push(stray_closer(c, token.span, None));
                }
            }
            _ => {}
        }
    }
    if !swallowed {
        for (c, span) in open.into_iter().rev() {
            let mut error = Diagnostic::error(
                Code::Unterminated,
                span,
                format!("unclosed delimiter `{c}`"),
            )
            .with_label("this delimiter is never closed");
            if let Some((first, second)) =
                misindented.filter(|(first, _)| first.start() > span.start())
            {
                error = error
                    .with_secondary(first, "this delimiter might not be properly closed…")
                    .with_secondary(
                        second,
                        "…as it matches this but it has different indentation",
                    );
            }
            errors.push(error.with_help(format!("add the matching `{}`", closer_of(c))));
        }
    }
    errors
}

fn stray_closer(c: char, span: Span, misindented: Option<(Span, Span)>) -> Diagnostic {
    let error = Diagnostic::error(
        Code::Unterminated,
        span,
        format!("unexpected closing delimiter `{c}`"),
    );
    match misindented {
        Some((first, second)) => error
            .with_label("unexpected closing delimiter")
            .with_secondary(first, "this delimiter might not be properly closed…")
            .with_secondary(
                second,
                "…as it matches this but it has different indentation",
            ),
        None => error.with_label(format!("this `{c}` has no matching `{}`", opener_of(c))),
    }
}

/// True when `tokens`, read after the delimiters `open`, close every one of them in order.
fn balances(tokens: &[Token], open: &[(char, Span)]) -> bool {
    let mut stack: Vec<char> = open.iter().map(|&(c, _)| c).collect();
    for token in tokens {
        match token.kind {
            TokenKind::Open(c) => stack.push(c),
            TokenKind::Close(c) if stack.pop().map(closer_of) != Some(c) => return false,
            _ => {}
        }
    }
    stack.is_empty()
}

/// True unless `close` starts its line (after other closers at most) at a different column than
/// the line of `open` starts.
fn same_indent(source: &str, open: Span, close: Span) -> bool {
    let line_start = |at: usize| source[..at].rfind('\n').map_or(0, |i| i + 1);
    let indent = |start: usize| {
        source[start..]
            .find(|c: char| c != ' ' && c != '\t')
            .unwrap_or(0)
    };
    let close_start = line_start(close.start());
    let before = &source[close_start..close.start()];
    if !before
        .chars()
        .all(|c| c.is_whitespace() || matches!(c, '}' | ')' | ']'))
    {
        return true;
    }
    indent(line_start(open.start())) == indent(close_start)
}

/// The token that starts at or after `offset`, if any.
pub(crate) fn token_at(tokens: &[Token], offset: usize) -> Option<Token> {
    let i = tokens.partition_point(|t| t.span.end() <= offset);
    tokens.get(i).copied()
}

/// The last token that ends at or before `offset`.
pub(crate) fn token_before(tokens: &[Token], offset: usize) -> Option<Token> {
    let i = tokens.partition_point(|t| t.span.end() <= offset);
    i.checked_sub(1).map(|i| tokens[i])
}

/// Words that begin a statement; recovery never swallows one of them that follows an error.
const STATEMENT_KEYWORDS: [&str; 18] = [
    "workflow",
    "input",
    "worker",
    "signal",
    "start",
    "timeout",
    "max_steps",
    "on",
    "task",
    "choice",
    "parallel",
    "map",
    "loop",
    "wait",
    "call",
    "succeed",
    "fail",
    "branch",
];

/// The statement around a syntax error at `offset`, for error recovery: from just after the
/// previous `;`, `{` or `}` at the same nesting depth to the next `;`, the end of a block that
/// ends the statement, or the `}` of the enclosing block (excluded). When the error sits on a word
/// that begins a statement on a new line (a `;` is missing before it), only the text before it
/// is taken.
pub(crate) fn statement_around(source: &str, tokens: &[Token], offset: usize) -> Option<Span> {
    let at = tokens.partition_point(|t| t.span.end() <= offset);
    let token = *tokens.get(at)?;
    let mut first = at;
    let mut depth = 0usize;
    for i in (0..at).rev() {
        match tokens[i].kind {
            TokenKind::Close('}') | TokenKind::Open('{') | TokenKind::Semi if depth == 0 => break,
            TokenKind::Close(_) => depth += 1,
            TokenKind::Open(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        first = i;
    }
    let on_new_line =
        at > 0 && source[tokens[at - 1].span.end()..token.span.start()].contains('\n');
    let starts_statement = token.kind == TokenKind::Ident
        && on_new_line
        && STATEMENT_KEYWORDS.contains(&token.span.text(source));
    if first < at && (starts_statement || token.kind == TokenKind::Close('}')) {
        return Some(Span::new(
            tokens[first].span.start(),
            tokens[at - 1].span.end(),
        ));
    }
    let mut last = at;
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(at) {
        match t.kind {
            TokenKind::Open(_) => depth += 1,
            TokenKind::Close('}') if depth == 0 => break,
            TokenKind::Close(_) if depth == 0 => {}
            TokenKind::Close(c) => {
                depth -= 1;
                if depth == 0 && c == '}' {
                    last = i;
                    break;
                }
            }
            TokenKind::Semi if depth == 0 => {
                last = i;
                break;
            }
            TokenKind::Ident
                if depth == 0 && i > at && STATEMENT_KEYWORDS.contains(&t.span.text(source)) =>
            {
                break;
            }
            _ => {}
        }
        last = i;
    }
    Some(Span::new(
        tokens[first].span.start(),
        tokens[last].span.end(),
    ))
}
