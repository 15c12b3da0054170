//! Declarations and name resolution: duplicates, undefined names, `start`, workflow-level
//! settings, call targets and recursion between workflows.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::table::{Kind, NONE, StateInfo};
use super::{Flow, GraphEdge, Scope};
use crate::ast::{self, Event, Item, StateKind, Target};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::suggest;

/// What a `call` needs to know about a workflow: its name, its input fields and the workflows
/// it calls in turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub name: String,
    /// Input fields and whether each is required (has no default).
    pub inputs: Vec<(String, bool)>,
    /// Workflows named by its `call` states.
    pub calls: Vec<String>,
}

/// The signatures of every workflow of a file.
pub fn signatures(file: &ast::File) -> Vec<Signature> {
    file.workflows
        .iter()
        .map(|w| Signature {
            name: w.name.name.to_string(),
            inputs: w
                .input_fields()
                .map(|f| (f.name.name.to_string(), f.default.is_none()))
                .collect(),
            calls: w
                .states()
                .filter_map(|s| match &s.kind {
                    StateKind::Call(call) => Some(call.workflow.name.to_string()),
                    _ => None,
                })
                .collect(),
        })
        .collect()
}

fn duplicate(code: Code, what: &str, name: &ast::Ident, first: Span) -> Diagnostic {
    Diagnostic::error(
        code,
        name.span,
        format!("{what} `{name}` is declared twice"),
    )
    .with_label("declared again here")
    .with_secondary(first, "first declared here")
    .with_help(format!("rename or remove one of the two {what}s"))
}

pub(super) fn check_workflow_names(
    file: &ast::File,
    externals: &[Signature],
    diags: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for workflow in &file.workflows {
        let name = &workflow.name;
        if let Some(first) = seen.get(name.name.as_str()) {
            diags.push(duplicate(Code::DuplicateName, "workflow", name, *first));
        } else if externals.iter().any(|e| e.name == name.name) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    name.span,
                    format!("workflow `{name}` is also defined in another source"),
                )
                .with_label("defined again here")
                .with_help("workflow names must be unique among the sources compiled together"),
            );
        } else {
            seen.insert(&name.name, name.span);
        }
    }
}

/// Reports workflows that call themselves, directly or through others: such runs need not end.
/// A cycle through several workflows of the file is reported once, at its first call.
pub(super) fn check_call_cycles(
    file: &ast::File,
    call_states: &[&[&ast::Call]],
    signatures: &[Signature],
    diags: &mut Vec<Diagnostic>,
) {
    let calls: HashMap<&str, &[String]> = signatures
        .iter()
        .map(|s| (s.name.as_str(), s.calls.as_slice()))
        .collect();
    let mut reported: HashSet<(String, String)> = HashSet::new();
    for (workflow, call_states) in file.workflows.iter().zip(call_states) {
        for call in call_states.iter() {
            let caller = &workflow.name.name;
            if reported.contains(&(caller.to_string(), call.workflow.name.to_string())) {
                continue;
            }
            let Some(chain) = call_chain(&calls, &call.workflow.name, caller) else {
                continue;
            };
            let mut through = vec![caller.to_string()];
            through.extend(chain);
            let mut d = Diagnostic::error(
                Code::RecursiveCall,
                call.workflow.span,
                if through.len() == 2 {
                    format!("workflow `{caller}` calls itself")
                } else {
                    format!(
                        "workflow `{caller}` calls itself through {}",
                        super::list(through[1..through.len() - 1].iter().map(String::as_str))
                    )
                },
            )
            .with_label(if through.len() == 2 {
                "a run of this workflow would start another run of it"
            } else {
                "this call leads back to the calling workflow"
            });
            for pair in through.windows(2).skip(1) {
                reported.insert((pair[0].clone(), pair[1].clone()));
                if let Some(span) = call_span(file, &pair[0], &pair[1]) {
                    d = d.with_secondary(span, format!("`{}` calls `{}` here", pair[0], pair[1]));
                }
            }
            let chain: Vec<String> = through.iter().map(|w| format!("`{w}`")).collect();
            diags.push(
                d.with_note(format!("call chain: {}", chain.join(" → ")))
                    .with_note("each call starts a child run, so the runs could nest without end")
                    .with_help(
                        "repeat the work inside one workflow, with a bounded edge or a `loop` with `max`",
                    ),
            );
        }
    }
}

