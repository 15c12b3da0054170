//! Runs every example of `examples/` in-process and checks what it observably did: how the run
//! ended, the path it took, its key outputs, and, for the patterns with a bound, that the bound
//! held.
//!
//! Each example keeps its logic in a `pub async fn run(…)` that its `main` calls; the example
//! file is included here as a module, so the test runs exactly the code of the example, with
//! its scripted workers.

// Every example includes `examples/support/mod.rs`, so this crate loads it once per example.
#![allow(clippy::duplicate_mod)]

use orch_runtime::{Entry, RunResult, RunStatus};
use serde_json::json;

macro_rules! examples {
    ($($module:ident = $file:literal;)*) => {
        $(
            #[allow(dead_code)]
            #[path = $file]
            mod $module;
        )*
    };
}

examples! {
    build_website_example = "../examples/build_website.rs";
    pipeline_example = "../examples/pipeline.rs";
    content_pipeline_example = "../examples/content_pipeline.rs";
    math_solver_example = "../examples/math_solver.rs";
    critic_revise_example = "../examples/critic_revise.rs";
    parallel_experts_example = "../examples/parallel_experts.rs";
    iterative_refinement_example = "../examples/iterative_refinement.rs";
    chain_of_thought_example = "../examples/chain_of_thought.rs";
    planner_executor_reviewer_example = "../examples/planner_executor_reviewer.rs";
    map_reduce_research_example = "../examples/map_reduce_research.rs";
    tree_of_thoughts_example = "../examples/tree_of_thoughts.rs";
    ping_pong_example = "../examples/ping_pong.rs";
    self_correcting_coder_example = "../examples/self_correcting_coder.rs";
    hub_and_spoke_example = "../examples/hub_and_spoke.rs";
    hierarchical_teams_example = "../examples/hierarchical_teams.rs";
    conversation_example = "../examples/conversation.rs";
    human_approval_example = "../examples/human_approval.rs";
    durable_release_example = "../examples/durable_release.rs";
}

/// Checks how a run ended and the path it took, and that it stayed within the step bound the
/// compiler proved.
fn check_run(
    result: &RunResult,
    status: RunStatus,
    terminal: &str,
    path: &[&str],
    worst_case_steps: u64,
) {
    assert_eq!(result.status, status, "{result:#?}");
    assert_eq!(result.terminal.as_deref(), Some(terminal));
    assert_eq!(result.path(), path);
    assert!(
        result.steps <= worst_case_steps,
        "{} steps, but the compiler proved at most {worst_case_steps}",
        result.steps
    );
}

/// The worker calls recorded for `state`, retries included.
fn attempts<'r>(result: &'r RunResult, state: &str) -> Vec<&'r orch_runtime::Attempt> {
    result
        .trail
        .iter()
        .filter_map(|entry| match entry {
            Entry::Attempt(attempt) if &*attempt.state == state => Some(&**attempt),
            _ => None,
        })
        .collect()
}

/// How often the run entered `state`.
fn entered(result: &RunResult, state: &str) -> usize {
    result.path().iter().filter(|s| *s == state).count()
}

#[tokio::test]
async fn build_website() {
    use build_website_example::build_website::WORST_CASE_STEPS;
    let result = build_website_example::run("a landing page for a bakery")
        .await
        .unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &["specs", "code", "review", "code", "review", "done"],
        WORST_CASE_STEPS,
    );
    assert_eq!(result.output, Some(json!("<html><!-- 4 --></html>")));
}

#[tokio::test]
async fn pipeline() {
    use pipeline_example::pipeline::WORST_CASE_STEPS;
    let result = pipeline_example::run().await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &[
            "analyze",
            "design",
            "implement",
            "test",
            "implement",
            "test",
            "deploy",
            "done",
        ],
        WORST_CASE_STEPS,
    );
    assert_eq!(result.output, Some(json!("build 2 deployed to staging")));
    // `failed_tests -> implement max 3`: at most four builds.
    assert!(entered(&result, "implement") <= 4);
    // The first deployment failed and was retried.
    let deploys = attempts(&result, "deploy");
    assert_eq!(deploys.len(), 2);
    assert_eq!(
        deploys[0].error.as_deref(),
        Some("the registry did not answer")
    );
    assert_eq!(deploys[1].attempt, 2);
}

#[tokio::test]
async fn content_pipeline() {
    use content_pipeline_example::content_pipeline::WORST_CASE_STEPS;
    let result = content_pipeline_example::run().await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "published",
        &["research", "draft", "reviews", "revise", "published"],
        WORST_CASE_STEPS,
    );
    assert_eq!(
        result.states["reviews"].output,
        Some(json!({
            "clarity": "explain what a starter is",
            "accuracy": "the starter takes five days, not three",
        }))
    );
    let revision = attempts(&result, "revise");
    assert_eq!(revision[0].input["clarity"], "explain what a starter is");
    assert!(
        result
            .output
            .as_ref()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("five days"),
        "{:?}",
        result.output
    );
}

