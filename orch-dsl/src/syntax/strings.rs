//! String literals (Rust escapes, raw strings) and the `{{ path }}` templates inside them.

use pest::Parser;

use super::{OrchParser, Rule};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

/// A decoded string and, for every byte of it, the source offset it came from.
pub(crate) struct Decoded {
    pub value: String,
    /// `map[i]` is the source offset of decoded byte `i`; `map[value.len()]` is the offset just
    /// past the last decoded byte (the closing quote).
    pub map: Vec<usize>,
    /// Taken from a raw string (`r"…"`), where `\{{` is written `\{{` without doubling.
    pub raw: bool,
}

impl Decoded {
    /// The source span of decoded bytes `start..end`.
    pub fn span(&self, start: usize, end: usize) -> Span {
        let last = self.map.len() - 1;
        Span::new(self.map[start.min(last)], self.map[end.min(last)])
    }
}

/// Decodes the body of a raw string (`r#"…"#`): the text is taken as written.
pub(crate) fn decode_raw(body: &str, body_start: usize) -> Decoded {
    Decoded {
        value: body.to_string(),
        map: (0..=body.len()).map(|i| body_start + i).collect(),
        raw: true,
    }
}

/// Decodes the body of a `"…"` string with Rust's escapes, reporting every invalid escape.
pub(crate) fn decode_plain(body: &str, body_start: usize, diags: &mut Vec<Diagnostic>) -> Decoded {
    let mut value = String::with_capacity(body.len());
    let mut map = Vec::with_capacity(body.len() + 1);
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = body_start + i;
        if c != '\\' {
            push(&mut value, &mut map, c, at);
            continue;
        }
        let Some((_, e)) = chars.next() else {
            break;
        };
        let simple = match e {
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            '\\' => Some('\\'),
            '0' => Some('\0'),
            '\'' => Some('\''),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(decoded) = simple {
            push(&mut value, &mut map, decoded, at);
            continue;
        }
        match e {
            '\n' | '\r' => while chars.next_if(|&(_, c)| c.is_whitespace()).is_some() {},
            'x' => match hex_escape(&mut chars, at) {
                Ok(c) => push(&mut value, &mut map, c, at),
                Err(error) => diags.push(*error),
            },
            'u' => match unicode_escape(&mut chars, at) {
                Ok(c) => push(&mut value, &mut map, c, at),
                Err(error) => diags.push(*error),
            },
            other => {
                let error = escape_error(
                    at,
                    at + 1 + other.len_utf8(),
                    format!("unknown character escape `\\{other}`"),
                    "unknown escape",
                );
                let as_raw = !body.contains(['"', '\n']) && body.chars().count() <= 40;
                diags.push(match other {
                    '{' => error.with_help(
                        "a literal `{{` is written `\\\\{{`; a single `{` needs no escape",
                    ),
                    '}' => error.with_help("a `}` needs no escape"),
                    _ if as_raw => error.with_help(format!(
                        "write `\\\\` for a literal backslash, or use a raw string: `r\"{body}\"`"
                    )),
                    _ => error.with_help("write `\\\\` for a literal backslash"),
                });
            }
        }
    }
    map.push(body_start + body.len());
    Decoded {
        value,
        map,
        raw: false,
    }
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// `\x41`: two hex digits, at most `7f`. `at` is the offset of the backslash.
fn hex_escape(chars: &mut Chars<'_>, at: usize) -> Result<char, Box<Diagnostic>> {
    let mut end = at + 2;
    let mut digits = String::new();
    while digits.len() < 2 {
        let Some((_, c)) = chars.next_if(|&(_, c)| c.is_ascii_hexdigit()) else {
            break;
        };
        digits.push(c);
        end += 1;
    }
    if digits.len() < 2 {
        let found = chars.peek().map(|&(_, c)| c).filter(|c| !c.is_whitespace());
        let (message, label) = match found {
            Some(c) if c != '"' => (
                format!("invalid character `{c}` in hex escape"),
                "not a hex digit".to_string(),
            ),
            _ => (
                "hex escape too short".to_string(),
                "needs two hex digits".to_string(),
            ),
        };
        let end = found
            .filter(|&c| c != '"')
            .map_or(end, |c| end + c.len_utf8());
        return Err(Box::new(
            escape_error(at, end, message, &label).with_help("write two hex digits, as in `\\x41`"),
        ));
    }
    let byte = u8::from_str_radix(&digits, 16).unwrap_or(0);
    if byte > 0x7f {
        return Err(Box::new(
            escape_error(
                at,
                end,
                "out of range hex escape".to_string(),
                "must be at most `\\x7f`",
            )
            .with_help(format!(
                "`\\x` escapes stop at `\\x7f`; write `\\u{{{digits}}}` for the character `{}`",
                char::from(byte)
            )),
        ));
    }
    Ok(char::from(byte))
}

/// `\u{e9}`: one to six hex digits (and `_`) in braces, naming a character.
fn unicode_escape(chars: &mut Chars<'_>, at: usize) -> Result<char, Box<Diagnostic>> {
    let example = "write the character's hex code in braces, as in `\\u{e9}`";
    if chars.next_if(|&(_, c)| c == '{').is_none() {
        let mut end = at + 2;
        let mut digits = String::new();
        while let Some((_, c)) = chars.next_if(|&(_, c)| c.is_ascii_hexdigit() && digits.len() < 6)
        {
            digits.push(c);
            end += 1;
        }
        let help = if digits.is_empty() {
            example.to_string()
        } else {
            format!("write the hex code in braces: `\\u{{{digits}}}`")
        };
        return Err(Box::new(
            escape_error(
                at,
                end,
                "unicode escape without braces".to_string(),
                "expected `{` after `\\u`",
            )
            .with_help(help),
        ));
    }
    let mut end = at + 3;
    let mut text = String::new();
    while let Some((_, c)) = chars.next_if(|&(_, c)| c.is_ascii_alphanumeric() || c == '_') {
        text.push(c);
        end += 1;
    }
    if chars.next_if(|&(_, c)| c == '}').is_none() {
        return Err(Box::new(
            escape_error(
                at,
                end,
                "unterminated unicode escape".to_string(),
                "expected `}` to close the escape",
            )
            .with_help(example),
        ));
    }
    end += 1;
    let digits: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(Box::new(
            escape_error(
                at,
                end,
                format!("invalid character `{bad}` in unicode escape"),
                "not a hex digit",
            )
            .with_help(example),
        ));
    }
    if digits.is_empty() {
        return Err(Box::new(
            escape_error(at, end, "empty unicode escape".to_string(), "no hex digits")
                .with_help(example),
        ));
    }
    if digits.len() > 6 {
        return Err(Box::new(
            escape_error(
                at,
                end,
                "overlong unicode escape".to_string(),
                "at most six hex digits",
            )
            .with_help(example),
        ));
    }
    let code = u32::from_str_radix(&digits, 16).unwrap_or(u32::MAX);
    char::from_u32(code).ok_or_else(|| {
        Box::new(if (0xD800..=0xDFFF).contains(&code) {
            escape_error(
                at,
                end,
                "unicode escape names a surrogate".to_string(),
                "`D800` to `DFFF` are surrogates, not characters",
            )
            .with_help("escape the whole character, as in `\\u{1f600}`, not its UTF-16 halves")
        } else {
            escape_error(
                at,
                end,
                "unicode escape out of range".to_string(),
                "must be at most `10FFFF`",
            )
            .with_help("the last character is `\\u{10ffff}`")
        })
    })
}

