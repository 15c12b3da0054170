//! Runs `examples/llm_pipeline.rs` against a chat-completions endpoint on 127.0.0.1: the
//! critic's structured outcomes drive the revision loop, its notes reach the writer, the editor
//! is picked by expertise, and the tokens and costs add up; without an endpoint it explains
//! itself.

#[allow(dead_code)]
#[path = "../examples/llm_pipeline.rs"]
mod llm_pipeline_example;

#[path = "../orch-runtime/tests/support/chat_server.rs"]
mod chat_server;

use std::sync::atomic::{AtomicUsize, Ordering};

use chat_server::{Answer, ChatServer};
use llm_pipeline_example::{Endpoint, example, explanation, run};
use orch_runtime::RunStatus;
use serde_json::{Value, json};

#[tokio::test]
async fn the_llm_pipeline_runs_against_a_compatible_endpoint() {
    let drafts = AtomicUsize::new(0);
    let verdicts = AtomicUsize::new(0);
    let server = ChatServer::start(move |request, _| {
        let system = request.message("system");
        if system.starts_with("You write short") {
            let n = drafts.fetch_add(1, Ordering::SeqCst) + 1;
            Answer::completion(&format!("draft {n}"), 100, 150).model("gpt-4o-mini-2024-07-18")
        } else if system.starts_with("You are a demanding editor") {
            if verdicts.fetch_add(1, Ordering::SeqCst) == 0 {
                Answer::json(
                    json!({"outcome": "revise", "notes": "name the flour", "score": 5}),
                    200,
                    20,
                )
            } else {
                Answer::json(json!({"outcome": "accept", "score": 8}), 200, 10)
            }
        } else if system.starts_with("Write one title") {
            Answer::completion("Starters, Explained", 150, 5)
        } else {
            Answer::error(400, "unexpected role")
        }
    });
    let endpoint = Endpoint {
        base_url: server.base_url.clone(),
        api_key: Some("sk-test".into()),
        model: "gpt-4o-mini".into(),
    };
    let result = run(&endpoint, "sourdough").await.unwrap();
    assert_eq!(result.status, RunStatus::Succeeded, "{:?}", result.error);
    assert_eq!(
        result.path(),
        ["draft", "critique", "draft", "critique", "title", "done"]
    );
    assert_eq!(
        result.output,
        Some(json!({
            "title": "Starters, Explained",
            "article": "draft 2",
            "verdict": {"score": 8},
        }))
    );

    let received = server.received();
    assert_eq!(received.len(), 5);
    // The writer's user message is its input as JSON: no notes at first, the critic's after.
    let writer_input =
        |at: usize| -> Value { serde_json::from_str(received[at].message("user")).unwrap() };
    assert_eq!(
        writer_input(0),
        json!({"topic": "sourdough", "audience": "home bakers", "notes": null})
    );
    assert_eq!(writer_input(2)["notes"], "name the flour");
    assert!(
        received[1]
            .message("system")
            .starts_with("You are a demanding editor for home bakers.")
    );
    assert_eq!(received[1].message("user"), "draft 1");
    assert_eq!(
        received[1].body["response_format"],
        json!({"type": "json_object"})
    );
    assert!(
        received
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer sk-test"))
    );
    assert!(received.iter().all(|r| r.body["model"] == "gpt-4o-mini"));

    // Writer: 2 × (100 × 0.15 + 150 × 0.60) / 1e6; critic: 2 × 200 prompt, 30 completion; editor.
    assert_eq!(result.usage.prompt_tokens, 2 * 100 + 2 * 200 + 150);
    assert_eq!(result.usage.completion_tokens, 2 * 150 + 30 + 5);
    let expected = (750.0 * 0.15 + 335.0 * 0.60) / 1e6;
    assert!(
        (result.usage.cost - expected).abs() < 1e-12,
        "{}",
        result.usage.cost
    );
    llm_pipeline_example::print_usage(&result);
}

#[tokio::test]
async fn without_a_base_url_the_example_explains_itself_and_succeeds() {
    // The environment it reads: a key and a model, and this base URL.
    let vars = |base_url: Option<&'static str>| {
        move |name: &str| match name {
            "OPENAI_BASE_URL" => base_url.map(str::to_string),
            "OPENAI_API_KEY" => Some("sk-test".to_string()),
            "OPENAI_MODEL" => Some("my-model".to_string()),
            _ => None,
        }
    };
    // No base URL, or a blank one: no endpoint, whatever else is set.
    assert!(Endpoint::from_vars(vars(None)).is_none());
    assert!(Endpoint::from_vars(vars(Some(" "))).is_none());
    let endpoint = Endpoint::from_vars(vars(Some("http://127.0.0.1:9/v1"))).unwrap();
    assert_eq!(
        (endpoint.base_url.as_str(), endpoint.model.as_str()),
        ("http://127.0.0.1:9/v1", "my-model")
    );

    // What it prints then: what it needs, how to run it, and what it does.
    let text = explanation();
    for needed in [
        "none is configured",
        "Set OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_MODEL picks the model, default gpt-4o-mini",
        "cargo run --example llm_pipeline",
        "See docs/llm.md.",
    ] {
        assert!(text.contains(needed), "{needed:?} in {text}");
    }
    // The example's `main` without an endpoint: it explains itself and succeeds, asking no one.
    example(None).await.unwrap();
}
