//! Paths in templates and conditions: every path starts at a known root and reads only states
//! that have definitely completed on every path to the use.
//!
//! Definite completion is dominance. In a graph where every success exit of state `x` passes
//! through a virtual node `done(x)` and every failure exit through `failed(x)`, "`x` has
//! completed before `s` on every path" is exactly "`done(x)` dominates `s`". One dominator tree
//! answers every query in constant time.

use std::collections::{HashSet, VecDeque};

use petgraph::algo::dominators;
use petgraph::graph::{DiGraph, NodeIndex};

use super::graph::Analysis;
use super::{Flow, Scope};
use crate::ast::{self, JoinKind, StateKind, Value};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{PathExpr, Root, Segment};
use crate::suggest;

/// Variables in scope at a use.
#[derive(Clone, Copy, Default)]
pub(super) struct Vars<'a> {
    /// A `map`'s element variable.
    pub item: Option<&'a str>,
    /// A `loop`'s variable (`v.index`, `v.previous`).
    pub loop_var: Option<&'a str>,
}

/// What a resolved path needs to have happened before the use.
pub(super) enum Need {
    Nothing,
    /// `x.output`, `x.outcome`: `x` completed.
    Completed(usize),
    /// `x.error`: `x` finished, either way.
    Finished(usize),
    /// `p.b.output`: the parallel completed with every branch.
    Branch(usize, usize),
}

/// What the data-flow pass learned, for the warnings and the IR.
#[derive(Default)]
pub(super) struct Usage {
    pub inputs_read: HashSet<String>,
    pub whole_input_read: bool,
}

/// Dominator tree of the augmented state graph, with DFS intervals for O(1) queries.
struct Dominance {
    states: usize,
    enter: Vec<u32>,
    exit: Vec<u32>,
    graph: DiGraph<(), ()>,
    start: usize,
}

impl Dominance {
    fn new(scope: &Scope<'_>, start: usize) -> Dominance {
        let n = scope.states.len();
        let mut graph = DiGraph::with_capacity(3 * n, 2 * scope.edges.len());
        for _ in 0..3 * n {
            graph.add_node(());
        }
        for i in 0..n {
            graph.add_edge(NodeIndex::new(i), NodeIndex::new(n + 2 * i), ());
            graph.add_edge(NodeIndex::new(i), NodeIndex::new(n + 2 * i + 1), ());
        }
        for edge in &scope.edges {
            let via = match edge.flow {
                Flow::Success => n + 2 * edge.from,
                Flow::Failure => n + 2 * edge.from + 1,
                Flow::Route => edge.from,
            };
            graph.add_edge(NodeIndex::new(via), NodeIndex::new(edge.to), ());
        }
        let tree = dominators::simple_fast(&graph, NodeIndex::new(start));
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); 3 * n];
        for v in 0..3 * n {
            if let Some(parent) = tree.immediate_dominator(NodeIndex::new(v)) {
                children[parent.index()].push(v);
            }
        }
        let mut enter = vec![u32::MAX; 3 * n];
        let mut exit = vec![0; 3 * n];
        let mut clock = 0u32;
        let mut stack = vec![(start, false)];
        while let Some((v, done)) = stack.pop() {
            if done {
                exit[v] = clock;
                continue;
            }
            enter[v] = clock;
            clock += 1;
            stack.push((v, true));
            stack.extend(children[v].iter().map(|&c| (c, false)));
        }
        Dominance {
            states: n,
            enter,
            exit,
            graph,
            start,
        }
    }

    fn dominates(&self, a: usize, b: usize) -> bool {
        if self.enter[b] == u32::MAX {
            return true; // unreachable: reported elsewhere
        }
        self.enter[a] != u32::MAX && self.enter[a] <= self.enter[b] && self.exit[b] <= self.exit[a]
    }

    fn done(&self, x: usize) -> usize {
        self.states + 2 * x
    }

    /// A run from `start` to `to` that avoids `avoid`, as state ids.
    fn witness(&self, avoid: usize, to: usize) -> Vec<usize> {
        let mut parent = vec![usize::MAX; self.graph.node_count()];
        let mut queue = VecDeque::from([self.start]);
        parent[self.start] = self.start;
        while let Some(at) = queue.pop_front() {
            if at == to {
                break;
            }
            for next in self.graph.neighbors(NodeIndex::new(at)) {
                let next = next.index();
                if next != avoid && parent[next] == usize::MAX {
                    parent[next] = at;
                    queue.push_back(next);
                }
            }
        }
        let mut path = Vec::new();
        let mut at = to;
        while parent[at] != usize::MAX && at != self.start {
            if at < self.states {
                path.push(at);
            }
            at = parent[at];
        }
        path.push(self.start);
        path.reverse();
        path
    }
}

