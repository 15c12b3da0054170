//! Paths in templates and conditions: every path starts at a known root and reads only states
//! that have definitely completed on every path to the use.
//!
//! Definite completion is dominance. In a graph where every success exit of state `x` passes
//! through a virtual node `done(x)` and every failure exit through `failed(x)`, "`x` has
//! completed before `s` on every path" is exactly "`done(x)` dominates `s`". One dominator tree
//! answers every query in constant time.

use std::collections::VecDeque;

use super::dominators::{Csr, NONE as NONE_NODE};
use super::graph::Analysis;
use super::table::Kind;
use super::{Flow, Scope, Used};
use crate::ast::{self, JoinKind, StateKind, Value};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{Name, PathExpr, Root, Segment};
use crate::span::Span;
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
#[derive(Clone, Copy)]
pub(super) enum Need {
    Nothing,
    /// `x.output`, `x.outcome`: `x` completed.
    Completed(u32),
    /// `x.error`: `x` finished, either way.
    Finished(u32),
    /// `p.b.output`: the parallel completed with every branch. The flag says whether `p`
    /// waits for all its branches ([`joins_all`]), so that checking the read does not go back
    /// to the tree.
    Branch(u32, u32, bool),
}

/// What the data-flow pass learned, for the warnings and the IR.
#[derive(Default)]
pub(super) struct Usage {
    /// By input field id.
    pub inputs_read: Vec<bool>,
    pub whole_input_read: bool,
}

/// Dominator tree of the augmented state graph, with DFS intervals for O(1) queries.
struct Dominance {
    states: usize,
    enter: Vec<u32>,
    exit: Vec<u32>,
    /// The augmented graph's successors.
    graph: Csr,
    start: usize,
}

