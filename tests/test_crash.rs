//! Crash recovery for real: a child process drives durable runs over a SQLite store and is
//! killed with SIGKILL at random points, again and again; each restart resumes what the store
//! holds. Every run must then end with exactly the result and trail of an uninterrupted run —
//! no step lost, none run or recorded twice.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orch_runtime::store::{
    Checkpoint, Lifecycle, MemoryStore, NewRun, RunFilter, SqliteStore, Store,
};
use orch_runtime::{Call, Engine, Reply, RunResult, RunStatus, Trail, WorkerError};
use serde_json::{Value, json};

/// Set in the child process: the path of its store.
const CHILD: &str = "ORCH_CRASH_CHILD";
/// The line a child prints once its store is open and its engine is about to resume: kill
/// times count from there, so that a slow start on a busy machine does not eat them.
const READY: &str = "orch-crash-child: ready";
const RUNS: i64 = 8;
/// Checkpoints of a finished run written to each store before its children start: the store
/// indexes its log in bulk every 2,048 checkpoints, so that the children's commits bring the
/// index up to date part-way through, where kills can land, and their runs are read back from
/// both sides of it.
const BALLAST: u64 = 2_000;
/// Kills wanted in all: stores are added until this many have landed.
const KILLS: usize = 60;
/// At most this many stores, each killed at most `KILLS_PER_STORE` times.
const MAX_STORES: usize = 24;
const KILLS_PER_STORE: usize = 12;

const WORKFLOW: &str = r#"
workflow Crashy {
    input { n: integer }
    worker Step;
    worker Flaky;
    signal Never;
    start prepare;

    task prepare by Flaky { with { n: input.n } retry 2; ok -> fan; fail -> failed; }
    parallel fan {
        branch left by Step { with { n: prepare.output, side: "left" } }
        branch right by Step { with { n: prepare.output, side: "right" } }
        ok -> items;
        fail -> failed;
    }
    map items over fan.output.left.list as item by Step { with { n: item } limit 2; ok -> polish; fail -> failed; }
    loop polish by Step as round { with { n: round.index } until polish.output >= 3; max 5; ok -> pause; fail -> failed; }
    wait pause for Never { timeout 20ms; ok -> failed; timeout -> finish; fail -> failed; }
    task finish by Step { with { n: items.output } ok -> check; fail -> failed; }
    choice check { when finish.output.total > 0 -> done; else -> failed; }
    succeed done output { total: finish.output.total, polished: polish.output };
    fail failed;
}
"#;

/// Deterministic workers that take a little time, so that kills land mid-run.
fn engine(store: Option<Arc<dyn Store>>) -> Engine {
    let engine = match store {
        Some(store) => Engine::new().with_store(store),
        None => Engine::new().with_store(Arc::new(MemoryStore::new())),
    };
    engine.bind("Flaky", |call: Call| async move {
        tokio::time::sleep(Duration::from_millis(3)).await;
        if call.attempt == 1 {
            return Err(WorkerError::new("not yet"));
        }
        Ok(Reply::ok(call.input["n"].clone()))
    });
    engine.bind("Step", |call: Call| async move {
        tokio::time::sleep(Duration::from_millis(4)).await;
        let n = call.input["n"].clone();
        Ok(Reply::ok(match (&*call.state, &call.input["side"]) {
            ("fan", Value::String(side)) => {
                json!({"side": side, "list": [n.clone(), n.clone(), n]})
            }
            ("finish", _) => json!({"total": n.as_array().map_or(0, |a| a.len())}),
            _ => n,
        }))
    });
    engine.load(WORKFLOW).unwrap();
    engine
}

/// The child: resume what the store holds, start the runs it lacks, and finish them all.
fn child(path: &Path) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).expect("open the store"));
        let engine = engine(Some(store.clone()));
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{READY}");
            let _ = out.flush();
        }
        let mut handles: Vec<_> = engine
            .resume_all()
            .await
            .unwrap()
            .into_iter()
            .map(|(_, h)| h.unwrap())
            .collect();
        let mut present = Vec::new();
        for run in store.list(RunFilter::default()).await.unwrap() {
            let loaded = store.load(&run.id).await.unwrap().unwrap();
            present.push(loaded.input["n"].as_i64().unwrap());
        }
        for n in (0..RUNS).filter(|n| !present.contains(n)) {
            handles.push(engine.start("Crashy", json!({ "n": n })).unwrap());
        }
        for handle in handles {
            handle.result().await;
        }
    });
    std::process::exit(0)
}

/// The result each run must reach, from runs nobody interrupts.
fn expected() -> BTreeMap<i64, RunResult> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let engine = engine(None);
        let mut results = BTreeMap::new();
        for n in 0..RUNS {
            results.insert(n, engine.run("Crashy", json!({ "n": n })).await.unwrap());
        }
        results
    })
}

