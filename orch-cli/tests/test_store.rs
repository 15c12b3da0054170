//! Runs kept in a run store: `orch run --store`, Ctrl-C pausing, `orch signal` while no process
//! runs the run and while another does, `orch resume` (also after SIGKILL, with `--all`),
//! `orch runs list|show|delete`, and every error.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{copy_of, normalise_progress, orch, output, replace_run_ids, write};
use serde_json::{Value, json};

/// An `orch` process running in the background, its standard error read line by line.
struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: String,
}

impl Background {
    fn start(dir: &Path, args: &[&str]) -> Background {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin!("orch"))
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Background {
            child,
            lines,
            stderr: String::new(),
        }
    }

    /// Reads standard error until a line contains `text`.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push_str(&line);
                    self.stderr.push('\n');
                    if line.contains(text) {
                        return;
                    }
                }
                Err(_) => panic!("no line with {text:?}; so far:\n{}", self.stderr),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, "--", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end: its exit code (`None` when killed), output and whole
    /// standard error.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("`orch` did not stop; so far:\n{}", self.stderr);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = self.child.wait_with_output().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            self.stderr,
        )
    }
}

/// Starts `Publish` kept in `runs.db` and waits until it waits for its approval.
fn waiting_run(dir: &Path) -> (Background, String) {
    let mut run = Background::start(
        dir,
        &[
            "run",
            "publish.orch",
            "-i",
            "title=Hello",
            "--store",
            "runs.db",
        ],
    );
    run.wait_for(": started");
    let id = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.strip_suffix(": started"))
        .unwrap()
        .to_string();
    run.wait_for("waiting for signal `Approval`");
    (run, id)
}

/// Pauses a waiting run with Ctrl-C.
fn pause(run: Background) -> (String, String) {
    run.signal("INT");
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, Some(130), "{stderr}");
    (stdout, stderr)
}

/// Run ids with their time part masked, keeping their length so that tables stay aligned:
/// `run-18f3c2a1b2c4d-1` becomes `run-xxxxxxxxxxxxx-1`.
fn mask_run_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("run-") {
        out.push_str(&rest[..at + 4]);
        rest = &rest[at + 4..];
        let hex = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        if hex > 0 && rest[hex..].starts_with('-') {
            out.push_str(&"x".repeat(hex));
            rest = &rest[hex..];
        }
    }
    out.push_str(rest);
    out
}

/// Output with run ids, times, durations and definition hashes replaced.
fn normalise(text: &str) -> String {
    let text = mask_run_ids(text);
    let mut lines = Vec::new();
    for line in text.lines() {
        let key = line.trim_start().split(':').next().unwrap_or("");
        let varying = [
            "\"created_ms\"",
            "\"updated_ms\"",
            "\"started_at_ms\"",
            "\"duration_us\"",
            "\"at_ms\"",
            "\"duration_ms\"",
            "\"definition\"",
        ];
        let line = match line.split_once(": ") {
            Some((head, value)) if varying.contains(&key) => {
                let comma = if value.ends_with(',') { "," } else { "" };
                format!("{head}: [varies]{comma}")
            }
            _ if line.starts_with("duration ") => "duration  [time]".to_string(),
            _ => match line.split_once(" in ") {
                Some((head, _)) if head.contains(": succeeded at") => format!("{head} in [time]"),
                _ => replace_times(line),
            },
        };
        lines.push(line);
    }
    lines.join("\n") + "\n"
}

