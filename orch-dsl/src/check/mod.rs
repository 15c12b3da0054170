//! The checks: AST → checked [`ir`](crate::ir), collecting every diagnostic.
//!
//! What the checker proves for an accepted workflow:
//! - every name resolves (states, workers, signals, workflows), with "did you mean" help;
//! - every state is reachable from `start`, and from every state a terminal is reachable;
//! - every fallible state has a failure path, every `wait` with a timeout a timeout path, and
//!   every `choice` an `else`;
//! - every cycle passes through a bounded edge, so runs terminate, and the worst-case number of
//!   steps is known;
//! - every path in a template or condition starts at a known root and reads a state that has
//!   definitely completed on every path to the use;
//! - durations, counts, retry and timeout settings are sane.
//!
//! Each phase reports what it finds and leaves the rest to the others, so one run reports
//! every independent error.

mod ahead;
mod dataflow;
mod dominators;
mod graph;
mod lower_ir;
mod names;
mod settings;
mod table;

use std::rc::Rc;

use rustc_hash::FxHashMap as HashMap;

use table::{Kind, NameTable, StateInfo};

use crate::ast::{self, StateKind};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::ir;
use crate::span::Span;

pub(crate) use names::signatures as signatures_of;
pub use names::{Signature, signatures};

/// A checked program and the warnings found on the way.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub program: ir::Program,
    pub warnings: Diagnostics,
}

/// Parses and checks one source text.
///
/// On failure the diagnostics hold every error and warning found, in source order.
///
/// ```
/// let source = r#"
///     workflow Review {
///         worker Writer;
///         worker Critic;
///         start draft;
///         task draft by Writer { ok -> critique; fail -> failed; }
///         task critique by Critic {
///             with { text: "{{draft.output}}" }
///             on accept -> done;
///             on revise -> draft max 3 else failed;
///             fail -> failed;
///         }
///         succeed done output "{{draft.output}}";
///         fail failed;
///     }
/// "#;
/// let compiled = orch_dsl::compile(source).unwrap();
/// let workflow = &compiled.program.workflows[0];
/// assert_eq!(workflow.states.len(), 4);
/// assert_eq!(workflow.worst_case_steps, 12); // an upper bound: the longest run takes 9
///
/// let broken = source.replace("draft max 3 else failed", "draft");
/// let errors = orch_dsl::compile(&broken).unwrap_err();
/// assert_eq!(errors.iter().next().unwrap().code.as_str(), "E0206");
/// ```
pub fn compile(source: &str) -> Result<Compiled, Diagnostics> {
    let file = crate::parse(source)?;
    check(&file, &[])
}

/// Checks a parsed file. `externals` describes workflows defined in other sources compiled
/// together with this one, which `call` states may name.
pub fn check(file: &ast::File, externals: &[Signature]) -> Result<Compiled, Diagnostics> {
    let mut diags = Vec::new();
    names::check_workflow_names(file, externals, &mut diags);
    // Every workflow's names first: the signatures that `call` states are checked against,
    // with each workflow's inputs and calls, come from the pass that declares its items,
    // rather than from passes over every item of the file for them alone.
    let scopes: Vec<Scope<'_>> = file
        .workflows
        .iter()
        .map(|workflow| Scope::new(workflow, &mut diags))
        .collect();
    let mut signatures: Vec<Signature> = scopes.iter().map(Scope::signature).collect();
    // The public `signatures`, which other sources' checks are given, reads the file itself:
    // in debug builds, every check confirms that the two agree.
    debug_assert_eq!(signatures, names::signatures(file));
    signatures.extend(externals.iter().cloned());
    let signatures: Rc<[Signature]> = signatures.into();
    let calls: Vec<&[&ast::Call]> = scopes.iter().map(|scope| scope.calls.as_slice()).collect();
    names::check_call_cycles(file, &calls, &signatures, &mut diags);
    let mut workflows = Vec::new();
    for mut scope in scopes {
        scope.check_states(Rc::clone(&signatures), &mut diags);
        if let Some(ir) = scope.check(&mut diags) {
            workflows.push(ir);
        }
    }
    let mut diags = Diagnostics::from(diags);
    diags.sort();
    if diags.has_errors() || workflows.len() != file.workflows.len() {
        return Err(diags);
    }
    Ok(Compiled {
        program: ir::Program { workflows },
        warnings: diags,
    })
}

/// How control leaves a state along an edge, for the data-flow analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// The state completed (`ok`, a custom outcome, a loop running out of iterations).
    Success,
    /// The state failed or timed out.
    Failure,
    /// A choice routed the run; nothing completed.
    Route,
}

