//! Worker pools: one worker name served by several workers, chosen per call.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::worker::{BoxFuture, Call, Worker, WorkerError, WorkerResult};

/// How a pool picks the member that serves a call.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Strategy {
    /// Members take turns.
    RoundRobin,
    /// Members whose tags include every capability the call's input lists under this field
    /// take turns; a call that no member can serve fails without retries.
    Capability(String),
}

struct Member {
    name: String,
    tags: BTreeSet<String>,
    worker: Arc<dyn Worker>,
}

/// Several workers behind one worker name.
///
/// ```
/// use orch_runtime::{Call, Pool, Reply};
/// use serde_json::json;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let pool = Pool::by_capability("needs")
///     .member("rustacean", ["rust", "backend"], |_: Call| async { Ok(Reply::ok("written in Rust")) })
///     .member("designer", ["css", "frontend"], |_: Call| async { Ok(Reply::ok("styled")) });
/// let call = Call::new("Developer", json!({"needs": ["rust"]}));
/// assert_eq!(orch_runtime::Worker::call(&pool, call).await.unwrap().output, "written in Rust");
/// let call = Call::new("Developer", json!({"needs": ["cobol"]}));
/// assert!(orch_runtime::Worker::call(&pool, call).await.is_err());
/// # });
/// ```
pub struct Pool {
    strategy: Strategy,
    members: Vec<Member>,
    next: AtomicUsize,
}

impl Pool {
    /// A pool whose members take turns.
    pub fn round_robin() -> Pool {
        Pool::new(Strategy::RoundRobin)
    }

    /// A pool that routes each call to a member with the capabilities listed in the call's
    /// input under `field` (a string or a list of strings; none listed means any member).
    pub fn by_capability(field: &str) -> Pool {
        Pool::new(Strategy::Capability(field.to_string()))
    }

    fn new(strategy: Strategy) -> Pool {
        Pool {
            strategy,
            members: Vec::new(),
            next: AtomicUsize::new(0),
        }
    }

    /// Adds a member with its capability tags.
    pub fn member<I, S>(mut self, name: &str, tags: I, worker: impl Worker) -> Pool
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.members.push(Member {
            name: name.to_string(),
            tags: tags.into_iter().map(Into::into).collect(),
            worker: Arc::new(worker),
        });
        self
    }

    /// The member that serves `call`.
    fn pick(&self, call: &Call) -> Result<&Member, WorkerError> {
        let candidates: Vec<&Member> = match &self.strategy {
            Strategy::RoundRobin => self.members.iter().collect(),
            Strategy::Capability(field) => {
                let needed = capabilities(&call.input[field.as_str()]);
                self.members
                    .iter()
                    .filter(|m| needed.is_subset(&m.tags))
                    .collect()
            }
        };
        if candidates.is_empty() {
            let needed = match &self.strategy {
                Strategy::Capability(field) => {
                    format!(" with capabilities {}", call.input[field.as_str()])
                }
                Strategy::RoundRobin => String::new(),
            };
            return Err(WorkerError::permanent(format!(
                "no worker in the pool of `{}`{needed}",
                call.worker
            )));
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(candidates[turn % candidates.len()])
    }
}

fn capabilities(value: &Value) -> BTreeSet<String> {
    match value {
        Value::String(s) => BTreeSet::from([s.clone()]),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    }
}

impl Worker for Pool {
    fn call(&self, call: Call) -> BoxFuture<WorkerResult> {
        match self.pick(&call) {
            Ok(member) => member.worker.call(call),
            Err(error) => Box::pin(async move { Err(error) }),
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members: Vec<(&str, &BTreeSet<String>)> = self
            .members
            .iter()
            .map(|m| (m.name.as_str(), &m.tags))
            .collect();
        f.debug_struct("Pool")
            .field("strategy", &self.strategy)
            .field("members", &members)
            .finish()
    }
}
