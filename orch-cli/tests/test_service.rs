//! `orch serve` against a real server on 127.0.0.1 and a real HTTP client: definitions with
//! versions and tags, proposals with several defects, every endpoint under every permission,
//! each limit, a run followed over its event stream, controlled and signalled, and a server
//! killed in the middle of a run and started again on the same store.

mod common;

#[path = "../../orch-runtime/tests/support/chat_server.rs"]
mod chat_server;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use chat_server::{Answer, ChatServer};
use common::{copy_of, orch, output};

const PUBLISH: &str = include_str!("service/publish.orch");

/// The same workflow with other documentation: a second version of `Publish`.
fn publish_v2() -> String {
    PUBLISH.replacen("/// A draft,", "/// Version two: a draft,", 1)
}

/// A server process on a free port of 127.0.0.1, killed when dropped.
struct Server {
    child: Child,
    base: String,
    dir: PathBuf,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(dir: &Path, flags: &[&str]) -> Server {
        Server::start_with(dir, flags, &[])
    }

    /// A server with these variables added to its environment (and no `OPENAI_MODEL` unless
    /// they set it).
    fn start_with(dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("serve.log"))
            .expect("a log file");
        let mut child = Command::new(assert_cmd::cargo::cargo_bin!("orch"))
            .args(["serve", "--store", "runs.db", "--config", "orch.toml"])
            .args(["--listen", "127.0.0.1:0"])
            .args(flags)
            .env_remove("OPENAI_MODEL")
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("`orch serve` starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("its standard output"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a line");
        let Some(base) = line.trim().strip_prefix("orch serve: listening on ") else {
            let _ = child.kill();
            let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
            panic!("the server did not start: {line:?}\n{log}");
        };
        Server {
            base: base.to_string(),
            child,
            dir: dir.to_path_buf(),
            _stdout: stdout,
        }
    }

    /// A client that also checks that no answer shows the server's internals.
    fn api(&self) -> Api {
        let mut api = Api::new(&self.base);
        api.forbidden = vec![
            self.dir.display().to_string(),
            "runs.db".into(),
            "SELECT".into(),
            "sqlite".into(),
            "panicked".into(),
        ];
        api
    }

    /// Stops the process with SIGTERM, as a service manager would; it exits on its own.
    #[cfg(unix)]
    fn terminate(mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a process id");
        // SAFETY: sending a signal to a child process this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("its status") {
                assert!(status.success(), "the server exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client of one server.
struct Api {
    base: String,
    agent: ureq::Agent,
    /// Text no answer may contain.
    forbidden: Vec<String>,
}

impl Api {
    fn new(base: &str) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Api {
            base: base.to_string(),
            agent,
            forbidden: Vec::new(),
        }
    }

    /// Sends a request; the status and the JSON answer.
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let text = body.map(Value::to_string);
        self.raw(method, path, token, text.as_deref())
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        self.send(method, path, auth.as_deref(), body)
    }

    /// Sends a request with `auth` as its `Authorization` header.
    fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        macro_rules! send {
            ($builder:expr) => {{
                let mut builder = $builder;
                if let Some(auth) = auth {
                    builder = builder.header("Authorization", auth);
                }
                builder
            }};
        }
        let response = match (method, body) {
            ("GET", _) => send!(self.agent.get(&url)).call(),
            ("DELETE", _) => send!(self.agent.delete(&url)).call(),
            ("POST", None) => send!(self.agent.post(&url)).send_empty(),
            ("POST", Some(body)) => send!(self.agent.post(&url))
                .header("Content-Type", "application/json")
                .send(body),
            ("PUT", Some(body)) => send!(self.agent.put(&url))
                .header("Content-Type", "application/json")
                .send(body),
            ("PUT", None) => send!(self.agent.put(&url)).send_empty(),
            _ => panic!("no method {method}"),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .expect("a body");
        for word in &self.forbidden {
            assert!(
                !text.contains(word.as_str()),
                "{method} {path} answered {status} with {word:?} in it: {text}"
            );
        }
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path} answered {status} with {text:?}"));
        (status, value)
    }

    fn ok(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Value {
        let (status, value) = self.call(method, path, Some(token), body);
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {value}"
        );
        value
    }

    fn define(&self, token: &str, name: &str, text: &str) -> Value {
        self.ok(
            "POST",
            "/v1/definitions",
            token,
            Some(&json!({ "name": name, "text": text })),
        )
    }

    fn start(&self, token: &str, definition: &str, input: Value) -> String {
        let started = self.ok(
            "POST",
            "/v1/runs",
            token,
            Some(&json!({ "definition": definition, "input": input })),
        );
        started["run_id"].as_str().expect("a run id").to_string()
    }

    fn status(&self, token: &str, run: &str) -> Value {
        self.ok("GET", &format!("/v1/runs/{run}"), token, None)
    }

    /// Waits until the run's status satisfies `done`.
    fn wait_for(&self, token: &str, run: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = self.status(token, run);
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "run {run} did not become {what}: {status}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn waiting(&self, token: &str, run: &str) -> Value {
        self.wait_for(token, run, "waiting for its signal", |s| {
            s["state"] == "approval" && s["status"] == "running"
        })
    }

    fn finished(&self, token: &str, run: &str) -> Value {
        self.wait_for(token, run, "finished", |s| {
            !["running", "paused"].contains(&s["status"].as_str().unwrap_or(""))
        })
    }

    /// Follows a run's event stream on a thread: each event's name and data, in order.
    fn events(&self, token: &str, run: &str) -> mpsc::Receiver<(String, Value)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .get(format!("{}/v1/runs/{run}/events", self.base))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("an event stream");
        assert_eq!(response.status().as_u16(), 200);
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            let reader = BufReader::new(response.into_body().into_reader());
            let mut name = String::new();
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("event: ") {
                    name = rest.to_string();
                } else if let Some(data) = line.strip_prefix("data: ") {
                    let value = serde_json::from_str(data).expect("JSON data");
                    if send.send((name.clone(), value)).is_err() {
                        break;
                    }
                }
            }
        });
        receive
    }
}

/// Receives events until one named `name`; returns it.
fn until(events: &mpsc::Receiver<(String, Value)>, name: &str, seen: &mut Vec<String>) -> Value {
    loop {
        let (event, data) = events
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no `{name}` event; saw {seen:?}"));
        seen.push(event.clone());
        if event == name {
            return data;
        }
    }
}