/// Starts a child over `path` and kills it `after` it is ready; true when it finished first.
fn run_child(path: &Path, after: Option<Duration>) -> bool {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "runs_finish_as_if_never_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // The test harness prints lines of its own first, and the test's name before the line; the
    // end of the output means the child ended before it was ready.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    for line in (&mut out).lines() {
        match line {
            Ok(line) if !line.ends_with(READY) => continue,
            _ => break,
        }
    }
    // Read the rest as it comes, so that the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let Some(after) = after else {
        let status = child.wait().unwrap();
        assert!(status.success(), "the last child failed: {status}");
        return true;
    };
    let started = Instant::now();
    while started.elapsed() < after {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "a child failed: {status}");
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    false
}

/// A small deterministic generator for kill times.
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[test]
fn runs_finish_as_if_never_killed() {
    if let Some(path) = std::env::var_os(CHILD) {
        child(Path::new(&path));
    }
    let expected = expected();
    let dir = std::env::temp_dir().join(format!("orch-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = 0x5eed_u64;
    let mut kills = 0;
    let mut points = std::collections::BTreeSet::new();
    // How many kills land before a store's runs finish depends on the machine's speed: stores are
    // added until enough kills have landed, rather than guessing a count of stores.
    let mut store = 0;
    while kills < KILLS && store < MAX_STORES {
        store += 1;
        let path: PathBuf = dir.join(format!("runs-{store}.db"));
        ballast(&path);
        let mut finished = false;
        for _ in 0..KILLS_PER_STORE {
            let after = Duration::from_millis(next(&mut rng) % 40);
            if run_child(&path, Some(after)) {
                finished = true;
                break;
            }
            kills += 1;
            points.insert((store, progress(&path)));
        }
        if !finished {
            run_child(&path, None);
        }
        verify(&path, &expected);
    }
    std::fs::remove_dir_all(&dir).ok();
    eprintln!(
        "{kills} kills over {store} stores, at {} distinct points",
        points.len()
    );
    assert!(
        kills >= 50,
        "only {kills} kills landed before the runs finished"
    );
    // Kills landed at many different points: before anything was stored, mid-run, near the end.
    assert!(
        points.len() >= 25,
        "kills landed at only {} distinct points",
        points.len()
    );
}

/// Runs `future` to its end on a single-threaded runtime of its own.
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A finished run of [`BALLAST`] checkpoints, not one of the runs checked.
fn ballast(path: &Path) {
    block_on(async {
        let store = SqliteStore::open(path).unwrap();
        let checkpoint = |steps| Checkpoint {
            state: "idle".into(),
            steps,
            counters: vec![],
            data: vec![],
            last_error: None,
            trail: vec![],
            consumed: vec![],
            deadline_ms: None,
        };
        let run = NewRun {
            id: "ballast".into(),
            workflow: "Ballast".into(),
            definition: "0".into(),
            input: json!({ "n": -1 }),
            created_ms: 0,
            checkpoint: checkpoint(0),
        };
        store.create(run).await.unwrap();
        for steps in 1..BALLAST {
            store
                .checkpoint("ballast", checkpoint(steps))
                .await
                .unwrap();
        }
        let mut result = engine(None).run("Crashy", json!({ "n": 0 })).await.unwrap();
        result.run_id = "ballast".into();
        result.workflow = "Ballast".into();
        assert_eq!(result.status, RunStatus::Succeeded);
        store
            .finish("ballast", checkpoint(BALLAST), result)
            .await
            .unwrap();
    });
}

/// How far the runs of a store have come: the trail entries stored, in all.
fn progress(path: &Path) -> usize {
    if !path.exists() {
        return 0;
    }
    block_on(async {
        let store = SqliteStore::open(path).unwrap();
        let mut entries = 0;
        for run in store.list(RunFilter::default()).await.unwrap() {
            entries += store
                .load(&run.id)
                .await
                .unwrap()
                .map_or(0, |r| r.checkpoint.trail.len());
        }
        entries
    })
}

fn verify(path: &Path, expected: &BTreeMap<i64, RunResult>) {
    block_on(async {
        let store = SqliteStore::open(path).unwrap();
        let mut runs = store.list(RunFilter::default()).await.unwrap();
        runs.retain(|run| run.id != "ballast");
        let indexed: i64 = rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT upto FROM log_index", [], |row| row.get(0))
            .unwrap();
        assert!(
            indexed > BALLAST as i64,
            "the children's commits brought the index up to date ({indexed})"
        );
        assert_eq!(
            runs.len(),
            expected.len(),
            "every run was created exactly once"
        );
        for run in runs {
            assert!(
                matches!(run.status, Lifecycle::Finished(_)),
                "{} is {}",
                run.id,
                run.status
            );
            let loaded = store.load(&run.id).await.unwrap().unwrap();
            let n = loaded.input["n"].as_i64().unwrap();
            let want = &expected[&n];
            let got = loaded.result.expect("a finished run has its result");
            assert_eq!(
                (got.status, &got.output, &got.error),
                (want.status, &want.output, &want.error),
                "run {n}"
            );
            assert_eq!(got.steps, want.steps, "run {n}: steps");
            assert_eq!(
                got.trail.without_times(),
                want.trail.without_times(),
                "run {n}: trail"
            );
            assert_eq!(
                loaded.checkpoint.trail.without_times(),
                want.trail.without_times(),
                "run {n}: stored trail"
            );
        }
    });
}
