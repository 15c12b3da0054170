//! Language models as workers: an article drafted by a writer model, judged by a critic model
//! that answers with a structured outcome (`accept` or `revise`, with notes the writer reads on
//! its next pass, at most twice), and titled by an editor picked from a pool of roles by the
//! expertise the call needs. Every attempt's model, tokens, latency and estimated cost are
//! printed from the audit trail, with the run's totals.
//!
//! It runs against any OpenAI-compatible chat-completions endpoint:
//!
//! ```text
//! OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=sk-… cargo run --example llm_pipeline
//! OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_MODEL=qwen2.5-7b-instruct cargo run --example llm_pipeline
//! ```
//!
//! `OPENAI_MODEL` picks the model (default `gpt-4o-mini`). Without `OPENAI_BASE_URL` the example
//! explains itself and exits. The workflow is checked when this file compiles; the roles are
//! built in Rust here, and the same roles can be written in `orch.toml` for `orch run`
//! (docs/llm.md).

use std::time::Duration;

use orch_runtime::chat::{ChatWorker, Price, Role, capability_pool};
use orch_runtime::{Engine, Entry, RunResult, StartError};
use serde_json::json;

#[path = "support/mod.rs"]
mod support;

orch_runtime::workflow! {
    /// A writer drafts, a critic accepts or sends the draft back with notes, an editor titles it.
    workflow LlmPipeline {
        input { topic: string, audience: string }
        worker Writer "drafts a short article";
        worker Critic "accepts a draft or asks for a revision" outcomes [accept, revise];
        worker Editor "titles the article: a pool of editors, picked by expertise";
        timeout 10m;
        start draft;

        task draft by Writer {
            with { topic: input.topic, audience: input.audience, notes: critique.output.notes? }
            retry 2 backoff 1s x2 jitter;
            ok -> critique;
            fail -> failed;
        }
        task critique by Critic {
            with { draft: "{{draft.output}}", audience: "{{input.audience}}" }
            retry 2 backoff 1s x2 jitter;
            on accept -> title;
            on revise -> draft max 2 else title; // after two revisions the draft is good enough
            fail -> failed;
        }
        task title by Editor {
            with { needs: ["headlines"], draft: "{{draft.output}}" }
            retry 2 backoff 1s x2 jitter;
            ok -> done;
            fail -> failed;
        }
        succeed done output { title: title.output, article: draft.output, verdict: critique.output };
        fail failed;
    }
}

/// Where the models are.
pub struct Endpoint {
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
}

impl Endpoint {
    /// `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPENAI_MODEL`; `None` without a base URL.
    pub fn from_env() -> Option<Endpoint> {
        Endpoint::from_vars(|name| std::env::var(name).ok())
    }

    /// The endpoint the variables `var` gives describe; `None` without a base URL. Blank
    /// values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Endpoint> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        Some(Endpoint {
            base_url: var("OPENAI_BASE_URL")?,
            api_key: var("OPENAI_API_KEY"),
            model: var("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
        })
    }

    /// A worker in `role` on this endpoint.
    fn worker(&self, role: Role) -> ChatWorker {
        let mut worker = ChatWorker::new(role.model(&self.model))
            .base_url(&self.base_url)
            .timeout(Duration::from_secs(120))
            // Dollars per million prompt and completion tokens: OpenAI's list price of
            // gpt-4o-mini, for the estimate. Put your provider's prices here.
            .price("gpt-4o-mini", Price::per_million(0.15, 0.60));
        if let Some(key) = &self.api_key {
            worker = worker.api_key(key);
        }
        worker
    }
}

