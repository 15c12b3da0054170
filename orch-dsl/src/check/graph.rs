//! The state graph: reachability, ways out, failure paths, bounded cycles and the worst-case
//! number of steps.

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, EdgeFiltered, EdgeRef, NodeFiltered, Reversed};

use super::Scope;
use crate::ast::{self, Event, StateKind};
use crate::diagnostic::{Code, Diagnostic};

/// The state graph of one workflow; an edge's weight is its index in [`Scope::edges`].
pub(super) struct Analysis {
    pub graph: DiGraph<(), usize>,
    pub reachable: Vec<bool>,
    pub productive: Vec<bool>,
}

fn node(i: usize) -> NodeIndex {
    NodeIndex::new(i)
}

impl Analysis {
    pub fn new(scope: &Scope<'_>) -> Analysis {
        let n = scope.states.len();
        let mut graph = DiGraph::with_capacity(n, scope.edges.len());
        for _ in 0..n {
            graph.add_node(());
        }
        for (i, edge) in scope.edges.iter().enumerate() {
            graph.add_edge(node(edge.from), node(edge.to), i);
        }
        let mut reachable = vec![false; n];
        if let Some(start) = scope.start {
            let mut bfs = Bfs::new(&graph, node(start));
            while let Some(at) = bfs.next(&graph) {
                reachable[at.index()] = true;
            }
        }
        let mut productive = vec![false; n];
        let terminals: Vec<usize> = (0..n)
            .filter(|&i| scope.states[i].kind.is_terminal())
            .collect();
        if let Some((&first, rest)) = terminals.split_first() {
            let reversed = Reversed(&graph);
            let mut bfs = Bfs::new(reversed, node(first));
            for &t in rest {
                bfs.discovered.insert(t);
                bfs.stack.push_back(node(t));
            }
            while let Some(at) = bfs.next(reversed) {
                productive[at.index()] = true;
            }
        }
        Analysis {
            graph,
            reachable,
            productive,
        }
    }

    pub fn check(&self, scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) {
        self.check_reachable(scope, diags);
        self.check_ways_out(scope, diags);
        self.check_bounded_cycles(scope, diags);
    }

    fn check_reachable(&self, scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) {
        let Some(start) = scope.start else {
            return;
        };
        for (id, state) in scope.states.iter().enumerate() {
            if self.reachable[id] {
                continue;
            }
            diags.push(
                Diagnostic::error(
                    Code::Unreachable,
                    state.name.span,
                    format!("state `{}` is unreachable from `start`", state.name),
                )
                .with_label("no transition from a reachable state leads here")
                .with_help(format!(
                    "add a transition to it from a state reached from `{}`, or remove it",
                    scope.name(start)
                )),
            );
        }
    }

    /// Reports reachable states from which no terminal can be reached: loops with no way out
    /// and dead ends. Only the innermost groups are reported; the states that lead into them
    /// are fixed with them.
    fn check_ways_out(&self, scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) {
        let stuck = |n: NodeIndex| !self.productive[n.index()] && self.reachable[n.index()];
        let sub = NodeFiltered::from_fn(&self.graph, stuck);
        for group in tarjan_scc(&sub) {
            let ids: Vec<usize> = group.iter().map(|n| n.index()).collect();
            let leaves_group = ids.iter().any(|&id| {
                self.graph
                    .neighbors(node(id))
                    .any(|to| !ids.contains(&to.index()))
            });
            if leaves_group || ids.iter().any(|&id| scope.broken_state(id)) {
                continue;
            }
            let cyclic = ids.len() > 1 || self.graph.contains_edge(group[0], group[0]);
            let mut ids = ids;
            ids.sort_by_key(|&id| scope.states[id].name.span);
            let first = scope.states[ids[0]];
            let d = if cyclic {
                let names: Vec<String> = ids
                    .iter()
                    .map(|&id| format!("`{}`", scope.name(id)))
                    .collect();
                let mut d = Diagnostic::error(
                    Code::NoWayOut,
                    first.name.span,
                    format!("states {} form a loop with no way out", names.join(", ")),
                )
                .with_label("no terminal state can be reached from here");
                for &id in &ids[1..] {
                    d = d.with_secondary(scope.states[id].name.span, "part of the loop");
                }
                d.with_help("give one of these states a transition to a `succeed` or `fail` state")
            } else if Scope::is_fallible(first) && scope.failure_target(first).is_none() {
                continue; // reported as a missing failure path
            } else {
                Diagnostic::error(
                    Code::NoWayOut,
                    first.name.span,
                    format!("no terminal state can be reached from `{}`", first.name),
                )
                .with_label("every run that gets here is stuck")
                .with_help("add a transition to a `succeed` or `fail` state")
            };
            diags.push(d);
        }
    }

