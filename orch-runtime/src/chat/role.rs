//! Roles: what a language-model worker is asked to be, and prices per model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::template::Template;

/// A role: the instruction a model works under, its expertise tags and its model settings.
///
/// In `orch.toml` a role is a `[roles.NAME]` table with these fields (the name is the table's);
/// in Rust it is built with [`Role::new`] and the setters below.
///
/// ```
/// use orch_runtime::chat::Role;
/// let reviewer = Role::new("reviewer", "You review code for {{input.language}} projects.")
///     .tags(["rust", "review"])
///     .model("gpt-4o-mini")
///     .temperature(0.2)
///     .max_tokens(800)
///     .json();
/// assert!(reviewer.check().is_ok());
/// assert!(reviewer.structured());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// The role's name (the key of its table in `orch.toml`).
    #[serde(skip)]
    pub name: String,
    /// What the role is for; documentation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The system message, a template over the call's input (`{{input.goal}}`).
    pub instruction: String,
    /// The user message, a template over the call's input. Without it the user message is the
    /// input itself: a string as it is, anything else as JSON (none when the input is `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Expertise tags, matched by capability routing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The model to ask; without it, the `OPENAI_MODEL` environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// The most tokens the model may answer with (sent as `max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// JSON mode: the model answers with a JSON object (`response_format: json_object`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub json: bool,
    /// A JSON schema the answer follows (`response_format: json_schema`); implies JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Sent as the schema's `strict` flag when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// The model's context window in tokens: a call whose estimated prompt plus `max_tokens`
    /// exceeds it fails without being sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<u64>,
    /// The endpoint, such as `http://127.0.0.1:8000/v1`; without it, `OPENAI_BASE_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (default `OPENAI_API_KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// More fields of the request body, such as `{ top_p = 0.9, seed = 7 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Map<String, Value>>,
}

impl Role {
    /// A role with its name and instruction (a template over the call's input).
    pub fn new(name: impl Into<String>, instruction: impl Into<String>) -> Role {
        Role {
            name: name.into(),
            instruction: instruction.into(),
            ..Role::default()
        }
    }

    /// The role with its name set (for roles read from a file, named by their table).
    pub fn named(mut self, name: impl Into<String>) -> Role {
        self.name = name.into();
        self
    }

    pub fn description(mut self, description: impl Into<String>) -> Role {
        self.description = Some(description.into());
        self
    }

    /// The user message template (default: the call's input).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Role {
        self.prompt = Some(prompt.into());
        self
    }

    pub fn tags<I, S>(mut self, tags: I) -> Role
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    pub fn model(mut self, model: impl Into<String>) -> Role {
        self.model = Some(model.into());
        self
    }

    pub fn temperature(mut self, temperature: f64) -> Role {
        self.temperature = Some(temperature);
        self
    }

    pub fn max_tokens(mut self, max_tokens: u64) -> Role {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// JSON mode.
    pub fn json(mut self) -> Role {
        self.json = true;
        self
    }

    /// A JSON schema for the answer.
    pub fn schema(mut self, schema: Value) -> Role {
        self.schema = Some(schema);
        self
    }

    /// The context window, in tokens.
    pub fn context(mut self, tokens: u64) -> Role {
        self.context = Some(tokens);
        self
    }

    /// The endpoint for this role, instead of `OPENAI_BASE_URL`.
    pub fn base_url(mut self, url: impl Into<String>) -> Role {
        self.base_url = Some(url.into());
        self
    }

    /// Another field of the request body.
    pub fn extra(mut self, key: impl Into<String>, value: Value) -> Role {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.into(), value);
        self
    }

    /// True when the model answers with JSON (JSON mode or a schema).
    pub fn structured(&self) -> bool {
        self.json || self.schema.is_some()
    }

    /// Checks the templates and the settings; the message says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        self.templates().map(|_| ())?;
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(format!("`temperature` must be between 0 and 2, not {t}"));
        }
        if self.max_tokens == Some(0) {
            return Err("`max_tokens` must be more than zero".into());
        }
        if self.context == Some(0) {
            return Err("`context` must be more than zero".into());
        }
        if let (Some(context), Some(max)) = (self.context, self.max_tokens)
            && max >= context
        {
            return Err(format!(
                "`max_tokens` ({max}) leaves no room for the prompt in a `context` of {context}"
            ));
        }
        if let Some(schema) = &self.schema
            && !schema.is_object()
        {
            return Err("`schema` must be a JSON schema object".into());
        }
        if self.strict.is_some() && self.schema.is_none() {
            return Err("`strict` is for a `schema`".into());
        }
        if let Some(url) = &self.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "`base_url` must start with `http://` or `https://`: `{url}`"
            ));
        }
        if let Some(extra) = &self.extra
            && let Some(key) = ["model", "messages", "response_format", "stream"]
                .into_iter()
                .find(|key| extra.contains_key(*key))
        {
            return Err(format!("`extra` cannot set `{key}`"));
        }
        Ok(())
    }

    /// The parsed instruction and prompt.
    pub(crate) fn templates(&self) -> Result<(Template, Option<Template>), String> {
        let instruction =
            Template::parse(&self.instruction).map_err(|e| format!("`instruction`: {e}"))?;
        let prompt = match &self.prompt {
            Some(prompt) => Some(Template::parse(prompt).map_err(|e| format!("`prompt`: {e}"))?),
            None => None,
        };
        Ok((instruction, prompt))
    }
}

