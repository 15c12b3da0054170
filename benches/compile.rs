//! The compiler on generated workflows: parsing, checking, code generation and the whole
//! `workflow!` expansion.
//!
//! ```text
//! cargo bench --bench compile
//! ```
//!
//! `scripts/bench` measures the same work and prints it as one table with ratios.

mod support;

use std::sync::LazyLock;

use divan::Bencher;
use divan::counter::BytesCount;
use support::generate;
use support::workloads::compile;

const SIZES: [usize; 3] = [100, 1_000, 10_000];

static TEXTS: LazyLock<Vec<(usize, String)>> =
    LazyLock::new(|| SIZES.iter().map(|&n| (n, generate::workflow(n))).collect());

fn text(states: usize) -> &'static str {
    &TEXTS.iter().find(|(n, _)| *n == states).expect("a size").1
}

fn main() {
    divan::main();
}

#[divan::bench(args = SIZES)]
fn parse(bencher: Bencher, states: usize) {
    let text = text(states);
    bencher
        .counter(BytesCount::of_str(text))
        .bench(|| compile::parse(text));
}

#[divan::bench(args = SIZES)]
fn tokenize_baseline(bencher: Bencher, states: usize) {
    let text = text(states);
    bencher
        .counter(BytesCount::of_str(text))
        .bench(|| compile::tokenize(text));
}

#[divan::bench(args = SIZES, sample_count = 20)]
fn check(bencher: Bencher, states: usize) {
    let file = compile::parse(text(states));
    bencher.bench(|| compile::check(&file));
}

#[divan::bench(args = SIZES, sample_count = 20)]
fn codegen(bencher: Bencher, states: usize) {
    let compiled = compile::check(&compile::parse(text(states)));
    bencher.bench(|| compile::codegen(&compiled));
}

#[divan::bench(sample_count = 20)]
fn expand_1000(bencher: Bencher) {
    bencher
        .with_inputs(|| compile::tokenize(text(1_000)))
        .bench_values(compile::expand);
}
