//! Language-model workers: a [`Role`] asked through any OpenAI-compatible chat-completions
//! endpoint (`POST {base_url}/chat/completions`). Behind the `chat` feature.
//!
//! A [`ChatWorker`] renders its role's instruction (the system message) and prompt (the user
//! message) with the call's input, asks the model, and turns the answer into a reply:
//!
//! - without structured output, outcome `ok` with the answer's text as output;
//! - with JSON mode or a schema, the answer is parsed as JSON; an `outcome` field selects the
//!   outcome, and the rest is the output (an object of just `outcome` and `output` gives
//!   `output`'s value). An answer without `outcome` is `ok` with the whole JSON as output.
//!   When the worker knows its outcomes ([`ChatWorker::outcomes`]) an outcome it does not have
//!   is a failure naming them, and the instruction tells the model which outcomes there are.
//!
//! 429, 408 and 5xx answers and lost connections are failures worth retrying under the task's
//! `retry` policy, honouring `Retry-After` (and `retry-after-ms`); other 4xx answers are
//! permanent. A model that does not answer within the worker's timeout fails as timed out.
//! Each attempt reports its model, prompt and completion tokens and a cost estimate from
//! configurable [`Prices`] as [`Usage`]; the trail keeps it with the attempt's duration (its
//! latency), and the run's result adds it up.
//!
//! ```no_run
//! use orch_runtime::chat::{ChatWorker, Price, Role};
//! use orch_runtime::Engine;
//!
//! let writer = Role::new("writer", "You write a short article about {{input.topic}}.")
//!     .model("gpt-4o-mini")
//!     .max_tokens(600);
//! let engine = Engine::new();
//! engine.bind(
//!     "Writer",
//!     ChatWorker::new(writer)
//!         .base_url("http://127.0.0.1:8000/v1")
//!         .api_key("sk-…")
//!         .price("gpt-4o-mini", Price::per_million(0.15, 0.60)),
//! );
//! ```

mod reply;
mod role;
mod template;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

pub use self::role::{Price, Prices, Role};
pub use self::template::{Template, TemplateError};
use self::transport::Answer;
use crate::pool::Pool;
use crate::worker::{BoxFuture, Call, Reply, Usage, Worker, WorkerError, WorkerResult};

/// The endpoint used when neither the role nor `OPENAI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// How long a worker waits for the model by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A worker that asks a language model in a role. See the [module](self) documentation.
#[derive(Clone)]
pub struct ChatWorker {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    role: Role,
    /// The parsed instruction and prompt, or why they do not parse.
    templates: Result<(Template, Option<Template>), String>,
    base_url: String,
    api_key: Option<String>,
    model: Option<String>,
    timeout: Duration,
    outcomes: Option<Vec<String>>,
    prices: Prices,
    agent: ureq::Agent,
}

impl ChatWorker {
    /// A worker in `role`. The endpoint is the role's `base_url`, else `OPENAI_BASE_URL`, else
    /// [`DEFAULT_BASE_URL`]; the API key is read from the variable the role names in
    /// `api_key_env`, else `OPENAI_API_KEY` (none is sent when it is unset or empty); the model
    /// is the role's, else `OPENAI_MODEL`.
    pub fn new(role: Role) -> ChatWorker {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let base_url = role
            .base_url
            .clone()
            .or_else(|| env("OPENAI_BASE_URL"))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let api_key = env(role.api_key_env.as_deref().unwrap_or("OPENAI_API_KEY"));
        let model = role.model.clone().or_else(|| env("OPENAI_MODEL"));
        let templates = role.templates();
        ChatWorker {
            inner: Arc::new(Inner {
                templates,
                base_url: base_url.trim_end_matches('/').to_string(),
                api_key,
                model,
                timeout: DEFAULT_TIMEOUT,
                outcomes: None,
                prices: Prices::new(),
                agent: transport::agent(DEFAULT_TIMEOUT),
                role,
            }),
        }
    }