#[tokio::test]
async fn math_solver() {
    use math_solver_example::math_solver::WORST_CASE_STEPS;
    let [simple, complex] = math_solver_example::PROBLEMS;
    let result = math_solver_example::run(simple).await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "solved_simply",
        &["classify", "route", "simple", "solved_simply"],
        WORST_CASE_STEPS,
    );
    assert_eq!(result.output, Some(json!({ "answer": 42 })));

    let result = math_solver_example::run(complex).await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "solved_thoroughly",
        &["classify", "route", "complex", "solved_thoroughly"],
        WORST_CASE_STEPS,
    );
    assert_eq!(result.output.as_ref().unwrap()["answer"], 9);
}

#[tokio::test]
async fn critic_revise() {
    use critic_revise_example::critic_revise::WORST_CASE_STEPS;
    let result = critic_revise_example::run().await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &[
            "draft", "critique", "draft", "critique", "draft", "critique", "done",
        ],
        WORST_CASE_STEPS,
    );
    assert_eq!(
        result.output,
        Some(json!("draft 3: why the river floods in spring"))
    );
    let verdicts: Vec<_> = attempts(&result, "critique")
        .iter()
        .map(|a| a.outcome.clone().unwrap())
        .collect();
    assert_eq!(verdicts, ["revise", "revise", "accept"]);
    // `on revise -> draft max 3`: at most four drafts.
    assert!(entered(&result, "draft") <= 4);
}

#[tokio::test]
async fn parallel_experts() {
    use parallel_experts_example::parallel_experts::WORST_CASE_STEPS;
    let result = parallel_experts_example::run().await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &["experts", "synthesize", "done"],
        WORST_CASE_STEPS,
    );
    let branches: Vec<_> = attempts(&result, "experts")
        .iter()
        .map(|a| a.branch.as_deref().unwrap().to_string())
        .collect();
    assert_eq!(branches.len(), 3);
    for expert in ["economist", "engineer", "ethicist"] {
        assert!(branches.iter().any(|b| b == expert), "{branches:?}");
    }
    // The synthesizer read all three views as `experts.output`.
    let synthesis = attempts(&result, "synthesize");
    let opinions = synthesis[0].input["opinions"].as_object().unwrap();
    assert_eq!(opinions.len(), 3);
    assert_eq!(result.output.as_ref().unwrap()["in_favour"], 3);
}

#[tokio::test]
async fn iterative_refinement() {
    use iterative_refinement_example::iterative_refinement::WORST_CASE_STEPS;
    let result = iterative_refinement_example::run().await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &["refine", "done"],
        WORST_CASE_STEPS,
    );
    let rounds = attempts(&result, "refine");
    // It converged in the fourth round, within `max 5`.
    assert_eq!(rounds.len(), 4);
    assert_eq!(rounds[0].input["previous"], json!(null));
    // Each round read the previous one as `round.previous`.
    for pair in rounds.windows(2) {
        assert_eq!(pair[1].input["previous"], *pair[0].output.as_ref().unwrap());
    }
    let output = result.output.unwrap();
    assert!(output["score"].as_f64().unwrap() >= 0.9);
    assert_eq!(output["applied"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn chain_of_thought() {
    use chain_of_thought_example::chain_of_thought::WORST_CASE_STEPS;
    let result = chain_of_thought_example::run().await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &["understand", "plan", "compute", "check", "answer", "done"],
        WORST_CASE_STEPS,
    );
    // Each step read the one before it.
    assert_eq!(
        attempts(&result, "compute")[0].input["plan"],
        *attempts(&result, "plan")[0].output.as_ref().unwrap()
    );
    assert_eq!(
        attempts(&result, "check")[0].input["result"],
        json!({ "total": 36, "left": 31 })
    );
    assert_eq!(
        result.output,
        Some(json!("31 eggs are left (checked: true)"))
    );
}

#[tokio::test]
async fn planner_executor_reviewer() {
    use planner_executor_reviewer_example::planner_executor_reviewer::WORST_CASE_STEPS;
    let result = planner_executor_reviewer_example::run().await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &[
            "plan", "execute", "review", "plan", "execute", "review", "done",
        ],
        WORST_CASE_STEPS,
    );
    // `on replan -> plan max 2`: at most three plans.
    assert!(entered(&result, "plan") <= 3);
    // One executor per step: three for the first plan, four for the second.
    let items: Vec<_> = attempts(&result, "execute")
        .iter()
        .map(|a| a.item.unwrap())
        .collect();
    assert_eq!(items.len(), 7);
    let output = result.output.unwrap();
    assert_eq!(output["steps"].as_array().unwrap().len(), 4);
    assert_eq!(output["results"][3], "done: order the catering");
}

