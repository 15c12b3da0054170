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
/// A small sorted list rather than a tree (a run has a few states with data, and a tree's
/// first node alone holds eleven), read like a map:
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
#[derive(Clone, Default, PartialEq)]
pub struct States(Vec<(Arc<str>, StepData)>);

impl States {
    /// The data of state `name`, if it ran.
    pub fn get(&self, name: &str) -> Option<&StepData> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// Whether state `name` ran.
    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// How many states ran.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The states and their data, in name order.
    pub fn iter(&self) -> StatesIter<'_> {
        StatesIter(self.0.iter())
    }

    /// The names of the states that ran, in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(|(name, _)| &**name)
    }

    /// The states of `list`, sorted in place; of equal names the last one given is kept.
    pub(crate) fn from_list(mut list: Vec<(Arc<str>, StepData)>) -> States {
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
        States(list)
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| (**n).cmp(name))
    }
}

impl<K: Into<Arc<str>>> FromIterator<(K, StepData)> for States {
    /// A later entry for the same name replaces an earlier one.
    fn from_iter<I: IntoIterator<Item = (K, StepData)>>(entries: I) -> States {
        States::from_list(
            entries
                .into_iter()
                .map(|(name, data)| (name.into(), data))
                .collect(),
        )
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
pub struct StatesIter<'a>(std::slice::Iter<'a, (Arc<str>, StepData)>);

impl<'a> Iterator for StatesIter<'a> {
    type Item = (&'a str, &'a StepData);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(name, data)| (&**name, data))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for StatesIter<'_> {}

impl DoubleEndedIterator for StatesIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(name, data)| (&**name, data))
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
    #[should_panic(expected = "state `missing` has no data in this result")]
    fn indexing_a_state_that_did_not_run_says_which() {
        let states = States::default();
        let _ = &states["missing"];
    }
}