    fn edit(mut self, change: impl FnOnce(&mut Inner)) -> ChatWorker {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// The endpoint, such as `http://127.0.0.1:8000/v1` (requests go to its
    /// `/chat/completions`).
    pub fn base_url(self, url: impl Into<String>) -> ChatWorker {
        let url = url.into();
        self.edit(|inner| inner.base_url = url.trim_end_matches('/').to_string())
    }

    /// The API key, sent as `Authorization: Bearer …`.
    pub fn api_key(self, key: impl Into<String>) -> ChatWorker {
        let key = key.into();
        self.edit(|inner| inner.api_key = Some(key))
    }

    /// The model, instead of the role's.
    pub fn model(self, model: impl Into<String>) -> ChatWorker {
        let model = model.into();
        self.edit(|inner| inner.model = Some(model))
    }

    /// How long one request may take, connecting and reading included (default 5 minutes);
    /// past it the call fails as timed out.
    pub fn timeout(self, timeout: Duration) -> ChatWorker {
        self.edit(|inner| {
            inner.timeout = timeout;
            inner.agent = transport::agent(timeout);
        })
    }

    /// The outcomes the worker may answer with (`ok` included when a plain success is one):
    /// those its workflow declares for it, or handles. An answer with another outcome is a
    /// failure, and with structured output the instruction lists them for the model.
    pub fn outcomes<I, S>(self, outcomes: I) -> ChatWorker
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let outcomes = outcomes.into_iter().map(Into::into).collect();
        self.edit(|inner| inner.outcomes = Some(outcomes))
    }

    /// The price of `model`, for the cost estimate.
    pub fn price(self, model: impl Into<String>, price: Price) -> ChatWorker {
        let model = model.into();
        self.edit(|inner| inner.prices.insert(model, price))
    }

    /// Prices of several models; replaces those set before.
    pub fn prices(self, prices: Prices) -> ChatWorker {
        self.edit(|inner| inner.prices = prices)
    }

    pub fn role(&self) -> &Role {
        &self.inner.role
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> String {
        self.inner.endpoint()
    }
}

/// A pool that routes each call to the role whose tags include every capability the call's
/// input lists under `field` (see [`Pool::by_capability`]).
///
/// ```
/// use orch_runtime::chat::{ChatWorker, Role, capability_pool};
/// let pool = capability_pool("needs", [
///     ChatWorker::new(Role::new("rust_dev", "You write Rust.").tags(["rust", "backend"])),
///     ChatWorker::new(Role::new("web_dev", "You write web pages.").tags(["html", "css"])),
/// ]);
/// assert!(format!("{pool:?}").contains("rust_dev"));
/// ```
pub fn capability_pool(field: &str, workers: impl IntoIterator<Item = ChatWorker>) -> Pool {
    workers
        .into_iter()
        .fold(Pool::by_capability(field), |pool, worker| {
            let role = worker.role();
            pool.member(&role.name.clone(), role.tags.clone(), worker)
        })
}

/// A pool whose roles take turns.
pub fn round_robin_pool(workers: impl IntoIterator<Item = ChatWorker>) -> Pool {
    workers
        .into_iter()
        .fold(Pool::round_robin(), |pool, worker| {
            let role = worker.role();
            pool.member(&role.name.clone(), role.tags.clone(), worker)
        })
}

impl Worker for ChatWorker {
    fn call(&self, call: Call) -> BoxFuture<WorkerResult> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (model, body) = inner.request(&call)?;
            let started = std::time::Instant::now();
            // ureq blocks; the request runs on tokio's blocking pool. A cancelled call stops
            // waiting at once; the request itself ends at the worker's timeout.
            let post = tokio::task::spawn_blocking({
                let inner = inner.clone();
                move || {
                    transport::post(
                        &inner.agent,
                        &inner.endpoint(),
                        inner.api_key.as_deref(),
                        &body,
                    )
                }
            });
            let answer = tokio::select! {
                joined = post => match joined {
                    Ok(answer) => answer.map_err(|e| inner.transport_error(e))?,
                    Err(e) => {
                        return Err(WorkerError::permanent(format!("the request failed: {e}")));
                    }
                },
                () = call.cancelled() => {
                    return Err(WorkerError::permanent("the call was cancelled"));
                }
            };
            let result = inner.interpret(&call, &model, answer);
            let usage = match &result {
                Ok(reply) => reply.usage.as_ref(),
                Err(error) => error.usage.as_ref(),
            };
            tracing::debug!(
                worker = %call.worker,
                role = %inner.role.name,
                model = usage.and_then(|u| u.model.as_deref()).unwrap_or(&model),
                prompt_tokens = usage.map_or(0, |u| u.prompt_tokens),
                completion_tokens = usage.map_or(0, |u| u.completion_tokens),
                cost = usage.map_or(0.0, |u| u.cost),
                latency_ms = started.elapsed().as_millis() as u64,
                ok = result.is_ok(),
                "chat completion"
            );
            result
        })
    }
}

