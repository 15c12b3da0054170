//! The data of a run — its input and what each state produced — and the evaluation of paths,
//! templates and conditions over it.
//!
//! Worker output is data: it is inserted into templates as text or passed on as JSON, and is
//! never itself read as a template.

use std::borrow::Cow;
use std::cmp::Ordering;

use orch_dsl::ir::{
    self, CompareOp, Cond, Operand, PathExpr, Root, Segment, TemplatePart, ValueExpr,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What one state produced in a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepData {
    /// The output of the state's last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The outcome of the state's last success.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::trail::some_outcome_label"
    )]
    pub outcome: Option<Cow<'static, str>>,
    /// The error of the state's last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a parallel state: each branch's data, by branch index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<StepData>,
}

/// The input of a run and the data of its states, indexed by state id. A run's list covers the
/// states it has entered so far: a state past its end has no data yet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    pub input: Value,
    pub steps: Vec<StepData>,
}

/// Variables in scope while a `map` item or a `loop` iteration runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Locals<'a> {
    pub item: Option<&'a Value>,
    pub index: Option<u64>,
    pub previous: Option<&'a Value>,
}

static NULL: Value = Value::Null;

impl RunData {
    pub fn new(input: Value, states: usize) -> RunData {
        RunData {
            input,
            steps: vec![StepData::default(); states],
        }
    }

    /// The value a path refers to; `null` when any part is missing.
    pub fn lookup(&self, path: &PathExpr, locals: Locals<'_>) -> Value {
        let index_value;
        let outcome_value;
        let error_value;
        let root: &Value = match &path.root {
            Root::Input => &self.input,
            Root::Output { state } => self.step(*state).output.as_ref().unwrap_or(&NULL),
            Root::Outcome { state } => {
                outcome_value = self
                    .step(*state)
                    .outcome
                    .as_deref()
                    .map_or(Value::Null, |o| Value::String(o.to_string()));
                &outcome_value
            }
            Root::Error { state } => {
                error_value = self
                    .step(*state)
                    .error
                    .clone()
                    .map_or(Value::Null, Value::String);
                &error_value
            }
            Root::BranchOutput { state, branch } => self
                .branch(*state, *branch)
                .and_then(|b| b.output.as_ref())
                .unwrap_or(&NULL),
            Root::BranchOutcome { state, branch } => {
                outcome_value = self
                    .branch(*state, *branch)
                    .and_then(|b| b.outcome.as_deref())
                    .map_or(Value::Null, |o| Value::String(o.to_string()));
                &outcome_value
            }
            Root::BranchError { state, branch } => {
                error_value = self
                    .branch(*state, *branch)
                    .and_then(|b| b.error.clone())
                    .map_or(Value::Null, Value::String);
                &error_value
            }
            Root::Item => locals.item.unwrap_or(&NULL),
            Root::LoopIndex => {
                index_value = locals.index.map_or(Value::Null, Value::from);
                &index_value
            }
            Root::LoopPrevious => locals.previous.unwrap_or(&NULL),
        };
        descend(root, &path.segments)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn step(&self, state: usize) -> &StepData {
        static EMPTY: StepData = StepData {
            output: None,
            outcome: None,
            error: None,
            branches: Vec::new(),
        };
        self.steps.get(state).unwrap_or(&EMPTY)
    }

    fn branch(&self, state: usize, branch: usize) -> Option<&StepData> {
        self.step(state).branches.get(branch)
    }

    /// Computes a value: templates become text, paths pass JSON through unchanged.
    pub fn eval(&self, expr: &ValueExpr, locals: Locals<'_>) -> Value {
        match expr {
            ValueExpr::Template { parts } => Value::String(self.render(parts, locals)),
            ValueExpr::Literal { value } => value.clone(),
            ValueExpr::List { items } => {
                Value::Array(items.iter().map(|i| self.eval(i, locals)).collect())
            }
            ValueExpr::Object { entries } => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), self.eval(v, locals)))
                    .collect(),
            ),
            ValueExpr::Path { path } => self.lookup(path, locals),
        }
    }

    /// Fills a template's placeholders: strings as they are, `null` as nothing, other values
    /// as compact JSON.
    pub fn render(&self, parts: &[TemplatePart], locals: Locals<'_>) -> String {
        let mut out = String::new();
        for part in parts {
            match part {
                TemplatePart::Text(text) => out.push_str(text),
                TemplatePart::Path(path) => push_text(&mut out, &self.lookup(path, locals)),
            }
        }
        out
    }

    /// Evaluates a condition.
    pub fn test(&self, cond: &Cond, locals: Locals<'_>) -> bool {
        match cond {
            Cond::Or { lhs, rhs } => self.test(lhs, locals) || self.test(rhs, locals),
            Cond::And { lhs, rhs } => self.test(lhs, locals) && self.test(rhs, locals),
            Cond::Not { cond } => !self.test(cond, locals),
            Cond::Exists { path } => !self.lookup(path, locals).is_null(),
            Cond::Truthy { operand } => truthy(&self.operand(operand, locals)),
            Cond::Compare { op, lhs, rhs } => {
                compare(*op, &self.operand(lhs, locals), &self.operand(rhs, locals))
            }
        }
    }

    fn operand(&self, operand: &Operand, locals: Locals<'_>) -> Value {
        match operand {
            Operand::Path { path } => self.lookup(path, locals),
            Operand::Literal { value } => value.clone(),
            Operand::Cond { cond } => Value::Bool(self.test(cond, locals)),
        }
    }
}

