//! `orch run`: real workers (shell scripts and an HTTP service), progress, results, trails
//! and every error a user can make.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{copy_of, normalise_progress, normalise_result, orch, output, write};
use serde_json::{Value, json};

#[test]
fn a_run_of_shell_script_workers_retries_and_loops_to_success() {
    let dir = copy_of("website");
    let out = output(orch().current_dir(dir.path()).args([
        "run",
        "website.orch",
        "--input",
        "goal=a bakery",
        "--seed",
        "7",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("run_website_result", normalise_result(&out.stdout));
    insta::assert_snapshot!("run_website_progress", normalise_progress(&out.stderr));
}

#[test]
fn the_trail_shows_every_attempt() {
    let dir = copy_of("website");
    let out = output(orch().current_dir(dir.path()).args([
        "run",
        "website.orch",
        "-i",
        "goal=a bakery",
        "--trail",
        "--quiet",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "", "--quiet shows no progress");
    insta::assert_snapshot!("run_website_trail", normalise_result(&out.stdout));
}

#[test]
fn input_comes_from_files_and_fields_in_order() {
    let dir = copy_of("website");
    write(
        dir.path(),
        "in.json",
        r#"{"goal": "a florist", "pages": 5}"#,
    );
    // The config is found next to the file, not in the current directory.
    let out = output(
        orch()
            .args(["run", "-q", "--trail"])
            .arg(dir.path().join("website.orch"))
            .args(["--input", "@in.json", "--input", "pages=2"])
            .current_dir(dir.path()),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    let first = &result["trail"][0];
    assert_eq!(first["input"], json!({"goal": "a florist", "pages": 2}));
    assert_eq!(
        result["output"],
        "<html><!-- spec: a florist; 2 pages (attempt 2) --> round 2</html>"
    );
}

#[test]
fn a_crashing_worker_fails_the_run_without_retries() {
    let dir = copy_of("website");
    write(
        dir.path(),
        "orch.toml",
        r#"
        [workers.ProductManager]
        command = ["bash", "-c", "cat > /dev/null; echo 'Traceback: something broke' >&2; echo 'ValueError: no goal' >&2; exit 3"]
        [workers.Coder]
        command = ["./coder.sh"]
        [workers.Reviewer]
        command = ["./reviewer.sh"]
        "#,
    );
    let out = output(orch().current_dir(dir.path()).args([
        "run",
        "website.orch",
        "-i",
        "goal=x",
        "--trail",
    ]));
    assert_eq!(out.code, 1);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(result["status"], "failed");
    assert_eq!(result["terminal"], "failed");
    let attempts: Vec<&Value> = result["trail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "attempt")
        .collect();
    assert_eq!(attempts.len(), 1, "exit status 3 is not retried");
    assert_eq!(
        attempts[0]["error"],
        "the worker process exited with status 3: Traceback: something broke\nValueError: no goal"
    );
    assert!(
        out.stderr.ends_with(
            "error: the run failed at `failed` after 2 steps: specs: the worker process exited \
             with status 3: Traceback: something broke | ValueError: no goal\n"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn a_worker_past_its_timeout_is_stopped() {
    let dir = copy_of("slow");
    write(
        dir.path(),
        "orch.toml",
        "[workers.Sleeper]\ncommand = [\"./sleeper.sh\"]\ntimeout = \"300ms\"\n",
    );
    let started = Instant::now();
    let out = output(
        orch()
            .current_dir(dir.path())
            .args(["run", "slow.orch", "-q"]),
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.code, 1);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        result["error"],
        "nap: the worker process did not finish within 300ms"
    );
    assert_gone(dir.path());
}

#[test]
fn ctrl_c_cancels_the_run_and_stops_its_workers() {
    let dir = copy_of("slow");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("orch"))
        .current_dir(dir.path())
        .args(["run", "slow.orch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = dir.path().join("sleeper.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "the worker never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = wait_with_deadline(child, Duration::from_secs(10));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["status"], "cancelled");
    assert!(stderr.contains("cancelling the run"), "{stderr}");
    assert!(
        stderr.ends_with("error: the run was cancelled after 1 step\n"),
        "{stderr}"
    );
    assert_gone(dir.path());
}

fn wait_with_deadline(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`orch` did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The sleeper and the `sleep` it started are gone (zombies waiting for a parent count as gone).
fn assert_gone(dir: &Path) {
    #[cfg(target_os = "linux")]
    {
        let pid: i32 = std::fs::read_to_string(dir.join("sleeper.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let alive = living_in_group(pid);
            if alive.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "still running: {alive:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(target_os = "linux")]
fn living_in_group(group: i32) -> Vec<i32> {
    let mut alive = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (name) state ppid pgrp …`; the name may hold spaces, so split after `)`.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (state, pgrp) = (fields[0], fields[2].parse::<i32>().unwrap_or(0));
        if pgrp == group && state != "Z" && state != "X" {
            alive.push(pid);
        }
    }
    alive
}

/// A one-connection-at-a-time HTTP server on 127.0.0.1 answering with `replies` in order,
/// then stopping. Each request's head and body are sent back to the test.
fn serve(replies: Vec<(u16, &'static str)>) -> (String, mpsc::Receiver<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/review", listener.local_addr().unwrap());
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, body) in replies {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
                head.push_str(&line);
            }
            let mut body_bytes = vec![0; length];
            reader.read_exact(&mut body_bytes).unwrap();
            let request = serde_json::from_slice(&body_bytes).unwrap_or(Value::Null);
            let _ = send.send((head, request));
            let reason = match status {
                200 => "OK",
                302 => "Found",
                404 => "Not Found",
                429 => "Too Many Requests",
                503 => "Service Unavailable",
                _ => "Whatever",
            };
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, receive)
}

fn http_config(dir: &Path, url: &str) {
    write(
        dir,
        "orch.toml",
        &format!("[workers.Reviewer]\nurl = \"{url}\"\ntimeout = \"5s\"\n"),
    );
}

#[test]
fn an_http_worker_is_retried_on_503_and_answers_with_an_outcome() {
    let dir = copy_of("http");
    let (url, requests) = serve(vec![
        (503, "overloaded"),
        (200, r#"{"outcome": "approved", "output": {"score": 0.9}}"#),
    ]);
    http_config(dir.path(), &url);
    let out = output(orch().current_dir(dir.path()).args([
        "run",
        "review.orch",
        "-i",
        "draft=hello",
        "--seed",
        "1",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(result["output"], json!({"score": 0.9}));
    insta::assert_snapshot!(
        "run_http_progress",
        normalise_progress(&out.stderr).replace(&url, "[url]")
    );
    let received: Vec<(String, Value)> = requests.try_iter().collect();
    assert_eq!(received.len(), 2);
    for (attempt, (head, body)) in received.iter().enumerate() {
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with("post /review http/1.1"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        let key = body["idempotency_key"].as_str().unwrap();
        assert!(head.contains(&format!("idempotency-key: {}", key.to_ascii_lowercase())));
        assert_eq!(body["attempt"], attempt + 1);
        assert_eq!(body["input"], json!({"draft": "hello"}));
        assert_eq!(body["workflow"], "Review");
        assert_eq!(body["state"], "review");
        assert_eq!(body["worker"], "Reviewer");
    }
}

#[test]
fn an_http_worker_is_retried_on_429_but_not_on_404() {
    let dir = copy_of("http");
    let (url, requests) = serve(vec![(429, ""), (404, "no such review"), (200, "\"never\"")]);
    http_config(dir.path(), &url);
    let out = output(orch().current_dir(dir.path()).args([
        "run",
        "review.orch",
        "-i",
        "draft=hello",
        "-q",
    ]));
    assert_eq!(out.code, 1);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        result["error"],
        format!("review: POST {url} answered 404 Not Found: no such review")
    );
    assert_eq!(requests.try_iter().count(), 2);
}

#[test]
fn an_http_redirect_is_not_followed() {
    let dir = copy_of("http");
    let (url, requests) = serve(vec![(302, ""), (200, "\"never\"")]);
    http_config(dir.path(), &url);
    let out = output(orch().current_dir(dir.path()).args([
        "run",
        "review.orch",
        "-i",
        "draft=hello",
        "-q",
    ]));
    assert_eq!(out.code, 1);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        result["error"],
        format!("review: POST {url} answered 302 Found")
    );
    assert_eq!(requests.try_iter().count(), 1);
}

#[test]
fn an_unreachable_service_is_a_failure_of_the_run() {
    let dir = copy_of("http");
    // A port nobody listens on: bind one, then let it go.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    http_config(dir.path(), &format!("http://127.0.0.1:{port}/review"));
    let out = output(orch().current_dir(dir.path()).args([
        "run",
        "review.orch",
        "-i",
        "draft=hello",
        "-q",
    ]));
    assert_eq!(out.code, 1);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    let error = result["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "review: POST http://127.0.0.1:{port}/review failed:"
        )),
        "{error}"
    );
}

#[test]
fn errors_are_one_line_and_exit_non_zero() {
    let dir = copy_of("website");
    let root = dir.path();
    let full = std::fs::read_to_string(root.join("orch.toml")).unwrap();
    let without_reviewer = full.split("[workers.Reviewer]").next().unwrap().to_string();
    let cases: Vec<(&str, Vec<&str>, Option<String>)> = vec![
        ("missing file", vec!["run", "nowhere.orch"], None),
        (
            "no orch.toml",
            vec!["run", "website.orch", "-i", "goal=x"],
            Some(String::new()),
        ),
        (
            "unbound worker",
            vec!["run", "website.orch", "-i", "goal=x"],
            Some(without_reviewer),
        ),
        (
            "invalid orch.toml",
            vec!["run", "website.orch", "-i", "goal=x"],
            Some("[workers.Coder\ncommand = [\"x\"]\n".into()),
        ),
        (
            "unknown setting",
            vec!["run", "website.orch", "-i", "goal=x"],
            Some(format!("{full}\n[workers.Extra]\ncomand = [\"x\"]\n")),
        ),
        (
            "command not found",
            vec!["run", "website.orch", "-i", "goal=x"],
            Some(full.replace("./reviewer.sh", "./no-such-reviewer.sh")),
        ),
        (
            "unknown workflow",
            vec!["run", "website.orch", "-w", "Webside"],
            None,
        ),
        ("missing input", vec!["run", "website.orch"], None),
        (
            "wrong input type",
            vec!["run", "website.orch", "-i", "goal=x", "-i", "pages=many"],
            None,
        ),
        (
            "unknown input",
            vec!["run", "website.orch", "-i", "goal=x", "-i", "colour=red"],
            None,
        ),
        (
            "bad input file",
            vec!["run", "website.orch", "-i", "@bad.json"],
            None,
        ),
        (
            "input not an object",
            vec!["run", "website.orch", "-i", "@list.json"],
            None,
        ),
        (
            "missing input file",
            vec!["run", "website.orch", "-i", "@gone.json"],
            None,
        ),
        (
            "missing --config",
            vec!["run", "website.orch", "--config", "gone.toml"],
            None,
        ),
    ];
    write(root, "bad.json", "{\"goal\": ");
    write(root, "list.json", "[1, 2]");
    let mut transcript = String::new();
    for (name, args, config) in cases {
        match &config {
            Some(text) if text.is_empty() => {
                let _ = std::fs::remove_file(root.join("orch.toml"));
            }
            Some(text) => {
                write(root, "orch.toml", text);
            }
            None => {
                write(root, "orch.toml", &full);
            }
        }
        let out = output(orch().current_dir(root).args(&args));
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{name}");
        assert_eq!(out.stderr.lines().count(), 1, "{name}: {}", out.stderr);
        assert!(out.stderr.starts_with("error: "), "{name}: {}", out.stderr);
        transcript.push_str(&format!(
            "# {name}\n$ orch {}\n{}\n",
            args.join(" "),
            out.stderr
        ));
    }
    insta::assert_snapshot!("run_errors", transcript);
}

#[test]
fn a_workflow_with_errors_does_not_run() {
    let out = output(orch().args(["run", "tests/check/broken.orch"]));
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("error[E0101]"), "{}", out.stderr);
    assert!(
        out.stderr
            .ends_with("error: `tests/check/broken.orch` could not be checked: 2 errors\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn progress_shows_branches_child_runs_and_waits() {
    let dir = copy_of("fanout");
    let out =
        output(
            orch()
                .current_dir(dir.path())
                .args(["run", "fanout.orch", "--workflow", "Fanout"]),
        );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        result["output"],
        json!(["clarity is fine", "accuracy is fine", "a book"])
    );
    // Branches finish in either order; show them sorted.
    let mut lines: Vec<String> = normalise_progress(&out.stderr)
        .lines()
        .map(String::from)
        .collect();
    let joined: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].ends_with(" succeeded") && lines[i].contains("branch "))
        .collect();
    let mut sorted: Vec<String> = joined.iter().map(|&i| lines[i].clone()).collect();
    sorted.sort();
    for (&i, line) in joined.iter().zip(sorted) {
        lines[i] = line;
    }
    insta::assert_snapshot!("run_fanout_progress", lines.join("\n"));
}

#[test]
fn the_repository_example_runs_with_script_workers() {
    let dir = copy_of("website");
    std::fs::copy(
        common::package().join("../tests/fixtures/valid/build_website.orch"),
        dir.path().join("build_website.orch"),
    )
    .unwrap();
    let config = std::fs::read_to_string(dir.path().join("orch.toml")).unwrap();
    write(
        dir.path(),
        "orch.toml",
        &config.replace(
            "command = [\"./product_manager.sh\"]",
            "command = [\"echo\", \"\\\"spec: a bakery\\\"\"]",
        ),
    );
    let out = output(orch().current_dir(dir.path()).args([
        "run",
        "build_website.orch",
        "-i",
        "goal=a bakery",
        "--trail",
        "-q",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        result["output"],
        "<html><!-- spec: a bakery --> round 2</html>"
    );
    let path: Vec<&str> = result["trail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "transition")
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(path, ["code", "review", "code", "review", "done"]);
}