/// The workflow name in the first call from `caller` to `callee` in this file.
fn call_span(file: &ast::File, caller: &str, callee: &str) -> Option<Span> {
    let workflow = file.workflows.iter().find(|w| w.name.name == caller)?;
    workflow.states().find_map(|s| match &s.kind {
        StateKind::Call(call) if call.workflow.name == callee => Some(call.workflow.span),
        _ => None,
    })
}

/// The chain of calls from `from` back to `target`, if there is one (breadth-first, shortest).
fn call_chain(calls: &HashMap<&str, &[String]>, from: &str, target: &str) -> Option<Vec<String>> {
    let mut parent: HashMap<&str, &str> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([from]);
    let mut seen = HashSet::from([from]);
    while let Some(current) = queue.pop_front() {
        if current == target {
            let mut chain = vec![current.to_string()];
            let mut at = current;
            while let Some(&p) = parent.get(at) {
                chain.push(p.to_string());
                at = p;
            }
            chain.reverse();
            return Some(chain);
        }
        for next in calls.get(current).copied().unwrap_or_default() {
            if seen.insert(next.as_str()) {
                parent.insert(next.as_str(), current);
                queue.push_back(next.as_str());
            }
        }
    }
    None
}

impl<'a> Scope<'a> {
    /// Builds the symbol tables, reporting names declared twice, in one pass over the items.
    pub(super) fn declare(&mut self, diags: &mut Vec<Diagnostic>) {
        let workflow = self.workflow;
        // Sized once: growing the table would hash every name read so far again. Nearly
        // every item of a large workflow is a state.
        let count = workflow.items.len();
        self.states.reserve(count);
        self.state_ids = super::NameTable::with_capacity(count, 16 * count);
        for (at, item) in workflow.items.iter().enumerate() {
            super::ahead::name(&workflow.items, at, NAMES_AHEAD);
            match item {
                Item::State(state) => {
                    if let StateKind::Call(call) = &state.kind {
                        self.calls.push(call);
                    }
                    let name = state.name.name.as_str();
                    match self.state_ids.insert_new(name) {
                        Err(first) => {
                            diags.push(duplicate(
                                Code::DuplicateName,
                                "state",
                                &state.name,
                                self.states[first].name.span,
                            ));
                            self.duplicates.push(state);
                        }
                        Ok(_) => {
                            self.states.push(state);
                            self.kinds.push(Kind::of(&state.kind));
                        }
                    }
                }
                Item::Worker(worker) => match self.worker_ids.insert_new(&worker.name.name) {
                    Err(first) => diags.push(duplicate(
                        Code::DuplicateName,
                        "worker",
                        &worker.name,
                        self.workers[first].name.span,
                    )),
                    Ok(_) => self.workers.push(worker),
                },
                Item::Signal(signal) => match self.signal_ids.get(signal.name.name.as_str()) {
                    Some(&first) => diags.push(duplicate(
                        Code::DuplicateName,
                        "signal",
                        &signal.name,
                        self.signals[first].name.span,
                    )),
                    None => {
                        self.signal_ids
                            .insert(&signal.name.name, self.signals.len());
                        self.signals.push(signal);
                    }
                },
                _ => {
                    if let Item::Input(block) = item {
                        for field in &block.fields {
                            self.input_signature
                                .push((field.name.name.to_string(), field.default.is_none()));
                            self.declare_input(field, diags);
                        }
                    }
                    self.settings.push(item);
                }
            }
        }
    }