/// Where a path is read.
#[derive(Clone, Copy)]
enum Site {
    /// On entry to a state.
    Before(usize),
    /// In a loop's `until`, after the iteration: the loop's own output is available.
    Until(usize),
}

pub(super) fn check(scope: &Scope<'_>, _graph: &Analysis, diags: &mut Vec<Diagnostic>) -> Usage {
    let dominance = scope.start.map(|start| Dominance::new(scope, start));
    let mut checker = Checker {
        scope,
        dominance,
        usage: Usage::default(),
        diags,
    };
    for (id, state) in scope.states.iter().enumerate() {
        checker.state(id, state);
    }
    checker.usage
}

struct Checker<'s, 'a, 'd> {
    scope: &'s Scope<'a>,
    dominance: Option<Dominance>,
    usage: Usage,
    diags: &'d mut Vec<Diagnostic>,
}

impl Checker<'_, '_, '_> {
    fn state(&mut self, id: usize, state: &ast::State) {
        let here = Site::Before(id);
        let none = Vars::default();
        match &state.kind {
            StateKind::Task(task) => self.with(task.with.as_ref(), here, none),
            StateKind::Parallel(parallel) => {
                for branch in &parallel.branches {
                    self.with(branch.with.as_ref(), here, none);
                }
            }
            StateKind::Map(map) => {
                self.path(&map.over, here, none);
                let vars = Vars {
                    item: Some(&map.item.name),
                    loop_var: None,
                };
                self.with(map.with.as_ref(), here, vars);
            }
            StateKind::Loop(lp) => {
                let vars = Vars {
                    item: None,
                    loop_var: lp.var.as_ref().map(|v| v.name.as_str()),
                };
                self.with(lp.with.as_ref(), here, vars);
                if let Some(until) = &lp.until {
                    for path in until.paths() {
                        self.path(path, Site::Until(id), vars);
                    }
                }
            }
            StateKind::Call(call) => {
                self.with(call.with.as_ref(), here, none);
                self.call_input(call);
            }
            StateKind::Choice(choice) => {
                for arm in &choice.arms {
                    for path in arm.condition.paths() {
                        self.path(path, here, none);
                    }
                }
            }
            StateKind::Succeed(ast::Succeed {
                output: Some(value),
            })
            | StateKind::Fail(ast::Fail { error: Some(value) }) => self.value(value, here, none),
            _ => {}
        }
    }

    fn with(&mut self, with: Option<&ast::With>, site: Site, vars: Vars<'_>) {
        for entry in with.map(|w| w.entries.as_slice()).unwrap_or_default() {
            self.value(&entry.value, site, vars);
        }
    }

    fn value(&mut self, value: &Value, site: Site, vars: Vars<'_>) {
        match value {
            Value::Template(template) => {
                for path in template.paths() {
                    self.path(path, site, vars);
                }
            }
            Value::List { items, .. } => {
                for item in items {
                    self.value(item, site, vars);
                }
            }
            Value::Object { entries, .. } => {
                for entry in entries {
                    self.value(&entry.value, site, vars);
                }
            }
            Value::Path(path) => self.path(path, site, vars),
            Value::Number(_) | Value::Bool { .. } | Value::Null { .. } => {}
        }
    }

    fn path(&mut self, path: &ast::Path, site: Site, vars: Vars<'_>) {
        let (resolved, need) = match resolve(self.scope, path, vars) {
            Ok(found) => found,
            Err(d) => {
                // A misspelt input field would also make the intended one look unused.
                if path.root.name == "input" {
                    self.usage.whole_input_read = true;
                }
                self.diags.push(d);
                return;
            }
        };
        if resolved.root == Root::Input {
            match path.segments.first() {
                Some(ast::Segment::Field(field)) => {
                    self.usage.inputs_read.insert(field.name.clone());
                }
                _ => self.usage.whole_input_read = true,
            }
        }
        self.check_definite(path, need, site);
    }

    fn check_definite(&mut self, path: &ast::Path, need: Need, site: Site) {
        let Some(dominance) = &self.dominance else {
            return;
        };
        let scope = self.scope;
        let (at, own) = match site {
            Site::Before(at) => (at, None),
            Site::Until(at) => (at, Some(at)),
        };
        let (state, node) = match need {
            Need::Nothing => return,
            Need::Completed(x) if Some(x) == own => return,
            Need::Completed(x) => (x, dominance.done(x)),
            Need::Finished(x) if x == at => (x, x),
            Need::Finished(x) => {
                if dominance.dominates(x, at) {
                    return;
                }
                (x, x)
            }
            Need::Branch(p, b) => {
                if let StateKind::Parallel(parallel) = &scope.states[p].kind
                    && !joins_all(parallel)
                {
                    self.diags.push(partial_join(scope, path, p, b, parallel));
                    return;
                }
                (p, dominance.done(p))
            }
        };
        if node != at && dominance.dominates(node, at) {
            return;
        }
        let run: Vec<String> = dominance
            .witness(node, at)
            .iter()
            .map(|&s| format!("`{}`", scope.name(s)))
            .collect();
        let name = scope.name(state);
        let mut d = Diagnostic::error(
            Code::MaybeIncomplete,
            path.span,
            format!("`{path}` is read before `{name}` has surely completed"),
        )
        .with_label(format!("`{name}` may not have completed here"));
        d = if state == at {
            d.with_note(format!("`{name}` reads its own result before it has one"))
        } else if run.len() <= 1 {
            d.with_note(format!(
                "runs start at `{}`, before `{name}` has run",
                scope.name(at)
            ))
        } else {
            d.with_note(format!(
                "a run can reach `{}` by {} without completing `{name}`",
                scope.name(at),
                run.join(" → ")
            ))
        };
        let help = match &scope.states[at].kind {
            StateKind::Loop(ast::Loop { var: Some(var), .. }) if state == at => {
                format!("use `{var}.previous` for the previous iteration's output")
            }
            StateKind::Loop(ast::Loop { var: None, .. }) if state == at => {
                format!(
                    "name the iteration, `loop {name} by … as round`, and read `round.previous`"
                )
            }
            _ => format!("read it only in states that every run reaches after `{name}` completes"),
        };
        self.diags.push(d.with_help(help));
    }

    fn call_input(&mut self, call: &ast::Call) {
        let Some(signature) = self
            .scope
            .signatures
            .iter()
            .find(|s| s.name == call.workflow.name)
        else {
            return;
        };
        let entries = call
            .with
            .as_ref()
            .map(|w| w.entries.as_slice())
            .unwrap_or_default();
        for entry in entries {
            if !signature
                .inputs
                .iter()
                .any(|(name, _)| *name == entry.key.name)
            {
                let mut d = Diagnostic::error(
                    Code::CallInput,
                    entry.key.span,
                    format!(
                        "workflow `{}` has no input field `{}`",
                        signature.name, entry.key.name
                    ),
                )
                .with_label("not an input of the called workflow");
                let names = signature.inputs.iter().map(|(n, _)| n.as_str());
                if let Some(best) = suggest::closest(&entry.key.name, names) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
                self.diags.push(d);
            }
        }
        for (name, required) in &signature.inputs {
            if *required && !entries.iter().any(|e| e.key.name == *name) {
                let at = call.with.as_ref().map_or(call.workflow.span, |w| w.span);
                self.diags.push(
                    Diagnostic::error(
                        Code::CallInput,
                        at,
                        format!(
                            "call of `{}` misses the required input `{name}`",
                            signature.name
                        ),
                    )
                    .with_label(format!("`{name}` is not given here"))
                    .with_help(format!("add `{name}: …` to the `with` block")),
                );
            }
        }
    }
}

