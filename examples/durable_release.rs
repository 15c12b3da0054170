//! A durable long run, resumed after a restart. The engine keeps the run in a SQLite store
//! (`orch_runtime::store::SqliteStore`, here in a temporary file), with a checkpoint after
//! every transition. Compiled from `examples/workflows/durable_release.orch`.
//!
//! 1. A first engine, on a runtime of its own, builds and stages the release and reaches the
//!    `wait` for the release manager's sign-off (a wait of up to a day). Then its runtime is
//!    dropped with the run still waiting: the process is gone, as after a crash or a
//!    redeployment.
//! 2. A new engine opens the same store and resumes every run that was running.
//! 3. The sign-off arrives as a signal, and the run publishes the release and finishes. The
//!    steps completed before the restart are not run again.
//!
//! ```text
//! cargo run --example durable_release
//! ```

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use orch_runtime::store::{RunFilter, SqliteStore};
use orch_runtime::{Call, Engine, Event, RunResult, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("durable_release");

use durable_release::{Input, Signal, Workers};

type BoxError = Box<dyn Error + Send + Sync>;

/// What the example observed.
pub struct Durable {
    /// The result of the resumed run.
    pub result: RunResult,
    /// Every worker call, in order, across both engines, as `worker state`.
    pub calls: Vec<String>,
    /// The state the run was stored at when the first engine stopped.
    pub stored_at: String,
}

/// Scripted workers. Every call is written down, so that the example can show that nothing
/// completed before the restart runs again.
#[derive(Clone)]
struct Crew {
    calls: Arc<Mutex<Vec<String>>>,
}

impl Crew {
    fn note(&self, call: &Call) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.push(format!("{} {}", call.worker, call.state));
    }
}

impl Workers for Crew {
    async fn builder(&self, call: Call) -> WorkerResult<Value> {
        self.note(&call);
        println!("builder: building and testing {}", call.input["version"]);
        Ok(json!({ "artifact": "bakery-2.0.0.tar.gz", "tests": "412 passed" }))
    }

    async fn stager(&self, call: Call) -> WorkerResult<Value> {
        self.note(&call);
        println!(
            "stager: deploying {} to staging",
            call.input["build"]["artifact"]
        );
        Ok(json!("https://staging.example.org"))
    }

    async fn publisher(&self, call: Call) -> WorkerResult<Value> {
        self.note(&call);
        println!(
            "publisher: publishing {}, signed off by {}",
            call.input["build"]["artifact"], call.input["signed_by"]
        );
        Ok(json!("bakery 2.0.0 is released"))
    }
}

/// Phase 1, as a process of its own: start the run, and stop once it waits for the sign-off.
fn first_process(path: &Path, crew: Crew) -> Result<String, BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let id = runtime.block_on(async {
        let engine = Engine::new().with_store(Arc::new(SqliteStore::open(path)?));
        durable_release::bind(&engine, crew);
        let mut events = engine.events();
        let input = serde_json::to_value(Input {
            version: "2.0.0".into(),
        })?;
        let handle = engine.start(durable_release::NAME, input)?;
        let id = handle.id().to_string();
        loop {
            match events.recv().await? {
                Event::Waiting {
                    run, state, signal, ..
                } if *run == *id => {
                    println!("(the run waits at `{state}` for `{signal}`)");
                    break;
                }
                Event::RunFinished { run, status } if *run == *id => {
                    return Err(format!("the run ended before it waited: {status:?}").into());
                }
                _ => {}
            }
        }
        Ok::<_, BoxError>(id)
    })?;
    // Dropping the runtime stops the run in the middle of its wait, without pausing it.
    drop(runtime);
    println!("(the first process stops)");
    Ok(id)
}

/// Runs the three phases over a store in a fresh temporary file.
pub async fn run() -> Result<Durable, BoxError> {
    let path = temp_store();
    let crew = Crew {
        calls: Arc::default(),
    };
    let outcome = phases(&path, crew.clone()).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let (result, stored_at) = outcome?;
    let calls = crew.calls.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Durable {
        result,
        calls,
        stored_at,
    })
}

async fn phases(path: &Path, crew: Crew) -> Result<(RunResult, String), BoxError> {
    println!("── phase 1: the first process starts the release");
    let first = {
        let (path, crew) = (path.to_path_buf(), crew.clone());
        std::thread::spawn(move || first_process(&path, crew))
    };
    let id = tokio::task::spawn_blocking(move || first.join())
        .await?
        .map_err(|_| "the first process panicked")??;

    println!("\n── phase 2: a new engine opens the same store");
    let engine = Engine::new().with_store(Arc::new(SqliteStore::open(path)?));
    durable_release::bind(&engine, crew);
    let stored = engine.runs(RunFilter::default()).await?;
    let stored_at = stored
        .iter()
        .find(|run| run.id == id)
        .map(|run| run.state.clone())
        .ok_or("the run is not in the store")?;
    for run in &stored {
        println!(
            "store: a {} run, {} at `{}` after {} steps",
            run.workflow, run.status, run.state, run.steps
        );
    }
    let mut resumed = engine.resume_all().await?;
    let (_, handle) = resumed.pop().ok_or("no run to resume")?;
    let handle = handle?;
    println!("(resumed)");

    println!("\n── phase 3: the release manager signs off");
    println!("release manager: signing off");
    let payload = json!({ "by": "grace" });
    engine.signal(&id, Signal::SignOff.name(), payload).await?;
    let result = handle.result().await;
    Ok((result, stored_at))
}

/// A path for a new store file in the temporary folder.
fn temp_store() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "orch-durable-release-{}-{n}.db",
        std::process::id()
    ))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let durable = run().await?;
    support::print_summary(&durable.result, durable_release::WORST_CASE_STEPS);
    Ok(())
}
