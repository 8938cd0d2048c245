//! Tests of [`CachedTokenSource`]: single flight, expiry, proactive refresh, failures, cancellation.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::time::{Instant, advance, sleep};

use super::*;
use crate::{ErrorKind, FnTokenSource};

/// One scripted fetch: how long it takes and what it yields.
enum Step {
    Token { delay: Duration, lifetime: Duration },
    Fail { delay: Duration, error: AuthError },
    Panic,
}

/// A source that plays a script, then hands out one-hour tokens; tokens are named `t1`, `t2`, …
/// by fetch number, and fetches are counted when they start.
#[derive(Clone, Default)]
struct Scripted {
    steps: Arc<Mutex<VecDeque<Step>>>,
    fetches: Arc<AtomicUsize>,
}

impl Scripted {
    fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            steps: Arc::new(Mutex::new(steps.into_iter().collect())),
            fetches: Arc::default(),
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl TokenSource for Scripted {
    fn token(&self) -> TokenFuture<'_> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        let step = self.steps.lock().expect("lock").pop_front();
        Box::pin(async move {
            match step.unwrap_or(Step::Token {
                delay: Duration::from_millis(10),
                lifetime: Duration::from_secs(3600),
            }) {
                Step::Token { delay, lifetime } => {
                    sleep(delay).await;
                    AccessToken::builder(format!("t{n}"))
                        .expires_in(lifetime)
                        .build()
                }
                Step::Fail { delay, error } => {
                    sleep(delay).await;
                    Err(error)
                }
                Step::Panic => panic!("scripted panic in a token source"),
            }
        })
    }
}

fn token(delay_ms: u64, lifetime_s: u64) -> Step {
    Step::Token {
        delay: Duration::from_millis(delay_ms),
        lifetime: Duration::from_secs(lifetime_s),
    }
}

fn fail(delay_ms: u64, kind: ErrorKind) -> Step {
    Step::Fail {
        delay: Duration::from_millis(delay_ms),
        error: AuthError::new(kind, "scripted failure"),
    }
}

fn exact() -> CacheConfig {
    CacheConfig::default().jitter(false)
}