/// A fresh folder with the workers, a store, and a token of every permission.
struct Setup {
    dir: tempfile::TempDir,
    all: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = copy_of("service");
        let all = token(dir.path(), "ada", "meta,run,read");
        Setup { dir, all }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn store(&self) -> PathBuf {
        self.path().join("runs.db")
    }
}

/// Makes a token with `orch token create`.
fn token(dir: &Path, principal: &str, permissions: &str) -> String {
    let store = dir.join("runs.db");
    let done = output(
        orch()
            .args(["token", "create", "--principal", principal])
            .args([
                "--permission",
                permissions,
                "--store",
                store.to_str().expect("a UTF-8 path"),
            ]),
    );
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stderr.contains("shown only this once"),
        "{}",
        done.stderr
    );
    done.stdout.trim().to_string()
}

#[test]
fn definitions_are_stored_by_version_with_tags() {
    let setup = Setup::new();
    let server = Server::start(setup.path(), &[]);
    let api = server.api();
    let t = setup.all.as_str();

    let created = api.ok(
        "POST",
        "/v1/definitions",
        t,
        Some(&json!({ "name": "Publish", "text": PUBLISH, "tags": ["blog"] })),
    );
    assert_eq!(created["version"], 1);
    assert_eq!(created["active"], true);
    assert_eq!(created["tags"], json!(["blog"]));
    assert_eq!(created["workflows"][0]["workflow"], "Publish");
    assert_eq!(created["workflows"][0]["worst_case_steps"], 4);

    // A name is created once; later versions come with PUT.
    let (status, again) = api.call(
        "POST",
        "/v1/definitions",
        Some(t),
        Some(&json!({ "name": "Publish", "text": PUBLISH })),
    );
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("definition_exists"))
    );

    let updated = api.ok(
        "PUT",
        "/v1/definitions/Publish",
        t,
        Some(&json!({ "text": publish_v2(), "tags": ["blog", "draft"] })),
    );
    assert_eq!(
        (updated["version"].as_u64(), updated["active"].as_bool()),
        (Some(2), Some(true))
    );
    let active = api.ok("GET", "/v1/definitions/Publish", t, None);
    assert_eq!(active["version"], 2);
    assert_eq!(active["text"], publish_v2());
    let versions = api.ok("GET", "/v1/definitions/Publish/versions", t, None);
    let shown: Vec<(u64, bool)> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(shown, [(1, false), (2, true)]);
    assert_eq!(
        api.ok("GET", "/v1/definitions/Publish/versions/1", t, None)["text"],
        PUBLISH
    );

    let greet = "workflow Greet { worker Echo; start hi; task hi by Echo { ok -> done; fail -> failed; } succeed done; fail failed; }";
    api.ok(
        "POST",
        "/v1/definitions",
        t,
        Some(&json!({ "name": "Greet", "text": greet, "tags": ["misc"] })),
    );
    let names = |query: &str| -> Vec<(String, u64)> {
        api.ok("GET", &format!("/v1/definitions{query}"), t, None)["definitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap().to_string(),
                    d["version"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let both = vec![("Greet".to_string(), 1), ("Publish".to_string(), 2)];
    assert_eq!(names(""), both);
    assert_eq!(names("?tag=draft"), [("Publish".to_string(), 2)]);
    assert_eq!(names("?tag=misc&active=true"), [("Greet".to_string(), 1)]);
    assert!(names("?tag=none").is_empty());

    // Roll back to version 1: it becomes the active one, and the one runs start.
    let activated = api.ok(
        "POST",
        "/v1/definitions/Publish/versions/1/activate",
        t,
        None,
    );
    assert_eq!(activated["active"], true);
    assert_eq!(
        api.ok("GET", "/v1/definitions/Publish", t, None)["version"],
        1
    );
    assert_eq!(
        names("?active=true"),
        [("Greet".to_string(), 1), ("Publish".to_string(), 1)]
    );
    let run = api.start(t, "Publish", json!({ "title": "Rollback" }));
    assert_eq!(api.status(t, &run)["version"], 1);
    api.ok("POST", &format!("/v1/runs/{run}/cancel"), t, None);

    let tagged = api.ok(
        "PUT",
        "/v1/definitions/Publish/versions/1/tags",
        t,
        Some(&json!({ "tags": ["archived"] })),
    );
    assert_eq!(tagged["tags"], json!(["archived"]));
    assert_eq!(
        names("?tag=archived&active=true"),
        [("Publish".to_string(), 1)]
    );

    // Deleting a version, then the name.
    assert_eq!(
        api.ok("DELETE", "/v1/definitions/Publish/versions/2", t, None)["deleted"],
        1
    );
    let (status, _) = api.call("GET", "/v1/definitions/Publish/versions/2", Some(t), None);
    assert_eq!(status, 404);
    assert_eq!(
        api.ok("DELETE", "/v1/definitions/Publish", t, None)["deleted"],
        1
    );
    let (status, gone) = api.call("GET", "/v1/definitions/Publish", Some(t), None);
    assert_eq!(
        (status, gone["error"]["code"].as_str()),
        (404, Some("no_definition"))
    );
    assert_eq!(names(""), [("Greet".to_string(), 1)]);

    // Mistakes of the request itself.
    let cases = [
        (
            "PUT",
            "/v1/definitions/Nothing",
            json!({ "text": greet }),
            404,
            "no_definition",
        ),
        (
            "POST",
            "/v1/definitions",
            json!({ "name": "9lives", "text": greet }),
            422,
            "invalid_name",
        ),
        (
            "POST",
            "/v1/definitions",
            json!({ "name": "Greet2", "text": greet, "tags": ["a b"] }),
            422,
            "invalid_tags",
        ),
        (
            "POST",
            "/v1/definitions",
            json!({ "name": "Greet2", "txt": greet }),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/definitions/Greet/versions/7/activate",
            json!(null),
            404,
            "no_definition",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let body = (!body.is_null()).then_some(&body);
        let (got, answer) = api.call(method, path, Some(t), body);
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {answer}"
        );
    }
    // A definition is named after the workflow its runs start.
    let (status, wrong) = api.call(
        "POST",
        "/v1/definitions",
        Some(t),
        Some(&json!({ "name": "Other", "text": greet })),
    );
    assert_eq!(status, 422);
    assert_eq!(wrong["problems"][0]["code"], "no_such_workflow");
    // Unknown paths and methods answer in JSON too.
    let (status, answer) = api.call("GET", "/v1/nothing", Some(t), None);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("no_route"))
    );
    let (status, answer) = api.call("DELETE", "/v1/runs", Some(t), None);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let (status, answer) = api.raw("POST", "/v1/runs", Some(t), Some("{\"definition\": "));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
}