/// Replaces `2025-06-01T12:00:03Z` with `[time]`.
fn replace_times(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < line.len() {
        let shape = b"dddd-dd-ddTdd:dd:ddZ";
        let is_time = bytes.len() >= i + shape.len()
            && shape.iter().zip(&bytes[i..]).all(|(s, b)| match s {
                b'd' => b.is_ascii_digit(),
                other => other == b,
            });
        if is_time {
            out.push_str("[time]");
            i += shape.len();
        } else {
            let c = line[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The lines of `calls.log`: `state idempotency-key` per worker call.
fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Every step of a trail appears once: one transition out of each step, and no attempt made
/// twice.
fn assert_no_step_twice(trail: &[Value]) {
    let mut transitions = std::collections::BTreeSet::new();
    let mut attempts = std::collections::BTreeSet::new();
    for entry in trail {
        let step = entry["step"].as_u64().unwrap();
        match entry["entry"].as_str().unwrap() {
            "transition" => assert!(transitions.insert(step), "step {step} twice: {trail:?}"),
            "attempt" => assert!(
                attempts.insert((step, entry["attempt"].as_u64().unwrap())),
                "attempt twice in step {step}: {trail:?}"
            ),
            _ => {}
        }
    }
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn ctrl_c_pauses_a_stored_run_that_gets_its_signal_when_resumed() {
    let dir = copy_of("durable");
    let root = dir.path();
    let (run, id) = waiting_run(root);

    // While it waits, another process may look but not take over.
    let listed = output(
        orch()
            .current_dir(root)
            .args(["runs", "list", "--store", "runs.db", "--format", "json"]),
    );
    let listed = json_of(&listed.stdout);
    assert_eq!(listed[0]["status"], "running");
    assert_eq!(listed[0]["interrupted"], false);
    let refused = output(orch().current_dir(root).args([
        "resume",
        &id,
        "publish.orch",
        "--store",
        "runs.db",
    ]));
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains(&format!(
            "error: run `{id}` is running in another `orch` process"
        )),
        "{}",
        refused.stderr
    );
    let all = output(orch().current_dir(root).args([
        "resume",
        "--all",
        "publish.orch",
        "--store",
        "runs.db",
    ]));
    assert_eq!((all.code, all.stdout.as_str()), (0, "[]\n"));
    assert!(
        all.stderr
            .starts_with(&format!("run {id}: left alone, the `orch` process ")),
        "{}",
        all.stderr
    );
    let refused = output(
        orch()
            .current_dir(root)
            .args(["runs", "delete", &id, "--store", "runs.db"]),
    );
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("pause it (Ctrl-C there)"));

    let (stdout, stderr) = pause(run);
    let result = json_of(&stdout);
    assert_eq!(result["status"], "paused");
    assert!(stderr.contains("pausing the run"), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "run {id}: paused at `approval` after 1 step; continue it with `orch resume {id} \
             publish.orch --store runs.db`\n"
        )),
        "{stderr}"
    );
    let listed = output(
        orch()
            .current_dir(root)
            .args(["runs", "list", "--store", "runs.db"]),
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    insta::assert_snapshot!("runs_list_paused", normalise(&listed.stdout));

    // The signal is stored while no process runs the run.
    let sent = output(orch().current_dir(root).args([
        "signal",
        &id,
        "Approval",
        r#"{"by": "ada"}"#,
        "--store",
        "runs.db",
        "--file",
        "publish.orch",
    ]));
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    assert_eq!(
        replace_run_ids(&sent.stderr),
        "signal `Approval` stored for run [run-1]; the run is paused; it gets the signal when \
         resumed: `orch resume [run-1] publish.orch --store runs.db`\n"
    );
    let shown = output(
        orch()
            .current_dir(root)
            .args(["runs", "show", &id, "--store", "runs.db"]),
    );
    insta::assert_snapshot!("runs_show_paused", normalise(&shown.stdout));

    // Documentation may change before the run resumes.
    let text = std::fs::read_to_string(root.join("publish.orch")).unwrap();
    write(
        root,
        "publish.orch",
        &text.replace(
            "/// An editor's decision on the draft.",
            "/// The editor decides.",
        ),
    );
    let resumed = output(orch().current_dir(root).args([
        "resume",
        &id,
        "publish.orch",
        "--store",
        "runs.db",
        "--trail",
    ]));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let result = json_of(&resumed.stdout);
    assert_eq!(result["status"], "succeeded");
    assert_eq!(
        result["output"],
        "published a draft about Hello, approved by ada"
    );
    let trail = result["trail"].as_array().unwrap();
    assert_eq!(
        trail[0]["state"], "draft",
        "the whole trail, from the start"
    );
    assert_no_step_twice(trail);
    insta::assert_snapshot!("resume_progress", normalise_progress(&resumed.stderr));

    let shown = output(
        orch()
            .current_dir(root)
            .args(["runs", "show", &id, "--trail", "--store", "runs.db"]),
    );
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    insta::assert_snapshot!("runs_show_trail", normalise(&shown.stdout));
    let shown = output(orch().current_dir(root).args([
        "runs", "show", &id, "--trail", "--store", "runs.db", "--format", "json",
    ]));
    let shown = json_of(&shown.stdout);
    assert_eq!(shown["trail"], result["trail"]);
    assert_eq!(
        shown["path"],
        json!(["draft", "approval", "publish", "done"])
    );
    assert_eq!(shown["pending_signals"], json!([]));
    insta::assert_snapshot!(
        "runs_show_json",
        normalise(
            &serde_json::to_string_pretty(&json!({
                "status": shown["status"],
                "state": shown["state"],
                "terminal": shown["terminal"],
                "output": shown["output"],
                "steps": shown["steps"],
                "input": shown["input"],
                "interrupted": shown["interrupted"],
            }))
            .unwrap()
        )
    );
    // Each worker was called once: the paused wait called nobody.
    let states: Vec<String> = calls(root)
        .iter()
        .map(|c| c.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(states, ["draft", "publish"]);

    let deleted = output(
        orch()
            .current_dir(root)
            .args(["runs", "delete", &id, "--store", "runs.db"]),
    );
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(deleted.stderr, format!("deleted run {id}\n"));
    let listed = output(
        orch()
            .current_dir(root)
            .args(["runs", "list", "--store", "runs.db"]),
    );
    assert_eq!(
        (listed.stdout.as_str(), listed.stderr.as_str()),
        ("", "no runs in `runs.db`\n")
    );
}

#[test]
fn a_signal_reaches_a_run_waiting_in_another_process() {
    let dir = copy_of("durable");
    let root = dir.path();
    let (run, id) = waiting_run(root);
    let sent = output(orch().current_dir(root).args([
        "signal",
        &id,
        "Approval",
        "--outcome",
        "changes",
        "--store",
        "runs.db",
    ]));
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    assert!(
        sent.stderr.contains("the `orch` process running it ("),
        "{}",
        sent.stderr
    );
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, Some(1), "{stderr}");
    let result = json_of(&stdout);
    assert_eq!(result["terminal"], "shelved");
    assert_eq!(result["error"], "the editor asked for changes");
    insta::assert_snapshot!("signal_arrives_progress", normalise_progress(&stderr));
    let shown = output(orch().current_dir(root).args([
        "runs", "show", &id, "--trail", "--store", "runs.db", "--format", "json",
    ]));
    let shown = json_of(&shown.stdout);
    assert_eq!(shown["status"], "failed");
    assert_no_step_twice(shown["trail"].as_array().unwrap());
}

#[test]
fn a_rejection_sent_while_the_run_is_paused_fails_it_when_resumed() {
    let dir = copy_of("durable");
    let root = dir.path();
    let (run, id) = waiting_run(root);
    pause(run);
    let sent = output(orch().current_dir(root).args([
        "signal", &id, "Approval", "--reject", "too long", "--store", "runs.db",
    ]));
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let resumed = output(orch().current_dir(root).args([
        "resume",
        &id,
        "publish.orch",
        "--store",
        "runs.db",
        "-q",
    ]));
    assert_eq!(resumed.code, 1, "{}", resumed.stderr);
    let result = json_of(&resumed.stdout);
    assert_eq!(result["terminal"], "rejected");
    assert_eq!(result["error"], "too long");
    assert_eq!(
        replace_run_ids(&resumed.stderr),
        "run [run-1]: resumed at `approval` after 1 step\n\
         error: the run failed at `rejected` after 3 steps: too long\n"
    );
    let listed = output(orch().current_dir(root).args([
        "runs",
        "list",
        "--status",
        "failed",
        "--workflow",
        "Publish",
        "--store",
        "runs.db",
    ]));
    assert_eq!(listed.stdout.lines().count(), 2, "{}", listed.stdout);
    let listed = output(
        orch()
            .current_dir(root)
            .args(["runs", "list", "--status", "paused", "--store", "runs.db"]),
    );
    assert_eq!(listed.stderr, "no paused runs in `runs.db`\n");
}

#[test]
fn a_run_killed_with_sigkill_is_resumed_by_resume_all() {
    let dir = copy_of("durable");
    let root = dir.path();
    let mut run = Background::start(root, &["run", "nap.orch", "--store", "runs.db"]);
    run.wait_for("[2] nap");
    let pid_file = root.join("napper.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&pid_file).map_or(true, |p| !p.ends_with('\n')) {
        assert!(Instant::now() < deadline, "the napper never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    run.signal("KILL");
    let (code, stdout, _) = run.finish();
    assert_eq!((code, stdout.as_str()), (None, ""));
    // The napping worker lives on without `orch`; stop it and what it started.
    let napper: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(napper > 1);
    // `--`: without it, procps `kill` reads `-PID` as options and signals every process.
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{napper}")])
        .status();

    let listed = output(
        orch()
            .current_dir(root)
            .args(["runs", "list", "--store", "runs.db"]),
    );
    insta::assert_snapshot!("runs_list_interrupted", normalise(&listed.stdout));
    let listed = output(orch().current_dir(root).args([
        "runs", "list", "--status", "running", "--store", "runs.db", "--format", "json",
    ]));
    let listed = json_of(&listed.stdout);
    assert_eq!(listed[0]["status"], "running");
    assert_eq!(listed[0]["interrupted"], true);
    let id = listed[0]["run_id"].as_str().unwrap().to_string();

    let resumed = output(orch().current_dir(root).args([
        "resume", "--all", "nap.orch", "--store", "runs.db", "--trail",
    ]));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let results = json_of(&resumed.stdout);
    assert_eq!(results.as_array().unwrap().len(), 1);
    let result = &results[0];
    assert_eq!(
        (&result["run_id"], &result["output"]),
        (&json!(id), &json!(13))
    );
    let trail = result["trail"].as_array().unwrap();
    assert_no_step_twice(trail);
    let path: Vec<&str> = trail
        .iter()
        .filter(|e| e["entry"] == "transition")
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(path, ["nap", "last", "done"]);
    insta::assert_snapshot!("resume_all_progress", normalise(&resumed.stderr));
    // The step cut off ran again with the same idempotency key; the others ran once.
    let calls = calls(root);
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[1], calls[2]);
    assert!(calls[1].starts_with("nap "), "{calls:?}");

    let again = output(
        orch()
            .current_dir(root)
            .args(["resume", "--all", "nap.orch", "--store", "runs.db"]),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, "[]\n");
    assert_eq!(
        again.stderr,
        "no run to resume: `runs.db` holds no run left running by a process that died\n"
    );
}

#[test]
fn resume_all_drives_several_runs_at_once() {
    let dir = copy_of("durable");
    let root = dir.path();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (run, id) = waiting_run(root);
        run.signal("KILL");
        run.finish();
        ids.push(id);
    }
    for id in &ids {
        let sent = output(orch().current_dir(root).args([
            "signal",
            id,
            "Approval",
            r#"{"by": "cy"}"#,
            "--store",
            "runs.db",
        ]));
        assert_eq!(sent.code, 0, "{}", sent.stderr);
        assert!(
            sent.stderr.contains("no process is running the run"),
            "{}",
            sent.stderr
        );
    }
    let resumed = output(orch().current_dir(root).args([
        "resume",
        "--all",
        "publish.orch",
        "--store",
        "runs.db",
    ]));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let results = json_of(&resumed.stdout);
    let mut finished: Vec<(&str, &str)> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["run_id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    finished.sort();
    ids.sort();
    assert_eq!(
        finished,
        [
            (ids[0].as_str(), "succeeded"),
            (ids[1].as_str(), "succeeded")
        ]
    );
    // Lines of the two runs are told apart by their ids.
    for id in &ids {
        assert!(
            resumed.stderr.contains(&format!("{id}: [3] publish\n")),
            "{}",
            resumed.stderr
        );
    }
}

#[test]
fn without_a_store_ctrl_c_still_cancels_and_nothing_is_kept() {
    let dir = copy_of("durable");
    let root = dir.path();
    let mut run = Background::start(root, &["run", "publish.orch", "-i", "title=Hello"]);
    run.wait_for("waiting for signal `Approval` (Ctrl-C stops the run)");
    run.signal("INT");
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(json_of(&stdout)["status"], "cancelled");
    assert!(!root.join("runs.db").exists());
}

#[test]
fn store_errors_are_one_line_and_exit_non_zero() {
    let dir = copy_of("durable");
    let root = dir.path();
    // A finished run, and a paused one.
    write(root, "napper.pid", "0\n");
    let finished = output(
        orch()
            .current_dir(root)
            .args(["run", "nap.orch", "--store", "runs.db", "-q"]),
    );
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let finished = json_of(&finished.stdout)["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (run, paused) = waiting_run(root);
    pause(run);
    // Stores that are not orch stores: bytes patched into the header of a new store.
    write(root, "empty.db", "");
    let made = output(
        orch()
            .current_dir(root)
            .args(["runs", "list", "--store", "empty.db"]),
    );
    assert_eq!(made.stderr, "no runs in `empty.db`\n");
    let header = std::fs::read(root.join("empty.db")).unwrap();
    let patched = |name: &str, at: usize, bytes: &[u8]| {
        let mut file = header.clone();
        file[at..at + bytes.len()].copy_from_slice(bytes);
        std::fs::write(root.join(name), file).unwrap();
    };
    patched("foreign.db", 68, b"abcd");
    patched("newer.db", 60, &7_u32.to_be_bytes());
    write(root, "text.db", "hello\n");
    std::fs::write(
        root.join("damaged.db"),
        b"SQLite format 3\0 and then nothing",
    )
    .unwrap();
    let changed = std::fs::read_to_string(root.join("publish.orch"))
        .unwrap()
        .replace("the editor asked for changes", "changes were asked for");
    write(root, "changed.orch", &changed);
    let config = std::fs::read_to_string(root.join("orch.toml")).unwrap();
    write(
        root,
        "unbound.toml",
        &config.replace("[workers.Publisher]", "[workers.Other]"),
    );

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("no store", vec!["runs", "list", "--store", "none.db"]),
        ("not a database", vec!["runs", "list", "--store", "text.db"]),
        (
            "another program's database",
            vec!["runs", "list", "--store", "foreign.db"],
        ),
        (
            "a newer store",
            vec!["runs", "show", "x", "--store", "newer.db"],
        ),
        (
            "a damaged store",
            vec!["signal", "x", "Go", "--store", "damaged.db"],
        ),
        (
            "a store that is a folder",
            vec!["runs", "list", "--store", "."],
        ),
        (
            "resume: no such run",
            vec!["resume", "run-nope", "publish.orch", "--store", "runs.db"],
        ),
        (
            "resume: a finished run",
            vec!["resume", &finished, "nap.orch", "--store", "runs.db"],
        ),
        (
            "resume: no file",
            vec!["resume", &paused, "--store", "runs.db"],
        ),
        (
            "resume: not the run's workflow",
            vec!["resume", &paused, "nap.orch", "--store", "runs.db"],
        ),
        (
            "resume: a changed definition",
            vec!["resume", &paused, "changed.orch", "--store", "runs.db"],
        ),
        (
            "resume: an unbound worker",
            vec![
                "resume",
                &paused,
                "publish.orch",
                "--store",
                "runs.db",
                "--config",
                "unbound.toml",
            ],
        ),
        (
            "resume --all: two files",
            vec![
                "resume",
                "--all",
                "nap.orch",
                "publish.orch",
                "--store",
                "runs.db",
            ],
        ),
        (
            "resume --all: no store",
            vec!["resume", "--all", "nap.orch", "--store", "none.db"],
        ),
        (
            "signal: no such run",
            vec!["signal", "run-nope", "Approval", "--store", "runs.db"],
        ),
        (
            "signal: a finished run",
            vec!["signal", &finished, "Approval", "--store", "runs.db"],
        ),
        (
            "signal: an undeclared signal",
            vec![
                "signal",
                &paused,
                "Aproval",
                "--store",
                "runs.db",
                "--file",
                "publish.orch",
            ],
        ),
        (
            "signal: an undeclared outcome",
            vec![
                "signal",
                &paused,
                "Approval",
                "--outcome",
                "maybe",
                "--store",
                "runs.db",
                "--file",
                "publish.orch",
            ],
        ),
        (
            "signal: not the run's workflow",
            vec![
                "signal", &paused, "Approval", "--store", "runs.db", "--file", "nap.orch",
            ],
        ),
        (
            "show: no such run",
            vec!["runs", "show", "run-nope", "--store", "runs.db"],
        ),
        (
            "delete: no such run",
            vec!["runs", "delete", &paused, "run-nope", "--store", "runs.db"],
        ),
    ];
    let mut transcript = String::new();
    for (name, args) in cases {
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
    let transcript = transcript
        .replace(&finished, "[finished run]")
        .replace(&paused, "[paused run]");
    insta::assert_snapshot!("store_errors", transcript);
    // Nothing was changed by the refusals: the paused run is still there, and so is the
    // other program's database.
    let listed = output(orch().current_dir(root).args([
        "runs", "list", "--status", "paused", "--store", "runs.db", "--format", "json",
    ]));
    assert_eq!(json_of(&listed.stdout)[0]["run_id"], json!(paused));
    assert!(!root.join("none.db").exists());
    assert_eq!(
        std::fs::read(root.join("foreign.db")).unwrap()[68..72],
        *b"abcd"
    );
}