    /// Every cycle must pass through a bounded edge; `loop` states iterate inside themselves.
    fn check_bounded_cycles(&self, scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) {
        let unbounded =
            EdgeFiltered::from_fn(&self.graph, |e| scope.edges[*e.weight()].bound.is_none());
        for group in tarjan_scc(&unbounded) {
            // A state repeating itself through a bounded edge is not an unbounded cycle.
            let cyclic = group.len() > 1
                || self
                    .graph
                    .edges_connecting(group[0], group[0])
                    .any(|e| scope.edges[*e.weight()].bound.is_none());
            let all_reported = group
                .iter()
                .all(|n| !self.reachable[n.index()] || !self.productive[n.index()]);
            if !cyclic || all_reported {
                continue;
            }
            let cycle = self.find_cycle(scope, &group);
            diags.push(unbounded_cycle(scope, &cycle));
        }
    }

    /// A shortest cycle through the first state (in source order) of a strongly connected group,
    /// as the indices of the unbounded edges that form it.
    fn find_cycle(&self, scope: &Scope<'_>, group: &[NodeIndex]) -> Vec<usize> {
        let in_group = |n: NodeIndex| group.contains(&n);
        let head = *group
            .iter()
            .min_by_key(|n| scope.states[n.index()].name.span)
            .unwrap_or(&group[0]);
        let mut via: Vec<Option<usize>> = vec![None; scope.states.len()];
        let mut queue = std::collections::VecDeque::from([head]);
        while let Some(at) = queue.pop_front() {
            for edge in self.graph.edges(at) {
                let index = *edge.weight();
                if scope.edges[index].bound.is_some() || !in_group(edge.target()) {
                    continue;
                }
                if edge.target() == head {
                    let mut cycle = vec![index];
                    let mut back = at;
                    while back != head {
                        let Some(prev) = via[back.index()] else { break };
                        cycle.push(prev);
                        back = node(scope.edges[prev].from);
                    }
                    cycle.reverse();
                    return cycle;
                }
                if via[edge.target().index()].is_none() {
                    via[edge.target().index()] = Some(index);
                    queue.push_back(edge.target());
                }
            }
        }
        Vec::new()
    }

    /// An upper bound on the steps of a run: the longest path through unbounded edges (a loop
    /// counts its `max` iterations), plus, for every bounded edge, its `max` times the longest
    /// path from its target. `None` while an unbounded cycle remains.
    pub fn worst_case_steps(&self, scope: &Scope<'_>) -> Option<u64> {
        let start = scope.start?;
        let unbounded =
            EdgeFiltered::from_fn(&self.graph, |e| scope.edges[*e.weight()].bound.is_none());
        let order = toposort(&unbounded, None).ok()?;
        let mut longest = vec![0u64; scope.states.len()];
        for &at in order.iter().rev() {
            let tail = self
                .graph
                .edges(at)
                .filter(|e| scope.edges[*e.weight()].bound.is_none())
                .map(|e| longest[e.target().index()])
                .max()
                .unwrap_or(0);
            longest[at.index()] = weight(scope.states[at.index()]).saturating_add(tail);
        }
        let bounded = scope
            .edges
            .iter()
            .filter(|e| self.reachable[e.from])
            .filter_map(|e| Some(e.bound?.saturating_mul(longest[e.to])));
        Some(bounded.fold(longest[start], u64::saturating_add))
    }

    pub fn warn_step_limit(
        &self,
        scope: &Scope<'_>,
        worst: Option<u64>,
        diags: &mut Vec<Diagnostic>,
    ) {
        let (Some(worst), Some(limit)) = (worst, scope.workflow.max_steps()) else {
            return;
        };
        if worst > limit.value && limit.value > 0 {
            diags.push(
                Diagnostic::warning(
                    Code::StepLimit,
                    limit.span,
                    format!("a run may take up to {worst} steps, more than `max_steps {}`", limit.value),
                )
                .with_label("a run that reaches this limit ends through the failure path")
                .with_note("the bound adds the longest path to the repeats every bounded edge and loop allows")
                .with_help(format!("raise the limit to `max_steps {worst};` or lower a `max`")),
            );
        }
    }
}

/// Steps a state takes each time it is entered: a loop's iterations, otherwise one.
fn weight(state: &ast::State) -> u64 {
    match &state.kind {
        StateKind::Loop(ast::Loop { max: Some(max), .. }) => max.count.value.max(1),
        _ => 1,
    }
}

