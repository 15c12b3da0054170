//! `orch run` with workers bound to roles in `orch.toml`, against a chat-completions endpoint on
//! 127.0.0.1: the prompts sent, structured outcomes, tokens and costs in the trail, capability
//! routing among roles, and the mistakes `orch.toml` can hold.

mod common;

#[path = "../../orch-runtime/tests/support/chat_server.rs"]
mod chat_server;

use std::sync::atomic::{AtomicUsize, Ordering};

use chat_server::{Answer, ChatServer};
use common::{copy_of, normalise_progress, orch, output, write};
use serde_json::{Value, json};

/// `orch` with the endpoint and key in the environment, as a user would set them.
fn orch_with(server: &ChatServer, dir: &std::path::Path) -> assert_cmd::Command {
    let mut command = orch();
    command
        .current_dir(dir)
        .env("OPENAI_BASE_URL", &server.base_url)
        .env("OPENAI_API_KEY", "sk-test")
        .env_remove("OPENAI_MODEL");
    command
}

#[test]
fn a_run_asks_the_roles_bound_in_orch_toml() {
    let critiques = AtomicUsize::new(0);
    let drafts = AtomicUsize::new(0);
    let server = ChatServer::start(move |request, _| match request.body["model"].as_str() {
        Some("writer-model") => {
            let n = drafts.fetch_add(1, Ordering::SeqCst) + 1;
            Answer::completion(&format!("draft {n}"), 100, 50)
        }
        _ => {
            if critiques.fetch_add(1, Ordering::SeqCst) == 0 {
                Answer::json(json!({"outcome": "revise", "notes": "too long"}), 200, 20)
            } else {
                Answer::json(
                    json!({"outcome": "accept", "output": {"score": 9}}),
                    200,
                    10,
                )
            }
        }
    });
    let dir = copy_of("llm");
    let out = output(orch_with(&server, dir.path()).args([
        "run",
        "review.orch",
        "-w",
        "Review",
        "-i",
        "topic=rye bread",
        "--trail",
        "--seed",
        "1",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        result["output"],
        json!({"article": "draft 2", "verdict": {"score": 9}})
    );
    let progress = normalise_progress(&out.stderr);
    assert!(
        progress.contains("[2] critique\n    revise -> draft\n")
            && progress.contains("[4] critique\n    accept -> done\n"),
        "{progress}"
    );

    // Every attempt in the trail carries its model, tokens and cost.
    let usages: Vec<(String, Value)> = result["trail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "attempt")
        .map(|a| {
            (
                a["worker"].as_str().unwrap().to_string(),
                a["usage"].clone(),
            )
        })
        .collect();
    let writer = json!({"model": "writer-model", "prompt_tokens": 100, "completion_tokens": 50, "cost": 0.0002});
    let critic = |completion: u64, cost: f64| json!({"model": "critic-model", "prompt_tokens": 200, "completion_tokens": completion, "cost": cost});
    assert_eq!(
        usages,
        [
            ("Writer".to_string(), writer.clone()),
            ("Critic".to_string(), critic(20, 0.00012)),
            ("Writer".to_string(), writer),
            ("Critic".to_string(), critic(10, 0.00011)),
        ]
    );

    // The prompts, rendered from the roles with each call's input.
    let received = server.received();
    assert_eq!(received.len(), 4);
    for request in &received {
        assert_eq!(request.line, "POST /v1/chat/completions HTTP/1.1");
        assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
    }
    assert_eq!(
        received[0].body,
        json!({
            "model": "writer-model",
            "messages": [
                {"role": "system", "content": "You write short articles for bakers."},
                {"role": "user", "content": "Write about rye bread."},
            ],
            "temperature": 0.7,
            "max_tokens": 300,
        })
    );
    let critic = &received[1];
    assert_eq!(
        critic.body["response_format"],
        json!({"type": "json_object"})
    );
    assert_eq!(
        critic.message("system"),
        "You judge drafts about rye bread. Send back drafts that are too long.\n\n\
         Answer with a JSON object whose \"outcome\" field is one of: \"accept\", \"revise\"."
    );
    let user: Value = serde_json::from_str(critic.message("user")).unwrap();
    assert_eq!(user, json!({"draft": "draft 1", "topic": "rye bread"}));
}

#[test]
fn a_pool_routes_each_call_to_the_role_with_the_capabilities() {
    let server = ChatServer::start(|request, _| {
        let who = request.message("system");
        Answer::completion(&format!("{who}: {}", request.message("user")), 5, 5)
    });
    let dir = copy_of("llm");
    let jobs = json!([
        {"needs": ["rust"], "work": "the API"},
        {"needs": ["css", "html"], "work": "the page"},
    ]);
    let out = output(orch_with(&server, dir.path()).args([
        "run",
        "review.orch",
        "-w",
        "Build",
        "-i",
        &format!("jobs={jobs}"),
        "-q",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        result["output"],
        json!(["rust_dev: the API", "web_dev: the page"])
    );

    let jobs = json!([{"needs": ["cobol"], "work": "the ledger"}]);
    let out = output(orch_with(&server, dir.path()).args([
        "run",
        "review.orch",
        "-w",
        "Build",
        "-i",
        &format!("jobs={jobs}"),
        "-q",
    ]));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains(r#"no worker in the pool of `Developer` with capabilities ["cobol"]"#),
        "{}",
        out.stderr
    );
    assert_eq!(server.received().len(), 2, "no model was asked for cobol");
}

#[test]
fn a_model_that_keeps_failing_fails_the_run_with_its_message() {
    let server = ChatServer::start(|_, _| Answer::error(503, "the model is overloaded"));
    let dir = copy_of("llm");
    let out = output(orch_with(&server, dir.path()).args([
        "run",
        "review.orch",
        "-w",
        "Review",
        "-i",
        "topic=rye",
        "-q",
    ]));
    assert_eq!(out.code, 1);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        result["error"],
        format!(
            "draft: POST {}/chat/completions answered 503 Service Unavailable: the model is \
             overloaded",
            server.base_url
        )
    );
    assert_eq!(server.received().len(), 3, "the task's `retry 2`");
}

#[test]
fn mistakes_in_roles_are_one_line_errors() {
    let server = ChatServer::scripted(Vec::new());
    let review = std::fs::read_to_string(common::package().join("tests/llm/review.orch")).unwrap();
    let writer = "[roles.writer]\ninstruction = \"Write.\"\nmodel = \"m\"\n";
    let critic = "[roles.critic]\ninstruction = \"Judge.\"\nmodel = \"m\"\njson = true\n";
    let bound = "[workers.Writer]\nrole = \"writer\"\n[workers.Critic]\nrole = \"critic\"\n";
    let cases = [
        (
            format!("{critic}[workers.Writer]\nrole = \"writr\"\n"),
            "invalid `orch.toml`: worker `Writer`: there is no `[roles.writr]`",
        ),
        (
            format!("{writer}{critic}[workers.Writer]\nrole = \"wrtier\"\n"),
            "there is no `[roles.wrtier]` (did you mean `writer`?)",
        ),
        (
            format!("{writer}{critic}[workers.Writer]\nrole = \"writer\"\ncommand = [\"x\"]\n"),
            "worker `Writer`: set one of `command`, `url`, `role` and `pool`, not both `role` and `command`",
        ),
        (
            format!("[roles.writer]\ninstruction = \"Write {{{{goal}}}}.\"\n{critic}{bound}"),
            "role `writer`: `instruction`: `{{goal}}` is not a placeholder: a path starts with `input`",
        ),
        (
            format!("[roles.writer]\ninstruction = \"Write.\"\nmodle = \"m\"\n{critic}{bound}"),
            "line 3, column 1: unknown field `modle`",
        ),
        (
            format!(
                "{writer}{critic}{bound}[workers.Developer]\npool = [\"writer\"]\nroute = \"capability\"\n"
            ),
            "worker `Developer`: `route = \"capability\"` needs a `field`",
        ),
        (
            format!(
                "{writer}{critic}{bound}[workers.Developer]\npool = [\"writer\"]\nroute = \"random\"\n"
            ),
            "`route` is `round_robin` or `capability`, not `random`",
        ),
        (
            format!("{writer}[roles.critic]\ninstruction = \"Judge.\"\nmodel = \"m\"\n{bound}"),
            "worker `Critic` answers `accept`, `revise`, but its role `critic` answers plain text, \
             which can only be `ok`: give the role `json = true` or a `schema` with an `outcome` field",
        ),
        (
            format!("[roles.writer]\ninstruction = \"Write.\"\n{critic}{bound}"),
            "worker `Writer`: role `writer` names no `model`, and `OPENAI_MODEL` is not set",
        ),
    ];
    for (config, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "review.orch", &review);
        write(dir.path(), "orch.toml", &config);
        let out = output(orch_with(&server, dir.path()).args([
            "run",
            "review.orch",
            "-w",
            "Review",
            "-i",
            "topic=rye",
        ]));
        assert_eq!(out.code, 2, "{config}\n{}", out.stderr);
        assert!(out.stderr.contains(expected), "{config}\n{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    assert!(server.received().is_empty());
}

#[test]
fn the_model_may_come_from_the_environment() {
    let server = ChatServer::scripted(vec![
        Answer::completion("draft", 1, 1),
        Answer::json(json!({"outcome": "accept"}), 1, 1),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let review = std::fs::read_to_string(common::package().join("tests/llm/review.orch")).unwrap();
    write(dir.path(), "review.orch", &review);
    write(
        dir.path(),
        "orch.toml",
        "[roles.writer]\ninstruction = \"Write.\"\n\
         [roles.critic]\ninstruction = \"Judge.\"\njson = true\n\
         [workers.Writer]\nrole = \"writer\"\n[workers.Critic]\nrole = \"critic\"\n",
    );
    let out = output(
        orch_with(&server, dir.path())
            .env("OPENAI_MODEL", "env-model")
            .args([
                "run",
                "review.orch",
                "-w",
                "Review",
                "-i",
                "topic=rye",
                "-q",
            ]),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let models: Vec<Value> = server
        .received()
        .iter()
        .map(|r| r.body["model"].clone())
        .collect();
    assert_eq!(models, [json!("env-model"), json!("env-model")]);
}
