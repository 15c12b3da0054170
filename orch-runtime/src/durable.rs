//! Durable runs: resuming, pausing, signalling and rewinding runs kept in the engine's store.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::engine::{
    Engine, Mailbox, RunControl, RunHandle, Signal, SignalError, SignalReply, StartError,
    check_signal, lock,
};
use crate::result::RunStatus;
use crate::run::Run;
use crate::store::{Lifecycle, RunFilter, RunSummary, StoreError, definition_hash};

/// How long a resumed run's lease lasts in a store shared by several processes.
const LEASE: Duration = Duration::from_secs(300);

/// Why a run could not be resumed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("this engine has no run store")]
    NoStore,
    #[error("no run `{0}` in the store")]
    UnknownRun(String),
    #[error("run `{0}` is already running in this engine")]
    Running(String),
    #[error("run `{run}` has finished ({status})")]
    Finished { run: String, status: Lifecycle },
    #[error("run `{run}` is held by another process until its lease expires")]
    Claimed { run: String },
    #[error(
        "run `{run}` started under another definition of workflow `{workflow}`; resuming it under the loaded one is refused (only documentation may change)"
    )]
    DefinitionChanged { run: String, workflow: String },
    #[error("run `{run}`: {error}")]
    Start { run: String, error: StartError },
    #[error("run `{run}` is at state `{state}`, which workflow `{workflow}` does not have")]
    UnknownState {
        run: String,
        workflow: String,
        state: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Engine {
    /// Continues a stored run from its last checkpoint, in this engine: a run that a crash
    /// interrupted, or one that was paused. The run's workflow must be loaded with the same
    /// definition it started under (documentation may differ); its workers must be bound.
    ///
    /// The state the run was in when it stopped runs again from its start, with the same step
    /// number, so its worker calls get the same idempotency keys as before.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use orch_runtime::{Call, Engine, Reply, RunStatus, store::MemoryStore};
    /// let store = Arc::new(MemoryStore::new());
    /// let text = "workflow Approve {
    ///     worker Clerk; signal Go;
    ///     start file; task file by Clerk { ok -> go; fail -> failed; }
    ///     wait go for Go { ok -> done; fail -> failed; }
    ///     succeed done; fail failed; }";
    /// let engine = Engine::new().with_store(store.clone());
    /// engine.bind("Clerk", |_: Call| async { Ok(Reply::ok("filed")) });
    /// engine.load(text).unwrap();
    /// let handle = engine.start("Approve", serde_json::json!({})).unwrap();
    /// let id = handle.id().to_string();
    /// tokio::task::yield_now().await;
    /// handle.pause();
    /// assert_eq!(handle.result().await.status, RunStatus::Paused);
    ///
    /// // Later, or in another process over the same store:
    /// engine.signal(&id, "Go", serde_json::json!({"by": "ada"})).await.unwrap();
    /// let resumed = engine.resume(&id).await.unwrap();
    /// assert_eq!(resumed.result().await.status, RunStatus::Succeeded);
    /// # });
    /// ```
    pub async fn resume(&self, run: &str) -> Result<RunHandle, ResumeError> {
        let store = self.store().ok_or(ResumeError::NoStore)?;
        if lock(&self.inner.live).contains(run) {
            return Err(ResumeError::Running(run.to_string()));
        }
        let loaded = store
            .load(run)
            .await?
            .ok_or_else(|| ResumeError::UnknownRun(run.to_string()))?;
        let summary = &loaded.summary;
        if summary.status.is_finished() {
            return Err(ResumeError::Finished {
                run: run.to_string(),
                status: summary.status,
            });
        }
        let start = |error| ResumeError::Start {
            run: run.to_string(),
            error,
        };
        let registered = self.registered(&summary.workflow).map_err(start)?;
        let workflow = registered.workflow.clone();
        if definition_hash(&workflow) != summary.definition {
            return Err(ResumeError::DefinitionChanged {
                run: run.to_string(),
                workflow: summary.workflow.clone(),
            });
        }
        let state =
            workflow
                .state(&loaded.checkpoint.state)
                .ok_or_else(|| ResumeError::UnknownState {
                    run: run.to_string(),
                    workflow: workflow.name.to_string(),
                    state: loaded.checkpoint.state.clone(),
                })?;
        // Checked before the claim: an engine that cannot run it leaves it to one that can.
        let bound = registered.bound().map_err(start)?;
        if !store.claim(run, &self.owner(), LEASE).await? {
            return Err(ResumeError::Claimed {
                run: run.to_string(),
            });
        }
        let signals: VecDeque<Signal> = loaded
            .signals
            .into_iter()
            .map(|s| Signal {
                name: s.name,
                reply: SignalReply::from_stored(s.reply),
                seq: Some(s.seq),
            })
            .collect();
        let mailbox = (!signals.is_empty()).then(|| Mailbox::new(signals));
        let seed = self.seed_for(self.next_ordinal());
        let control = RunControl::new(
            Arc::from(run),
            bound.names.workflow.clone(),
            CancellationToken::new(),
            mailbox,
            seed,
            false,
        );
        let mut resumed = Run::new(self.clone(), bound, loaded.input, control);
        resumed.restore(store.clone(), state, loaded.checkpoint);
        if summary.status == Lifecycle::Paused {
            store.set_status(run, Lifecycle::Running).await?;
        }
        Ok(self.spawn(resumed))
    }

    /// Resumes every run the store holds as running, as after a crash; paused runs stay paused.
    pub async fn resume_all(
        &self,
    ) -> Result<Vec<(String, Result<RunHandle, ResumeError>)>, ResumeError> {
        let store = self.store().ok_or(ResumeError::NoStore)?;
        let running = store
            .list(RunFilter {
                status: Some(Lifecycle::Running),
                workflow: None,
            })
            .await?;
        let mut handles = Vec::with_capacity(running.len());
        for run in running {
            if lock(&self.inner.live).contains(run.id.as_str()) {
                continue;
            }
            let handle = self.resume(&run.id).await;
            handles.push((run.id, handle));
        }
        Ok(handles)
    }

    /// Delivers a signal to a run of this engine or of its store, with a plain success; it is
    /// kept in the store first, so a run that is not running now gets it when resumed.
    pub async fn signal(&self, run: &str, signal: &str, payload: Value) -> Result<(), SignalError> {
        self.deliver(run, signal, SignalReply::Outcome("ok".into(), payload))
            .await
    }

    /// Like [`Engine::signal`], with a custom outcome.
    pub async fn signal_outcome(
        &self,
        run: &str,
        signal: &str,
        outcome: &str,
        payload: Value,
    ) -> Result<(), SignalError> {
        self.deliver(
            run,
            signal,
            SignalReply::Outcome(outcome.to_string(), payload),
        )
        .await
    }

    /// Like [`Engine::signal`], with a rejection.
    pub async fn reject(&self, run: &str, signal: &str, reason: &str) -> Result<(), SignalError> {
        self.deliver(run, signal, SignalReply::Reject(reason.to_string()))
            .await
    }

    async fn deliver(
        &self,
        run: &str,
        signal: &str,
        reply: SignalReply,
    ) -> Result<(), SignalError> {
        let live = lock(&self.inner.live)
            .get(run)
            .map(|l| (l.0.workflow.to_string(), l.0.clone()));
        let store = self.store();
        let workflow = match (&live, &store) {
            (Some((workflow, _)), _) => workflow.clone(),
            (None, Some(store)) => {
                let loaded = store
                    .load(run)
                    .await
                    .map_err(|e| SignalError::Store(e.to_string()))?;
                let summary = loaded
                    .ok_or_else(|| SignalError::UnknownRun(run.to_string()))?
                    .summary;
                if summary.status.is_finished() {
                    return Err(SignalError::Finished);
                }
                summary.workflow
            }
            (None, None) => return Err(SignalError::UnknownRun(run.to_string())),
        };
        if self.workflow(&workflow).is_some() {
            check_signal(&workflow, &self.signals_of(&workflow), signal, &reply)?;
        }
        if let Some((_, control)) = &live {
            control.recorded().await;
        }
        let seq = match &store {
            Some(store) => Some(
                store
                    .push_signal(run, signal, reply.clone().into_stored())
                    .await
                    .map_err(|e| SignalError::Store(e.to_string()))?,
            ),
            None => None,
        };
        if let Some((_, control)) = live {
            control.mailbox().deliver(Signal {
                name: signal.to_string(),
                reply,
                seq,
            });
        }
        Ok(())
    }

    /// Pauses a run of this engine (see [`RunHandle::pause`]); false when it is not running here.
    pub fn pause(&self, run: &str) -> bool {
        match lock(&self.inner.live).get(run) {
            Some(live) => {
                live.0.paused.store(true, Ordering::SeqCst);
                live.0.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Saves a run's last checkpoint under `name`.
    pub async fn save_checkpoint(&self, run: &str, name: &str) -> Result<(), ResumeError> {
        let store = self.store().ok_or(ResumeError::NoStore)?;
        Ok(store.save_named(run, name).await?)
    }

    /// Rewinds a run that is not running here to the checkpoint saved as `name`: its trail is
    /// cut back to that point and it becomes paused; [`Engine::resume`] continues it from there.
    pub async fn restore_checkpoint(&self, run: &str, name: &str) -> Result<(), ResumeError> {
        let store = self.store().ok_or(ResumeError::NoStore)?;
        if lock(&self.inner.live).contains(run) {
            return Err(ResumeError::Running(run.to_string()));
        }
        Ok(store.restore_named(run, name).await?)
    }

    /// The runs of the store, oldest first.
    pub async fn runs(&self, filter: RunFilter) -> Result<Vec<RunSummary>, ResumeError> {
        let store = self.store().ok_or(ResumeError::NoStore)?;
        Ok(store.list(filter).await?)
    }

    /// The owner name this engine uses for leases.
    fn owner(&self) -> String {
        self.inner.options.owner.clone()
    }
}

impl From<RunStatus> for Lifecycle {
    fn from(status: RunStatus) -> Lifecycle {
        match status {
            RunStatus::Paused => Lifecycle::Paused,
            other => Lifecycle::Finished(other),
        }
    }
}
