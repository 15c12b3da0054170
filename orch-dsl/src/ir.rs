//! The checked intermediate representation that every back end consumes: the Rust emitter,
//! the diagrams, the JSON emitter and the engine in `orch-runtime`.
//!
//! An IR exists only for a workflow that passed every check, so it is complete by construction:
//! every name is resolved to an index, every fallible state has a failure edge, every path in a
//! template or condition has a resolved root, and every cycle carries a bound.

use serde::{Deserialize, Serialize};

pub use crate::ast::Name;
/// The list type of short IR lists, re-exported for code that builds IR by hand.
pub use smallvec::{SmallVec, smallvec};

/// Index of a state in [`Workflow::states`].
pub type StateId = usize;

/// The workflows of one source text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub workflows: Vec<Workflow>,
}

impl Program {
    pub fn workflow(&self, name: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub name: Name,
    /// The `///` documentation, lines joined with `\n`.
    pub docs: String,
    pub input: Vec<InputField>,
    pub workers: Vec<Worker>,
    pub signals: Vec<Signal>,
    pub states: Vec<State>,
    pub start: StateId,
    /// Limit for a whole run, in milliseconds.
    pub timeout_ms: Option<u64>,
    pub max_steps: Option<u64>,
    /// Number of bounded edges; each has a counter per run, indexed by [`Bound::id`].
    pub bound_count: usize,
    /// An upper bound on the number of steps (state entries and loop iterations) of any run.
    pub worst_case_steps: u64,
}

impl Workflow {
    pub fn state(&self, name: &str) -> Option<StateId> {
        self.states.iter().position(|s| s.name == name)
    }

    pub fn worker(&self, name: &str) -> Option<usize> {
        self.workers.iter().position(|w| w.name == name)
    }

    /// Every edge leaving `state`, with the event that takes it.
    pub fn edges(&self, state: StateId) -> Vec<(EdgeEvent, &Edge)> {
        self.states[state].kind.edges()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputField {
    pub name: Name,
    pub docs: String,
    pub ty: crate::ast::ValueType,
    /// `None` when the field is required. A `null` default is `Some(Value::Null)`: in JSON the
    /// key is left out for a required field, so that a `null` default reads back as a default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub default: Option<serde_json::Value>,
}

/// A value that is present, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Worker {
    pub name: Name,
    pub description: Name,
    pub docs: String,
    /// Every outcome the worker may report, `"ok"` included when it may report a plain success.
    pub outcomes: Vec<Name>,
    /// True when the outcomes were declared with `outcomes [...]` rather than inferred from
    /// the transitions of the worker's tasks.
    pub outcomes_declared: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub name: Name,
    pub description: Name,
    pub docs: String,
    pub outcomes: Vec<Name>,
    pub outcomes_declared: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub name: Name,
    pub docs: String,
    pub kind: StateKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateKind {
    Task {
        worker: usize,
        input: Option<ValueExpr>,
        /// Boxed, as in a map and a loop: most states have none, and every state in
        /// [`Workflow::states`] takes the size of the largest kind.
        retry: Option<Box<RetryPolicy>>,
        /// Limit for each attempt.
        timeout_ms: Option<u64>,
        exits: Exits,
    },
    Choice {
        arms: Vec<(Cond, Edge)>,
        otherwise: Edge,
    },
    Parallel {
        branches: Vec<Branch>,
        join: Join,
        timeout_ms: Option<u64>,
        exits: Exits,
    },
    /// Boxed, as a loop: a map is the largest kind, and every state in [`Workflow::states`]
    /// would otherwise take its size.
    Map(Box<Map>),
    /// Boxed, as a map.
    Loop(Box<Loop>),
    Wait {
        signal: usize,
        timeout_ms: Option<u64>,
        exits: Exits,
    },
    Call {
        workflow: Name,
        input: Option<ValueExpr>,
        timeout_ms: Option<u64>,
        exits: Exits,
    },
    Succeed {
        output: Option<ValueExpr>,
    },
    Fail {
        error: Option<ValueExpr>,
    },
}

/// `map`: the worker once per element of a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Map {
    pub over: PathExpr,
    pub item: Name,
    pub worker: usize,
    pub input: Option<ValueExpr>,
    /// At most this many items at once; `None` runs them all at once.
    pub limit: Option<u64>,
    pub retry: Option<Box<RetryPolicy>>,
    pub timeout_ms: Option<u64>,
    pub exits: Exits,
}

/// `loop`: the worker again and again, until a condition holds or `max` iterations ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loop {
    pub worker: usize,
    pub var: Option<Name>,
    pub input: Option<ValueExpr>,
    /// Boxed: a condition is large, and most loops have none.
    pub until: Option<Box<Cond>>,
    pub max: u64,
    /// Where the loop goes when `max` iterations did not satisfy `until`; `None` means `ok`.
    pub exhausted: Option<Edge>,
    pub retry: Option<Box<RetryPolicy>>,
    pub timeout_ms: Option<u64>,
    pub exits: Exits,
}

impl StateKind {
    pub fn is_terminal(&self) -> bool {
        matches!(self, StateKind::Succeed { .. } | StateKind::Fail { .. })
    }

