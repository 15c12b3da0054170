//! Reading a chat completion: the answer's text, and its outcome and output.

use serde_json::Value;

use super::template::excerpt;

/// The first choice of a chat completion.
#[derive(Debug, PartialEq)]
pub(crate) struct Completion {
    pub content: String,
    pub refusal: Option<String>,
    /// The model stopped at `max_tokens`.
    pub truncated: bool,
}

/// The first choice's message, or what is wrong with the completion.
pub(crate) fn completion(body: &Value) -> Result<Completion, String> {
    let choice = body["choices"].get(0).ok_or_else(|| {
        format!(
            "the completion has no choices: {}",
            excerpt(&body.to_string())
        )
    })?;
    let message = &choice["message"];
    let refusal = message["refusal"]
        .as_str()
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let content = match &message["content"] {
        Value::String(text) => text.clone(),
        // Some endpoints answer with a list of parts.
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .concat(),
        Value::Null if refusal.is_some() => String::new(),
        _ => {
            return Err(format!(
                "the completion's message has no text: {}",
                excerpt(&message.to_string())
            ));
        }
    };
    Ok(Completion {
        content,
        refusal,
        truncated: choice["finish_reason"] == "length",
    })
}

/// The outcome and output of a structured (JSON) answer. `outcomes`, when known, are those the
/// worker may answer with.
pub(crate) fn structured(
    content: &str,
    truncated: bool,
    outcomes: Option<&[String]>,
    worker: &str,
) -> Result<(String, Value), String> {
    let value: Value = serde_json::from_str(unfenced(content)).map_err(|e| {
        let cut = if truncated {
            " (it was cut off at `max_tokens`)"
        } else {
            ""
        };
        format!(
            "the model's answer is not JSON{cut}: {e}: {:?}",
            excerpt(content)
        )
    })?;
    let (outcome, output) = match value {
        Value::Object(mut object) if object.contains_key("outcome") => {
            let outcome = match object.remove("outcome") {
                Some(Value::String(outcome)) if !outcome.trim().is_empty() => outcome,
                other => {
                    return Err(format!(
                        "the model's `outcome` is not a name: {}",
                        other.unwrap_or_default()
                    ));
                }
            };
            let output = if object.len() == 1 && object.contains_key("output") {
                object.remove("output").unwrap_or_default()
            } else if object.is_empty() {
                Value::Null
            } else {
                Value::Object(object)
            };
            (outcome, output)
        }
        other => {
            if let Some(outcomes) = outcomes
                && !outcomes.iter().any(|o| o == "ok")
            {
                return Err(format!(
                    "the model's answer has no `outcome`; worker `{worker}` answers {}",
                    list(outcomes)
                ));
            }
            ("ok".to_string(), other)
        }
    };
    if let Some(outcomes) = outcomes
        && !outcomes.contains(&outcome)
    {
        return Err(format!(
            "the model answered outcome `{outcome}`, which worker `{worker}` does not have \
             (it answers {})",
            list(outcomes)
        ));
    }
    Ok((outcome, output))
}

/// The text without a Markdown code fence around it, which some models add even in JSON mode.
fn unfenced(content: &str) -> &str {
    let trimmed = content.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return trimmed;
    };
    // Drop the fence's language tag (` ```json `).
    body.split_once('\n')
        .map_or(body, |(_, inner)| inner)
        .trim()
}

/// `one of `a`, `b``, or `only `ok``.
pub(crate) fn list(outcomes: &[String]) -> String {
    let names: Vec<String> = outcomes.iter().map(|o| format!("`{o}`")).collect();
    match names.as_slice() {
        [one] => format!("only {one}"),
        _ => format!("one of {}", names.join(", ")),
    }
}

/// The message of an API error body (`{"error": {"message": …}}`), else the start of the body.
pub(crate) fn api_error(body: &str) -> Option<String> {
    let text = body.trim();
    if text.is_empty() {
        return None;
    }
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let message = parsed.as_ref().and_then(|v| {
        v["error"]["message"]
            .as_str()
            .or_else(|| v["error"].as_str())
            .or_else(|| v["message"].as_str())
            .map(str::to_string)
    });
    Some(excerpt(&message.unwrap_or_else(|| text.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn outcomes_and_outputs_of_json_answers() {
        let critic = names(&["accept", "revise"]);
        let cases = [
            (
                r#"{"outcome": "revise", "notes": "shorter", "score": 0.4}"#,
                Some(&critic),
                ("revise", json!({"notes": "shorter", "score": 0.4})),
            ),
            (
                r#"{"outcome": "accept", "output": "fine"}"#,
                Some(&critic),
                ("accept", json!("fine")),
            ),
            (
                r#"{"outcome": "accept"}"#,
                Some(&critic),
                ("accept", Value::Null),
            ),
            (
                "```json\n{\"outcome\": \"accept\", \"output\": 1}\n```",
                Some(&critic),
                ("accept", json!(1)),
            ),
            (r#"{"title": "t"}"#, None, ("ok", json!({"title": "t"}))),
            (r#"[1, 2]"#, None, ("ok", json!([1, 2]))),
            (r#"{"outcome": "maybe"}"#, None, ("maybe", Value::Null)),
        ];
        for (content, outcomes, (outcome, output)) in cases {
            assert_eq!(
                structured(content, false, outcomes.map(Vec::as_slice), "Critic"),
                Ok((outcome.to_string(), output)),
                "{content}"
            );
        }
    }

    #[test]
    fn answers_the_worker_cannot_give_are_failures() {
        let critic = names(&["accept", "revise"]);
        let some = Some(critic.as_slice());
        let error = structured(r#"{"outcome": "maybe"}"#, false, some, "Critic").unwrap_err();
        assert_eq!(
            error,
            "the model answered outcome `maybe`, which worker `Critic` does not have (it answers \
             one of `accept`, `revise`)"
        );
        let error = structured(r#"{"score": 1}"#, false, some, "Critic").unwrap_err();
        assert!(error.contains("has no `outcome`"), "{error}");
        let error = structured(r#"{"outcome": 3}"#, false, some, "Critic").unwrap_err();
        assert!(error.contains("not a name: 3"), "{error}");
        let error = structured(r#"{"outcome": "acc"#, true, some, "Critic").unwrap_err();
        assert!(error.contains("not JSON (it was cut off"), "{error}");
    }

    #[test]
    fn completions_give_their_first_choice() {
        let body = json!({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]});
        assert_eq!(
            completion(&body),
            Ok(Completion {
                content: "hi".into(),
                refusal: None,
                truncated: false
            })
        );
        let parts = json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "finish_reason": "length"}]});
        let read = completion(&parts).unwrap();
        assert_eq!((read.content.as_str(), read.truncated), ("ab", true));
        let refused = json!({"choices": [{"message": {"content": null, "refusal": "no"}}]});
        assert_eq!(completion(&refused).unwrap().refusal.as_deref(), Some("no"));
        assert!(completion(&json!({"choices": []})).is_err());
        assert!(completion(&json!({"choices": [{"message": {}}]})).is_err());
    }

    #[test]
    fn api_errors_show_their_message() {
        assert_eq!(
            api_error(r#"{"error": {"message": "Rate limit reached", "type": "x"}}"#).as_deref(),
            Some("Rate limit reached")
        );
        assert_eq!(api_error("busy").as_deref(), Some("busy"));
        assert_eq!(api_error("  "), None);
    }
}