#[test]
fn proposals_get_every_diagnostic_with_its_position() {
    let setup = Setup::new();
    let server = Server::start(setup.path(), &[]);
    let api = server.api();
    let t = setup.all.as_str();
    let broken = "\
workflow Broken {
    input { title: string }
    worker Writer;
    start draft;
    task draft by Writer { with { title: input.titel } ok -> reviw; fail -> failed; }
    task review by Ghost { ok -> done; fail -> failed; }
    succeed done output draft.output;
    fail failed;
}
";
    let (status, checked) = api.call(
        "POST",
        "/v1/check",
        Some(t),
        Some(&json!({ "name": "Broken", "text": broken })),
    );
    assert_eq!(status, 200);
    assert_eq!(checked["ok"], false);
    let (status, refused) = api.call(
        "POST",
        "/v1/definitions",
        Some(t),
        Some(&json!({ "name": "Broken", "text": broken })),
    );
    assert_eq!(status, 422);
    assert_eq!(refused["error"]["code"], "invalid_definition");
    assert_eq!(refused["diagnostics"], checked["diagnostics"]);
    let diagnostics = refused["diagnostics"].as_array().unwrap();
    assert!(
        diagnostics.len() >= 3,
        "every defect is reported: {diagnostics:#?}"
    );
    assert_eq!(refused["errors"].as_u64(), Some(diagnostics.len() as u64));
    for d in diagnostics {
        for key in [
            "code",
            "severity",
            "message",
            "label",
            "line",
            "column",
            "end_line",
            "end_column",
            "notes",
            "help",
        ] {
            assert!(d.get(key).is_some(), "`{key}` in {d}");
        }
        assert_eq!(d["severity"], "error");
    }
    // Each points where the defect is.
    let place = |word: &str| {
        let (n, line) = broken
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(word))
            .unwrap();
        let column = line.find(word).unwrap() + 1;
        (
            n as u64 + 1,
            column as u64,
            column as u64 + word.len() as u64,
        )
    };
    for (word, code) in [("reviw", "E0101"), ("Ghost", "E0102"), ("titel", "")] {
        let (line, column, end) = place(word);
        let found = diagnostics.iter().find(|d| {
            d["line"] == line
                && d["column"].as_u64().unwrap() <= column
                && d["end_column"].as_u64().unwrap() >= end
        });
        let found = found.unwrap_or_else(|| panic!("no diagnostic at `{word}`: {diagnostics:#?}"));
        if !code.is_empty() {
            assert_eq!(found["code"], code, "{found}");
        }
    }
    let reviw = diagnostics.iter().find(|d| d["code"] == "E0101").unwrap();
    assert_eq!(reviw["help"], "did you mean `review`?");
    // Nothing was stored.
    let (status, _) = api.call("GET", "/v1/definitions/Broken", Some(t), None);
    assert_eq!(status, 404);

    // Fixed, with a warning left in: stored, the warning returned.
    let fixed = broken
        .replace("input.titel", "input.title")
        .replace("reviw", "review")
        .replace("Ghost", "Echo")
        .replace("worker Writer;", "worker Writer;\n    worker Echo;")
        .replace(
            "input { title: string }",
            "input { title: string, unused: string = \"x\" }",
        );
    let checked = api.ok(
        "POST",
        "/v1/check",
        t,
        Some(&json!({ "name": "Broken", "text": fixed })),
    );
    assert_eq!(checked["ok"], true, "{checked}");
    let stored = api.define(t, "Broken", &fixed);
    assert_eq!(stored["version"], 1);
    let warnings = stored["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["code"], "W0002");
    assert_eq!(warnings[0]["severity"], "warning");
    assert_eq!(warnings[0]["line"], 2);

    // A worker `orch.toml` does not bind is a problem of the server, named.
    let ghostly = fixed
        .replace("by Echo", "by Ghost")
        .replace("worker Echo;", "worker Ghost;");
    let (status, refused) = api.call(
        "PUT",
        "/v1/definitions/Broken",
        Some(t),
        Some(&json!({ "text": ghostly })),
    );
    assert_eq!(status, 422);
    assert!(
        refused["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["severity"] == "warning")
    );
    assert_eq!(refused["problems"][0]["code"], "unbound_worker");
    assert!(
        refused["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`Ghost`")
    );
    assert_eq!(
        api.ok("GET", "/v1/definitions/Broken", t, None)["version"],
        1
    );
}

/// A request's path and body.
type Request = (String, Option<Value>);

/// Everything a refused request could change.
fn snapshot(api: &Api, t: &str, run: &str) -> Value {
    let mut run_status = api.status(t, run);
    run_status["updated_ms"] = json!(null);
    json!({
        "definitions": api.ok("GET", "/v1/definitions", t, None),
        "versions": api.ok("GET", "/v1/definitions/Publish/versions", t, None),
        "runs": api.ok("GET", "/v1/runs", t, None)["runs"].as_array().unwrap().len(),
        "run": run_status,
        "trail": api.ok("GET", &format!("/v1/runs/{run}/trail"), t, None),
    })
}

#[test]
fn every_endpoint_needs_its_permission_and_a_refusal_changes_nothing() {
    let setup = Setup::new();
    let dir = setup.path();
    let tokens = [
        ("meta", token(dir, "maud", "meta")),
        ("run", token(dir, "rhea", "run")),
        ("read", token(dir, "reed", "read")),
    ];
    let revoked = token(dir, "rex", "meta,run,read");
    let listed = output(
        orch()
            .args(["token", "list", "--format", "json", "--store"])
            .arg(setup.store()),
    );
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    let rex = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["principal"] == "rex")
        .unwrap();
    let done = output(
        orch()
            .args(["token", "revoke", rex["id"].as_str().unwrap(), "--store"])
            .arg(setup.store()),
    );
    assert_eq!(done.code, 0, "{}", done.stderr);

    let server = Server::start(dir, &[]);
    let api = server.api();
    let t = setup.all.as_str();
    api.define(t, "Publish", PUBLISH);
    api.ok(
        "PUT",
        "/v1/definitions/Publish",
        t,
        Some(&json!({ "text": publish_v2() })),
    );
    let run = api.start(t, "Publish", json!({ "title": "Matrix" }));
    api.waiting(t, &run);
    let before = snapshot(&api, t, &run);

    let r = |path: &str| path.replace("RUN", &run);
    let fresh = "workflow Fresh { start done; succeed done; }";
    // Each endpoint: method, path and body of a request that would change something (or
    // read something), the permission it needs, and a harmless request to the same endpoint
    // that shows the permission lets it through.
    #[rustfmt::skip]
    let endpoints: Vec<(&str, Request, &str, Request)> = vec![
        ("POST", (r("/v1/check"), Some(json!({ "text": fresh }))), "meta", (r("/v1/check"), Some(json!({ "text": fresh })))),
        ("POST", (r("/v1/definitions"), Some(json!({ "name": "Fresh", "text": fresh }))), "meta", (r("/v1/definitions"), Some(json!({ "name": "Publish", "text": PUBLISH })))),
        ("GET", (r("/v1/definitions"), None), "read", (r("/v1/definitions"), None)),
        ("GET", (r("/v1/definitions/Publish"), None), "read", (r("/v1/definitions/Publish"), None)),
        ("PUT", (r("/v1/definitions/Publish"), Some(json!({ "text": PUBLISH }))), "meta", (r("/v1/definitions/Nothing"), Some(json!({ "text": PUBLISH })))),
        ("DELETE", (r("/v1/definitions/Publish"), None), "meta", (r("/v1/definitions/Nothing"), None)),
        ("GET", (r("/v1/definitions/Publish/versions"), None), "read", (r("/v1/definitions/Publish/versions"), None)),
        ("GET", (r("/v1/definitions/Publish/versions/1"), None), "read", (r("/v1/definitions/Publish/versions/1"), None)),
        ("DELETE", (r("/v1/definitions/Publish/versions/1"), None), "meta", (r("/v1/definitions/Publish/versions/9"), None)),
        ("POST", (r("/v1/definitions/Publish/versions/1/activate"), None), "meta", (r("/v1/definitions/Publish/versions/9/activate"), None)),
        ("PUT", (r("/v1/definitions/Publish/versions/1/tags"), Some(json!({ "tags": ["x"] }))), "meta", (r("/v1/definitions/Publish/versions/9/tags"), Some(json!({ "tags": ["x"] })))),
        ("POST", (r("/v1/runs"), Some(json!({ "definition": "Publish", "input": { "title": "x" } }))), "run", (r("/v1/runs"), Some(json!({ "definition": "Nothing" })))),
        ("GET", (r("/v1/runs"), None), "read", (r("/v1/runs"), None)),
        ("GET", (r("/v1/runs/RUN"), None), "read", (r("/v1/runs/RUN"), None)),
        ("GET", (r("/v1/runs/RUN/result"), None), "read", (r("/v1/runs/RUN/result"), None)),
        ("GET", (r("/v1/runs/RUN/trail"), None), "read", (r("/v1/runs/RUN/trail"), None)),
        ("GET", (r("/v1/runs/RUN/events"), None), "read", (r("/v1/runs/nothing/events"), None)),
        ("POST", (r("/v1/runs/RUN/pause"), None), "run", (r("/v1/runs/nothing/pause"), None)),
        ("POST", (r("/v1/runs/RUN/resume"), None), "run", (r("/v1/runs/nothing/resume"), None)),
        ("POST", (r("/v1/runs/RUN/cancel"), None), "run", (r("/v1/runs/nothing/cancel"), None)),
        ("POST", (r("/v1/runs/RUN/signals"), Some(json!({ "name": "Approval", "payload": { "by": "x" } }))), "run", (r("/v1/runs/nothing/signals"), Some(json!({ "name": "Approval" })))),
    ];
    let mut checked = 0;
    for (method, (path, body), needed, (harmless, harmless_body)) in &endpoints {
        let body = body.as_ref();
        // No token, a made-up one, a revoked one, a header that is not `Bearer`: 401.
        for token in [None, Some("orch_0000"), Some(revoked.as_str())] {
            let (status, answer) = api.call(method, path, token, body);
            assert_eq!(status, 401, "{method} {path} with {token:?}: {answer}");
            assert_eq!(answer["error"]["code"], "unauthorized");
            checked += 1;
        }
        let basic = format!("Basic {}", setup.all);
        let text = body.map(Value::to_string);
        let (status, _) = api.send(method, path, Some(&basic), text.as_deref());
        assert_eq!(status, 401, "{method} {path} with a `Basic` header");
        // A valid token without the permission: 403.
        for (permission, token) in &tokens {
            if permission == needed {
                continue;
            }
            let (status, answer) = api.call(method, path, Some(token), body);
            assert_eq!(status, 403, "{method} {path} with `{permission}`: {answer}");
            assert_eq!(answer["error"]["code"], "forbidden");
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(needed)
            );
            checked += 1;
        }
        assert_eq!(
            snapshot(&api, t, &run),
            before,
            "after refusing {method} {path}"
        );
        // The permission it needs lets the request through.
        let (_, token) = tokens.iter().find(|(p, _)| p == needed).unwrap();
        let (status, answer) = api.call(method, harmless, Some(token), harmless_body.as_ref());
        assert!(
            ![401, 403].contains(&status) && status < 500,
            "{method} {harmless} with `{needed}` answered {status}: {answer}"
        );
        assert_eq!(snapshot(&api, t, &run), before, "after {method} {harmless}");
    }
    assert_eq!(checked, endpoints.len() * 5);
    // The tokens in use, and the run, still work.
    api.ok(
        "POST",
        &format!("/v1/runs/{run}/signals"),
        &tokens[1].1,
        Some(&json!({ "name": "Approval", "payload": { "by": "rhea" } })),
    );
    assert_eq!(api.finished(&tokens[2].1, &run)["status"], "succeeded");
}

