//! What a worker process or service receives and answers; the same for both.
//!
//! Request (a process's standard input, or an HTTP request body):
//!
//! ```json
//! {"input": {"specs": "…"}, "workflow": "BuildWebsite", "state": "code", "worker": "Coder",
//!  "run_id": "run-…", "step": 2, "attempt": 1, "idempotency_key": "run-…:code:2:1"}
//! ```
//!
//! plus `branch`, `item` and `iteration` inside a `parallel`, a `map` or a `loop`.
//!
//! Reply (standard output, or the response body): `{"outcome": "approved", "output": …}`, or
//! any other JSON value, which is a plain success (`ok`) with that value as output. Nothing at
//! all is `ok` with a `null` output.

use orch_runtime::{Call, Reply};
use serde_json::{Value, json};

/// The JSON a worker receives for `call`.
pub fn request(call: &Call) -> Value {
    let mut request = json!({
        "input": call.input,
        "workflow": &*call.workflow,
        "state": &*call.state,
        "worker": &*call.worker,
        "run_id": &*call.run_id,
        "step": call.step,
        "attempt": call.attempt,
        "idempotency_key": call.idempotency_key(),
    });
    if let Some(branch) = &call.branch {
        request["branch"] = json!(&**branch);
    }
    if let Some(item) = call.item {
        request["item"] = json!(item);
    }
    if let Some(iteration) = call.iteration {
        request["iteration"] = json!(iteration);
    }
    request
}

/// Reads a worker's answer; the error says what was wrong with it.
pub fn parse_reply(text: &str) -> Result<Reply, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Reply::ok(Value::Null));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("the reply is not JSON ({e}): {}", excerpt(text, 120)))?;
    let Value::Object(mut map) = value else {
        return Ok(Reply::ok(value));
    };
    match map.get("outcome") {
        None => Ok(Reply::ok(Value::Object(map))),
        Some(Value::String(outcome)) if outcome.is_empty() => {
            Err("the reply's `outcome` is empty".into())
        }
        Some(Value::String(outcome)) => {
            let outcome = outcome.clone();
            let output = map.remove("output").unwrap_or(Value::Null);
            Ok(Reply::outcome(outcome, output))
        }
        Some(other) => Err(format!(
            "the reply's `outcome` must be a string, not `{other}`"
        )),
    }
}

/// The start of `text`, at most `max` characters, on one line.
pub fn excerpt(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat.to_string(),
    }
}

/// The last `count` non-empty lines of `text`, each at most 200 characters.
pub fn last_lines(text: &str, count: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|line| excerpt(line, 200))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_outcomes_or_bare_values() {
        assert_eq!(
            parse_reply(r#"{"outcome": "approved", "output": {"score": 1}}"#),
            Ok(Reply::outcome("approved", json!({"score": 1})))
        );
        assert_eq!(
            parse_reply(r#"{"outcome": "ok"}"#),
            Ok(Reply::ok(Value::Null))
        );
        assert_eq!(parse_reply("\"<html>\"\n"), Ok(Reply::ok("<html>")));
        assert_eq!(parse_reply("42"), Ok(Reply::ok(42)));
        assert_eq!(
            parse_reply(r#"{"score": 1}"#),
            Ok(Reply::ok(json!({"score": 1})))
        );
        assert_eq!(parse_reply("  \n"), Ok(Reply::ok(Value::Null)));
    }

    #[test]
    fn malformed_replies_say_why() {
        let not_json = parse_reply("hello world").unwrap_err();
        assert!(not_json.starts_with("the reply is not JSON"), "{not_json}");
        assert!(not_json.ends_with(": hello world"), "{not_json}");
        assert_eq!(
            parse_reply(r#"{"outcome": 3}"#),
            Err("the reply's `outcome` must be a string, not `3`".into())
        );
        assert!(parse_reply(r#"{"outcome": ""}"#).is_err());
    }

    #[test]
    fn requests_carry_where_the_call_is() {
        let mut call = Call::new("Coder", json!({"specs": "a page"}));
        call.iteration = Some(2);
        let request = request(&call);
        assert_eq!(request["input"], json!({"specs": "a page"}));
        assert_eq!(request["worker"], "Coder");
        assert_eq!(request["attempt"], 1);
        assert_eq!(request["idempotency_key"], "test:Coder:1:1");
        assert_eq!(request["iteration"], 2);
        assert!(request.get("branch").is_none());
    }

    #[test]
    fn last_lines_skip_blank_ones() {
        assert_eq!(last_lines("a\n\nb\nc\n\n", 2), ["b", "c"]);
        assert_eq!(last_lines("", 3), Vec::<String>::new());
    }
}