/// An edge of the state graph, with names resolved: 32 bytes, and a large workflow has a few
/// for every state.
#[derive(Clone, Debug)]
pub(crate) struct GraphEdge {
    from: u32,
    to: u32,
    /// The transition, arm or setting the edge comes from.
    pub span: Span,
    /// The `max` of a bounded edge; see [`GraphEdge::bound`].
    max: u64,
    pub flow: Flow,
    bounded: bool,
}

impl GraphEdge {
    pub fn new(from: usize, to: usize, flow: Flow, bound: Option<u64>, span: Span) -> GraphEdge {
        GraphEdge {
            from: from as u32,
            to: to as u32,
            span,
            max: bound.unwrap_or(0),
            flow,
            bounded: bound.is_some(),
        }
    }

    pub fn from(&self) -> usize {
        self.from as usize
    }

    pub fn to(&self) -> usize {
        self.to as usize
    }

    /// `Some(max)` for the bounded half of `-> to max N else other`.
    pub fn bound(&self) -> Option<u64> {
        self.bounded.then_some(self.max)
    }
}

/// The workers and signals that states name, by id. A state naming an undeclared one
/// (reported already) probably meant one that now looks unused, so then none is reported.
#[derive(Default)]
pub(crate) struct Used {
    pub workers: Vec<bool>,
    pub signals: Vec<bool>,
    pub misspelt_worker: bool,
    pub misspelt_signal: bool,
}

impl Used {
    /// Marks what `state` names; `worker` is the id of the worker it runs (see
    /// [`Scope::worker_of`]).
    fn mark(&mut self, state: &ast::State, worker: Option<usize>, scope: &Scope<'_>) {
        // Marks `name` used; true when it is not declared.
        let mark = |used: &mut [bool], id: Option<usize>| match id {
            Some(id) => {
                used[id] = true;
                false
            }
            None => true,
        };
        if state.kind.worker().is_some() {
            self.misspelt_worker |= mark(&mut self.workers, worker);
        }
        match &state.kind {
            StateKind::Parallel(parallel) => {
                for branch in &parallel.branches {
                    self.misspelt_worker |=
                        mark(&mut self.workers, scope.worker_ids.get(&branch.worker.name));
                }
            }
            StateKind::Wait(wait) => {
                self.misspelt_signal |= mark(
                    &mut self.signals,
                    scope.signal_ids.get(wait.signal.name.as_str()).copied(),
                );
            }
            _ => {}
        }
    }
}

/// The names of one workflow and the edges between its states.
pub(crate) struct Scope<'a> {
    pub workflow: &'a ast::Workflow,
    /// Unique states; a state's index is its id.
    pub states: Vec<&'a ast::State>,
    pub state_ids: NameTable,
    pub workers: Vec<&'a ast::WorkerDecl>,
    /// Worker names to ids, in a table of their own like the states' (a workflow may declare
    /// a worker per state, and each state looks its worker up more than once).
    pub worker_ids: NameTable,
    pub signals: Vec<&'a ast::SignalDecl>,
    pub signal_ids: HashMap<&'a str, usize>,
    /// States declared again under a name already taken (reported already).
    pub duplicates: Vec<&'a ast::State>,
    /// The `call` states, duplicates included, in source order: found by the declarations'
    /// pass, so that the check for calls that lead back to their caller reads no state again.
    pub calls: Vec<&'a ast::Call>,
    /// The items other than states, workers and signals, in source order.
    pub settings: Vec<&'a ast::Item>,
    /// The workflow's `timeout` and `max_steps` (the first, if repeated).
    pub run_timeout: Option<&'a ast::DurationLit>,
    pub max_steps: Option<&'a ast::IntLit>,
    pub inputs: Vec<&'a ast::InputField>,
    pub input_ids: HashMap<&'a str, usize>,
    /// Every input field as declared, duplicates included, and whether it is required: this
    /// workflow's part of its [`Signature`].
    pub input_signature: Vec<(String, bool)>,
    /// The signatures of every workflow a `call` may name, this file's and the externals'.
    pub signatures: Rc<[Signature]>,
    pub start: Option<usize>,
    /// The workflow's `on fail -> x;` as written (the first, if repeated), and `x`'s id.
    pub default_fail_target: Option<&'a ast::Ident>,
    pub default_fail: Option<usize>,
    pub edges: Vec<GraphEdge>,
    /// By state id.
    pub info: Vec<StateInfo>,
    /// The ids the states' targets resolve to ([`table::NONE`] when one does not), state by
    /// state, each state's from [`StateInfo::targets`] on: every transition or arm target in
    /// source order, followed by its bound's `else` when it has one, then a loop's
    /// `max N else` target.
    pub targets: Vec<u32>,
    /// By state id.
    pub kinds: Vec<Kind>,
    pub used: Used,
    /// The paths the states read, resolved.
    paths: dataflow::Paths<'a>,
    /// The states' IR, while no error has been found.
    lowering: Option<lower_ir::Lowering>,
    /// The errors in the diagnostics before this workflow was checked.
    pub before: usize,
}

