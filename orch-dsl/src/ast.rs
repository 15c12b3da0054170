//! The syntax tree of an orch source text.
//!
//! Every node and every name carries the byte [`Span`] it was parsed from, so later phases can
//! point diagnostics at the exact text. Strings used as values are parsed into [`Template`]s and
//! conditions into [`Expr`] trees whose spans point inside the source, including inside string
//! literals.
//!
//! The tree keeps the order in which workflow items were written (the formatter preserves it);
//! inside a state, settings are stored by kind, because each may appear at most once.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

pub use crate::span::Span;

/// The text of a name or short literal, in the tree and in the IR. Up to 24 bytes are stored
/// inline, without a heap block of their own, so that reading a name does not fetch another
/// cache line; it reads as a `&str`.
///
/// ```
/// let file = orch_dsl::parse("workflow Hello { start done; succeed done; }").unwrap();
/// let name: &orch_dsl::ast::Name = &file.workflows[0].name.name;
/// assert_eq!(name, "Hello");
/// assert!(!name.is_heap_allocated());
/// ```
pub type Name = compact_str::CompactString;

/// A parsed source text: zero or more workflows plus the comments found in it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct File {
    pub workflows: Vec<Workflow>,
    /// Plain comments (`//`, `/* */`), kept for the formatter. Doc comments live on their nodes.
    pub comments: Vec<Comment>,
    pub span: Span,
}

/// A plain comment, including its delimiters (`// note`, `/* note */`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comment {
    pub text: String,
    pub span: Span,
}

/// One `/// text` line; `text` is everything after the three slashes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Doc {
    pub text: String,
    pub span: Span,
}

/// A name written in the source: a workflow, state, worker, signal, field, outcome or variable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Ident {
    pub name: Name,
    pub span: Span,
}

impl Ident {
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// `workflow Name { … }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workflow {
    pub docs: Vec<Doc>,
    pub name: Ident,
    pub items: Vec<Item>,
    pub span: Span,
}

impl Workflow {
    /// The states, in source order.
    pub fn states(&self) -> impl Iterator<Item = &State> {
        self.items.iter().filter_map(|item| match item {
            Item::State(state) => Some(state),
            _ => None,
        })
    }

    /// The declared workers, in source order.
    pub fn workers(&self) -> impl Iterator<Item = &WorkerDecl> {
        self.items.iter().filter_map(|item| match item {
            Item::Worker(worker) => Some(worker),
            _ => None,
        })
    }

    /// The declared signals, in source order.
    pub fn signals(&self) -> impl Iterator<Item = &SignalDecl> {
        self.items.iter().filter_map(|item| match item {
            Item::Signal(signal) => Some(signal),
            _ => None,
        })
    }

    /// The declared input fields of every `input { … }` block, in source order.
    pub fn input_fields(&self) -> impl Iterator<Item = &InputField> {
        self.items
            .iter()
            .filter_map(|item| match item {
                Item::Input(block) => Some(block.fields.iter()),
                _ => None,
            })
            .flatten()
    }

    /// Every `start` declaration (a valid workflow has exactly one).
    pub fn starts(&self) -> impl Iterator<Item = &StartDecl> {
        self.items.iter().filter_map(|item| match item {
            Item::Start(start) => Some(start),
            _ => None,
        })
    }

    /// The workflow-level `timeout`, if any.
    pub fn run_timeout(&self) -> Option<&DurationLit> {
        self.items.iter().find_map(|item| match item {
            Item::Timeout(timeout) => Some(&timeout.duration),
            _ => None,
        })
    }

    /// The `max_steps` setting, if any.
    pub fn max_steps(&self) -> Option<&IntLit> {
        self.items.iter().find_map(|item| match item {
            Item::MaxSteps(max) => Some(&max.value),
            _ => None,
        })
    }

    /// The workflow's default failure target (`on fail -> x;`), if any.
    pub fn default_fail(&self) -> Option<&Ident> {
        self.items.iter().find_map(|item| match item {
            Item::DefaultFail(default) => Some(&default.target),
            _ => None,
        })
    }
}