impl Dominance {
    fn new(scope: &Scope<'_>, start: usize) -> Dominance {
        let n = scope.states.len();
        let mut graph = Csr::new(3 * n, || {
            let split = (0..n as u32).flat_map(|i| {
                let n = n as u32;
                [(i, n + 2 * i), (i, n + 2 * i + 1)]
            });
            let edges = scope.edges.iter().map(|edge| {
                let via = match edge.flow {
                    Flow::Success => n + 2 * edge.from(),
                    Flow::Failure => n + 2 * edge.from() + 1,
                    Flow::Route => edge.from(),
                };
                (via as u32, edge.to() as u32)
            });
            split.chain(edges)
        });
        let idom = super::dominators::immediate_dominators(&graph, start);
        graph.forget_predecessors();
        // The children of each node of the dominator tree, in node order, as ranges of one
        // list: `children[first[v]..first[v + 1]]`.
        let mut first = vec![0u32; 3 * n + 1];
        for &parent in idom.iter().filter(|&&p| p != NONE_NODE) {
            first[parent as usize + 1] += 1;
        }
        for v in 0..3 * n {
            first[v + 1] += first[v];
        }
        let mut children = vec![0u32; first[3 * n] as usize];
        // Where each node's next child goes: the node's start, moved along as it fills.
        let mut fill = first.clone();
        for (v, &parent) in idom.iter().enumerate() {
            if parent != NONE_NODE {
                let at = &mut fill[parent as usize];
                children[*at as usize] = v as u32;
                *at += 1;
            }
        }
        drop(idom);
        let mut enter = vec![u32::MAX; 3 * n];
        let mut exit = vec![0; 3 * n];
        let mut clock = 0u32;
        // Each node once to enter it and once to leave it, with the low bit set; sized once:
        // on a long workflow the tree is deep, and the stack as long as the tree is deep.
        let mut stack = Vec::with_capacity(2 * 3 * n);
        stack.push((start as u32) << 1);
        while let Some(top) = stack.pop() {
            let v = (top >> 1) as usize;
            if top & 1 == 1 {
                exit[v] = clock;
                continue;
            }
            enter[v] = clock;
            clock += 1;
            stack.push(top | 1);
            let (from, to) = (first[v] as usize, first[v + 1] as usize);
            stack.extend(children[from..to].iter().map(|&c| c << 1));
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

    /// A run from `start` to `to` that avoids `avoid`, as the nodes of the augmented graph.
    fn witness(&self, avoid: usize, to: usize) -> Vec<usize> {
        let mut parent = vec![usize::MAX; self.graph.node_count()];
        let mut queue = VecDeque::from([self.start]);
        parent[self.start] = self.start;
        while let Some(at) = queue.pop_front() {
            if at == to {
                break;
            }
            for &next in self.graph.successors(at) {
                let next = next as usize;
                if next != avoid && parent[next] == usize::MAX {
                    parent[next] = at;
                    queue.push_back(next);
                }
            }
        }
        let mut path = Vec::new();
        let mut at = to;
        while parent[at] != usize::MAX && at != self.start {
            path.push(at);
            at = parent[at];
        }
        path.push(self.start);
        path.reverse();
        path
    }

    /// The state a node stands for, and how the run leaves it there.
    fn state_of(&self, node: usize) -> (usize, Flow) {
        if node < self.states {
            (node, Flow::Route)
        } else if (node - self.states).is_multiple_of(2) {
            ((node - self.states) / 2, Flow::Success)
        } else {
            ((node - self.states) / 2, Flow::Failure)
        }
    }
}

/// Where a path is read. State ids here and in [`Need`] are 32-bit: the list of reads holds
/// every read of a workflow, and is written in one pass and read in another.
#[derive(Clone, Copy)]
enum Site {
    /// On entry to a state.
    Before(u32),
    /// In a loop's `until`, after the iteration: the loop's own output is available.
    Until(u32),
}

impl Site {
    /// The state, and the state whose own output is readable there (a loop's, in its `until`).
    fn at(self) -> (usize, Option<usize>) {
        match self {
            Site::Before(at) => (at as usize, None),
            Site::Until(at) => (at as usize, Some(at as usize)),
        }
    }
}

/// A path read by a state, resolved, and what its read needs to have happened before it.
pub(super) struct Use<'a> {
    /// Read again only to report an error: the checks use the fields below.
    path: &'a ast::Path,
    /// Written with a trailing `?`.
    optional: bool,
    need: Need,
    site: Site,
}

/// Resolves the paths of the states, one state at a time, in the pass that reads each state
/// once ([`Scope::check_states`]); [`check`] then checks what each read needs against the
/// dominator tree without reading the states again.
#[derive(Default)]
pub(super) struct Paths<'a> {
    /// The reads that need something, or that are written with `?`, in source order.
    pub uses: Vec<Use<'a>>,
    /// The paths of the state resolved last, in the order they were read, with their roots
    /// and the segments those consumed: the lowering reads the same paths in the same order,
    /// and takes their roots from here rather than resolving them again.
    pub last_state: Vec<(&'a ast::Path, Root, usize)>,
    /// Paths that read a terminal state, and the state. Their message suggests a state that
    /// runs before it, so it is written once the edges are known.
    pub terminal_reads: Vec<(&'a ast::Path, usize)>,
    pub usage: Usage,
}

impl<'a> Paths<'a> {
    pub fn new(scope: &Scope<'a>) -> Paths<'a> {
        Paths {
            // Most states read two or three paths.
            uses: Vec::with_capacity(3 * scope.states.len()),
            last_state: Vec::new(),
            terminal_reads: Vec::new(),
            usage: Usage {
                inputs_read: vec![false; scope.inputs.len()],
                whole_input_read: false,
            },
        }
    }

    /// Resolves the paths that `state` reads.
    pub fn state(
        &mut self,
        scope: &Scope<'a>,
        id: usize,
        state: &'a ast::State,
        diags: &mut Vec<Diagnostic>,
    ) {
        self.last_state.clear();
        Resolver {
            scope,
            paths: self,
            diags,
        }
        .state(id, state);
    }
}

/// Checks that every path reads only what has surely happened before it.
pub(super) fn check(scope: &Scope<'_>, _graph: &Analysis, diags: &mut Vec<Diagnostic>) {
    for &(path, state) in &scope.paths.terminal_reads {
        diags.push(terminal_read(scope, path, state));
    }
    let dominance = scope.start.map(|start| Dominance::new(scope, start));
    let mut checker = Checker {
        scope,
        dominance,
        diags,
    };
    for read in &scope.paths.uses {
        if read.optional {
            // `x.output?` may be read before `x` has run; a `?` where it surely has is noise.
            if checker.is_definite(read.need, read.site) {
                checker.diags.push(unneeded_maybe(read.path));
            }
        } else {
            checker.check_definite(read.path, read.need, read.site);
        }
    }
}

struct Resolver<'s, 'a, 'p, 'd> {
    scope: &'s Scope<'a>,
    paths: &'p mut Paths<'a>,
    diags: &'d mut Vec<Diagnostic>,
}

impl<'a> Resolver<'_, 'a, '_, '_> {
    fn state(&mut self, id: usize, state: &'a ast::State) {
        let here = Site::Before(id as u32);
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
                    self.condition(until, Site::Until(id as u32), vars);
                }
            }
            StateKind::Call(call) => {
                self.with(call.with.as_ref(), here, none);
                self.call_input(call);
            }
            StateKind::Choice(choice) => {
                for arm in &choice.arms {
                    self.condition(&arm.condition, here, none);
                }
            }
            StateKind::Succeed(ast::Succeed {
                output: Some(value),
            })
            | StateKind::Fail(ast::Fail { error: Some(value) }) => self.value(value, here, none),
            _ => {}
        }
    }

    fn with(&mut self, with: Option<&'a ast::With>, site: Site, vars: Vars<'_>) {
        for entry in with.map(|w| w.entries.as_slice()).unwrap_or_default() {
            self.value(&entry.value, site, vars);
        }
    }

    /// The paths of a condition, in source order (as [`ast::Expr::paths`] lists them).
    fn condition(&mut self, expr: &'a ast::Expr, site: Site, vars: Vars<'_>) {
        match expr {
            ast::Expr::Binary { lhs, rhs, .. } => {
                self.condition(lhs, site, vars);
                self.condition(rhs, site, vars);
            }
            ast::Expr::Not { expr, .. } => self.condition(expr, site, vars),
            ast::Expr::Exists { path, .. } | ast::Expr::Path(path) => self.path(path, site, vars),
            ast::Expr::Literal(_) => {}
        }
    }

    fn value(&mut self, value: &'a Value, site: Site, vars: Vars<'_>) {
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

    fn path(&mut self, path: &'a ast::Path, site: Site, vars: Vars<'_>) {
        let usage = &mut self.paths.usage;
        let Resolved { root, skip, need } = match resolve(self.scope, path, vars) {
            Ok(found) => found,
            Err(d) => {
                // A misspelt input field would also make the intended one look unused.
                if path.root.name == "input" {
                    usage.whole_input_read = true;
                }
                match reads_terminal(self.scope, path, vars) {
                    Some(state) => self.paths.terminal_reads.push((path, state)),
                    None => self.diags.push(d),
                }
                return;
            }
        };
        self.paths.last_state.push((path, root.clone(), skip));
        if root == Root::Input {
            match path.segments.first() {
                Some(ast::Segment::Field(field)) => {
                    if let Some(&id) = self.scope.input_ids.get(field.name.as_str()) {
                        usage.inputs_read[id] = true;
                    }
                }
                _ => usage.whole_input_read = true,
            }
        }
        if path.optional || !matches!(need, Need::Nothing) {
            self.paths.uses.push(Use {
                path,
                optional: path.optional,
                need,
                site,
            });
        }
    }
}

