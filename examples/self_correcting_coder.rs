//! A self-correcting coder: write the code → run the tests → while tests fail, write it again,
//! at most three more times (a bounded edge). Written inline with `orch_runtime::workflow!`.
//!
//! The tests here are real: each version of the code is a Rust function, and the test runner
//! runs its cases against the version it is given. The coder cannot read `test.output` — on
//! the first pass the tests have not run, and the compiler rejects a read of a state that may
//! not have completed (E0303) — so the failures decide the route, and the scripted coder fixes
//! one more thing in each version of its own accord.
//!
//! ```text
//! cargo run --example self_correcting_coder
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::workflow! {
    /// Write code, test it, and write it again while tests fail, at most four versions.
    workflow SelfCorrectingCoder {
        input { spec: string }
        worker Coder "writes the function";
        worker TestRunner "runs the test cases against the code";
        on fail -> failed;
        start write;

        task write by Coder {
            with { spec: input.spec }
            ok -> test;
        }
        task test by TestRunner {
            with { code: write.output }
            ok -> verdict;
        }
        choice verdict {
            when test.output.failing == 0 -> done;
            else -> write max 3 else gave_up;
        }

        succeed done output { version: write.output.version, tests: test.output };
        fail gave_up error "{{test.output.failing}} tests still fail after four versions";
        fail failed;
    }
}

use self_correcting_coder::{Input, Workers};

/// The versions the coder writes, each fixing one more thing.
const VERSIONS: [fn(&str) -> String; 3] = [slugify_v1, slugify_v2, slugify_v3];

fn slugify_v1(title: &str) -> String {
    title.to_lowercase().replace(' ', "-")
}

fn slugify_v2(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ')
        .collect::<String>()
        .replace(' ', "-")
}

fn slugify_v3(title: &str) -> String {
    slugify_v2(title)
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The test cases: a title and its slug.
const CASES: [(&str, &str); 3] = [
    ("Hello World", "hello-world"),
    ("Rust, fast!", "rust-fast"),
    ("  many   spaces ", "many-spaces"),
];

#[derive(Default)]
struct Workshop {
    versions: AtomicU32,
}

impl Workers for Workshop {
    async fn coder(&self, call: Call) -> WorkerResult<Value> {
        let version = self.versions.fetch_add(1, Ordering::SeqCst) + 1;
        println!("coder: version {version} of {}", call.input["spec"]);
        Ok(json!({ "version": version, "function": format!("slugify_v{version}") }))
    }

    async fn test_runner(&self, call: Call) -> WorkerResult<Value> {
        let version = call.input["code"]["version"].as_u64().unwrap_or(1) as usize;
        let slugify = VERSIONS[(version - 1).min(VERSIONS.len() - 1)];
        let failures: Vec<Value> = CASES
            .iter()
            .filter(|(title, slug)| slugify(title) != *slug)
            .map(|(title, slug)| json!({ "title": title, "want": slug, "got": slugify(title) }))
            .collect();
        println!(
            "test runner: version {version}: {} of {} cases fail",
            failures.len(),
            CASES.len()
        );
        Ok(json!({ "failing": failures.len(), "failures": failures }))
    }
}

/// Codes until the tests pass or the bound is reached.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        spec: "slugify(title): lowercase words joined by single dashes, no punctuation".into(),
    };
    self_correcting_coder::run(Workshop::default(), input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    support::print_summary(&result, self_correcting_coder::WORST_CASE_STEPS);
    Ok(())
}
