//! Workflow texts of any size for the benchmarks: long chains of tasks whose templates read
//! earlier states, with choices, bounded back-edges, reviews, a parallel and a map every so
//! often, loops and terminals. Every generated workflow passes the checker without warnings.

use std::fmt::Write;

/// A small deterministic generator, so that every run measures the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Task,
    Review,
    /// A choice and the side task one of its arms leads to: two states.
    Choice,
    Parallel,
    Map,
    Loop,
}

impl Block {
    fn states(self) -> usize {
        if self == Block::Choice { 2 } else { 1 }
    }

    fn prefix(self) -> &'static str {
        match self {
            Block::Task => "task",
            Block::Review => "review",
            Block::Choice => "route",
            Block::Parallel => "fan",
            Block::Map => "each",
            Block::Loop => "refine",
        }
    }
}

const WORKERS: usize = 8;
const TERMINALS: usize = 4;

/// A workflow with exactly `states` states (at least 12).
pub fn workflow(states: usize) -> String {
    assert!(states >= 12, "a generated workflow has at least 12 states");
    let mut rng = Rng(states as u64);
    let blocks = plan(states - TERMINALS, &mut rng);
    let mut starts = Vec::with_capacity(blocks.len());
    let mut at = 0;
    for block in &blocks {
        starts.push(at);
        at += block.states();
    }
    let name = |b: usize| format!("{}_{}", blocks[b].prefix(), starts[b]);

    let mut out = String::with_capacity(states * 260);
    writeln!(out, "/// A generated workflow of {states} states.").unwrap();
    writeln!(out, "workflow Generated{states} {{").unwrap();
    out.push_str("    input {\n        goal: string,\n        items: list,\n    }\n");
    for w in 0..WORKERS {
        writeln!(out, "    worker Worker{w} \"does part {w} of the work\";").unwrap();
    }
    out.push_str("    worker Reviewer \"reviews a draft\" outcomes [approved, revise];\n");
    out.push_str("    worker Writer;\n");
    out.push_str("    timeout 2h;\n    on fail -> failed;\n");
    writeln!(out, "    start {};\n", name(0)).unwrap();

    // States that have completed on every path so far, which later states may read.
    let mut readable: Vec<(usize, Block)> = Vec::new();
    for (b, &block) in blocks.iter().enumerate() {
        let here = name(b);
        let next = if b + 1 < blocks.len() {
            name(b + 1)
        } else {
            "done".to_string()
        };
        let last = readable.last().map(|&(r, kind)| read(&name(r), kind));
        let any = readable
            .get(rng.below(readable.len().max(1)))
            .map(|&(r, kind)| read(&name(r), kind));
        let worker = rng.below(WORKERS);
        match block {
            Block::Task => {
                writeln!(out, "    task {here} by Worker{worker} {{").unwrap();
                out.push_str("        with {\n            goal: \"{{input.goal}}\",\n");
                if b == 0 {
                    out.push_str("            items: input.items,\n");
                }
                if let Some(last) = &last {
                    writeln!(out, "            previous: \"{{{{{last}}}}}\",").unwrap();
                }
                if let Some(any) = &any {
                    writeln!(out, "            context: {any},").unwrap();
                }
                out.push_str("        }\n");
                if rng.chance(20) {
                    out.push_str("        retry 2 backoff 1s x2 max 30s jitter;\n");
                }
                if rng.chance(30) {
                    out.push_str("        timeout 60s;\n");
                }
                writeln!(out, "        ok -> {next};").unwrap();
                if rng.chance(50) {
                    out.push_str("        fail -> failed;\n");
                }
                out.push_str("    }\n");
                readable.push((b, block));
            }
            Block::Review => {
                let back = name(b.saturating_sub(1 + rng.below(6)));
                writeln!(out, "    task {here} by Reviewer {{").unwrap();
                let draft = last.clone().unwrap_or_else(|| "input.goal".into());
                writeln!(out, "        with {{ draft: \"{{{{{draft}}}}}\" }}").unwrap();
                writeln!(out, "        on approved -> {next};").unwrap();
                let max = 1 + rng.below(3);
                writeln!(out, "        on revise -> {back} max {max} else gave_up;").unwrap();
                out.push_str("        fail -> failed;\n    }\n");
                readable.push((b, block));
            }
            Block::Choice => {
                let side = format!("side_{}", starts[b] + 1);
                let subject = any.clone().unwrap_or_else(|| "input.goal".into());
                let recent = last.clone().unwrap_or_else(|| "input.goal".into());
                writeln!(out, "    choice {here} {{").unwrap();
                writeln!(out, "        when {subject}.score > 0.8 -> {side};").unwrap();
                writeln!(
                    out,
                    "        when exists {recent}.finished && {recent}.count == 0 -> finished_early;"
                )
                .unwrap();
                writeln!(
                    out,
                    "        when {recent}.labels contains \"urgent\" || !exists {subject}.notes -> {side};"
                )
                .unwrap();
                writeln!(out, "        else -> {next};\n    }}").unwrap();
                writeln!(out, "    task {side} by Worker{worker} {{").unwrap();
                writeln!(out, "        with {{ subject: \"{{{{{subject}}}}}\" }}").unwrap();
                writeln!(
                    out,
                    "        ok -> {next};\n        fail -> failed;\n    }}"
                )
                .unwrap();
            }
            Block::Parallel => {
                let text = last.clone().unwrap_or_else(|| "input.goal".into());
                writeln!(out, "    parallel {here} {{").unwrap();
                writeln!(
                    out,
                    "        branch draft by Worker{worker} {{ with {{ text: \"{{{{{text}}}}}\" }} }}"
                )
                .unwrap();
                writeln!(
                    out,
                    "        branch check by Worker{} {{ retry 1; }}",
                    (worker + 1) % WORKERS
                )
                .unwrap();
                writeln!(
                    out,
                    "        branch score by Worker{};",
                    (worker + 2) % WORKERS
                )
                .unwrap();
                out.push_str("        join all;\n        timeout 5m;\n");
                writeln!(
                    out,
                    "        ok -> {next};\n        fail -> failed;\n    }}"
                )
                .unwrap();
                readable.push((b, block));
            }
            Block::Map => {
                let list = last.clone().unwrap_or_else(|| "input".into());
                let context = any.clone().unwrap_or_else(|| "input.goal".into());
                writeln!(
                    out,
                    "    map {here} over {list}.items as item by Worker{worker} {{"
                )
                .unwrap();
                writeln!(
                    out,
                    "        with {{ item: \"{{{{item}}}}\", context: \"{{{{{context}}}}}\" }}"
                )
                .unwrap();
                out.push_str("        limit 4;\n");
                writeln!(
                    out,
                    "        ok -> {next};\n        fail -> failed;\n    }}"
                )
                .unwrap();
                readable.push((b, block));
            }
            Block::Loop => {
                let draft = last.clone().unwrap_or_else(|| "input.goal".into());
                writeln!(out, "    loop {here} by Writer {{").unwrap();
                writeln!(out, "        with {{ draft: \"{{{{{draft}}}}}\" }}").unwrap();
                writeln!(
                    out,
                    "        until {here}.output.score >= 0.9;\n        max 3;"
                )
                .unwrap();
                writeln!(
                    out,
                    "        ok -> {next};\n        fail -> failed;\n    }}"
                )
                .unwrap();
                readable.push((b, block));
            }
        }
    }
    let last = readable
        .last()
        .map_or_else(|| "input.goal".into(), |&(r, kind)| read(&name(r), kind));
    writeln!(out, "\n    succeed done output \"{{{{{last}}}}}\";").unwrap();
    out.push_str("    succeed finished_early;\n    fail failed;\n");
    out.push_str("    fail gave_up error \"no draft was approved\";\n}\n");
    out
}

