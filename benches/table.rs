//! Every measurement of `scripts/bench`, each with a baseline measured in the same run, printed
//! as one Markdown table.
//!
//! ```text
//! table all [--quick]          every section, each in a process of its own, then the table
//! table compile|transition|callgrind|step|fanout|concurrent|durable [--quick] [--rows]
//! ```
//!
//! The peak memory of 100,000 runs needs a process of its own, and so does an instruction
//! count under callgrind: for those the binary runs itself with an internal mode
//! (`child-concurrent orch|raw|minimal N`, `child-transition generated|hand N`,
//! `child-check STATES`).
//!
//! `table profile parse|check|codegen|expand[-each] STATES SECONDS` repeats one phase of the
//! compiler on a generated workflow (`-each`: one with a worker per state), to run under
//! `perf record` or callgrind, and prints the mean, the fastest, the first quartile and the
//! median of the rounds: on a shared host the fastest round is the steadiest of the four, for
//! comparing two builds in alternating runs.

mod support;

use std::hint::black_box;
use std::process::Command;
use std::str::FromStr;
use std::time::Instant;

use orch_runtime::store::Durability;
use support::durable::{self, Durable, Kind, Raw};
use support::measure::{self, Plan};
use support::workloads::{self, compile};
use support::{generate, machine, minimal};

/// One line of the table.
struct Row {
    measurement: String,
    value: String,
    baseline: String,
    ratio: Option<f64>,
    target: String,
    /// `None` when the row has no target.
    met: Option<bool>,
}

impl Row {
    fn new(
        measurement: impl Into<String>,
        value: impl Into<String>,
        baseline: impl Into<String>,
    ) -> Row {
        Row {
            measurement: measurement.into(),
            value: value.into(),
            baseline: baseline.into(),
            ratio: None,
            target: "—".into(),
            met: None,
        }
    }

    fn ratio(mut self, ratio: f64) -> Row {
        self.ratio = Some(ratio);
        self
    }

    fn target(mut self, target: impl Into<String>, met: bool) -> Row {
        self.target = target.into();
        self.met = Some(met);
        self
    }
}

struct Options {
    quick: bool,
}

