//! The performance targets of tower-auth, measured on this machine against baselines measured in
//! the same run: P1 hot-path cost and allocations, P2 single flight at 10,000 concurrent
//! requests, P3 no waiting on proactive refresh, P4 loopback throughput, P5 one token fetch per
//! token generation for a fleet of 8 processes sharing tokens through Redis, P6 the cost of a
//! DPoP proof per request against the bearer `TokenLayer`. Everything runs on
//! 127.0.0.1 (the demo token endpoint and APIs of `auth-test-support`; P5 also starts a
//! `redis-server` and re-spawns this binary as its workers).
//!
//! Prints a table and one line per target (`P4 ratio=0.99 target>=0.97 PASS`), and writes the
//! same summary to `target/bench-summary.md` (under `CARGO_TARGET_DIR` when set). What the
//! figures mean: `BENCHMARKS.md`.
//!
//! ```text
//! cargo run --release -p perf --bin loadtest               # full run, about 2 minutes
//! cargo run --release -p perf --bin loadtest -- --quick    # CI smoke run, ~15 s, figures indicative
//! cargo run --release -p perf --bin loadtest -- --requests 10000 --concurrency 64 --only p2,p4
//! ```
//!
//! Misses are reported, not fatal: the exit code is 0 when every scenario ran, 1 when one could
//! not run (a server did not start, requests failed), 2 on a usage error, 3 if the run overran
//! its time limit.
#![allow(clippy::print_stdout)]

mod fleet;
mod loopback;
mod summary;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use auth_test_support::demo::DemoProvider;
use loopback::{ApiClient, Latencies, Pace};
use perf::{
    p1::{self, Shape, Stack, Variant, WithStack},
    p6::{self, Proof},
};
use summary::Report;
use tower::{BoxError, Layer};
use tower_auth::CacheConfig;
use tower_http::auth::AddAuthorizationLayer;

const USAGE: &str = "\
usage: loadtest [--quick] [--requests N] [--concurrency C] [--only LIST]

  --quick          short runs for CI (about 15 s); figures are indicative only
  --requests N     concurrent requests in the P2 burst (1..=100000; default 10000, quick 2000)
  --concurrency C  concurrent tasks in P4 (1..=1024; default 64)
  --only LIST      comma-separated subset of p1,p2,p3,p4,p5,p6 (default: all)

P5 runs 8 worker processes for 20 s (quick: 6 s) and needs redis-server on PATH.";

const MAX_REQUESTS: usize = 100_000;
const MAX_CONCURRENCY: usize = 1_024;

#[derive(Debug, Clone)]
struct Args {
    quick: bool,
    requests: usize,
    concurrency: usize,
    only: [bool; 6],
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let (mut quick, mut requests, mut concurrency, mut only) = (false, None, 64, [true; 6]);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => quick = true,
            "--requests" => requests = Some(count(&value("--requests")?, MAX_REQUESTS)?),
            "--concurrency" => concurrency = count(&value("--concurrency")?, MAX_CONCURRENCY)?,
            "--only" => {
                only = [false; 6];
                for part in value("--only")?.split(',') {
                    match part.trim().to_ascii_lowercase().as_str() {
                        "p1" => only[0] = true,
                        "p2" => only[1] = true,
                        "p3" => only[2] = true,
                        "p4" => only[3] = true,
                        "p5" => only[4] = true,
                        "p6" => only[5] = true,
                        other => return Err(format!("--only: unknown target `{other}`")),
                    }
                }
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let requests = requests.unwrap_or(if quick { 2_000 } else { 10_000 });
    Ok(Some(Args {
        quick,
        requests,
        concurrency,
        only,
    }))
}

fn count(text: &str, max: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a number from 1 to {max}")),
    }
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    if raw.get(1).map(String::as_str) == Some("--p5-worker") {
        return match fleet::worker(&raw[2..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: P5 worker: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Whatever happens below, the run ends.
    let limit = Duration::from_secs(if args.quick { 180 } else { 900 });
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("error: the load test overran its {limit:?} limit");
        std::process::exit(3);
    });
    let mut report = Report::new(&args);
    let outcome = run(&args, &mut report);
    let summary = report.render();
    println!("\n{summary}");
    let path = summary_path();
    match std::fs::create_dir_all(path.parent().unwrap_or(&path))
        .and_then(|()| std::fs::write(&path, &summary))
    {
        Ok(()) => println!("summary written to {}", path.display()),
        Err(error) => eprintln!("warning: cannot write {}: {error}", path.display()),
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `bench-summary.md` in the workspace's target directory (this crate is one level down).
fn summary_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| match Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
            Some(workspace) => workspace.join("target"),
            None => PathBuf::from("target"),
        });
    target.join("bench-summary.md")
}