#[tokio::test]
async fn map_reduce_research() {
    use map_reduce_research_example::map_reduce_research::WORST_CASE_STEPS;
    let research = map_reduce_research_example::run().await.unwrap();
    let result = &research.result;
    check_run(
        result,
        RunStatus::Succeeded,
        "done",
        &["plan", "research", "synthesize", "done"],
        WORST_CASE_STEPS,
    );
    // `limit 2`: never more than two researchers at once.
    assert!(
        (1..=2).contains(&research.peak_concurrency),
        "{} researchers at once",
        research.peak_concurrency
    );
    assert_eq!(attempts(result, "research").len(), 5);
    // The findings come back in the order of the topics.
    assert_eq!(
        result.output.as_ref().unwrap()["based_on"],
        json!([
            "three sources on history",
            "three sources on cost",
            "three sources on safety",
            "three sources on regulation",
            "three sources on public opinion",
        ])
    );
}

#[tokio::test]
async fn tree_of_thoughts() {
    use tree_of_thoughts_example::tree_of_thoughts::WORST_CASE_STEPS;
    let result = tree_of_thoughts_example::run().await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "chose_lateral",
        &["explore", "evaluate", "select", "chose_lateral"],
        WORST_CASE_STEPS,
    );
    assert_eq!(attempts(&result, "explore").len(), 3);
    assert_eq!(
        result.output,
        Some(json!({
            "approach": "lateral",
            "plan": "let customers choose in the app and follow the demand",
        }))
    );
}

#[tokio::test]
async fn ping_pong_converges() {
    use ping_pong_example::ping_pong::WORST_CASE_STEPS;
    let result = ping_pong_example::run(ping_pong_example::PERSUADABLE)
        .await
        .unwrap();
    let round = ["create", "critique", "verdict"];
    let path: Vec<&str> = round.repeat(3).into_iter().chain(["done"]).collect();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &path,
        WORST_CASE_STEPS,
    );
    assert_eq!(
        result.output,
        Some(json!({ "slogan": "slogan, take 3", "version": 3, "score": 0.85 }))
    );
}

#[tokio::test]
async fn ping_pong_stops_at_the_bound() {
    use ping_pong_example::ping_pong::WORST_CASE_STEPS;
    let result = ping_pong_example::run(ping_pong_example::UNCONVINCED)
        .await
        .unwrap();
    let round = ["create", "critique", "verdict"];
    let path: Vec<&str> = round
        .repeat(5)
        .into_iter()
        .chain(["not_good_enough"])
        .collect();
    check_run(
        &result,
        RunStatus::Failed,
        "not_good_enough",
        &path,
        WORST_CASE_STEPS,
    );
    // `else -> create max 4`: five versions, not one more.
    assert_eq!(entered(&result, "create"), 5);
    assert_eq!(
        result.error,
        Some(json!("the fifth version still scored 0.7"))
    );
}

#[tokio::test]
async fn self_correcting_coder() {
    use self_correcting_coder_example::self_correcting_coder::WORST_CASE_STEPS;
    let result = self_correcting_coder_example::run().await.unwrap();
    let round = ["write", "test", "verdict"];
    let path: Vec<&str> = round.repeat(3).into_iter().chain(["done"]).collect();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &path,
        WORST_CASE_STEPS,
    );
    let failing: Vec<_> = attempts(&result, "test")
        .iter()
        .map(|a| a.output.as_ref().unwrap()["failing"].as_u64().unwrap())
        .collect();
    assert_eq!(failing, [2, 1, 0]);
    // `else -> write max 3`: at most four versions.
    assert!(entered(&result, "write") <= 4);
    assert_eq!(result.output.as_ref().unwrap()["version"], 3);
}

#[tokio::test]
async fn hub_and_spoke() {
    use hub_and_spoke_example::hub_and_spoke::WORST_CASE_STEPS;
    let [billing, technical, accounts] = hub_and_spoke_example::REQUESTS;
    for (request, spoke, answer) in [
        (
            billing,
            "billing",
            "We refunded the second charge for March.",
        ),
        (
            technical,
            "technical",
            "Version 2.4.1, out today, fixes the crash on the map.",
        ),
        (
            accounts,
            "accounts",
            "You can now sign in with your new email address.",
        ),
    ] {
        let result = hub_and_spoke_example::run(request).await.unwrap();
        let reply = format!("reply_{spoke}");
        let terminal = format!("answered_{spoke}");
        check_run(
            &result,
            RunStatus::Succeeded,
            &terminal,
            &["triage", "route", spoke, &reply, &terminal],
            WORST_CASE_STEPS,
        );
        // The specialist's answer reached the hub through the run's data.
        assert_eq!(attempts(&result, &reply)[0].input["answer"], answer);
        assert_eq!(
            result.output,
            Some(json!(format!("Thank you for writing. {answer}")))
        );
    }
}

