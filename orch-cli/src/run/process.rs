//! Workers that run a process per call.
//!
//! The request JSON goes to the process's standard input and its reply is read from standard
//! output. Exit status 0 is a reply; 75 (`EX_TEMPFAIL`) a failure worth retrying; any other
//! status a permanent failure; death by a signal a failure worth retrying. Failures carry the
//! exit status and the last lines of standard error. When the run no longer needs the call
//! (cancelled, timed out, a join decided) the process and everything it started are killed.

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;

use orch_runtime::{BoxFuture, Call, Worker, WorkerError, WorkerResult};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::config::CommandSpec;
use super::protocol::{last_lines, parse_reply, request};
use crate::files::describe_io;

/// `EX_TEMPFAIL` from `sysexits.h`: a temporary failure, worth retrying.
pub const EXIT_RETRY: i32 = 75;

/// A worker backed by a command from `orch.toml`.
#[derive(Clone, Debug)]
pub struct ProcessWorker {
    spec: Arc<CommandSpec>,
}

impl ProcessWorker {
    pub fn new(spec: CommandSpec) -> ProcessWorker {
        ProcessWorker {
            spec: Arc::new(spec),
        }
    }

    /// The command as shown in messages: `python3 coder.py`.
    pub fn describe(spec: &CommandSpec) -> String {
        std::iter::once(spec.program.display().to_string())
            .chain(spec.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Worker for ProcessWorker {
    fn call(&self, call: Call) -> BoxFuture<WorkerResult> {
        let spec = self.spec.clone();
        Box::pin(async move {
            let run = invoke(&spec, &call);
            tokio::select! {
                result = run => result,
                () = call.cancelled() => Err(WorkerError::permanent("the call was cancelled")),
            }
        })
    }
}

async fn invoke(spec: &CommandSpec, call: &Call) -> WorkerResult {
    let body = serde_json::to_vec(&request(call))
        .map_err(|e| WorkerError::permanent(format!("cannot encode the request: {e}")))?;
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(&spec.env)
        .env("ORCH_RUN_ID", &*call.run_id)
        .env("ORCH_WORKFLOW", &*call.workflow)
        .env("ORCH_STATE", &*call.state)
        .env("ORCH_WORKER", &*call.worker)
        .env("ORCH_ATTEMPT", call.attempt.to_string())
        .env("ORCH_IDEMPOTENCY_KEY", call.idempotency_key())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own process group: Ctrl-C reaches `orch`, which then stops the group as a whole.
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command.spawn().map_err(|e| {
        WorkerError::permanent(format!(
            "cannot start `{}`: {}",
            ProcessWorker::describe(spec),
            describe_io(&e)
        ))
    })?;
    let group = GroupGuard::new(child.id());
    let stdin = child.stdin.take();
    let write = async move {
        if let Some(mut stdin) = stdin {
            // A process that exits without reading its input closes the pipe: not our error.
            let _ = stdin.write_all(&body).await;
        }
    };
    let wait = async {
        let ((), output) = tokio::join!(write, child.wait_with_output());
        output
    };
    let output = match spec.timeout {
        Some(limit) => match tokio::time::timeout(limit, wait).await {
            Ok(output) => output,
            Err(_) => {
                return Err(WorkerError::timed_out(format!(
                    "the worker process did not finish within {}",
                    show_duration(limit)
                )));
            }
        },
        None => wait.await,
    }
    .map_err(|e| WorkerError::new(format!("lost the worker process: {e}")))?;
    group.disarm();
    if output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        return parse_reply(&stdout).map_err(WorkerError::permanent);
    }
    Err(failure(
        output.status,
        &String::from_utf8_lossy(&output.stderr),
    ))
}

/// The error for a process that did not exit with 0.
fn failure(status: ExitStatus, stderr: &str) -> WorkerError {
    let (what, retryable) = match status.code() {
        Some(EXIT_RETRY) => (
            format!("exited with status {EXIT_RETRY} (temporary failure)"),
            true,
        ),
        Some(code) => (format!("exited with status {code}"), false),
        None => (format!("was killed ({status})"), true),
    };
    let mut message = format!("the worker process {what}");
    let tail = last_lines(stderr, 5);
    if !tail.is_empty() {
        message.push_str(": ");
        message.push_str(&tail.join("\n"));
    }
    if retryable {
        WorkerError::new(message)
    } else {
        WorkerError::permanent(message)
    }
}

pub fn show_duration(duration: std::time::Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Kills the process group of a call that was abandoned before its process exited: the worker
/// and whatever it started (`bash script.sh` running `python3`).
struct GroupGuard {
    pid: Option<u32>,
}

impl GroupGuard {
    fn new(pid: Option<u32>) -> GroupGuard {
        GroupGuard { pid }
    }

    fn disarm(mut self) {
        self.pid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: `kill` has no memory-safety preconditions; the group is the one the
            // child leads (`process_group(0)`), and signalling a group that is gone only fails.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn status(code: i32) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        ExitStatus::from_raw(code << 8)
    }

    #[cfg(unix)]
    #[test]
    fn exit_75_is_worth_retrying_and_others_are_not() {
        let retry = failure(status(75), "busy\n");
        assert!(retry.retryable);
        assert_eq!(
            retry.message,
            "the worker process exited with status 75 (temporary failure): busy"
        );
        let permanent = failure(status(2), "a\nb\nc\nd\ne\nf\n\n");
        assert!(!permanent.retryable);
        assert_eq!(
            permanent.message,
            "the worker process exited with status 2: b\nc\nd\ne\nf"
        );
        assert_eq!(
            failure(status(1), "").message,
            "the worker process exited with status 1"
        );
    }
}
