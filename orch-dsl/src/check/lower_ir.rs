//! Builds the IR of a workflow that passed every check.

use std::cell::Cell;

use super::dataflow::{self, Vars};
use super::table::{NONE, StateInfo};
use super::{Scope, ahead};
use crate::ast::{self, Event, JoinKind, Literal, Name, StateKind, TemplatePart, Value};
use crate::ir;

/// The IR of the states, built one state at a time in the pass that reads each state once
/// ([`Scope::check_states`]), while the state's part of the tree is in cache: a separate pass
/// over a large workflow would read all of it from memory again. The IR is assembled only
/// if the workflow turns out to have no errors.
pub(super) struct Lowering {
    states: Vec<ir::State>,
    bound_count: usize,
    handled: Handled,
}

impl Lowering {
    pub fn new(scope: &Scope<'_>) -> Lowering {
        Lowering {
            // Sized once: growing the list by doubling would copy every state (hundreds of
            // bytes each) again and again.
            states: Vec::with_capacity(scope.states.len()),
            bound_count: 0,
            handled: Handled::default(),
        }
    }

    /// Lowers the next state, given what the name pass recorded of it and the ids its
    /// targets resolve to (see [`Scope::targets`]); states must come in id order. False when
    /// the state cannot be lowered (the workflow has errors).
    pub fn state(
        &mut self,
        scope: &Scope<'_>,
        info: StateInfo,
        targets: &[u32],
        paths: &[(&ast::Path, ir::Root, usize)],
        state: &ast::State,
    ) -> bool {
        let mut builder = Builder {
            scope,
            bound_count: self.bound_count,
            targets,
            target: info.targets as usize,
            paths,
            path: Cell::new(0),
        };
        let Some(lowered) = builder.state(info, state) else {
            return false;
        };
        self.bound_count = builder.bound_count;
        let spare = self.states.spare_capacity_mut();
        if let Some(slot) = spare.get(ahead::WRITE_AHEAD..=ahead::WRITE_AHEAD) {
            ahead::for_writing(slot);
        }
        self.states.push(lowered);
        self.handled.add(scope, state, info.worker);
        true
    }
}

pub(super) fn lower(
    scope: &Scope<'_>,
    lowering: Lowering,
    worst: Option<u64>,
) -> Option<ir::Workflow> {
    let workflow = scope.workflow;
    let Lowering {
        states,
        bound_count,
        handled,
    } = lowering;
    if states.len() != scope.states.len() {
        return None;
    }
    let mut worker_outcomes = HandledOutcomes::new(handled.workers);
    let mut signal_outcomes = HandledOutcomes::new(handled.signals);
    Some(ir::Workflow {
        name: workflow.name.name.clone(),
        docs: docs(&workflow.docs),
        input: scope
            .inputs
            .iter()
            .map(|f| ir::InputField {
                name: f.name.name.clone(),
                docs: docs(&f.docs),
                ty: f.ty.ty,
                default: f.default.as_ref().map(literal),
            })
            .collect(),
        workers: scope
            .workers
            .iter()
            .enumerate()
            .map(|(id, w)| ir::Worker {
                name: w.name.name.clone(),
                description: w
                    .description
                    .as_ref()
                    .map(|d| d.value.clone())
                    .unwrap_or_default(),
                docs: docs(&w.docs),
                outcomes: declared(w.outcomes.as_ref()).unwrap_or_else(|| worker_outcomes.of(id)),
                outcomes_declared: w.outcomes.is_some(),
            })
            .collect(),
        signals: scope
            .signals
            .iter()
            .enumerate()
            .map(|(id, s)| ir::Signal {
                name: s.name.name.clone(),
                description: s
                    .description
                    .as_ref()
                    .map(|d| d.value.clone())
                    .unwrap_or_default(),
                docs: docs(&s.docs),
                outcomes: declared(s.outcomes.as_ref()).unwrap_or_else(|| signal_outcomes.of(id)),
                outcomes_declared: s.outcomes.is_some(),
            })
            .collect(),
        states,
        start: scope.start?,
        timeout_ms: scope.run_timeout.map(|d| millis(d.value)),
        max_steps: scope.max_steps.map(|m| m.value),
        bound_count,
        worst_case_steps: worst?,
    })
}

