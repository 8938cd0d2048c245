//! A view answers what the source's `current` answers, at every instant of a token's life,
//! under concurrent changes, and never with another source's token.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::time::{Instant, advance};

use super::*;
use crate::{CacheConfig, CachedTokenSource, StaticTokenSource, cache::timing_tests::Endpoint};

fn bearer(name: &str) -> AccessToken {
    AccessToken::builder(name.to_owned())
        .expires_in(Duration::from_secs(3600))
        .build()
        .expect("token")
}

fn name(token: &AccessToken) -> String {
    let value = token.header_value().to_str().expect("ascii");
    value.trim_start_matches("Bearer ").to_owned()
}

/// Steps through three token lives in 100 ms steps, every request reading through the view
/// only: every request has a token at once, none is handed out within the skew of its expiry,
/// and the view starts each background refresh inside the refresh window, as `current` does.
#[tokio::test(start_paused = true)]
async fn through_token_lives_the_view_refreshes_in_the_window_and_never_hands_out_a_stale_token() {
    let lifetime = Duration::from_secs(60);
    let lead = Duration::from_secs(10);
    let skew = Duration::from_secs(2);
    let endpoint = Endpoint::new(Duration::from_millis(200), lifetime);
    let cache = CachedTokenSource::with_config(
        endpoint.clone(),
        CacheConfig::default().refresh_before(lead).skew(skew),
    );
    let first = cache.token().await.expect("first token");
    let mut view = TokenView::new();
    let mut seen = vec![name(&first)];
    let mut expiries = vec![first.expires_at().expect("expiry")];
    for _ in 0..(3 * 600) {
        advance(Duration::from_millis(100)).await;
        let token = view.current(&cache).expect("a token at every step");
        let expires_at = token.expires_at().expect("expiry");
        assert!(
            Instant::now() + skew <= expires_at,
            "{} handed out within the skew of its expiry",
            name(&token)
        );
        if seen.last() != Some(&name(&token)) {
            seen.push(name(&token));
            expiries.push(expires_at);
        }
    }
    assert_eq!(seen, ["t1", "t2", "t3", "t4"]);
    let started = endpoint.started();
    assert_eq!(started.len(), 4, "one fetch per life: {started:?}");
    for (start, expiry) in started[1..].iter().zip(&expiries) {
        // The refresh starts `lead` before expiry, jittered earlier by at most a quarter of it,
        // at the first request from there on (100 ms apart).
        let window_opens = *expiry - lead - lead / 4;
        assert!(*start >= window_opens, "refresh started before its window");
        assert!(
            *start <= *expiry - lead + Duration::from_millis(100),
            "refresh started late: {:?} before expiry",
            *expiry - *start
        );
    }
}

/// With proactive refresh off, the view answers until the token is no longer handed out, then
/// has none (as `current`), and sees the next fetch's token at once.
#[tokio::test(start_paused = true)]
async fn without_proactive_refresh_the_lease_ends_where_the_token_stops_being_handed_out() {
    let endpoint = Endpoint::new(Duration::from_millis(200), Duration::from_secs(60));
    let cache = CachedTokenSource::with_config(
        endpoint.clone(),
        CacheConfig::default()
            .proactive_refresh(false)
            .skew(Duration::from_secs(5)),
    );
    cache.token().await.expect("first token");
    let mut view = TokenView::new();
    advance(Duration::from_millis(54_900)).await;
    assert_eq!(
        view.current(&cache).map(|t| name(&t)).as_deref(),
        Some("t1")
    );
    advance(Duration::from_millis(100)).await;
    assert!(view.current(&cache).is_none(), "within the skew");
    assert!(cache.current().is_none());
    assert_eq!(endpoint.started().len(), 1, "the view never fetches");
    cache.token().await.expect("second token");
    assert_eq!(
        view.current(&cache).map(|t| name(&t)).as_deref(),
        Some("t2")
    );
}

#[tokio::test]
async fn insert_clear_and_invalidate_are_seen_at_once() {
    let cache = CachedTokenSource::new(StaticTokenSource::new(bearer("unused")));
    let mut view = TokenView::new();
    assert!(view.current(&cache).is_none());
    cache.insert(bearer("a"));
    let a = view.current(&cache).expect("a");
    assert_eq!(name(&a), "a");
    cache.invalidate(&a);
    assert!(view.current(&cache).is_none(), "invalidated");
    cache.insert(bearer("b"));
    assert_eq!(view.current(&cache).map(|t| name(&t)).as_deref(), Some("b"));
    // Invalidating a token that was already replaced leaves the view on the current one.
    cache.invalidate(&a);
    assert_eq!(view.current(&cache).map(|t| name(&t)).as_deref(), Some("b"));
    cache.clear();
    assert!(view.current(&cache).is_none(), "cleared");
}