#[test]
fn limits_refuse_definitions_and_inputs_and_fail_runs_through_their_paths() {
    let setup = Setup::new();
    let flags = [
        "--max-definition-bytes",
        "3000",
        "--max-states",
        "12",
        "--max-parallel-branches",
        "2",
        "--max-map-items",
        "3",
        "--max-steps",
        "6",
        "--max-input-bytes",
        "200",
        "--max-output-bytes",
        "1000",
        "--max-concurrent-runs",
        "1",
    ];
    let server = Server::start(setup.path(), &flags);
    let api = server.api();
    let t = setup.all.as_str();
    let refused = |method: &str, path: &str, body: Value, status: u16, code: &str| {
        let (got, answer) = api.call(method, path, Some(t), Some(&body));
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {answer}"
        );
        answer
    };

    // Definition size, as text and as a request body.
    let padded = format!("{PUBLISH}\n// {}\n", "x".repeat(3000));
    refused(
        "POST",
        "/v1/definitions",
        json!({ "name": "Publish", "text": padded }),
        413,
        "definition_too_large",
    );
    refused(
        "POST",
        "/v1/check",
        json!({ "text": padded }),
        413,
        "definition_too_large",
    );
    let huge = json!({ "definition": "Publish", "input": { "title": "x".repeat(100_000) } });
    refused("POST", "/v1/runs", huge, 413, "body_too_large");

    // States, all workflows together.
    let tasks: String = (1..=11)
        .map(|i| {
            format!(
                "task s{i} by Echo {{ ok -> s{}; fail -> failed; }}\n",
                i + 1
            )
        })
        .collect();
    let long =
        format!("workflow Long {{ worker Echo; start s1;\n{tasks} succeed s12; fail failed; }}");
    let answer = refused(
        "POST",
        "/v1/definitions",
        json!({ "name": "Long", "text": long }),
        422,
        "invalid_definition",
    );
    assert_eq!(answer["problems"][0]["code"], "limit_exceeded");
    assert!(
        answer["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("13 states")
    );

    // Branches of one parallel state.
    let wide = "workflow Wide {
        worker Echo;
        start fan;
        parallel fan {
            branch a by Echo;
            branch b by Echo;
            branch c by Echo;
            join all;
            ok -> done;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }";
    let answer = refused(
        "POST",
        "/v1/definitions",
        json!({ "name": "Wide", "text": wide }),
        422,
        "invalid_definition",
    );
    assert!(
        answer["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("3 branches"),
        "{answer}"
    );

    // Map items: the run fails through the map's failure path.
    let mapper = "workflow Mapper {
        input { items: list }
        worker Echo;
        start each;
        map each over input.items as item by Echo {
            with { item: item }
            ok -> done;
            fail -> too_many;
        }
        succeed done;
        fail too_many error each.error;
    }";
    api.define(t, "Mapper", mapper);
    let run = api.start(t, "Mapper", json!({ "items": [1, 2, 3, 4, 5] }));
    let ended = api.finished(t, &run);
    assert_eq!(
        (ended["status"].as_str(), ended["terminal"].as_str()),
        (Some("failed"), Some("too_many")),
        "{ended}"
    );
    assert!(
        ended["error"]
            .as_str()
            .unwrap()
            .contains("more than the limit of 3"),
        "{ended}"
    );
    let run = api.start(t, "Mapper", json!({ "items": [1, 2, 3] }));
    assert_eq!(api.finished(t, &run)["status"], "succeeded");

    // max_steps: lowered to the cap, or given it.
    let looper = "workflow Looper {
        worker Echo;
        start spin;
        loop spin by Echo { max 20; ok -> done; fail -> failed; }
        succeed done;
        fail failed;
    }";
    let stored = api.define(t, "Looper", looper);
    assert_eq!(stored["workflows"][0]["declared_max_steps"], json!(null));
    assert_eq!(stored["workflows"][0]["max_steps"], 6);
    let run = api.start(t, "Looper", json!({}));
    let ended = api.finished(t, &run);
    assert_eq!(ended["status"], "failed");
    assert_eq!(ended["error"], "the run was stopped after `max_steps 6`");
    assert_eq!(ended["steps"], 6);
    let lower = looper.replace("start spin;", "max_steps 3; start spin;");
    let stored = api.ok(
        "PUT",
        "/v1/definitions/Looper",
        t,
        Some(&json!({ "text": lower })),
    );
    assert_eq!(
        (
            stored["workflows"][0]["declared_max_steps"].as_u64(),
            stored["workflows"][0]["max_steps"].as_u64()
        ),
        (Some(3), Some(3))
    );

    // Worker output: the call fails, and the run takes the task's failure path.
    let bloated = "workflow Bloated {
        worker Big;
        start write;
        task write by Big { ok -> done; fail -> failed; }
        succeed done output write.output;
        fail failed error write.error;
    }";
    api.define(t, "Bloated", bloated);
    let run = api.start(t, "Bloated", json!({}));
    let ended = api.finished(t, &run);
    assert_eq!(
        (ended["status"].as_str(), ended["terminal"].as_str()),
        (Some("failed"), Some("failed")),
        "{ended}"
    );
    assert!(ended["error"].as_str().unwrap().contains("1000"), "{ended}");

    // Input size: refused, nothing started.
    api.define(t, "Publish", PUBLISH);
    let runs_before = api.ok("GET", "/v1/runs", t, None)["runs"]
        .as_array()
        .unwrap()
        .len();
    refused(
        "POST",
        "/v1/runs",
        json!({ "definition": "Publish", "input": { "title": "x".repeat(300) } }),
        413,
        "payload_too_large",
    );
    assert_eq!(
        api.ok("GET", "/v1/runs", t, None)["runs"]
            .as_array()
            .unwrap()
            .len(),
        runs_before
    );

    // Runs running at once, per principal.
    let first = api.start(t, "Publish", json!({ "title": "One" }));
    let (status, answer) = api.call(
        "POST",
        "/v1/runs",
        Some(t),
        Some(&json!({ "definition": "Publish", "input": { "title": "Two" } })),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (429, Some("too_many_runs")),
        "{answer}"
    );
    assert_eq!(
        api.ok("GET", "/v1/runs", t, None)["runs"]
            .as_array()
            .unwrap()
            .len(),
        runs_before + 1
    );
    let other = token(setup.path(), "bob", "run,read");
    let second = api.start(&other, "Publish", json!({ "title": "Bob's" }));
    // A signal payload over the input limit is refused too.
    refused(
        "POST",
        &format!("/v1/runs/{first}/signals"),
        json!({ "name": "Approval", "payload": "x".repeat(300) }),
        413,
        "payload_too_large",
    );
    // Once the first run stops, there is room again.
    api.waiting(t, &first);
    assert_eq!(
        api.ok("POST", &format!("/v1/runs/{first}/cancel"), t, None)["status"],
        "cancelled"
    );
    let third = api.start(t, "Publish", json!({ "title": "Three" }));
    for run in [&second, &third] {
        api.ok("POST", &format!("/v1/runs/{run}/cancel"), t, None);
    }

    // The run timeout: a run waiting for a signal that never comes times out at the cap.
    drop(server);
    let server = Server::start(setup.path(), &["--max-run-timeout", "1s"]);
    let api = server.api();
    let run = api.start(t, "Publish", json!({ "title": "Late" }));
    let ended = api.finished(t, &run);
    assert_eq!(ended["status"], "timed_out", "{ended}");
    assert_eq!(ended["error"], "the run timed out after 1s");
}