fn joins_all(parallel: &ast::Parallel) -> bool {
    match parallel.join.as_ref().map(|j| &j.kind) {
        None | Some(JoinKind::All) => true,
        Some(JoinKind::Any) => parallel.branches.len() <= 1,
        Some(JoinKind::Count(n)) => n.value as usize >= parallel.branches.len(),
    }
}

fn partial_join(
    scope: &Scope<'_>,
    path: &ast::Path,
    p: usize,
    b: usize,
    parallel: &ast::Parallel,
) -> Diagnostic {
    let name = scope.name(p);
    let branch = &parallel.branches[b].name;
    let mut d = Diagnostic::error(
        Code::MaybeIncomplete,
        path.span,
        format!("`{path}` is read, but branch `{branch}` of `{name}` may not have completed"),
    )
    .with_label("this branch may have been cancelled");
    if let Some(join) = &parallel.join {
        d = d.with_secondary(
            join.span,
            "the parallel may finish before every branch does",
        );
    }
    d.with_help(format!(
        "read `{name}.output`, which holds the branches that completed, or use `join all`"
    ))
}

/// Resolves a path's root and first segments, without checking definite completion.
// Diagnostics are built only on the error path, which is rare.
#[allow(clippy::result_large_err)]
pub(super) fn resolve(
    scope: &Scope<'_>,
    path: &ast::Path,
    vars: Vars<'_>,
) -> Result<(PathExpr, Need), Diagnostic> {
    let root = path.root.name.as_str();
    let segments: Vec<Segment> = path
        .segments
        .iter()
        .map(|s| match s {
            ast::Segment::Field(f) => Segment::Field(f.name.clone()),
            ast::Segment::Index { index, .. } => Segment::Index(*index),
        })
        .collect();
    let make = |root: Root, skip: usize| PathExpr {
        root,
        segments: segments[skip.min(segments.len())..].to_vec(),
        text: path.to_string(),
    };
    let field = |i: usize| match path.segments.get(i) {
        Some(ast::Segment::Field(f)) => Some(f),
        _ => None,
    };
    if vars.item == Some(root) {
        return Ok((make(Root::Item, 0), Need::Nothing));
    }
    if vars.loop_var == Some(root) {
        return match field(0).map(|f| f.name.as_str()) {
            Some("index") if segments.len() == 1 => Ok((make(Root::LoopIndex, 1), Need::Nothing)),
            Some("previous") => Ok((make(Root::LoopPrevious, 1), Need::Nothing)),
            _ => Err(invalid(
                path,
                format!("loop variable `{root}` has `{root}.index` and `{root}.previous`"),
            )),
        };
    }
    if root == "input" {
        return match path.segments.first() {
            None => Ok((make(Root::Input, 0), Need::Nothing)),
            Some(ast::Segment::Field(f)) if scope.input_ids.contains_key(f.name.as_str()) => {
                Ok((make(Root::Input, 0), Need::Nothing))
            }
            Some(ast::Segment::Field(f)) => {
                let mut d = Diagnostic::error(
                    Code::UnknownRoot,
                    f.span,
                    format!(
                        "workflow `{}` has no input field `{f}`",
                        scope.workflow.name
                    ),
                )
                .with_label("not a declared input field");
                d = match suggest::closest(&f.name, scope.input_ids.keys().copied()) {
                    Some(best) => d.with_help(format!("did you mean `input.{best}`?")),
                    None => d.with_help(format!("declare it: `input {{ {f}: string }}`")),
                };
                Err(d)
            }
            Some(ast::Segment::Index { .. }) => Err(invalid(
                path,
                "the input is an object; read a field such as `input.goal`".into(),
            )),
        };
    }
    let Some(state) = scope.state(root) else {
        return Err(unknown_root(scope, path, vars));
    };
    let kind = &scope.states[state].kind;
    match kind {
        StateKind::Choice(_) => {
            return Err(invalid(
                path,
                format!("choice `{root}` produces no data; read the states it leads to"),
            ));
        }
        StateKind::Succeed(_) | StateKind::Fail(_) => {
            return Err(invalid(
                path,
                format!("`{root}` ends the run; nothing runs after it"),
            ));
        }
        _ => {}
    }
    if let (StateKind::Parallel(parallel), Some(first)) = (kind, field(0))
        && let Some(b) = parallel
            .branches
            .iter()
            .position(|b| b.name.name == first.name)
    {
        let root_of = match field(1).map(|f| f.name.as_str()) {
            Some("output") => Root::BranchOutput { state, branch: b },
            Some("outcome") => Root::BranchOutcome { state, branch: b },
            Some("error") => Root::BranchError { state, branch: b },
            _ => {
                return Err(invalid(
                    path,
                    format!(
                        "read branch `{first}` through `{root}.{first}.output`, `.outcome` or `.error`"
                    ),
                ));
            }
        };
        let need = if matches!(root_of, Root::BranchError { .. }) {
            Need::Finished(state)
        } else {
            Need::Branch(state, b)
        };
        return Ok((make(root_of, 2), need));
    }
    match field(0).map(|f| f.name.as_str()) {
        Some("output") => Ok((make(Root::Output { state }, 1), Need::Completed(state))),
        Some("outcome") => Ok((make(Root::Outcome { state }, 1), Need::Completed(state))),
        Some("error") => Ok((make(Root::Error { state }, 1), Need::Finished(state))),
        _ => {
            let mut message = format!(
                "read state `{root}` through `{root}.output`, `{root}.outcome` or `{root}.error`"
            );
            if let StateKind::Parallel(parallel) = kind
                && let Some(b) = parallel.branches.first()
            {
                message.push_str(&format!(", or a branch such as `{root}.{}.output`", b.name));
            }
            Err(invalid(path, message))
        }
    }
}

