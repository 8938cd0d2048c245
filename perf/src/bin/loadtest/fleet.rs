//! P5, a fleet sharing tokens through Redis: 8 worker processes (this binary, re-spawned with
//! `--p5-worker`) × 64 concurrent request loops, with 2-second tokens, all through
//! `TokenLayer` over `CachedTokenSource` over the fleet tier (auth-redis) over the
//! client-credentials grant. The parent runs a real `redis-server` and the demo token endpoint
//! (slowed to 200 ms), and counts the token-endpoint calls in a window every worker spans.

use std::{
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use auth_oauth::OAuth2Layer;
use auth_redis::{EncryptionKey, FleetKey, RedisTokenCache};
use auth_test_support::{
    demo::{self, DemoProvider},
    redis::RedisServer,
};
use tower::{BoxError, Layer};
use tower_auth::{CacheConfig, CachedTokenSource, TokenLayer};

use super::loopback::{self, ApiClient, Observed};

/// Worker processes.
pub(crate) const PROCESSES: usize = 8;
/// Concurrent request loops per worker.
pub(crate) const CONCURRENCY: usize = 64;
/// Token lifetime.
pub(crate) const LIFETIME: Duration = Duration::from_secs(2);
/// The workers' refresh lead (`refresh_before`); with its jitter (up to a quarter more) a
/// token is replaced at least `LIFETIME - LEAD * 5/4` after it was fetched: its usable life.
const LEAD: Duration = Duration::from_millis(500);
/// Pause between two requests of one loop (8 × 64 loops at 20 per second: ~10,000 requests/s).
const PACE: Duration = Duration::from_millis(50);

pub(crate) fn usable_lifetime() -> Duration {
    LIFETIME - LEAD * 5 / 4
}

/// What P5 measured.
pub(crate) struct P5 {
    pub(crate) run_for: Duration,
    pub(crate) token_calls: usize,
    pub(crate) ok: usize,
    pub(crate) failed: usize,
    /// Requests that found no fresh token at hand and awaited one (after each worker's first).
    pub(crate) awaited: usize,
}

impl P5 {
    /// The target: calls ≤ duration ÷ usable lifetime + 1.
    pub(crate) fn bound(&self) -> usize {
        (self.run_for.as_secs_f64() / usable_lifetime().as_secs_f64()).floor() as usize + 1
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The parent: Redis, the token endpoint, 8 workers; the calls counted between the common
/// start and end instants the workers were given.
pub(crate) async fn measure(quick: bool) -> Result<P5, BoxError> {
    let run_for = if quick {
        Duration::from_secs(6)
    } else {
        Duration::from_secs(20)
    };
    let redis = RedisServer::launch();
    let provider = DemoProvider::start(LIFETIME).await?;
    provider.set_token_delay(loopback::SLOW_TOKEN_ENDPOINT);
    // Time for every worker to start and take its first token before the window opens.
    let start_ms = unix_ms() + 3_000;
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for _ in 0..PROCESSES {
        children.push(
            Command::new(&exe)
                .args(["--p5-worker", &provider.token_url(), &redis.url()])
                .arg(start_ms.to_string())
                .arg(run_for.as_millis().to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?,
        );
    }
    let wait_ms = start_ms.saturating_sub(unix_ms());
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    let at_start = provider.token_fetches();
    tokio::time::sleep(run_for).await;
    let token_calls = provider.token_fetches() - at_start;
    let outputs = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output())
            .collect::<Result<Vec<_>, _>>()
    })
    .await??;
    let mut p5 = P5 {
        run_for,
        token_calls,
        ok: 0,
        failed: 0,
        awaited: 0,
    };
    for out in outputs {
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("P5RESULT ")) else {
            return Err(format!("a P5 worker reported nothing ({})", out.status).into());
        };
        let n: Vec<usize> = line.split(' ').filter_map(|n| n.parse().ok()).collect();
        if n.len() != 3 {
            return Err(format!("a P5 worker's report is malformed: {line}").into());
        }
        p5.ok += n[0];
        p5.failed += n[1];
        p5.awaited += n[2];
    }
    Ok(p5)
}

/// A worker: `--p5-worker TOKEN_URL REDIS_URL START_MS RUN_MS`; prints
/// `P5RESULT ok failed awaited`.
pub(crate) fn worker(args: &[String]) -> Result<(), BoxError> {
    let [token_url, redis_url, start_ms, run_ms] = args else {
        return Err("usage: --p5-worker TOKEN_URL REDIS_URL START_MS RUN_MS".into());
    };
    let (start_ms, run_ms): (u64, u64) = (start_ms.parse()?, run_ms.parse()?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let url = loopback::plain_api().await?;
        let grant =
            OAuth2Layer::client_credentials(token_url, demo::CLIENT_ID, demo::CLIENT_SECRET)
                .build_grant()?;
        let fleet = RedisTokenCache::builder(redis_url.clone())
            .key_prefix("p5")
            .encryption_key(EncryptionKey::from_bytes([5; 32]))
            .lock_ttl(Duration::from_secs(2))
            .fetch_timeout(Duration::from_secs(2))
            .poll_interval(Duration::from_millis(20))
            .build()?;
        let key = FleetKey::builder(token_url.clone(), demo::CLIENT_ID)
            .grant("client_credentials")
            .client_secret(demo::CLIENT_SECRET)
            .build();
        let config = CacheConfig::default()
            .refresh_before(LEAD)
            .skew(Duration::from_millis(250));
        let cache = CachedTokenSource::with_config(fleet.wrap(grant, &key), config);
        // The loops start as soon as this process has its first token (from Redis or the
        // endpoint), so its tokens stay warm as in steady state; only what happens inside the
        // common window is counted.
        let source = Observed::new(cache);
        tower_auth::TokenSource::token(&source).await?;
        let layer = TokenLayer::new(source.clone());
        let service = layer.layer(ApiClient::new(auth_test_support::client(), None));
        let start =
            tokio::time::Instant::now() + Duration::from_millis(start_ms.saturating_sub(unix_ms()));
        let until = start + Duration::from_millis(run_ms);
        let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENCY {
            let (service, url, ok, failed) =
                (service.clone(), url.clone(), ok.clone(), failed.clone());
            tasks.spawn(async move {
                loop {
                    let now = tokio::time::Instant::now();
                    if now >= until {
                        break;
                    }
                    let counted = now >= start;
                    let got = loopback::get(service.clone(), &url).await;
                    match (counted, got) {
                        (false, _) => {}
                        (true, true) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        (true, false) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(PACE).await;
                }
            });
        }
        tokio::time::sleep_until(start).await;
        let first = source.awaited();
        while tasks.join_next().await.is_some() {}
        #[allow(clippy::print_stdout)]
        {
            println!(
                "P5RESULT {} {} {}",
                ok.load(Ordering::Relaxed),
                failed.load(Ordering::Relaxed),
                source.awaited() - first
            );
        }
        Ok::<(), BoxError>(())
    })
}