fn run(args: &Args, report: &mut Report) -> Result<(), BoxError> {
    if args.only[0] {
        println!("P1: hot path ...");
        report.p1 = Some(measure_p1(args.quick));
    }
    if args.only[5] {
        println!("P6: DPoP proofs per request ...");
        report.p6 = Some(measure_p6(args.quick));
    }
    if !args.only[1..5].iter().any(|on| *on) {
        return Ok(());
    }
    // Servers and the multi-thread client scenarios share one runtime with a worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if args.only[1] {
        println!(
            "P2: single flight, {} concurrent requests ...",
            args.requests
        );
        // Long enough for the whole burst to finish before the new token's refresh window
        // (about 2,500 requests a second here), and under a minute (see single_flight_burst).
        let lifetime = Duration::from_secs((2 + args.requests as u64 / 2_500).clamp(4, 58));
        let provider = rt.block_on(DemoProvider::start(lifetime))?;
        let multi = rt.block_on(loopback::single_flight_burst(
            &provider,
            lifetime,
            args.requests,
        ))?;
        let current_thread = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let single = current_thread.block_on(loopback::single_flight_burst(
            &provider,
            lifetime,
            args.requests,
        ))?;
        report.p2 = vec![
            ("multi-thread (2 workers)", multi),
            ("current-thread", single),
        ];
    }
    if args.only[2] {
        report.p3 = Some(rt.block_on(measure_p3(args.quick))?);
    }
    if args.only[3] {
        report.p4 = Some(rt.block_on(measure_p4(args.quick, args.concurrency))?);
    }
    if args.only[4] {
        println!(
            "P5: {} processes x {} concurrent requests sharing 2 s tokens through Redis ...",
            fleet::PROCESSES,
            fleet::CONCURRENCY
        );
        report.p5 = Some(rt.block_on(fleet::measure(args.quick))?);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// P1

struct P1 {
    rounds: usize,
    batch: u32,
    /// `[shape][variant]`: median ns per request; median over rounds of the ratio to tower-http
    /// in the same round (paired, so drift in the machine's load cancels out); allocations per
    /// request.
    ns: Vec<Vec<f64>>,
    ratio: Vec<Vec<f64>>,
    allocs: Vec<Vec<f64>>,
}

/// A stack ready to be timed batch after batch, next to the others (so variants alternate).
type Timed = Box<dyn FnMut(&p1::Requests, u32) -> Duration>;

struct Prepare(p1::Requests);

impl WithStack for Prepare {
    type Output = (Timed, f64);

    fn run<S: Stack + 'static>(self, mut stack: S) -> (Timed, f64) {
        let allocs = p1::allocations_per_request(&mut stack, &self.0, |f| {
            allocation_counter::measure(f).count_total
        });
        (
            Box::new(move |requests, n| p1::time_requests(&mut stack, requests, n)),
            allocs,
        )
    }
}