    fn declare_input(&mut self, field: &'a ast::InputField, diags: &mut Vec<Diagnostic>) {
        match self.input_ids.get(field.name.name.as_str()) {
            Some(&first) => diags.push(duplicate(
                Code::DuplicateName,
                "input field",
                &field.name,
                self.inputs[first].name.span,
            )),
            None => {
                self.input_ids.insert(&field.name.name, self.inputs.len());
                self.inputs.push(field);
            }
        }
    }

    /// `start`, `on fail`, and workflow-level settings given twice.
    pub(super) fn resolve_settings(&mut self, diags: &mut Vec<Diagnostic>) {
        let workflow = self.workflow;
        let mut first: HashMap<&'static str, Span> = HashMap::new();
        let settings = std::mem::take(&mut self.settings);
        for &item in &settings {
            let what = match item {
                Item::Input(_) => "input",
                Item::Start(_) => "start",
                Item::Timeout(_) => "timeout",
                Item::MaxSteps(_) => "max_steps",
                Item::DefaultFail(_) => "on fail",
                _ => continue,
            };
            if let Some(&at) = first.get(what) {
                diags.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        item.span(),
                        format!("workflow `{}` has more than one `{what}`", workflow.name),
                    )
                    .with_label("given again here")
                    .with_secondary(at, "first given here")
                    .with_help(format!("keep one `{what}`")),
                );
                continue;
            }
            first.insert(what, item.span());
            match item {
                Item::Start(start) => {
                    let before = diags.len();
                    self.start = self.resolve_state(&start.state, diags);
                    if self.start.is_none() && diags.len() > before {
                        self.start_help(diags.last_mut());
                    }
                }
                Item::DefaultFail(default) => {
                    self.default_fail_target = Some(&default.target);
                    self.default_fail = self.resolve_state(&default.target, diags);
                }
                _ => {}
            }
        }
        self.run_timeout = settings.iter().find_map(|item| match item {
            Item::Timeout(timeout) => Some(&timeout.duration),
            _ => None,
        });
        self.max_steps = settings.iter().find_map(|item| match item {
            Item::MaxSteps(max) => Some(&max.value),
            _ => None,
        });
        self.settings = settings;
        if !first.contains_key("start") {
            let mut d = Diagnostic::error(
                Code::MissingStart,
                workflow.name.span,
                format!("workflow `{}` has no `start`", workflow.name),
            )
            .with_label("no `start` in this workflow");
            if let Some(state) = workflow.states().next() {
                d = d.with_help(format!("add `start {};`", state.name));
            }
            diags.push(d);
        }
    }

    /// For an undefined `start` with no likely typo, suggests a state to start at rather than
    /// a terminal to declare.
    fn start_help(&self, d: Option<&mut Diagnostic>) {
        let Some(d) = d else { return };
        if d.help
            .as_deref()
            .is_some_and(|h| h.starts_with("did you mean"))
        {
            return;
        }
        let first = self.states.iter().find(|s| !s.kind.is_terminal());
        d.help = Some(match first {
            Some(state) => format!(
                "`start` names the first state of a run, such as `{}`",
                state.name
            ),
            None => "`start` names the first state of a run; declare it, for example a `task`"
                .to_string(),
        });
    }

    /// Resolves every transition, arm and loop exit into graph edges, records what the later
    /// passes need of each state in [`Scope::info`] and [`Scope::targets`], and runs the checks
    /// that look at one state at a time. One pass does it all, so that a large workflow's
    /// states are read from memory once rather than once per check. It runs once every
    /// workflow of the file is declared, so that `signatures` holds every workflow's.
    pub(super) fn check_states(
        &mut self,
        signatures: Rc<[Signature]>,
        diags: &mut Vec<Diagnostic>,
    ) {
        self.signatures = signatures;
        let run_limit = self.run_timeout.map(|t| (t, super::settings::Limited::Run));
        // Most states have two or three ways out.
        let mut edges = Vec::with_capacity(3 * self.states.len());
        let mut targets = Vec::with_capacity(3 * self.states.len());
        let mut info = Vec::with_capacity(self.states.len());
        let default_missing = self.default_fail_target.is_some() && self.default_fail.is_none();
        let mut used = super::Used {
            workers: vec![false; self.workers.len()],
            signals: vec![false; self.signals.len()],
            ..Default::default()
        };
        for state in &self.duplicates {
            used.mark(state, self.worker_of(state), self);
        }
        let mut paths = super::dataflow::Paths::new(self);
        let errors = diags.iter().filter(|d| d.is_error()).count();
        let mut lowering = (errors == self.before).then(|| super::lower_ir::Lowering::new(self));
        let mut seen = diags.len();
        for (id, state) in self.states.iter().enumerate() {
            // On a workflow larger than the cache each state's parts come from memory, one
            // after the other unless asked for ahead.
            super::ahead::states(&self.states, id);
            let worker = self.worker_of(state);
            used.mark(state, worker, self);
            let first = targets.len() as u32;
            let mut failure = None;
            let mut own_fail = false;
            // A target that does not resolve (reported already).
            let mut broken = false;
            match &state.kind {
                StateKind::Choice(choice) => {
                    for arm in &choice.arms {
                        broken |= self.edge_to(
                            id,
                            &arm.target,
                            Flow::Route,
                            &mut edges,
                            &mut targets,
                            diags,
                        );
                    }
                    if let Some(otherwise) = &choice.otherwise {
                        broken |= self.edge_to(
                            id,
                            &otherwise.target,
                            Flow::Route,
                            &mut edges,
                            &mut targets,
                            diags,
                        );
                    }
                }
                kind => {
                    for t in kind.transitions() {
                        let flow = match t.event {
                            Event::Fail { .. } | Event::Timeout { .. } => Flow::Failure,
                            _ => Flow::Success,
                        };
                        let at = targets.len();
                        broken |=
                            self.edge_to(id, &t.target, flow, &mut edges, &mut targets, diags);
                        if matches!(t.event, Event::Fail { .. }) && !own_fail {
                            own_fail = true;
                            failure = Some(targets[at]);
                        }
                    }
                    if let StateKind::Loop(lp) = kind
                        && let Some(max) = &lp.max
                        && let Some(otherwise) = &max.otherwise
                    {
                        let to = self.resolve_state(otherwise, diags);
                        targets.push(to.map_or(NONE, |to| to as u32));
                        if let Some(to) = to {
                            edges.push(GraphEdge::new(id, to, Flow::Success, None, max.span));
                        }
                    }
                    if Scope::is_fallible(state)
                        && !own_fail
                        && let Some(to) = self.default_fail
                    {
                        edges.push(GraphEdge::new(id, to, Flow::Failure, None, state.name.span));
                    }
                }
            }
            let failure = match failure {
                Some(to) => to,
                None => self.default_fail.map_or(NONE, |to| to as u32),
            };
            self.check_state_names(state, worker, diags);
            let unhandled = self.check_outcomes(state, worker, diags);
            self.check_failure_paths(state, diags);
            super::settings::check_state(state, run_limit.as_ref(), diags);
            let incomplete = broken
                || (Scope::is_fallible(state) && !own_fail && default_missing)
                || unhandled
                || matches!(&state.kind, StateKind::Choice(choice) if choice.otherwise.is_none())
                || matches!(&state.kind, StateKind::Wait(wait) if wait.timeout.is_some()
                    && !wait.transitions.iter().any(|t| matches!(t.event, Event::Timeout { .. })));
            let weight = match &state.kind {
                StateKind::Loop(lp) => lp.max.as_ref().map_or(1, |max| max.count.value.max(1)),
                _ => 1,
            };
            let summary = StateInfo {
                incomplete,
                weight,
                failure,
                targets: first,
                worker: worker.map_or(NONE, |w| w as u32),
            };
            info.push(summary);
            paths.state(self, id, state, diags);
            if let Some(lowered) = &mut lowering {
                // Lowered as long as no error has been found: after one, the IR is not used.
                let failed = diags[seen..].iter().any(|d| d.is_error());
                seen = diags.len();
                if failed || !lowered.state(self, summary, &targets, &paths.last_state, state) {
                    lowering = None;
                }
            }
        }
        self.edges = edges;
        self.targets = targets;
        self.used = used;
        self.paths = paths;
        self.lowering = lowering;
        self.info = info;
    }

    /// Adds the edges of one target; true when a name in it does not resolve.
    fn edge_to(
        &self,
        from: usize,
        target: &Target,
        flow: Flow,
        edges: &mut Vec<GraphEdge>,
        targets: &mut Vec<u32>,
        diags: &mut Vec<Diagnostic>,
    ) -> bool {
        let to = self.resolve_state(&target.state, diags);
        let bound = target.bound.as_ref();
        let otherwise = bound.and_then(|b| self.resolve_state(&b.otherwise, diags));
        targets.push(to.map_or(NONE, |to| to as u32));
        if bound.is_some() {
            targets.push(otherwise.map_or(NONE, |to| to as u32));
        }
        if let Some(to) = to {
            let max = bound.map(|b| b.max.value);
            edges.push(GraphEdge::new(from, to, flow, max, target.span));
        }
        if let Some(otherwise) = otherwise {
            edges.push(GraphEdge::new(from, otherwise, flow, None, target.span));
        }
        to.is_none() || (bound.is_some() && otherwise.is_none())
    }

    /// Workers, signals and called workflows named by states, and loop or map variables that
    /// hide a state of the same name. `worker` is the id of the worker a task, map or loop
    /// runs (see [`Scope::worker_of`]).
    pub(super) fn check_state_names(
        &self,
        state: &ast::State,
        worker: Option<usize>,
        diags: &mut Vec<Diagnostic>,
    ) {
        if let Some(name) = state.kind.worker() {
            self.resolve_worker(name, worker, diags);
        }
        match &state.kind {
            StateKind::Map(map) => self.check_variable(&map.item, diags),
            StateKind::Parallel(parallel) => {
                for branch in &parallel.branches {
                    let id = self.worker_ids.get(&branch.worker.name);
                    self.resolve_worker(&branch.worker, id, diags);
                }
            }
            StateKind::Wait(wait) => self.resolve_signal(&wait.signal, diags),
            StateKind::Call(call) => self.resolve_workflow(&call.workflow, diags),
            _ => {}
        }
        if let StateKind::Loop(lp) = &state.kind
            && let Some(var) = &lp.var
        {
            self.check_variable(var, diags);
        }
    }

    /// Reports `name` undefined unless it resolved to `id`.
    fn resolve_worker(&self, name: &ast::Ident, id: Option<usize>, diags: &mut Vec<Diagnostic>) {
        if name.name.is_empty() || id.is_some() {
            return;
        }
        let mut d = Diagnostic::error(
            Code::UndefinedWorker,
            name.span,
            format!(
                "no worker named `{name}` in workflow `{}`",
                self.workflow.name
            ),
        )
        .with_label("not a declared worker");
        d = match suggest::closest(&name.name, self.worker_ids.names()) {
            Some(best) => d.with_help(format!("did you mean `{best}`?")),
            None => d.with_help(format!("declare it: `worker {name};`")),
        };
        diags.push(d);
    }

    fn resolve_signal(&self, name: &ast::Ident, diags: &mut Vec<Diagnostic>) {
        if name.name.is_empty() || self.signal_ids.contains_key(name.name.as_str()) {
            return;
        }
        let mut d = Diagnostic::error(
            Code::UndefinedSignal,
            name.span,
            format!(
                "no signal named `{name}` in workflow `{}`",
                self.workflow.name
            ),
        )
        .with_label("not a declared signal");
        d = match suggest::closest(&name.name, self.signal_ids.keys().copied()) {
            Some(best) => d.with_help(format!("did you mean `{best}`?")),
            None => d.with_help(format!("declare it: `signal {name};`")),
        };
        diags.push(d);
    }

    fn resolve_workflow(&self, name: &ast::Ident, diags: &mut Vec<Diagnostic>) {
        if name.name.is_empty() || self.signatures.iter().any(|s| s.name == name.name) {
            return;
        }
        let mut d = Diagnostic::error(
            Code::UndefinedWorkflow,
            name.span,
            format!("no workflow named `{name}`"),
        )
        .with_label("not a workflow of the sources compiled together");
        d = match suggest::closest(&name.name, self.signatures.iter().map(|s| s.name.as_str())) {
            Some(best) => d.with_help(format!("did you mean `{best}`?")),
            None => d.with_help("define it in this source or in one compiled with it"),
        };
        diags.push(d);
    }

    fn check_variable(&self, var: &ast::Ident, diags: &mut Vec<Diagnostic>) {
        let clash = if var.name == "input" {
            Some("the run's input")
        } else if self.state_ids.get(&var.name).is_some() {
            Some("a state")
        } else {
            None
        };
        if let Some(what) = clash {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    var.span,
                    format!("variable `{var}` has the name of {what}"),
                )
                .with_label("this name is already taken")
                .with_help("choose a variable name that no state uses"),
            );
        }
    }

    /// The worker or signal whose declared outcomes a task or wait must handle.
    fn declared_outcomes(
        &self,
        state: &'a ast::State,
        worker: Option<usize>,
    ) -> Option<(
        &'static str,
        &'a ast::Ident,
        &'a ast::Outcomes,
        &'a [ast::Transition],
    )> {
        match &state.kind {
            StateKind::Task(task) => {
                let worker = self.workers[worker?];
                Some((
                    "worker",
                    &worker.name,
                    worker.outcomes.as_ref()?,
                    &task.transitions,
                ))
            }
            StateKind::Wait(wait) => {
                let signal = self.signals[*self.signal_ids.get(wait.signal.name.as_str())?];
                Some((
                    "signal",
                    &signal.name,
                    signal.outcomes.as_ref()?,
                    &wait.transitions,
                ))
            }
            _ => None,
        }
    }

    /// Declared outcomes of a state's worker or signal that it has no transition for. An
    /// outcome suggested as the fix of a misspelt transition counts as handled: the misspelt
    /// transition is reported instead.
    pub(super) fn unhandled_outcomes(
        &self,
        state: &'a ast::State,
        worker: Option<usize>,
    ) -> Vec<&'a ast::Ident> {
        let Some((_, _, declared, transitions)) = self.declared_outcomes(state, worker) else {
            return Vec::new();
        };
        let fixes = undeclared_outcomes(declared, transitions);
        declared
            .labels
            .iter()
            .filter(|d| {
                !transitions
                    .iter()
                    .any(|t| outcome_label(&t.event).as_deref() == Some(d.name.as_str()))
            })
            .filter(|d| !fixes.iter().any(|(_, fix)| *fix == Some(d.name.as_str())))
            .collect()
    }

    /// Tasks and waits against the outcomes their worker or signal declares: every
    /// transition names a declared outcome, and every declared outcome has a transition.
    /// True when a declared outcome has no transition.
    pub(super) fn check_outcomes(
        &self,
        state: &'a ast::State,
        worker: Option<usize>,
        diags: &mut Vec<Diagnostic>,
    ) -> bool {
        let Some((what, name, declared, transitions)) = self.declared_outcomes(state, worker)
        else {
            return false;
        };
        // The usual case, every transition for a declared outcome and every declared outcome
        // handled, is told without the lists the messages are built from.
        let label = |t: &'a ast::Transition| match &t.event {
            Event::Ok { .. } => Some("ok"),
            Event::Outcome { label } => Some(label.name.as_str()),
            _ => None,
        };
        if transitions
            .iter()
            .all(|t| label(t).is_none_or(|l| declared.contains(l)))
            && declared.labels.iter().all(|d| {
                transitions
                    .iter()
                    .any(|t| label(t) == Some(d.name.as_str()))
            })
        {
            return false;
        }
        for (t, fix) in undeclared_outcomes(declared, transitions) {
            let Some(label) = outcome_label(&t.event) else {
                continue;
            };
            let mut d = Diagnostic::error(
                Code::UndeclaredOutcome,
                t.event.span(),
                format!("{what} `{name}` has no outcome `{label}`"),
            )
            .with_label("not among the declared outcomes")
            .with_secondary(declared.span, "the outcomes it declares");
            d = match fix {
                Some("ok") => d.with_help("did you mean `ok ->`?"),
                Some(best) => d.with_help(format!("did you mean `{best}`?")),
                None => d.with_help(format!(
                    "add `{label}` to the outcomes of `{name}`, or remove this transition"
                )),
            };
            diags.push(d);
        }
        let kind = state.kind.keyword();
        let unhandled = self.unhandled_outcomes(state, worker);
        for label in &unhandled {
            let arrow = if label.name == "ok" {
                "ok ->".to_string()
            } else {
                format!("on {label} ->")
            };
            diags.push(
                Diagnostic::error(
                    Code::UnhandledOutcome,
                    state.name.span,
                    format!(
                        "{kind} `{}` does not handle outcome `{label}` of `{name}`",
                        state.name
                    ),
                )
                .with_label(format!("no `{arrow}` here"))
                .with_secondary(label.span, "declared here")
                .with_note(format!(
                    "`{name}` declares that it may reply `{label}`, so every {kind} {} must say where that reply goes",
                    if what == "worker" { "that runs it" } else { "for it" }
                ))
                .with_help(format!("add `{arrow} <state>;`")),
            );
        }
        !unhandled.is_empty()
    }
}

