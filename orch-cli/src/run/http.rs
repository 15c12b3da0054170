//! Workers that POST each call to an HTTP service.
//!
//! The request JSON is the body; the response body is the reply. 2xx is a reply; 429 and 5xx
//! are failures worth retrying, as are connection errors; other statuses (redirects too, which
//! are not followed) are permanent failures. Every request carries an `Idempotency-Key` header.

use std::sync::Arc;
use std::time::Duration;

use orch_runtime::{BoxFuture, Call, Worker, WorkerError, WorkerResult};

use super::config::HttpSpec;
use super::process::show_duration;
use super::protocol::{excerpt, parse_reply, request};

/// The largest response body read.
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct HttpWorker {
    inner: Arc<Inner>,
}

struct Inner {
    spec: HttpSpec,
    agent: ureq::Agent,
}

impl HttpWorker {
    pub fn new(spec: HttpSpec) -> HttpWorker {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A redirected POST would become a GET without the request: report it instead.
            .max_redirects(0)
            .timeout_global(spec.timeout)
            .user_agent(concat!("orch/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpWorker {
            inner: Arc::new(Inner {
                agent: ureq::Agent::new_with_config(config),
                spec,
            }),
        }
    }
}

impl Worker for HttpWorker {
    fn call(&self, call: Call) -> BoxFuture<WorkerResult> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let body = serde_json::to_vec(&request(&call))
                .map_err(|e| WorkerError::permanent(format!("cannot encode the request: {e}")))?;
            let key = call.idempotency_key();
            // ureq blocks; the request runs on tokio's blocking pool. A cancelled call stops
            // waiting for it at once; the request itself ends at its `timeout`.
            let post = tokio::task::spawn_blocking(move || inner.post(&body, &key));
            tokio::select! {
                joined = post => joined.unwrap_or_else(|e| {
                    Err(WorkerError::permanent(format!("the request failed: {e}")))
                }),
                () = call.cancelled() => Err(WorkerError::permanent("the call was cancelled")),
            }
        })
    }
}

impl Inner {
    fn post(&self, body: &[u8], key: &str) -> WorkerResult {
        let url = &self.spec.url;
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .header("Idempotency-Key", key);
        for (name, value) in &self.spec.headers {
            request = request.header(name, value);
        }
        let mut response = request.send(body).map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let text = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            return parse_reply(&text).map_err(WorkerError::permanent);
        }
        let mut message = format!("POST {url} answered {status}");
        if !text.trim().is_empty() {
            message.push_str(": ");
            message.push_str(&excerpt(&text, 300));
        }
        if status.as_u16() == 429 || status.is_server_error() {
            Err(WorkerError::new(message))
        } else {
            Err(WorkerError::permanent(message))
        }
    }

    fn transport_error(&self, error: ureq::Error) -> WorkerError {
        let url = &self.spec.url;
        match error {
            ureq::Error::Timeout(_) => WorkerError::timed_out(format!(
                "POST {url} did not answer within {}",
                show_duration(self.spec.timeout.unwrap_or(Duration::ZERO))
            )),
            ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl => {
                WorkerError::permanent(format!("POST {url} failed: {error}"))
            }
            other => WorkerError::new(format!("POST {url} failed: {other}")),
        }
    }
}