/// The engine with the workflow and a worker in a role for each of its workers.
pub fn engine(endpoint: &Endpoint) -> Engine {
    let writer = Role::new(
        "writer",
        "You write short, plain articles of about 120 words. The user message is JSON with the \
         topic, the audience and, when you are revising, the critic's notes: follow them. Answer \
         with the article only.",
    )
    .temperature(0.7)
    .max_tokens(400);
    let critic = Role::new(
        "critic",
        "You are a demanding editor for {{input.audience}}. Judge the draft in the user message. \
         If it must improve, answer the outcome \"revise\" with short \"notes\"; otherwise \
         \"accept\". Give a \"score\" from 1 to 10 either way.",
    )
    .prompt("{{input.draft}}")
    .json()
    .temperature(0.0)
    .max_tokens(300);
    let title = "Write one title for the article in the user message, at most eight words. \
                 Answer with the title only.";
    let headline_editor = Role::new("headline_editor", title)
        .prompt("{{input.draft}}")
        .tags(["headlines", "english"])
        .max_tokens(40);
    let copy_editor = Role::new("copy_editor", "Correct the grammar of the user message.")
        .prompt("{{input.draft}}")
        .tags(["grammar", "english"]);

    // The critic learns the outcomes the workflow declares for it: an answer with another one
    // is a failure, retried under the task's policy.
    let critic_outcomes = llm_pipeline::workflow()
        .workers
        .iter()
        .find(|w| w.name == "Critic")
        .map(|w| w.outcomes.clone())
        .unwrap_or_default();

    let engine = Engine::new();
    engine.register(llm_pipeline::program());
    engine
        .bind("Writer", endpoint.worker(writer))
        .bind("Critic", endpoint.worker(critic).outcomes(critic_outcomes))
        .bind(
            "Editor",
            capability_pool(
                "needs",
                [
                    endpoint.worker(headline_editor),
                    endpoint.worker(copy_editor),
                ],
            ),
        );
    engine
}

/// Writes one article.
pub async fn run(endpoint: &Endpoint, topic: &str) -> Result<RunResult, StartError> {
    let input = json!({"topic": topic, "audience": "home bakers"});
    engine(endpoint).run("LlmPipeline", input).await
}

/// Each attempt with its model, tokens, latency and cost, then the run's totals.
pub fn print_usage(result: &RunResult) {
    println!();
    for entry in &result.trail {
        let Entry::Attempt(attempt) = entry else {
            continue;
        };
        let usage = attempt.usage.as_deref().cloned().unwrap_or_default();
        println!(
            "{:<8} attempt {}: {:?} {} — {} + {} tokens, {}ms, ${:.6}",
            attempt.state,
            attempt.attempt,
            attempt.status,
            usage.model.as_deref().unwrap_or("-"),
            usage.prompt_tokens,
            usage.completion_tokens,
            attempt.duration_us / 1000,
            usage.cost,
        );
    }
    let total = &result.usage;
    println!(
        "total: {} prompt + {} completion tokens, ${:.6} estimated",
        total.prompt_tokens, total.completion_tokens, total.cost
    );
}

/// What the example says when no endpoint is configured: what it needs, and what it does.
pub fn explanation() -> &'static str {
    "This example asks language models through an OpenAI-compatible chat-completions endpoint, \
     and none is configured.\n\n\
     Set OPENAI_BASE_URL (and OPENAI_API_KEY when the endpoint needs one; OPENAI_MODEL picks \
     the model, default gpt-4o-mini), for example:\n\n    \
     OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=sk-... cargo run --example llm_pipeline\n    \
     OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_MODEL=my-local-model cargo run --example llm_pipeline\n\n\
     It drafts an article with a writer role, has a critic role accept it or ask for a \
     revision (a structured outcome), titles it with an editor picked by expertise, and prints \
     each attempt's tokens and estimated cost. See docs/llm.md."
}

/// The example: without an endpoint it explains itself and succeeds; with one it writes an
/// article and prints the run and its usage.
pub async fn example(endpoint: Option<Endpoint>) -> Result<(), Box<dyn std::error::Error>> {
    let Some(endpoint) = endpoint else {
        println!("{}", explanation());
        return Ok(());
    };
    println!("asking {} at {}", endpoint.model, endpoint.base_url);
    let result = run(&endpoint, "why sourdough needs a starter").await?;
    support::print_summary(&result, llm_pipeline::WORST_CASE_STEPS);
    print_usage(&result);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    example(Endpoint::from_env()).await
}
