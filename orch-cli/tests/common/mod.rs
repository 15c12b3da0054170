//! Helpers shared by the `orch` command's tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The `orch` binary, run from this package's folder with colours off.
pub fn orch() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("orch"));
    command.current_dir(package()).env_remove("NO_COLOR");
    command
}

/// This package's folder: relative paths in tests start here.
pub fn package() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a finished command printed.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn output(command: &mut assert_cmd::Command) -> Output {
    let output = command.output().expect("`orch` runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 on stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 on stderr"),
    }
}

/// A fresh temporary folder holding a copy of `tests/<name>`.
pub fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    copy_dir(&package().join("tests").join(name), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("the fixture folder") {
        let path = entry.expect("an entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            std::fs::create_dir_all(&target).expect("a folder");
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("a copy keeps the mode bits");
        }
    }
}

/// A run result as printed, with run ids and times replaced so that it can be compared.
pub fn normalise_result(stdout: &str) -> String {
    let mut lines = Vec::new();
    for line in replace_run_ids(stdout).lines() {
        let key = line.trim_start().split(':').next().unwrap_or("");
        let timed = [
            "\"started_at_ms\"",
            "\"duration_us\"",
            "\"at_ms\"",
            "\"duration_ms\"",
        ];
        match line.split_once(": ") {
            Some((head, value)) if timed.contains(&key) => {
                let comma = if value.ends_with(',') { "," } else { "" };
                lines.push(format!("{head}: 0{comma}"));
            }
            _ => lines.push(line.to_string()),
        }
    }
    lines.join("\n") + "\n"
}

/// Progress with run ids and the closing line's duration replaced.
pub fn normalise_progress(stderr: &str) -> String {
    let mut lines = Vec::new();
    for line in replace_run_ids(stderr).lines() {
        let line = match line.rsplit_once(" in ") {
            Some((head, _)) if line.starts_with("succeeded") => format!("{head} in [time]"),
            _ => line.to_string(),
        };
        lines.push(line);
    }
    lines.join("\n") + "\n"
}

/// Replaces every run id (`run-<hex>-<n>`) with `[run-<n>]`.
pub fn replace_run_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("run-") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        let hex = after
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(after.len());
        let tail = &after[hex..];
        let digits = tail
            .strip_prefix('-')
            .map(|t| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()))
            .unwrap_or(0);
        if hex > 0 && digits > 0 {
            out.push_str(&format!("[run-{}]", &tail[1..=digits]));
            rest = &tail[1 + digits..];
        } else {
            out.push_str("run-");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Writes `text` to `dir/name`, and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("a written file");
    path
}