/// How many items ahead the pass that declares names asks for a state's or worker's name.
const NAMES_AHEAD: usize = 16;

/// The transitions for outcomes that are not declared, each with the declared outcome it was
/// probably meant to be: the closest by spelling, or else the only declared outcome left
/// unhandled when only one transition is left unexplained.
fn undeclared_outcomes<'t>(
    declared: &'t ast::Outcomes,
    transitions: &'t [ast::Transition],
) -> Vec<(&'t ast::Transition, Option<&'t str>)> {
    let labels: Vec<String> = transitions
        .iter()
        .filter_map(|t| outcome_label(&t.event))
        .collect();
    let mut fixes: Vec<(&ast::Transition, Option<&str>)> = transitions
        .iter()
        .filter_map(|t| Some((t, outcome_label(&t.event)?)))
        .filter(|(_, label)| !declared.contains(label))
        .map(|(t, label)| {
            let names = declared.labels.iter().map(|l| l.name.as_str());
            (t, suggest::closest(&label, names))
        })
        .collect();
    let left: Vec<&str> = declared
        .labels
        .iter()
        .map(|l| l.name.as_str())
        .filter(|l| !labels.iter().any(|h| h == l) && !fixes.iter().any(|(_, f)| f == &Some(*l)))
        .collect();
    let unexplained: Vec<usize> = (0..fixes.len()).filter(|&i| fixes[i].1.is_none()).collect();
    if let ([only], [i]) = (left.as_slice(), unexplained.as_slice()) {
        fixes[*i].1 = Some(only);
    }
    fixes
}

/// The outcome an event stands for: `ok` or a custom label.
fn outcome_label(event: &Event) -> Option<String> {
    match event {
        Event::Ok { .. } => Some("ok".to_string()),
        Event::Outcome { label } => Some(label.name.to_string()),
        _ => None,
    }
}
