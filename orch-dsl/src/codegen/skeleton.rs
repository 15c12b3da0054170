//! What `workflow!` emits after errors: the same types, with bodies that are never reached, so
//! that the user sees the real errors and not a cascade of "cannot find type `State`".

use proc_macro2::TokenStream;
use quote::quote;

use super::names;
use crate::ast::{self, Event, StateKind};
use crate::ir;

/// The skeleton of every workflow of a file that failed to check.
///
/// Its types have the names and variants the real code would have, as far as the file says:
/// the `Workers` trait covers the workers of called workflows too, and a worker with declared
/// outcomes answers exactly those. A workflow without a name is left out, and of two workflows
/// that would share a module only the first is kept, so the skeleton itself never fails to
/// compile.
pub fn generate_skeleton(file: &ast::File) -> TokenStream {
    let program = ir::Program {
        workflows: file
            .workflows
            .iter()
            .filter(|w| !w.name.name.is_empty())
            .map(names_only)
            .collect(),
    };
    let mut modules = std::collections::BTreeSet::new();
    let modules = program
        .workflows
        .iter()
        .filter(|w| modules.insert(super::snake(&w.name)))
        .map(|w| generate_skeleton_module(&program, w));
    quote! { #(#modules)* }
}

fn generate_skeleton_module(program: &ir::Program, ir: &ir::Workflow) -> TokenStream {
    let module = names::ident(&super::snake(&ir.name));
    let name = ir.name.as_str();
    let closure = super::call_closure(program, ir);
    let items = [
        super::generate_state_enum(ir),
        super::generate_outcome_enum(ir),
        super::generate_event_enum(ir),
        super::generate_signal_enum(ir),
        super::generate_input_struct(ir),
        super::generate_worker_outcomes(&closure),
        super::generate_workers_trait(&closure),
    ];
    quote! {
        #[allow(dead_code, unused_variables, clippy::all)]
        pub mod #module {
            pub const NAME: &str = #name;
            pub const WORST_CASE_STEPS: u64 = 0;
            pub const BOUNDS: usize = 0;
            pub const DOT: &str = "";
            pub const MERMAID: &str = "";
            #(#items)*
            pub fn program() -> &'static ::orch_runtime::ir::Program { unreachable!() }
            pub fn workflow() -> &'static ::orch_runtime::ir::Workflow { unreachable!() }
            pub fn transition(state: State, event: Event, counters: &mut [u64; BOUNDS]) -> State { unreachable!() }
            pub fn bind<W: Workers>(engine: &::orch_runtime::Engine, workers: W) { unreachable!() }
            pub fn engine<W: Workers>(workers: W) -> ::orch_runtime::Engine { unreachable!() }
            pub async fn run<W: Workers>(workers: W, input: Input)
                -> ::core::result::Result<::orch_runtime::RunResult, ::orch_runtime::StartError>
            { unreachable!() }
        }
    }
}

/// An IR with the names of the workflow's states, workers, outcomes, signals and input fields,
/// and placeholder edges: enough for the type-level generators.
fn names_only(workflow: &ast::Workflow) -> ir::Workflow {
    let nowhere = || ir::Edge { to: 0, bound: None };
    let exits = |transitions: &[ast::Transition]| ir::Exits {
        ok: None,
        outcomes: transitions
            .iter()
            .filter_map(|t| match &t.event {
                Event::Outcome { label } if !label.name.is_empty() => {
                    Some((label.name.clone(), nowhere()))
                }
                _ => None,
            })
            .collect(),
        timeout: None,
        fail: nowhere(),
    };
    let workers: Vec<&ast::WorkerDecl> = workflow.workers().collect();
    let states = workflow
        .states()
        .filter(|s| !s.name.name.is_empty())
        .map(|s| ir::State {
            name: s.name.name.clone(),
            docs: docs(&s.docs),
            kind: match &s.kind {
                StateKind::Succeed(_) => ir::StateKind::Succeed { output: None },
                StateKind::Fail(_) => ir::StateKind::Fail { error: None },
                StateKind::Call(call) => ir::StateKind::Call {
                    workflow: call.workflow.name.clone(),
                    input: None,
                    timeout_ms: None,
                    exits: exits(&call.transitions),
                },
                kind => ir::StateKind::Wait {
                    signal: 0,
                    timeout_ms: None,
                    exits: exits(kind.transitions()),
                },
            },
        })
        .collect();
    ir::Workflow {
        name: workflow.name.name.clone(),
        docs: docs(&workflow.docs),
        input: workflow
            .input_fields()
            .filter(first_of_name(|f: &&ast::InputField| &f.name))
            .map(|f| ir::InputField {
                name: f.name.name.clone(),
                docs: docs(&f.docs),
                ty: f.ty.ty,
                default: f.default.as_ref().map(|_| serde_json::Value::Null),
            })
            .collect(),
        workers: workers
            .iter()
            .filter(first_of_name(|w: &&&ast::WorkerDecl| &w.name))
            .map(|w| ir::Worker {
                name: w.name.name.clone(),
                description: Default::default(),
                docs: docs(&w.docs),
                outcomes: match &w.outcomes {
                    Some(declared) => declared.labels.iter().map(|l| l.name.clone()).collect(),
                    None => outcomes_of(workflow, &w.name.name),
                },
                outcomes_declared: false,
            })
            .collect(),
        signals: workflow
            .signals()
            .filter(first_of_name(|s: &&ast::SignalDecl| &s.name))
            .map(|s| ir::Signal {
                name: s.name.name.clone(),
                description: Default::default(),
                docs: docs(&s.docs),
                outcomes: vec!["ok".into()],
                outcomes_declared: false,
            })
            .collect(),
        states,
        start: 0,
        timeout_ms: None,
        max_steps: None,
        bound_count: 0,
        worst_case_steps: 0,
    }
}

/// A filter that keeps the first declaration of every name and drops nameless ones: a name
/// declared twice is an error already, and must not become a second field or method.
fn first_of_name<T>(name: impl Fn(&T) -> &ast::Ident) -> impl FnMut(&T) -> bool {
    let mut seen = std::collections::HashSet::new();
    move |item| {
        let name = &name(item).name;
        !name.is_empty() && seen.insert(name.clone())
    }
}

fn outcomes_of(workflow: &ast::Workflow, worker: &str) -> Vec<crate::ast::Name> {
    let mut outcomes = std::collections::BTreeSet::from([crate::ast::Name::from("ok")]);
    for state in workflow.states() {
        if let StateKind::Task(task) = &state.kind
            && task.worker.name == worker
        {
            outcomes.extend(task.transitions.iter().filter_map(|t| match &t.event {
                Event::Outcome { label } => Some(label.name.clone()),
                _ => None,
            }));
        }
    }
    outcomes.into_iter().collect()
}

fn docs(docs: &[ast::Doc]) -> String {
    docs.iter()
        .map(|d| d.text.strip_prefix(' ').unwrap_or(&d.text))
        .collect::<Vec<_>>()
        .join("\n")
}