impl<'a> Scope<'a> {
    /// Declares the workflow's names; [`Scope::check_states`] goes on once every workflow's
    /// signature is known.
    fn new(workflow: &'a ast::Workflow, diags: &mut Vec<Diagnostic>) -> Scope<'a> {
        let mut scope = Scope {
            workflow,
            states: Vec::new(),
            state_ids: NameTable::default(),
            workers: Vec::new(),
            worker_ids: NameTable::default(),
            signals: Vec::new(),
            signal_ids: HashMap::default(),
            duplicates: Vec::new(),
            calls: Vec::new(),
            settings: Vec::new(),
            run_timeout: None,
            max_steps: None,
            inputs: Vec::new(),
            input_ids: HashMap::default(),
            input_signature: Vec::new(),
            signatures: Rc::from([]),
            start: None,
            default_fail_target: None,
            default_fail: None,
            edges: Vec::new(),
            info: Vec::new(),
            targets: Vec::new(),
            kinds: Vec::new(),
            used: Used::default(),
            paths: dataflow::Paths::default(),
            lowering: None,
            before: diags.iter().filter(|d| d.is_error()).count(),
        };
        scope.declare(diags);
        scope.resolve_settings(diags);
        scope
    }

    /// What a `call` of this workflow needs to know, from its declarations.
    fn signature(&self) -> Signature {
        Signature {
            name: self.workflow.name.name.to_string(),
            inputs: self.input_signature.clone(),
            calls: self
                .calls
                .iter()
                .map(|call| call.workflow.name.to_string())
                .collect(),
        }
    }

    /// Runs the checks that need the whole graph; returns the IR when the workflow has no
    /// errors.
    fn check(mut self, diags: &mut Vec<Diagnostic>) -> Option<ir::Workflow> {
        settings::check(&self, diags);
        let graph = graph::Analysis::new(&self);
        graph.check(&self, diags);
        dataflow::check(&self, &graph, diags);
        self.warn_unused(diags);
        let worst = graph.worst_case_steps(&self);
        graph.warn_step_limit(&self, worst, diags);
        let errors = diags.iter().filter(|d| d.is_error()).count();
        if errors > self.before {
            return None;
        }
        let lowering = self.lowering.take()?;
        lower_ir::lower(&self, lowering, worst)
    }

    pub fn state(&self, name: &str) -> Option<usize> {
        self.state_ids.get(name)
    }

    /// The id of the worker a task, map or loop runs, when it is declared. The pass over
    /// the states looks it up once, for every check and for the IR.
    pub fn worker_of(&self, state: &ast::State) -> Option<usize> {
        self.worker_ids.get(&state.kind.worker()?.name)
    }

    /// A state's name for messages.
    pub fn name(&self, state: usize) -> &'a str {
        &self.states[state].name.name
    }

    /// Resolves a state name, reporting an undefined one with a suggestion.
    pub fn resolve_state(&self, name: &ast::Ident, diags: &mut Vec<Diagnostic>) -> Option<usize> {
        if name.name.is_empty() {
            return None;
        }
        if let Some(id) = self.state(&name.name) {
            return Some(id);
        }
        let mut d = Diagnostic::error(
            Code::UndefinedState,
            name.span,
            format!(
                "no state named `{name}` in workflow `{}`",
                self.workflow.name
            ),
        )
        .with_label("not a state of this workflow");
        let known = self.state_ids.names();
        if let Some(best) = crate::suggest::closest(&name.name, known) {
            d = d.with_help(format!("did you mean `{best}`?"));
        } else {
            d = d.with_help(format!(
                "declare it, for example `fail {name};` or `succeed {name};`"
            ));
        }
        diags.push(d);
        None
    }

    /// True when the state is a task, parallel, map, loop, wait or call.
    pub fn is_fallible(state: &ast::State) -> bool {
        !matches!(
            state.kind,
            StateKind::Choice(_) | StateKind::Succeed(_) | StateKind::Fail(_)
        )
    }
}

/// `a`, `a and b`, `a, b and c`, with each name in backticks.
pub(crate) fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    join(names, "and")
}

/// `a`, `a or b`, `a, b or c`, with each name in backticks.
pub(crate) fn list_or<'a>(names: impl Iterator<Item = &'a str>) -> String {
    join(names, "or")
}

fn join<'a>(names: impl Iterator<Item = &'a str>, last: &str) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    match names.split_last() {
        None => String::new(),
        Some((only, [])) => only.clone(),
        Some((end, rest)) => format!("{} {last} {end}", rest.join(", ")),
    }
}
