//! The summary of the load test: the tables and the one-line verdict per target,
//! rendered as Markdown (printed, and written to `target/bench-summary.md`).

use std::fmt::Write as _;

use perf::{p1::Variant, p6::Proof};

use super::{Args, P1, P3, P4, P4_VARIANTS, loopback, loopback::Burst, median, variant_index};

pub(crate) struct Report {
    quick: bool,
    requests: usize,
    pub(crate) p1: Option<P1>,
    pub(crate) p2: Vec<(&'static str, Burst)>,
    pub(crate) p3: Option<P3>,
    pub(crate) p4: Option<P4>,
    pub(crate) p5: Option<super::fleet::P5>,
    pub(crate) p6: Option<super::P6>,
}

impl Report {
    pub(crate) fn new(args: &Args) -> Self {
        Self {
            quick: args.quick,
            requests: args.requests,
            p1: None,
            p2: Vec::new(),
            p3: None,
            p4: None,
            p5: None,
            p6: None,
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let mut targets = Vec::new();
        let _ = writeln!(out, "# tower-auth performance summary\n");
        let _ = writeln!(out, "- machine: {}", machine());
        let _ = writeln!(
            out,
            "- mode: {}",
            match (self.quick, cfg!(debug_assertions)) {
                (_, true) => "debug build: a smoke run, the figures mean nothing",
                (true, false) => "quick (CI smoke run; figures indicative only)",
                (false, false) => "full",
            }
        );
        let _ = writeln!(
            out,
            "- stack (P2–P4): `OAuth2Layer::client_credentials` (TokenLayer over \
             CachedTokenSource over auth-oauth's grant) against the demo token endpoint; P3 \
             wraps the same cache in a counter of requests that awaited a token\n"
        );
        if let Some(p1) = &self.p1 {
            self.render_p1(p1, &mut out, &mut targets);
        }
        if !self.p2.is_empty() {
            self.render_p2(&mut out, &mut targets);
        }
        if let Some(p3) = &self.p3 {
            render_p3(p3, &mut out, &mut targets);
        }
        if let Some(p4) = &self.p4 {
            render_p4(p4, &mut out, &mut targets);
        }
        if let Some(p5) = &self.p5 {
            render_p5(p5, &mut out, &mut targets);
        }
        if let Some(p6) = &self.p6 {
            render_p6(p6, &mut out, &mut targets);
        }
        let _ = writeln!(out, "## Targets\n\n```text");
        for line in &targets {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "```");
        out
    }

    fn render_p1(&self, p1: &P1, out: &mut String, targets: &mut Vec<String>) {
        let _ = writeln!(
            out,
            "## P1 hot path\n\nns/request: median of {} rounds of {} requests (built and sent \
             through the layer over a trivial inner service), variants alternating; ratio: \
             median over rounds of the cost relative to tower-http `AddAuthorization` (bearer) \
             in the same round. Allocations per request counted on this thread.\n",
            p1.rounds, p1.batch
        );
        let _ = writeln!(
            out,
            "| layer | ns (no headers) | ratio | ns (4 headers) | ratio | allocs (no headers) | allocs (4 headers) |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
        let tower_http = variant_index(Variant::TowerHttp);
        let no_layer = variant_index(Variant::NoLayer);
        for (i, variant) in Variant::ALL.iter().enumerate() {
            let ratio = |s: usize| p1.ratio[s][i];
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.3} | {:.1} | {:.3} | {:.2} | {:.2} |",
                variant.name(),
                p1.ns[0][i],
                ratio(0),
                p1.ns[1][i],
                ratio(1),
                p1.allocs[0][i],
                p1.allocs[1][i]
            );
            if !variant.is_reference() {
                let worst = ratio(0).max(ratio(1));
                // With headers, nothing beyond no layer; without, nothing beyond tower-http
                // (inserting the first header grows an empty map, for every layer).
                let extra = (p1.allocs[1][i] - p1.allocs[1][no_layer])
                    .max(p1.allocs[0][i] - p1.allocs[0][tower_http]);
                let verdict = if !variant.has_target() {
                    "(reported, no target)"
                } else if worst <= 1.05 && extra <= 0.0 {
                    "PASS"
                } else {
                    "FAIL"
                };
                // An API key header has a custom name, which costs more to insert than
                // `Authorization` whoever inserts it; a retry on 401 needs a copy of the
                // request, whoever retries: also compare with tower's parts doing that work.
                let custom = match variant.same_work() {
                    Some(same) => {
                        let reference = variant_index(same);
                        let vs = (p1.ratio[0][i] / p1.ratio[0][reference])
                            .max(p1.ratio[1][i] / p1.ratio[1][reference]);
                        let extra = p1.allocs[1][i] - p1.allocs[1][reference];
                        format!(" (vs {}: {vs:.3}, allocs {extra:+.2})", same.name())
                    }
                    None => String::new(),
                };
                targets.push(format!(
                    "P1 {:<30} ratio={worst:.3} allocs={extra:+.2} target<=1.05,+0 {verdict}{custom}",
                    variant.name()
                ));
            }
        }
        // P7: a keyed layer (1,000 warm keys) against one token, both over requests carrying
        // the same key extension (the application's, not the layer's cost).
        let keyed = variant_index(Variant::TokenKeyed);
        let single = variant_index(Variant::TokenWithKey);
        let p7 = (p1.ratio[0][keyed] / p1.ratio[0][single])
            .max(p1.ratio[1][keyed] / p1.ratio[1][single]);
        let extra = p1.allocs[1][keyed] - p1.allocs[1][single];
        targets.push(format!(
            "P7 keyed TokenLayer, {} keys vs one token  ratio={p7:.3} allocs={extra:+.2} target<=1.2,+0 {}",
            perf::p1::KEYS,
            if p7 <= 1.2 && extra <= 0.0 { "PASS" } else { "FAIL" }
        ));
        let _ = writeln!(out);
    }