/// Generations are unique across sources: one view read from two caches answers each with its
/// own token, and a clone of a view answers from the lease it copied.
#[tokio::test]
async fn a_view_never_answers_with_another_sources_token() {
    let a = CachedTokenSource::new(StaticTokenSource::new(bearer("unused")));
    let b = CachedTokenSource::new(StaticTokenSource::new(bearer("unused")));
    a.insert(bearer("a"));
    b.insert(bearer("b"));
    let mut view = TokenView::new();
    for _ in 0..3 {
        assert_eq!(view.current(&a).map(|t| name(&t)).as_deref(), Some("a"));
        assert_eq!(view.current(&b).map(|t| name(&t)).as_deref(), Some("b"));
    }
    let mut clone = view.clone();
    assert_eq!(clone.current(&b).map(|t| name(&t)).as_deref(), Some("b"));
    // Through the erased source too.
    let erased: Arc<dyn TokenSource> = Arc::new(a.clone());
    assert_eq!(
        clone.current(&erased).map(|t| name(&t)).as_deref(),
        Some("a")
    );
    a.insert(bearer("a2"));
    assert_eq!(
        clone.current(&erased).map(|t| name(&t)).as_deref(),
        Some("a2")
    );
}

/// A source that does not name its generations is asked every time.
#[test]
fn a_source_without_generations_is_asked_every_time() {
    struct Counting(AtomicUsize);
    impl TokenSource for Counting {
        fn token(&self) -> crate::TokenFuture<'_> {
            Box::pin(async { Err(crate::AuthError::new(crate::ErrorKind::Config, "unused")) })
        }
        fn current(&self) -> Option<AccessToken> {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            Some(bearer(&format!("c{n}")))
        }
    }
    let source = Counting(AtomicUsize::new(0));
    let mut view = TokenView::new();
    let names: Vec<String> = (0..3)
        .map(|_| name(&view.current(&source).expect("token")))
        .collect();
    assert_eq!(names, ["c0", "c1", "c2"]);
    let fixed = StaticTokenSource::new(bearer("s"));
    assert_eq!(view.current(&fixed).map(|t| name(&t)).as_deref(), Some("s"));
}

/// A writer stores tokens 1..=N one after the other, publishing each number once stored;
/// readers on other threads (one through its own view, one through `current`) never see a token
/// older than the last number published before they asked. `watched`: the writer stores inside
/// a multi-thread runtime, so every generation is watched and no reader reads the clock.
fn readers_never_see_a_replaced_token(watched: bool) {
    const TOKENS: usize = 2_000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("runtime");
    let _entered = watched.then(|| runtime.enter());
    let cache = CachedTokenSource::new(StaticTokenSource::new(bearer("unused")));
    cache.insert(bearer("0"));
    assert_eq!(cache.generation().map(|g| g % 2 == 1), Some(watched));
    let published = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = [true, false]
        .into_iter()
        .map(|through_view| {
            let cache = cache.clone();
            let published = published.clone();
            std::thread::spawn(move || {
                let mut view = TokenView::new();
                let mut reads = 0usize;
                loop {
                    let floor = published.load(Ordering::Acquire);
                    let token = if through_view {
                        view.current(&cache)
                    } else {
                        cache.current()
                    };
                    let got: usize = name(&token.expect("always a token"))
                        .parse()
                        .expect("a number");
                    assert!(got >= floor, "read {got} after {floor} was stored");
                    reads += 1;
                    if floor == TOKENS {
                        return reads;
                    }
                }
            })
        })
        .collect();
    for n in 1..=TOKENS {
        cache.insert(bearer(&n.to_string()));
        published.store(n, Ordering::Release);
    }
    for reader in readers {
        let reads = reader.join().expect("reader");
        assert!(reads > 0);
    }
}

#[test]
fn under_concurrent_changes_no_reader_answers_with_a_replaced_token() {
    readers_never_see_a_replaced_token(false);
}

#[test]
fn under_concurrent_changes_of_watched_generations_no_reader_answers_with_a_replaced_token() {
    readers_never_see_a_replaced_token(true);
}

#[test]
fn debug_names_no_secret() {
    let cache = CachedTokenSource::new(StaticTokenSource::new(bearer("unused")));
    cache.insert(bearer("view-canary-secret"));
    let mut view = TokenView::new();
    view.current(&cache).expect("token");
    let printed = format!("{view:?}");
    assert!(printed.contains("leased: true"), "{printed}");
    assert!(!printed.contains("view-canary-secret"), "{printed}");
}