#[tokio::test]
async fn hierarchical_teams() {
    use hierarchical_teams_example::hierarchical_teams::WORST_CASE_STEPS;
    let result = hierarchical_teams_example::run().await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &["plan", "frontend", "backend", "accept", "done"],
        WORST_CASE_STEPS,
    );
    let children = |run: &RunResult| -> Vec<RunResult> {
        run.trail
            .iter()
            .filter_map(|entry| match entry {
                Entry::Child { run, .. } => Some((**run).clone()),
                _ => None,
            })
            .collect()
    };
    let teams = children(&result);
    assert_eq!(teams.len(), 2);
    for (team, tasks) in teams.iter().zip([2, 3]) {
        assert_eq!(&*team.workflow, "Team");
        assert_eq!(team.path(), ["split", "develop", "review", "done"]);
        let developments = children(team);
        assert_eq!(developments.len(), 1);
        let development = &developments[0];
        assert_eq!(&*development.workflow, "Development");
        assert_eq!(development.path(), ["implement", "check", "done"]);
        assert_eq!(attempts(development, "implement").len(), tasks);
    }
    assert_eq!(
        result.output.as_ref().unwrap()["backend"],
        "the availability service (3 tasks, tested)"
    );
}

#[tokio::test]
async fn conversation_ends_when_the_user_says_bye() {
    use conversation_example::conversation::WORST_CASE_STEPS;
    let result = conversation_example::run(&conversation_example::BRIEF_USER)
        .await
        .unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &["chat", "done"],
        WORST_CASE_STEPS,
    );
    assert_eq!(attempts(&result, "chat").len(), 3);
    let transcript = result.output.unwrap();
    assert_eq!(transcript.as_array().unwrap().len(), 3);
    assert_eq!(transcript[2]["user"], "thanks, bye");
}

#[tokio::test]
async fn conversation_stops_after_six_turns() {
    use conversation_example::conversation::WORST_CASE_STEPS;
    let result = conversation_example::run(&conversation_example::CHATTY_USER)
        .await
        .unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &["chat", "done"],
        WORST_CASE_STEPS,
    );
    // `max 6`: six turns although the user had eight messages.
    assert_eq!(attempts(&result, "chat").len(), 6);
    assert_eq!(result.output.unwrap().as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn human_approval_signal() {
    use human_approval_example::human_approval::WORST_CASE_STEPS;
    let result = human_approval_example::run(true).await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &["draft", "approval", "execute", "done"],
        WORST_CASE_STEPS,
    );
    let signal = result.trail.iter().find_map(|entry| match entry {
        Entry::Signal(received) => Some((received.payload.clone(), received.timed_out)),
        _ => None,
    });
    assert_eq!(
        signal,
        Some((Some(json!({ "by": "ada", "comment": "go ahead" })), false))
    );
    assert!(attempts(&result, "escalate").is_empty());
}

#[tokio::test]
async fn human_approval_escalates_on_timeout() {
    use human_approval_example::human_approval::WORST_CASE_STEPS;
    let result = human_approval_example::run(false).await.unwrap();
    check_run(
        &result,
        RunStatus::Succeeded,
        "done",
        &["draft", "approval", "escalate", "execute", "done"],
        WORST_CASE_STEPS,
    );
    let timed_out = result
        .trail
        .iter()
        .any(|entry| matches!(entry, Entry::Signal(received) if received.timed_out));
    assert!(timed_out);
    assert_eq!(
        attempts(&result, "escalate")[0].outcome.as_deref(),
        Some("approved")
    );
}

#[tokio::test]
async fn durable_release() {
    use durable_release_example::durable_release::WORST_CASE_STEPS;
    let durable = durable_release_example::run().await.unwrap();
    check_run(
        &durable.result,
        RunStatus::Succeeded,
        "done",
        &["build", "stage", "sign_off", "publish", "done"],
        WORST_CASE_STEPS,
    );
    // The first engine stopped while the run waited for the sign-off.
    assert_eq!(durable.stored_at, "sign_off");
    // Across both engines every worker was called once: nothing ran again after the restart.
    assert_eq!(
        durable.calls,
        ["Builder build", "Stager stage", "Publisher publish"]
    );
    assert_eq!(attempts(&durable.result, "build").len(), 1);
    assert_eq!(
        durable.result.output,
        Some(json!("bakery 2.0.0 is released"))
    );
}
