//! Soak test: 64 concurrent clients through `TokenLayer` over `CachedTokenSource`, against an
//! in-process API and token endpoint issuing 2-second tokens, with random token revocations.
//!
//! Each client sends `GET /api/work` in a loop until the time is up. The token source is your
//! own client-credentials request (`demo::client_credentials_source`, a `FnTokenSource`) wrapped
//! in a `CachedTokenSource`; the API revokes the token of 1 request in 200, at most once every
//! 3 s, so the layer must invalidate it and retry once with a fresh token, while in between
//! tokens expire and are refreshed in the background. Prints requests, failures, token fetches
//! (expected: about one per refresh period, plus one per revocation) and RSS (from
//! `/proc/self/status`) at start, after a warm-up, and at the end.
//!
//! Exits 1 on any failed request or a token fetch storm (more than 3 times the expected
//! fetches), 2 on bad arguments. Everything runs on 127.0.0.1.
//!
//! Run it with `cargo run --release -p perf --bin soak -- --seconds 60`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use auth_core::cache::config::{DEFAULT_REFRESH_FRACTION, DEFAULT_SKEW};
use auth_test_support::demo;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use perf::soak::{SoakConfig, SoakProvider, SoakStats};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, timeout::TimeoutLayer};
use tower_auth::prelude::*;

const CLIENTS: usize = 64;
const MAX_SECONDS: u64 = 86_400;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long past the deadline the clients may take to finish before the run counts as hung.
const FINISH_GRACE: Duration = Duration::from_secs(30);
/// More fetches than this many times the expected number is a storm.
const STORM_FACTOR: u64 = 3;
/// How many failures are described in full.
const FAILURES_SHOWN: u64 = 5;
/// When the warm-up RSS is taken: connections, pools and buffers are allocated by then.
const WARM_UP: Duration = Duration::from_secs(2);

const USAGE: &str = "usage: soak --seconds N   (N from 1 to 86400)";

fn main() -> ExitCode {
    let seconds = match parse_seconds(std::env::args().skip(1)) {
        Ok(Some(seconds)) => seconds,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the Tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Duration::from_secs(seconds))) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: the soak stopped early: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `--seconds N` or `--seconds=N`; `None` for `--help`.
fn parse_seconds(mut args: impl Iterator<Item = String>) -> Result<Option<u64>, String> {
    let mut seconds = None;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--seconds" => args.next().ok_or("`--seconds` needs a value")?,
            "-h" | "--help" => return Ok(None),
            other => match other.strip_prefix("--seconds=") {
                Some(value) => value.to_owned(),
                None => return Err(format!("unexpected argument `{other}`")),
            },
        };
        if seconds.is_some() {
            return Err("`--seconds` given twice".to_owned());
        }
        let n: u64 = value
            .parse()
            .map_err(|_| format!("`--seconds {value}` is not a whole number of seconds"))?;
        if !(1..=MAX_SECONDS).contains(&n) {
            return Err(format!(
                "`--seconds {n}` is out of range (1 to {MAX_SECONDS})"
            ));
        }
        seconds = Some(n);
    }
    seconds
        .map(Some)
        .ok_or_else(|| "`--seconds` is required".to_owned())
}

/// Counts shared by the clients.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    failures: AtomicU64,
    slowest_micros: AtomicU64,
}

impl Tally {
    fn record(&self, outcome: Result<StatusCode, BoxError>, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.slowest_micros.fetch_max(micros, Ordering::Relaxed);
        let problem = match outcome {
            Ok(StatusCode::OK) => return,
            Ok(status) => format!("status {status}"),
            Err(error) => format!("error: {error}"),
        };
        if self.failures.fetch_add(1, Ordering::Relaxed) < FAILURES_SHOWN {
            println!("  FAIL {problem}");
        }
    }
}

async fn run(duration: Duration) -> Result<bool, BoxError> {
    let rss_start = rss_kib();
    let provider = SoakProvider::start(SoakConfig::default()).await?;
    let config = provider.config().clone();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let tokens = CachedTokenSource::new(demo::client_credentials_source(
        client.clone(),
        provider.token_url(),
    ));
    let api = ServiceBuilder::new()
        .layer(TimeoutLayer::new(REQUEST_TIMEOUT))
        .layer(TokenLayer::new(tokens))
        .service(client);

    println!(
        "soak: {CLIENTS} clients for {}s against {}, {}s tokens, 1 request in {} revokes its token \
         (at most once every {:?})",
        duration.as_secs(),
        provider.api_url(),
        config.token_lifetime.as_secs(),
        config.revoke_one_in,
        config.revocation_cooldown,
    );
    println!("RSS at start: {}", show_kib(rss_start));

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + duration;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (api, url) = (api.clone(), provider.api_url());
            let (tally, stop) = (tally.clone(), stop.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let outcome = get(api.clone(), &url).await;
                    tally.record(outcome, sent.elapsed());
                }
            })
        })
        .collect();
    let progress = tokio::spawn(report_progress(tally.clone(), started, duration));
    let warm = tokio::spawn(async move {
        tokio::time::sleep(WARM_UP.min(duration)).await;
        rss_kib()
    });

    let mut hung = false;
    let finish = tokio::time::timeout(duration + FINISH_GRACE, async {
        for client in clients {
            client.await?;
        }
        Ok::<_, tokio::task::JoinError>(())
    })
    .await;
    match finish {
        Ok(joined) => joined?,
        Err(_) => {
            stop.store(true, Ordering::Relaxed);
            hung = true;
        }
    }
    progress.abort();
    let elapsed = started.elapsed();
    let rss = Rss {
        start: rss_start,
        warm: warm.await.ok().flatten(),
        end: rss_kib(),
    };
    let stats = provider.stats();
    Ok(summarize(&tally, &stats, &config, elapsed, &rss, hung))
}