    fn render_p2(&self, out: &mut String, targets: &mut Vec<String>) {
        let _ = writeln!(
            out,
            "## P2 single flight\n\n{} requests released at once as the cached token goes \
             stale (token endpoint slowed to 100 ms); calls counted by the token endpoint.\n",
            self.requests
        );
        let _ = writeln!(
            out,
            "| runtime | requests | 200 OK | token-endpoint calls | burst time |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|");
        for (runtime, burst) in &self.p2 {
            let _ = writeln!(
                out,
                "| {runtime} | {} | {} | {} | {:.0?} |",
                burst.requests, burst.ok, burst.token_calls, burst.elapsed
            );
            let pass = burst.token_calls == 1 && burst.ok == burst.requests;
            targets.push(format!(
                "P2 {runtime:<30} calls={} ok={}/{} target=1 {}",
                burst.token_calls,
                burst.ok,
                burst.requests,
                if pass { "PASS" } else { "FAIL" }
            ));
        }
        let _ = writeln!(out);
    }
}

fn render_p3(p3: &P3, out: &mut String, targets: &mut Vec<String>) {
    let _ = writeln!(
        out,
        "## P3 refresh latency\n\nTwo arms side by side, {} workers each, one request per \
         worker every {:?}: a steady arm (its token outlives the run) and an expiring arm \
         ({}-second tokens); the token endpoint takes {:?}. \"waited\" = requests that found no \
         fresh token and awaited the token source; \"> {:?}\" = requests slower than that.\n",
        p3.pace.workers,
        p3.pace.interval,
        loopback::P3_TOKEN_LIFETIME.as_secs(),
        loopback::SLOW_TOKEN_ENDPOINT,
        loopback::WAITED_THRESHOLD
    );
    let _ = writeln!(
        out,
        "| arm | token calls | requests | failed | waited | > {:?} | p50 | p99 | max |",
        loopback::WAITED_THRESHOLD
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (name, l) in [
        ("proactive refresh on: steady", &p3.proactive.0),
        ("proactive refresh on: expiring", &p3.proactive.1),
        ("proactive refresh off: steady", &p3.reactive.0),
        ("proactive refresh off: expiring", &p3.reactive.1),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {:.2?} | {:.2?} | {:.2?} |",
            l.token_calls,
            l.sorted.len(),
            l.failed,
            l.awaited,
            l.slow(),
            l.quantile(0.5),
            l.quantile(0.99),
            l.quantile(1.0)
        );
    }
    let _ = writeln!(out);
    for (name, (steady, expiring), target) in [
        ("proactive refresh on", &p3.proactive, true),
        ("proactive refresh off", &p3.reactive, false),
    ] {
        let ratio = expiring.quantile(0.99).as_secs_f64() / steady.quantile(0.99).as_secs_f64();
        let clean = expiring.awaited == 0 && expiring.slow() == 0 && expiring.failed == 0;
        let verdict = if !target {
            "(contrast, no target)"
        } else if clean && expiring.token_calls > 0 && ratio <= 1.10 {
            "PASS"
        } else {
            "FAIL"
        };
        targets.push(format!(
            "P3 {name:<30} waited={} slow={} p99_ratio={ratio:.3} target=0,<=1.10 {verdict}",
            expiring.awaited,
            expiring.slow()
        ));
    }
}

fn render_p4(p4: &P4, out: &mut String, targets: &mut Vec<String>) {
    let _ = writeln!(
        out,
        "## P4 loopback throughput\n\n{} concurrent tasks, hyper-util client, axum/hyper server \
         on 127.0.0.1 answering `200 ok`; {} rounds of one {:?} run per variant, the order \
         rotating. Ratios are against the bare client: the median of the rounds' ratios (each \
         round runs back to back, under the same load), and the ratio of CPU time per request \
         (this process: client and servers), which other processes on the machine cannot \
         skew.\n",
        p4.concurrency,
        p4.runs.len(),
        p4.run_for
    );
    let _ = writeln!(
        out,
        "| variant | median req/s | ratio (median of rounds) | CPU µs/request | ratio (CPU) |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|");
    let per_request = |k: usize| p4.cpu[k].as_secs_f64() * 1e6 / p4.completed[k].max(1) as f64;
    let mut ratios = [0.0; 3];
    let mut cpu_ratios = [0.0; 3];
    for (k, name) in P4_VARIANTS.iter().enumerate() {
        let rps = median(p4.runs.iter().map(|r| r[k]).collect());
        ratios[k] = median(p4.runs.iter().map(|r| r[k] / r[0]).collect());
        cpu_ratios[k] = per_request(0) / per_request(k);
        let _ = writeln!(
            out,
            "| {name} | {rps:.0} | {:.3} | {:.2} | {:.3} |",
            ratios[k],
            per_request(k),
            cpu_ratios[k]
        );
    }
    let _ = writeln!(out);
    targets.push(format!(
        "P4 {:<30} ratio={:.3} cpu_ratio={:.3} (static header alone: {:.3}/{:.3}) target>=0.97 {}",
        "OAuth2Layer throughput",
        ratios[2],
        cpu_ratios[2],
        ratios[1],
        cpu_ratios[1],
        if ratios[2] >= 0.97 { "PASS" } else { "FAIL" }
    ));
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cpus} CPUs ({model}), {}", std::env::consts::OS)
}

