//! The Rust emitter: snapshots of the code generated for every valid fixture, and a conformance
//! test that the generated `transition` function moves exactly as the IR the engine follows.
//!
//! The root `build.rs` compiles `tests/fixtures/valid` into `$OUT_DIR/fixtures/orch/`; every
//! generated file is included below, so each one also has to compile.

use std::collections::BTreeSet;

use orch_dsl::ir::{self, EdgeEvent, StateKind};

mod generated {
    macro_rules! fixture {
        ($($module:ident = $stem:literal;)*) => {
            $(pub mod $module {
                include!(concat!(env!("OUT_DIR"), "/fixtures/orch/", $stem, ".rs"));
            })*
        };
    }

    fixture! {
        build_website_orch = "build_website";
        content_pipeline_orch = "content_pipeline";
        human_approval_orch = "human_approval";
        kitchen_sink_orch = "kitchen_sink";
        map_reduce_orch = "map_reduce";
        math_solver_orch = "math_solver";
        pipeline_orch = "pipeline";
        refinement_loop_orch = "refinement_loop";
        revision_cycle_orch = "revision_cycle";
        sub_workflow_orch = "sub_workflow";
    }
}

fn compile_fixture(stem: &str) -> ir::Program {
    let path = format!(
        "{}/tests/fixtures/valid/{stem}.orch",
        env!("CARGO_MANIFEST_DIR")
    );
    let source = std::fs::read_to_string(&path).unwrap();
    orch_dsl::compile(&source)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .program
}