/// Declared outcomes, in the order written.
fn declared(outcomes: Option<&ast::Outcomes>) -> Option<Vec<Name>> {
    outcomes.map(|o| o.labels.iter().map(|l| l.name.clone()).collect())
}

/// The custom outcomes that the states running each worker or waiting for each signal
/// handle, recorded in one pass over the states, however many workers and signals there are.
/// A flat list rather than a set per worker: a workflow may declare a worker per state.
#[derive(Default)]
struct Handled {
    /// Worker ids and outcomes, in the order met.
    workers: Vec<(u32, Name)>,
    /// Signal ids and outcomes, in the order met.
    signals: Vec<(u32, Name)>,
}

impl Handled {
    /// Adds the outcomes a state handles to its worker's (`worker`, the id in
    /// [`StateInfo::worker`]) or its signal's.
    fn add(&mut self, scope: &Scope<'_>, state: &ast::State, worker: u32) {
        // The outcomes of a worker or signal that declares them are the declared ones.
        let (list, id, transitions) = match &state.kind {
            StateKind::Task(task) => match resolved(worker) {
                Some(id) if scope.workers[id].outcomes.is_none() => {
                    (&mut self.workers, worker, &task.transitions)
                }
                _ => return,
            },
            StateKind::Wait(wait) => match scope.signal_ids.get(wait.signal.name.as_str()) {
                Some(&id) if scope.signals[id].outcomes.is_none() => {
                    (&mut self.signals, id as u32, &wait.transitions)
                }
                _ => return,
            },
            _ => return,
        };
        list.extend(custom_outcomes(transitions).map(|outcome| (id, outcome)));
    }
}

/// The outcomes [`Handled`] recorded, sorted, read back for one worker or signal after
/// another.
struct HandledOutcomes {
    sorted: Vec<(u32, Name)>,
    /// Where the next id's outcomes start in `sorted`.
    next: usize,
}

impl HandledOutcomes {
    fn new(mut handled: Vec<(u32, Name)>) -> HandledOutcomes {
        handled.sort_unstable();
        handled.dedup();
        HandledOutcomes {
            sorted: handled,
            next: 0,
        }
    }

    /// `ok` and the outcomes handled for `id`, in order and without repeats, as a set of
    /// them would list them; ids must be asked for in increasing order.
    fn of(&mut self, id: usize) -> Vec<Name> {
        // Read in order, as the ids are asked for: with a worker per state, a search from
        // the middle each time would touch the whole list again and again.
        let sorted = &self.sorted;
        let mut start = self.next;
        while sorted.get(start).is_some_and(|(of, _)| (*of as usize) < id) {
            start += 1;
        }
        let mut end = start;
        while sorted.get(end).is_some_and(|(of, _)| *of as usize == id) {
            end += 1;
        }
        self.next = end;
        let own = &sorted[start..end];
        let mut outcomes = Vec::with_capacity(own.len() + 1);
        let below = own.partition_point(|(_, outcome)| outcome.as_str() < "ok");
        outcomes.extend(own[..below].iter().map(|(_, outcome)| outcome.clone()));
        outcomes.push(Name::const_new("ok"));
        outcomes.extend(
            own[below..]
                .iter()
                .filter(|(_, outcome)| outcome != "ok")
                .map(|(_, outcome)| outcome.clone()),
        );
        outcomes
    }
}

fn custom_outcomes(transitions: &[ast::Transition]) -> impl Iterator<Item = Name> + '_ {
    transitions.iter().filter_map(|t| match &t.event {
        Event::Outcome { label } => Some(label.name.clone()),
        _ => None,
    })
}

/// `f` of every item, or `None` if it fails for one. Collecting an iterator of options would
/// start small and grow; the IR keeps these lists, so they are allocated once, at their size.
fn exact<L: List<U>, T, U>(items: &[T], mut f: impl FnMut(&T) -> Option<U>) -> Option<L> {
    let mut out = L::with_capacity(items.len());
    out.prefetch();
    for item in items {
        out.push(f(item)?);
    }
    Some(out)
}

