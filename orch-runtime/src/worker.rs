//! Workers: what the engine calls to do the uncertain part of a workflow.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::engine::RunControl;

/// A boxed future that can run on any tokio worker thread.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The result of one worker call.
pub type WorkerResult<T = Reply> = Result<T, WorkerError>;

/// One call of a worker: its rendered input and a read-only view of where in the run it is.
///
/// Workers never see each other; everything they need arrives in `input`.
#[derive(Clone)]
pub struct Call {
    /// The rendered `with` object (`null` when the state has none).
    pub input: Value,
    pub run_id: Arc<str>,
    pub workflow: Arc<str>,
    pub state: Arc<str>,
    pub worker: Arc<str>,
    /// The step number in the run (every state entry and loop iteration is a step).
    pub step: u64,
    /// The branch of a `parallel`, if any.
    pub branch: Option<Arc<str>>,
    /// The element index of a `map`, if any.
    pub item: Option<usize>,
    /// The 1-based iteration of a `loop`, if any.
    pub iteration: Option<u64>,
    /// 1 for the first attempt, 2 for the first retry, …
    pub attempt: u32,
    pub(crate) cancel: Cancel,
}

/// What tells a call that its run no longer needs it.
#[derive(Clone)]
pub(crate) enum Cancel {
    /// The run's own token, reached through the run's control block: a copy counts the block,
    /// which the run's thread has in its cache anyway, where a copy of the token would lock the
    /// token's node to count it, and again to let it go.
    Run(Arc<RunControl>),
    /// A token of the call's own: a branch's, a map item's, or an attempt's that can time out.
    Token(CancellationToken),
}

impl Cancel {
    pub(crate) fn token(&self) -> &CancellationToken {
        match self {
            Cancel::Run(control) => &control.cancel,
            Cancel::Token(token) => token,
        }
    }
}

impl Call {
    /// A call for testing a worker outside a run.
    ///
    /// ```
    /// let call = orch_runtime::Call::new("Coder", serde_json::json!({"specs": "a page"}));
    /// assert_eq!(call.attempt, 1);
    /// assert_eq!(call.idempotency_key(), "test:Coder:1:1");
    /// ```
    pub fn new(worker: &str, input: Value) -> Call {
        Call {
            input,
            run_id: Arc::from("test"),
            workflow: Arc::from("test"),
            state: Arc::from(worker),
            worker: Arc::from(worker),
            step: 1,
            branch: None,
            item: None,
            iteration: None,
            attempt: 1,
            cancel: Cancel::Token(CancellationToken::new()),
        }
    }

    /// A key that is the same every time this exact attempt is made — also when a run resumes
    /// after a crash and repeats a call that was in flight — and different for every other
    /// attempt. Workers with side effects use it to deduplicate.
    pub fn idempotency_key(&self) -> String {
        let mut key = format!("{}:{}:{}", self.run_id, self.state, self.step);
        if let Some(branch) = &self.branch {
            key.push_str(&format!(":{branch}"));
        }
        if let Some(item) = self.item {
            key.push_str(&format!(":#{item}"));
        }
        key.push_str(&format!(":{}", self.attempt));
        key
    }

    /// Resolves when the run no longer needs this call (cancelled, timed out, or a `join any`
    /// was decided). Workers holding external resources can select on it to stop early.
    pub async fn cancelled(&self) {
        self.cancel.token().cancelled().await
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.token().is_cancelled()
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("workflow", &self.workflow)
            .field("state", &self.state)
            .field("worker", &self.worker)
            .field("step", &self.step)
            .field("branch", &self.branch)
            .field("item", &self.item)
            .field("iteration", &self.iteration)
            .field("attempt", &self.attempt)
            .field("input", &self.input)
            .finish()
    }
}

/// What a call consumed, for workers that call metered services such as language models. The
/// trail keeps it per attempt and the run's result adds it up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    /// Estimated cost, in US dollars.
    #[serde(default)]
    pub cost: f64,
}

