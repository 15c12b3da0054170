//! Keeping a run in its store: recorded before its first step, a checkpoint after every
//! transition (and when a `wait` with a deadline starts), settled when it ends or pauses.

use std::sync::Arc;

use super::Run;
use crate::engine::lock;
use crate::result::{RunResult, RunStatus};
use crate::store::{Checkpoint, Lifecycle, NewRun, Store, definition_hash};
use crate::trail::Entry;

/// A run's store and what it has saved there.
pub(crate) struct Durable {
    pub store: Arc<dyn Store>,
    /// Trail entries already saved.
    pub saved: usize,
    /// Stored signals consumed since the last checkpoint.
    pub consumed: Vec<u64>,
    /// The run is in the store already (it was resumed, not started).
    pub created: bool,
}

impl Run {
    /// Keeps the run in `store`.
    pub(crate) fn attach(&mut self, store: Arc<dyn Store>) {
        self.durable = Some(Durable {
            store,
            saved: 0,
            consumed: Vec::new(),
            created: false,
        });
    }

    /// Continues a stored run from `checkpoint` (whose `trail` is the whole trail so far).
    pub(crate) fn restore(&mut self, store: Arc<dyn Store>, state: usize, checkpoint: Checkpoint) {
        self.current = state;
        self.steps = checkpoint.steps;
        if checkpoint.counters.len() == self.counters.len() {
            self.counters = checkpoint.counters;
        }
        self.data = checkpoint.data;
        self.last_error = checkpoint.last_error;
        self.trail = checkpoint.trail;
        self.resume_deadline = checkpoint.deadline_ms.map(|deadline| (state, deadline));
        self.durable = Some(Durable {
            store,
            saved: self.trail.len(),
            consumed: Vec::new(),
            created: true,
        });
    }

    /// Records a new durable run in its store.
    pub(super) async fn register(&mut self) -> Result<(), String> {
        match &mut self.durable {
            Some(durable) if !durable.created => durable.created = true,
            _ => {
                self.control.stored.send_replace(true);
                return Ok(());
            }
        }
        let run = NewRun {
            id: self.id.to_string(),
            workflow: self.workflow.name.clone(),
            definition: definition_hash(&self.workflow),
            input: self.data.input.clone(),
            created_ms: super::now_ms(),
            checkpoint: self.checkpoint(self.current, self.steps, None),
        };
        let Some(durable) = &self.durable else {
            return Ok(());
        };
        let created = durable.store.create(run).await.map_err(|e| e.to_string());
        self.control.stored.send_replace(true);
        created
    }

    fn checkpoint(&self, state: usize, steps: u64, deadline_ms: Option<u64>) -> Checkpoint {
        Checkpoint {
            state: self.names[state].to_string(),
            steps,
            counters: self.counters.clone(),
            data: self.data.clone(),
            last_error: self.last_error.clone(),
            trail: Vec::new(),
            consumed: Vec::new(),
            deadline_ms,
        }
    }

    /// Saves the run at `state`, having taken `steps`; resolves once the store has it.
    pub(super) async fn save(
        &mut self,
        state: usize,
        steps: u64,
        deadline_ms: Option<u64>,
    ) -> Result<(), String> {
        if self.durable.is_none() {
            return Ok(());
        }
        let mut checkpoint = self.checkpoint(state, steps, deadline_ms);
        let Some(durable) = &mut self.durable else {
            return Ok(());
        };
        checkpoint.trail = self.trail[durable.saved..].to_vec();
        checkpoint.consumed = std::mem::take(&mut durable.consumed);
        durable.saved = self.trail.len();
        let store = durable.store.clone();
        store
            .checkpoint(&self.id, checkpoint)
            .await
            .map_err(|e| e.to_string())
    }

    /// The deadline a resumed `wait` keeps, if the run was resumed inside state `id`.
    pub(super) fn resumed_deadline(&mut self, id: usize) -> Option<u64> {
        match self.resume_deadline.take() {
            Some((state, deadline)) if state == id => Some(deadline),
            _ => None,
        }
    }

    /// Records a consumed stored signal, for the next checkpoint.
    pub(super) fn consumed(&mut self, seq: Option<u64>) {
        if let (Some(seq), Some(durable)) = (seq, &mut self.durable) {
            durable.consumed.push(seq);
        }
    }

    /// Hands the result back after telling the store how the run ended: paused runs keep their
    /// last checkpoint; finished runs get their final trail entries and result.
    pub(super) async fn conclude_store(
        &mut self,
        terminal: Option<usize>,
        result: RunResult,
    ) -> RunResult {
        if self.top_level {
            lock(&self.engine.inner.live).remove(&*self.id);
        }
        let Some(durable) = self.durable.take() else {
            return result;
        };
        let outcome = if result.status == RunStatus::Paused {
            durable.store.set_status(&self.id, Lifecycle::Paused).await
        } else {
            let mut checkpoint =
                self.checkpoint(terminal.unwrap_or(self.current), result.steps, None);
            checkpoint.trail = result
                .trail
                .get(durable.saved..)
                .map(<[Entry]>::to_vec)
                .unwrap_or_default();
            checkpoint.consumed = durable.consumed;
            durable
                .store
                .finish(&self.id, checkpoint, result.clone())
                .await
        };
        if let Err(error) = outcome {
            tracing::error!(run = %self.id, %error, "the run's end could not be stored");
        }
        result
    }
}
