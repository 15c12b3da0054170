//! The state graph: reachability, ways out, failure paths, bounded cycles and the worst-case
//! number of steps.

use petgraph::algo::{TarjanScc, tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, EdgeFiltered, EdgeRef, NodeFiltered, Reversed};

use super::{Scope, list, list_or};
use crate::ast::{self, Event, StateKind};
use crate::diagnostic::{Code, Diagnostic};

/// The state graph of one workflow. Edge `i` is [`Scope::edges`]`[i]`, and its weight says
/// whether it is bounded, so that the passes over unbounded edges read only the graph.
pub(super) struct Analysis {
    pub graph: DiGraph<(), bool>,
    pub reachable: Vec<bool>,
    pub productive: Vec<bool>,
    /// The states in an order that every unbounded edge follows, or `None` when the unbounded
    /// edges form a cycle. Found by an iterative depth-first search; only when it fails are the
    /// cycles looked for, by a recursive one that would walk a long workflow's chain of states
    /// as deep as it is long.
    pub unbounded_order: Option<Vec<NodeIndex>>,
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
        for edge in &scope.edges {
            graph.add_edge(node(edge.from()), node(edge.to()), edge.bound().is_some());
        }
        let mut reachable = vec![false; n];
        if let Some(start) = scope.start {
            let mut bfs = Bfs::new(&graph, node(start));
            // Sized once: a queue grown by doubling copies itself over and over.
            bfs.stack.reserve(n);
            while let Some(at) = bfs.next(&graph) {
                reachable[at.index()] = true;
            }
        }
        let mut productive = vec![false; n];
        let terminals: Vec<usize> = (0..n).filter(|&i| scope.kinds[i].is_terminal()).collect();
        if let Some((&first, rest)) = terminals.split_first() {
            let reversed = Reversed(&graph);
            let mut bfs = Bfs::new(reversed, node(first));
            bfs.stack.reserve(n);
            for &t in rest {
                bfs.discovered.insert(t);
                bfs.stack.push_back(node(t));
            }
            while let Some(at) = bfs.next(reversed) {
                productive[at.index()] = true;
            }
        }
        let unbounded_order = {
            let unbounded = EdgeFiltered::from_fn(&graph, |e| !*e.weight());
            toposort(&unbounded, None).ok()
        };
        Analysis {
            graph,
            reachable,
            productive,
            unbounded_order,
        }
    }

    pub fn check(&self, scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) {
        self.check_reachable(scope, diags);
        self.check_ways_out(scope, diags);
        self.check_bounded_cycles(scope, diags);
    }

    fn check_reachable(&self, scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) {
        if scope.start.is_none() {
            return;
        }
        // A missing transition (an undefined target, an unhandled outcome, a choice without
        // `else`, a wait without a timeout path) is reported already, and was probably meant to
        // lead to the states that now look unreachable.
        let n = scope.states.len();
        if (0..n).any(|id| self.reachable[id] && scope.incomplete_state(id)) {
            return;
        }
        for (id, state) in scope.states.iter().enumerate() {
            if self.reachable[id] {
                continue;
            }
            let mut d = Diagnostic::error(
                Code::Unreachable,
                state.name.span,
                format!("state `{}` is unreachable from `start`", state.name),
            )
            .with_label("no run ever gets here");
            let mut from: Vec<usize> = self
                .graph
                .neighbors_directed(node(id), petgraph::Direction::Incoming)
                .map(|n| n.index())
                .filter(|&p| p != id)
                .collect();
            from.sort_by_key(|&p| scope.states[p].name.span);
            from.dedup();
            d = if from.is_empty() {
                d.with_note("no transition leads to it")
            } else {
                d.with_note(format!(
                    "it is only entered from {}, which no run reaches either",
                    list(from.iter().map(|&p| scope.name(p)))
                ))
            };
            diags.push(d.with_help(format!(
                "add a transition to `{}` from a state that runs reach, or remove it",
                state.name
            )));
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
            if leaves_group || ids.iter().any(|&id| scope.incomplete_state(id)) {
                continue;
            }
            let cyclic = ids.len() > 1 || self.graph.contains_edge(group[0], group[0]);
            let mut ids = ids;
            ids.sort_by_key(|&id| scope.states[id].name.span);
            let first = scope.states[ids[0]];
            let help = self.way_out_help(scope, &ids);
            let d = if cyclic && ids.len() == 1 {
                Diagnostic::error(
                    Code::NoWayOut,
                    first.name.span,
                    format!(
                        "state `{}` only leads back to itself, with no way out",
                        first.name
                    ),
                )
                .with_label("every transition of this state returns to it")
                .with_note("a run that gets here never ends")
                .with_help(help.clone())
            } else if cyclic {
                let mut d = Diagnostic::error(
                    Code::NoWayOut,
                    first.name.span,
                    format!(
                        "states {} form a loop with no way out",
                        list(ids.iter().map(|&id| scope.name(id)))
                    ),
                )
                .with_label("no terminal state can be reached from here");
                for &id in &ids[1..] {
                    d = d.with_secondary(scope.states[id].name.span, "part of the loop");
                }
                d.with_note("every transition of these states leads to another of them, so a run that gets here never ends")
                    .with_help(help.clone())
            } else if Scope::is_fallible(first) && scope.failure_target(first).is_none() {
                continue; // reported as a missing failure path
            } else {
                Diagnostic::error(
                    Code::NoWayOut,
                    first.name.span,
                    format!("no terminal state can be reached from `{}`", first.name),
                )
                .with_label("every run that gets here is stuck")
                .with_help(help.clone())
            };
            diags.push(d);
        }
    }

    /// What to add for a way out: a transition to a terminal that no run reaches yet, or to any
    /// terminal, or a terminal in the first place.
    fn way_out_help(&self, scope: &Scope<'_>, group: &[usize]) -> String {
        let subject = match group {
            [only] => format!("`{}`", scope.name(*only)),
            _ => "one of these states".to_string(),
        };
        let terminals: Vec<usize> = (0..scope.states.len())
            .filter(|&id| scope.states[id].kind.is_terminal())
            .collect();
        if terminals.is_empty() {
            return format!(
                "workflow `{}` has no `succeed` or `fail` state; add one, and a transition to it",
                scope.workflow.name
            );
        }
        let unreached: Vec<usize> = terminals
            .iter()
            .copied()
            .filter(|&id| !self.reachable[id])
            .collect();
        if unreached.is_empty() {
            format!("give {subject} a transition to a `succeed` or `fail` state")
        } else {
            format!(
                "give {subject} a transition to {}, which no run reaches now",
                list_or(unreached.iter().map(|&id| scope.name(id)))
            )
        }
    }

    /// Every cycle must pass through a bounded edge; `loop` states iterate inside themselves.
    fn check_bounded_cycles(&self, scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) {
        if self.unbounded_order.is_some() {
            return;
        }
        let unbounded = EdgeFiltered::from_fn(&self.graph, |e| !*e.weight());
        // Each group is handed over in turn rather than collected: most states are a group of
        // their own, and a list per group would be an allocation per state.
        TarjanScc::new().run(&unbounded, |group| {
            // A state repeating itself through a bounded edge is not an unbounded cycle.
            let cyclic = group.len() > 1
                || self
                    .graph
                    .edges_connecting(group[0], group[0])
                    .any(|e| !*e.weight());
            let all_reported = group
                .iter()
                .all(|n| !self.reachable[n.index()] || !self.productive[n.index()]);
            if !cyclic || all_reported {
                return;
            }
            let cycle = self.find_cycle(scope, group);
            diags.push(unbounded_cycle(scope, &cycle));
        });
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
                let index = edge.id().index();
                if *edge.weight() || !in_group(edge.target()) {
                    continue;
                }
                if edge.target() == head {
                    let mut cycle = vec![index];
                    let mut back = at;
                    while back != head {
                        let Some(prev) = via[back.index()] else { break };
                        cycle.push(prev);
                        back = node(scope.edges[prev].from());
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
        let order = self.unbounded_order.as_ref()?;
        let mut longest = vec![0u64; scope.states.len()];
        for &at in order.iter().rev() {
            let tail = self
                .graph
                .edges(at)
                .filter(|e| !*e.weight())
                .map(|e| longest[e.target().index()])
                .max()
                .unwrap_or(0);
            longest[at.index()] = scope.info[at.index()].weight.saturating_add(tail);
        }
        let bounded = scope
            .edges
            .iter()
            .filter(|e| self.reachable[e.from()])
            .filter_map(|e| Some(e.bound()?.saturating_mul(longest[e.to()])));
        Some(bounded.fold(longest[start], u64::saturating_add))
    }

    pub fn warn_step_limit(
        &self,
        scope: &Scope<'_>,
        worst: Option<u64>,
        diags: &mut Vec<Diagnostic>,
    ) {
        let (Some(worst), Some(limit)) = (worst, scope.max_steps) else {
            return;
        };
        if worst > limit.value && limit.value > 0 {
            diags.push(
                Diagnostic::warning(
                    Code::StepLimit,
                    limit.span,
                    format!("a run may take up to {worst} steps, more than `max_steps {}`", limit.value),
                )
                .with_label("a run that reaches this limit is stopped and fails")
                .with_note("the worst case is the longest path from `start`, plus every repeat that the bounded edges and loops allow")
                .with_help(format!("raise the limit to `max_steps {worst};` or lower a `max`")),
            );
        }
    }
}

/// Why a fallible state can fail, for a missing failure path.
fn how_it_fails(kind: &StateKind) -> &'static str {
    match kind {
        StateKind::Task(_) => {
            "a task fails when its worker reports an error or times out, once its retries are used up"
        }
        StateKind::Parallel(_) => {
            "a parallel fails when so many branches fail that its `join` cannot be met"
        }
        StateKind::Map(_) => {
            "a map fails when an element fails, or when its path does not hold a list"
        }
        StateKind::Loop(_) => "a loop fails when an iteration fails, once its retries are used up",
        StateKind::Wait(_) => "a wait fails when the signal is delivered as a rejection",
        StateKind::Call(_) => "a call fails when the called workflow ends in a `fail` state",
        _ => "this state can fail",
    }
}