impl Usage {
    /// Adds `other` to this total (the model is kept when both agree).
    pub fn add(&mut self, other: &Usage) {
        if self.model.is_none() && self.prompt_tokens == 0 && self.completion_tokens == 0 {
            self.model = other.model.clone();
        } else if self.model != other.model {
            self.model = None;
        }
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost += other.cost;
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

/// What a worker answers: an outcome (`"ok"` or a custom label its task handles) and an output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// `ok` or a label the worker declares. `ok` (and any `&'static str`) is held without an
    /// allocation.
    #[serde(deserialize_with = "crate::trail::outcome_label")]
    pub outcome: Cow<'static, str>,
    pub output: Value,
    /// What producing it consumed, if the worker reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl Reply {
    /// A plain success.
    pub fn ok(output: impl Into<Value>) -> Reply {
        Reply {
            outcome: Cow::Borrowed(crate::trail::OK),
            output: output.into(),
            usage: None,
        }
    }

    /// A success with a custom outcome, such as `approved`. A label known when the program is
    /// compiled can also be set in place, without an allocation:
    ///
    /// ```
    /// use orch_runtime::Reply;
    /// use serde_json::json;
    ///
    /// let reply = Reply::outcome("approved", json!({ "score": 9 }));
    /// assert_eq!(reply.outcome, "approved");
    /// let reply = Reply { outcome: "approved".into(), ..Reply::ok(json!({ "score": 9 })) };
    /// assert_eq!(reply.outcome, "approved");
    /// ```
    pub fn outcome(outcome: impl Into<String>, output: impl Into<Value>) -> Reply {
        Reply {
            outcome: crate::trail::shared(Cow::Owned(outcome.into())),
            output: output.into(),
            usage: None,
        }
    }

    /// The reply with what producing it consumed.
    pub fn with_usage(mut self, usage: Usage) -> Reply {
        self.usage = Some(usage);
        self
    }
}

/// A failed worker call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WorkerError {
    pub message: String,
    /// False for failures that retrying cannot fix (a rejected request, a missing file).
    pub retryable: bool,
    /// The worker gave up waiting on something (its own deadline); recorded as a timeout, so
    /// a state with `timeout ->` takes that path.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// The service asked to be retried no sooner than this many milliseconds from now (an HTTP
    /// `Retry-After`); the next retry waits at least this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// What the failed call consumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl WorkerError {
    /// A failure worth retrying under the task's retry policy.
    pub fn new(message: impl Into<String>) -> WorkerError {
        WorkerError {
            message: message.into(),
            retryable: true,
            timed_out: false,
            retry_after_ms: None,
            usage: None,
        }
    }

    /// A failure that goes straight to the failure path, without retries.
    pub fn permanent(message: impl Into<String>) -> WorkerError {
        WorkerError {
            message: message.into(),
            retryable: false,
            timed_out: false,
            retry_after_ms: None,
            usage: None,
        }
    }

    /// A retryable failure that counts as a timeout.
    pub fn timed_out(message: impl Into<String>) -> WorkerError {
        WorkerError {
            message: message.into(),
            retryable: true,
            timed_out: true,
            retry_after_ms: None,
            usage: None,
        }
    }

    /// The error with a service's request to wait before retrying.
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> WorkerError {
        self.retry_after_ms = Some(wait.as_millis() as u64);
        self
    }

    /// The error with what the failed call consumed.
    pub fn with_usage(mut self, usage: Usage) -> WorkerError {
        self.usage = Some(usage);
        self
    }
}

/// Something that does the work of a state. Implemented for closures
/// `Fn(Call) -> impl Future<Output = WorkerResult>`.
///
/// ```
/// use orch_runtime::{Call, Reply, Worker, WorkerError};
/// let shout = |call: Call| async move {
///     let text = call.input["text"].as_str().ok_or_else(|| WorkerError::permanent("no text"))?;
///     Ok(Reply::ok(text.to_uppercase()))
/// };
/// # tokio_test_block(async move {
/// let reply = shout.call(Call::new("Shout", serde_json::json!({"text": "hi"}))).await.unwrap();
/// assert_eq!(reply.output, "HI");
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub trait Worker: Send + Sync + 'static {
    fn call(&self, call: Call) -> BoxFuture<WorkerResult>;
}

impl<F, Fut> Worker for F
where
    F: Fn(Call) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = WorkerResult> + Send + 'static,
{
    fn call(&self, call: Call) -> BoxFuture<WorkerResult> {
        Box::pin(self(call))
    }
}

impl Worker for Arc<dyn Worker> {
    fn call(&self, call: Call) -> BoxFuture<WorkerResult> {
        (**self).call(call)
    }
}

/// Workers by the names workflows declare them with.
#[derive(Clone, Default)]
pub struct Workers {
    map: crate::engine::Table<String, Arc<dyn Worker>>,
}

impl Workers {
    pub fn new() -> Workers {
        Workers::default()
    }

    /// Binds `name` to `worker`, replacing an earlier binding.
    pub fn bind(&mut self, name: impl Into<String>, worker: impl Worker) -> &mut Workers {
        self.map.insert(name.into(), Arc::new(worker));
        self
    }

    /// Like [`bind`](Workers::bind), in builder style.
    pub fn with(mut self, name: impl Into<String>, worker: impl Worker) -> Workers {
        self.bind(name, worker);
        self
    }

    /// Binds an already shared worker.
    pub fn bind_arc(&mut self, name: impl Into<String>, worker: Arc<dyn Worker>) -> &mut Workers {
        self.map.insert(name.into(), worker);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Worker>> {
        self.map.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Adds every binding of `other`, replacing bindings of the same names.
    pub fn extend(&mut self, other: Workers) {
        self.map.extend(other.map);
    }
}

impl fmt::Debug for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.names().collect();
        names.sort_unstable();
        f.debug_struct("Workers").field("names", &names).finish()
    }
}
