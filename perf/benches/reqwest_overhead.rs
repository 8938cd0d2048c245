//! P7 (reqwest half): what the reqwest adapter adds to a bare reqwest client on loopback,
//! measured in the same run. Prints one line per middleware, e.g.
//! `P7 reqwest TokenMiddleware ratio=1.012 target<=1.03 PASS`.
//!
//! The baseline is a bare `reqwest::Client` that sets the same `Authorization` header by hand;
//! the measured clients are a `reqwest-middleware` client with [`TokenMiddleware`] (a warm
//! `CachedTokenSource`) or [`CredentialMiddleware`] (a fixed bearer token). Each sends requests
//! one after another over a kept-alive connection to the demo API on 127.0.0.1, in many short
//! rounds that alternate which client goes first (so a burst of load elsewhere on the machine
//! hits both alike); the figure is the median of the per-round ratios.
//! Misses are reported, not fatal (timings on a shared machine are noisy).
//!
//! ```text
//! cargo bench -p perf --bench reqwest_overhead    # full run (about a minute)
//! cargo test -p perf --bench reqwest_overhead     # quick run, as CI runs it (a few seconds)
//! ```
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use auth_test_support::demo::{BEARER_TOKEN, DemoProvider};
use tower_auth::{
    AccessToken, BearerLayer, CachedTokenSource, FnTokenSource,
    reqwest::{
        CredentialMiddleware, TokenMiddleware, install_ring_provider, reqwest,
        reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware},
    },
};

/// The most the adapter may add: 3%.
const TARGET: f64 = 1.03;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A client under test: sends one request and checks it succeeded.
enum Client {
    Bare(reqwest::Client),
    Middleware(ClientWithMiddleware),
}

impl Client {
    async fn send(&self, url: &str) -> Result<(), Error> {
        let response = match self {
            Client::Bare(client) => {
                client
                    .get(url)
                    .header("authorization", format!("Bearer {BEARER_TOKEN}"))
                    .send()
                    .await?
            }
            Client::Middleware(client) => client.get(url).send().await?,
        };
        if !response.status().is_success() {
            return Err(format!("the API answered {}", response.status()).into());
        }
        response.bytes().await?;
        Ok(())
    }

    /// Time for `requests` requests, one after another.
    async fn time(&self, url: &str, requests: usize) -> Result<Duration, Error> {
        let start = Instant::now();
        for _ in 0..requests {
            self.send(url).await?;
        }
        Ok(start.elapsed())
    }
}

fn with(middleware: impl Middleware) -> Client {
    Client::Middleware(
        ClientBuilder::new(reqwest::Client::new())
            .with(middleware)
            .build(),
    )
}

/// The median over `rounds` of (time with the middleware) / (time of the bare client), and the
/// bare client's mean time per request in µs.
async fn ratio(
    url: &str,
    bare: &Client,
    measured: &Client,
    rounds: usize,
    requests: usize,
) -> Result<(f64, f64), Error> {
    // Warm both connections and the token cache.
    bare.time(url, requests / 4 + 1).await?;
    measured.time(url, requests / 4 + 1).await?;
    let mut ratios = Vec::with_capacity(rounds);
    let mut bare_total = Duration::ZERO;
    for round in 0..rounds {
        let (base, with) = if round % 2 == 0 {
            let base = bare.time(url, requests).await?;
            (base, measured.time(url, requests).await?)
        } else {
            let with = measured.time(url, requests).await?;
            (bare.time(url, requests).await?, with)
        };
        ratios.push(with.as_secs_f64() / base.as_secs_f64());
        bare_total += base;
    }
    ratios.sort_by(f64::total_cmp);
    let per_request = bare_total.as_secs_f64() * 1e6 / (rounds * requests) as f64;
    Ok((ratios[ratios.len() / 2], per_request))
}

async fn run(full: bool) -> Result<(), Error> {
    install_ring_provider();
    let (rounds, requests) = if full { (301, 100) } else { (61, 50) };
    let provider = DemoProvider::start(Duration::from_secs(3600)).await?;
    let url = provider.url("/api/whoami");
    let bare = Client::Bare(reqwest::Client::new());
    let tokens = CachedTokenSource::new(FnTokenSource::new(|| async {
        AccessToken::builder(BEARER_TOKEN)
            .expires_in(Duration::from_secs(3600))
            .build()
    }));
    let measured = [
        ("TokenMiddleware", with(TokenMiddleware::new(tokens))),
        (
            "CredentialMiddleware",
            with(CredentialMiddleware::new(BearerLayer::new(BEARER_TOKEN)?)),
        ),
    ];
    println!(
        "P7 reqwest: {rounds} rounds x {requests} sequential requests per client{}",
        if full { "" } else { " (quick: indicative)" }
    );
    for (name, client) in &measured {
        let (ratio, bare_us) = ratio(&url, &bare, client, rounds, requests).await?;
        let verdict = if ratio <= TARGET { "PASS" } else { "MISS" };
        println!(
            "P7 reqwest {name} ratio={ratio:.3} target<={TARGET:.2} {verdict} \
             (bare client {bare_us:.1} µs/request)"
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let full = std::env::args().any(|arg| arg == "--bench");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            println!("P7 reqwest: no runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(full)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            println!("P7 reqwest: could not run: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