fn invalid(path: &ast::Path, help: String) -> Diagnostic {
    Diagnostic::error(
        Code::InvalidPath,
        path.span,
        format!("`{path}` does not name data"),
    )
    .with_label("not a readable value")
    .with_help(help)
}

fn unknown_root(scope: &Scope<'_>, path: &ast::Path, vars: Vars<'_>) -> Diagnostic {
    let root = &path.root;
    let mut d = Diagnostic::error(
        Code::UnknownRoot,
        root.span,
        format!("`{root}` is not the input, a state or a variable in scope"),
    )
    .with_label("unknown name");
    let candidates = scope
        .state_ids
        .keys()
        .copied()
        .chain(["input"])
        .chain(vars.item)
        .chain(vars.loop_var);
    if let Some(best) = suggest::closest(&root.name, candidates) {
        d = d.with_help(format!("did you mean `{best}`?"));
    } else {
        d = d.with_help("paths start at `input`, a state name, or a `map`/`loop` variable");
    }
    d
}

impl Scope<'_> {
    /// Warns about workers, signals and input fields that nothing uses.
    pub(super) fn warn_unused(&self, usage: &Usage, diags: &mut Vec<Diagnostic>) {
        let mut workers = HashSet::new();
        let mut signals = HashSet::new();
        for state in &self.states {
            match &state.kind {
                StateKind::Task(ast::Task { worker, .. })
                | StateKind::Map(ast::Map { worker, .. })
                | StateKind::Loop(ast::Loop { worker, .. }) => {
                    workers.insert(worker.name.as_str());
                }
                StateKind::Parallel(parallel) => {
                    workers.extend(parallel.branches.iter().map(|b| b.worker.name.as_str()));
                }
                StateKind::Wait(wait) => {
                    signals.insert(wait.signal.name.as_str());
                }
                _ => {}
            }
        }
        for worker in self
            .workers
            .iter()
            .filter(|w| !workers.contains(w.name.name.as_str()))
        {
            diags.push(
                Diagnostic::warning(
                    Code::Unused,
                    worker.name.span,
                    format!("worker `{}` is never used", worker.name),
                )
                .with_label("no state runs this worker")
                .with_help("remove it, or give it a task"),
            );
        }
        for signal in self
            .signals
            .iter()
            .filter(|s| !signals.contains(s.name.name.as_str()))
        {
            diags.push(
                Diagnostic::warning(
                    Code::Unused,
                    signal.name.span,
                    format!("signal `{}` is never used", signal.name),
                )
                .with_label("no `wait` waits for this signal")
                .with_help("remove it, or add a `wait` for it"),
            );
        }
        if usage.whole_input_read {
            return;
        }
        for field in self
            .inputs
            .iter()
            .filter(|f| !usage.inputs_read.contains(&f.name.name))
        {
            diags.push(
                Diagnostic::warning(
                    Code::UnusedInput,
                    field.name.span,
                    format!("input field `{}` is never read", field.name),
                )
                .with_label("no template or condition reads this field")
                .with_help(format!(
                    "read it as `{{{{input.{}}}}}`, or remove it",
                    field.name
                )),
            );
        }
    }
}
