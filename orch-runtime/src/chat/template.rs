//! Prompt templates: text with `{{input.field}}` placeholders over a call's input.
//!
//! The same placeholders and the same rendering as a workflow's `with` strings: a path is
//! `input`, then any number of `.field` and `[index]` segments (`[-1]` is the last element),
//! with optional spaces inside the braces. A string is inserted as it is, a number or a boolean
//! as its JSON text, `null` as nothing, a list or an object as compact JSON. `\{{` writes a
//! literal `{{`. Unlike a `with` string, which the compiler checks against the workflow, a
//! placeholder whose path the input does not have fails the call, so that a misspelt field
//! never becomes a silently empty prompt.

use std::fmt;

use serde_json::Value;

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Path {
        text: String,
        segments: Vec<Segment>,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Field(String),
    Index(i64),
}

/// Why a template could not be parsed or rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

impl Template {
    /// Parses `text`.
    ///
    /// ```
    /// use orch_runtime::chat::Template;
    /// use serde_json::json;
    /// let template = Template::parse("Write about {{ input.topic }} for {{input.readers[0]}}.").unwrap();
    /// let input = json!({"topic": "bread", "readers": ["bakers", "cooks"]});
    /// assert_eq!(template.render(&input).unwrap(), "Write about bread for bakers.");
    /// assert!(Template::parse("{{ goal }}").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("\\{{") {
                literal.push_str("{{");
                rest = after;
            } else if let Some(after) = rest.strip_prefix("{{") {
                let end = after.find("}}").ok_or_else(|| {
                    TemplateError(format!(
                        "`{{{{` without a closing `}}}}` in {:?}",
                        excerpt(rest)
                    ))
                })?;
                let inner = after[..end].trim();
                let segments = parse_path(inner)?;
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Path {
                    text: inner.to_string(),
                    segments,
                });
                rest = &after[end + 2..];
            } else {
                let first = rest.chars().next().map_or(1, char::len_utf8);
                let next = rest[first..]
                    .find(['{', '\\'])
                    .map_or(rest.len(), |at| at + first);
                literal.push_str(&rest[..next]);
                rest = &rest[next..];
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// The text with every placeholder replaced by the value at its path in `input`.
    pub fn render(&self, input: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Path { text, segments } => {
                    let value = lookup(input, segments).ok_or_else(|| {
                        TemplateError(format!(
                            "`{{{{{text}}}}}` reads a value the call's input does not have \
                             (the input is {})",
                            excerpt(&input.to_string())
                        ))
                    })?;
                    push_text(&mut out, value);
                }
            }
        }
        Ok(out)
    }

    /// The paths the template reads, as written (`input.topic`).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Path { text, .. } => Some(text.as_str()),
            Part::Text(_) => None,
        })
    }
}

fn parse_path(text: &str) -> Result<Vec<Segment>, TemplateError> {
    let invalid = |why: &str| {
        TemplateError(format!(
            "`{{{{{text}}}}}` is not a placeholder: {why}; write a path such as \
             `{{{{input.goal}}}}` or `{{{{input.items[0].name}}}}`"
        ))
    };
    if text.is_empty() {
        return Err(invalid("it is empty"));
    }
    let root_end = text.find(['.', '[']).unwrap_or(text.len());
    if &text[..root_end] != "input" {
        return Err(invalid("a path starts with `input`"));
    }
    let mut segments = Vec::new();
    let mut rest = &text[root_end..];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if !is_identifier(name) {
                return Err(invalid(&format!("`{name}` is not a field name")));
            }
            segments.push(Segment::Field(name.to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after
                .find(']')
                .ok_or_else(|| invalid("a `[` is not closed"))?;
            let index = after[..end]
                .parse::<i64>()
                .map_err(|_| invalid(&format!("`[{}]` is not an index", &after[..end])))?;
            segments.push(Segment::Index(index));
            rest = &after[end + 1..];
        } else {
            return Err(invalid("expected `.` or `[`"));
        }
    }
    Ok(segments)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name != "_"
}

fn lookup<'v>(input: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    let mut value = input;
    for segment in segments {
        value = match (segment, value) {
            (Segment::Field(name), Value::Object(map)) => map.get(name)?,
            (Segment::Index(index), Value::Array(items)) => {
                let at = if *index < 0 {
                    items.len().checked_sub(index.unsigned_abs() as usize)?
                } else {
                    *index as usize
                };
                items.get(at)?
            }
            _ => return None,
        };
    }
    Some(value)
}

/// Appends `value` as a template inserts it.
pub(crate) fn push_text(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
}

/// The start of a long text, for messages.
pub(crate) fn excerpt(text: &str) -> String {
    const LIMIT: usize = 120;
    match text.char_indices().nth(LIMIT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, input: Value) -> Result<String, String> {
        Template::parse(template)
            .and_then(|t| t.render(&input))
            .map_err(|e| e.0)
    }

    #[test]
    fn values_render_as_in_with_strings() {
        let input = json!({
            "s": "text", "n": 3, "f": 0.5, "b": true, "z": null,
            "list": ["a", "b"], "obj": {"k": 1}, "deep": {"items": [{"name": "x"}, {"name": "y"}]}
        });
        assert_eq!(
            render(
                "{{input.s}}|{{ input.n }}|{{input.f}}|{{input.b}}|{{input.z}}|{{input.list}}|\
                 {{input.obj}}|{{input.deep.items[-1].name}}|{{input.list[0]}}",
                input
            ),
            Ok(r#"text|3|0.5|true||["a","b"]|{"k":1}|y|a"#.to_string())
        );
        assert_eq!(render("{{input}}", json!("whole")), Ok("whole".into()));
    }

    #[test]
    fn escapes_and_plain_braces_stay_text() {
        assert_eq!(
            render(r"a \{{b}} c {d} }} é\n", json!({})),
            Ok(r"a {{b}} c {d} }} é\n".into())
        );
    }

    #[test]
    fn mistakes_are_reported() {
        for (template, expected) in [
            ("{{input.x", "without a closing"),
            ("{{}}", "it is empty"),
            ("{{goal}}", "starts with `input`"),
            ("{{input.}}", "`` is not a field name"),
            ("{{input.a-b}}", "`a-b` is not a field name"),
            ("{{input[x]}}", "`[x]` is not an index"),
            ("{{input[1}}", "not closed"),
        ] {
            let error = Template::parse(template).unwrap_err().0;
            assert!(error.contains(expected), "{template}: {error}");
        }
        let error = render("{{input.gaol}}", json!({"goal": "g"})).unwrap_err();
        assert!(error.contains("`{{input.gaol}}` reads a value"), "{error}");
        assert!(render("{{input.l[2]}}", json!({"l": [1]})).is_err());
        assert!(render("{{input.l[-2]}}", json!({"l": [1]})).is_err());
    }
}