fn name(token: &AccessToken) -> String {
    use secrecy::ExposeSecret;
    token.secret().expose_secret().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_cause_exactly_one_fetch() {
    let source = Scripted::new([token(50, 3600)]);
    let cache = CachedTokenSource::new(source.clone());
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    for task in tasks {
        let token = task.await.expect("join").expect("token");
        assert_eq!(name(&token), "t1");
    }
    assert_eq!(source.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn single_flight_on_the_current_thread_runtime() {
    let source = Scripted::new([token(50, 3600)]);
    let cache = CachedTokenSource::new(source.clone());
    let calls = (0..1000).map(|_| cache.token());
    let results = futures_join_all(calls).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|t| name(t) == "t1"))
    );
    assert_eq!(source.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn reuses_a_token_until_the_skew_then_fetches_again() {
    let source = Scripted::new([token(0, 120), token(0, 120)]);
    let cache = CachedTokenSource::with_config(source.clone(), exact().proactive_refresh(false));
    assert_eq!(name(&cache.token().await.expect("t1")), "t1");
    advance(Duration::from_secs(89)).await;
    assert_eq!(name(&cache.token().await.expect("still t1")), "t1");
    assert_eq!(source.fetches(), 1);
    // 120 s lifetime - 30 s skew: from 90 s on the token is not handed out.
    advance(Duration::from_secs(1)).await;
    assert!(cache.current().is_none());
    assert_eq!(name(&cache.token().await.expect("t2")), "t2");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn tokens_without_expiry_live_for_the_default_lifetime() {
    let cache = CachedTokenSource::with_config(
        FnTokenSource::new(|| async { AccessToken::bearer("forever") }),
        exact()
            .proactive_refresh(false)
            .default_lifetime(Duration::from_secs(100)),
    );
    cache.token().await.expect("token");
    advance(Duration::from_secs(69)).await;
    assert!(cache.current().is_some());
    advance(Duration::from_secs(1)).await;
    assert!(cache.current().is_none(), "stale at 100 s - 30 s skew");
}

#[tokio::test(start_paused = true)]
async fn proactive_refresh_serves_the_old_token_while_refreshing() {
    // One-hour token: the refresh window is the last 5 minutes before the skew.
    let source = Scripted::new([token(0, 3600), token(2_000, 3600)]);
    let cache = CachedTokenSource::with_config(source.clone(), exact());
    assert_eq!(name(&cache.token().await.expect("t1")), "t1");
    advance(Duration::from_secs(3600 - 30 - 300)).await;
    // Inside the window: the old token comes back at once and one refresh starts.
    for _ in 0..100 {
        let token = cache.current().expect("still served");
        assert_eq!(name(&token), "t1");
    }
    let start = Instant::now();
    assert_eq!(name(&cache.token().await.expect("no wait")), "t1");
    assert_eq!(
        Instant::now(),
        start,
        "token() did not wait for the refresh"
    );
    tokio::task::yield_now().await;
    assert_eq!(source.fetches(), 2, "exactly one background refresh");
    // Once the refresh (2 s) lands, the new token is served.
    advance(Duration::from_secs(3)).await;
    tokio::task::yield_now().await;
    assert_eq!(name(&cache.current().expect("t2")), "t2");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn proactive_refresh_can_be_turned_off() {
    let source = Scripted::new([token(0, 3600)]);
    let cache = CachedTokenSource::with_config(source.clone(), exact().proactive_refresh(false));
    cache.token().await.expect("t1");
    advance(Duration::from_secs(3500)).await;
    assert!(cache.current().is_some());
    tokio::task::yield_now().await;
    assert_eq!(source.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leader_does_not_stall_followers() {
    let source = Scripted::new([token(1_000, 3600)]);
    let cache = CachedTokenSource::new(source.clone());
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.token().await })
    };
    tokio::task::yield_now().await;
    let follower = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.token().await })
    };
    tokio::task::yield_now().await;
    leader.abort();
    // A caller that times out early does not cancel the fetch either.
    let impatient = tokio::time::timeout(Duration::from_millis(10), cache.token()).await;
    assert!(impatient.is_err());
    let token = follower
        .await
        .expect("join")
        .expect("follower gets the token");
    assert_eq!(name(&token), "t1");
    assert_eq!(source.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failure_reaches_every_waiter() {
    let source = Scripted::new([fail(100, ErrorKind::Transport)]);
    let cache = CachedTokenSource::new(source.clone());
    let results = futures_join_all((0..50).map(|_| cache.token())).await;
    for result in results {
        assert_eq!(result.expect_err("failure").kind(), ErrorKind::Transport);
    }
    assert_eq!(source.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn after_a_failure_the_next_attempt_waits_for_the_backoff() {
    let source = Scripted::new([
        fail(0, ErrorKind::Transport),
        fail(0, ErrorKind::Transport),
        token(0, 3600),
    ]);
    let cache = CachedTokenSource::with_config(source.clone(), exact());
    cache.token().await.expect_err("first failure");
    // Within the 1 s backoff the cached error comes back without a fetch.
    let err = cache.token().await.expect_err("backing off");
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(source.fetches(), 1);
    advance(Duration::from_millis(1001)).await;
    cache.token().await.expect_err("second failure");
    assert_eq!(source.fetches(), 2);
    // The second backoff is 2 s.
    advance(Duration::from_millis(1500)).await;
    cache.token().await.expect_err("still backing off");
    assert_eq!(source.fetches(), 2);
    advance(Duration::from_millis(600)).await;
    assert_eq!(name(&cache.token().await.expect("recovered")), "t3");
    assert_eq!(source.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_last_good_token_is_served_while_refreshes_fail() {
    let source = Scripted::new([
        token(0, 3600),
        fail(0, ErrorKind::TokenEndpoint),
        fail(0, ErrorKind::TokenEndpoint),
        token(0, 3600),
    ]);
    let cache = CachedTokenSource::with_config(source.clone(), exact());
    cache.token().await.expect("t1");
    advance(Duration::from_secs(3600 - 30 - 300)).await;
    assert_eq!(name(&cache.current().expect("t1")), "t1");
    tokio::task::yield_now().await;
    assert_eq!(source.fetches(), 2, "the background refresh ran and failed");
    // Still valid: served; no new attempt until the backoff has passed.
    for _ in 0..10 {
        assert_eq!(name(&cache.token().await.expect("t1")), "t1");
    }
    assert_eq!(source.fetches(), 2);
    advance(Duration::from_millis(1001)).await;
    assert_eq!(name(&cache.current().expect("t1")), "t1");
    tokio::task::yield_now().await;
    assert_eq!(source.fetches(), 3);
    advance(Duration::from_millis(2001)).await;
    cache.current().expect("t1");
    tokio::task::yield_now().await;
    assert_eq!(source.fetches(), 4);
    assert_eq!(name(&cache.current().expect("t4")), "t4");
}

#[tokio::test(start_paused = true)]
async fn errors_that_cannot_heal_are_not_retried_in_a_loop() {
    let source = Scripted::new([token(0, 3600), fail(0, ErrorKind::InvalidGrant)]);
    let cache = CachedTokenSource::with_config(
        source.clone(),
        exact().permanent_failure_delay(Duration::from_secs(600)),
    );
    cache.token().await.expect("t1");
    advance(Duration::from_secs(3600 - 30 - 300)).await;
    cache.current().expect("t1");
    tokio::task::yield_now().await;
    assert_eq!(source.fetches(), 2);
    // Many calls over the rest of the token's life: no further background attempt.
    for _ in 0..100 {
        advance(Duration::from_secs(2)).await;
        cache.current().expect("t1 still valid");
        tokio::task::yield_now().await;
    }
    assert_eq!(source.fetches(), 2);
    // Once the token is gone, callers get the error at once, without new fetches...
    advance(Duration::from_secs(150)).await;
    for _ in 0..10 {
        let err = cache.token().await.expect_err("invalid_grant");
        assert_eq!(err.kind(), ErrorKind::InvalidGrant);
    }
    assert_eq!(source.fetches(), 2);
    // ...until the permanent-failure delay has passed: then exactly one new attempt.
    advance(Duration::from_secs(300)).await;
    assert_eq!(name(&cache.token().await.expect("t3")), "t3");
    assert_eq!(source.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_inserted_token_clears_a_recorded_failure() {
    let source = Scripted::new([fail(0, ErrorKind::InvalidGrant)]);
    let cache = CachedTokenSource::new(source.clone());
    cache.token().await.expect_err("invalid_grant");
    cache.insert(AccessToken::bearer("from-login").expect("token"));
    assert_eq!(name(&cache.token().await.expect("inserted")), "from-login");
    // After it is invalidated, the next call fetches instead of replaying the old error.
    let inserted = cache.current().expect("cached");
    cache.invalidate(&inserted);
    assert_eq!(name(&cache.token().await.expect("fetched")), "t2");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn invalidate_drops_only_the_current_token() {
    let source = Scripted::new([token(0, 3600), token(0, 3600)]);
    let cache = CachedTokenSource::new(source.clone());
    let t1 = cache.token().await.expect("t1");
    cache.invalidate(&t1);
    let t2 = cache.token().await.expect("t2");
    assert_eq!(name(&t2), "t2");
    // A late 401 for t1 must not throw away t2.
    cache.invalidate(&t1);
    assert!(cache.current().is_some_and(|t| t.same_as(&t2)));
    assert_eq!(source.fetches(), 2);
}

/// Records what it was asked to invalidate (a tier below the cache, such as a fleet cache).
struct Recording(std::sync::Mutex<Vec<String>>);

impl TokenSource for Recording {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async { AccessToken::bearer("current") })
    }

    fn invalidate(&self, token: &AccessToken) {
        self.0
            .lock()
            .expect("recorded")
            .push(token.header_value().to_str().unwrap_or("?").to_owned());
    }
}

#[tokio::test]
async fn invalidating_the_cached_token_reaches_the_source_below_once() {
    let cache = CachedTokenSource::new(Recording(std::sync::Mutex::new(Vec::new())));
    let cached = cache.token().await.expect("token");
    cache.invalidate(&cached);
    // Already dropped: a late 401 for it reaches nobody.
    cache.invalidate(&cached);
    let other = AccessToken::bearer("never-cached").expect("token");
    cache.invalidate(&other);
    assert_eq!(
        *cache.source().0.lock().expect("recorded"),
        ["Bearer current"]
    );
}

#[tokio::test(start_paused = true)]
async fn refresh_now_replaces_a_fresh_token_and_joins_a_running_fetch() {
    let source = Scripted::new([token(0, 3600), token(100, 3600)]);
    let cache = CachedTokenSource::new(source.clone());
    cache.token().await.expect("t1");
    let (a, b) = tokio::join!(cache.refresh_now(), cache.refresh_now());
    assert_eq!(name(&a.expect("t2")), "t2");
    assert_eq!(name(&b.expect("t2")), "t2");
    assert_eq!(source.fetches(), 2);
    assert_eq!(name(&cache.current().expect("t2")), "t2");
}

#[tokio::test(start_paused = true)]
async fn a_fetch_that_hangs_times_out_for_every_waiter() {
    let source = Scripted::new([token(10_000_000, 3600)]);
    let cache = CachedTokenSource::with_config(
        source.clone(),
        exact().fetch_timeout(Duration::from_secs(5)),
    );
    let err = cache.token().await.expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.to_string().contains("5s"));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_source_fails_the_waiters_and_the_next_call_fetches_again() {
    let source = Scripted::new([Step::Panic, token(0, 3600)]);
    let cache = CachedTokenSource::new(source.clone());
    let err = cache.token().await.expect_err("panic becomes an error");
    assert_eq!(err.kind(), ErrorKind::TokenEndpoint);
    assert_eq!(name(&cache.token().await.expect("t2")), "t2");
}

#[test]
fn runtime_shutdown_during_a_fetch_fails_waiters_instead_of_hanging() {
    let source = Scripted::new([token(60_000, 3600), token(0, 3600)]);
    let cache = CachedTokenSource::new(source.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    {
        let cache = cache.clone();
        runtime.block_on(async move {
            // Start the fetch, then leave it running when the runtime goes away.
            tokio::spawn(async move { cache.token().await });
            tokio::task::yield_now().await;
        });
    }
    drop(runtime);
    // The fetch died with the runtime; a caller on a new runtime fetches afresh.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let token = runtime
        .block_on(cache.token())
        .expect("fresh fetch on the new runtime");
    assert_eq!(name(&token), "t2");
}

#[test]
fn without_a_runtime_token_is_a_typed_error_not_a_panic() {
    let cache = CachedTokenSource::new(Scripted::default());
    let fut = cache.token();
    // Poll it on a minimal executor with no Tokio runtime.
    let err = futures_block_on(fut).expect_err("no runtime");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(cache.current().is_none());
}

#[test]
fn debug_shows_state_but_not_the_token() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cache = CachedTokenSource::new(StaticSecret);
    rt.block_on(cache.token()).expect("token");
    let text = format!("{cache:?}");
    assert!(text.contains("CachedTokenSource"));
    assert!(!text.contains("canary-cache-secret"));
}

struct StaticSecret;

impl TokenSource for StaticSecret {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async { AccessToken::bearer("canary-cache-secret") })
    }
}

/// Joins futures without pulling in `futures-util`.
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}

/// A tiny executor with no Tokio runtime behind it.
fn futures_block_on<F: std::future::Future>(fut: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    for _ in 0..1000 {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete without a runtime");
}