fn push(value: &mut String, map: &mut Vec<usize>, c: char, at: usize) {
    value.push(c);
    map.extend(std::iter::repeat_n(at, c.len_utf8()));
}

fn escape_error(start: usize, end: usize, message: String, label: &str) -> Diagnostic {
    Diagnostic::error(Code::InvalidEscape, Span::new(start, end), message).with_label(label)
}

/// A piece of a template before its placeholder paths are lowered.
pub(crate) enum RawPart {
    /// Literal text taken from decoded bytes `start..end`.
    Text {
        text: String,
        start: usize,
        end: usize,
    },
    /// The placeholder's content as decoded-byte range `start..end` (inside the braces).
    Placeholder {
        start: usize,
        end: usize,
        open: usize,
    },
}

/// Splits a decoded string into text and `{{ … }}` placeholders; `\{{` is a literal `{{`.
///
/// A placeholder whose content is not a path is reported here, with the reason, and left out.
pub(crate) fn split_template(decoded: &Decoded, diags: &mut Vec<Diagnostic>) -> Vec<RawPart> {
    let v = &decoded.value;
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut text_start = 0;
    let mut i = 0;
    while i < v.len() {
        let rest = &v[i..];
        if text.is_empty() {
            text_start = i;
        }
        if rest.starts_with("\\{{") {
            text.push_str("{{");
            i += 3;
        } else if let Some(after) = rest.strip_prefix("{{") {
            let Some(close) = after.find("}}") else {
                let literal = if decoded.raw { "\\{{" } else { "\\\\{{" };
                diags.push(
                    Diagnostic::error(
                        Code::InvalidTemplate,
                        decoded.span(i, i + 2),
                        "unclosed placeholder in template",
                    )
                    .with_label("this `{{` has no matching `}}`")
                    .with_help(format!(
                        "close the placeholder with `}}}}`, or write `{literal}` for literal braces"
                    )),
                );
                text.push_str(rest);
                i = v.len();
                break;
            };
            if !text.is_empty() {
                parts.push(RawPart::Text {
                    text: std::mem::take(&mut text),
                    start: text_start,
                    end: i,
                });
            }
            let (start, end) = (i + 2, i + 2 + close);
            match check_placeholder(decoded, i, start, end) {
                Ok(()) => parts.push(RawPart::Placeholder {
                    start,
                    end,
                    open: i,
                }),
                Err(error) => diags.push(*error),
            }
            i += close + 4;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            text.push(c);
            i += c.len_utf8().max(1);
        }
    }
    if !text.is_empty() {
        parts.push(RawPart::Text {
            text,
            start: text_start,
            end: i,
        });
    }
    parts
}