struct Checker<'s, 'a, 'd> {
    scope: &'s Scope<'a>,
    dominance: Option<Dominance>,
    diags: &'d mut Vec<Diagnostic>,
}

impl Checker<'_, '_, '_> {
    /// True when what `need` asks for has surely happened on every path to `site`.
    fn is_definite(&self, need: Need, site: Site) -> bool {
        let Some(dominance) = &self.dominance else {
            return true;
        };
        let (at, own) = site.at();
        let done = |node: usize| node != at && dominance.dominates(node, at);
        match need {
            Need::Nothing => true,
            Need::Completed(x) if Some(x as usize) == own => true,
            Need::Completed(x) => done(dominance.done(x as usize)),
            Need::Finished(x) => x as usize != at && dominance.dominates(x as usize, at),
            Need::Branch(_, _, false) => false,
            Need::Branch(p, _, true) => done(dominance.done(p as usize)),
        }
    }

    fn check_definite(&mut self, path: &ast::Path, need: Need, site: Site) {
        let Some(dominance) = &self.dominance else {
            return;
        };
        let scope = self.scope;
        let (at, own) = site.at();
        let (state, node, need_kind) = match need {
            Need::Nothing => return,
            Need::Completed(x) if Some(x as usize) == own => return,
            Need::Completed(x) => {
                let x = x as usize;
                (x, dominance.done(x), NeedKind::Completed)
            }
            Need::Finished(x) if x as usize == at => (at, at, NeedKind::Finished),
            Need::Finished(x) => {
                let x = x as usize;
                if dominance.dominates(x, at) {
                    return;
                }
                (x, x, NeedKind::Finished)
            }
            Need::Branch(p, b, all) => {
                let (p, b) = (p as usize, b as usize);
                if !all && let StateKind::Parallel(parallel) = &scope.states[p].kind {
                    self.diags.push(partial_join(scope, path, p, b, parallel));
                    return;
                }
                (p, dominance.done(p), NeedKind::Completed)
            }
        };
        if node != at && dominance.dominates(node, at) {
            return;
        }
        let witness = dominance.witness(node, at);
        let run: Vec<usize> = witness
            .iter()
            .copied()
            .filter(|&v| v < scope.states.len())
            .collect();
        let failed_first =
            matches!(need_kind, NeedKind::Completed) && run.contains(&state) && state != at;
        let miss = Miss {
            x: state,
            at,
            need: need_kind,
            run,
            failed_first,
            hop: last_hop(scope, dominance, &witness),
        };
        self.diags.push(incomplete(scope, path, &miss));
    }
}

