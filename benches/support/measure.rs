//! Timing on a small, noisy machine: many repetitions, medians, and comparisons made by
//! alternating the measured code and its baseline so that both see the same noise.

use std::time::{Duration, Instant};

/// Repetitions of one measurement: at least `min` and until `budget` is spent, at most `max`.
#[derive(Clone, Copy)]
pub struct Plan {
    pub min: usize,
    pub max: usize,
    pub budget: Duration,
}

impl Plan {
    pub const fn new(min: usize, max: usize, budget_ms: u64) -> Plan {
        Plan {
            min,
            max,
            budget: Duration::from_millis(budget_ms),
        }
    }
}

pub fn median(mut samples: Vec<f64>) -> f64 {
    assert!(!samples.is_empty());
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2.0
    }
}

/// The median time of `f` in seconds, after one warm-up call.
pub fn time(plan: Plan, mut f: impl FnMut()) -> f64 {
    f();
    let began = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < plan.min || (began.elapsed() < plan.budget && samples.len() < plan.max) {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64());
    }
    median(samples)
}

/// Medians of `a` and `b` in seconds, and the median of the ratios `a / b` of pairs run back
/// to back (in alternating order).
pub fn compare(plan: Plan, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64, f64) {
    a();
    b();
    let began = Instant::now();
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    while ta.len() < plan.min || (began.elapsed() < plan.budget && ta.len() < plan.max) {
        let first_a = ta.len() % 2 == 0;
        let (mut da, mut db) = (0.0, 0.0);
        for turn in 0..2 {
            let t = Instant::now();
            if (turn == 0) == first_a {
                a();
                da = t.elapsed().as_secs_f64();
            } else {
                b();
                db = t.elapsed().as_secs_f64();
            }
        }
        ta.push(da);
        tb.push(db);
        ratios.push(da / db);
    }
    (median(ta), median(tb), median(ratios))
}

/// Several measurements taken in turns: in each of `rounds` rounds, every one repeated on its
/// own for its share of the plan (the plan is each one's, as for [`time`]), its first call of the
/// round untimed, since the caches then hold the one before's data. Each call runs as in a loop of
/// its own; a burst of load on the host falls on the measurements of one round instead of on one
/// measurement's whole loop, and ratios taken round by round leave that round out.
pub fn turns(plan: Plan, rounds: usize, each: &mut [&mut dyn FnMut()]) -> Turns {
    let share = plan.budget / rounds as u32;
    let (min, max) = (plan.min.div_ceil(rounds), plan.max.div_ceil(rounds));
    let mut samples = vec![Vec::new(); each.len()];
    let mut medians = vec![Vec::new(); rounds];
    for round in &mut medians {
        for (f, all) in each.iter_mut().zip(&mut samples) {
            f();
            let began = Instant::now();
            let mut these = Vec::new();
            while these.len() < min || (began.elapsed() < share && these.len() < max) {
                let t = Instant::now();
                f();
                these.push(t.elapsed().as_secs_f64());
            }
            all.extend_from_slice(&these);
            round.push(median(these));
        }
    }
    Turns {
        medians: samples.into_iter().map(median).collect(),
        rounds: medians,
    }
}

/// What [`turns`] measured, in seconds.
pub struct Turns {
    /// Each measurement's median over all its timed calls.
    pub medians: Vec<f64>,
    /// Each round's median of each measurement.
    rounds: Vec<Vec<f64>>,
}

impl Turns {
    /// The median over the rounds of measurement `a`'s median over `b`'s.
    pub fn ratio(&self, a: usize, b: usize) -> f64 {
        median(
            self.rounds
                .iter()
                .map(|round| round[a] / round[b])
                .collect(),
        )
    }
}

/// Peak resident memory of this process in KiB (`VmHWM`).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
