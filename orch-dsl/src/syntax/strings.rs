//! String literals (Rust escapes, raw strings) and the `{{ path }}` templates inside them.

use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

/// A decoded string and, for every byte of it, the source offset it came from.
pub(crate) struct Decoded {
    pub value: String,
    /// `map[i]` is the source offset of decoded byte `i`; `map[value.len()]` is the offset just
    /// past the last decoded byte (the closing quote).
    pub map: Vec<usize>,
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
            'x' => {
                let hex: String = (0..2)
                    .filter_map(|_| chars.next().map(|(_, c)| c))
                    .collect();
                let end = at + 2 + hex.len();
                match u8::from_str_radix(&hex, 16) {
                    Ok(byte) if hex.len() == 2 && byte <= 0x7f => {
                        push(&mut value, &mut map, byte as char, at)
                    }
                    Ok(_) if hex.len() == 2 => {
                        diags.push(escape_error(at, end, "out of range hex escape").with_help(
                            "`\\x` escapes go up to `\\x7f`; use `\\u{…}` for other characters",
                        ))
                    }
                    _ => diags.push(
                        escape_error(at, end, "invalid hex escape")
                            .with_help("write two hex digits, as in `\\x41`"),
                    ),
                }
            }
            'u' => {
                let mut text = String::new();
                let mut end = at + 2;
                if chars.next_if(|&(_, c)| c == '{').is_some() {
                    end += 1;
                    while let Some((_, c)) = chars.next_if(|&(_, c)| c != '}' && c != '"') {
                        text.push(c);
                        end += c.len_utf8();
                    }
                    if chars.next_if(|&(_, c)| c == '}').is_some() {
                        end += 1;
                    }
                }
                let digits: String = text.chars().filter(|&c| c != '_').collect();
                let decoded = (!digits.is_empty() && digits.len() <= 6)
                    .then(|| u32::from_str_radix(&digits, 16).ok())
                    .flatten()
                    .and_then(char::from_u32);
                match decoded {
                    Some(c) => push(&mut value, &mut map, c, at),
                    None => diags.push(escape_error(at, end, "invalid unicode escape").with_help(
                        "write one to six hex digits naming a character, as in `\\u{e9}`",
                    )),
                }
            }
            other => diags.push(
                escape_error(
                    at,
                    at + 1 + other.len_utf8(),
                    &format!("unknown character escape `\\{other}`"),
                )
                .with_help("write `\\\\` for a literal backslash"),
            ),
        }
    }
    map.push(body_start + body.len());
    Decoded { value, map }
}

fn push(value: &mut String, map: &mut Vec<usize>, c: char, at: usize) {
    value.push(c);
    map.extend(std::iter::repeat_n(at, c.len_utf8()));
}

fn escape_error(start: usize, end: usize, message: &str) -> Diagnostic {
    Diagnostic::error(Code::InvalidEscape, Span::new(start, end), message)
        .with_label("invalid escape")
}

/// A piece of a template before its placeholder paths are lowered.
pub(crate) enum RawPart {
    Text(String),
    /// The placeholder's content as decoded-byte range `start..end` (inside the braces).
    Placeholder {
        start: usize,
        end: usize,
        open: usize,
    },
}

/// Splits a decoded string into text and `{{ … }}` placeholders; `\{{` is a literal `{{`.
pub(crate) fn split_template(decoded: &Decoded, diags: &mut Vec<Diagnostic>) -> Vec<RawPart> {
    let v = &decoded.value;
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < v.len() {
        let rest = &v[i..];
        if rest.starts_with("\\{{") {
            text.push_str("{{");
            i += 3;
        } else if rest.starts_with("{{") {
            let Some(close) = rest[2..].find("}}") else {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidTemplate,
                        decoded.span(i, i + 2),
                        "unclosed placeholder in template",
                    )
                    .with_label("this `{{` has no matching `}}`")
                    .with_help(
                        "close the placeholder with `}}`, or write `\\\\{{` for literal braces",
                    ),
                );
                text.push_str(rest);
                break;
            };
            if !text.is_empty() {
                parts.push(RawPart::Text(std::mem::take(&mut text)));
            }
            parts.push(RawPart::Placeholder {
                start: i + 2,
                end: i + 2 + close,
                open: i,
            });
            i += close + 4;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            text.push(c);
            i += c.len_utf8().max(1);
        }
    }
    if !text.is_empty() {
        parts.push(RawPart::Text(text));
    }
    parts
}