fn descend<'v>(mut value: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    for segment in segments {
        value = match (segment, value) {
            (Segment::Field(name), Value::Object(map)) => map.get(name.as_str())?,
            (Segment::Index(i), Value::Array(items)) => {
                let len = items.len() as i64;
                let at = if *i < 0 { len + i } else { *i };
                items.get(usize::try_from(at).ok()?)?
            }
            _ => return None,
        };
    }
    Some(value)
}

/// Appends a value as template text.
pub fn push_text(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
}

/// `false`, `null`, `0`, `""`, `[]` and `{}` are false; everything else is true.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Numbers compare numerically and strings lexicographically; values of different types are
/// never equal and never ordered.
pub fn compare(op: CompareOp, lhs: &Value, rhs: &Value) -> bool {
    match op {
        CompareOp::Eq => equal(lhs, rhs),
        CompareOp::Ne => !equal(lhs, rhs),
        CompareOp::Contains => contains(lhs, rhs),
        CompareOp::Lt => order(lhs, rhs) == Some(Ordering::Less),
        CompareOp::Le => matches!(order(lhs, rhs), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => order(lhs, rhs) == Some(Ordering::Greater),
        CompareOp::Ge => matches!(order(lhs, rhs), Some(Ordering::Greater | Ordering::Equal)),
    }
}

fn equal(lhs: &Value, rhs: &Value) -> bool {
    match (lhs, rhs) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => lhs == rhs,
    }
}

fn order(lhs: &Value, rhs: &Value) -> Option<Ordering> {
    match (lhs, rhs) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// Substring for strings, element for lists, key for objects.
fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
        (Value::Array(items), needle) => items.iter().any(|i| equal(i, needle)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        _ => false,
    }
}

/// Applies declared defaults and checks the input of a run against the workflow's fields.
pub fn prepare_input(workflow: &ir::Workflow, input: Value) -> Result<Value, String> {
    let mut map = match input {
        Value::Object(map) => map,
        Value::Null => serde_json::Map::new(),
        other => {
            return Err(format!(
                "the input must be a JSON object, not {}",
                kind_of(&other)
            ));
        }
    };
    for field in &workflow.input {
        match (map.get(field.name.as_str()), &field.default) {
            (Some(value), _) => check_type(&field.name, field.ty, value)?,
            (None, Some(default)) => {
                map.insert(field.name.to_string(), default.clone());
            }
            (None, None) => return Err(format!("missing required input field `{}`", field.name)),
        }
    }
    if let Some(unknown) = map
        .keys()
        .find(|k| !workflow.input.iter().any(|f| f.name == **k))
    {
        return Err(format!(
            "workflow `{}` has no input field `{unknown}`",
            workflow.name
        ));
    }
    Ok(Value::Object(map))
}

