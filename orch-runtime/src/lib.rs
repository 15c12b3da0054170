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

#[cfg(feature = "chat")]
pub mod chat;
mod data;
mod durable;
mod engine;
mod event;
mod pool;
mod replay;
mod result;
mod run;
pub mod store;
mod trail;
mod worker;

pub use data::{RunData, StepData};
pub use durable::ResumeError;
pub use engine::{Engine, Limits, LoadError, Options, RunHandle, SignalError, StartError};
pub use event::Event;
/// Compiles workflows written inline into typed Rust modules, checked when the crate compiles.
///
/// Each workflow becomes a module (`BuildWebsite` → `build_website`) with a `State` enum, the
/// `Event` and `Outcome` enums, a `transition` function, an `Input` struct, a `Workers` trait
/// with one method per worker, the `DOT` and `MERMAID` diagrams, and `bind`, `engine` and
/// `run`. An error in the workflow is a compile error that points into it.
///
/// ```
/// orch_runtime::workflow! {
///     /// Greets someone.
///     workflow Hello {
///         input { name: string }
///         worker Greeter "says hello";
///         start greet;
///         task greet by Greeter { with { name: "{{input.name}}" } ok -> done; fail -> failed; }
///         succeed done output "{{greet.output}}";
///         fail failed;
///     }
/// }
///
/// struct Polite;
///
/// impl hello::Workers for Polite {
///     async fn greeter(&self, call: orch_runtime::Call) -> orch_runtime::WorkerResult<serde_json::Value> {
///         Ok(format!("Hello, {}!", call.input["name"].as_str().unwrap_or("you")).into())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let result = hello::run(Polite, hello::Input { name: "Ada".into() }).await.unwrap();
/// assert_eq!(result.output, Some("Hello, Ada!".into()));
/// assert_eq!(hello::State::START, hello::State::Greet);
/// assert!(hello::DOT.starts_with("digraph"));
/// # });
/// ```
pub use orch_macros::workflow;
pub use pool::Pool;
pub use replay::{Divergence, Replay};
pub use result::{RunResult, RunStatus, States, StatesIter};
pub use trail::{Attempt, AttemptStatus, Entry, Received, Trail};
pub use worker::{BoxFuture, Call, Reply, Usage, Worker, WorkerError, WorkerResult, Workers};

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