impl Resolver<'_, '_, '_, '_> {
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
                    .with_note(format!(
                        "`{name}` has no default in `{}`, so every call must pass it",
                        signature.name
                    ))
                    .with_help(if call.with.is_some() {
                        format!("add `{name}: …` to the `with` block")
                    } else {
                        format!("add `with {{ {name}: … }}` to the call")
                    }),
                );
            }
        }
    }
}

#[derive(Clone, Copy)]
enum NeedKind {
    /// `x.output`, `x.outcome`: `x` must have completed.
    Completed,
    /// `x.error`: `x` must have run.
    Finished,
}

/// The last transition of a run that reaches `at` without `x` done, as (from, flow, span).
fn last_hop(
    scope: &Scope<'_>,
    dominance: &Dominance,
    witness: &[usize],
) -> Option<(usize, Flow, Span)> {
    let [.., before, at] = witness else {
        return None;
    };
    let (from, flow) = dominance.state_of(*before);
    let edge = scope
        .edges
        .iter()
        .find(|e| e.from() == from && e.to() == *at && e.flow == flow)?;
    Some((from, flow, edge.span))
}

/// A read of `x` at `at` where `x` may not have completed (or run, for `x.error`).
struct Miss {
    x: usize,
    at: usize,
    need: NeedKind,
    /// The states of a run from `start` to `at` that does not complete `x`.
    run: Vec<usize>,
    /// The run passes through `x` and leaves it by its failure path.
    failed_first: bool,
    /// The run's last transition: from, how, where it is written.
    hop: Option<(usize, Flow, Span)>,
}

fn incomplete(scope: &Scope<'_>, path: &ast::Path, miss: &Miss) -> Diagnostic {
    let &Miss {
        x,
        at,
        need,
        failed_first,
        hop,
        ..
    } = miss;
    let run = &miss.run;
    let name = scope.name(x);
    let here = scope.name(at);
    let (verb, without) = match need {
        NeedKind::Completed => ("completed", format!("without completing `{name}`")),
        NeedKind::Finished => ("run", format!("without running `{name}`")),
    };
    let mut d = Diagnostic::error(
        Code::MaybeIncomplete,
        path.span,
        format!("`{path}` is read where `{name}` may not have {verb}"),
    )
    .with_label(format!("`{name}` may not have {verb} here"));
    let shown: Vec<String> = run
        .iter()
        .map(|&s| format!("`{}`", scope.name(s)))
        .collect();
    if x == at {
        d = d.with_note(format!("`{name}` reads its own result before it has one"));
    } else if run.len() <= 1 {
        if let Some(start) = scope
            .workflow
            .items
            .iter()
            .find(|i| matches!(i, ast::Item::Start(_)))
        {
            d = d.with_secondary(start.span(), "runs start here");
        }
        d = d.with_note(format!("runs start at `{here}`, before `{name}` has run"));
    } else {
        if let Some((from, flow, span)) = hop {
            let label = if from == x && flow == Flow::Failure {
                format!("a run comes here when `{name}` fails")
            } else {
                format!("a run can come this way {without}")
            };
            d = d.with_secondary(span, label);
        }
        d = d.with_note(if failed_first {
            format!(
                "a run can reach `{here}` by {}, after `{name}` has failed",
                shown.join(" → ")
            )
        } else {
            format!(
                "a run can reach `{here}` by {} {without}",
                shown.join(" → ")
            )
        });
    }
    let help = match &scope.states[at].kind {
        StateKind::Loop(lp) if x == at => match &lp.var {
            Some(var) => format!("use `{var}.previous` for the previous iteration's output"),
            None => format!(
                "name the iteration, `loop {name} by … as round`, and read `round.previous`"
            ),
        },
        _ if x == at => {
            let next = scope
                .edges
                .iter()
                .find(|e| e.from() == x && e.flow == Flow::Success && e.to() != x)
                .map(|e| scope.name(e.to()));
            match next {
                Some(next) => format!("read `{path}` in a state after `{name}`, such as `{next}`"),
                None => format!("read `{path}` in a state after `{name}`"),
            }
        }
        _ if failed_first => format!("on a failure path, read `{name}.error` for what went wrong"),
        _ => match need {
            NeedKind::Completed => {
                format!("read it only in states that every run reaches after `{name}` completes")
            }
            NeedKind::Finished => format!(
                "read it only in states that every run reaches through `{name}`, such as a `fail` state of its own"
            ),
        },
    };
    d.with_help(help)
}