#[test]
fn a_run_is_followed_over_its_event_stream_signalled_and_finished() {
    let setup = Setup::new();
    let server = Server::start(setup.path(), &[]);
    let api = server.api();
    let t = setup.all.as_str();
    api.define(t, "Publish", PUBLISH);

    let run = api.start(t, "Publish", json!({ "title": "Hello" }));
    let events = api.events(t, &run);
    let mut seen = Vec::new();
    let status = until(&events, "status", &mut seen);
    assert_eq!(status["run_id"], run.as_str());
    if status["state"] != "approval" {
        let waiting = until(&events, "waiting", &mut seen);
        assert_eq!(
            (waiting["state"].as_str(), waiting["signal"].as_str()),
            (Some("approval"), Some("Approval"))
        );
    }
    api.waiting(t, &run);
    let sent = api.ok(
        "POST",
        &format!("/v1/runs/{run}/signals"),
        t,
        Some(&json!({ "name": "Approval", "payload": { "by": "ada" } })),
    );
    assert_eq!(
        (sent["stored"].as_bool(), sent["running"].as_bool()),
        (Some(true), Some(true))
    );
    let finished = until(&events, "run_finished", &mut seen);
    assert_eq!(finished["status"], "succeeded");
    let end = until(&events, "end", &mut seen);
    assert_eq!(end["status"], "succeeded");
    assert_eq!(
        end["output"],
        "published a draft about Hello, approved by ada"
    );
    assert!(
        seen.contains(&"step_started".to_string()) && seen.contains(&"step_finished".to_string()),
        "{seen:?}"
    );
    // The stream ends with the run.
    assert!(events.recv_timeout(Duration::from_secs(5)).is_err());

    let result = api.ok("GET", &format!("/v1/runs/{run}/result"), t, None);
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["terminal"], "done");
    assert_eq!(result["steps"], 4);
    let trail = api.ok("GET", &format!("/v1/runs/{run}/trail"), t, None);
    let entries: Vec<(String, String)> = trail["trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["entry"].as_str().unwrap().to_string(),
                e["state"]
                    .as_str()
                    .or(e["from"].as_str())
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("attempt", "draft"),
            ("transition", "draft"),
            ("signal", "approval"),
            ("transition", "approval"),
            ("attempt", "publish"),
            ("transition", "publish"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let signal = &trail["trail"][2];
    assert_eq!(signal["payload"], json!({ "by": "ada" }));
    // The stream of a finished run: its status and its end.
    let events = api.events(t, &run);
    let mut seen = Vec::new();
    until(&events, "status", &mut seen);
    assert_eq!(until(&events, "end", &mut seen)["status"], "succeeded");

    // Outcomes and rejections take their paths; a signal the workflow lacks is refused.
    let shelved = api.start(t, "Publish", json!({ "title": "Meh" }));
    let rejected = api.start(t, "Publish", json!({ "title": "No" }));
    let (status, answer) = api.call(
        "POST",
        &format!("/v1/runs/{shelved}/signals"),
        Some(t),
        Some(&json!({ "name": "Approvel" })),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("invalid_signal"))
    );
    let (status, answer) = api.call(
        "POST",
        &format!("/v1/runs/{shelved}/signals"),
        Some(t),
        Some(&json!({ "name": "Approval", "outcome": "maybe" })),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("invalid_signal"))
    );
    api.ok(
        "POST",
        &format!("/v1/runs/{shelved}/signals"),
        t,
        Some(&json!({ "name": "Approval", "outcome": "changes" })),
    );
    api.ok(
        "POST",
        &format!("/v1/runs/{rejected}/signals"),
        t,
        Some(&json!({ "name": "Approval", "reject": "off topic" })),
    );
    let ended = api.finished(t, &shelved);
    assert_eq!(
        (ended["terminal"].as_str(), ended["error"].as_str()),
        (Some("shelved"), Some("the editor asked for changes"))
    );
    let ended = api.finished(t, &rejected);
    assert_eq!(
        (ended["terminal"].as_str(), ended["error"].as_str()),
        (Some("rejected"), Some("off topic"))
    );
    let (status, answer) = api.call(
        "POST",
        &format!("/v1/runs/{rejected}/signals"),
        Some(t),
        Some(&json!({ "name": "Approval" })),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("finished"))
    );

    // Listing by status and workflow.
    let listed = api.ok("GET", "/v1/runs?status=succeeded&workflow=Publish", t, None);
    let ids: Vec<&str> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [run.as_str()]);
    assert_eq!(
        api.ok("GET", "/v1/runs?status=failed", t, None)["runs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, _) = api.call("GET", "/v1/runs?status=sleeping", Some(t), None);
    assert_eq!(status, 400);
}

#[test]
fn runs_are_paused_resumed_and_cancelled() {
    let setup = Setup::new();
    let server = Server::start(setup.path(), &[]);
    let api = server.api();
    let t = setup.all.as_str();
    api.define(t, "Publish", PUBLISH);

    let run = api.start(t, "Publish", json!({ "title": "Later" }));
    api.waiting(t, &run);
    let paused = api.ok("POST", &format!("/v1/runs/{run}/pause"), t, None);
    assert_eq!(
        (paused["status"].as_str(), paused["live"].as_bool()),
        (Some("paused"), Some(false)),
        "{paused}"
    );
    let (status, answer) = api.call("POST", &format!("/v1/runs/{run}/pause"), Some(t), None);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("not_running"))
    );
    let (status, answer) = api.call("GET", &format!("/v1/runs/{run}/result"), Some(t), None);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("not_finished"))
    );
    // A signal for a paused run waits in the store.
    let sent = api.ok(
        "POST",
        &format!("/v1/runs/{run}/signals"),
        t,
        Some(&json!({ "name": "Approval", "payload": { "by": "cy" } })),
    );
    assert_eq!(sent["running"], false);
    assert_eq!(
        api.status(t, &run)["pending_signals"][0]["name"],
        "Approval"
    );
    let resumed = api.ok("POST", &format!("/v1/runs/{run}/resume"), t, None);
    assert_eq!(resumed["live"], true);
    let ended = api.finished(t, &run);
    assert_eq!(
        ended["output"],
        "published a draft about Later, approved by cy"
    );
    let (status, answer) = api.call("POST", &format!("/v1/runs/{run}/resume"), Some(t), None);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("finished"))
    );

    // Cancelled while running, and while paused.
    let running = api.start(t, "Publish", json!({ "title": "Never" }));
    let idle = api.start(t, "Publish", json!({ "title": "Idle" }));
    api.waiting(t, &running);
    api.waiting(t, &idle);
    api.ok("POST", &format!("/v1/runs/{idle}/pause"), t, None);
    for id in [&running, &idle] {
        let cancelled = api.ok("POST", &format!("/v1/runs/{id}/cancel"), t, None);
        assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
        let (status, answer) = api.call("POST", &format!("/v1/runs/{id}/cancel"), Some(t), None);
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (409, Some("finished"))
        );
    }
    let (status, answer) = api.call("GET", "/v1/runs/run-nothing", Some(t), None);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("no_run"))
    );

    // A definition with unfinished runs is not deleted.
    let waiting = api.start(t, "Publish", json!({ "title": "Held" }));
    let (status, answer) = api.call("DELETE", "/v1/definitions/Publish", Some(t), None);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("definition_in_use"))
    );
    assert_eq!(answer["runs"], json!([waiting]));
    api.ok("POST", &format!("/v1/runs/{waiting}/cancel"), t, None);
    api.ok("DELETE", "/v1/definitions/Publish", t, None);
}