/// An item of a workflow body, in source order.
// States dominate the items of a workflow, so boxing them would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    Input(InputBlock),
    Worker(WorkerDecl),
    Signal(SignalDecl),
    Start(StartDecl),
    Timeout(RunTimeout),
    MaxSteps(MaxSteps),
    DefaultFail(DefaultFail),
    State(State),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Input(x) => x.span,
            Item::Worker(x) => x.span,
            Item::Signal(x) => x.span,
            Item::Start(x) => x.span,
            Item::Timeout(x) => x.span,
            Item::MaxSteps(x) => x.span,
            Item::DefaultFail(x) => x.span,
            Item::State(x) => x.span,
        }
    }
}

/// `input { goal: string, depth: integer = 3 }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputBlock {
    pub fields: Vec<InputField>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputField {
    pub docs: Vec<Doc>,
    pub name: Ident,
    pub ty: TypeName,
    pub default: Option<Literal>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypeName {
    pub ty: ValueType,
    pub span: Span,
}

/// The type of an input field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    String,
    Number,
    Integer,
    Bool,
    List,
    Object,
    Any,
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Number => "number",
            ValueType::Integer => "integer",
            ValueType::Bool => "bool",
            ValueType::List => "list",
            ValueType::Object => "object",
            ValueType::Any => "any",
        }
    }
}

/// `worker Name "description" [outcomes [a, b]];`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkerDecl {
    pub docs: Vec<Doc>,
    pub name: Ident,
    pub description: Option<StrLit>,
    /// The complete set of outcomes the worker reports, when declared.
    pub outcomes: Option<Outcomes>,
    pub span: Span,
}

/// `signal Name "description" [outcomes [a, b]];` — something a running workflow can `wait` for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignalDecl {
    pub docs: Vec<Doc>,
    pub name: Ident,
    pub description: Option<StrLit>,
    /// The complete set of outcomes the signal carries, when declared.
    pub outcomes: Option<Outcomes>,
    pub span: Span,
}

/// `outcomes [approved, changes_requested]`; `ok` may be listed for a plain success.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcomes {
    pub labels: Vec<Ident>,
    pub span: Span,
}

impl Outcomes {
    pub fn contains(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l.name == label)
    }
}

/// `start state;`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StartDecl {
    pub state: Ident,
    pub span: Span,
}

/// Workflow-level `timeout 30m;`: the limit for a whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunTimeout {
    pub duration: DurationLit,
    pub span: Span,
}

/// `max_steps 200;`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MaxSteps {
    pub value: IntLit,
    pub span: Span,
}

/// `on fail -> failed;`: where a fallible state without its own `fail ->` goes on failure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DefaultFail {
    pub target: Ident,
    pub span: Span,
}

/// A state: a named node of the workflow graph.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct State {
    pub docs: Vec<Doc>,
    pub name: Ident,
    pub kind: StateKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateKind {
    Task(Task),
    Choice(Choice),
    Parallel(Parallel),
    /// Boxed, like a loop: a map is the largest kind and a loop the next, and every state in
    /// a workflow's list of items takes the size of the largest kind.
    Map(Box<Map>),
    Loop(Box<Loop>),
    Wait(Wait),
    Call(Call),
    Succeed(Succeed),
    Fail(Fail),
}