/// The price of a model, in US dollars per million tokens.
///
/// ```
/// use orch_runtime::chat::Price;
/// let price = Price::per_million(0.15, 0.60);
/// assert!((price.cost(1_000, 500) - 0.00045).abs() < 1e-12);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Dollars per million prompt (input) tokens.
    pub prompt: f64,
    /// Dollars per million completion (output) tokens.
    pub completion: f64,
}

impl Price {
    pub fn per_million(prompt: f64, completion: f64) -> Price {
        Price { prompt, completion }
    }

    /// The estimated cost of a call, in dollars.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.prompt + completion_tokens as f64 * self.completion)
            / 1_000_000.0
    }
}

/// Prices by model name. In `orch.toml`: `[prices."gpt-4o-mini"] prompt = 0.15, completion = 0.6`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Prices {
    models: BTreeMap<String, Price>,
}

impl Prices {
    pub fn new() -> Prices {
        Prices::default()
    }

    /// Adds or replaces the price of `model`.
    pub fn with(mut self, model: impl Into<String>, price: Price) -> Prices {
        self.insert(model, price);
        self
    }

    pub fn insert(&mut self, model: impl Into<String>, price: Price) {
        self.models.insert(model.into(), price);
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The price for a call to `asked` (the configured model) that `answered` (the model the
    /// endpoint reported): `asked` by its exact name, else `answered` by its exact name, else
    /// the longest priced name `answered` starts with (`gpt-4o-mini` prices
    /// `gpt-4o-mini-2024-07-18`).
    ///
    /// ```
    /// use orch_runtime::chat::{Price, Prices};
    /// let prices = Prices::new()
    ///     .with("gpt-4o", Price::per_million(2.5, 10.0))
    ///     .with("gpt-4o-mini", Price::per_million(0.15, 0.6));
    /// assert_eq!(prices.find("mini", Some("gpt-4o-mini-2024-07-18")).unwrap().prompt, 0.15);
    /// assert_eq!(prices.find("gpt-4o", None).unwrap().prompt, 2.5);
    /// assert!(prices.find("other", Some("other-1")).is_none());
    /// ```
    pub fn find(&self, asked: &str, answered: Option<&str>) -> Option<Price> {
        if let Some(price) = self.models.get(asked) {
            return Some(*price);
        }
        let answered = answered?;
        if let Some(price) = self.models.get(answered) {
            return Some(*price);
        }
        self.models
            .iter()
            .filter(|(name, _)| answered.starts_with(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| *price)
    }

    /// Every priced model.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Price)> {
        self.models
            .iter()
            .map(|(name, price)| (name.as_str(), price))
    }
}

impl<S: Into<String>> FromIterator<(S, Price)> for Prices {
    fn from_iter<I: IntoIterator<Item = (S, Price)>>(iter: I) -> Prices {
        Prices {
            models: iter.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_name_what_is_wrong() {
        let ok = Role::new("r", "be {{input.x}}");
        assert_eq!(ok.check(), Ok(()));
        let cases = [
            (Role::new("r", "{{x}}"), "`instruction`: "),
            (ok.clone().prompt("{{input"), "`prompt`: "),
            (ok.clone().temperature(3.0), "between 0 and 2"),
            (ok.clone().max_tokens(0), "`max_tokens` must be"),
            (ok.clone().context(0), "`context` must be"),
            (ok.clone().context(100).max_tokens(100), "leaves no room"),
            (ok.clone().schema(json!(true)), "schema object"),
            (ok.clone().base_url("ftp://x"), "must start with"),
            (ok.clone().extra("model", json!("m")), "cannot set `model`"),
        ];
        for (role, expected) in cases {
            let error = role.check().unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        let strict = Role {
            strict: Some(true),
            ..ok
        };
        assert!(strict.check().unwrap_err().contains("for a `schema`"));
    }
}