impl std::fmt::Debug for ChatWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatWorker")
            .field("role", &self.inner.role.name)
            .field("endpoint", &self.inner.endpoint())
            .field("model", &self.inner.model)
            .field("timeout", &self.inner.timeout)
            .field("outcomes", &self.inner.outcomes)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }

    fn role_error(&self, message: impl std::fmt::Display) -> WorkerError {
        WorkerError::permanent(format!("role `{}`: {message}", self.role.name))
    }

    /// The model asked and the request body, or why the call cannot be made.
    fn request(&self, call: &Call) -> Result<(String, Vec<u8>), WorkerError> {
        let role = &self.role;
        let model = self.model.clone().ok_or_else(|| {
            self.role_error(
                "no model: set the role's `model` or the `OPENAI_MODEL` environment variable",
            )
        })?;
        if let Some(outcomes) = &self.outcomes
            && !role.structured()
            && !outcomes.iter().any(|o| o == "ok")
        {
            return Err(self.role_error(format!(
                "worker `{}` answers {}, but the role answers plain text, which can only be \
                 `ok`: give the role `json = true` or a `schema`",
                call.worker,
                reply::list(outcomes)
            )));
        }
        let (instruction, prompt) = self.templates.as_ref().map_err(|e| self.role_error(e))?;
        let mut system = instruction
            .render(&call.input)
            .map_err(|e| self.role_error(format!("`instruction`: {e}")))?;
        if let Some(hint) = self.outcome_hint() {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(&hint);
        }
        let user = match prompt {
            Some(prompt) => Some(
                prompt
                    .render(&call.input)
                    .map_err(|e| self.role_error(format!("`prompt`: {e}")))?,
            ),
            None => match &call.input {
                Value::Null => None,
                Value::String(text) => Some(text.clone()),
                other => Some(serde_json::to_string_pretty(other).unwrap_or_default()),
            },
        };
        let mut messages = Vec::new();
        if !system.is_empty() {
            messages.push(json!({"role": "system", "content": system}));
        }
        if let Some(user) = user {
            messages.push(json!({"role": "user", "content": user}));
        }
        if let Some(context) = role.context {
            let estimate = estimate_tokens(&messages);
            let answer = role.max_tokens.unwrap_or(0);
            if estimate + answer > context {
                return Err(self.role_error(format!(
                    "the prompt (about {estimate} tokens) and `max_tokens` ({answer}) do not fit \
                     the `context` of {context} tokens"
                )));
            }
        }
        let mut body = serde_json::Map::new();
        body.insert("model".into(), json!(model));
        body.insert("messages".into(), Value::Array(messages));
        if let Some(temperature) = role.temperature {
            body.insert("temperature".into(), json!(temperature));
        }
        if let Some(max_tokens) = role.max_tokens {
            body.insert("max_tokens".into(), json!(max_tokens));
        }
        if let Some(schema) = &role.schema {
            let mut format = json!({"name": schema_name(&role.name), "schema": schema});
            if let Some(strict) = role.strict {
                format["strict"] = json!(strict);
            }
            body.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": format}),
            );
        } else if role.json {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        if let Some(extra) = &role.extra {
            for (key, value) in extra {
                body.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        let bytes = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| WorkerError::permanent(format!("cannot encode the request: {e}")))?;
        Ok((model, bytes))
    }

    /// The line added to the instruction that lists the outcomes, with structured output.
    fn outcome_hint(&self) -> Option<String> {
        let outcomes = self.outcomes.as_ref()?;
        if !self.role.structured() || outcomes.iter().all(|o| o == "ok") {
            return None;
        }
        let quoted: Vec<String> = outcomes.iter().map(|o| format!("\"{o}\"")).collect();
        Some(format!(
            "Answer with a JSON object whose \"outcome\" field is one of: {}.",
            quoted.join(", ")
        ))
    }

    fn transport_error(&self, error: transport::Failure) -> WorkerError {
        let endpoint = self.endpoint();
        match error {
            transport::Failure::Timeout => WorkerError::timed_out(format!(
                "POST {endpoint}: the model did not answer within {}",
                show_duration(self.timeout)
            )),
            transport::Failure::Permanent(message) => {
                WorkerError::permanent(format!("POST {endpoint} failed: {message}"))
            }
            transport::Failure::Retryable(message) => {
                WorkerError::new(format!("POST {endpoint} failed: {message}"))
            }
        }
    }

    /// The reply or failure for what the endpoint answered.
    fn interpret(&self, call: &Call, model: &str, answer: Answer) -> WorkerResult {
        let endpoint = self.endpoint();
        if !(200..300).contains(&answer.status) {
            let mut message = format!("POST {endpoint} answered {}", answer.status_line());
            if let Some(detail) = reply::api_error(&answer.body) {
                message.push_str(": ");
                message.push_str(&detail);
            }
            return Err(if transport::retryable_status(answer.status) {
                let error = WorkerError::new(message);
                match answer.retry_after {
                    Some(wait) => error.with_retry_after(wait),
                    None => error,
                }
            } else {
                WorkerError::permanent(message)
            });
        }
        let body: Value = serde_json::from_str(&answer.body).map_err(|e| {
            WorkerError::permanent(format!(
                "POST {endpoint} answered with something other than a chat completion ({e}): {}",
                template::excerpt(&answer.body)
            ))
        })?;
        let usage = self.usage(model, &body);
        let completion = reply::completion(&body).map_err(|message| {
            WorkerError::new(format!("POST {endpoint}: {message}")).with_usage(usage.clone())
        })?;
        if let Some(refusal) = completion.refusal {
            return Err(
                WorkerError::permanent(format!("the model refused: {refusal}")).with_usage(usage),
            );
        }
        let outcomes = self.outcomes.as_deref();
        let (outcome, output) = if self.role.structured() {
            reply::structured(
                &completion.content,
                completion.truncated,
                outcomes,
                &call.worker,
            )
        } else {
            Ok(("ok".to_string(), Value::String(completion.content)))
        }
        .map_err(|message| WorkerError::new(message).with_usage(usage.clone()))?;
        Ok(Reply::outcome(outcome, output).with_usage(usage))
    }

    fn usage(&self, model: &str, body: &Value) -> Usage {
        let answered = body["model"].as_str().filter(|m| !m.is_empty());
        let tokens = |name: &str| body["usage"][name].as_u64().unwrap_or(0);
        let (prompt_tokens, completion_tokens) =
            (tokens("prompt_tokens"), tokens("completion_tokens"));
        let cost = self
            .prices
            .find(model, answered)
            .map_or(0.0, |price| price.cost(prompt_tokens, completion_tokens));
        Usage {
            model: Some(answered.unwrap_or(model).to_string()),
            prompt_tokens,
            completion_tokens,
            cost,
        }
    }
}