impl Options {
    /// Fewer repetitions with `--quick`.
    fn plan(&self, min: usize, max: usize, budget_ms: u64) -> Plan {
        if self.quick {
            Plan::new(
                min.div_ceil(3).max(3),
                max.div_ceil(3).max(3),
                budget_ms / 4,
            )
        } else {
            Plan::new(min, max, budget_ms)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let options = Options { quick };
    let mut rows = Vec::new();
    match words.as_slice() {
        ["child-concurrent", which, runs] => return child_concurrent(which, parse_count(runs)),
        ["child-transition", which, count] => return child_transition(which, parse_count(count)),
        ["child-check", states] => return child_check(parse_count(states)),
        ["profile-durable", workload, store, seconds] => {
            return profile_durable(workload, store, parse_count(seconds));
        }
        ["profile", phase, states, seconds] => {
            return profile(phase, parse_count(states), parse_count(seconds));
        }
        ["all"] => {
            // Each section in a fresh process, so that none measures on a heap that an
            // earlier one left fragmented (10,000-state syntax trees, 100,000 runs).
            println!("{HEADER}");
            for section in SECTIONS {
                print!("{}", section_in_child(section, quick));
            }
            return;
        }
        [section] if SECTIONS.contains(section) => run_section(section, &options, &mut rows),
        _ => {
            eprintln!(
                "usage: table all|{} [--quick]   (scripts/bench runs it)",
                SECTIONS.join("|")
            );
            return;
        }
    }
    if !args.iter().any(|a| a == "--rows") {
        println!("{HEADER}");
    }
    print_rows(&rows);
}

const HEADER: &str = "| measurement | value | baseline (same run) | ratio | target | result |\n\
                      |---|---|---|---|---|---|";

/// The rows of one section, measured by a process of its own.
fn section_in_child(section: &str, quick: bool) -> String {
    let exe = std::env::current_exe().expect("the benchmark binary");
    let mut command = Command::new(exe);
    command.args([section, "--rows"]);
    if quick {
        command.arg("--quick");
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("the benchmark binary runs");
    assert!(output.status.success(), "section {section} failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SECTIONS: [&str; 7] = [
    "compile",
    "transition",
    "callgrind",
    "step",
    "fanout",
    "concurrent",
    "durable",
];

fn run_section(section: &str, options: &Options, rows: &mut Vec<Row>) {
    eprintln!("measuring {section} …");
    let began = Instant::now();
    match section {
        "compile" => compile_rows(options, rows),
        "transition" => transition_rows(options, rows),
        "callgrind" => callgrind_rows(rows),
        "step" => step_rows(options, rows),
        "fanout" => fanout_rows(options, rows),
        "concurrent" => concurrent_rows(options, rows),
        "durable" => durable_rows(options, rows),
        _ => unreachable!("a known section"),
    }
    eprintln!("  {section}: {:.1} s", began.elapsed().as_secs_f64());
}

fn parse_count(text: &str) -> usize {
    text.replace('_', "").parse().expect("a count")
}

fn show_time(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else if seconds >= 1e-6 {
        format!("{:.2} µs", seconds * 1e6)
    } else {
        format!("{:.2} ns", seconds * 1e9)
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn compile_rows(options: &Options, rows: &mut Vec<Row>) {
    let sizes = [100, 1_000, 10_000];
    let texts: Vec<String> = sizes.iter().map(|&n| generate::workflow(n)).collect();

    // The checks come first, each of a tree parsed once, as a build meets it. A tree parsed
    // after the parse rows' dozens of parses of the same text lies in the holes those left;
    // the last check row measures what that costs. Three seconds for every size, not the
    // parse's fifteen samples: fifteen checks of 10,000 states take a fifth of a second, too
    // short to outlast a burst of load. The sizes take turns, half a second each, and a ratio
    // between sizes is the median of the rounds' ratios, so that a burst of load falls on one
    // round rather than on one size's whole loop.
    let files: Vec<orch_dsl::ast::File> = texts.iter().map(|text| compile::parse(text)).collect();
    let check_plan = || options.plan(15, 5_000, 3_000);
    let checks = check_in_turns(check_plan(), &files);
    let check_times = checks.medians.clone();
    // The same ratio with as many workers as states: work per worker must not be per state.
    let each_files: Vec<orch_dsl::ast::File> = [1_000, 10_000]
        .iter()
        .map(|&n| compile::parse(&generate::one_worker_each(n)))
        .collect();
    let each = check_in_turns(check_plan(), &each_files);

    let big = &texts[2];
    let mb = big.len() as f64 / 1e6;
    let (parse, tokenize, ratio) = measure::compare(
        options.plan(10, 40, 4_000),
        || drop(black_box(compile::parse(black_box(big)))),
        || drop(black_box(compile::tokenize(black_box(big)))),
    );
    rows.push(
        Row::new(
            format!("parse, 10,000-state text ({mb:.2} MB)"),
            format!("{:.1} MB/s ({})", mb / parse, show_time(parse)),
            format!(
                "Rust tokenizer (proc-macro2) on the same text: {:.1} MB/s",
                mb / tokenize
            ),
        )
        .ratio(ratio),
    );

    let mut parse_times = Vec::new();
    for (&n, text) in sizes.iter().zip(&texts) {
        let plan = if n >= 10_000 {
            options.plan(5, 15, 6_000)
        } else {
            options.plan(15, 200, 3_000)
        };
        parse_times.push(measure::time(plan, || {
            drop(black_box(compile::parse(text)))
        }));
    }
    // Code generation, and the check and code generation together as a build runs them (the
    // tree checked, the code generated from its IR), in turns like the checks: a 1,000-state
    // loop of a few seconds on its own measured 14.2 and 17.1 ms in two runs of an hour.
    let compiled: Vec<orch_dsl::Compiled> = files.iter().map(compile::check).collect();
    let codegen_plan = || options.plan(15, 300, 4_000);
    let codegens = in_turns(
        codegen_plan(),
        compiled
            .iter()
            .map(|compiled| {
                Box::new(move || drop(black_box(compile::codegen(compiled)))) as Box<dyn FnMut()>
            })
            .collect(),
    );
    let codegen_times = codegens.medians.clone();
    let builds = in_turns(
        codegen_plan(),
        files
            .iter()
            .map(|file| {
                Box::new(move || {
                    let compiled = compile::check(file);
                    drop(black_box(compile::codegen(&compiled)))
                }) as Box<dyn FnMut()>
            })
            .collect(),
    );
    let reparsed = {
        let file = compile::parse(big);
        measure::time(check_plan(), || drop(black_box(compile::check(&file))))
    };
    for (i, &n) in sizes.iter().enumerate() {
        let mut row = Row::new(
            format!("check, {} states", thousands(n)),
            show_time(check_times[i]),
            format!("parse of the same text: {}", show_time(parse_times[i])),
        )
        .ratio(check_times[i] / parse_times[i]);
        if n == 1_000 {
            row = row.target("≤ 100 ms", check_times[i] <= 0.100);
        }
        rows.push(row);
    }
    rows.push(
        Row::new(
            "check, 10,000 states, the tree parsed after the parse rows' parses",
            show_time(reparsed),
            format!("the tree parsed first: {}", show_time(check_times[2])),
        )
        .ratio(reparsed / check_times[2]),
    );
    for i in 1..sizes.len() {
        let ratio = checks.ratio(i, i - 1);
        rows.push(
            Row::new(
                format!(
                    "check, {} vs {} states",
                    thousands(sizes[i]),
                    thousands(sizes[i - 1])
                ),
                show_time(check_times[i]),
                show_time(check_times[i - 1]),
            )
            .ratio(ratio)
            .target("≤ 12×", ratio <= 12.0),
        );
    }
    let each_ratio = each.ratio(1, 0);
    rows.push(
        Row::new(
            "check, 10,000 vs 1,000 states, a worker each",
            show_time(each.medians[1]),
            show_time(each.medians[0]),
        )
        .ratio(each_ratio)
        .target("≤ 12×", each_ratio <= 12.0),
    );
    for (i, &n) in sizes.iter().enumerate() {
        rows.push(
            Row::new(
                format!("codegen, {} states", thousands(n)),
                show_time(codegen_times[i]),
                format!("check: {}", show_time(check_times[i])),
            )
            .ratio(codegen_times[i] / check_times[i]),
        );
    }
    for i in 1..sizes.len() {
        let (now, before) = (builds.medians[i], builds.medians[i - 1]);
        let ratio = builds.ratio(i, i - 1);
        rows.push(
            Row::new(
                format!(
                    "check + codegen, {} vs {} states",
                    thousands(sizes[i]),
                    thousands(sizes[i - 1])
                ),
                show_time(now),
                show_time(before),
            )
            .ratio(ratio)
            .target("≤ 12×", ratio <= 12.0),
        );
    }

    let tokens = compile::tokenize(&texts[1]);
    let expand = measure::time(options.plan(15, 100, 4_000), || {
        drop(black_box(compile::expand(tokens.clone())))
    });
    let pipeline = parse_times[1] + check_times[1] + codegen_times[1];
    rows.push(
        Row::new(
            "`workflow!` expansion, 1,000 states",
            show_time(expand),
            format!("parse + check + codegen: {}", show_time(pipeline)),
        )
        .ratio(expand / pipeline)
        .target("≤ 200 ms", expand <= 0.200),
    );
}

/// The checks of `files`, taken in turns (see [`measure::turns`]): six rounds.
fn check_in_turns(plan: measure::Plan, files: &[orch_dsl::ast::File]) -> measure::Turns {
    in_turns(
        plan,
        files
            .iter()
            .map(|file| Box::new(move || drop(black_box(compile::check(file)))) as Box<dyn FnMut()>)
            .collect(),
    )
}

/// [`measure::turns`] of these, in six rounds.
fn in_turns<'a>(plan: measure::Plan, mut fs: Vec<Box<dyn FnMut() + 'a>>) -> measure::Turns {
    let mut each: Vec<&mut dyn FnMut()> = fs
        .iter_mut()
        .map(|f| -> &mut dyn FnMut() { &mut **f })
        .collect();
    measure::turns(plan, 6, &mut each)
}

/// Repeats one compiler phase for about `seconds`.
fn profile(phase: &str, states: usize, seconds: usize) {
    // `check-each`, `codegen-each`: the phase on the workflow with a worker per state.
    let (phase, text) = match phase.strip_suffix("-each") {
        Some(phase) => (phase, generate::one_worker_each(states)),
        None => (phase, generate::workflow(states)),
    };
    let file = compile::parse(&text);
    let compiled = compile::check(&file);
    let began = Instant::now();
    let mut rounds = 0;
    // Each round's time, in seconds.
    let mut each = Vec::new();
    while began.elapsed().as_secs() < seconds as u64 || rounds == 0 {
        let t = Instant::now();
        match phase {
            "parse" => drop(black_box(compile::parse(&text))),
            "check" => drop(black_box(compile::check(&file))),
            "codegen" => drop(black_box(compile::codegen(&compiled))),
            "expand" => drop(black_box(compile::expand(compile::tokenize(&text)))),
            _ => panic!("no phase `{phase}`: parse, check, codegen or expand"),
        }
        each.push(t.elapsed().as_secs_f64());
        rounds += 1;
    }
    each.sort_by(f64::total_cmp);
    let ms = |at: usize| each[at] * 1e3;
    eprintln!(
        "{phase}: {rounds} rounds, {:.2?} each, min {:.3} ms, q1 {:.3} ms, median {:.3} ms",
        began.elapsed() / rounds,
        ms(0),
        ms(each.len() / 4),
        ms(each.len() / 2),
    );
}

/// Repeats one durable workload for about `seconds`: `chain` (one run of 1,000 tasks at a
/// time), `loop` (one run of 1,000 rounds of one task at a time) or `group` (1,000 runs of 10
/// tasks at once), over `none`, `memory`, `normal` or `full`.
fn profile_durable(workload: &str, store: &str, seconds: usize) {
    if workload == "raw" {
        let durability = match store {
            "full" => Durability::Full,
            _ => Durability::Normal,
        };
        let raw = Raw::new(durability, "profile-raw");
        let began = Instant::now();
        let mut rows = 0;
        while began.elapsed().as_secs() < seconds as u64 || rows == 0 {
            raw.insert_one_per_transaction(1_000);
            rows += 1_000;
        }
        let rate = rows as f64 / began.elapsed().as_secs_f64();
        eprintln!("raw inserts, synchronous {store}: {rows} rows, {rate:.0} rows/s");
        return;
    }
    let kind = match store {
        "none" => Kind::None,
        "memory" => Kind::Memory,
        "normal" => Kind::Sqlite(Durability::Normal),
        "full" => Kind::Sqlite(Durability::Full),
        _ => panic!("no store `{store}`: none, memory, normal or full"),
    };
    let (durable, runtime) = match workload {
        "chain" => (
            Durable::new(kind, DURABLE_CHAIN, "profile"),
            workloads::current_thread(),
        ),
        "loop" => (
            Durable::looping(kind, DURABLE_CHAIN, "profile"),
            workloads::current_thread(),
        ),
        "group" => (
            Durable::new(kind, GROUP_TASKS, "profile"),
            workloads::multi_thread(),
        ),
        _ => panic!("no workload `{workload}`: chain, loop or group"),
    };
    let began = Instant::now();
    let mut steps = 0;
    while began.elapsed().as_secs() < seconds as u64 || steps == 0 {
        steps += runtime.block_on(async {
            match workload {
                "chain" => durable::run_one(&durable.engine, "Chain").await,
                "loop" => durable::run_one(&durable.engine, "Loop").await,
                _ => durable::concurrent_chains(&durable.engine, GROUP_RUNS).await,
            }
        });
    }
    let elapsed = began.elapsed().as_secs_f64();
    let stats = durable.stats();
    eprintln!(
        "{workload} over {store}: {steps} steps, {:.0} steps/s, {} transactions, {} checkpoints",
        steps as f64 / elapsed,
        stats.transactions,
        stats.checkpoints
    );
}

const TRANSITIONS: usize = 1_000_000;

fn transition_rows(options: &Options, rows: &mut Vec<Row>) {
    machine::assert_same(100_000);
    let (generated, written) = machine::events(TRANSITIONS, 1);
    let (g, h, ratio) = measure::compare(
        options.plan(40, 400, 4_000),
        || {
            black_box(machine::drive_generated(black_box(&generated)));
        },
        || {
            black_box(machine::drive_hand(black_box(&written)));
        },
    );
    let per = |t: f64| show_time(t / TRANSITIONS as f64);
    let merged = if same_machine_code() {
        " (the same machine code: LLVM merged the two loops)"
    } else {
        ""
    };
    rows.push(
        Row::new(
            "generated `transition`, per event",
            format!("{}{merged}", per(g)),
            format!("hand-written `match`: {}", per(h)),
        )
        .ratio(ratio)
        .target("≤ 1.0× (± 2 % noise)", ratio <= 1.02),
    );
}

/// True when the compiler found the generated and the hand-written loop to be the same
/// function and kept one copy of it.
fn same_machine_code() -> bool {
    let generated = machine::drive_generated as fn(&[machine::triage::Event]) -> usize;
    let hand = machine::drive_hand as fn(&[machine::hand::Event]) -> usize;
    generated as usize == hand as usize
}

const CALLGRIND_EVENTS: usize = 200_000;

fn callgrind_rows(rows: &mut Vec<Row>) {
    check_cache_rows(rows);
    let counts: Option<Vec<u64>> = ["generated", "hand"]
        .iter()
        .map(|which| callgrind_count(which))
        .collect();
    let Some(counts) = counts else {
        eprintln!("  valgrind is not available: no instruction counts");
        return;
    };
    let per = |n: u64| n as f64 / CALLGRIND_EVENTS as f64;
    let ratio = counts[0] as f64 / counts[1] as f64;
    let merged = if same_machine_code() {
        " (one function)"
    } else {
        ""
    };
    rows.push(
        Row::new(
            "generated `transition`, instructions per event (callgrind)",
            format!("{:.2}{merged}", per(counts[0])),
            format!("hand-written `match`: {:.2}", per(counts[1])),
        )
        .ratio(ratio)
        .target("≤ 1.0×", ratio <= 1.0),
    );
}

/// Instructions executed inside `drive_generated` or `drive_hand`, counted by callgrind.
fn callgrind_count(which: &str) -> Option<u64> {
    let totals = callgrind(
        // Both names: when the two loops compile to the same code, one symbol stands for both.
        &["--toggle-collect=*machine::drive_*"],
        &["child-transition", which, &CALLGRIND_EVENTS.to_string()],
    )?;
    Some(event(&totals, "Ir")? as u64)
}

/// Runs this binary under callgrind with `options` and the internal mode `child`, and returns
/// the totals of the events it counted, by name (`Ir`, `D1mr`, …).
fn callgrind(options: &[&str], child: &[&str]) -> Option<Vec<(String, f64)>> {
    let exe = std::env::current_exe().ok()?;
    let out = std::env::temp_dir().join(format!(
        "orch-callgrind-{}-{}.out",
        child.join("-"),
        std::process::id()
    ));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .args(options)
        .arg(&exe)
        .args(child)
        .output()
        .ok()?;
    if !status.status.success() {
        eprintln!(
            "  valgrind failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        return None;
    }
    let text = std::fs::read_to_string(&out).ok()?;
    let _ = std::fs::remove_file(&out);
    let line = |prefix: &str| text.lines().find_map(|line| line.strip_prefix(prefix));
    let totals = line("summary:").or_else(|| line("totals:"))?;
    Some(
        line("events:")?
            .split_whitespace()
            .zip(totals.split_whitespace())
            .map(|(name, n)| (name.to_string(), n.parse().unwrap_or(0.0)))
            .collect(),
    )
}

/// One event's total in what [`callgrind`] returned.
fn event(totals: &[(String, f64)], name: &str) -> Option<f64> {
    totals.iter().find(|(n, _)| n == name).map(|&(_, n)| n)
}

/// What callgrind counted in a check of a generated workflow, per state: instructions,
/// first-level data cache misses, and the lines the last level had to fetch from memory.
struct CheckCounts {
    instructions: f64,
    first_level: f64,
    from_memory: f64,
}

/// The caches callgrind simulates for the check: a first level like this machine's, and a last
/// level of 16 MiB, half of the L3 that this machine shares with others' work. The counts do
/// not depend on the host's load.
const CACHE_SIM: [&str; 3] = ["--cache-sim=yes", "--D1=32768,8,64", "--LL=16777216,16,64"];

/// The check is the one row of the table whose time grows faster than its work. These rows
/// count what that time depends on, without the noise of a shared machine: the instructions,
/// and the lines a check of 10,000 states has to fetch from memory where a check of 1,000
/// finds them in the last level.
fn check_cache_rows(rows: &mut Vec<Row>) {
    let counts: Option<Vec<CheckCounts>> =
        [1_000, 10_000].iter().map(|&n| check_counts(n)).collect();
    let Some(counts) = counts else {
        eprintln!("  valgrind is not available: no cache counts");
        return;
    };
    let [small, large] = &counts[..] else {
        unreachable!("two sizes")
    };
    rows.push(
        Row::new(
            "check, instructions per state, 10,000 vs 1,000 states (callgrind)",
            format!("{:.0}", large.instructions),
            format!("{:.0}", small.instructions),
        )
        .ratio(large.instructions / small.instructions),
    );
    rows.push(
        Row::new(
            "check, first-level data cache misses per state, 10,000 vs 1,000 states (callgrind)",
            format!("{:.1}", large.first_level),
            format!("{:.1}", small.first_level),
        )
        .ratio(large.first_level / small.first_level),
    );
    rows.push(Row::new(
        "check, cache lines fetched from memory per state, 10,000 vs 1,000 states (callgrind, a 16 MiB last level)",
        format!("{:.1} ({:.0} B)", large.from_memory, large.from_memory * 64.0),
        format!("{:.1}", small.from_memory),
    ));
}

/// Runs `child-check` under callgrind's cache simulation.
fn check_counts(states: usize) -> Option<CheckCounts> {
    let mut options = CACHE_SIM.to_vec();
    options.push("--toggle-collect=*measured_check*");
    let totals = callgrind(&options, &["child-check", &states.to_string()])?;
    let count = |name: &str| Some(event(&totals, name)? / states as f64);
    Some(CheckCounts {
        instructions: count("Ir")?,
        first_level: count("D1mr")? + count("D1mw")?,
        from_memory: count("DLmr")? + count("DLmw")?,
    })
}

/// Checks a generated workflow twice, as the table's loop does; callgrind counts the second,
/// the dropping of its result included.
fn child_check(states: usize) {
    let file = compile::parse(&generate::workflow(states));
    drop(black_box(compile::check(&file)));
    measured_check(&file);
}

#[inline(never)]
fn measured_check(file: &orch_dsl::ast::File) {
    drop(black_box(compile::check(black_box(file))));
}

fn child_transition(which: &str, count: usize) {
    let (generated, written) = machine::events(count, 1);
    let sum = match which {
        "generated" => machine::drive_generated(black_box(&generated)),
        _ => machine::drive_hand(black_box(&written)),
    };
    println!("{sum}");
}

const CHAIN: usize = 1_000;

fn step_rows(options: &Options, rows: &mut Vec<Row>) {
    let runtime = workloads::current_thread();
    let engine = workloads::chain_engine(CHAIN);
    let steps = runtime.block_on(workloads::run_chain(&engine));
    let worker = workloads::noop_worker();
    let plan = options.plan(40, 400, 5_000);
    let (run, boxed, ratio) = measure::compare(
        plan,
        || {
            black_box(runtime.block_on(workloads::run_chain(&engine)));
        },
        || runtime.block_on(workloads::boxed_awaits(&worker, steps)),
    );
    let per = |t: f64| t / steps as f64;
    rows.push(
        Row::new(
            format!(
                "engine step, chain of {} no-op tasks (current thread)",
                thousands(CHAIN)
            ),
            show_time(per(run)),
            format!(
                "await of the worker's boxed future: {}",
                show_time(per(boxed))
            ),
        )
        .ratio(ratio)
        .target("≤ 1 µs", per(run) <= 1e-6),
    );
    let (run, spawned, ratio) = measure::compare(
        plan,
        || {
            black_box(runtime.block_on(workloads::run_chain(&engine)));
        },
        || runtime.block_on(workloads::spawn_joins(&worker, steps)),
    );
    rows.push(
        Row::new(
            format!(
                "engine step, chain of {} no-op tasks (current thread)",
                thousands(CHAIN)
            ),
            show_time(per(run)),
            format!("`tokio::spawn` + join of it: {}", show_time(per(spawned))),
        )
        .ratio(ratio),
    );
}

fn fanout_rows(options: &Options, rows: &mut Vec<Row>) {
    let runtime = workloads::multi_thread();
    let engine = workloads::fanout_engine();
    let plan = options.plan(15, 40, 3_000);
    let (run, raw, _) = measure::compare(
        plan,
        || runtime.block_on(workloads::run_fanout(&engine)),
        || {
            runtime.block_on(async {
                let sleeps: Vec<_> = (0..8)
                    .map(|_| tokio::spawn(tokio::time::sleep(workloads::FANOUT_SLEEP)))
                    .collect();
                for sleep in sleeps {
                    sleep.await.ok();
                }
            })
        },
    );
    let nominal = workloads::FANOUT_SLEEP.as_secs_f64();
    rows.push(
        Row::new(
            "parallel, 8 branches × 50 ms workers, wall time",
            show_time(run),
            format!("50 ms (8 raw tokio sleeps joined: {})", show_time(raw)),
        )
        .ratio(run / nominal)
        .target("≤ 1.1×", run / nominal <= 1.1),
    );
}

const RUNS: usize = 100_000;

fn concurrent_rows(options: &Options, rows: &mut Vec<Row>) {
    let rounds = if options.quick { 1 } else { 3 };
    let (mut orch, mut raw, mut minimal) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        orch.push(child_process("orch"));
        raw.push(child_process("raw"));
        minimal.push(child_process("minimal"));
    }
    let wall = |v: &[(f64, u64, f64)]| measure::median(v.iter().map(|m| m.0).collect());
    let peak = |v: &[(f64, u64, f64)]| measure::median(v.iter().map(|m| m.1 as f64).collect());
    let starting = |v: &[(f64, u64, f64)]| measure::median(v.iter().map(|m| m.2).collect());
    let (orch_wall, raw_wall, minimal_wall) = (wall(&orch), wall(&raw), wall(&minimal));
    let (orch_peak, raw_peak, minimal_peak) = (peak(&orch), peak(&raw), peak(&minimal));
    // A row of `wall`, and one of `peak` per run above raw tokio's, against raw tokio's.
    let wall_row = |what: &str, wall: f64| {
        Row::new(
            format!("100,000 concurrent runs{what}, wall time"),
            show_time(wall),
            format!(
                "100,000 raw tokio tasks, same sleeps: {}",
                show_time(raw_wall)
            ),
        )
        .ratio(wall / raw_wall)
    };
    let peak_row = |what: &str, peak: f64| {
        let per_run = (peak - raw_peak) * 1024.0 / RUNS as f64;
        let row = Row::new(
            format!("100,000 concurrent runs{what}, peak RSS per run above raw tokio"),
            format!("{per_run:.0} B/run (peak {:.0} MiB)", peak / 1024.0),
            format!("raw tokio peak: {:.0} MiB", raw_peak / 1024.0),
        )
        .ratio(peak / raw_peak);
        (row, per_run)
    };
    rows.push(
        wall_row(" of 3 × 10 ms steps", orch_wall).target("≤ 2×", orch_wall / raw_wall <= 2.0),
    );
    let (row, per_run) = peak_row("", orch_peak);
    rows.push(row.target("≤ 2 KiB/run", per_run <= 2048.0));
    // The floor: the same runs, records and result written directly (`support/minimal.rs`).
    rows.push(wall_row(
        ", a minimal engine written for the benchmark",
        minimal_wall,
    ));
    rows.push(peak_row(", a minimal engine", minimal_peak).0);
    rows.push(
        Row::new(
            "100,000 concurrent runs, orch against the minimal engine, wall time",
            show_time(orch_wall),
            format!("the minimal engine: {}", show_time(minimal_wall)),
        )
        .ratio(orch_wall / minimal_wall),
    );
    // Per run, while the runs started first are already running on the worker threads.
    let (orch_start, raw_start) = (starting(&orch) / RUNS as f64, starting(&raw) / RUNS as f64);
    rows.push(
        Row::new(
            "100,000 concurrent runs, `Engine::start` per run",
            show_time(orch_start),
            format!("`tokio::spawn` per raw task: {}", show_time(raw_start)),
        )
        .ratio(orch_start / raw_start),
    );
}

/// Runs one side of the concurrency measurement in a process of its own: wall time in
/// seconds, peak RSS in KiB, and the seconds it took to start every run (or spawn every task).
fn child_process(which: &str) -> (f64, u64, f64) {
    let exe = std::env::current_exe().expect("the benchmark binary");
    let output = Command::new(exe)
        .args(["child-concurrent", which, &RUNS.to_string()])
        .output()
        .expect("the benchmark binary runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        [wall, peak, starting] => (
            f64::from_str(wall).expect("seconds"),
            u64::from_str(peak).expect("KiB"),
            f64::from_str(starting).expect("seconds"),
        ),
        _ => panic!(
            "child-concurrent {which} printed {text:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn child_concurrent(which: &str, runs: usize) {
    let runtime = workloads::multi_thread();
    let engine = (which == "orch").then(workloads::three_step_engine);
    let began = Instant::now();
    let (finished, starting) = runtime.block_on(async {
        match (which, &engine) {
            (_, Some(engine)) => workloads::timed_concurrent_runs(engine, runs).await,
            ("minimal", None) => minimal::concurrent_runs(runs).await,
            (_, None) => workloads::concurrent_tasks(runs).await,
        }
    });
    let wall = began.elapsed().as_secs_f64();
    assert_eq!(finished, runs, "every run succeeds");
    println!(
        "{wall} {} {}",
        measure::peak_rss_kib(),
        starting.as_secs_f64()
    );
}

/// Steps of the durable chain measured one run at a time.
const DURABLE_CHAIN: usize = 1_000;
/// Runs started at once for group commit, and the tasks of each.
const GROUP_RUNS: usize = 1_000;
const GROUP_TASKS: usize = 10;

fn durability_name(durability: Durability) -> &'static str {
    match durability {
        Durability::Normal => "`Normal`",
        Durability::Full => "`Full`",
    }
}

fn per_second(count: f64, seconds: f64) -> String {
    thousands((count / seconds).round() as usize)
}

/// The workflow a durable run goes through one at a time.
#[derive(Clone, Copy)]
enum Shape {
    /// One no-op task that goes back to itself 1,000 times: one state's data, rewritten.
    Loop,
    /// 1,000 no-op tasks one after another: a new state's data every step.
    Chain,
}

impl Shape {
    fn durable(self, kind: Kind, name: &str) -> Durable {
        match self {
            Shape::Loop => Durable::looping(kind, DURABLE_CHAIN, name),
            Shape::Chain => Durable::new(kind, DURABLE_CHAIN, name),
        }
    }

    fn workflow(self) -> &'static str {
        match self {
            Shape::Loop => "Loop",
            Shape::Chain => "Chain",
        }
    }

    fn describe(self) -> String {
        match self {
            Shape::Loop => format!(
                "loop of {} rounds of one no-op task",
                thousands(DURABLE_CHAIN)
            ),
            Shape::Chain => format!("chain of {} no-op tasks", thousands(DURABLE_CHAIN)),
        }
    }
}

fn durable_rows(options: &Options, rows: &mut Vec<Row>) {
    let runtime = workloads::current_thread();
    for durability in [Durability::Normal, Durability::Full] {
        let raw = Raw::new(durability, "raw");
        for shape in [Shape::Loop, Shape::Chain] {
            let durable = shape.durable(Kind::Sqlite(durability), "one");
            let run = || runtime.block_on(durable::run_one(&durable.engine, shape.workflow()));
            let steps = run() as usize;
            // A flush per transaction under `Full`, whose time varies from run to run on this
            // machine's shared disk: a median of up to 25 pairs, 0.3 s each.
            let plan = match durability {
                Durability::Normal => options.plan(10, 100, 6_000),
                Durability::Full => options.plan(9, 25, 8_000),
            };
            let (took, inserts, ratio) = measure::compare(
                plan,
                || {
                    black_box(run());
                },
                || raw.insert_one_per_transaction(steps),
            );
            let speed = 1.0 / ratio;
            rows.push(
                Row::new(
                    format!(
                        "durable steps/s, {}, one run at a time, `SqliteStore` {}",
                        shape.describe(),
                        durability_name(durability)
                    ),
                    format!(
                        "{} steps/s ({}/step)",
                        per_second(steps as f64, took),
                        show_time(took / steps as f64)
                    ),
                    format!(
                        "raw rusqlite, one {}-byte single-row `INSERT` per transaction (WAL, `synchronous={}`): {} rows/s",
                        durable::RAW_ROW_BYTES,
                        durable::synchronous(durability),
                        per_second(steps as f64, inserts)
                    ),
                )
                .ratio(speed)
                .target("≥ 0.8×", speed >= 0.8),
            );
        }
    }
    for shape in [Shape::Loop, Shape::Chain] {
        let memory = shape.durable(Kind::Memory, "memory");
        let none = shape.durable(Kind::None, "none");
        let workflow = shape.workflow();
        let steps = runtime.block_on(durable::run_one(&none.engine, workflow)) as f64;
        let (kept, bare, ratio) = measure::compare(
            options.plan(20, 200, 3_000),
            || {
                black_box(runtime.block_on(durable::run_one(&memory.engine, workflow)));
            },
            || {
                black_box(runtime.block_on(durable::run_one(&none.engine, workflow)));
            },
        );
        rows.push(
            Row::new(
                format!(
                    "durable steps/s, {}, one run at a time, `MemoryStore`",
                    shape.describe()
                ),
                format!(
                    "{} steps/s ({}/step)",
                    per_second(steps, kept),
                    show_time(kept / steps)
                ),
                format!(
                    "no store: {} steps/s ({}/step)",
                    per_second(steps, bare),
                    show_time(bare / steps)
                ),
            )
            .ratio(1.0 / ratio),
        );
    }
    drop(runtime);

    let runtime = workloads::multi_thread();
    let group = format!(
        "{} concurrent runs of {} no-op tasks",
        thousands(GROUP_RUNS),
        GROUP_TASKS
    );
    let none = Durable::new(Kind::None, GROUP_TASKS, "none");
    let steps = runtime.block_on(durable::concurrent_chains(&none.engine, GROUP_RUNS)) as f64;
    for durability in [Durability::Normal, Durability::Full] {
        let durable = Durable::new(Kind::Sqlite(durability), GROUP_TASKS, "group");
        let (mut busy, mut before) = (0.0, durable.stats());
        let mut first = true;
        let (run, bare, ratio) = measure::compare(
            options.plan(10, 60, 8_000),
            || {
                // The warm-up round is left out of the writer's counts.
                if first {
                    first = false;
                    runtime.block_on(durable::concurrent_chains(&durable.engine, GROUP_RUNS));
                    before = durable.stats();
                    return;
                }
                busy += durable::seconds(|| {
                    runtime.block_on(durable::concurrent_chains(&durable.engine, GROUP_RUNS));
                });
            },
            || {
                black_box(runtime.block_on(durable::concurrent_chains(&none.engine, GROUP_RUNS)));
            },
        );
        let after = durable.stats();
        let transactions = (after.transactions - before.transactions) as f64;
        let checkpoints = (after.checkpoints - before.checkpoints) as f64;
        let speed = steps / run;
        rows.push(
            Row::new(
                format!(
                    "durable steps/s, {group}, `SqliteStore` {}",
                    durability_name(durability)
                ),
                format!(
                    "{} steps/s; {} transactions/s, {:.1} checkpoints per transaction",
                    per_second(steps, run),
                    per_second(transactions, busy),
                    checkpoints / transactions
                ),
                format!("no store: {} steps/s", per_second(steps, bare)),
            )
            .ratio(1.0 / ratio)
            .target("≥ 100,000 steps/s", speed >= 100_000.0),
        );
    }
    let memory = Durable::new(Kind::Memory, GROUP_TASKS, "memory");
    let (kept, bare, ratio) = measure::compare(
        options.plan(10, 60, 4_000),
        || {
            black_box(runtime.block_on(durable::concurrent_chains(&memory.engine, GROUP_RUNS)));
        },
        || {
            black_box(runtime.block_on(durable::concurrent_chains(&none.engine, GROUP_RUNS)));
        },
    );
    rows.push(
        Row::new(
            format!("durable steps/s, {group}, `MemoryStore`"),
            format!("{} steps/s", per_second(steps, kept)),
            format!("no store: {} steps/s", per_second(steps, bare)),
        )
        .ratio(1.0 / ratio),
    );
}

fn print_rows(rows: &[Row]) {
    for row in rows {
        let ratio = row.ratio.map_or("—".into(), |r| match r {
            r if r < 10.0 => format!("{r:.3}×"),
            r => format!("{r:.1}×"),
        });
        let result = match row.met {
            Some(true) => "pass",
            Some(false) => "**miss**",
            None => "—",
        };
        println!(
            "| {} | {} | {} | {ratio} | {} | {result} |",
            row.measurement, row.value, row.baseline, row.target
        );
    }
}