/// The generated code with the three long data literals (the embedded IR as JSON, the DOT and
/// the Mermaid text) cut short: the diagrams have snapshots of their own, and the IR is
/// checked by the round trip below.
fn readable(code: &str) -> String {
    let mut out = String::new();
    for line in code.lines() {
        let trimmed = line.trim_start();
        let elided = [
            "pub const DOT: &str = ",
            "pub const MERMAID: &str = ",
            "const PROGRAM_JSON: &[u8] = ",
        ]
        .iter()
        .find(|prefix| trimmed.starts_with(**prefix));
        match elided {
            Some(prefix) => {
                let indent = &line[..line.len() - trimmed.len()];
                out.push_str(&format!("{indent}{prefix}\"…\";\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn generated_code_snapshots() {
    insta::glob!("fixtures/valid/*.orch", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let program = orch_dsl::compile(&source).unwrap().program;
        let code = orch_dsl::codegen::to_source(orch_dsl::codegen::generate_program(&program));
        insta::assert_snapshot!(readable(&code));
    });
}

#[test]
fn generated_code_is_deterministic() {
    let program = compile_fixture("kitchen_sink");
    let first = orch_dsl::codegen::generate_program(&program).to_string();
    let second = orch_dsl::codegen::generate_program(&program.clone()).to_string();
    assert_eq!(first, second);
}

/// What the engine does when `state` ends with `event`, read from the IR: the edge it takes,
/// if any. `None` means the state stays where it is (a terminal).
fn ir_edge<'w>(kind: &'w StateKind, event: &EdgeEvent) -> Option<&'w ir::Edge> {
    if kind.is_terminal() {
        return None;
    }
    if let StateKind::Choice { arms, otherwise } = kind {
        return Some(match event {
            EdgeEvent::When(i) if *i < arms.len() => &arms[*i].1,
            _ => otherwise,
        });
    }
    let exits = kind
        .exits()
        .expect("a non-terminal, non-choice state has exits");
    let handled = match event {
        EdgeEvent::Ok => exits.ok.as_ref(),
        EdgeEvent::Outcome(label) => exits.for_outcome(label),
        EdgeEvent::Timeout => exits.timeout.as_ref(),
        EdgeEvent::Exhausted => match kind {
            StateKind::Loop(lp) => lp.exhausted.as_ref().or(exits.ok.as_ref()),
            _ => None,
        },
        EdgeEvent::Fail | EdgeEvent::When(_) | EdgeEvent::Else => None,
    };
    Some(handled.unwrap_or(&exits.fail))
}

/// Follows the IR as the engine does, counting bounded edges in `counters`.
fn ir_transition(
    workflow: &ir::Workflow,
    state: usize,
    event: &EdgeEvent,
    counters: &mut [u64],
) -> usize {
    let Some(edge) = ir_edge(&workflow.states[state].kind, event) else {
        return state;
    };
    match &edge.bound {
        Some(bound) => {
            let taken = counters[bound.id];
            counters[bound.id] = taken.saturating_add(1);
            edge.destination(taken)
        }
        None => edge.to,
    }
}

/// Every event a state of `workflow` could be given: the IR's own, and some it never handles.
fn events(workflow: &ir::Workflow) -> Vec<EdgeEvent> {
    let mut events = vec![
        EdgeEvent::Ok,
        EdgeEvent::Timeout,
        EdgeEvent::Fail,
        EdgeEvent::Exhausted,
        EdgeEvent::Else,
    ];
    let arms = workflow
        .states
        .iter()
        .map(|s| match &s.kind {
            StateKind::Choice { arms, .. } => arms.len(),
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    events.extend((0..=arms).map(EdgeEvent::When));
    events.extend(
        custom_outcomes(workflow)
            .into_iter()
            .map(EdgeEvent::Outcome),
    );
    events
}

fn custom_outcomes(workflow: &ir::Workflow) -> BTreeSet<ir::Name> {
    workflow
        .states
        .iter()
        .filter_map(|s| s.kind.exits())
        .flat_map(|e| e.outcomes.iter().map(|(label, _)| label.clone()))
        .collect()
}

/// Checks one generated module against the IR of the workflow it was generated from.
macro_rules! conformance {
    ($test:ident: $($module:ident)::+ from $stem:literal, $name:literal) => {
        #[test]
        fn $test() {
            use generated::$($module)::+ as m;
            use m::{Event, Outcome, State};

            let program = compile_fixture($stem);
            let workflow = program.workflow($name).expect("the fixture defines the workflow");

            assert_eq!(m::NAME, workflow.name);
            let names: Vec<&str> = workflow.states.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(State::ALL.map(State::name).to_vec(), names);
            for (i, state) in State::ALL.into_iter().enumerate() {
                assert_eq!(state.index(), i);
                assert_eq!(state.is_terminal(), workflow.states[i].kind.is_terminal());
            }
            assert_eq!(State::START.index(), workflow.start);
            assert_eq!(m::WORST_CASE_STEPS, workflow.worst_case_steps);
            assert_eq!(m::BOUNDS, workflow.bound_count);
            let labels: Vec<&str> = Outcome::ALL.map(Outcome::label).to_vec();
            let expected: Vec<ir::Name> = custom_outcomes(workflow).into_iter().collect();
            assert_eq!(labels, expected);

            assert_eq!(m::workflow(), workflow, "the embedded IR is the fixture's");
            let json = serde_json::to_string(m::program()).unwrap();
            let back: ir::Program = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, m::program(), "the embedded program survives a JSON round trip");
            for called in &m::program().workflows {
                assert_eq!(Some(called), program.workflow(&called.name));
            }

            let event_of = |event: &EdgeEvent| match event {
                EdgeEvent::Ok => Event::Ok,
                EdgeEvent::Outcome(label) => {
                    Event::Outcome(Outcome::from_label(label).expect("a generated outcome"))
                }
                EdgeEvent::Timeout => Event::Timeout,
                EdgeEvent::Fail => Event::Fail,
                EdgeEvent::Exhausted => Event::Exhausted,
                EdgeEvent::When(i) => Event::When(*i),
                EdgeEvent::Else => Event::Else,
            };
            let events = events(workflow);

            // Every state and event, the same edge taken again and again, so that every bound
            // runs out and every `max N else` fallback is taken.
            let repeats = workflow
                .states
                .iter()
                .flat_map(|s| s.kind.edges())
                .filter_map(|(_, e)| e.bound.as_ref().map(|b| b.max))
                .max()
                .unwrap_or(0)
                + 2;
            for (from, state) in State::ALL.into_iter().enumerate() {
                for event in &events {
                    let mut counters = [0u64; m::BOUNDS];
                    let mut expected_counters = vec![0u64; workflow.bound_count];
                    for round in 0..repeats {
                        let to = m::transition(state, event_of(event), &mut counters);
                        let expected = ir_transition(workflow, from, event, &mut expected_counters);
                        assert_eq!(
                            to.index(),
                            expected,
                            "`{}` on {event:?}, traversal {}",
                            state.name(),
                            round + 1
                        );
                        assert_eq!(counters.to_vec(), expected_counters);
                    }
                }
            }

            // Runs by hand: a fixed pseudo-random choice of events from the start, with the
            // counters shared along the way as in a real run.
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            for _ in 0..64 {
                let mut counters = [0u64; m::BOUNDS];
                let mut expected_counters = vec![0u64; workflow.bound_count];
                let mut state = State::START;
                for _ in 0..4 * workflow.worst_case_steps.max(1) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let event = &events[(seed % events.len() as u64) as usize];
                    let expected =
                        ir_transition(workflow, state.index(), event, &mut expected_counters);
                    state = m::transition(state, event_of(event), &mut counters);
                    assert_eq!(state.index(), expected);
                    assert_eq!(counters.to_vec(), expected_counters);
                    if state.is_terminal() {
                        break;
                    }
                }
            }
        }
    };
}

conformance!(build_website_conforms: build_website_orch::build_website from "build_website", "BuildWebsite");
conformance!(content_pipeline_conforms: content_pipeline_orch::content_pipeline from "content_pipeline", "ContentPipeline");
conformance!(human_approval_conforms: human_approval_orch::human_approval from "human_approval", "HumanApproval");
conformance!(kitchen_sink_conforms: kitchen_sink_orch::kitchen_sink from "kitchen_sink", "KitchenSink");
conformance!(publisher_conforms: kitchen_sink_orch::publisher from "kitchen_sink", "Publisher");
conformance!(map_reduce_conforms: map_reduce_orch::map_reduce_research from "map_reduce", "MapReduceResearch");
conformance!(math_solver_conforms: math_solver_orch::math_solver from "math_solver", "MathSolver");
conformance!(pipeline_conforms: pipeline_orch::pipeline from "pipeline", "Pipeline");
conformance!(refinement_conforms: refinement_loop_orch::refinement from "refinement_loop", "Refinement");
conformance!(report_conforms: sub_workflow_orch::report from "sub_workflow", "Report");
conformance!(research_conforms: sub_workflow_orch::research from "sub_workflow", "Research");