fn joins_all(parallel: &ast::Parallel) -> bool {
    match parallel.join.as_ref().map(|j| &j.kind) {
        None | Some(JoinKind::All) => true,
        Some(JoinKind::Any) => parallel.branches.len() <= 1,
        // `join 0` is reported as out of range; reads of its branches are not reported again.
        Some(JoinKind::Count(n)) => n.value == 0 || n.value as usize >= parallel.branches.len(),
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
        "read `{name}.output`, which holds the outputs of the branches that completed, or use `join all`"
    ))
}

/// A path's root, resolved: what it reads and how many of its segments the root consumed
/// (`x.output` consumes `output`, `p.b.output` consumes `b` and `output`).
pub(super) struct Resolved {
    pub root: Root,
    pub skip: usize,
    pub need: Need,
}

impl Resolved {
    /// The IR path: the resolved root and the segments below it.
    pub fn expr(self, path: &ast::Path) -> PathExpr {
        path_expr(self.root, self.skip, path)
    }
}

/// The IR path of `path`, whose root resolved to `root` and consumed its first `skip` segments.
pub(super) fn path_expr(root: Root, skip: usize, path: &ast::Path) -> PathExpr {
    PathExpr {
        root,
        segments: path.segments[skip.min(path.segments.len())..]
            .iter()
            .map(|s| match s {
                ast::Segment::Field(f) => Segment::Field(f.name.clone()),
                ast::Segment::Index { index, .. } => Segment::Index(*index),
            })
            .collect(),
        text: short_text(path).unwrap_or_else(|| text(path)),
    }
}

/// The text of a path of names alone that fits in a [`Name`] without a heap block, the usual
/// path (`task_12.output`, `input.goal`): its parts copied into one buffer and the name made
/// from it at once, where [`text`] appends them to the name one by one.
fn short_text(path: &ast::Path) -> Option<Name> {
    const INLINE: usize = 24;
    let mut buffer = [0u8; INLINE];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        let end = len + bytes.len();
        buffer.get_mut(len..end)?.copy_from_slice(bytes);
        len = end;
        Some(())
    };
    put(path.root.name.as_bytes())?;
    for segment in &path.segments {
        let ast::Segment::Field(field) = segment else {
            return None;
        };
        put(b".")?;
        put(field.name.as_bytes())?;
    }
    if path.optional {
        put(b"?")?;
    }
    std::str::from_utf8(&buffer[..len]).ok().map(Name::new)
}

/// The path as written, the same as its `Display`, allocated once at its exact length: the
/// IR keeps one such text for every path of a workflow.
fn text(path: &ast::Path) -> Name {
    let digits = |n: i64| n.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 1;
    let len = path.root.name.len()
        + path
            .segments
            .iter()
            .map(|s| match s {
                ast::Segment::Field(f) => 1 + f.name.len(),
                ast::Segment::Index { index, .. } => 2 + usize::from(*index < 0) + digits(*index),
            })
            .sum::<usize>()
        + usize::from(path.optional);
    let mut out = Name::with_capacity(len);
    out.push_str(&path.root.name);
    for segment in &path.segments {
        match segment {
            ast::Segment::Field(f) => {
                out.push('.');
                out.push_str(&f.name);
            }
            ast::Segment::Index { index, .. } => {
                use std::fmt::Write;
                let _ = write!(out, "[{index}]");
            }
        }
    }
    if path.optional {
        out.push('?');
    }
    out
}

