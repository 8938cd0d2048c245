//! P1 timings: ns per request through each auth layer over a trivial inner service, next to no
//! layer and tower-http's `AddAuthorization` (the P1 baseline). Allocations per request are
//! counted by the `hot_path_allocs` bench; the ratios and the pass/fail line are printed by
//! `cargo run --release -p perf --bin loadtest`.
//!
//! ```text
//! cargo bench -p perf --bench hot_path                 # full run (about a minute)
//! cargo bench -p perf --bench hot_path -- --test       # each benchmark once, as CI runs it
//! ```

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use perf::p1::{Shape, Stack, Variant, WithStack, with_stack};

struct Bench<'a, 'c> {
    group: &'a mut criterion::BenchmarkGroup<'c, criterion::measurement::WallTime>,
    variant: Variant,
    shape: Shape,
}

impl WithStack for Bench<'_, '_> {
    type Output = ();

    fn run<S: Stack + 'static>(self, mut stack: S) {
        let requests = self.shape.requests();
        self.group.bench_function(self.variant.id(), |b| {
            // Building the request is part of what a request costs, the same for every variant.
            b.iter(|| stack.send(requests.make()))
        });
    }
}

fn hot_path(c: &mut Criterion) {
    for shape in Shape::ALL {
        let mut group = c.benchmark_group(format!("p1/{}", shape.id()));
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(50);
        for variant in Variant::ALL {
            with_stack(
                variant,
                Bench {
                    group: &mut group,
                    variant,
                    shape,
                },
            );
        }
        group.finish();
    }
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