fn render_p5(p5: &super::fleet::P5, out: &mut String, targets: &mut Vec<String>) {
    use super::fleet;
    let _ = writeln!(
        out,
        "## P5 a fleet sharing tokens through Redis\n\n{} worker processes x {} concurrent \
         request loops (one request per loop every 50 ms) for {:?}, 2 s tokens, the token \
         endpoint slowed to 200 ms; each worker's in-process cache refreshes {} ms before \
         expiry (plus up to a quarter of that as jitter), so a token's usable life is {:?}. \
         Token-endpoint calls are counted by the endpoint in a window that every worker spans \
         (each has its first token before it opens); \"awaited\" counts requests that found no \
         fresh token at hand.\n",
        fleet::PROCESSES,
        fleet::CONCURRENCY,
        p5.run_for,
        500,
        fleet::usable_lifetime()
    );
    let _ = writeln!(
        out,
        "| token-endpoint calls | bound | requests ok | failed | awaited |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} |\n",
        p5.token_calls,
        p5.bound(),
        p5.ok,
        p5.failed,
        p5.awaited
    );
    let verdict = if p5.token_calls <= p5.bound() && p5.failed == 0 && p5.awaited == 0 && p5.ok > 0
    {
        "PASS"
    } else {
        "FAIL"
    };
    targets.push(format!(
        "P5 fleet calls={} target<={} failed={} awaited={} target=0,0 {verdict}",
        p5.token_calls,
        p5.bound(),
        p5.failed,
        p5.awaited
    ));
}

fn render_p6(p6: &super::P6, out: &mut String, targets: &mut Vec<String>) {
    let _ = writeln!(
        out,
        "## P6 DPoP proofs per request\n\n`TokenLayer` with a fresh cached token to \
         `https://api.example.com/v1/items?page=2`: a bearer token, then DPoP-bound tokens (a \
         proof signed per request); median of {} interleaved rounds of {} requests, ratio to \
         the bearer token in the same round.\n",
        p6.rounds, p6.batch
    );
    let _ = writeln!(
        out,
        "| stack | no headers ns/req | ratio | 4 headers ns/req | ratio |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (i, proof) in Proof::ALL.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2}x | {:.0} | {:.2}x |",
            proof.name(),
            p6.ns[0][i],
            p6.ratio[0][i],
            p6.ns[1][i],
            p6.ratio[1][i]
        );
    }
    let _ = writeln!(out);
    for (i, proof) in Proof::ALL.iter().enumerate().skip(1) {
        targets.push(format!(
            "P6 {} ns/req={:.0} bearer={:.0} ratio={:.1} extra_us={:.1} (reported, no target)",
            proof.name(),
            p6.ns[0][i],
            p6.ns[0][0],
            p6.ratio[0][i],
            (p6.ns[0][i] - p6.ns[0][0]) / 1000.0
        ));
    }
}