/// The IR's list types, for [`exact`].
trait List<U> {
    fn with_capacity(len: usize) -> Self;
    fn push(&mut self, item: U);
    /// Asks for the lines of the list's room, about to be written (see [`ahead`]).
    fn prefetch(&mut self);
}

impl<U> List<U> for Vec<U> {
    fn with_capacity(len: usize) -> Self {
        Vec::with_capacity(len)
    }

    fn push(&mut self, item: U) {
        Vec::push(self, item);
    }

    fn prefetch(&mut self) {
        ahead::for_writing(self.spare_capacity_mut());
    }
}

impl<A: smallvec::Array> List<A::Item> for ir::SmallVec<A> {
    fn with_capacity(len: usize) -> Self {
        ir::SmallVec::with_capacity(len)
    }

    fn push(&mut self, item: A::Item) {
        ir::SmallVec::push(self, item);
    }

    fn prefetch(&mut self) {
        if self.spilled() {
            let bytes = self.capacity() * size_of::<A::Item>();
            ahead::lines_for_writing(self.as_ptr().cast(), bytes);
        }
    }
}

fn resolved(id: u32) -> Option<usize> {
    (id != NONE).then_some(id as usize)
}

fn docs(docs: &[ast::Doc]) -> String {
    let line = |d: &ast::Doc| d.text.strip_prefix(' ').unwrap_or(&d.text).to_string();
    match docs {
        // Most states have no docs or one line: no list of lines to join.
        [] => String::new(),
        [only] => line(only),
        _ => docs
            .iter()
            .map(|d| d.text.strip_prefix(' ').unwrap_or(&d.text))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Milliseconds, rounded up so that a positive duration stays positive.
fn millis(duration: std::time::Duration) -> u64 {
    let nanos = duration.as_nanos();
    u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

pub(super) fn retry_policy(retry: &ast::Retry) -> ir::RetryPolicy {
    let backoff = retry.backoff.as_ref();
    ir::RetryPolicy {
        retries: retry.retries.value,
        initial_ms: backoff.map_or(0, |b| millis(b.initial.value)),
        multiplier: backoff
            .and_then(|b| b.multiplier.as_ref())
            .map_or(1.0, |m| m.value),
        max_ms: backoff
            .and_then(|b| b.max.as_ref())
            .map(|m| millis(m.value)),
        jitter: backoff.is_some_and(|b| b.jitter),
    }
}

fn literal(literal: &Literal) -> serde_json::Value {
    match literal {
        Literal::Str(s) => serde_json::Value::String(s.value.to_string()),
        Literal::Number(n) => number(n),
        Literal::Bool { value, .. } => serde_json::Value::Bool(*value),
        Literal::Null { .. } => serde_json::Value::Null,
    }
}

/// Whole numbers written without a fraction or exponent stay integers.
fn number(n: &ast::NumLit) -> serde_json::Value {
    let integral = !n.text.contains(['.', 'e', 'E']);
    if integral && n.value.fract() == 0.0 && n.value.abs() < 9.0e15 {
        return serde_json::Value::from(n.value as i64);
    }
    serde_json::Number::from_f64(n.value).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

struct Builder<'s, 'a, 't> {
    scope: &'s Scope<'a>,
    bound_count: usize,
    /// The resolved targets (see [`Scope::targets`]), and the next of the current state's,
    /// read in the order in which they were recorded.
    targets: &'t [u32],
    target: usize,
    /// The state's paths as the data-flow pass resolved them, in the order it read them
    /// ([`dataflow::Paths::last_state`]), and the next to be read.
    paths: &'t [(&'t ast::Path, ir::Root, usize)],
    path: Cell<usize>,
}

impl Builder<'_, '_, '_> {
    fn state(&mut self, info: StateInfo, state: &ast::State) -> Option<ir::State> {
        let none = Vars::default();
        let timeout =
            |t: &Option<Box<ast::Timeout>>| t.as_deref().map(|t| millis(t.duration.value));
        let retry = |r: &Option<Box<ast::Retry>>| r.as_deref().map(retry_policy);
        let kind = match &state.kind {
            StateKind::Task(task) => ir::StateKind::Task {
                worker: resolved(info.worker)?,
                input: self.with(task.with.as_ref(), none),
                retry: retry(&task.retry).map(Box::new),
                timeout_ms: timeout(&task.timeout),
                exits: self.exits(info, &task.transitions)?,
            },
            StateKind::Choice(choice) => ir::StateKind::Choice {
                arms: exact(&choice.arms, |arm| {
                    Some((self.cond(&arm.condition, none)?, self.edge(&arm.target)?))
                })?,
                otherwise: self.edge(&choice.otherwise.as_ref()?.target)?,
            },
            StateKind::Parallel(parallel) => ir::StateKind::Parallel {
                branches: exact(&parallel.branches, |b| {
                    Some(ir::Branch {
                        name: b.name.name.clone(),
                        docs: docs(&b.docs),
                        worker: self.scope.worker_ids.get(&b.worker.name)?,
                        input: self.with(b.with.as_ref(), none),
                        retry: retry(&b.retry),
                        timeout_ms: timeout(&b.timeout),
                    })
                })?,
                join: match parallel.join.as_ref().map(|j| &j.kind) {
                    None | Some(JoinKind::All) => ir::Join::All,
                    Some(JoinKind::Any) => ir::Join::Any,
                    Some(JoinKind::Count(n)) => ir::Join::Count(n.value),
                },
                timeout_ms: timeout(&parallel.timeout),
                exits: self.exits(info, &parallel.transitions)?,
            },
            StateKind::Map(map) => {
                let vars = Vars {
                    item: Some(&map.item.name),
                    loop_var: None,
                };
                ir::StateKind::Map(Box::new(ir::Map {
                    over: self.path(&map.over, none)?,
                    item: map.item.name.clone(),
                    worker: resolved(info.worker)?,
                    input: self.with(map.with.as_ref(), vars),
                    limit: map.limit.as_ref().map(|l| l.value),
                    retry: retry(&map.retry).map(Box::new),
                    timeout_ms: timeout(&map.timeout),
                    exits: self.exits(info, &map.transitions)?,
                }))
            }
            StateKind::Loop(lp) => {
                let vars = Vars {
                    item: None,
                    loop_var: lp.var.as_ref().map(|v| v.name.as_str()),
                };
                let max = lp.max.as_ref()?;
                // The loop's own exit is recorded after its transitions' targets.
                let exits = self.exits(info, &lp.transitions)?;
                let exhausted = match &max.otherwise {
                    Some(_) => Some(ir::Edge {
                        to: self.next_target()?,
                        bound: None,
                    }),
                    None => None,
                };
                ir::StateKind::Loop(Box::new(ir::Loop {
                    worker: resolved(info.worker)?,
                    var: lp.var.as_ref().map(|v| v.name.clone()),
                    input: self.with(lp.with.as_ref(), vars),
                    until: match &lp.until {
                        Some(until) => Some(self.boxed_cond(until, vars)?),
                        None => None,
                    },
                    max: max.count.value,
                    exhausted,
                    retry: retry(&lp.retry).map(Box::new),
                    timeout_ms: timeout(&lp.timeout),
                    exits,
                }))
            }
            StateKind::Wait(wait) => ir::StateKind::Wait {
                signal: *self.scope.signal_ids.get(wait.signal.name.as_str())?,
                timeout_ms: timeout(&wait.timeout),
                exits: self.exits(info, &wait.transitions)?,
            },
            StateKind::Call(call) => ir::StateKind::Call {
                workflow: call.workflow.name.clone(),
                input: self.with(call.with.as_ref(), none),
                timeout_ms: timeout(&call.timeout),
                exits: self.exits(info, &call.transitions)?,
            },
            StateKind::Succeed(succeed) => ir::StateKind::Succeed {
                output: match &succeed.output {
                    Some(v) => Some(self.value(v, none)?),
                    None => None,
                },
            },
            StateKind::Fail(fail) => ir::StateKind::Fail {
                error: match &fail.error {
                    Some(v) => Some(self.value(v, none)?),
                    None => None,
                },
            },
        };
        Some(ir::State {
            name: state.name.name.clone(),
            docs: docs(&state.docs),
            kind,
        })
    }

    fn exits(&mut self, info: StateInfo, transitions: &[ast::Transition]) -> Option<ir::Exits> {
        let outcomes = transitions
            .iter()
            .filter(|t| matches!(t.event, Event::Outcome { .. }))
            .count();
        let mut exits = ir::Exits {
            ok: None,
            // Sized once: a list grown from empty takes room for four.
            outcomes: Vec::with_capacity(outcomes),
            timeout: None,
            fail: ir::Edge {
                to: resolved(info.failure)?,
                bound: None,
            },
        };
        for t in transitions {
            let edge = self.edge(&t.target)?;
            match &t.event {
                Event::Ok { .. } => exits.ok = Some(edge),
                Event::Fail { .. } => exits.fail = edge,
                Event::Timeout { .. } => exits.timeout = Some(edge),
                Event::Outcome { label } => exits.outcomes.push((label.name.clone(), edge)),
            }
        }
        Some(exits)
    }

    /// The id of the next target of the current state, as resolved by the name pass.
    fn next_target(&mut self) -> Option<usize> {
        let id = *self.targets.get(self.target)?;
        self.target += 1;
        resolved(id)
    }

    fn edge(&mut self, target: &ast::Target) -> Option<ir::Edge> {
        let to = self.next_target()?;
        let bound = match &target.bound {
            Some(bound) => {
                let id = self.bound_count;
                self.bound_count += 1;
                Some(Box::new(ir::Bound {
                    id,
                    max: bound.max.value,
                    otherwise: self.next_target()?,
                }))
            }
            None => None,
        };
        Some(ir::Edge { to, bound })
    }

    fn with(&self, with: Option<&ast::With>, vars: Vars<'_>) -> Option<ir::ValueExpr> {
        let with = with?;
        Some(ir::ValueExpr::Object {
            entries: {
                let mut entries = Vec::with_capacity(with.entries.len());
                ahead::for_writing(entries.spare_capacity_mut());
                entries.extend(
                    with.entries
                        .iter()
                        .filter_map(|e| Some((e.key.name.clone(), self.value(&e.value, vars)?))),
                );
                entries
            },
        })
    }

    fn value(&self, value: &Value, vars: Vars<'_>) -> Option<ir::ValueExpr> {
        Some(match value {
            Value::Template(template) => ir::ValueExpr::Template {
                parts: exact(&template.parts, |part| {
                    Some(match part {
                        TemplatePart::Text { value, .. } => ir::TemplatePart::Text(value.clone()),
                        TemplatePart::Placeholder(path) => {
                            ir::TemplatePart::Path(self.path(path, vars)?)
                        }
                    })
                })?,
            },
            Value::Number(n) => ir::ValueExpr::Literal { value: number(n) },
            Value::Bool { value, .. } => ir::ValueExpr::Literal {
                value: serde_json::Value::Bool(*value),
            },
            Value::Null { .. } => ir::ValueExpr::Literal {
                value: serde_json::Value::Null,
            },
            Value::List { items, .. } => ir::ValueExpr::List {
                items: exact(items, |v| self.value(v, vars))?,
            },
            Value::Object { entries, .. } => ir::ValueExpr::Object {
                entries: exact(entries, |e| {
                    Some((e.key.name.clone(), self.value(&e.value, vars)?))
                })?,
            },
            Value::Path(path) => ir::ValueExpr::Path {
                path: self.path(path, vars)?,
            },
        })
    }

    /// The IR path of `path`: resolved already, when it is the next path the data-flow pass
    /// read (the passes read a state's paths in the same order), or else resolved here.
    fn path(&self, path: &ast::Path, vars: Vars<'_>) -> Option<ir::PathExpr> {
        let at = self.path.get();
        if let Some((read, root, skip)) = self.paths.get(at)
            && std::ptr::eq(*read, path)
        {
            self.path.set(at + 1);
            return Some(dataflow::path_expr(root.clone(), *skip, path));
        }
        let resolved = dataflow::resolve(self.scope, path, vars).ok();
        // The data-flow pass records every path that resolves, so a path met here is one
        // that does not (the lowering then stops) unless the two passes read a state's paths
        // in different orders, which would resolve every later path twice.
        debug_assert!(
            resolved.is_none(),
            "`{path}` was not the next path the data-flow pass read"
        );
        resolved.map(|resolved| resolved.expr(path))
    }

    fn cond(&self, expr: &ast::Expr, vars: Vars<'_>) -> Option<ir::Cond> {
        Some(match expr {
            ast::Expr::Binary { op, lhs, rhs, .. } => {
                let compare = match op {
                    ast::BinOp::Or => {
                        return Some(ir::Cond::Or {
                            lhs: self.boxed_cond(lhs, vars)?,
                            rhs: self.boxed_cond(rhs, vars)?,
                        });
                    }
                    ast::BinOp::And => {
                        return Some(ir::Cond::And {
                            lhs: self.boxed_cond(lhs, vars)?,
                            rhs: self.boxed_cond(rhs, vars)?,
                        });
                    }
                    ast::BinOp::Eq => ir::CompareOp::Eq,
                    ast::BinOp::Ne => ir::CompareOp::Ne,
                    ast::BinOp::Lt => ir::CompareOp::Lt,
                    ast::BinOp::Le => ir::CompareOp::Le,
                    ast::BinOp::Gt => ir::CompareOp::Gt,
                    ast::BinOp::Ge => ir::CompareOp::Ge,
                    ast::BinOp::Contains => ir::CompareOp::Contains,
                };
                ir::Cond::Compare {
                    op: compare,
                    lhs: self.operand(lhs, vars)?,
                    rhs: self.operand(rhs, vars)?,
                }
            }
            ast::Expr::Not { expr, .. } => ir::Cond::Not {
                cond: self.boxed_cond(expr, vars)?,
            },
            ast::Expr::Exists { path, .. } => ir::Cond::Exists {
                path: self.path(path, vars)?,
            },
            ast::Expr::Literal(_) | ast::Expr::Path(_) => ir::Cond::Truthy {
                operand: self.operand(expr, vars)?,
            },
        })
    }

    /// A condition in a block of its own, the block asked for before the condition is built.
    fn boxed_cond(&self, expr: &ast::Expr, vars: Vars<'_>) -> Option<Box<ir::Cond>> {
        let block = Box::<ir::Cond>::new_uninit();
        ahead::for_writing(std::slice::from_ref(&*block));
        let cond = self.cond(expr, vars)?;
        Some(Box::write(block, cond))
    }

    fn operand(&self, expr: &ast::Expr, vars: Vars<'_>) -> Option<ir::Operand> {
        Some(match expr {
            ast::Expr::Literal(l) => ir::Operand::Literal { value: literal(l) },
            ast::Expr::Path(p) => ir::Operand::Path {
                path: self.path(p, vars)?,
            },
            other => ir::Operand::Cond {
                cond: self.boxed_cond(other, vars)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::{HandledOutcomes, Name};

    proptest! {
        /// Each id's outcomes are the set of `ok` and what was recorded for it, in the set's
        /// order, whatever the order recorded and whichever ids are skipped.
        #[test]
        fn handled_outcomes_list_each_ids_set(
            recorded in prop::collection::vec((0u32..6, prop::sample::select(
                vec!["approved", "ok", "revise", "a", "z", "ok_then", "skip"],
            )), 0..40),
            asked in prop::collection::vec(any::<bool>(), 6),
        ) {
            let mut sets = vec![BTreeSet::from([Name::from("ok")]); 6];
            for (id, outcome) in &recorded {
                sets[*id as usize].insert(Name::from(*outcome));
            }
            let mut outcomes = HandledOutcomes::new(
                recorded.iter().map(|(id, o)| (*id, Name::from(*o))).collect(),
            );
            for (id, set) in sets.into_iter().enumerate() {
                if asked[id] {
                    prop_assert_eq!(outcomes.of(id), set.into_iter().collect::<Vec<_>>());
                }
            }
        }
    }
}