    /// The keyword of this kind of state.
    pub fn keyword(&self) -> &'static str {
        match self {
            StateKind::Task { .. } => "task",
            StateKind::Choice { .. } => "choice",
            StateKind::Parallel { .. } => "parallel",
            StateKind::Map(_) => "map",
            StateKind::Loop(_) => "loop",
            StateKind::Wait { .. } => "wait",
            StateKind::Call { .. } => "call",
            StateKind::Succeed { .. } => "succeed",
            StateKind::Fail { .. } => "fail",
        }
    }

    pub fn exits(&self) -> Option<&Exits> {
        match self {
            StateKind::Task { exits, .. }
            | StateKind::Parallel { exits, .. }
            | StateKind::Wait { exits, .. }
            | StateKind::Call { exits, .. } => Some(exits),
            StateKind::Map(map) => Some(&map.exits),
            StateKind::Loop(lp) => Some(&lp.exits),
            _ => None,
        }
    }

    /// Every edge leaving the state, with the event that takes it, in a fixed order.
    pub fn edges(&self) -> Vec<(EdgeEvent, &Edge)> {
        let mut out = Vec::new();
        match self {
            StateKind::Choice { arms, otherwise } => {
                out.extend(
                    arms.iter()
                        .enumerate()
                        .map(|(i, (_, e))| (EdgeEvent::When(i), e)),
                );
                out.push((EdgeEvent::Else, otherwise));
            }
            StateKind::Loop(lp) => {
                if let Some(exhausted) = &lp.exhausted {
                    out.push((EdgeEvent::Exhausted, exhausted));
                }
            }
            _ => {}
        }
        if let Some(exits) = self.exits() {
            if let Some(ok) = &exits.ok {
                out.push((EdgeEvent::Ok, ok));
            }
            out.extend(
                exits
                    .outcomes
                    .iter()
                    .map(|(label, e)| (EdgeEvent::Outcome(label.clone()), e)),
            );
            if let Some(timeout) = &exits.timeout {
                out.push((EdgeEvent::Timeout, timeout));
            }
            out.push((EdgeEvent::Fail, &exits.fail));
        }
        out
    }
}

/// What takes an edge.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeEvent {
    Ok,
    Outcome(Name),
    Timeout,
    Fail,
    /// A loop ran out of iterations (`max N else x`).
    Exhausted,
    /// The choice arm with this index.
    When(usize),
    Else,
}

impl EdgeEvent {
    /// A short label for diagrams and messages.
    pub fn label(&self) -> std::borrow::Cow<'static, str> {
        match self {
            EdgeEvent::Ok => "ok".into(),
            EdgeEvent::Outcome(label) => label.clone().into(),
            EdgeEvent::Timeout => "timeout".into(),
            EdgeEvent::Fail => "fail".into(),
            EdgeEvent::Exhausted => "max".into(),
            EdgeEvent::When(i) => format!("when {}", i + 1).into(),
            EdgeEvent::Else => "else".into(),
        }
    }

    /// True for edges taken because something went wrong.
    pub fn is_failure(&self) -> bool {
        matches!(self, EdgeEvent::Fail | EdgeEvent::Timeout)
    }
}

/// Where a fallible state goes next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exits {
    pub ok: Option<Edge>,
    /// Custom outcomes, in source order.
    pub outcomes: Vec<(Name, Edge)>,
    /// Taken when the state timed out; `None` sends timeouts to `fail`.
    pub timeout: Option<Edge>,
    /// The state's own `fail ->`, or the workflow's `on fail`.
    pub fail: Edge,
}

impl Exits {
    /// The edge for a reported outcome (`"ok"` or a custom label), if the state handles it.
    pub fn for_outcome(&self, outcome: &str) -> Option<&Edge> {
        if outcome == "ok" {
            return self.ok.as_ref();
        }
        self.outcomes
            .iter()
            .find(|(label, _)| label == outcome)
            .map(|(_, edge)| edge)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub to: StateId,
    /// Boxed: most edges have none, and every state has two or three edges.
    pub bound: Option<Box<Bound>>,
}

/// `-> to max N else otherwise`: after `max` traversals in a run, the edge leads to `otherwise`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    /// Index of this edge's counter.
    pub id: usize,
    pub max: u64,
    pub otherwise: StateId,
}

