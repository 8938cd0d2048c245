//! P1 allocations: heap allocations per request through each auth layer, and how many more
//! than the same request through no layer (the P1 target is 0 more). Counted per thread with
//! `allocation-counter`, whose global allocator is linked into this bench only (and the
//! `loadtest` binary), so the timing bench `hot_path` runs on the plain system allocator.
//!
//! Deterministic and quick, so `cargo bench -p perf --bench hot_path_allocs` and
//! `cargo test -p perf --benches` run the same thing. It exits non-zero when a header layer
//! allocates more than no layer on a request that already has headers, or more than tower-http
//! on one without (inserting the first header grows an empty header map, whoever inserts it).
//! The one allowance is `TokenLayer` with its default retry on 401: the copy of the request head
//! kept for the replay costs a header map (2 allocations) when the request has headers.
#![allow(clippy::print_stdout)]

use perf::p1::{self, Shape, Stack, Variant, WithStack, with_stack};

struct Count(Shape);

impl WithStack for Count {
    type Output = f64;

    fn run<S: Stack + 'static>(self, mut stack: S) -> f64 {
        p1::allocations_per_request(&mut stack, &self.0.requests(), |f| {
            allocation_counter::measure(f).count_total
        })
    }
}

fn main() {
    println!("P1 allocations per request (requests built beforehand; this thread only)\n");
    println!(
        "| {:<40} | {:>10} | {:>10} | {:>14} | {:>14} |",
        "layer", "no headers", "4 headers", "extra (no hdr)", "extra (4 hdr)"
    );
    println!(
        "|{:-<42}|{:->12}|{:->12}|{:->16}|{:->16}|",
        "", "", "", "", ""
    );
    let baseline: Vec<f64> = Shape::ALL
        .iter()
        .map(|&shape| with_stack(Variant::NoLayer, Count(shape)))
        .collect();
    let tower_http: Vec<f64> = Shape::ALL
        .iter()
        .map(|&shape| with_stack(Variant::TowerHttp, Count(shape)))
        .collect();
    let mut misses = Vec::new();
    for variant in Variant::ALL {
        let counts: Vec<f64> = Shape::ALL
            .iter()
            .map(|&shape| with_stack(variant, Count(shape)))
            .collect();
        let extra: Vec<f64> = counts.iter().zip(&baseline).map(|(c, b)| c - b).collect();
        println!(
            "| {:<40} | {:>10.2} | {:>10.2} | {:>14.2} | {:>14.2} |",
            variant.name(),
            counts[0],
            counts[1],
            extra[0],
            extra[1]
        );
        // The keyed lookup allocates nothing: a keyed request costs what the same request
        // (carrying its key extension) costs through a one-token layer.
        if variant == Variant::TokenKeyed {
            let with_key: Vec<f64> = Shape::ALL
                .iter()
                .map(|&shape| with_stack(Variant::TokenWithKey, Count(shape)))
                .collect();
            if counts != with_key {
                misses.push(variant.name());
            }
            continue;
        }
        // The replay copy of a request with headers: the header map's two tables.
        let allowed = if matches!(
            variant,
            Variant::Token | Variant::TokenClockRead | Variant::TokenFleet | Variant::TowerRetry
        ) {
            2.0
        } else {
            0.0
        };
        // The key extension is the application's (its map, and its copy for the replay).
        let header_layer = !matches!(
            variant,
            Variant::NoLayer | Variant::ApiKeyQuery | Variant::TokenWithKey
        );
        if header_layer && (extra[1] > allowed || counts[0] > tower_http[0]) {
            misses.push(variant.name());
        }
    }
    println!(
        "\nWith no headers, any layer that inserts one pays the header map's first growth \
         (tower-http too); with headers the target is 0 extra."
    );
    if !misses.is_empty() {
        println!("P1 allocations: more than expected: {}", misses.join(", "));
        std::process::exit(1);
    }
}
