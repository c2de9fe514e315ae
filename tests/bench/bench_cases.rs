//! Shared by the criterion benches of the engine crates (`#[path]`-included): each benchmark is a
//! named body, run by criterion, or, under `tests/bench/instructions.sh`, on its own a given
//! number of times so that callgrind can count the instructions of one call.

use criterion::Criterion;

/// A benchmark: its criterion name and one call of what it measures (which keeps its result
/// from the optimiser with `black_box`).
pub type Case<'a> = (&'static str, Box<dyn Fn() + 'a>);

/// `FSB_BENCH_ONLY=<name>` runs that case `FSB_BENCH_REPEAT` times (default 1) and nothing else;
/// otherwise criterion runs every case.
pub fn run(cases: &[Case<'_>]) {
    if let Ok(only) = std::env::var("FSB_BENCH_ONLY") {
        let repeat: usize = std::env::var("FSB_BENCH_REPEAT")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let (_, body) = cases
            .iter()
            .find(|(name, _)| *name == only)
            .expect("FSB_BENCH_ONLY names a benchmark");
        for _ in 0..repeat {
            body();
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    for (name, body) in cases {
        c.bench_function(name, |b| b.iter(body));
    }
    c.final_summary();
}