fn unbounded_cycle(scope: &Scope<'_>, cycle: &[usize]) -> Diagnostic {
    let mut names: Vec<String> = cycle
        .iter()
        .map(|&e| format!("`{}`", scope.name(scope.edges[e].from)))
        .collect();
    if let Some(first) = names.first().cloned() {
        names.push(first);
    }
    let Some((&closing, rest)) = cycle.split_last() else {
        return Diagnostic::error(
            Code::UnboundedCycle,
            scope.workflow.name.span,
            "unbounded cycle",
        );
    };
    let closing_edge = &scope.edges[closing];
    let exit = scope
        .states
        .iter()
        .find(|s| matches!(s.kind, StateKind::Fail(_)))
        .map_or("failed".to_string(), |s| s.name.name.clone());
    let mut d = Diagnostic::error(
        Code::UnboundedCycle,
        closing_edge.span,
        format!("unbounded cycle: {}", names.join(" → ")),
    )
    .with_label("this transition closes the cycle");
    for &e in rest {
        d = d.with_secondary(scope.edges[e].span, "part of the cycle");
    }
    d.with_note("a run could go round this cycle forever; every cycle needs a bounded edge")
        .with_help(format!(
            "bound an edge of the cycle, for example `-> {} max 3 else {exit};`",
            scope.name(closing_edge.to)
        ))
}

impl Scope<'_> {
    /// Where a state goes on failure: its own `fail ->` or the workflow's `on fail`.
    pub(super) fn failure_target<'s>(&'s self, state: &'s ast::State) -> Option<&'s ast::Ident> {
        state
            .kind
            .transitions()
            .iter()
            .find(|t| matches!(t.event, Event::Fail { .. }))
            .map(|t| &t.target.state)
            .or_else(|| self.workflow.default_fail())
    }

    /// True when a state names a target that does not exist (already reported), so checks that
    /// depend on its edges stay quiet.
    pub(super) fn broken_state(&self, id: usize) -> bool {
        let state = self.states[id];
        let mut targets: Vec<&ast::Ident> = Vec::new();
        for t in state.kind.transitions() {
            targets.push(&t.target.state);
            targets.extend(t.target.bound.as_ref().map(|b| &b.otherwise));
        }
        if let StateKind::Choice(choice) = &state.kind {
            for target in choice
                .arms
                .iter()
                .map(|a| &a.target)
                .chain(choice.otherwise.as_ref().map(|o| &o.target))
            {
                targets.push(&target.state);
                targets.extend(target.bound.as_ref().map(|b| &b.otherwise));
            }
        }
        targets.iter().any(|t| self.state(&t.name).is_none())
    }

    /// Failure, timeout, `else` and `max` paths that must exist, and states that can only fail.
    pub(super) fn check_failure_paths(&self, diags: &mut Vec<Diagnostic>) {
        for state in &self.states {
            let keyword = state.kind.keyword();
            if Scope::is_fallible(state) && self.failure_target(state).is_none() {
                diags.push(
                    Diagnostic::error(
                        Code::MissingFailurePath,
                        state.name.span,
                        format!("{keyword} `{}` has no failure path", state.name),
                    )
                    .with_label("a failure here would have nowhere to go")
                    .with_help(
                        "add `fail -> <state>;` to it, or `on fail -> <state>;` to the workflow",
                    ),
                );
            }
            match &state.kind {
                StateKind::Wait(wait) => {
                    let handles_timeout = wait
                        .transitions
                        .iter()
                        .any(|t| matches!(t.event, Event::Timeout { .. }));
                    if let (Some(timeout), false) = (&wait.timeout, handles_timeout) {
                        diags.push(
                            Diagnostic::error(
                                Code::MissingTimeoutPath,
                                state.name.span,
                                format!("wait `{}` has a timeout but no timeout path", state.name),
                            )
                            .with_label("nothing says where to go when the signal does not come")
                            .with_secondary(timeout.span, "the wait ends here")
                            .with_help("add `timeout -> <state>;`, for example to escalate"),
                        );
                    }
                }
                StateKind::Choice(choice) if choice.otherwise.is_none() => diags.push(
                    Diagnostic::error(
                        Code::MissingElse,
                        state.name.span,
                        format!("choice `{}` has no `else`", state.name),
                    )
                    .with_label("a run where no condition holds would be stuck")
                    .with_help("add `else -> <state>;` as the last arm"),
                ),
                StateKind::Loop(lp) if lp.max.is_none() => diags.push(
                    Diagnostic::error(
                        Code::LoopWithoutMax,
                        state.name.span,
                        format!("loop `{}` has no `max`", state.name),
                    )
                    .with_label("this loop could run forever")
                    .with_help("add `max N;` to bound its iterations"),
                ),
                _ => {}
            }
            let succeeds = state
                .kind
                .transitions()
                .iter()
                .any(|t| !matches!(t.event, Event::Fail { .. } | Event::Timeout { .. }))
                || matches!(
                    &state.kind,
                    StateKind::Loop(ast::Loop {
                        max: Some(ast::LoopMax {
                            otherwise: Some(_),
                            ..
                        }),
                        ..
                    })
                );
            if Scope::is_fallible(state) && !succeeds && self.failure_target(state).is_some() {
                diags.push(
                    Diagnostic::warning(
                        Code::OnlyFailure,
                        state.name.span,
                        format!("{keyword} `{}` can only fail", state.name),
                    )
                    .with_label("no `ok ->` or outcome transition")
                    .with_help("add `ok -> <state>;` for when it succeeds"),
                );
            }
        }
    }
}
