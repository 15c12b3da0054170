//! Language-model workers against a chat-completions endpoint on 127.0.0.1: the request a role
//! renders, structured outcomes, outcomes the worker does not have, `Retry-After`, retries of
//! 5xx, timeouts, tokens and costs in the trail and the run's totals, and capability routing.

#![cfg(feature = "chat")]

#[path = "support/chat_server.rs"]
mod chat_server;

use std::time::Duration;

use chat_server::{Answer, ChatServer};
use orch_runtime::chat::{ChatWorker, Price, Role, capability_pool};
use orch_runtime::{Attempt, AttemptStatus, Engine, Entry, Event, RunResult, RunStatus, Usage};
use serde_json::{Value, json};

/// A worker in `role` asking `server`.
fn worker(server: &ChatServer, role: Role) -> ChatWorker {
    ChatWorker::new(role)
        .base_url(&server.base_url)
        .api_key("test-key")
        .timeout(Duration::from_secs(5))
}

fn attempts(result: &RunResult) -> Vec<&Attempt> {
    result
        .trail
        .iter()
        .filter_map(|entry| match entry {
            Entry::Attempt(attempt) => Some(&**attempt),
            _ => None,
        })
        .collect()
}

const ARTICLE: &str = r#"
    workflow Article {
        input { topic: string, readers: list }
        worker Writer;
        start write;
        task write by Writer {
            with { topic: "{{input.topic}}", readers: input.readers, words: 300 }
            ok -> done;
            fail -> failed;
        }
        succeed done output write.output;
        fail failed;
    }
"#;

