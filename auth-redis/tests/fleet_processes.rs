//! The fleet across OS processes: this test binary re-spawns itself as workers
//! (`TOWER_AUTH_FLEET_WORKER` set) that share one `redis-server` and one token server in the
//! parent, which counts the token-endpoint calls.
//!
//! `harness = false`: `main` runs either one worker or the scenarios below, in order, and panics
//! (non-zero exit) on the first failed check.
#![allow(clippy::print_stdout)]

use std::{
    collections::{BTreeSet, hash_map::DefaultHasher},
    hash::{Hash, Hasher},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use auth_core::{CacheConfig, CachedTokenSource, ExposeSecret, TokenSource};
use auth_oauth::OAuth2Layer;
use auth_redis::{EncryptionKey, FleetKey, RedisTokenCache};
use auth_test_support::{redis::RedisServer, token_server::TokenServer};
use tokio::time::Instant;

const WORKER: &str = "TOWER_AUTH_FLEET_WORKER";
const SECRET: &str = "canary-client-secret-7f3a";
const LIFETIME: Duration = Duration::from_secs(2);
/// Refresh lead of the workers' in-process caches; with its jitter (up to a quarter more), a
/// token is refreshed at least `LIFETIME - LEAD * 5 / 4` after it was fetched.
const LEAD: Duration = Duration::from_millis(500);
const LOCK_TTL: Duration = Duration::from_secs(2);
const PROCESSES: usize = 8;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(mode) = std::env::var(WORKER) {
        runtime.block_on(worker(&mode));
        return;
    }
    runtime.block_on(async {
        one_fetch_per_expiry_across_eight_processes().await;
        a_killed_lock_holder_delays_the_fleet_by_at_most_the_lock_ttl().await;
        a_redis_outage_fails_no_request_and_the_fleet_converges_again().await;
    });
    println!("fleet_processes: 3 scenarios passed");
}