impl Edge {
    /// The state this edge leads to after it has been taken `taken` times before in the run.
    pub fn destination(&self, taken: u64) -> StateId {
        match &self.bound {
            Some(bound) if taken >= bound.max => bound.otherwise,
            _ => self.to,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    pub name: Name,
    pub docs: String,
    pub worker: usize,
    pub input: Option<ValueExpr>,
    pub retry: Option<RetryPolicy>,
    pub timeout_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Join {
    All,
    Any,
    Count(u64),
}

impl Join {
    /// How many branches must succeed, out of `branches`.
    pub fn required(self, branches: usize) -> usize {
        match self {
            Join::All => branches,
            Join::Any => 1,
            Join::Count(n) => usize::try_from(n).unwrap_or(usize::MAX).min(branches),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u64,
    /// Delay before the first retry; zero retries at once.
    pub initial_ms: u64,
    pub multiplier: f64,
    pub max_ms: Option<u64>,
    pub jitter: bool,
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based), before jitter.
    pub fn delay_ms(&self, retry: u64) -> u64 {
        let exponent = retry.saturating_sub(1).min(1_000) as i32;
        let delay = self.initial_ms as f64 * self.multiplier.powi(exponent);
        let capped = self.max_ms.map_or(delay, |max| delay.min(max as f64));
        if capped >= u64::MAX as f64 {
            u64::MAX
        } else {
            capped as u64
        }
    }

    /// The total of every delay when all retries happen, before jitter.
    pub fn window_ms(&self) -> u64 {
        (1..=self.retries.min(10_000)).fold(0u64, |sum, k| sum.saturating_add(self.delay_ms(k)))
    }
}

/// A value computed from the run's data when a state runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ValueExpr {
    /// Text with placeholders.
    Template {
        /// Held in place when there is one part (`"{{x.output}}"`, the usual template), so
        /// that it is not a heap block of its own; a list in JSON either way.
        parts: SmallVec<[TemplatePart; 1]>,
    },
    Literal {
        value: serde_json::Value,
    },
    List {
        items: Vec<ValueExpr>,
    },
    Object {
        entries: Vec<(Name, ValueExpr)>,
    },
    Path {
        path: PathExpr,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplatePart {
    Text(Name),
    Path(PathExpr),
}

/// A resolved reference to run data: a root and the segments below it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathExpr {
    pub root: Root,
    /// Held in place when there is at most one (`input.goal`; `x.output` has none), so that
    /// most paths are not a heap block of their own; a list in JSON either way.
    pub segments: SmallVec<[Segment; 1]>,
    /// The path as written, for messages and traces.
    pub text: Name,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "root", rename_all = "snake_case")]
pub enum Root {
    /// The run's input object.
    Input,
    /// A state's output (`x.output`).
    Output {
        state: StateId,
    },
    /// The outcome a state reported (`x.outcome`).
    Outcome {
        state: StateId,
    },
    /// The error of a failed state (`x.error`).
    Error {
        state: StateId,
    },
    /// A parallel branch's output (`p.b.output`).
    BranchOutput {
        state: StateId,
        branch: usize,
    },
    BranchOutcome {
        state: StateId,
        branch: usize,
    },
    BranchError {
        state: StateId,
        branch: usize,
    },
    /// The current element inside a `map` (`as item`).
    Item,
    /// The 1-based iteration number inside a `loop` (`as v` → `v.index`).
    LoopIndex,
    /// The previous iteration's output inside a `loop` (`v.previous`).
    LoopPrevious,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Field(Name),
    Index(i64),
}

/// A condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Cond {
    Or {
        lhs: Box<Cond>,
        rhs: Box<Cond>,
    },
    And {
        lhs: Box<Cond>,
        rhs: Box<Cond>,
    },
    Not {
        cond: Box<Cond>,
    },
    Compare {
        op: CompareOp,
        lhs: Operand,
        rhs: Operand,
    },
    Exists {
        path: PathExpr,
    },
    /// A bare operand, tested for truthiness.
    Truthy {
        operand: Operand,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Operand {
    Path {
        path: PathExpr,
    },
    Literal {
        value: serde_json::Value,
    },
    /// A parenthesised condition used as a value.
    Cond {
        cond: Box<Cond>,
    },
}
