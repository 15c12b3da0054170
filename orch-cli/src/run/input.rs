//! The run's input from `--input k=v` and `--input @file.json` arguments.

use std::io::Read;
use std::path::PathBuf;

use orch_dsl::ast::ValueType;
use orch_dsl::ir;
use serde_json::{Map, Value};

use crate::error::CliError;
use crate::files::describe_io;

/// One `--input` argument.
#[derive(Clone, Debug, PartialEq)]
pub enum InputArg {
    /// `name=value`.
    Field(String, String),
    /// `@file.json`, or `@-` for standard input: an object of fields.
    File(PathBuf),
}

/// Parses an `--input` argument (for clap).
pub fn parse_arg(arg: &str) -> Result<InputArg, String> {
    if let Some(path) = arg.strip_prefix('@') {
        if path.is_empty() {
            return Err("give a file after `@`: `@input.json` (or `@-` for standard input)".into());
        }
        return Ok(InputArg::File(PathBuf::from(path)));
    }
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => {
            Ok(InputArg::Field(name.to_string(), value.to_string()))
        }
        _ => Err("expected `name=value` or `@file.json`".into()),
    }
}

/// The input object: the arguments applied in order, later ones replacing earlier fields.
pub fn build(args: &[InputArg], workflow: &ir::Workflow) -> Result<Value, CliError> {
    let mut input = Map::new();
    for arg in args {
        match arg {
            InputArg::Field(name, text) => {
                let ty = workflow
                    .input
                    .iter()
                    .find(|f| f.name == *name)
                    .map(|f| f.ty);
                input.insert(name.clone(), field_value(text, ty));
            }
            InputArg::File(path) => input.extend(read_object(path)?),
        }
    }
    let missing: Vec<&str> = workflow
        .input
        .iter()
        .filter(|f| f.default.is_none() && !input.contains_key(f.name.as_str()))
        .map(|f| f.name.as_str())
        .collect();
    if let Some(first) = missing.first() {
        let names: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
        return Err(CliError::new(format!(
            "workflow `{}` needs the input field{} {}: give {} with `--input {first}=…`",
            workflow.name,
            if missing.len() == 1 { "" } else { "s" },
            names.join(", "),
            if missing.len() == 1 { "it" } else { "each" },
        )));
    }
    Ok(Value::Object(input))
}

/// A field's value: JSON when the text parses as JSON, else the text as a string. For a field
/// declared `string` the text is always the string (`--input version=1.0` stays `"1.0"`),
/// unless it is written as a quoted JSON string.
fn field_value(text: &str, ty: Option<ValueType>) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::String(s)) => Value::String(s),
        Ok(_) if ty == Some(ValueType::String) => Value::String(text.to_string()),
        Ok(value) => value,
        Err(_) => Value::String(text.to_string()),
    }
}

fn read_object(path: &PathBuf) -> Result<Map<String, Value>, CliError> {
    let (name, text) = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::new(format!("cannot read standard input: {e}")))?;
        ("standard input".to_string(), text)
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::new(format!(
                "cannot read input file `{}`: {}",
                path.display(),
                describe_io(&e)
            ))
        })?;
        (format!("`{}`", path.display()), text)
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(CliError::new(format!(
            "the input in {name} must be a JSON object, not {}",
            kind(&other)
        ))),
        Err(e) => Err(CliError::new(format!(
            "the input in {name} is not valid JSON: {e}"
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_fields_or_files() {
        assert_eq!(
            parse_arg("goal=a=b"),
            Ok(InputArg::Field("goal".into(), "a=b".into()))
        );
        assert_eq!(parse_arg("@in.json"), Ok(InputArg::File("in.json".into())));
        assert!(parse_arg("goal").is_err());
        assert!(parse_arg("=x").is_err());
        assert!(parse_arg("@").is_err());
    }

    #[test]
    fn values_are_json_when_they_parse() {
        assert_eq!(field_value("3", None), json!(3));
        assert_eq!(field_value("[1, 2]", None), json!([1, 2]));
        assert_eq!(field_value("true", Some(ValueType::Bool)), json!(true));
        assert_eq!(field_value("a bakery", None), json!("a bakery"));
        assert_eq!(field_value("\"quoted\"", None), json!("quoted"));
        assert_eq!(field_value("1.0", Some(ValueType::String)), json!("1.0"));
        assert_eq!(field_value("null", Some(ValueType::String)), json!("null"));
        assert_eq!(field_value("", None), json!(""));
    }
}
