//! Keeping a run in its store: recorded before its first step, a checkpoint after every
//! transition (and when a `wait` with a deadline starts), settled when it ends or pauses.

use std::sync::Arc;

use super::Run;
use crate::data::StepData;
use crate::engine::lock;
use crate::result::{RunResult, RunStatus};
use crate::store::{Checkpoint, Lifecycle, NewRun, Store, StoreError, definition_hash};
use crate::trail::Entry;
use crate::worker::BoxFuture;

/// A run's store and what it has saved there.
pub(crate) struct Durable {
    pub store: Arc<dyn Store>,
    /// Trail entries already saved.
    pub saved: usize,
    /// Stored signals consumed since the last checkpoint.
    pub consumed: Vec<u64>,
    /// States whose data changed since the last checkpoint (may repeat).
    pub changed: Vec<usize>,
    /// The run is in the store already (it was resumed, not started).
    pub created: bool,
    /// For a run resumed inside a `wait`: that wait's state and deadline, in Unix milliseconds.
    pub resume_deadline: Option<(usize, u64)>,
    /// Why the store could not record the run, kept here until the run ends with it.
    pub failure: Option<String>,
}

impl Run {
    /// Keeps the run in `store`.
    pub(crate) fn attach(&mut self, store: Arc<dyn Store>) {
        self.durable = Some(Box::new(Durable {
            store,
            saved: 0,
            consumed: Vec::new(),
            changed: Vec::new(),
            created: false,
            resume_deadline: None,
            failure: None,
        }));
    }

    /// Continues a stored run from `checkpoint` (whose `trail` is the whole trail so far and
    /// whose `data` holds every state's).
    pub(crate) fn restore(&mut self, store: Arc<dyn Store>, state: usize, checkpoint: Checkpoint) {
        self.current = state;
        self.steps = checkpoint.steps;
        if checkpoint.counters.len() == self.counters.len() {
            self.counters = checkpoint.counters.into_boxed_slice();
        }
        for (id, data) in checkpoint.data {
            if id < self.shared.workflow.states.len() {
                *self.slot(id) = data;
            }
        }
        self.last_error = checkpoint.last_error.map(String::into_boxed_str);
        self.trail = checkpoint.trail;
        self.durable = Some(Box::new(Durable {
            store,
            saved: self.trail.len(),
            consumed: Vec::new(),
            changed: Vec::new(),
            created: true,
            resume_deadline: checkpoint.deadline_ms.map(|deadline| (state, deadline)),
            failure: None,
        }));
    }

    /// Records a new durable run in its store; false if the store failed, which
    /// [`registration_failure`](Run::registration_failure) then tells. Not a `Result`: the
    /// run's future would keep room for its error across the whole run.
    pub(super) async fn register(&mut self) -> bool {
        match &mut self.durable {
            Some(durable) if !durable.created => durable.created = true,
            _ => {
                self.control.mark_stored();
                return true;
            }
        }
        let run = NewRun {
            id: self.control.id.to_string(),
            workflow: self.shared.workflow.name.to_string(),
            definition: self
                .shared
                .names
                .definition
                .get_or_init(|| definition_hash(&self.shared.workflow))
                .clone(),
            input: self.data.input.clone(),
            created_ms: super::now_ms(),
            checkpoint: self.checkpoint(self.current, self.steps, None),
        };
        let Some(durable) = &mut self.durable else {
            return true;
        };
        let created = durable.store.create(run).await;
        if let Err(error) = created {
            durable.failure = Some(error.to_string());
        }
        self.control.mark_stored();
        durable.failure.is_none()
    }

    /// Why [`register`](Run::register) failed.
    pub(super) fn registration_failure(&mut self) -> String {
        self.durable
            .as_mut()
            .and_then(|durable| durable.failure.take())
            .unwrap_or_default()
    }

    /// The data of state `id`, to change: a durable run notes it for its next checkpoint.
    pub(super) fn step_data(&mut self, id: usize) -> &mut StepData {
        if let Some(durable) = &mut self.durable {
            durable.changed.push(id);
        }
        self.slot(id)
    }

    /// The data of state `id`, made room for: the list is made, at the first state's data,
    /// for the states that can have data (up to [`DATA_ROOM`](crate::engine::DATA_ROOM) of
    /// them: a run of three tasks keeps three states' data, not its five), and grows by half
    /// again at a time past that.
    fn slot(&mut self, id: usize) -> &mut StepData {
        let first = self.shared.names.data_room;
        let steps = &mut self.data.steps;
        if id >= steps.len() {
            let room = if steps.capacity() == 0 {
                first
            } else {
                steps.len() + steps.len() / 2
            };
            let room = room.max(id + 1).min(self.shared.workflow.states.len());
            steps.reserve_exact(room - steps.len());
            steps.resize_with(id + 1, StepData::default);
        }
        &mut steps[id]
    }

    /// The run at `state`, with the data of the states changed since the last checkpoint.
    fn checkpoint(&self, state: usize, steps: u64, deadline_ms: Option<u64>) -> Checkpoint {
        let mut changed = self
            .durable
            .as_ref()
            .map(|durable| durable.changed.clone())
            .unwrap_or_default();
        changed.sort_unstable();
        changed.dedup();
        let data = changed
            .into_iter()
            .map(|id| (id, self.data.steps[id].clone()))
            .collect();
        Checkpoint {
            state: self.shared.names.states[state].to_string(),
            steps,
            counters: self.counters.to_vec(),
            data,
            last_error: self.last_error.as_deref().map(str::to_string),
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
        durable.changed.clear();
        durable.saved = self.trail.len();
        let store = durable.store.clone();
        store
            .checkpoint(&self.control.id, checkpoint)
            .await
            .map_err(|e| e.to_string())
    }

    /// The deadline a resumed `wait` keeps, if the run was resumed inside state `id`.
    pub(super) fn resumed_deadline(&mut self, id: usize) -> Option<u64> {
        match self.durable.as_mut().and_then(|d| d.resume_deadline.take()) {
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

    /// The checkpoint a finished durable run ends with, at its terminal.
    pub(super) fn last_checkpoint(&self, terminal: Option<usize>) -> Option<Checkpoint> {
        self.durable
            .as_ref()
            .map(|_| self.checkpoint(terminal.unwrap_or(self.current), self.steps, None))
    }

    /// Tells the store how the run ended: paused runs keep their last checkpoint; finished runs
    /// get `last` with their final trail entries, and the result. Returns the result and the
    /// store's write to wait for (none for a run without a store).
    pub(super) fn conclude_store(
        &mut self,
        last: Option<Checkpoint>,
        result: RunResult,
    ) -> (RunResult, Option<BoxFuture<Result<(), StoreError>>>) {
        // Only a spawned run is listed; a child run's id is not, and removes nothing.
        lock(&self.engine.inner.live).remove(&*self.control.id);
        let (Some(durable), Some(mut checkpoint)) = (self.durable.take(), last) else {
            return (result, None);
        };
        let mut result = result;
        let write = if result.status == RunStatus::Paused {
            durable
                .store
                .set_status(&self.control.id, Lifecycle::Paused)
        } else {
            // The store keeps the trail as its checkpoints' entries: the result goes without it.
            let trail = std::mem::take(&mut result.trail);
            checkpoint.trail = trail
                .get(durable.saved..)
                .map(<[Entry]>::to_vec)
                .unwrap_or_default();
            checkpoint.consumed = durable.consumed;
            let stored = result.clone();
            result.trail = trail;
            durable.store.finish(&self.control.id, checkpoint, stored)
        };
        (result, Some(write))
    }
}
