//! Property tests for the checker: on random state graphs, its verdicts on reachability, ways
//! out, bounded cycles, definite completion and the worst-case number of steps agree with
//! brute-force searches written here, over adjacency lists of the same graph.
//!
//! Graphs come in two flavours. *Free* graphs point every edge anywhere, so they break the rules
//! often. *Valid* graphs number their states so that every unbounded edge leads forward and
//! every edge back carries a bound, reach every state from `start`, and give every fallible
//! state a failure path: they pass every check. Both are written out in a shuffled order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::ops::Range;

use orch_dsl::{Code, Diagnostic};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

// ---------------------------------------------------------------------------------------------
// The graph model

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Task,
    Loop,
    Choice,
    Succeed,
    Fail,
}

impl Kind {
    fn is_terminal(self) -> bool {
        matches!(self, Kind::Succeed | Kind::Fail)
    }

    fn is_fallible(self) -> bool {
        matches!(self, Kind::Task | Kind::Loop)
    }
}

/// How a run leaves a state along an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// `ok`, a custom outcome, a loop's exhaustion.
    Success,
    /// `fail`, `timeout`.
    Failure,
    /// A choice's arm.
    Route,
}

/// `-> to` or `-> to max N else otherwise`.
#[derive(Clone, Copy, Debug)]
struct Target {
    to: usize,
    bound: Option<(u64, usize)>,
}

/// A read of `of.output` in a state: in its `with`, condition or value, or in a loop's `until`.
#[derive(Clone, Copy, Debug)]
struct Read {
    of: usize,
    template: bool,
    until: bool,
}

#[derive(Clone, Debug)]
struct State {
    kind: Kind,
    /// A `timeout` setting (tasks and loops).
    timeout: bool,
    /// A task's or loop's `ok`, a choice's `else`.
    ok: Option<Target>,
    /// A task's custom outcomes, a choice's `when` arms.
    more: Vec<Target>,
    on_timeout: Option<Target>,
    on_fail: Option<Target>,
    loop_max: u64,
    /// A loop's `max N else exhausted`.
    exhausted: Option<usize>,
    reads: Vec<Read>,
}

#[derive(Clone)]
struct Graph {
    states: Vec<State>,
    start: usize,
    default_fail: Option<usize>,
    /// The states in the order they are written.
    order: Vec<usize>,
}

/// A failing case shows as the text it was written as.
impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\n{}", render(self).text)
    }
}

/// One way out of a state; a bounded target is one move with a counter.
#[derive(Clone, Copy, Debug)]
struct Move {
    to: usize,
    bound: Option<(u64, usize)>,
    flow: Flow,
}

/// An edge of the state graph: a bounded target gives a bounded edge to `to` and an unbounded
/// one to `otherwise`.
#[derive(Clone, Copy, Debug)]
struct Edge {
    from: usize,
    to: usize,
    bounded: bool,
    flow: Flow,
}

impl Graph {
    fn n(&self) -> usize {
        self.states.len()
    }

    fn moves(&self, id: usize) -> Vec<Move> {
        let state = &self.states[id];
        let mut out = Vec::new();
        let mut push = |target: &Target, flow| {
            out.push(Move {
                to: target.to,
                bound: target.bound,
                flow,
            })
        };
        match state.kind {
            Kind::Task | Kind::Loop => {
                state.ok.iter().for_each(|t| push(t, Flow::Success));
                state.more.iter().for_each(|t| push(t, Flow::Success));
                state.on_timeout.iter().for_each(|t| push(t, Flow::Failure));
                state.on_fail.iter().for_each(|t| push(t, Flow::Failure));
                if let Some(to) = state.exhausted {
                    out.push(Move {
                        to,
                        bound: None,
                        flow: Flow::Success,
                    });
                }
                if let (None, Some(to)) = (state.on_fail, self.default_fail) {
                    out.push(Move {
                        to,
                        bound: None,
                        flow: Flow::Failure,
                    });
                }
            }
            Kind::Choice => {
                state.more.iter().for_each(|t| push(t, Flow::Route));
                state.ok.iter().for_each(|t| push(t, Flow::Route));
            }
            Kind::Succeed | Kind::Fail => {}
        }
        out
    }

    fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        for from in 0..self.n() {
            for m in self.moves(from) {
                edges.push(Edge {
                    from,
                    to: m.to,
                    bounded: m.bound.is_some(),
                    flow: m.flow,
                });
                if let Some((_, otherwise)) = m.bound {
                    edges.push(Edge {
                        from,
                        to: otherwise,
                        bounded: false,
                        flow: m.flow,
                    });
                }
            }
        }
        edges
    }

    fn has_failure_path(&self, id: usize) -> bool {
        self.states[id].on_fail.is_some() || self.default_fail.is_some()
    }

    fn has_bounded_edges(&self) -> bool {
        self.edges().iter().any(|e| e.bounded)
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds and how graphs are built from them

#[derive(Clone, Debug)]
struct TargetSeed {
    to: Index,
    bound: Option<(u64, Index)>,
}

#[derive(Clone, Debug)]
struct ReadSeed {
    of: Index,
    template: bool,
    until: bool,
}

#[derive(Clone, Debug)]
struct StateSeed {
    kind: u8,
    position: u8,
    timeout: bool,
    ok: Option<TargetSeed>,
    more: Vec<TargetSeed>,
    on_timeout: Option<TargetSeed>,
    on_fail: Option<TargetSeed>,
    loop_max: u64,
    exhausted: Option<Index>,
    /// Picks the state that gets an edge here when nothing else reaches it (valid graphs).
    parent: Index,
    reads: Vec<ReadSeed>,
}

#[derive(Clone, Debug)]
struct Seed {
    states: Vec<StateSeed>,
    start: Index,
    default_fail: Option<Index>,
}

fn target_seed() -> impl Strategy<Value = TargetSeed> {
    (
        any::<Index>(),
        prop::option::weighted(0.3, (1u64..=3, any::<Index>())),
    )
        .prop_map(|(to, bound)| TargetSeed { to, bound })
}

fn read_seed() -> impl Strategy<Value = ReadSeed> {
    (any::<Index>(), any::<bool>(), any::<bool>()).prop_map(|(of, template, until)| ReadSeed {
        of,
        template,
        until,
    })
}

fn state_seed(max_reads: usize) -> impl Strategy<Value = StateSeed> {
    (
        (0u8..6, any::<u8>(), any::<bool>()),
        prop::option::weighted(0.8, target_seed()),
        vec(target_seed(), 0..3),
        prop::option::weighted(0.5, target_seed()),
        prop::option::weighted(0.85, target_seed()),
        (1u64..=3, prop::option::weighted(0.4, any::<Index>())),
        any::<Index>(),
        (0u8..4, vec(read_seed(), 0..=max_reads)),
    )
        .prop_map(
            |(
                (kind, position, timeout),
                ok,
                more,
                on_timeout,
                on_fail,
                (loop_max, exhausted),
                parent,
                (sparse, reads),
            )| StateSeed {
                kind,
                position,
                timeout,
                ok,
                more,
                on_timeout,
                on_fail,
                loop_max,
                exhausted,
                parent,
                // Most states read nothing, so that some workflows read only what is complete.
                reads: if sparse == 0 { reads } else { Vec::new() },
            },
        )
}

fn seed(max_reads: usize) -> impl Strategy<Value = Seed> {
    (
        vec(state_seed(max_reads), 2..=12),
        any::<Index>(),
        prop::option::weighted(0.4, any::<Index>()),
    )
        .prop_map(|(states, start, default_fail)| Seed {
            states,
            start,
            default_fail,
        })
}

/// Free graphs, mixed with valid ones in the ratio `free : valid`.
fn graphs(free: u32, valid: u32, max_reads: usize) -> impl Strategy<Value = Graph> {
    prop_oneof![
        free => seed(max_reads).prop_map(|s| build_free(&s)),
        valid => seed(max_reads).prop_map(|s| build_valid(&s)),
    ]
}

fn kind_of(seed: u8) -> Kind {
    match seed {
        0 | 1 => Kind::Task,
        2 => Kind::Loop,
        3 => Kind::Choice,
        4 => Kind::Succeed,
        _ => Kind::Fail,
    }
}

fn empty_state(kind: Kind, seed: &StateSeed) -> State {
    State {
        kind,
        timeout: kind.is_fallible() && seed.timeout,
        ok: None,
        more: Vec::new(),
        on_timeout: None,
        on_fail: None,
        loop_max: seed.loop_max,
        exhausted: None,
        reads: Vec::new(),
    }
}

/// The written order: by each seed's position, ties by number.
fn order_of(seed: &Seed) -> Vec<usize> {
    let mut order: Vec<usize> = (0..seed.states.len()).collect();
    order.sort_by_key(|&i| (seed.states[i].position, i));
    order
}

/// Reads of tasks and loops (the states with an output); a choice keeps its reads in its first
/// arm, so a choice without arms reads nothing.
fn add_reads(graph: &mut Graph, seed: &Seed) {
    let producers: Vec<usize> = (0..graph.n())
        .filter(|&i| graph.states[i].kind.is_fallible())
        .collect();
    if producers.is_empty() {
        return;
    }
    for (state, seed) in graph.states.iter_mut().zip(&seed.states) {
        if state.kind == Kind::Choice && state.more.is_empty() {
            continue;
        }
        state.reads = seed
            .reads
            .iter()
            .map(|r| Read {
                of: producers[r.of.index(producers.len())],
                template: r.template,
                until: r.until && state.kind == Kind::Loop,
            })
            .collect();
    }
}

fn build_free(seed: &Seed) -> Graph {
    let n = seed.states.len();
    let target = |t: &TargetSeed| Target {
        to: t.to.index(n),
        bound: t.bound.as_ref().map(|(max, o)| (*max, o.index(n))),
    };
    let required = |s: &StateSeed| {
        s.ok.as_ref().map(target).unwrap_or(Target {
            to: s.parent.index(n),
            bound: None,
        })
    };
    let states = seed
        .states
        .iter()
        .map(|s| {
            let kind = kind_of(s.kind);
            let mut state = empty_state(kind, s);
            match kind {
                Kind::Task | Kind::Loop => {
                    state.ok = if kind == Kind::Loop {
                        Some(required(s))
                    } else {
                        s.ok.as_ref().map(target)
                    };
                    if kind == Kind::Task {
                        state.more = s.more.iter().map(target).collect();
                    } else {
                        state.exhausted = s.exhausted.as_ref().map(|e| e.index(n));
                    }
                    if state.timeout {
                        state.on_timeout = s.on_timeout.as_ref().map(target);
                    }
                    state.on_fail = s.on_fail.as_ref().map(target);
                }
                Kind::Choice => {
                    state.ok = Some(required(s));
                    state.more = s.more.iter().map(target).collect();
                }
                Kind::Succeed | Kind::Fail => {}
            }
            state
        })
        .collect();
    let mut graph = Graph {
        states,
        start: seed.start.index(n),
        default_fail: seed.default_fail.as_ref().map(|d| d.index(n)),
        order: order_of(seed),
    };
    add_reads(&mut graph, seed);
    graph
}

/// At most this many bounded edges in a valid graph, so the search over runs stays small.
const BOUND_BUDGET: usize = 4;

fn build_valid(seed: &Seed) -> Graph {
    let n = seed.states.len();
    let kinds: Vec<Kind> = seed
        .states
        .iter()
        .enumerate()
        .map(|(i, s)| match kind_of(s.kind) {
            Kind::Task | Kind::Choice if i == n - 1 => [Kind::Succeed, Kind::Fail][i % 2],
            Kind::Loop if i == n - 1 => Kind::Succeed,
            Kind::Loop | Kind::Succeed | Kind::Fail if i == 0 => Kind::Task,
            kind => kind,
        })
        .collect();
    let terminals: Vec<usize> = (0..n).filter(|&i| kinds[i].is_terminal()).collect();
    let default_fail = seed
        .default_fail
        .as_ref()
        .map(|d| terminals[d.index(terminals.len())]);
    let forward = |from: usize, index: &Index| from + 1 + index.index(n - 1 - from);
    let mut budget = BOUND_BUDGET;
    let mut target = |from: usize, t: &TargetSeed| match &t.bound {
        Some((max, otherwise)) if budget > 0 => {
            budget -= 1;
            Target {
                to: t.to.index(n),
                bound: Some((*max, forward(from, otherwise))),
            }
        }
        _ => Target {
            to: forward(from, &t.to),
            bound: None,
        },
    };
    let mut states = Vec::new();
    for (i, s) in seed.states.iter().enumerate() {
        let kind = kinds[i];
        let mut state = empty_state(kind, s);
        let fallback = TargetSeed {
            to: s.parent,
            bound: None,
        };
        match kind {
            Kind::Task | Kind::Loop => {
                state.ok = match (&s.ok, kind) {
                    (Some(ok), _) => Some(target(i, ok)),
                    (None, Kind::Loop) => Some(target(i, &fallback)),
                    (None, _) => None,
                };
                if kind == Kind::Task {
                    state.more = s.more.iter().map(|t| target(i, t)).collect();
                } else {
                    state.exhausted = s.exhausted.as_ref().map(|e| forward(i, e));
                }
                if state.timeout {
                    state.on_timeout = s.on_timeout.as_ref().map(|t| target(i, t));
                }
                state.on_fail = match (&s.on_fail, default_fail) {
                    (Some(fail), _) => Some(target(i, fail)),
                    (None, None) => Some(target(i, &fallback)),
                    (None, Some(_)) => None,
                };
            }
            Kind::Choice => {
                state.ok = Some(target(i, s.ok.as_ref().unwrap_or(&fallback)));
                state.more = s.more.iter().map(|t| target(i, t)).collect();
            }
            Kind::Succeed | Kind::Fail => {}
        }
        states.push(state);
    }
    let mut graph = Graph {
        states,
        start: 0,
        default_fail,
        order: order_of(seed),
    };
    for i in 1..n {
        if reachable(&graph)[i] {
            continue;
        }
        let parents: Vec<usize> = (0..i)
            .filter(|&p| matches!(graph.states[p].kind, Kind::Task | Kind::Choice))
            .collect();
        let p = parents[seed.states[i].parent.index(parents.len())];
        graph.states[p].more.push(Target { to: i, bound: None });
    }
    add_reads(&mut graph, seed);
    graph
}

// ---------------------------------------------------------------------------------------------
// Writing a graph as source text

struct Source {
    text: String,
    /// For each read, in order: the state it is in, the read and where its value is written.
    reads: Vec<(usize, Read, Range<usize>)>,
}

fn name(id: usize) -> String {
    format!("s{id}")
}

fn target_text(target: &Target) -> String {
    match target.bound {
        Some((max, otherwise)) => format!("s{} max {max} else s{otherwise}", target.to),
        None => name(target.to),
    }
}

impl Source {
    fn write_value(&mut self, at: usize, read: Read) {
        let start = self.text.len();
        if read.template {
            write!(self.text, "\"{{{{s{}.output}}}}\"", read.of).unwrap();
        } else {
            write!(self.text, "s{}.output", read.of).unwrap();
        }
        self.reads.push((at, read, start..self.text.len()));
    }

    fn write_object(&mut self, at: usize, reads: &[Read]) {
        self.text.push('{');
        for (k, &read) in reads.iter().enumerate() {
            let sep = if k == 0 { " " } else { ", " };
            write!(self.text, "{sep}r{k}: ").unwrap();
            self.write_value(at, read);
        }
        self.text.push_str(" }");
    }

    fn write_condition(&mut self, at: usize, reads: &[Read]) {
        if reads.is_empty() {
            self.text.push_str("true");
        }
        for (k, &read) in reads.iter().enumerate() {
            if k > 0 {
                self.text.push_str(" && ");
            }
            let start = self.text.len();
            write!(self.text, "s{}.output.flag", read.of).unwrap();
            self.reads.push((at, read, start..self.text.len()));
        }
    }

    fn write_state(&mut self, graph: &Graph, id: usize) {
        let state = &graph.states[id];
        let (with, until): (Vec<Read>, Vec<Read>) = state.reads.iter().partition(|r| !r.until);
        match state.kind {
            Kind::Task | Kind::Loop => {
                let keyword = if state.kind == Kind::Task {
                    "task"
                } else {
                    "loop"
                };
                writeln!(self.text, "    {keyword} s{id} by Agent {{").unwrap();
                if !with.is_empty() {
                    self.text.push_str("        with ");
                    self.write_object(id, &with);
                    self.text.push('\n');
                }
                if !until.is_empty() {
                    self.text.push_str("        until ");
                    self.write_condition(id, &until);
                    self.text.push_str(";\n");
                }
                if state.kind == Kind::Loop {
                    match state.exhausted {
                        Some(to) => {
                            writeln!(self.text, "        max {} else s{to};", state.loop_max)
                        }
                        None => writeln!(self.text, "        max {};", state.loop_max),
                    }
                    .unwrap();
                }
                if state.timeout {
                    self.text.push_str("        timeout 1s;\n");
                }
                let mut lines = Vec::new();
                if let Some(ok) = &state.ok {
                    lines.push(format!("ok -> {}", target_text(ok)));
                }
                for (k, t) in state.more.iter().enumerate() {
                    lines.push(format!("on o{k} -> {}", target_text(t)));
                }
                if let Some(t) = &state.on_timeout {
                    lines.push(format!("timeout -> {}", target_text(t)));
                }
                if let Some(t) = &state.on_fail {
                    lines.push(format!("fail -> {}", target_text(t)));
                }
                for line in lines {
                    writeln!(self.text, "        {line};").unwrap();
                }
                self.text.push_str("    }\n");
            }
            Kind::Choice => {
                writeln!(self.text, "    choice s{id} {{").unwrap();
                for (k, t) in state.more.iter().enumerate() {
                    self.text.push_str("        when ");
                    self.write_condition(id, if k == 0 { &state.reads } else { &[] });
                    writeln!(self.text, " -> {};", target_text(t)).unwrap();
                }
                if let Some(t) = &state.ok {
                    writeln!(self.text, "        else -> {};", target_text(t)).unwrap();
                }
                self.text.push_str("    }\n");
            }
            Kind::Succeed | Kind::Fail => {
                let (keyword, value) = if state.kind == Kind::Succeed {
                    ("succeed", "output")
                } else {
                    ("fail", "error")
                };
                write!(self.text, "    {keyword} s{id}").unwrap();
                if !state.reads.is_empty() {
                    write!(self.text, " {value} ").unwrap();
                    self.write_object(id, &state.reads);
                }
                self.text.push_str(";\n");
            }
        }
    }
}

fn render(graph: &Graph) -> Source {
    let mut source = Source {
        text: String::new(),
        reads: Vec::new(),
    };
    source
        .text
        .push_str("workflow Props {\n    worker Agent;\n");
    writeln!(source.text, "    start s{};", graph.start).unwrap();
    if let Some(to) = graph.default_fail {
        writeln!(source.text, "    on fail -> s{to};").unwrap();
    }
    for &id in &graph.order {
        source.write_state(graph, id);
    }
    source.text.push_str("}\n");
    source
}

/// Every diagnostic the compiler reports for a source, errors and warnings.
fn diagnostics(source: &str) -> (Vec<Diagnostic>, Option<orch_dsl::ir::Workflow>) {
    match orch_dsl::compile(source) {
        Ok(compiled) => (
            compiled.warnings.0,
            compiled.program.workflows.into_iter().next(),
        ),
        Err(errors) => (errors.0, None),
    }
}

fn with_code(diagnostics: &[Diagnostic], code: Code) -> Vec<&Diagnostic> {
    diagnostics.iter().filter(|d| d.code == code).collect()
}

// ---------------------------------------------------------------------------------------------
// The oracles: plain searches over adjacency lists

fn successors(n: usize, edges: &[Edge], keep: impl Fn(&Edge) -> bool) -> Vec<Vec<usize>> {
    let mut succ = vec![Vec::new(); n];
    for e in edges.iter().filter(|e| keep(e)) {
        succ[e.from].push(e.to);
    }
    succ
}

/// The states reachable from `from` through states for which `inside` holds.
fn search(succ: &[Vec<usize>], from: &[usize], inside: impl Fn(usize) -> bool) -> Vec<bool> {
    let mut seen = vec![false; succ.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for &s in from.iter().filter(|&&s| inside(s)) {
        seen[s] = true;
        queue.push_back(s);
    }
    while let Some(at) = queue.pop_front() {
        for &to in &succ[at] {
            if inside(to) && !seen[to] {
                seen[to] = true;
                queue.push_back(to);
            }
        }
    }
    seen
}

fn reachable(graph: &Graph) -> Vec<bool> {
    let succ = successors(graph.n(), &graph.edges(), |_| true);
    search(&succ, &[graph.start], |_| true)
}

/// The states from which a terminal can be reached.
fn productive(graph: &Graph) -> Vec<bool> {
    let mut pred = vec![Vec::new(); graph.n()];
    for e in graph.edges() {
        pred[e.to].push(e.from);
    }
    let terminals: Vec<usize> = (0..graph.n())
        .filter(|&i| graph.states[i].kind.is_terminal())
        .collect();
    search(&pred, &terminals, |_| true)
}

/// The strongly connected groups of the states for which `inside` holds, in `succ`.
fn groups(succ: &[Vec<usize>], inside: impl Fn(usize) -> bool + Copy) -> Vec<Vec<usize>> {
    let n = succ.len();
    let reach: Vec<Vec<bool>> = (0..n).map(|s| search(succ, &[s], inside)).collect();
    let mut placed = vec![false; n];
    let mut out = Vec::new();
    for s in (0..n).filter(|&s| inside(s)) {
        if placed[s] {
            continue;
        }
        let group: Vec<usize> = (0..n).filter(|&t| reach[s][t] && reach[t][s]).collect();
        group.iter().for_each(|&t| placed[t] = true);
        out.push(group);
    }
    out
}

fn is_cyclic(group: &[usize], succ: &[Vec<usize>]) -> bool {
    group.len() > 1 || succ[group[0]].contains(&group[0])
}

/// The states the checker should name in "no way out" errors: reachable states that cannot
/// reach a terminal, in the innermost groups (none of whose edges leaves the group), except a
/// lone dead end that is only missing its failure path.
fn stuck_groups(graph: &Graph) -> Vec<BTreeSet<usize>> {
    let (reachable, productive) = (reachable(graph), productive(graph));
    let stuck = |s: usize| reachable[s] && !productive[s];
    let succ = successors(graph.n(), &graph.edges(), |_| true);
    groups(&succ, stuck)
        .into_iter()
        .filter(|group| {
            let inner = group
                .iter()
                .all(|&s| succ[s].iter().all(|t| group.contains(t)));
            let only_missing_failure = !is_cyclic(group, &succ)
                && graph.states[group[0]].kind.is_fallible()
                && !graph.has_failure_path(group[0]);
            inner && !only_missing_failure
        })
        .map(|group| group.into_iter().collect())
        .collect()
}

/// Cyclic groups of unbounded edges among states that are reachable and can reach a terminal.
fn unbounded_cycles(graph: &Graph) -> Vec<Vec<usize>> {
    let (reachable, productive) = (reachable(graph), productive(graph));
    let succ = successors(graph.n(), &graph.edges(), |e| !e.bounded);
    groups(&succ, |s| reachable[s] && productive[s])
        .into_iter()
        .filter(|group| is_cyclic(group, &succ))
        .collect()
}

/// The states a run can reach from `start` without `x` completing.
fn reached_without_completing(graph: &Graph, x: usize) -> Vec<bool> {
    let edges = graph.edges();
    let succ = successors(graph.n(), &edges, |e| {
        !(e.from == x && e.flow == Flow::Success)
    });
    search(&succ, &[graph.start], |_| true)
}

/// Steps a state takes each time it is entered.
fn weight(state: &State) -> u64 {
    if state.kind == Kind::Loop {
        state.loop_max
    } else {
        1
    }
}

/// The longest run, by trying every event in every state with a counter per bounded edge.
struct Runs<'g> {
    graph: &'g Graph,
    moves: Vec<Vec<(Move, Option<usize>)>>,
    memo: HashMap<(usize, Vec<u64>), u64>,
    open: HashSet<(usize, Vec<u64>)>,
}

impl<'g> Runs<'g> {
    fn new(graph: &'g Graph) -> Runs<'g> {
        let mut counters = 0;
        let moves = (0..graph.n())
            .map(|s| {
                graph
                    .moves(s)
                    .into_iter()
                    .map(|m| {
                        let counter = m.bound.map(|_| {
                            counters += 1;
                            counters - 1
                        });
                        (m, counter)
                    })
                    .collect()
            })
            .collect();
        Runs {
            graph,
            moves,
            memo: HashMap::new(),
            open: HashSet::new(),
        }
    }

    fn counters(&self) -> usize {
        self.moves
            .iter()
            .flatten()
            .filter(|(_, c)| c.is_some())
            .count()
    }

    /// The most steps a run can take from `at` with these counters; `Err` on a run that can go
    /// on forever.
    fn longest(&mut self, at: usize, counters: Vec<u64>) -> Result<u64, String> {
        let key = (at, counters);
        if let Some(&steps) = self.memo.get(&key) {
            return Ok(steps);
        }
        if !self.open.insert(key.clone()) {
            return Err(format!("a run can repeat `s{at}` forever"));
        }
        let mut tail = 0;
        for (m, counter) in self.moves[at].clone() {
            let mut next = key.1.clone();
            let to = match (m.bound, counter) {
                (Some((max, otherwise)), Some(c)) => {
                    let taken = next[c];
                    next[c] = (taken + 1).min(max);
                    if taken >= max { otherwise } else { m.to }
                }
                _ => m.to,
            };
            tail = tail.max(self.longest(to, next)?);
        }
        self.open.remove(&key);
        let steps = weight(&self.graph.states[at]) + tail;
        self.memo.insert(key, steps);
        Ok(steps)
    }
}

fn longest_run(graph: &Graph) -> Result<u64, String> {
    let mut runs = Runs::new(graph);
    let counters = vec![0; runs.counters()];
    runs.longest(graph.start, counters)
}

// ---------------------------------------------------------------------------------------------
// The properties

fn span_names(source: &str, d: &Diagnostic) -> BTreeSet<String> {
    std::iter::once(d.span)
        .chain(d.secondary.iter().map(|l| l.span))
        .map(|span| span.text(source).to_string())
        .collect()
}

fn names(ids: impl IntoIterator<Item = usize>) -> BTreeSet<String> {
    ids.into_iter().map(name).collect()
}

fn check_reachability(graph: &Graph) -> Result<(), TestCaseError> {
    let source = render(graph).text;
    let (diags, _) = diagnostics(&source);
    let reported: BTreeSet<String> = with_code(&diags, Code::Unreachable)
        .iter()
        .map(|d| d.span.text(&source).to_string())
        .collect();
    let reachable = reachable(graph);
    let expected = names((0..graph.n()).filter(|&s| !reachable[s]));
    prop_assert_eq!(reported, expected, "unreachable states in\n{}", source);
    Ok(())
}

fn check_ways_out(graph: &Graph) -> Result<(), TestCaseError> {
    let source = render(graph).text;
    let (diags, _) = diagnostics(&source);
    let reported: Vec<BTreeSet<String>> = with_code(&diags, Code::NoWayOut)
        .iter()
        .map(|d| span_names(&source, d))
        .collect();
    let reported: BTreeSet<BTreeSet<String>> = reported.into_iter().collect();
    let expected: BTreeSet<BTreeSet<String>> = stuck_groups(graph).into_iter().map(names).collect();
    prop_assert_eq!(reported, expected, "states with no way out in\n{}", source);
    Ok(())
}

fn check_bounded_cycles(graph: &Graph) -> Result<(), TestCaseError> {
    let source = render(graph).text;
    let (diags, _) = diagnostics(&source);
    let reported = with_code(&diags, Code::UnboundedCycle);
    let expected = unbounded_cycles(graph);
    prop_assert_eq!(
        reported.len(),
        expected.len(),
        "unbounded cycles {:?}, reported {:#?}, in\n{}",
        expected,
        reported,
        source
    );
    let (reachable, productive) = (reachable(graph), productive(graph));
    let edges = graph.edges();
    for d in reported {
        let cycle: Vec<usize> = d
            .message
            .strip_prefix("unbounded cycle: ")
            .unwrap_or_default()
            .split(" → ")
            .filter_map(|s| s.trim_matches('`').strip_prefix('s')?.parse().ok())
            .collect();
        prop_assert!(
            cycle.len() >= 2 && cycle.first() == cycle.last(),
            "`{}` does not name a cycle, in\n{}",
            d.message,
            source
        );
        for pair in cycle.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            prop_assert!(
                edges
                    .iter()
                    .any(|e| e.from == from && e.to == to && !e.bounded),
                "`{}`: no unbounded edge s{} -> s{}, in\n{}",
                d.message,
                from,
                to,
                source
            );
            prop_assert!(
                reachable[from] && productive[from],
                "`{}`: s{} is unreachable or stuck, in\n{}",
                d.message,
                from,
                source
            );
        }
    }
    Ok(())
}

fn check_worst_case(graph: &Graph) -> Result<(), TestCaseError> {
    let source = render(graph).text;
    let (diags, workflow) = diagnostics(&source);
    let Some(workflow) = workflow else {
        // Valid graphs must pass; free graphs mostly do not, and are not for this property.
        let errors: Vec<String> = diags.iter().map(ToString::to_string).collect();
        prop_assert!(
            !is_valid_shape(graph),
            "a valid graph was rejected: {:#?}\n{}",
            errors,
            source
        );
        return Ok(());
    };
    let truth = longest_run(graph).map_err(|e| TestCaseError::fail(format!("{e} in\n{source}")))?;
    let bound = workflow.worst_case_steps;
    prop_assert!(bound < u64::MAX, "a saturated bound in\n{}", source);
    prop_assert!(
        bound >= truth,
        "worst_case_steps {} but a run takes {} steps, in\n{}",
        bound,
        truth,
        source
    );
    if !graph.has_bounded_edges() {
        prop_assert_eq!(
            bound,
            truth,
            "an acyclic graph's bound is exact, in\n{}",
            source
        );
    }
    Ok(())
}

/// Valid graphs start at state 0 and send every unbounded edge forward.
fn is_valid_shape(graph: &Graph) -> bool {
    graph.start == 0
        && graph.edges().iter().all(|e| e.bounded || e.to > e.from)
        && reachable(graph).iter().all(|&r| r)
        && (0..graph.n()).all(|s| {
            graph.states[s].kind.is_terminal()
                || graph.states[s].kind == Kind::Choice
                || graph.has_failure_path(s)
        })
        && graph.states.last().is_some_and(|s| s.kind.is_terminal())
}

fn check_definite_completion(graph: &Graph) -> Result<(), TestCaseError> {
    let source = render(graph);
    let text = &source.text;
    let (diags, _) = diagnostics(text);
    let mut reported = BTreeSet::new();
    for d in with_code(&diags, Code::MaybeIncomplete) {
        let read = source
            .reads
            .iter()
            .position(|(_, _, range)| range.start <= d.span.start() && d.span.end() <= range.end);
        let Some(read) = read else {
            return Err(TestCaseError::fail(format!(
                "`{d}` is not at a read, in\n{text}"
            )));
        };
        reported.insert(read);
    }
    let completions: Vec<Vec<bool>> = (0..graph.n())
        .map(|x| reached_without_completing(graph, x))
        .collect();
    let expected: BTreeSet<usize> = source
        .reads
        .iter()
        .enumerate()
        .filter(|(_, (at, read, _))| !(read.until && read.of == *at) && completions[read.of][*at])
        .map(|(i, _)| i)
        .collect();
    let describe = |reads: &BTreeSet<usize>| -> Vec<String> {
        reads
            .iter()
            .map(|&i| {
                let (at, read, range) = &source.reads[i];
                format!(
                    "`{}` in s{at} (until: {})",
                    &text[range.clone()],
                    read.until
                )
            })
            .collect()
    };
    prop_assert_eq!(
        describe(&reported),
        describe(&expected),
        "reads flagged as maybe incomplete, in\n{}",
        text
    );
    if is_valid_shape(graph) {
        let others: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error() && d.code != Code::MaybeIncomplete)
            .map(ToString::to_string)
            .collect();
        prop_assert!(others.is_empty(), "other errors {:#?} in\n{}", others, text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// E0201 names exactly the states a search from `start` does not reach.
    #[test]
    fn unreachable_states_are_those_no_search_reaches(graph in graphs(3, 1, 0)) {
        check_reachability(&graph)?;
    }

    /// E0202 names exactly the innermost groups of reachable states that reach no terminal.
    #[test]
    fn no_way_out_names_the_innermost_stuck_groups(graph in graphs(3, 1, 0)) {
        check_ways_out(&graph)?;
    }

    /// E0206 is reported once per cycle of unbounded edges among live states, and names one.
    #[test]
    fn unbounded_cycles_are_reported_with_a_real_cycle(graph in graphs(3, 1, 0)) {
        check_bounded_cycles(&graph)?;
    }

    /// The worst-case number of steps bounds every run, and is exact without bounded edges.
    #[test]
    fn worst_case_steps_bound_every_run(graph in graphs(1, 3, 0)) {
        check_worst_case(&graph)?;
    }

    /// E0303 flags a read of `x.output` exactly where a run can arrive without `x` completing.
    #[test]
    fn maybe_incomplete_reads_are_those_a_run_can_reach_first(graph in graphs(1, 1, 3)) {
        check_definite_completion(&graph)?;
    }
}

/// The generators reach every verdict often enough for the properties to mean something.
#[test]
fn generated_graphs_cover_every_verdict() {
    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut count = |what: &'static str, yes: bool| {
        *seen.entry(what).or_default() += usize::from(yes);
    };
    let shapes = graphs(1, 1, 0);
    for _ in 0..400 {
        let graph = shapes.new_tree(&mut runner).expect("a graph").current();
        let (_, workflow) = diagnostics(&render(&graph).text);
        let stuck = stuck_groups(&graph);
        count("unreachable", reachable(&graph).iter().any(|&r| !r));
        count("stuck loop", stuck.iter().any(|g| g.len() > 1));
        count("dead end", stuck.iter().any(|g| g.len() == 1));
        count("unbounded cycle", !unbounded_cycles(&graph).is_empty());
        count("passes", workflow.is_some());
        count(
            "passes with bounded edges",
            workflow.is_some() && graph.has_bounded_edges(),
        );
    }
    let reading = graphs(1, 1, 3);
    for _ in 0..400 {
        let graph = reading.new_tree(&mut runner).expect("a graph").current();
        for (at, read, _) in render(&graph).reads {
            let own = read.until && read.of == at;
            let flagged = !own && reached_without_completing(&graph, read.of)[at];
            count("read in its own until", own);
            count("read maybe incomplete", flagged);
            count("read surely complete", !own && !flagged);
        }
    }
    for (what, count) in &seen {
        assert!(*count >= 10, "only {count} of 400: {what} ({seen:?})");
    }
}

/// A state that repeats itself through a bounded edge is a bounded cycle.
#[test]
fn a_bounded_self_loop_is_not_an_unbounded_cycle() {
    let source = "workflow Props {
        worker Agent;
        start s0;
        task s0 by Agent {
            ok -> s0 max 2 else s1;
            fail -> s1;
        }
        succeed s1;
    }";
    let compiled = orch_dsl::compile(source).unwrap_or_else(|errors| panic!("{errors}"));
    // s0, s0, s0, s1
    assert!(compiled.program.workflows[0].worst_case_steps >= 4);
}
