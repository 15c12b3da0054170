//! What a finished run reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::StepData;
use crate::trail::{Entry, Trail};
use crate::worker::Usage;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// It reached a `succeed` state.
    Succeeded,
    /// It reached a `fail` state, or was stopped by `max_steps`.
    Failed,
    /// Its `timeout` expired.
    TimedOut,
    /// It was cancelled through its handle.
    Cancelled,
    /// It was paused through its handle; it continues when resumed from its store.
    Paused,
}

/// The result of a finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The run's id and its workflow's name, shared with the run (no copy per result).
    pub run_id: Arc<str>,
    pub workflow: Arc<str>,
    /// The run's input, defaults applied.
    pub input: Value,
    pub status: RunStatus,
    /// The terminal state reached, if any.
    pub terminal: Option<Arc<str>>,
    /// The `succeed … output` value.
    pub output: Option<Value>,
    /// The `fail … error` value, or what stopped the run.
    pub error: Option<Value>,
    /// What each state produced, by state name (parallel states list their branches).
    pub states: States,
    /// Steps taken: state entries and loop iterations.
    pub steps: u64,
    pub duration_ms: u64,
    /// What the run's worker calls consumed, in all (child runs included).
    #[serde(default, skip_serializing_if = "Usage::is_empty")]
    pub usage: Usage,
    pub trail: Vec<Entry>,
}

impl RunResult {
    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Succeeded
    }

    /// The result with every time set to zero, for comparing runs.
    pub fn without_times(&self) -> RunResult {
        RunResult {
            duration_ms: 0,
            trail: self.trail.without_times(),
            ..self.clone()
        }
    }

    /// The states the run went through, in order.
    pub fn path(&self) -> Vec<String> {
        self.trail.path().iter().map(|s| s.to_string()).collect()
    }
}

/// What each state of a run produced, by state name: the states that ran, in name order.
///
/// Read like a map. A run's result keeps the run's own list of its states' data, by state,
/// with the workflow's state names and their order, which every result of the workflow
/// shares: finishing a run copies and sorts nothing.
///
/// ```
/// use orch_runtime::{States, StepData};
/// use serde_json::json;
///
/// let states: States = [
///     ("review", StepData { outcome: Some("ok".into()), ..StepData::default() }),
///     ("draft", StepData { output: Some(json!("text")), ..StepData::default() }),
/// ]
/// .into_iter()
/// .collect();
/// assert_eq!(states["draft"].output, Some(json!("text")));
/// assert_eq!(states.get("review").and_then(|s| s.outcome.as_deref()), Some("ok"));
/// assert!(!states.contains_key("publish"));
/// // In name order, and a map in JSON.
/// assert_eq!(states.names().collect::<Vec<_>>(), ["draft", "review"]);
/// assert_eq!(
///     serde_json::to_value(&states).unwrap(),
///     json!({"draft": {"output": "text"}, "review": {"outcome": "ok"}})
/// );
/// ```
#[derive(Clone, Default)]
pub struct States {
    /// The data by slot: a slot is a state of the names' list.
    data: Vec<StepData>,
    names: Arc<StateNames>,
    /// How many slots are present.
    len: usize,
    /// Whether a slot whose data is empty is present: true for states given one by one, false
    /// for a run's, whose list has an empty slot for each state it did not enter.
    keep_empty: bool,
}

/// The names of the slots of a [`States`], and the slots in name order.
#[derive(Default)]
pub(crate) struct StateNames {
    names: Arc<[Arc<str>]>,
    order: Box<[u32]>,
}

impl StateNames {
    /// The slots of `names` (distinct), in name order.
    pub(crate) fn new(names: Arc<[Arc<str>]>) -> StateNames {
        let mut order: Vec<u32> = (0..names.len() as u32).collect();
        order.sort_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
        StateNames {
            names,
            order: order.into_boxed_slice(),
        }
    }
}

impl States {
    /// The data of state `name`, if it ran.
    pub fn get(&self, name: &str) -> Option<&StepData> {
        let at = self
            .names
            .order
            .binary_search_by(|&slot| (*self.names.names[slot as usize]).cmp(name))
            .ok()?;
        self.present(self.names.order[at] as usize)
    }

    /// Whether state `name` ran.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// How many states ran.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The states and their data, in name order.
    pub fn iter(&self) -> StatesIter<'_> {
        StatesIter {
            states: self,
            order: self.names.order.iter(),
            left: self.len,
        }
    }

    /// The names of the states that ran, in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.iter().map(|(name, _)| name)
    }

    /// The states a run entered: `data` by state, named by `names` (the workflow's); a state
    /// whose data is empty did not run.
    pub(crate) fn of_run(data: Vec<StepData>, names: Arc<StateNames>) -> States {
        let len = data.iter().filter(|data| !is_empty(data)).count();
        States {
            data,
            names,
            len,
            keep_empty: false,
        }
    }

    fn present(&self, slot: usize) -> Option<&StepData> {
        self.data
            .get(slot)
            .filter(|data| self.keep_empty || !is_empty(data))
    }
}

/// Whether `data` is a state's that never ran: nothing in it. Every field is named, so that a
/// new one cannot be missed here.
fn is_empty(data: &StepData) -> bool {
    let StepData {
        output,
        outcome,
        error,
        branches,
    } = data;
    output.is_none() && outcome.is_none() && error.is_none() && branches.is_empty()
}