fn unbounded_cycle(scope: &Scope<'_>, cycle: &[usize]) -> Diagnostic {
    let mut names: Vec<String> = cycle
        .iter()
        .map(|&e| format!("`{}`", scope.name(scope.edges[e].from())))
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
    let mut d = Diagnostic::error(
        Code::UnboundedCycle,
        closing_edge.span,
        format!("unbounded cycle: {}", names.join(" → ")),
    )
    .with_label("this transition closes the cycle");
    let mut through_else = None;
    for &e in rest {
        d = match scope.edge_origin(e) {
            EdgeOrigin::Otherwise { target, bound } => {
                through_else = Some((target, bound));
                d.with_secondary(bound.otherwise.span, "this `else` is not bounded")
            }
            _ => d.with_secondary(scope.edges[e].span, "part of the cycle"),
        };
    }
    if let EdgeOrigin::Otherwise { target, bound } = scope.edge_origin(closing) {
        through_else = Some((target, bound));
    }
    d = d.with_note("a run could go round this cycle forever; every cycle needs a bounded edge");
    if let Some((target, bound)) = through_else {
        d = d.with_note(format!(
            "`-> {} max {} else {}` bounds only the edge to `{}`; once that is used up, the run goes to `{}` each time, without a limit",
            target.state, bound.max.value, bound.otherwise, target.state, bound.otherwise
        ));
    }
    let failed = scope
        .states
        .iter()
        .find(|s| matches!(s.kind, StateKind::Fail(_)))
        .map_or("<state>".to_string(), |s| s.name.name.to_string());
    let to = scope.name(closing_edge.to());
    let bounded = format!("{to} max 3 else {failed}");
    let help = match scope.edge_origin(closing) {
        EdgeOrigin::Transition(event @ Event::Fail { .. })
            if closing_edge.from() == closing_edge.to() =>
        {
            format!(
                "to retry the attempt, use `retry 3;` and send `fail ->` to a `fail` state; to repeat the state, bound the transition: `{event} -> {bounded};`"
            )
        }
        EdgeOrigin::Transition(event) => {
            format!("bound a transition of the cycle, for example `{event} -> {bounded};`")
        }
        EdgeOrigin::Else => {
            format!("bound a transition of the cycle, for example `else -> {bounded};`")
        }
        _ => format!("bound a transition of the cycle, for example with `-> {bounded}` here"),
    };
    d.with_help(help)
}