/// One GET; the status once the body is read.
async fn get<S>(api: S, url: &str) -> Result<StatusCode, BoxError>
where
    S: Service<Request<Full<Bytes>>, Response = http::Response<hyper::body::Incoming>>,
    S::Error: Into<BoxError>,
{
    let request = Request::get(url).body(Full::default())?;
    let response = api.oneshot(request).await.map_err(Into::into)?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

/// A line every 10 seconds, so a long run shows it is alive.
async fn report_progress(tally: Arc<Tally>, started: Instant, duration: Duration) {
    let mut ticker = tokio::time::interval(Duration::from_secs(10));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if started.elapsed() >= duration {
            return;
        }
        println!(
            "  {:>4}s  {} requests, {} failures, RSS {}",
            started.elapsed().as_secs(),
            tally.requests.load(Ordering::Relaxed),
            tally.failures.load(Ordering::Relaxed),
            show_kib(rss_kib()),
        );
    }
}

/// Expected token fetches: one per refresh period, plus one per revocation. With the default
/// cache settings a 2 s token is usable for 1 s (half its life, as the 30 s skew is longer) and
/// refreshed in the background in the last 25% of that.
fn expected_fetches(config: &SoakConfig, elapsed: Duration, revocations: u64) -> u64 {
    let lifetime = config.token_lifetime;
    let usable = lifetime.saturating_sub(DEFAULT_SKEW.min(lifetime / 2));
    let period = usable.mul_f64(1.0 - DEFAULT_REFRESH_FRACTION);
    let refreshes = (elapsed.as_secs_f64() / period.as_secs_f64().max(0.001)).ceil();
    // Saturating float-to-int conversion; the value is small and positive.
    refreshes as u64 + 1 + revocations
}

/// Resident set size, KiB: before the load, after the warm-up, at the end.
struct Rss {
    start: Option<u64>,
    warm: Option<u64>,
    end: Option<u64>,
}

fn summarize(
    tally: &Tally,
    stats: &SoakStats,
    config: &SoakConfig,
    elapsed: Duration,
    rss: &Rss,
    hung: bool,
) -> bool {
    let requests = tally.requests.load(Ordering::Relaxed);
    let failures = tally.failures.load(Ordering::Relaxed);
    let slowest = Duration::from_micros(tally.slowest_micros.load(Ordering::Relaxed));
    let expected = expected_fetches(config, elapsed, stats.revocations);
    let refreshes = stats.token_fetches - stats.fetches_after_revocation;
    let storm = stats.token_fetches > STORM_FACTOR * expected;
    let rate = requests as f64 / elapsed.as_secs_f64().max(0.001);

    println!("\n== soak results ({:.1}s)", elapsed.as_secs_f64());
    println!("requests:        {requests} ({rate:.0}/s), slowest {slowest:.1?}");
    println!("failures:        {failures}");
    println!(
        "API saw:         {} requests, {} accepted, {} revocations, {} rejected as revoked \
         (retried), {} rejected otherwise",
        stats.api_requests,
        stats.accepted,
        stats.revocations,
        stats.rejected_revoked,
        stats.rejected_other,
    );
    println!(
        "token fetches:   {} ({refreshes} expiry/refresh + {} after a revocation; expected at \
         most ~{expected}, a storm above {})",
        stats.token_fetches,
        stats.fetches_after_revocation,
        STORM_FACTOR * expected,
    );
    println!("RSS at start:    {} (before the load)", show_kib(rss.start));
    println!(
        "RSS warmed up:   {} (after {WARM_UP:?})",
        show_kib(rss.warm)
    );
    print!("RSS at end:      {}", show_kib(rss.end));
    if let (Some(warm), Some(end)) = (rss.warm, rss.end) {
        let growth = end as f64 - warm as f64;
        print!(" ({:+.1} MiB since the warm-up)", growth / 1024.0);
    }
    println!();

    let mut ok = true;
    if hung {
        println!(
            "FAIL: clients still busy {FINISH_GRACE:?} after the deadline (a hang); stopped them"
        );
        ok = false;
    }
    if failures > 0 {
        println!("FAIL: {failures} requests failed");
        ok = false;
    }
    if storm {
        println!("FAIL: token fetch storm");
        ok = false;
    }
    println!("{}", if ok { "PASS" } else { "FAIL" });
    ok
}

/// Resident set size in KiB, from `/proc/self/status` (Linux); `None` elsewhere.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn show_kib(kib: Option<u64>) -> String {
    match kib {
        Some(kib) => format!("{:.1} MiB", kib as f64 / 1024.0),
        None => "unknown (no /proc/self/status)".to_owned(),
    }
}
