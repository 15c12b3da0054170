//! The orch engine: runs checked workflows on tokio.
//!
//! A workflow's control flow is fixed and checked before it runs; only the workers — LLM
//! agents, services, people — are uncertain. The engine calls them, retries with backoff and
//! jitter, enforces timeouts and `max_steps`, runs parallel branches and map items
//! concurrently, waits for signals, runs child workflows, and records every attempt in an
//! audit trail. The same engine runs workflows compiled into Rust by `workflow!` or `build.rs`
//! and workflow text loaded at run time.
//!
//! ```
//! use orch_runtime::{Call, Engine, Reply, WorkerError};
//! use serde_json::json;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let engine = Engine::new();
//! engine
//!     .bind("Writer", |call: Call| async move {
//!         Ok(Reply::ok(format!("draft {}", call.iteration.unwrap_or(0))))
//!     })
//!     .bind("Critic", |call: Call| async move {
//!         let draft = call.input["draft"].as_str().unwrap_or_default();
//!         Ok(if draft.ends_with('3') {
//!             Reply::outcome("accept", json!({"score": 0.9}))
//!         } else {
//!             Reply::outcome("revise", json!({"score": 0.4}))
//!         })
//!     });
//! engine.load(r#"
//!     workflow Review {
//!         worker Writer;
//!         worker Critic;
//!         start write;
//!         loop write by Writer { max 3; ok -> critique; fail -> failed; }
//!         task critique by Critic {
//!             with { draft: "{{write.output}}" }
//!             on accept -> done;
//!             on revise -> failed;
//!             fail -> failed;
//!         }
//!         succeed done output write.output;
//!         fail failed;
//!     }
//! "#).unwrap();
//! let result = engine.run("Review", json!({})).await.unwrap();
//! assert_eq!(result.output, Some(json!("draft 3")));
//! assert_eq!(result.path(), ["write", "critique", "done"]);
//! # let _ = WorkerError::new("unused");
//! # });
//! ```

mod data;
mod engine;
mod event;
mod result;
mod run;
mod trail;
mod worker;

pub use data::{RunData, StepData};
pub use engine::{Engine, LoadError, Options, RunHandle, SignalError, StartError};
pub use event::Event;
pub use result::{RunResult, RunStatus};
pub use trail::{Attempt, AttemptStatus, Entry, Trail};
pub use worker::{BoxFuture, Call, Reply, Worker, WorkerError, WorkerResult, Workers};

/// The checked workflow representation the engine runs.
pub use orch_dsl::ir;

/// Includes the Rust code that `orch_dsl::build` generated from `name.orch` in `OUT_DIR`.
///
/// ```ignore
/// orch_runtime::include_workflow!("build_website");
/// ```
#[macro_export]
macro_rules! include_workflow {
    ($name:literal) => {
        include!(concat!(env!("OUT_DIR"), "/orch/", $name, ".rs"));
    };
}

/// What generated code needs. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use futures_util::future::FutureExt;
    pub use orch_dsl::ir;
    pub use serde;
    pub use serde_json;
    pub use std::sync::LazyLock;
}
