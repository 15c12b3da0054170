//! The one diagnostic type shared by every phase of the compiler.

use std::fmt;

use serde::Serialize;

use crate::span::Span;

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $code:ident $variant:ident = $summary:literal, )*) => {
        /// A stable diagnostic code. `docs/errors.md` explains each one with an example and a fix.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Code {
            /// Every code, in numeric order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as written in messages: `E0001`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => stringify!($code),)* }
            }

            /// A one-line summary of what the code means.
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }

            /// Looks a code up by its written form.
            pub fn from_code(code: &str) -> Option<Code> {
                match code { $(stringify!($code) => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    /// The text does not follow the grammar at this point.
    E0001 Syntax = "syntax error",
    /// A string, block comment or delimiter is not closed, or a closer has no opener.
    E0002 Unterminated = "unterminated string, comment or delimiter",
    /// A backslash escape in a string is not one Rust accepts.
    E0003 InvalidEscape = "invalid escape in a string",
    /// A `{{ … }}` placeholder in a template is not closed or does not hold a path.
    E0004 InvalidTemplate = "invalid template placeholder",
    /// A number is out of range.
    E0005 InvalidNumber = "number out of range",
    /// A duration is out of range.
    E0006 InvalidDuration = "duration out of range",
    /// A setting appears twice in one state.
    E0007 DuplicateSetting = "setting given twice",
    /// A transition or setting that this kind of state cannot have.
    E0008 NotAllowedHere = "not allowed in this kind of state",
    /// A doc comment on something that cannot carry documentation.
    E0009 MisplacedDoc = "doc comment on an item that takes none",
    /// Two transitions for the same event in one state.
    E0010 DuplicateTransition = "event handled twice",
    /// A reserved word used as a name.
    E0011 ReservedName = "reserved word used as a name",
    /// A transition, `start` or `on fail` names a state that does not exist.
    E0101 UndefinedState = "undefined state",
    /// A state names a worker that is not declared.
    E0102 UndefinedWorker = "undefined worker",
    /// A `wait` names a signal that is not declared.
    E0103 UndefinedSignal = "undefined signal",
    /// A `call` names a workflow that is not defined.
    E0104 UndefinedWorkflow = "undefined workflow",
    /// Two declarations share a name, or a workflow-level setting is given twice.
    E0105 DuplicateName = "name or setting declared twice",
    /// A workflow without `start`.
    E0106 MissingStart = "missing `start`",
    /// A workflow calls itself, directly or through others.
    E0107 RecursiveCall = "recursive workflow call",
    /// A transition for an outcome that the worker or signal does not declare.
    E0108 UndeclaredOutcome = "outcome not declared",
    /// A state that no run can reach.
    E0201 Unreachable = "unreachable state",
    /// A state from which no terminal state can be reached.
    E0202 NoWayOut = "no way to a terminal state",
    /// A fallible state without a failure transition and without a workflow default.
    E0203 MissingFailurePath = "missing failure path",
    /// A declared outcome of a worker or signal that a state does not handle.
    E0204 UnhandledOutcome = "declared outcome not handled",
    /// A `wait` with a `timeout` but no `timeout ->`.
    E0205 MissingTimeoutPath = "missing timeout path",
    /// A cycle without a bounded edge.
    E0206 UnboundedCycle = "unbounded cycle",
    /// A `choice` without `else`.
    E0207 MissingElse = "choice without `else`",
    /// A `loop` without `max`.
    E0208 LoopWithoutMax = "loop without `max`",
    /// A path whose root is not the input, a state or a variable in scope.
    E0301 UnknownRoot = "unknown name in a path",
    /// A path that does not name data: a state read without `.output`, a field of a number.
    E0302 InvalidPath = "path does not name data",
    /// A path reads a state that may not have completed on some path to the use.
    E0303 MaybeIncomplete = "read of a state that may not have completed",
    /// A `call` passes input the called workflow does not declare, or misses a required field.
    E0304 CallInput = "input of a called workflow",
    /// A duration of zero.
    E0401 ZeroDuration = "zero duration",
    /// A backoff multiplier below one.
    E0402 MultiplierBelowOne = "backoff multiplier below one",
    /// Retry delays that alone exceed the time the enclosing run or state allows.
    E0403 RetryExceedsTimeout = "retry schedule longer than its timeout",
    /// `join N` with N zero or more than the branches.
    E0404 JoinOutOfRange = "join count out of range",
    /// A `parallel` with fewer than two branches.
    E0405 TooFewBranches = "parallel with fewer than two branches",
    /// A count of zero: `limit 0`, `max 0`, `max_steps 0`.
    E0406 ZeroCount = "count of zero",
    /// A backoff cap below the first delay.
    E0407 BackoffCapBelowDelay = "backoff cap below the first delay",
    /// A worker or signal that no state uses.
    W0001 Unused = "unused worker or signal",
    /// An input field that nothing reads.
    W0002 UnusedInput = "unused input field",
    /// A state whose only way out is failure.
    W0003 OnlyFailure = "state can only fail",
    /// The worst-case number of steps exceeds `max_steps`.
    W0004 StepLimit = "worst case exceeds `max_steps`",
    /// A `?` on a path that surely has its value.
    W0005 UnneededMaybe = "unneeded `?` on a path",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A span with a message, shown under the source snippet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// A problem found in a workflow source, with a stable code and a location.
///
/// Messages follow rustc's style: lowercase, no trailing period, names in backticks.
///
/// ```
/// use orch_dsl::{Code, Diagnostic, Span};
/// let d = Diagnostic::error(Code::Syntax, Span::new(4, 7), "expected `;`, found `end`")
///     .with_label("expected `;`")
///     .with_help("end the statement with `;`");
/// assert_eq!(d.code.as_str(), "E0001");
/// assert!(d.is_error());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    /// The main location.
    pub span: Span,
    /// Text shown under the main location (may be empty).
    pub label: String,
    /// Other related locations.
    pub secondary: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, span, message)
    }

    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, span, message)
    }

    fn new(severity: Severity, code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            span,
            label: String::new(),
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}[{}]: {}", self.code, self.message)
    }
}

/// Every diagnostic found in one source text, in source order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics(Vec::new())
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Orders by position, then code, and drops exact repeats.
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (a.span, a.code, &a.message).cmp(&(b.span, b.code, &b.message)));
        self.0.dedup();
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(diagnostics: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics(diagnostics)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