impl StateKind {
    /// The keyword that introduces this kind of state.
    pub fn keyword(&self) -> &'static str {
        match self {
            StateKind::Task(_) => "task",
            StateKind::Choice(_) => "choice",
            StateKind::Parallel(_) => "parallel",
            StateKind::Map(_) => "map",
            StateKind::Loop(_) => "loop",
            StateKind::Wait(_) => "wait",
            StateKind::Call(_) => "call",
            StateKind::Succeed(_) => "succeed",
            StateKind::Fail(_) => "fail",
        }
    }

    /// The state's event transitions (`ok ->`, `fail ->`, `timeout ->`, `on label ->`).
    /// Choices and terminals have none.
    pub fn transitions(&self) -> &[Transition] {
        match self {
            StateKind::Task(x) => &x.transitions,
            StateKind::Parallel(x) => &x.transitions,
            StateKind::Map(x) => &x.transitions,
            StateKind::Loop(x) => &x.transitions,
            StateKind::Wait(x) => &x.transitions,
            StateKind::Call(x) => &x.transitions,
            StateKind::Choice(_) | StateKind::Succeed(_) | StateKind::Fail(_) => &[],
        }
    }

    /// The worker a task, a map or a loop runs (a parallel's branches name their own).
    ///
    /// ```
    /// let file = orch_dsl::parse("workflow W { worker A; start t; task t by A { ok -> d; } succeed d; }")?;
    /// let worker = file.workflows[0].states().next().unwrap().kind.worker();
    /// assert_eq!(worker.map(|w| w.name.as_str()), Some("A"));
    /// # Ok::<(), orch_dsl::Diagnostics>(())
    /// ```
    pub fn worker(&self) -> Option<&Ident> {
        match self {
            StateKind::Task(x) => Some(&x.worker),
            StateKind::Map(x) => Some(&x.worker),
            StateKind::Loop(x) => Some(&x.worker),
            _ => None,
        }
    }

    /// The state's own `timeout`, if it has one.
    pub fn timeout(&self) -> Option<&Timeout> {
        match self {
            StateKind::Task(x) => x.timeout.as_deref(),
            StateKind::Parallel(x) => x.timeout.as_deref(),
            StateKind::Map(x) => x.timeout.as_deref(),
            StateKind::Loop(x) => x.timeout.as_deref(),
            StateKind::Wait(x) => x.timeout.as_deref(),
            StateKind::Call(x) => x.timeout.as_deref(),
            StateKind::Choice(_) | StateKind::Succeed(_) | StateKind::Fail(_) => None,
        }
    }

    /// True for `succeed` and `fail` states.
    pub fn is_terminal(&self) -> bool {
        matches!(self, StateKind::Succeed(_) | StateKind::Fail(_))
    }
}

/// `task name by Worker { … }`: one call of a worker.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Task {
    pub worker: Ident,
    pub with: Option<With>,
    /// Boxed, like every state's `retry` and `timeout` and a loop's `until` and `max`: most
    /// states have none, and every state in a workflow's list of items takes the size of
    /// the largest kind.
    pub retry: Option<Box<Retry>>,
    pub timeout: Option<Box<Timeout>>,
    pub transitions: Vec<Transition>,
}

/// `choice name { when cond -> a; … else -> b; }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choice {
    pub arms: Vec<WhenArm>,
    pub otherwise: Option<ElseArm>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WhenArm {
    pub condition: Expr,
    pub target: Target,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ElseArm {
    pub target: Target,
    pub span: Span,
}

/// `parallel name { branch … join all; ok -> …; fail -> …; }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Parallel {
    pub branches: Vec<Branch>,
    pub join: Option<Join>,
    pub timeout: Option<Box<Timeout>>,
    pub transitions: Vec<Transition>,
}

/// `branch name by Worker { with {…} retry …; timeout …; }` or `branch name by Worker;`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Branch {
    pub docs: Vec<Doc>,
    pub name: Ident,
    pub worker: Ident,
    pub with: Option<With>,
    pub retry: Option<Box<Retry>>,
    pub timeout: Option<Box<Timeout>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Join {
    pub kind: JoinKind,
    pub span: Span,
}

/// How many branches must succeed: `join all`, `join any`, `join 2`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinKind {
    All,
    Any,
    Count(IntLit),
}

/// `map name over path as item by Worker { limit N; … }`: one worker call per list element.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Map {
    pub over: Path,
    pub item: Ident,
    pub worker: Ident,
    pub with: Option<With>,
    pub limit: Option<IntLit>,
    pub retry: Option<Box<Retry>>,
    pub timeout: Option<Box<Timeout>>,
    pub transitions: Vec<Transition>,
}