fn cache(redis_url: &str) -> RedisTokenCache {
    RedisTokenCache::builder(redis_url.to_owned())
        .key_prefix("procs")
        .encryption_key(EncryptionKey::from_bytes([3; 32]))
        .lock_ttl(LOCK_TTL)
        .fetch_timeout(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .command_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .expect("cache")
}

fn source(token_url: &str, redis_url: &str) -> CachedTokenSource<impl TokenSource + use<>> {
    let grant = OAuth2Layer::client_credentials(token_url, "client-id", SECRET)
        .build_grant()
        .expect("grant");
    let key = FleetKey::builder(token_url, "client-id")
        .grant("client_credentials")
        .client_secret(SECRET)
        .build();
    let config = CacheConfig::default()
        .refresh_before(LEAD)
        .skew(Duration::from_millis(250));
    CachedTokenSource::with_config(cache(redis_url).wrap(grant, &key), config)
}

/// A worker: `run` asks for a token from 8 tasks every 10 ms for `MS` milliseconds and prints
/// `ok failed hashes…`; `hold` asks once (the parent kills it while it holds the lock).
async fn worker(mode: &str) {
    let var = |name: &str| std::env::var(name).expect(name);
    let source = source(&var("TOKEN_URL"), &var("REDIS_URL"));
    if mode == "hold" {
        let _ = source.token().await;
        return;
    }
    let until = Instant::now() + Duration::from_millis(var("MS").parse().expect("MS"));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (source, ok, failed, seen) =
                (source.clone(), ok.clone(), failed.clone(), seen.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    match source.token().await {
                        Ok(token) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            let mut h = DefaultHasher::new();
                            token.secret().expose_secret().hash(&mut h);
                            seen.lock().expect("seen").insert(h.finish());
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let seen: Vec<String> = seen
        .lock()
        .expect("seen")
        .iter()
        .map(u64::to_string)
        .collect();
    println!(
        "RESULT {} {} {}",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        seen.join(",")
    );
}

fn spawn(mode: &str, token_url: &str, redis_url: &str, ms: u64) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .env(WORKER, mode)
        .env("TOKEN_URL", token_url)
        .env("REDIS_URL", redis_url)
        .env("MS", ms.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker")
}

struct Outcome {
    ok: usize,
    failed: usize,
    tokens: BTreeSet<String>,
}

/// Waits for every worker (bounded by each one's own run time) and sums what they report.
fn collect(children: Vec<Child>) -> Outcome {
    let mut outcome = Outcome {
        ok: 0,
        failed: 0,
        tokens: BTreeSet::new(),
    };
    for child in children {
        let out = child.wait_with_output().expect("worker output");
        assert!(out.status.success(), "a worker failed: {:?}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .expect("a RESULT line");
        let mut parts = line.split(' ');
        outcome.ok += parts
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .expect("ok");
        outcome.failed += parts
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .expect("failed");
        outcome.tokens.extend(
            parts
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    outcome
}

async fn token_server() -> TokenServer {
    TokenServer::builder()
        .client("client-id", Some(SECRET))
        .expires_in(Some(LIFETIME.as_secs()))
        .start()
        .await
}

async fn one_fetch_per_expiry_across_eight_processes() {
    let redis = RedisServer::launch();
    let server = token_server().await;
    let run = LIFETIME * 5;
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            spawn(
                "run",
                &server.token_url(),
                &redis.url(),
                run.as_millis() as u64,
            )
        })
        .collect();
    let outcome = tokio::task::spawn_blocking(move || collect(children))
        .await
        .expect("collect");
    let fetches = server.fetches();
    // Each generation lives at least LIFETIME - LEAD * 5/4 before the fleet refreshes it once.
    let min_gap = LIFETIME - LEAD * 5 / 4;
    let most = 1 + (run.as_secs_f64() / min_gap.as_secs_f64()).floor() as usize + 1;
    let least = (run.as_secs_f64() / LIFETIME.as_secs_f64()) as usize;
    println!(
        "8 processes over {run:?}: {fetches} token-endpoint calls (allowed {least}..={most}), \
         {} requests ok, {} failed, {} distinct tokens",
        outcome.ok,
        outcome.failed,
        outcome.tokens.len()
    );
    assert_eq!(outcome.failed, 0);
    assert!(outcome.ok > PROCESSES * 100, "the workers ran");
    assert!(
        (least..=most).contains(&fetches),
        "{fetches} token-endpoint calls for {PROCESSES} processes over {run:?}"
    );
    // Every fetched token was the fleet's one token of its generation.
    assert_eq!(outcome.tokens.len(), fetches);
}

async fn a_killed_lock_holder_delays_the_fleet_by_at_most_the_lock_ttl() {
    let redis = RedisServer::launch();
    let server = token_server().await;
    server.set_delay(Duration::from_secs(30));
    let mut holder = spawn("hold", &server.token_url(), &redis.url(), 0);
    // Wait (bounded) until the worker holds the fleet lock, mid-fetch.
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let locks: Vec<String> = redis::cmd("KEYS")
            .arg("procs:token:*:lock")
            .query_async(&mut conn)
            .await
            .expect("keys");
        if !locks.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the worker never took the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.kill().expect("SIGKILL the lock holder");
    holder.wait().expect("reap");
    server.set_delay(Duration::ZERO);
    let started = Instant::now();
    let token = source(&server.token_url(), &redis.url()).token().await;
    let waited = started.elapsed();
    println!("after SIGKILL of the lock holder: a token in {waited:?} (lock TTL {LOCK_TTL:?})");
    token.expect("a token after the holder died");
    assert!(
        waited <= LOCK_TTL + Duration::from_millis(500),
        "waited {waited:?}"
    );
}

async fn a_redis_outage_fails_no_request_and_the_fleet_converges_again() {
    let mut redis = RedisServer::launch();
    let server = token_server().await;
    let run = Duration::from_secs(10);
    let started = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            spawn(
                "run",
                &server.token_url(),
                &redis.url(),
                run.as_millis() as u64,
            )
        })
        .collect();
    let collector = tokio::task::spawn_blocking(move || collect(children));
    tokio::time::sleep_until(started + Duration::from_secs(2)).await;
    redis.stop();
    tokio::time::sleep_until(started + Duration::from_secs(4)).await;
    redis.start();
    // One pause after a failure (1 s) and one token generation to rejoin.
    tokio::time::sleep_until(started + Duration::from_secs(6)).await;
    let at_converged = server.fetches();
    let outcome = collector.await.expect("collect");
    let after = server.fetches() - at_converged;
    let tail = run - Duration::from_secs(6);
    let min_gap = LIFETIME - LEAD * 5 / 4;
    // One fetch per generation, plus one: a process that was still fetching on its own when
    // Redis came back may finish that fetch in the tail (eight would be the unshared count).
    let most = 2 + (tail.as_secs_f64() / min_gap.as_secs_f64()).floor() as usize;
    println!(
        "outage 2 s..4 s of {run:?}: {} calls in all, {after} in the last {tail:?} (allowed \
         {most}), {} ok, {} failed",
        server.fetches(),
        outcome.ok,
        outcome.failed
    );
    assert_eq!(outcome.failed, 0, "a request failed because of Redis");
    assert!(after <= most, "the fleet did not converge: {after} calls");
}