/// About four characters per token, plus a few per message: a rough estimate, enough to
/// refuse a prompt that cannot fit.
fn estimate_tokens(messages: &[Value]) -> u64 {
    messages
        .iter()
        .map(|m| {
            let chars = m["content"].as_str().map_or(0, |c| c.chars().count()) as u64;
            chars.div_ceil(4) + 4
        })
        .sum()
}

/// A schema name as the API accepts it: letters, digits, `_` and `-`, at most 64.
fn schema_name(role: &str) -> String {
    let name: String = role
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "answer".into()
    } else {
        name
    }
}

fn show_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_role_s_settings() {
        let role = Role::new("a writer!", "Write about {{input.topic}}.")
            .prompt("Topic: {{input.topic}}")
            .model("m1")
            .temperature(0.5)
            .max_tokens(50)
            .schema(json!({"type": "object"}))
            .extra("seed", json!(7));
        let worker = ChatWorker::new(role).outcomes(["ok", "revise"]);
        let call = Call::new("Writer", json!({"topic": "bread"}));
        let (model, body) = worker.inner.request(&call).unwrap();
        assert_eq!(model, "m1");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "m1",
                "messages": [
                    {"role": "system", "content": "Write about bread.\n\nAnswer with a JSON object whose \"outcome\" field is one of: \"ok\", \"revise\"."},
                    {"role": "user", "content": "Topic: bread"},
                ],
                "temperature": 0.5,
                "max_tokens": 50,
                "response_format": {"type": "json_schema", "json_schema": {"name": "a_writer_", "schema": {"type": "object"}}},
                "seed": 7,
            })
        );
    }

    #[test]
    fn calls_that_cannot_be_made_fail_before_sending() {
        let call = Call::new("Critic", json!({"draft": "d"}));
        let plain = ChatWorker::new(Role::new("critic", "Judge.").model("m")).outcomes(["accept"]);
        let error = plain.inner.request(&call).unwrap_err();
        assert!(!error.retryable);
        assert!(
            error.message.contains("give the role `json = true`"),
            "{}",
            error.message
        );
        let missing = ChatWorker::new(Role::new("critic", "Judge {{input.text}}.").model("m"));
        let error = missing.inner.request(&call).unwrap_err();
        assert!(
            error
                .message
                .starts_with("role `critic`: `instruction`: `{{input.text}}`")
        );
        let small = ChatWorker::new(Role::new("critic", "x".repeat(400)).model("m").context(100));
        let error = small.inner.request(&call).unwrap_err();
        assert!(
            error.message.contains("do not fit the `context` of 100"),
            "{}",
            error.message
        );
    }
}