/// `loop name by Worker [as var] { until cond; max N [else state]; … }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Loop {
    pub worker: Ident,
    pub var: Option<Ident>,
    pub with: Option<With>,
    pub until: Option<Box<Expr>>,
    pub max: Option<Box<LoopMax>>,
    pub retry: Option<Box<Retry>>,
    pub timeout: Option<Box<Timeout>>,
    pub transitions: Vec<Transition>,
}

/// `max 3;` or `max 3 else exhausted;` inside a loop.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoopMax {
    pub count: IntLit,
    pub otherwise: Option<Ident>,
    pub span: Span,
}

/// `wait name for Signal { timeout 24h; ok -> …; timeout -> …; }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Wait {
    pub signal: Ident,
    pub timeout: Option<Box<Timeout>>,
    pub transitions: Vec<Transition>,
}

/// `call name workflow Other { with {…} ok -> …; fail -> …; }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Call {
    pub workflow: Ident,
    pub with: Option<With>,
    pub timeout: Option<Box<Timeout>>,
    pub transitions: Vec<Transition>,
}

/// `succeed name [output value];`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Succeed {
    pub output: Option<Value>,
}

/// `fail name [error value];`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fail {
    pub error: Option<Value>,
}

/// `with { key: value, … }`: the input handed to a worker or sub-workflow.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct With {
    pub entries: Vec<Entry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub key: Key,
    pub value: Value,
    pub span: Span,
}

/// An object key, written as a bare word or as a string (`"max-tokens"`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Key {
    pub name: Name,
    pub quoted: bool,
    pub span: Span,
}

/// `retry 3 backoff 1s x2 max 30s jitter;`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Retry {
    /// Retries after the first attempt (`retry 2` allows three attempts in all).
    pub retries: IntLit,
    pub backoff: Option<Backoff>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backoff {
    pub initial: DurationLit,
    pub multiplier: Option<Multiplier>,
    pub max: Option<DurationLit>,
    pub jitter: bool,
    pub span: Span,
}

/// `x2`, `x1.5`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Multiplier {
    pub value: f64,
    pub text: Name,
    pub span: Span,
}

/// A state's `timeout 60s;`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timeout {
    pub duration: DurationLit,
    pub span: Span,
}

/// `event -> target;`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transition {
    pub event: Event,
    pub target: Target,
    pub span: Span,
}

/// What a transition reacts to.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Ok { span: Span },
    Fail { span: Span },
    Timeout { span: Span },
    Outcome { label: Ident },
}

impl Event {
    pub fn span(&self) -> Span {
        match self {
            Event::Ok { span } | Event::Fail { span } | Event::Timeout { span } => *span,
            Event::Outcome { label } => label.span,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Ok { .. } => f.write_str("ok"),
            Event::Fail { .. } => f.write_str("fail"),
            Event::Timeout { .. } => f.write_str("timeout"),
            Event::Outcome { label } => write!(f, "on {label}"),
        }
    }
}

/// The destination of a transition: `state` or `state max N else other`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    pub state: Ident,
    /// Boxed: most edges have no bound, and every transition carries a target.
    pub bound: Option<Box<Bound>>,
    pub span: Span,
}

/// `max N else other`: the edge may be taken `N` times in a run; after that it leads to `other`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bound {
    pub max: IntLit,
    pub otherwise: Ident,
    pub span: Span,
}

/// A value handed to a worker or produced by a terminal.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Value {
    /// A string; `{{ path }}` placeholders in it are filled in when the step runs.
    Template(Template),
    Number(NumLit),
    Bool {
        value: bool,
        span: Span,
    },
    Null {
        span: Span,
    },
    List {
        items: Vec<Value>,
        span: Span,
    },
    Object {
        entries: Vec<Entry>,
        span: Span,
    },
    /// A path passes the referenced JSON value through unchanged (not rendered to text).
    Path(Path),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Template(t) => t.lit.span,
            Value::Number(n) => n.span,
            Value::Bool { span, .. }
            | Value::Null { span }
            | Value::List { span, .. }
            | Value::Object { span, .. } => *span,
            Value::Path(p) => p.span,
        }
    }
}

