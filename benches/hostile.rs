//! How fast hostile manifests are refused, as a ratio to checking the valid example.
//!
//! `cargo bench --bench hostile` prints, for each case of `tests/hostile_cases.rs`, the median
//! time of `manifest::check` over repeated runs and its ratio to the example manifest's time.
//! A ratio near 1 means a hostile file costs no more than a real one; the issue's bar is "well
//! under a second", which is a ratio in the thousands.

#[path = "../tests/hostile_cases.rs"]
#[allow(dead_code)]
mod cases;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

fn median(bytes: &[u8]) -> Duration {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = dir.join("algorithm.yaml");
    let mut times: Vec<Duration> = (0..31)
        .map(|_| {
            let start = Instant::now();
            let _ = black_box(algodeploy::manifest::check(
                &manifest,
                black_box(bytes),
                dir,
            ));
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let example =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/algorithm.yaml"))
            .expect("examples/algorithm.yaml");
    let base = median(&example);
    println!(
        "{:<40} {:>12} {:>10} {:>10}",
        "case", "bytes", "median", "ratio"
    );
    println!(
        "{:<40} {:>12} {:>10.3?} {:>10.1}",
        "examples/algorithm.yaml (baseline)",
        example.len(),
        base,
        1.0
    );
    let mut worst = (String::new(), 0.0_f64);
    for case in cases::cases() {
        let time = median(&case.bytes);
        let ratio = time.as_secs_f64() / base.as_secs_f64();
        if ratio > worst.1 {
            worst = (case.name.to_string(), ratio);
        }
        println!(
            "{:<40} {:>12} {:>10.3?} {:>10.1}",
            case.name,
            case.bytes.len(),
            time,
            ratio
        );
    }
    println!("worst: {} at {:.1}x the example", worst.0, worst.1);
}