/// Resolves a path's root and first segments, without checking definite completion. Nothing is
/// allocated unless the path is wrong: every path is resolved for the checks, and only the
/// lowering, while no error has been found, builds its [`PathExpr`] (with [`Resolved::expr`]).
// Diagnostics are built only on the error path, which is rare.
#[allow(clippy::result_large_err)]
pub(super) fn resolve(
    scope: &Scope<'_>,
    path: &ast::Path,
    vars: Vars<'_>,
) -> Result<Resolved, Diagnostic> {
    let root = path.root.name.as_str();
    let segments = path.segments.len();
    let make = |root: Root, skip: usize, need: Need| Resolved { root, skip, need };
    let field = |i: usize| match path.segments.get(i) {
        Some(ast::Segment::Field(f)) => Some(f),
        _ => None,
    };
    if vars.item == Some(root) {
        return Ok(make(Root::Item, 0, Need::Nothing));
    }
    if vars.loop_var == Some(root) {
        return match field(0).map(|f| f.name.as_str()) {
            Some("index") if segments == 1 => Ok(make(Root::LoopIndex, 1, Need::Nothing)),
            Some("previous") => Ok(make(Root::LoopPrevious, 1, Need::Nothing)),
            Some("index") => Err(invalid(
                path.span,
                format!("`{root}.index` is a number and has no fields"),
                "a number has no fields",
                format!("write `{root}.index`"),
            )),
            _ => {
                let help = format!(
                    "read `{root}.index`, the iteration number from 1, or `{root}.previous`, the previous iteration's output"
                );
                Err(match field(0) {
                    Some(f) => invalid(
                        f.span,
                        format!("loop variable `{root}` has no field `{f}`"),
                        "not a field of the loop variable",
                        help,
                    ),
                    None => invalid(
                        path.span,
                        format!("loop variable `{root}` is read without a field"),
                        "not a value",
                        help,
                    ),
                })
            }
        };
    }
    if root == "input" {
        return match path.segments.first() {
            None => Ok(make(Root::Input, 0, Need::Nothing)),
            Some(ast::Segment::Field(f)) if scope.input_ids.contains_key(f.name.as_str()) => {
                Ok(make(Root::Input, 0, Need::Nothing))
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
                path.span,
                "the input is an object and cannot be indexed".to_string(),
                "`input` has named fields",
                match scope.inputs.first() {
                    Some(f) => format!("read a field, such as `input.{}`", f.name),
                    None => "declare fields with `input { … }` and read them as `input.field`"
                        .to_string(),
                },
            )),
        };
    }
    let Some(state) = scope.state(root) else {
        return Err(unknown_root(scope, path, vars));
    };
    // Most paths read a task's `.output`: its kind is in the dense table, and the state itself
    // is read only for a choice, a terminal or a parallel's branches, and for messages.
    let simple = !matches!(
        scope.kinds[state],
        Kind::Choice | Kind::Succeed | Kind::Fail | Kind::Parallel
    );
    if !simple {
        let kind = &scope.states[state].kind;
        match kind {
            StateKind::Choice(choice) => {
                let routed_on = choice
                    .arms
                    .iter()
                    .flat_map(|arm| arm.condition.paths())
                    .find(|p| p.root.name != root);
                return Err(invalid(
                    path.root.span,
                    format!("choice `{root}` has no output"),
                    "a choice only routes the run",
                    match routed_on {
                        Some(p) => format!("read the data it routes on instead, such as `{p}`"),
                        None => "read the states before or after it instead".to_string(),
                    },
                ));
            }
            StateKind::Succeed(_) | StateKind::Fail(_) => {
                return Err(terminal_read(scope, path, state));
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
                        path.span,
                        format!("branch `{first}` of `{root}` is read without `.output`"),
                        "a branch has `.output`, `.outcome` and `.error`",
                        format!("did you mean `{}`?", with_output(path, 2)),
                    ));
                }
            };
            let need = if matches!(root_of, Root::BranchError { .. }) {
                Need::Finished(state as u32)
            } else {
                Need::Branch(state as u32, b as u32, joins_all(parallel))
            };
            return Ok(make(root_of, 2, need));
        }
    }
    let id = state as u32;
    match field(0).map(|f| f.name.as_str()) {
        Some("output") => Ok(make(Root::Output { state }, 1, Need::Completed(id))),
        Some("outcome") => Ok(make(Root::Outcome { state }, 1, Need::Completed(id))),
        Some("error") => Ok(make(Root::Error { state }, 1, Need::Finished(id))),
        _ => Err(no_such_field(path, &scope.states[state].kind)),
    }
}

/// The terminal state a path reads, when that is why [`resolve`] rejects it.
fn reads_terminal(scope: &Scope<'_>, path: &ast::Path, vars: Vars<'_>) -> Option<usize> {
    let root = path.root.name.as_str();
    if vars.item == Some(root) || vars.loop_var == Some(root) || root == "input" {
        return None;
    }
    let state = scope.state(root)?;
    scope.kinds[state].is_terminal().then_some(state)
}

fn invalid(span: Span, message: String, label: &str, help: String) -> Diagnostic {
    Diagnostic::error(Code::InvalidPath, span, message)
        .with_label(label)
        .with_help(help)
}