/// Checks that decoded bytes `start..end` (between `{{` at `open` and `}}`) hold one path, as
/// the grammar's `placeholder` rule does, and says what is wrong when they do not.
fn check_placeholder(
    decoded: &Decoded,
    open: usize,
    start: usize,
    end: usize,
) -> Result<(), Box<Diagnostic>> {
    let content = &decoded.value[start..end];
    if OrchParser::parse(Rule::placeholder, content).is_ok() {
        return Ok(());
    }
    let whole = decoded.span(open, end + 2);
    let lead = content.len() - content.trim_start().len();
    let trimmed = content.trim();
    let example =
        "a placeholder holds one path, such as `{{input.goal}}` or `{{plan.output.tasks[0]}}`";
    if trimmed.is_empty() {
        let literal = if decoded.raw { "\\{{}}" } else { "\\\\{{}}" };
        return Err(Box::new(
            Diagnostic::error(Code::InvalidTemplate, whole, "empty placeholder")
                .with_label("expected a path inside the braces")
                .with_help(format!("{example}; write `{literal}` for literal braces")),
        ));
    }
    let path_len = path_prefix(trimmed);
    let rest = &trimmed[path_len..];
    let next_len = rest
        .find(|c: char| c.is_whitespace())
        .unwrap_or(rest.len())
        .max(rest.chars().next().map_or(0, char::len_utf8));
    let at = start + lead + path_len;
    if path_len == 0 {
        return Err(Box::new(
            Diagnostic::error(
                Code::InvalidTemplate,
                decoded.span(at, at + next_len),
                format!(
                    "expected a path in placeholder, found `{}`",
                    &rest[..next_len]
                ),
            )
            .with_label("a path starts with a name")
            .with_help(example),
        ));
    }
    let path = &trimmed[..path_len];
    let gap = rest.len() - rest.trim_start().len();
    let rest = rest.trim_start();
    let next_len = rest
        .find(|c: char| c.is_whitespace())
        .unwrap_or(rest.len())
        .max(rest.chars().next().map_or(0, char::len_utf8));
    let at = at + gap;
    let next = &rest[..next_len];
    let error = Diagnostic::error(
        Code::InvalidTemplate,
        decoded.span(at, at + next_len),
        format!("expected `}}}}` after `{path}`, found `{next}`"),
    );
    let squeezed: String = trimmed.split_whitespace().collect();
    Err(Box::new(if gap > 0 && path_prefix(rest) == rest.len() {
        error
            .with_label("a placeholder holds one path")
            .with_help(format!(
                "write one placeholder per path: `{{{{{path}}}}} {{{{{rest}}}}}`"
            ))
    } else if path_prefix(&squeezed) == squeezed.len() {
        error
            .with_label("paths are written without spaces")
            .with_help(format!("remove the spaces: `{{{{{squeezed}}}}}`"))
    } else if gap == 0 && (next.starts_with('.') || next.starts_with('[')) {
        error
            .with_label("not a valid path segment")
            .with_help("a path continues with `.name` or with an index such as `[0]` or `[-1]`")
    } else {
        error
            .with_label("not part of a path")
            .with_note("placeholders have no filters, operators or function calls")
            .with_help(example)
    }))
}

/// The length of the longest prefix of `text` shaped like a path (`a.b[0]`), 0 if none.
fn path_prefix(text: &str) -> usize {
    let b = text.as_bytes();
    let ident = |i: usize| {
        let starts = match b.get(i) {
            Some(c) if c.is_ascii_alphabetic() => true,
            Some(b'_') => b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_'),
            _ => false,
        };
        if !starts {
            return i;
        }
        let mut j = i + 1;
        while b
            .get(j)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            j += 1;
        }
        j
    };
    let mut end = ident(0);
    if end == 0 {
        return 0;
    }
    loop {
        match b.get(end) {
            Some(b'.') => {
                let next = ident(end + 1);
                if next == end + 1 {
                    return end;
                }
                end = next;
            }
            Some(b'[') => {
                let mut j = end + 1;
                if b.get(j) == Some(&b'-') {
                    j += 1;
                }
                let digits = j;
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
                if j == digits || b.get(j) != Some(&b']') {
                    return end;
                }
                end = j + 1;
            }
            _ => return end,
        }
    }
}