#[test]
fn a_server_killed_mid_run_is_started_again_and_the_run_completes() {
    let setup = Setup::new();
    let server = Server::start(setup.path(), &[]);
    let api = server.api();
    let t = setup.all.as_str();
    api.define(t, "Publish", PUBLISH);
    let run = api.start(t, "Publish", json!({ "title": "Crash" }));
    api.waiting(t, &run);
    server.kill();

    // The store still holds the run as running; a new server resumes it.
    let server = Server::start(setup.path(), &[]);
    let api = server.api();
    let status = api.status(t, &run);
    assert_eq!(
        (status["status"].as_str(), status["live"].as_bool()),
        (Some("running"), Some(true)),
        "{status}"
    );
    let log = std::fs::read_to_string(setup.path().join("serve.log")).unwrap();
    assert!(log.contains(&format!("resumed run {run}")), "{log}");
    let events = api.events(t, &run);
    api.ok(
        "POST",
        &format!("/v1/runs/{run}/signals"),
        t,
        Some(&json!({ "name": "Approval", "payload": { "by": "dee" } })),
    );
    let mut seen = Vec::new();
    let end = until(&events, "end", &mut seen);
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(
        end["output"],
        "published a draft about Crash, approved by dee"
    );
    // The draft was written once: the restart ran only what had not finished.
    let trail = api.ok("GET", &format!("/v1/runs/{run}/trail"), t, None);
    let drafts = trail["trail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "attempt" && e["state"] == "draft")
        .count();
    assert_eq!(drafts, 1);
    assert_eq!(api.status(t, &run)["principal"], "ada");

    // Stopped with SIGTERM instead: the server exits, the run stays running in the store, and
    // the next server resumes it.
    #[cfg(unix)]
    {
        let run = api.start(t, "Publish", json!({ "title": "Term" }));
        api.waiting(t, &run);
        server.terminate();
        let server = Server::start(setup.path(), &[]);
        let api = server.api();
        assert_eq!(api.status(t, &run)["live"], true);
        api.ok(
            "POST",
            &format!("/v1/runs/{run}/signals"),
            t,
            Some(&json!({ "name": "Approval", "payload": { "by": "eve" } })),
        );
        let ended = api.finished(t, &run);
        assert_eq!(
            ended["output"],
            "published a draft about Term, approved by eve"
        );
    }
}

#[test]
fn tokens_are_made_listed_and_revoked_and_kept_only_as_hashes() {
    let dir = copy_of("service");
    let store = dir.path().join("runs.db");
    let secret = token(dir.path(), "ada", "meta,read");
    assert!(secret.starts_with("orch_"));
    let listed = output(orch().args(["token", "list", "--store"]).arg(&store));
    assert_eq!(listed.code, 0);
    assert!(
        listed.stdout.contains("ada") && listed.stdout.contains("meta,read"),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains(&secret));
    let mut bytes = Vec::new();
    for file in ["runs.db", "runs.db-wal"] {
        if let Ok(mut f) = std::fs::File::open(dir.path().join(file)) {
            f.read_to_end(&mut bytes).unwrap();
        }
    }
    assert!(
        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the token's text is not in the store"
    );

    // Revoked by its text; it stops working at once, in a server that is running.
    let server = Server::start(dir.path(), &[]);
    let api = server.api();
    api.ok("GET", "/v1/definitions", &secret, None);
    let done = output(
        orch()
            .args(["token", "revoke", &secret, "--store"])
            .arg(&store),
    );
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(done.stderr.contains("revoked"));
    let (status, _) = api.call("GET", "/v1/definitions", Some(&secret), None);
    assert_eq!(status, 401);
    let listed = output(
        orch()
            .args(["token", "list", "--format", "json", "--store"])
            .arg(&store),
    );
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert!(listed[0]["revoked_ms"].is_u64());
    assert!(listed[0].get("hash").is_none());

    let cases: [&[&str]; 3] = [
        &[
            "token",
            "create",
            "--principal",
            "ada",
            "--permission",
            "admin",
        ],
        &[
            "token",
            "create",
            "--principal",
            "a b",
            "--permission",
            "read",
        ],
        &["token", "revoke", "tok-nothing"],
    ];
    for args in cases {
        let done = output(orch().args(args).arg("--store").arg(&store));
        assert_eq!(done.code, 2, "{args:?}: {}", done.stderr);
        assert!(
            done.stderr.starts_with("error: ") || done.stderr.contains("invalid value"),
            "{}",
            done.stderr
        );
    }
    let missing = output(
        orch()
            .args(["token", "list", "--store"])
            .arg(dir.path().join("none.db")),
    );
    assert_eq!(missing.code, 2);
    assert!(!dir.path().join("none.db").exists());
}

/// A draft judged by a model bound to a role in `orch.toml`.
const REVIEW: &str = "\
/// A draft, judged by a model: accepted, or sent back with notes.
workflow Review {
    input { title: string }
    worker Writer \"drafts the post\";
    worker Critic \"judges a draft\" outcomes [accept, revise];
    start draft;
    task draft by Writer {
        with { title: input.title }
        ok -> critique;
        fail -> failed;
    }
    task critique by Critic {
        with { draft: draft.output }
        retry 1 backoff 10ms;
        on accept -> accepted;
        on revise -> revising;
        fail -> failed;
    }
    succeed accepted output critique.output;
    succeed revising output critique.output;
    fail failed;
}
";

/// Roles added to the workers of the service tests: one answering JSON, one plain text, one
/// with no model.
const ROLES: &str = r#"
[roles.critic]
instruction = "You judge drafts."
model = "critic-model"
json = true

[roles.chatty]
instruction = "You chat."
model = "chat-model"

[roles.modelless]
instruction = "You judge drafts."
json = true

[workers.Critic]
role = "critic"
timeout = "10s"

[workers.Chatty]
role = "chatty"

[workers.Modelless]
role = "modelless"
"#;

#[test]
fn a_role_bound_worker_answers_the_outcomes_of_the_definition_it_runs() {
    let server = ChatServer::start(|request, _| {
        let draft: Value = serde_json::from_str(request.message("user")).unwrap_or_default();
        if draft["draft"] == "a draft about Maybe" {
            Answer::json(json!({"outcome": "maybe"}), 30, 5)
        } else {
            Answer::json(json!({"outcome": "revise", "notes": "too short"}), 30, 5)
        }
    });
    let setup = Setup::new();
    let config = setup.path().join("orch.toml");
    let mut bindings = std::fs::read_to_string(&config).unwrap();
    bindings.push_str(ROLES);
    std::fs::write(&config, bindings).unwrap();
    let service = Server::start_with(
        setup.path(),
        &[],
        &[
            ("OPENAI_BASE_URL", &server.base_url),
            ("OPENAI_API_KEY", "sk-test"),
        ],
    );
    let api = service.api();
    let t = setup.all.as_str();
    api.define(t, "Review", REVIEW);

    // The run follows the outcome the model answered, which the request listed.
    let run = api.start(t, "Review", json!({ "title": "Rye" }));
    let ended = api.finished(t, &run);
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let result = api.ok("GET", &format!("/v1/runs/{run}/result"), t, None);
    assert_eq!(result["terminal"], "revising", "{result}");
    assert_eq!(result["output"], json!({"notes": "too short"}));
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body["model"], "critic-model");
    assert_eq!(
        received[0].message("system"),
        "You judge drafts.\n\nAnswer with a JSON object whose \"outcome\" field is one of: \
         \"accept\", \"revise\"."
    );

    // An outcome the definition does not declare fails the attempt with the chat worker's
    // message; it is retried, then the run takes its failure path.
    let run = api.start(t, "Review", json!({ "title": "Maybe" }));
    let ended = api.finished(t, &run);
    assert_eq!(ended["status"], "failed", "{ended}");
    let result = api.ok("GET", &format!("/v1/runs/{run}/result"), t, None);
    assert_eq!(result["terminal"], "failed", "{result}");
    let undeclared = "the model answered outcome `maybe`, which worker `Critic` does not have \
                      (it answers one of `accept`, `revise`)";
    let trail = api.ok("GET", &format!("/v1/runs/{run}/trail"), t, None);
    let attempts: Vec<&Value> = trail["trail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "attempt" && e["state"] == "critique")
        .collect();
    assert_eq!(attempts.len(), 2, "the task's `retry 1`: {trail}");
    for attempt in attempts {
        let error = attempt["error"].to_string();
        assert!(error.contains(undeclared), "{attempt}");
    }
    assert!(result["error"].to_string().contains(undeclared), "{result}");
    assert_eq!(server.received().len(), 3);

    // A worker with custom outcomes in a plain-text role, or in a role with no model, is
    // refused as `orch run` refuses it, with the same message.
    let cases = [
        (
            "Chatty",
            "workflow `Review`: worker `Chatty` answers `accept`, `revise`, but its role \
             `chatty` answers plain text, which can only be `ok`: give the role `json = true` \
             or a `schema` with an `outcome` field",
        ),
        (
            "Modelless",
            "workflow `Review`: worker `Modelless`: role `modelless` names no `model`, and \
             `OPENAI_MODEL` is not set",
        ),
    ];
    for (worker, message) in cases {
        let text = REVIEW.replace("Critic", worker);
        let (status, refused) = api.call(
            "POST",
            "/v1/definitions",
            Some(t),
            Some(&json!({ "name": "Review", "text": text })),
        );
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["error"]["code"], "invalid_definition");
        assert_eq!(
            refused["problems"],
            json!([{ "code": "unusable_worker", "message": message }])
        );
    }
    assert_eq!(server.received().len(), 3, "no model was asked");
    assert_eq!(
        api.ok("GET", "/v1/definitions/Review", t, None)["version"],
        1
    );
}