/// A literal in a condition or an input default.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Literal {
    Str(StrLit),
    Number(NumLit),
    Bool { value: bool, span: Span },
    Null { span: Span },
}

impl Literal {
    pub fn span(&self) -> Span {
        match self {
            Literal::Str(s) => s.span,
            Literal::Number(n) => n.span,
            Literal::Bool { span, .. } | Literal::Null { span } => *span,
        }
    }
}

/// A string literal. `value` is the decoded text; `span` covers the quotes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StrLit {
    pub value: Name,
    /// `Some(n)` for a raw string written with `n` hashes (`r"…"` is `Some(0)`).
    pub raw_hashes: Option<u8>,
    pub span: Span,
}

/// A string with `{{ path }}` placeholders.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Template {
    pub lit: StrLit,
    pub parts: Vec<TemplatePart>,
}

impl Template {
    /// The paths read by the placeholders, in order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.parts.iter().filter_map(|part| match part {
            TemplatePart::Placeholder(path) => Some(path),
            TemplatePart::Text { .. } => None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplatePart {
    /// Literal text (with `\{{` already turned into `{{`). `span` covers the text as written
    /// inside the string literal, escapes included.
    Text { value: Name, span: Span },
    /// `{{ path }}`; the path's spans point inside the string literal.
    Placeholder(Path),
}

impl TemplatePart {
    /// The text as written, or the placeholder's path (inside the braces).
    pub fn span(&self) -> Span {
        match self {
            TemplatePart::Text { span, .. } => *span,
            TemplatePart::Placeholder(path) => path.span,
        }
    }
}

/// A number as written (`3`, `0.8`, `-1`, `1e3`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NumLit {
    pub value: f64,
    pub text: Name,
    pub span: Span,
}

/// A whole number (`max 3`, `retry 2`, `limit 4`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct IntLit {
    pub value: u64,
    pub span: Span,
}

/// A duration as written (`30s`, `1h30m`) and its value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DurationLit {
    pub value: Duration,
    pub text: Name,
    pub span: Span,
}

/// A reference to data in the run: `input.goal`, `plan.output.tasks[0]`, `topic`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Path {
    pub root: Ident,
    pub segments: Vec<Segment>,
    /// Written with a trailing `?`: the state read may not have run yet, and the value is
    /// `null` until it has.
    pub optional: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// `.name`
    Field(Ident),
    /// `[3]` or `[-1]` (from the end).
    Index { index: i64, span: Span },
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root.name)?;
        for segment in &self.segments {
            match segment {
                Segment::Field(field) => write!(f, ".{field}")?,
                Segment::Index { index, .. } => write!(f, "[{index}]")?,
            }
        }
        if self.optional {
            f.write_str("?")?;
        }
        Ok(())
    }
}

/// A condition (`when`, `until`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Expr {
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Span,
    },
    Not {
        expr: Box<Expr>,
        span: Span,
    },
    Exists {
        path: Path,
        span: Span,
    },
    Literal(Literal),
    Path(Path),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Binary { span, .. } | Expr::Not { span, .. } | Expr::Exists { span, .. } => *span,
            Expr::Literal(literal) => literal.span(),
            Expr::Path(path) => path.span,
        }
    }

    /// Every path the condition reads, in source order.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a Path>) {
        match self {
            Expr::Binary { lhs, rhs, .. } => {
                lhs.collect_paths(out);
                rhs.collect_paths(out);
            }
            Expr::Not { expr, .. } => expr.collect_paths(out),
            Expr::Exists { path, .. } | Expr::Path(path) => out.push(path),
            Expr::Literal(_) => {}
        }
    }
}

/// Binary operators of conditions, from loosest to tightest: `||`, `&&`, comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Contains => "contains",
        }
    }

    /// Binding strength: `||` 1, `&&` 2, comparisons 3.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            _ => 3,
        }
    }
}