/// Where an edge of the graph comes from in the source.
enum EdgeOrigin<'a> {
    /// An event's transition.
    Transition(&'a Event),
    /// A choice's `when` arm.
    When,
    /// A choice's `else` arm.
    Else,
    /// The `else` half of `-> x max N else y`.
    Otherwise {
        target: &'a ast::Target,
        bound: &'a ast::Bound,
    },
    /// A loop's `max N else y`, or the workflow's `on fail`.
    Other,
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
            .or(self.default_fail_target)
    }

    /// The transition, arm or setting an edge comes from.
    fn edge_origin(&self, edge: usize) -> EdgeOrigin<'_> {
        let edge = &self.edges[edge];
        let state = self.states[edge.from()];
        // The target written in the source, and what the edge is when it is not an `else`.
        let mut targets: Vec<(&ast::Target, EdgeOrigin<'_>)> = state
            .kind
            .transitions()
            .iter()
            .map(|t| (&t.target, EdgeOrigin::Transition(&t.event)))
            .collect();
        if let StateKind::Choice(choice) = &state.kind {
            targets.extend(choice.arms.iter().map(|a| (&a.target, EdgeOrigin::When)));
            targets.extend(
                choice
                    .otherwise
                    .iter()
                    .map(|a| (&a.target, EdgeOrigin::Else)),
            );
        }
        let Some((target, origin)) = targets.into_iter().find(|(t, _)| t.span == edge.span) else {
            return EdgeOrigin::Other;
        };
        match target.bound.as_ref() {
            Some(bound) if edge.bound().is_none() => EdgeOrigin::Otherwise { target, bound },
            _ => origin,
        }
    }

    /// True when a state lacks a transition that is reported elsewhere: an undefined target or
    /// `on fail`, an unhandled declared outcome, a choice without `else`, a wait without a
    /// timeout path. Reachability and ways out are not reported from such a graph: the missing
    /// transition was probably meant to lead to the states that look unreachable or stuck.
    pub(super) fn incomplete_state(&self, id: usize) -> bool {
        self.info[id].incomplete
    }

    /// Failure, timeout, `else` and `max` paths that must exist, and states that can only fail.
    pub(super) fn check_failure_paths(&self, state: &ast::State, diags: &mut Vec<Diagnostic>) {
        let keyword = state.kind.keyword();
        if Scope::is_fallible(state) && self.failure_target(state).is_none() {
            diags.push(
                Diagnostic::error(
                    Code::MissingFailurePath,
                    state.name.span,
                    format!("{keyword} `{}` has no failure path", state.name),
                )
                .with_label("a failure here would have nowhere to go")
                .with_note(how_it_fails(&state.kind))
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
                        .with_secondary(
                            timeout.span,
                            format!("the wait times out after `{}`", timeout.duration.text),
                        )
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
                .with_note(if lp.until.is_some() {
                    "`until` alone does not bound a loop: its condition may never hold"
                } else {
                    "without `until`, a loop runs exactly `max` iterations"
                })
                .with_help("add `max N;` to bound its iterations, or `max N else <state>;` to go elsewhere when they run out"),
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
                StateKind::Loop(lp) if lp.max.as_ref().is_some_and(|max| max.otherwise.is_some())
            );
        if Scope::is_fallible(state) && !succeeds && self.failure_target(state).is_some() {
            diags.push(
                Diagnostic::warning(
                    Code::OnlyFailure,
                    state.name.span,
                    format!("{keyword} `{}` can only fail", state.name),
                )
                .with_label("no `ok ->` or outcome transition")
                .with_note("when it succeeds, the run takes its failure path all the same")
                .with_help("add `ok -> <state>;` for when it succeeds"),
            );
        }
    }
}