/// The path with `.output` inserted after its first `skip` names: `a.b` → `a.output.b`.
fn with_output(path: &ast::Path, skip: usize) -> String {
    let mut names = vec![path.root.name.to_string()];
    for segment in &path.segments {
        names.push(match segment {
            ast::Segment::Field(f) => format!(".{f}"),
            ast::Segment::Index { index, .. } => format!("[{index}]"),
        });
    }
    let at = skip.min(names.len());
    let mut out: String = names[..at].concat();
    out.push_str(".output");
    out.push_str(&names[at..].concat());
    out
}

/// A state read without `.output`, `.outcome` or `.error`, or a parallel's unknown branch.
fn no_such_field(path: &ast::Path, kind: &StateKind) -> Diagnostic {
    let root = &path.root;
    let keyword = kind.keyword();
    let Some(first) = path.segments.first() else {
        return Diagnostic::error(
            Code::InvalidPath,
            path.span,
            format!("`{root}` is a state, not a value"),
        )
        .with_label("a state has `.output`, `.outcome` and `.error`")
        .with_help(format!("did you mean `{root}.output`?"));
    };
    let (span, name) = match first {
        ast::Segment::Field(f) => (f.span, f.name.as_str()),
        ast::Segment::Index { span, .. } => {
            return Diagnostic::error(
                Code::InvalidPath,
                *span,
                format!("{keyword} `{root}` cannot be indexed"),
            )
            .with_label("a state has `.output`, `.outcome` and `.error`")
            .with_help(format!("did you mean `{}`?", with_output(path, 1)));
        }
    };
    if let StateKind::Parallel(parallel) = kind {
        let branches: Vec<&str> = parallel
            .branches
            .iter()
            .map(|b| b.name.name.as_str())
            .collect();
        let help = match suggest::closest(name, branches.iter().copied()) {
            Some(best) => format!("did you mean branch `{best}`?"),
            None => format!(
                "its branches are {}; `{root}.output` holds the outputs of them all",
                super::list(branches.iter().copied())
            ),
        };
        return Diagnostic::error(
            Code::InvalidPath,
            span,
            format!("parallel `{root}` has no branch or field `{name}`"),
        )
        .with_label(format!("not a branch of `{root}`"))
        .with_help(help);
    }
    let help = match suggest::closest(name, ["output", "outcome", "error"]) {
        Some(best) => format!("did you mean `{root}.{best}`?"),
        None => format!("did you mean `{}`?", with_output(path, 1)),
    };
    Diagnostic::error(
        Code::InvalidPath,
        span,
        format!("{keyword} `{root}` has no field `{name}`"),
    )
    .with_label("a state has `.output`, `.outcome` and `.error`")
    .with_help(help)
}

/// A read of a terminal state, which has no result: nothing runs after it.
fn terminal_read(scope: &Scope<'_>, path: &ast::Path, state: usize) -> Diagnostic {
    let root = &path.root;
    let failing = matches!(scope.states[state].kind, StateKind::Fail(_));
    let flow = if failing {
        Flow::Failure
    } else {
        Flow::Success
    };
    let before = scope
        .edges
        .iter()
        .find(|e| e.to() == state && e.flow == flow && e.from() != state)
        .map(|e| scope.name(e.from()));
    let help = match (before, failing) {
        (Some(before), true) => {
            format!("read the error of the state that failed, such as `{before}.error`")
        }
        (Some(before), false) => {
            format!("read the output of the state before it, such as `{before}.output`")
        }
        (None, _) => "read the states that run before it instead".to_string(),
    };
    Diagnostic::error(
        Code::InvalidPath,
        root.span,
        format!("`{root}` is a terminal state and has no result to read"),
    )
    .with_label("the run ends here; nothing runs after it")
    .with_help(help)
}

