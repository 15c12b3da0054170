//! The audit trail: every attempt, choice, signal, child run and transition of a run, in order.
//!
//! Same input and same worker replies give the same trail, apart from times: compare trails
//! with [`Trail::without_times`].

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::result::RunResult;

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// The worker replied.
    Ok,
    /// The worker returned an error.
    Failed,
    /// The attempt ran past its timeout and was stopped.
    TimedOut,
    /// The worker panicked; the panic was caught.
    Panicked,
    /// The run no longer needed it (cancelled, timed out, or a join was decided).
    Cancelled,
}

/// One call of a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub step: u64,
    pub state: Arc<str>,
    pub worker: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u64>,
    pub attempt: u32,
    pub input: Value,
    pub status: AttemptStatus,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_outcome_label"
    )]
    pub outcome: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the attempt consumed, when the worker reports it (tokens, cost). Boxed: most
    /// workers report none, and every record of every run would carry its room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Box<crate::worker::Usage>>,
    /// Start, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    pub duration_us: u64,
}

/// An entry of the audit trail.
///
/// The large entries are boxed, so that an entry is small: a trail is mostly attempts and
/// transitions, and every run keeps one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    Attempt(Box<Attempt>),
    /// A `choice` picked an arm (`None` for `else`).
    Choice {
        step: u64,
        state: Arc<str>,
        arm: Option<usize>,
    },
    /// A `wait` received a signal, or timed out.
    Signal(Box<Received>),
    /// A `call` ran a child workflow, with its own trail.
    Child {
        step: u64,
        state: Arc<str>,
        run: Box<RunResult>,
    },
    /// The run left a state.
    Transition {
        step: u64,
        from: Arc<str>,
        event: std::borrow::Cow<'static, str>,
        to: Arc<str>,
    },
}

/// What a `wait` received: a signal, or nothing before its timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Received {
    pub step: u64,
    pub state: Arc<str>,
    pub signal: Arc<str>,
    /// The outcome the signal chose.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_outcome_label"
    )]
    pub outcome: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Why the signal was refused, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    pub timed_out: bool,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl Entry {
    /// The entry with its times set to zero, for comparing runs.
    pub fn without_times(&self) -> Entry {
        let mut entry = self.clone();
        match &mut entry {
            Entry::Attempt(a) => {
                a.started_at_ms = 0;
                a.duration_us = 0;
            }
            Entry::Signal(received) => received.at_ms = 0,
            Entry::Child { run, .. } => {
                **run = run.without_times();
            }
            Entry::Choice { .. } | Entry::Transition { .. } => {}
        }
        entry
    }
}

/// Helpers on a run's trail.
pub trait Trail {
    /// The trail with every time set to zero.
    fn without_times(&self) -> Vec<Entry>;
    /// The states entered, in order.
    fn path(&self) -> Vec<Arc<str>>;
}

impl Trail for [Entry] {
    fn without_times(&self) -> Vec<Entry> {
        self.iter().map(Entry::without_times).collect()
    }

    fn path(&self) -> Vec<Arc<str>> {
        let mut path: Vec<Arc<str>> = Vec::new();
        for entry in self {
            if let Entry::Transition { from, to, .. } = entry {
                if path.is_empty() {
                    path.push(from.clone());
                }
                path.push(to.clone());
            }
        }
        path
    }
}

/// The outcome of a plain success.
pub(crate) const OK: &str = "ok";

/// `outcome`, borrowing the static `ok` when it is an owned copy of it: most outcomes are
/// `ok`, and every attempt, step and reply of every run holds one.
pub(crate) fn shared(outcome: Cow<'static, str>) -> Cow<'static, str> {
    match outcome {
        Cow::Owned(owned) if owned == OK => Cow::Borrowed(OK),
        other => other,
    }
}

/// Reads an outcome label, as [`shared`] keeps it.
pub(crate) fn outcome_label<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Cow<'static, str>, D::Error> {
    String::deserialize(deserializer).map(|label| shared(Cow::Owned(label)))
}

/// Reads an optional outcome label, as [`shared`] keeps it.
pub(crate) fn some_outcome_label<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'static, str>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(|label| label.map(|l| shared(Cow::Owned(l))))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{Attempt, Entry};
    use crate::{Reply, StepData};

    #[expect(
        clippy::ptr_arg,
        reason = "whether the `Cow` borrows is what is tested"
    )]
    fn borrowed(outcome: &Cow<'static, str>) -> bool {
        matches!(outcome, Cow::Borrowed(_))
    }

    /// Every run keeps its trail: the large entries stay boxed.
    #[test]
    fn an_entry_is_small() {
        assert!(
            std::mem::size_of::<Entry>() <= 72,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }

    /// `ok` is held without an allocation however it arrives: made by `Reply::ok`, given as a
    /// string, or read back from JSON (a durable run's records); other labels are kept as given.
    #[test]
    fn an_ok_outcome_is_the_static_label() {
        assert!(borrowed(&Reply::ok(1).outcome));
        assert!(borrowed(&Reply::outcome(String::from("ok"), 1).outcome));
        let approved = Reply::outcome("approved", 1);
        assert!(!borrowed(&approved.outcome));
        assert_eq!(approved.outcome, "approved");

        let reply: Reply = serde_json::from_str(r#"{"outcome":"ok","output":1}"#).unwrap();
        assert!(borrowed(&reply.outcome));
        let step: StepData = serde_json::from_str(r#"{"outcome":"ok"}"#).unwrap();
        assert!(step.outcome.as_ref().is_some_and(borrowed));
        let step: StepData = serde_json::from_str(r#"{"outcome":"revise"}"#).unwrap();
        assert_eq!(step.outcome.as_deref(), Some("revise"));
        assert_eq!(
            serde_json::from_str::<StepData>("{}").unwrap().outcome,
            None
        );

        let attempt = Attempt {
            step: 1,
            state: "draft".into(),
            worker: "Writer".into(),
            branch: None,
            item: None,
            iteration: None,
            attempt: 1,
            input: serde_json::Value::Null,
            status: super::AttemptStatus::Ok,
            outcome: Some("ok".into()),
            output: None,
            error: None,
            usage: None,
            started_at_ms: 0,
            duration_us: 0,
        };
        let json = serde_json::to_string(&attempt).unwrap();
        let back: Attempt = serde_json::from_str(&json).unwrap();
        assert!(back.outcome.as_ref().is_some_and(borrowed));
        assert_eq!(back, attempt);
    }
}