fn check_type(name: &str, ty: orch_dsl::ast::ValueType, value: &Value) -> Result<(), String> {
    use orch_dsl::ast::ValueType as T;
    let fits = match ty {
        T::String => value.is_string(),
        T::Number => value.is_number(),
        T::Integer => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        T::Bool => value.is_boolean(),
        T::List => value.is_array(),
        T::Object => value.is_object(),
        T::Any => true,
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "input field `{name}` must be {}, not {}",
            article(ty.as_str()),
            kind_of(value)
        ))
    }
}

fn article(ty: &str) -> String {
    if ty.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {ty}")
    } else {
        format!("a {ty}")
    }
}

/// A JSON value's kind, for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
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

    fn path(root: Root, segments: Vec<Segment>) -> PathExpr {
        PathExpr {
            root,
            segments: segments.into(),
            text: Default::default(),
        }
    }

    #[test]
    fn lookup_descends_fields_and_indices() {
        let mut data = RunData::new(json!({"goal": "site"}), 2);
        data.steps[1].output = Some(json!({"tasks": ["a", "b", "c"]}));
        let field = |f: &str| Segment::Field(f.into());
        let tasks = |i| {
            path(
                Root::Output { state: 1 },
                vec![field("tasks"), Segment::Index(i)],
            )
        };
        assert_eq!(data.lookup(&tasks(0), Locals::default()), json!("a"));
        assert_eq!(data.lookup(&tasks(-1), Locals::default()), json!("c"));
        assert_eq!(data.lookup(&tasks(7), Locals::default()), Value::Null);
        assert_eq!(
            data.lookup(&path(Root::Input, vec![field("goal")]), Locals::default()),
            json!("site")
        );
        assert_eq!(
            data.lookup(&path(Root::Output { state: 0 }, vec![]), Locals::default()),
            Value::Null
        );
    }

    #[test]
    fn templates_render_values_as_text_and_never_re_expand() {
        let mut data = RunData::new(json!({}), 1);
        data.steps[0].output = Some(json!("{{input.secret}}"));
        let parts = vec![
            TemplatePart::Text("got ".into()),
            TemplatePart::Path(path(Root::Output { state: 0 }, vec![])),
            TemplatePart::Text(" / ".into()),
            TemplatePart::Path(path(Root::LoopIndex, vec![])),
        ];
        let locals = Locals {
            index: Some(2),
            ..Locals::default()
        };
        assert_eq!(data.render(&parts, locals), "got {{input.secret}} / 2");
    }

    #[test]
    fn comparisons_follow_types() {
        assert!(compare(CompareOp::Eq, &json!(1), &json!(1.0)));
        assert!(!compare(CompareOp::Eq, &json!("1"), &json!(1)));
        assert!(!compare(CompareOp::Lt, &json!("1"), &json!(2)));
        assert!(compare(CompareOp::Ge, &json!(0.8), &json!(0.8)));
        assert!(compare(CompareOp::Lt, &json!("apple"), &json!("banana")));
        assert!(compare(
            CompareOp::Contains,
            &json!("excellent work"),
            &json!("excellent")
        ));
        assert!(compare(CompareOp::Contains, &json!([1, 2]), &json!(2)));
        assert!(compare(CompareOp::Contains, &json!({"k": 1}), &json!("k")));
        assert!(!truthy(&json!([])) && !truthy(&json!(0)) && truthy(&json!("x")));
    }
}