/// How a later state reads the output of a completed one.
fn read(name: &str, kind: Block) -> String {
    match kind {
        Block::Parallel => format!("{name}.draft.output"),
        _ => format!("{name}.output"),
    }
}

/// The kinds of the blocks, filling exactly `budget` states.
fn plan(budget: usize, rng: &mut Rng) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut used = 0;
    while used < budget {
        let b = blocks.len();
        let mut block = match b {
            0 | 1 => Block::Task,
            2 => Block::Choice,
            3 => Block::Review,
            _ if b % 25 == 12 => Block::Parallel,
            _ if b % 25 == 24 => Block::Map,
            _ if b % 40 == 20 => Block::Loop,
            _ => match rng.below(100) {
                0..15 => Block::Choice,
                15..30 => Block::Review,
                _ => Block::Task,
            },
        };
        if used + block.states() > budget {
            block = Block::Task;
        }
        used += block.states();
        blocks.push(block);
    }
    blocks
}

/// A chain of `tasks` tasks by one worker, for the engine's per-step cost.
pub fn chain(tasks: usize) -> String {
    let mut out = String::from("workflow Chain {\n    worker Noop;\n    start t0;\n");
    for i in 0..tasks {
        let next = if i + 1 < tasks {
            format!("t{}", i + 1)
        } else {
            "done".into()
        };
        writeln!(
            out,
            "    task t{i} by Noop {{ ok -> {next}; fail -> failed; }}"
        )
        .unwrap();
    }
    out.push_str("    succeed done;\n    fail failed;\n}\n");
    out
}

/// A chain of `states` tasks, each run by a worker of its own that answers `ok` or a custom
/// outcome `skip` (also handled): the shape in which work per worker, or per signal, shows.
pub fn one_worker_each(states: usize) -> String {
    let mut out = String::with_capacity(states * 90);
    writeln!(out, "workflow Workers{states} {{").unwrap();
    for i in 0..states {
        writeln!(out, "    worker Worker{i};").unwrap();
    }
    out.push_str("    on fail -> failed;\n    start task_0;\n");
    for i in 0..states {
        let next = if i + 1 == states {
            "finished".to_string()
        } else {
            format!("task_{}", i + 1)
        };
        writeln!(
            out,
            "    task task_{i} by Worker{i} {{ ok -> {next}; on skip -> {next}; }}"
        )
        .unwrap();
    }
    out.push_str("    succeed finished;\n    fail failed;\n}\n");
    out
}