impl PartialEq for States {
    /// The same states with the same data, however each is held.
    fn eq(&self, other: &States) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<K: Into<Arc<str>>> FromIterator<(K, StepData)> for States {
    /// A later entry for the same name replaces an earlier one.
    fn from_iter<I: IntoIterator<Item = (K, StepData)>>(entries: I) -> States {
        let mut list: Vec<(Arc<str>, StepData)> = entries
            .into_iter()
            .map(|(name, data)| (name.into(), data))
            .collect();
        // Stable, so that equal names stay in the order given.
        list.sort_by(|a, b| a.0.cmp(&b.0));
        // `dedup_by` removes the later of two equal neighbours: it first takes its data.
        list.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        let (names, data): (Vec<Arc<str>>, Vec<StepData>) = list.into_iter().unzip();
        States {
            len: data.len(),
            // Sorted already: the order is the slots' own.
            names: Arc::new(StateNames::new(names.into())),
            data,
            keep_empty: true,
        }
    }
}

impl std::ops::Index<&str> for States {
    type Output = StepData;

    /// The data of state `name`; panics if it did not run (use [`States::get`] otherwise).
    fn index(&self, name: &str) -> &StepData {
        match self.get(name) {
            Some(data) => data,
            None => panic!("state `{name}` has no data in this result"),
        }
    }
}

impl<'a> IntoIterator for &'a States {
    type Item = (&'a str, &'a StepData);
    type IntoIter = StatesIter<'a>;

    fn into_iter(self) -> StatesIter<'a> {
        self.iter()
    }
}

/// The states of a [`States`] and their data, in name order.
#[derive(Clone, Debug)]
pub struct StatesIter<'a> {
    states: &'a States,
    /// The slots not yet visited, in name order, present or not.
    order: std::slice::Iter<'a, u32>,
    /// How many of them are present.
    left: usize,
}

impl<'a> StatesIter<'a> {
    fn entry(&mut self, slot: u32) -> Option<(&'a str, &'a StepData)> {
        let states = self.states;
        let data = states.present(slot as usize)?;
        self.left -= 1;
        Some((&*states.names.names[slot as usize], data))
    }
}

impl<'a> Iterator for StatesIter<'a> {
    type Item = (&'a str, &'a StepData);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(&slot) = self.order.next() {
            if let Some(entry) = self.entry(slot) {
                return Some(entry);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for StatesIter<'_> {}

impl DoubleEndedIterator for StatesIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        while let Some(&slot) = self.order.next_back() {
            if let Some(entry) = self.entry(slot) {
                return Some(entry);
            }
        }
        None
    }
}

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for States {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for States {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<States, D::Error> {
        let map = BTreeMap::<String, StepData>::deserialize(deserializer)?;
        Ok(map.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(value: Value) -> StepData {
        StepData {
            output: Some(value),
            ..StepData::default()
        }
    }

    #[test]
    fn states_keep_the_last_data_given_for_a_name_in_name_order() {
        let states: States = [
            ("b", output(json!(1))),
            ("a", output(json!(2))),
            ("b", output(json!(3))),
        ]
        .into_iter()
        .collect();
        assert_eq!(states.len(), 2);
        assert_eq!(states.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(states["b"].output, Some(json!(3)));
        let pairs: Vec<(&str, Option<Value>)> = (&states)
            .into_iter()
            .map(|(name, data)| (name, data.output.clone()))
            .collect();
        assert_eq!(pairs, [("a", Some(json!(2))), ("b", Some(json!(3)))]);
    }

    #[test]
    fn states_are_a_map_in_json_both_ways() {
        let text = r#"{"review":{"outcome":"ok"},"draft":{"output":"text"}}"#;
        let states: States = serde_json::from_str(text).unwrap();
        assert_eq!(states.names().collect::<Vec<_>>(), ["draft", "review"]);
        assert_eq!(
            serde_json::to_string(&states).unwrap(),
            r#"{"draft":{"output":"text"},"review":{"outcome":"ok"}}"#
        );
        assert!(serde_json::from_str::<States>("[1]").is_err());
        assert_eq!(format!("{states:?}").matches("draft").count(), 1);
    }

    #[test]
    fn a_runs_states_are_those_with_data_in_name_order() {
        let names: Arc<[Arc<str>]> = ["start", "draft", "review", "done"]
            .into_iter()
            .map(Arc::from)
            .collect();
        // "review" was not entered; "done", a terminal, is past the list's end.
        let data = vec![output(json!(1)), output(json!(2)), StepData::default()];
        let states = States::of_run(data, Arc::new(StateNames::new(names)));
        assert_eq!(states.len(), 2);
        assert_eq!(states.names().collect::<Vec<_>>(), ["draft", "start"]);
        let backwards: Vec<&str> = states.iter().rev().map(|(name, _)| name).collect();
        assert_eq!(backwards, ["start", "draft"]);
        assert_eq!(states.iter().len(), 2);
        assert_eq!(states["start"].output, Some(json!(1)));
        assert!(!states.contains_key("review"));
        assert!(!states.contains_key("done"));
        assert!(!states.contains_key("nothing"));
        let given: States = [("start", output(json!(1))), ("draft", output(json!(2)))]
            .into_iter()
            .collect();
        assert_eq!(states, given);
        assert_eq!(
            serde_json::to_string(&states).unwrap(),
            r#"{"draft":{"output":2},"start":{"output":1}}"#
        );
    }

    #[test]
    fn states_given_one_by_one_keep_empty_data() {
        let states: States = [("quiet", StepData::default())].into_iter().collect();
        assert_eq!(states.len(), 1);
        assert!(states.contains_key("quiet"));
        assert_ne!(states, States::default());
    }

    #[test]
    #[should_panic(expected = "state `missing` has no data in this result")]
    fn indexing_a_state_that_did_not_run_says_which() {
        let states = States::default();
        let _ = &states["missing"];
    }
}