fn unknown_root(scope: &Scope<'_>, path: &ast::Path, vars: Vars<'_>) -> Diagnostic {
    let root = &path.root;
    if let Some(d) = variable_out_of_scope(scope, root) {
        return d;
    }
    let mut d = Diagnostic::error(
        Code::UnknownRoot,
        root.span,
        format!("`{root}` is not the input, a state or a variable in scope"),
    )
    .with_label("unknown name");
    let candidates = scope
        .state_ids
        .names()
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

/// A map's or a loop's variable read outside that state's `with`.
fn variable_out_of_scope(scope: &Scope<'_>, root: &ast::Ident) -> Option<Diagnostic> {
    let (state, kind, help) = scope.states.iter().find_map(|s| match &s.kind {
        StateKind::Map(map) if map.item.name == root.name => Some((
            s,
            "map",
            format!(
                "after the map, read `{}.output`, the list of every element's output",
                s.name
            ),
        )),
        StateKind::Loop(lp) if lp.var.as_ref().is_some_and(|var| var.name == root.name) => Some((
            s,
            "loop",
            format!(
                "after the loop, read `{}.output`, the output of its last iteration",
                s.name
            ),
        )),
        _ => None,
    })?;
    let var = match &state.kind {
        StateKind::Map(map) => &map.item,
        StateKind::Loop(lp) => lp.var.as_ref()?,
        _ => return None,
    };
    Some(
        Diagnostic::error(
            Code::UnknownRoot,
            root.span,
            format!("`{root}` is not in scope here"),
        )
        .with_label("not in scope")
        .with_secondary(
            var.span,
            format!(
                "the variable of {kind} `{}`, in scope only in its `with`",
                state.name
            ),
        )
        .with_help(help),
    )
}

impl Scope<'_> {
    /// Warns about workers, signals and input fields that nothing uses.
    pub(super) fn warn_unused(&self, diags: &mut Vec<Diagnostic>) {
        let usage = &self.paths.usage;
        let Used {
            workers,
            signals,
            misspelt_worker,
            misspelt_signal,
        } = &self.used;
        let (misspelt_worker, misspelt_signal) = (*misspelt_worker, *misspelt_signal);
        for (worker, _) in self
            .workers
            .iter()
            .zip(workers)
            .filter(|&(_, &used)| !misspelt_worker && !used)
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
        for (signal, _) in self
            .signals
            .iter()
            .zip(signals)
            .filter(|&(_, &used)| !misspelt_signal && !used)
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
        for (field, _) in self
            .inputs
            .iter()
            .zip(&usage.inputs_read)
            .filter(|(_, read)| !**read)
        {
            diags.push(
                Diagnostic::warning(
                    Code::UnusedInput,
                    field.name.span,
                    format!("input field `{}` is never read", field.name),
                )
                .with_label("no path reads this field")
                .with_help(format!("read it as `input.{}`, or remove it", field.name)),
            );
        }
    }
}

fn unneeded_maybe(path: &ast::Path) -> Diagnostic {
    let plain = path.to_string().trim_end_matches('?').to_string();
    Diagnostic::warning(
        Code::UnneededMaybe,
        path.span,
        format!("`{path}` does not need `?`"),
    )
    .with_label("this value is surely there when it is read")
    .with_note("`?` is for reads of a state that may not have run yet")
    .with_help(format!("write `{plain}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_the_path_as_displayed() {
        let ident = |name: &str| ast::Ident {
            name: name.into(),
            span: Span::default(),
        };
        let index = |index| ast::Segment::Index {
            index,
            span: Span::default(),
        };
        for (segments, optional) in [
            (vec![], false),
            (vec![ast::Segment::Field(ident("output"))], true),
            (
                vec![
                    ast::Segment::Field(ident("output")),
                    index(0),
                    index(9),
                    index(10),
                    index(-1),
                    index(-100),
                    index(i64::MAX),
                    index(i64::MIN),
                    ast::Segment::Field(ident("déjà")),
                ],
                false,
            ),
        ] {
            let path = ast::Path {
                root: ident("plan"),
                segments,
                optional,
                span: Span::default(),
            };
            let text = text(&path);
            assert_eq!(text, path.to_string());
            // Sized once: inline when short, else one block of exactly its length.
            if text.is_heap_allocated() {
                assert_eq!(text.capacity(), text.len());
            }
        }
    }

    #[test]
    fn a_short_text_is_the_text_when_the_path_has_names_alone_and_fits_inline() {
        let ident = |name: &str| ast::Ident {
            name: name.into(),
            span: Span::default(),
        };
        let path = |root: &str, fields: &[&str], optional: bool| ast::Path {
            root: ident(root),
            segments: fields
                .iter()
                .map(|f| ast::Segment::Field(ident(f)))
                .collect(),
            optional,
            span: Span::default(),
        };
        for path in [
            path("x", &[], false),
            path("task_12", &["output"], false),
            path("input", &["goal"], true),
            path("fan_1234", &["draft", "output"], false),
            // 24 bytes, the most a name holds inline.
            path("review_102345678", &["output"], true),
            path("déjà", &["vu"], false),
        ] {
            let short = short_text(&path).expect("short");
            assert_eq!(short, text(&path));
            assert!(!short.is_heap_allocated());
        }
        let long = path("a_rather_long_state_name", &["output"], false);
        assert_eq!(short_text(&long), None);
        let mut indexed = path("plan", &["output"], false);
        indexed.segments.push(ast::Segment::Index {
            index: 0,
            span: Span::default(),
        });
        assert_eq!(short_text(&indexed), None);
    }
}