#[tokio::test]
async fn the_role_s_prompt_is_rendered_with_the_call_s_input() {
    let server = ChatServer::scripted(vec![Answer::completion("Bread is old.", 42, 7)]);
    let writer = Role::new(
        "writer",
        "You write for {{input.readers[0]}}. Keep it under {{input.words}} words.",
    )
    .prompt("Write about {{ input.topic }}.")
    .model("small-1")
    .temperature(0.3)
    .max_tokens(400)
    .extra("top_p", json!(0.9));
    let engine = Engine::new();
    engine.bind("Writer", worker(&server, writer));
    engine.load(ARTICLE).unwrap();
    let result = engine
        .run(
            "Article",
            json!({"topic": "bread", "readers": ["bakers", "cooks"]}),
        )
        .await
        .unwrap();
    assert_eq!(result.output, Some(json!("Bread is old.")));

    let received = server.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(request.header("authorization"), Some("Bearer test-key"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.body,
        json!({
            "model": "small-1",
            "messages": [
                {"role": "system", "content": "You write for bakers. Keep it under 300 words."},
                {"role": "user", "content": "Write about bread."},
            ],
            "temperature": 0.3,
            "max_tokens": 400,
            "top_p": 0.9,
        })
    );
}

#[tokio::test]
async fn without_a_prompt_the_user_message_is_the_input() {
    let server = ChatServer::scripted(vec![Answer::completion("ok", 1, 1)]);
    let engine = Engine::new();
    engine.bind(
        "Writer",
        worker(&server, Role::new("writer", "You write.").model("m")),
    );
    engine.load(ARTICLE).unwrap();
    let input = json!({"topic": "bread", "readers": ["bakers"]});
    let result = engine.run("Article", input).await.unwrap();
    assert!(result.succeeded());
    let user = server.received()[0].message("user").to_string();
    let sent: Value = serde_json::from_str(&user).unwrap();
    assert_eq!(
        sent,
        json!({"topic": "bread", "readers": ["bakers"], "words": 300})
    );
}

const REVIEW: &str = r#"
    workflow Review {
        input { topic: string }
        worker Writer;
        worker Critic outcomes [accept, revise];
        start draft;
        task draft by Writer {
            with { topic: "{{input.topic}}" }
            ok -> critique;
            fail -> failed;
        }
        task critique by Critic {
            with { draft: "{{draft.output}}" }
            retry 1 backoff 10ms;
            on accept -> done;
            on revise -> draft max 2 else failed;
            fail -> failed;
        }
        succeed done output { draft: draft.output, verdict: critique.output };
        fail failed;
    }
"#;

fn review_engine(server: &ChatServer, critic_outcomes: Option<&[&str]>) -> Engine {
    let writer = Role::new("writer", "Draft an article about {{input.topic}}.").model("w-1");
    let critic = Role::new("critic", "Judge this draft: {{input.draft}}")
        .model("c-1")
        .json();
    let mut critic = worker(server, critic);
    if let Some(outcomes) = critic_outcomes {
        critic = critic.outcomes(outcomes.iter().copied());
    }
    let engine = Engine::new();
    engine
        .bind("Writer", worker(server, writer))
        .bind("Critic", critic);
    engine.load(REVIEW).unwrap();
    engine
}

#[tokio::test]
async fn a_structured_answer_s_outcome_field_picks_the_transition() {
    // The calls come one at a time: writer, critic, writer, critic.
    let server = ChatServer::scripted(vec![
        Answer::completion("draft 1", 10, 5),
        Answer::json(json!({"outcome": "revise", "notes": "shorter"}), 20, 6),
        Answer::completion("draft 2", 10, 5),
        Answer::json(
            json!({"outcome": "accept", "output": {"score": 0.9}}),
            20,
            6,
        ),
    ]);
    let engine = review_engine(&server, Some(&["accept", "revise"]));
    let result = engine.run("Review", json!({"topic": "rye"})).await.unwrap();
    assert!(result.succeeded(), "{:?}", result.error);
    assert_eq!(
        result.path(),
        ["draft", "critique", "draft", "critique", "done"]
    );
    let critiques: Vec<(Option<&str>, Option<&Value>)> = attempts(&result)
        .into_iter()
        .filter(|a| &*a.worker == "Critic")
        .map(|a| (a.outcome.as_deref(), a.output.as_ref()))
        .collect();
    assert_eq!(
        critiques,
        [
            (Some("revise"), Some(&json!({"notes": "shorter"}))),
            (Some("accept"), Some(&json!({"score": 0.9}))),
        ]
    );
    assert_eq!(
        result.output.as_ref().unwrap()["verdict"],
        json!({"score": 0.9})
    );
    // JSON mode, and the instruction lists the outcomes.
    let critic = server
        .received()
        .into_iter()
        .find(|r| r.body["model"] == "c-1")
        .unwrap();
    assert_eq!(
        critic.body["response_format"],
        json!({"type": "json_object"})
    );
    assert!(
        critic
            .message("system")
            .starts_with("Judge this draft: draft 1\n\n")
    );
    assert!(critic.message("system").ends_with(
        "\n\nAnswer with a JSON object whose \"outcome\" field is one of: \"accept\", \"revise\"."
    ));
}

#[tokio::test]
async fn an_outcome_the_worker_does_not_have_is_a_clear_failure() {
    let server = ChatServer::start(|request, _| {
        if request.body["model"] == "w-1" {
            Answer::completion("a draft", 10, 5)
        } else {
            Answer::json(json!({"outcome": "maybe"}), 30, 4)
        }
    });
    let engine = review_engine(&server, Some(&["accept", "revise"]));
    let result = engine.run("Review", json!({"topic": "rye"})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.path(), ["draft", "critique", "failed"]);
    let message = "the model answered outcome `maybe`, which worker `Critic` does not have (it \
                   answers one of `accept`, `revise`)";
    assert_eq!(result.states["critique"].error.as_deref(), Some(message));
    // A model's slip is worth another try: the task's `retry 1` asked twice, and both
    // attempts' tokens are counted.
    let critiques: Vec<&Attempt> = attempts(&result)
        .into_iter()
        .filter(|a| &*a.worker == "Critic")
        .collect();
    assert_eq!(critiques.len(), 2);
    for attempt in &critiques {
        assert_eq!(attempt.status, AttemptStatus::Failed);
        assert_eq!(attempt.error.as_deref(), Some(message));
        assert_eq!(attempt.usage.as_ref().unwrap().prompt_tokens, 30);
    }
    assert_eq!(result.usage.prompt_tokens, 10 + 30 + 30);
}

#[tokio::test]
async fn without_known_outcomes_the_engine_fails_an_unhandled_one() {
    let server = ChatServer::start(|request, _| {
        if request.body["model"] == "w-1" {
            Answer::completion("a draft", 10, 5)
        } else {
            Answer::json(json!({"outcome": "maybe"}), 30, 4)
        }
    });
    let engine = review_engine(&server, None);
    let result = engine.run("Review", json!({"topic": "rye"})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(
        result.states["critique"].error.as_deref(),
        Some("the reply's outcome `maybe` is not handled by state `critique`")
    );
}

const ONE_CALL: &str = r#"
    workflow Ask {
        worker Model;
        start ask;
        task ask by Model {
            with { question: "why?" }
            retry 2 backoff 10ms;
            timeout 30s; // the worker's own, shorter timeout stops a slow model first
            ok -> done;
            timeout -> late;
            fail -> failed;
        }
        succeed done output ask.output;
        succeed late output "too late";
        fail failed;
    }
"#;

fn one_call_engine(server: &ChatServer, role: Role, timeout: Duration) -> Engine {
    let engine = Engine::new();
    engine.bind("Model", worker(server, role).timeout(timeout));
    engine.load(ONE_CALL).unwrap();
    engine
}

fn asker() -> Role {
    Role::new("asker", "Answer briefly.").model("m-1")
}

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_after_the_retry_after_it_asks_for() {
    let server = ChatServer::scripted(vec![
        Answer::error(429, "Rate limit reached").header("Retry-After", "3"),
        Answer::completion("because", 5, 1),
    ]);
    let engine = one_call_engine(&server, asker(), Duration::from_secs(5));
    let mut events = engine.events();
    let began = tokio::time::Instant::now();
    let real = std::time::Instant::now();
    let result = engine.run("Ask", json!({})).await.unwrap();
    assert_eq!(result.output, Some(json!("because")));
    // The policy's backoff is 10ms; the service asked for 3s, and got them (on tokio's clock,
    // which this test pauses: no real second passes).
    assert!(began.elapsed() >= Duration::from_secs(3));
    assert!(real.elapsed() < Duration::from_secs(3));
    let mut delays = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::Retrying {
            delay_ms, error, ..
        } = event
        {
            delays.push((delay_ms, error));
        }
    }
    let endpoint = format!("{}/chat/completions", server.base_url);
    assert_eq!(
        delays,
        [(
            3000,
            format!("POST {endpoint} answered 429 Too Many Requests: Rate limit reached")
        )]
    );
    let statuses: Vec<AttemptStatus> = attempts(&result).iter().map(|a| a.status).collect();
    assert_eq!(statuses, [AttemptStatus::Failed, AttemptStatus::Ok]);
}

#[tokio::test]
async fn retry_after_ms_is_waited_on_the_real_clock() {
    let server = ChatServer::scripted(vec![
        Answer::error(429, "slow down").header("retry-after-ms", "400"),
        Answer::completion("because", 5, 1),
    ]);
    let engine = one_call_engine(&server, asker(), Duration::from_secs(5));
    let result = engine.run("Ask", json!({})).await.unwrap();
    assert!(result.succeeded());
    let received = server.received();
    assert_eq!(received.len(), 2);
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
}

#[tokio::test]
async fn a_500_is_retried_and_a_400_is_not() {
    let server = ChatServer::scripted(vec![
        Answer::error(500, "boom"),
        Answer::completion("because", 5, 1),
    ]);
    let engine = one_call_engine(&server, asker(), Duration::from_secs(5));
    let result = engine.run("Ask", json!({})).await.unwrap();
    assert_eq!(result.output, Some(json!("because")));
    assert_eq!(server.received().len(), 2);
    let first = attempts(&result)[0];
    assert_eq!(first.status, AttemptStatus::Failed);
    assert!(
        first
            .error
            .as_deref()
            .unwrap()
            .ends_with("answered 500 Internal Server Error: boom")
    );

    let server = ChatServer::scripted(vec![
        Answer::error(400, "unknown model `m-1`"),
        Answer::completion("never", 5, 1),
    ]);
    let engine = one_call_engine(&server, asker(), Duration::from_secs(5));
    let result = engine.run("Ask", json!({})).await.unwrap();
    assert_eq!(result.terminal.as_deref(), Some("failed"));
    assert_eq!(server.received().len(), 1);
    assert!(
        result.states["ask"]
            .error
            .as_deref()
            .unwrap()
            .ends_with("answered 400 Bad Request: unknown model `m-1`")
    );
}

#[tokio::test]
async fn a_model_that_does_not_answer_in_time_times_out() {
    // Every answer comes too late: three attempts time out, and the task takes `timeout ->`.
    let server =
        ChatServer::start(|_, _| Answer::completion("late", 1, 1).after(Duration::from_secs(2)));
    let engine = one_call_engine(&server, asker(), Duration::from_millis(200));
    let result = engine.run("Ask", json!({})).await.unwrap();
    assert_eq!(result.path(), ["ask", "late"]);
    let tried = attempts(&result);
    assert_eq!(tried.len(), 3);
    for attempt in tried {
        assert_eq!(attempt.status, AttemptStatus::TimedOut);
        assert!(
            attempt
                .error
                .as_deref()
                .unwrap()
                .ends_with("the model did not answer within 200ms")
        );
    }

    // One slow answer, then a quick one: the retry succeeds.
    let server = ChatServer::scripted(vec![
        Answer::completion("late", 1, 1).after(Duration::from_secs(2)),
        Answer::completion("in time", 1, 1),
    ]);
    let engine = one_call_engine(&server, asker(), Duration::from_millis(200));
    let result = engine.run("Ask", json!({})).await.unwrap();
    assert_eq!(result.output, Some(json!("in time")));
}

#[tokio::test]
async fn tokens_and_costs_are_kept_per_attempt_and_added_up() {
    // The writer's model reports a dated name; its price is found by prefix. The critic's
    // first answer is unusable but paid for.
    let server = ChatServer::start(|request, index| {
        if request.body["model"] == "w-1" {
            Answer::completion("a draft", 1_000, 500).model("w-1-2025-01-01")
        } else if index == 1 {
            Answer::completion("not json", 200, 10)
        } else {
            Answer::json(json!({"outcome": "accept"}), 300, 20)
        }
    });
    let writer = Role::new("writer", "Draft about {{input.topic}}.").model("w-1");
    let critic = Role::new("critic", "Judge {{input.draft}}.")
        .model("c-1")
        .json();
    let engine = Engine::new();
    engine
        .bind(
            "Writer",
            worker(&server, writer).price("w-1", Price::per_million(2.0, 8.0)),
        )
        .bind(
            "Critic",
            worker(&server, critic)
                .outcomes(["accept", "revise"])
                .price("c-1", Price::per_million(1.0, 4.0)),
        );
    engine.load(REVIEW).unwrap();
    let result = engine.run("Review", json!({"topic": "rye"})).await.unwrap();
    assert!(result.succeeded(), "{:?}", result.error);

    let usages: Vec<(AttemptStatus, Usage)> = attempts(&result)
        .into_iter()
        .map(|a| (a.status, a.usage.as_deref().cloned().unwrap()))
        .collect();
    let usage = |model: &str, prompt, completion, cost| Usage {
        model: Some(model.to_string()),
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost,
    };
    assert_eq!(
        usages,
        [
            (
                AttemptStatus::Ok,
                usage("w-1-2025-01-01", 1_000, 500, 0.006)
            ),
            (AttemptStatus::Failed, usage("c-1", 200, 10, 0.00024)),
            (AttemptStatus::Ok, usage("c-1", 300, 20, 0.00038)),
        ]
    );
    assert_eq!(result.usage.prompt_tokens, 1_500);
    assert_eq!(result.usage.completion_tokens, 530);
    assert!(
        (result.usage.cost - 0.00662).abs() < 1e-12,
        "{}",
        result.usage.cost
    );
    assert_eq!(result.usage.model, None, "two models were used");
    // Latency is each attempt's duration.
    assert!(attempts(&result).iter().all(|a| a.duration_us > 0));
    // The trail's usage survives serialization, as a store keeps it.
    let text = serde_json::to_string(&result).unwrap();
    let back: RunResult = serde_json::from_str(&text).unwrap();
    assert_eq!(back.usage, result.usage);
}

#[tokio::test]
async fn capability_routing_sends_each_call_to_the_role_with_the_tags() {
    let server = ChatServer::start(|request, _| {
        let who = request.message("system").to_string();
        Answer::completion(&format!("{who} did {}", request.message("user")), 3, 2)
    });
    let rust = Role::new("rust_dev", "rust_dev")
        .tags(["rust", "backend"])
        .model("m")
        .prompt("{{input.work}}");
    let web = Role::new("web_dev", "web_dev")
        .tags(["html", "css", "frontend"])
        .model("m")
        .prompt("{{input.work}}");
    let engine = Engine::new();
    engine.bind(
        "Developer",
        capability_pool("needs", [worker(&server, rust), worker(&server, web)]),
    );
    engine
        .load(
            r#"
            workflow Build {
                input { jobs: list }
                worker Developer;
                start build;
                map build over input.jobs as job by Developer {
                    with { needs: job.needs, work: job.work }
                    ok -> done;
                    fail -> failed;
                }
                succeed done output build.output;
                fail failed;
            }
            "#,
        )
        .unwrap();
    let jobs = json!([
        {"needs": ["rust"], "work": "the API"},
        {"needs": ["css", "html"], "work": "the page"},
        {"needs": "backend", "work": "the queue"},
    ]);
    let result = engine.run("Build", json!({"jobs": jobs})).await.unwrap();
    assert_eq!(
        result.output,
        Some(json!([
            "rust_dev did the API",
            "web_dev did the page",
            "rust_dev did the queue"
        ]))
    );

    let jobs = json!([{"needs": ["cobol"], "work": "the ledger"}]);
    let before = server.received().len();
    let result = engine.run("Build", json!({"jobs": jobs})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert!(
        result.states["build"]
            .error
            .as_deref()
            .unwrap()
            .contains(r#"no worker in the pool of `Developer` with capabilities ["cobol"]"#),
        "{:?}",
        result.states["build"].error
    );
    assert_eq!(server.received().len(), before, "no model was asked");
}

#[tokio::test]
async fn a_schema_is_sent_and_a_refusal_is_permanent() {
    let server = ChatServer::scripted(vec![Answer::status(
        200,
        &json!({
            "model": "m-1",
            "choices": [{"message": {"content": null, "refusal": "I cannot help with that."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3},
        })
        .to_string(),
    )]);
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": false,
    });
    let role = asker().schema(schema.clone());
    let role = Role {
        strict: Some(true),
        ..role
    };
    let engine = one_call_engine(&server, role, Duration::from_secs(5));
    let result = engine.run("Ask", json!({})).await.unwrap();
    assert_eq!(result.terminal.as_deref(), Some("failed"));
    assert_eq!(
        result.states["ask"].error.as_deref(),
        Some("the model refused: I cannot help with that.")
    );
    assert_eq!(server.received().len(), 1, "a refusal is not retried");
    assert_eq!(result.usage.prompt_tokens, 9);
    assert_eq!(
        server.received()[0].body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "asker", "schema": schema, "strict": true}})
    );
}

#[tokio::test]
async fn an_endpoint_that_is_not_there_is_retried_then_fails() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let engine = Engine::new();
    engine.bind(
        "Model",
        ChatWorker::new(asker())
            .base_url(format!("http://127.0.0.1:{port}/v1"))
            .timeout(Duration::from_secs(5)),
    );
    engine.load(ONE_CALL).unwrap();
    let result = engine.run("Ask", json!({})).await.unwrap();
    assert_eq!(result.terminal.as_deref(), Some("failed"));
    assert_eq!(attempts(&result).len(), 3);
    let error = result.states["ask"].error.clone().unwrap();
    assert!(
        error.starts_with(&format!(
            "POST http://127.0.0.1:{port}/v1/chat/completions failed:"
        )),
        "{error}"
    );
}
