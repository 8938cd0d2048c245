//! One P1 stack, for profilers: sends `N` requests through a single variant (the stacks and
//! requests of `perf::p1`, as the load test and the criterion benches build them) and prints
//! the time per request. The instruction counts in `BENCHMARKS.md` come from running it under
//! callgrind, once with 1 request and once with 100,001, and dividing the difference:
//!
//! ```text
//! cargo build --release -p perf --bin p1probe
//! valgrind --tool=callgrind target/release/p1probe bearer no_headers 100001
//! ```
//!
//! Variants: `no_layer`, `tower_http_add_authorization`, `tower_http_set_request_header`,
//! `tower_retry_add_authorization`, `bearer`, `api_key_header`, `api_key_query`, `basic`,
//! `token_layer`, `token_layer_clock_read`, `token_layer_no_retry`, `token_layer_with_key`,
//! `token_layer_keyed`, `token_layer_fleet`. Shapes: `no_headers`, `four_headers`. Exit code 2
//! on a usage error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{process::ExitCode, time::Duration};

use perf::p1::{self, Shape, Stack, Variant, WithStack};

/// At most this many requests: a probe, not a soak.
const MAX_REQUESTS: u32 = 100_000_000;

struct Probe {
    shape: Shape,
    requests: u32,
}

impl WithStack for Probe {
    type Output = Duration;

    fn run<S: Stack + 'static>(self, mut stack: S) -> Duration {
        let requests = self.shape.requests();
        // Warm up, so one-time work (promoting a shared header value) is not in the profile.
        p1::time_requests(&mut stack, &requests, 1_000);
        p1::time_requests(&mut stack, &requests, self.requests)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [variant, shape, requests] => {
            let variant = Variant::ALL.into_iter().find(|v| v.id() == variant);
            let shape = Shape::ALL.into_iter().find(|s| s.id() == shape);
            let requests = requests
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_REQUESTS).contains(n));
            variant.zip(shape).zip(requests)
        }
        _ => None,
    };
    let Some(((variant, shape), requests)) = parsed else {
        let variants: Vec<&str> = Variant::ALL.iter().map(|v| v.id()).collect();
        let shapes: Vec<&str> = Shape::ALL.iter().map(|s| s.id()).collect();
        eprintln!(
            "usage: p1probe VARIANT SHAPE REQUESTS\n  VARIANT: {}\n  SHAPE: {}\n  REQUESTS: 1..={MAX_REQUESTS}",
            variants.join(", "),
            shapes.join(", ")
        );
        return ExitCode::from(2);
    };
    let per_request = p1::with_stack(variant, Probe { shape, requests });
    println!(
        "{} ({}): {per_request:?} per request over {requests} requests",
        variant.name(),
        shape.name()
    );
    ExitCode::SUCCESS
}