fn measure_p1(quick: bool) -> P1 {
    let (rounds, batch) = if quick { (3, 20_000) } else { (21, 200_000) };
    let mut result = P1 {
        rounds,
        batch,
        ns: Vec::new(),
        ratio: Vec::new(),
        allocs: Vec::new(),
    };
    let baseline = variant_index(Variant::TowerHttp);
    for shape in Shape::ALL {
        let (stacks, allocs): (Vec<Timed>, Vec<f64>) = Variant::ALL
            .iter()
            .map(|&variant| p1::with_stack(variant, Prepare(shape.requests())))
            .unzip();
        let (ns, ratios) = interleaved(stacks, &shape.requests(), rounds, batch, baseline);
        result.ns.push(ns);
        result.ratio.push(ratios);
        result.allocs.push(allocs);
    }
    result
}

/// Times `stacks` batch after batch, rotating their order every round so no stack always runs
/// first or last: the median ns per request of each, and the median over rounds of its ratio to
/// `stacks[baseline]` in the same round (paired, so drift in the machine's load cancels out).
fn interleaved(
    mut stacks: Vec<Timed>,
    requests: &p1::Requests,
    rounds: usize,
    batch: u32,
    baseline: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut samples = vec![Vec::with_capacity(rounds); stacks.len()];
    for round in 0..rounds {
        for k in 0..stacks.len() {
            let i = (k + round) % stacks.len();
            let per_request = stacks[i](requests, batch);
            samples[i].push(per_request.as_secs_f64() * 1e9);
        }
    }
    let ratios = samples
        .iter()
        .map(|s| {
            median(
                s.iter()
                    .zip(&samples[baseline])
                    .map(|(a, b)| a / b)
                    .collect(),
            )
        })
        .collect();
    (samples.into_iter().map(median).collect(), ratios)
}

// ---------------------------------------------------------------------------------------------
// P6

struct P6 {
    rounds: usize,
    batch: u32,
    /// `[shape][proof]`: median ns per request, and the median ratio to the bearer token.
    ns: Vec<Vec<f64>>,
    ratio: Vec<Vec<f64>>,
}

fn measure_p6(quick: bool) -> P6 {
    let (rounds, batch) = if quick { (3, 2_000) } else { (15, 20_000) };
    let mut result = P6 {
        rounds,
        batch,
        ns: Vec::new(),
        ratio: Vec::new(),
    };
    for shape in Shape::ALL {
        let stacks: Vec<Timed> = Proof::ALL
            .iter()
            .map(|&proof| p6::with_stack(proof, Prepare(p6::requests(shape))).0)
            .collect();
        let (ns, ratios) = interleaved(stacks, &p6::requests(shape), rounds, batch, 0);
        result.ns.push(ns);
        result.ratio.push(ratios);
    }
    result
}

