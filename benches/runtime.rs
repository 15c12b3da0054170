//! The generated transition function against a hand-written `match`, and the engine's cost
//! per step against plain tokio.
//!
//! ```text
//! cargo bench --bench runtime
//! ```
//!
//! `scripts/bench` measures the same work and prints it as one table with ratios.

mod support;

use std::hint::black_box;

use divan::Bencher;
use divan::counter::ItemsCount;
use support::{machine, workloads};

const EVENTS: usize = 100_000;
const CHAIN: usize = 1_000;

fn main() {
    machine::assert_same(EVENTS);
    divan::main();
}

#[divan::bench]
fn transition_generated(bencher: Bencher) {
    let (events, _) = machine::events(EVENTS, 1);
    bencher
        .counter(ItemsCount::new(EVENTS))
        .bench(|| machine::drive_generated(black_box(&events)));
}

#[divan::bench]
fn transition_hand_written(bencher: Bencher) {
    let (_, events) = machine::events(EVENTS, 1);
    bencher
        .counter(ItemsCount::new(EVENTS))
        .bench(|| machine::drive_hand(black_box(&events)));
}

#[divan::bench(sample_count = 50)]
fn engine_chain_1000(bencher: Bencher) {
    let runtime = workloads::current_thread();
    let engine = workloads::chain_engine(CHAIN);
    bencher
        .counter(ItemsCount::new(CHAIN + 1))
        .bench_local(|| runtime.block_on(workloads::run_chain(&engine)));
}

#[divan::bench(sample_count = 50)]
fn boxed_await_1000(bencher: Bencher) {
    let runtime = workloads::current_thread();
    let worker = workloads::noop_worker();
    bencher
        .counter(ItemsCount::new(CHAIN + 1))
        .bench_local(|| runtime.block_on(workloads::boxed_awaits(&worker, CHAIN as u64 + 1)));
}

#[divan::bench(sample_count = 50)]
fn spawn_join_1000(bencher: Bencher) {
    let runtime = workloads::current_thread();
    let worker = workloads::noop_worker();
    bencher
        .counter(ItemsCount::new(CHAIN + 1))
        .bench_local(|| runtime.block_on(workloads::spawn_joins(&worker, CHAIN as u64 + 1)));
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn fanout_8_by_50ms(bencher: Bencher) {
    let runtime = workloads::multi_thread();
    let engine = workloads::fanout_engine();
    bencher.bench_local(|| runtime.block_on(workloads::run_fanout(&engine)));
}
