//! Watched generations: taken only where a timer can run, ended by the timer in time, by a
//! runtime's shutdown, and never by the timer of an entry already replaced.

use std::{sync::mpsc, time::Duration};

use tokio::runtime::{Builder, Runtime};

use super::*;
use crate::{
    AccessToken, CacheConfig, CachedTokenSource, StaticTokenSource, TokenSource, TokenView,
};

fn token(name: &str, life: Duration) -> AccessToken {
    AccessToken::builder(name.to_owned())
        .expires_in(life)
        .build()
        .expect("token")
}

fn multi_thread(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .expect("runtime")
}

/// A cache whose lease ends when the token stops being handed out, 100 ms before expiry.
fn cache() -> CachedTokenSource<StaticTokenSource> {
    CachedTokenSource::with_config(
        StaticTokenSource::new(token("unused", Duration::from_secs(3600))),
        CacheConfig::default()
            .proactive_refresh(false)
            .skew(Duration::from_millis(100)),
    )
}

fn generation(cache: &CachedTokenSource<StaticTokenSource>) -> u64 {
    cache.generation().expect("a cache names its generations")
}

/// Waits (bounded) until the cache's generation is unwatched; how long that took.
fn until_unwatched(cache: &CachedTokenSource<StaticTokenSource>, bound: Duration) -> Duration {
    let started = std::time::Instant::now();
    while is_watched(generation(cache)) {
        assert!(started.elapsed() < bound, "still watched after {bound:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

#[test]
fn outside_a_multi_thread_runtime_generations_are_unwatched() {
    let cache = cache();
    cache.insert(token("no-runtime", Duration::from_secs(3600)));
    assert!(!is_watched(generation(&cache)));
    let current_thread = Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    current_thread.block_on(async {
        cache.insert(token("current-thread", Duration::from_secs(3600)));
    });
    assert!(!is_watched(generation(&cache)), "a current-thread runtime");
    let runtime = multi_thread(1);
    let _entered = runtime.enter();
    // Too close to its end for a timer to help.
    cache.insert(token("short", MARGIN + Duration::from_millis(50)));
    assert!(!is_watched(generation(&cache)));
    cache.insert(token("long", Duration::from_secs(3600)));
    assert!(is_watched(generation(&cache)));
    // Dropping the entry leaves nothing watched.
    cache.clear();
    assert!(!is_watched(generation(&cache)));
}

/// The timer ends the watched generation `MARGIN` before the lease's end; from then on a view
/// reads the clock, and stops answering when the token stops being handed out.
#[test]
fn the_timer_ends_the_watched_generation_a_margin_before_the_lease_ends() {
    let runtime = multi_thread(1);
    let cache = cache();
    let life = Duration::from_millis(1_700);
    {
        let _entered = runtime.enter();
        cache.insert(token("t", life));
    }
    let stored = std::time::Instant::now();
    let watched = generation(&cache);
    assert!(is_watched(watched));
    let mut view = TokenView::new();
    assert!(view.current(&cache).is_some());
    let lease = cache.lease().expect("a lease");
    assert_eq!(lease.generation(), watched);
    let took = until_unwatched(&cache, Duration::from_secs(10));
    // The lease ends 100 ms before expiry; the timer fires a margin before that.
    let fires_after = life - Duration::from_millis(100) - MARGIN;
    assert!(
        took + Duration::from_millis(20) >= fires_after,
        "unwatched after {took:?}, before the timer was due ({fires_after:?})"
    );
    // Still handed out, through a clock-checked lease, until 100 ms before expiry.
    let token = view.current(&cache).expect("still fresh");
    assert_eq!(
        token.header_value(),
        "Bearer t",
        "unwatched after {:?}",
        stored.elapsed()
    );
    let lease = cache.lease().expect("an unwatched lease");
    assert!(!is_watched(lease.generation()));
    while std::time::Instant::now() < stored + life {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(view.current(&cache).is_none(), "no longer handed out");
}

/// A timer that cannot run on time (the only worker is busy) lets no reader past its margin:
/// `lease` stops handing out the watched generation, so views ask `current`; the generation is
/// unwatched as soon as the timer runs.
#[test]
fn a_late_timer_makes_readers_ask_current() {
    let runtime = multi_thread(1);
    let cache = cache();
    let life = MARGIN + Duration::from_millis(600);
    let (release, blocked) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    {
        let _entered = runtime.enter();
        cache.insert(token("t", life));
    }
    let stored = std::time::Instant::now();
    assert!(is_watched(generation(&cache)));
    // Occupy the only worker, so the timer cannot fire.
    runtime.spawn(async move {
        let _ = started_tx.send(());
        let _ = blocked.recv_timeout(Duration::from_secs(20));
    });
    started
        .recv_timeout(Duration::from_secs(10))
        .expect("worker blocked");
    // Past the timer's instant (lease end minus the margin): 500 ms after storing.
    while stored.elapsed() < Duration::from_millis(600) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(is_watched(generation(&cache)), "the timer cannot have run");
    assert!(
        cache.lease().is_none(),
        "a late timer's generation is not leased"
    );
    let mut fresh_view = TokenView::new();
    assert_eq!(
        fresh_view
            .current(&cache)
            .expect("still fresh")
            .header_value(),
        "Bearer t"
    );
    release.send(()).expect("release the worker");
    until_unwatched(&cache, Duration::from_secs(10));
    assert!(cache.lease().is_some(), "leased again, clock-checked");
}

#[test]
fn a_runtime_shutting_down_unwatches_its_timers_generation() {
    let runtime = multi_thread(1);
    let cache = cache();
    {
        let _entered = runtime.enter();
        cache.insert(token("t", Duration::from_secs(3600)));
    }
    assert!(is_watched(generation(&cache)));
    drop(runtime);
    assert!(!is_watched(generation(&cache)));
    assert!(cache.lease().is_some());
}

/// Replacing the entry cancels its timer; the old timer never ends the new entry's
/// generation.
#[test]
fn a_replaced_entrys_timer_leaves_the_new_generation_alone() {
    let runtime = multi_thread(1);
    let cache = cache();
    let _entered = runtime.enter();
    cache.insert(token("short", MARGIN + Duration::from_millis(400)));
    assert!(is_watched(generation(&cache)));
    cache.insert(token("long", Duration::from_secs(3600)));
    let long = generation(&cache);
    assert!(is_watched(long));
    // Past the first entry's timer instant.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(generation(&cache), long);
}

/// With `lease_timer(false)`, and for a keyed source's caches, no timer: unwatched.
#[test]
fn without_lease_timers_generations_stay_unwatched() {
    let runtime = multi_thread(1);
    let _entered = runtime.enter();
    let cache = CachedTokenSource::with_config(
        StaticTokenSource::new(token("unused", Duration::from_secs(3600))),
        CacheConfig::default().lease_timer(false),
    );
    cache.insert(token("t", Duration::from_secs(3600)));
    assert!(!is_watched(generation(&cache)));
    let keyed = crate::KeyedTokenSource::builder(|_: &crate::TokenKey| {
        Ok(StaticTokenSource::new(token(
            "unused",
            Duration::from_secs(3600),
        )))
    })
    .build();
    let entry = keyed.source(&crate::TokenKey::new("alice")).expect("entry");
    entry
        .cache()
        .insert(token("alice", Duration::from_secs(3600)));
    assert_eq!(entry.generation().map(is_watched), Some(false));
    assert!(entry.current().is_some());
}