fn variant_index(variant: Variant) -> usize {
    Variant::ALL.iter().position(|v| *v == variant).unwrap_or(0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len().is_multiple_of(2) {
        (xs[mid - 1] + xs[mid]) / 2.0
    } else {
        xs[mid]
    }
}

// ---------------------------------------------------------------------------------------------
// P3

struct P3 {
    pace: Pace,
    /// `(steady, expiring)` with proactive refresh on, then off.
    proactive: (Latencies, Latencies),
    reactive: (Latencies, Latencies),
}

async fn measure_p3(quick: bool) -> Result<P3, BoxError> {
    let pace = Pace {
        workers: 16,
        interval: Duration::from_millis(10),
    };
    let expiries = if quick { 1 } else { 10 };
    let deadline = loopback::P3_TOKEN_LIFETIME * (expiries as u32 + 2) + Duration::from_secs(10);
    // The steady arm's token outlives the run; the other's expires every few seconds.
    let long_lived = DemoProvider::start(Duration::from_secs(3600)).await?;
    let short_lived = DemoProvider::start(loopback::P3_TOKEN_LIFETIME).await?;
    for provider in [&long_lived, &short_lived] {
        provider.set_token_delay(loopback::SLOW_TOKEN_ENDPOINT);
    }
    let phase = async |config: CacheConfig| -> Result<(Latencies, Latencies), BoxError> {
        let arms = [
            loopback::Arm {
                provider: &long_lived,
                config: config.clone(),
            },
            loopback::Arm {
                provider: &short_lived,
                config,
            },
        ];
        let mut results = loopback::paced_phase(&arms, pace, expiries, deadline).await?;
        let expiring = results.pop().unwrap_or_default();
        let steady = results.pop().unwrap_or_default();
        Ok((steady, expiring))
    };
    println!("P3: {expiries} expiries next to a steady arm, proactive refresh on ...");
    let proactive = phase(CacheConfig::default()).await?;
    println!("P3: {expiries} expiries next to a steady arm, proactive refresh off ...");
    let reactive = phase(CacheConfig::default().proactive_refresh(false)).await?;
    Ok(P3 {
        pace,
        proactive,
        reactive,
    })
}

// ---------------------------------------------------------------------------------------------
// P4

/// The P4 variants, in table order.
const P4_VARIANTS: [&str; 3] = [
    "bare client",
    "static header (tower-http AddAuthorization)",
    "OAuth2Layer",
];

struct P4 {
    concurrency: usize,
    run_for: Duration,
    /// Requests per second of each variant, one entry per round.
    runs: Vec<[f64; 3]>,
    /// CPU time of the process and requests completed per variant, over all runs.
    cpu: [Duration; 3],
    completed: [usize; 3],
}

async fn measure_p4(quick: bool, concurrency: usize) -> Result<P4, BoxError> {
    let (rounds, run_for) = if quick {
        (2, Duration::from_millis(400))
    } else {
        (31, Duration::from_millis(400))
    };
    const MAX_PER_RUN: usize = 2_000_000;
    let url = loopback::plain_api().await?;
    let provider = DemoProvider::start(Duration::from_secs(3600)).await?;
    let client = auth_test_support::client();
    let bare = ApiClient::new(client.clone(), None);
    // The same kind of header, static: what carrying a credential costs without a token layer.
    let header = AddAuthorizationLayer::bearer("demo-at-0-0123456789abcdef")
        .as_sensitive(true)
        .layer(bare.clone());
    let oauth2 = loopback::oauth2_layer(&provider, CacheConfig::default())?.layer(bare.clone());
    let run = async |k: usize, run_for: Duration| match k {
        0 => loopback::throughput(bare.clone(), &url, concurrency, run_for, MAX_PER_RUN).await,
        1 => loopback::throughput(header.clone(), &url, concurrency, run_for, MAX_PER_RUN).await,
        _ => loopback::throughput(oauth2.clone(), &url, concurrency, run_for, MAX_PER_RUN).await,
    };
    // Warm up: connections open, token fetched, code paths hot.
    for k in 0..3 {
        run(k, run_for / 2).await?;
    }
    let mut p4 = P4 {
        concurrency,
        run_for,
        runs: Vec::new(),
        cpu: [Duration::ZERO; 3],
        completed: [0; 3],
    };
    for round in 0..rounds {
        if round % 10 == 0 {
            println!(
                "P4: rounds {}-{} of {rounds} ...",
                round + 1,
                (round + 10).min(rounds)
            );
        }
        let mut rps = [0.0; 3];
        // Rotate the order so no variant always runs first.
        for k in (0..3).map(|i| (i + round) % 3) {
            let cpu_before = process_cpu_time();
            let (r, n) = run(k, run_for).await?;
            if let (Some(before), Some(after)) = (cpu_before, process_cpu_time()) {
                p4.cpu[k] += after.saturating_sub(before);
            }
            p4.completed[k] += n;
            rps[k] = r;
        }
        p4.runs.push(rps);
    }
    Ok(p4)
}

/// CPU time used by this process so far (all threads: the client and the servers), from
/// `/proc/self/stat`, in ticks of 10 ms (`USER_HZ` is 100 on Linux); `None` elsewhere.
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may contain spaces.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}
