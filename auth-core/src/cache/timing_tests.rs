//! Tests of the refresh timing a user states ([`CacheConfig::refresh_before`]) and of the
//! warning logged when a setting does not fit a token's life.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
    time::Duration,
};

use tokio::time::{Instant, advance, sleep};

use super::*;

/// A token endpoint that takes `delay` and hands out tokens living `lifetime`, recording when
/// each fetch started.
#[derive(Clone)]
pub(crate) struct Endpoint {
    delay: Duration,
    lifetime: Duration,
    started: Arc<Mutex<Vec<Instant>>>,
}

impl Endpoint {
    pub(crate) fn new(delay: Duration, lifetime: Duration) -> Self {
        Self {
            delay,
            lifetime,
            started: Arc::default(),
        }
    }

    pub(crate) fn started(&self) -> Vec<Instant> {
        self.started.lock().expect("lock").clone()
    }
}

impl TokenSource for Endpoint {
    fn token(&self) -> crate::TokenFuture<'_> {
        let n = {
            let mut started = self.started.lock().expect("lock");
            started.push(Instant::now());
            started.len()
        };
        Box::pin(async move {
            sleep(self.delay).await;
            AccessToken::builder(format!("t{n}"))
                .expires_in(self.lifetime)
                .build()
        })
    }
}

/// Polls `future` once: `Some` when it completed without waiting.
fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

#[tokio::test(start_paused = true)]
async fn refresh_before_starts_the_refresh_that_long_before_expiry_and_no_request_waits() {
    let lead = Duration::from_secs(10);
    let jitter_window = lead / 4;
    let mut starts = Vec::new();
    for _ in 0..20 {
        let endpoint = Endpoint::new(Duration::from_millis(200), Duration::from_secs(60));
        let cache = CachedTokenSource::with_config(
            endpoint.clone(),
            CacheConfig::default().refresh_before(lead),
        );
        // Only the very first request waits: there is no token yet.
        let first = cache.token().await.expect("first token");
        let expires_at = first.expires_at().expect("expiry");
        // Requests land on a 100 ms grid that meets `expiry - lead` exactly.
        let step = Duration::from_millis(100);
        let left = expires_at - Instant::now();
        advance(left - step * (left.as_nanos() / step.as_nanos()) as u32).await;
        // A request every 100 ms for 70 s, through the old token's expiry and past it.
        for _ in 0..700 {
            advance(step).await;
            let token = ready_now(cache.token()).unwrap_or_else(|| {
                panic!(
                    "a request waited for the token endpoint {:?} before expiry",
                    expires_at.saturating_duration_since(Instant::now())
                )
            });
            token.expect("token");
            // A refresh this request started runs now, at this instant.
            tokio::task::yield_now().await;
        }
        let started = endpoint.started();
        assert_eq!(started.len(), 2, "one background refresh in 70 s");
        let refresh = started[1];
        assert!(
            refresh >= expires_at - lead - jitter_window && refresh <= expires_at - lead,
            "the refresh started {:?} before expiry, outside [{lead:?}, {:?}]",
            expires_at - refresh,
            lead + jitter_window
        );
        starts.push(expires_at - refresh);
    }
    starts.sort();
    starts.dedup();
    assert!(starts.len() > 1, "jitter spreads the refreshes: {starts:?}");
}

#[tokio::test(start_paused = true)]
async fn without_jitter_refresh_before_is_exact_and_the_token_is_served_until_half_the_lead() {
    let config = CacheConfig::default()
        .jitter(false)
        .refresh_before(Duration::from_secs(10));
    let now = Instant::now();
    let token = AccessToken::builder("t")
        .expires_in(Duration::from_secs(60))
        .build()
        .expect("token");
    let schedule = config.schedule(&token, now);
    assert_eq!(schedule.refresh_at - now, Duration::from_secs(50));
    assert_eq!(schedule.stale_at - now, Duration::from_secs(55));
    assert_eq!(schedule.cut, None);
    // A smaller skew than half the lead is kept.
    let schedule = config
        .clone()
        .skew(Duration::from_secs(2))
        .schedule(&token, now);
    assert_eq!(schedule.stale_at - now, Duration::from_secs(58));
}

#[tokio::test(start_paused = true)]
async fn a_lead_longer_than_the_token_refreshes_at_half_its_life() {
    let config = CacheConfig::default()
        .jitter(false)
        .refresh_before(Duration::from_secs(10));
    let now = Instant::now();
    let token = AccessToken::builder("t")
        .expires_in(Duration::from_secs(4))
        .build()
        .expect("token");
    let schedule = config.schedule(&token, now);
    assert_eq!(schedule.refresh_at - now, Duration::from_secs(2));
    assert_eq!(schedule.stale_at - now, Duration::from_secs(3));
    assert_eq!(
        schedule.cut,
        Some(config::Cut::RefreshBefore {
            lead: Duration::from_secs(10),
            life: Duration::from_secs(4),
            used: Duration::from_secs(2),
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_zero_lead_uses_the_token_until_expiry_without_background_refresh() {
    let endpoint = Endpoint::new(Duration::ZERO, Duration::from_secs(60));
    let cache = CachedTokenSource::with_config(
        endpoint.clone(),
        CacheConfig::default().refresh_before(Duration::ZERO),
    );
    cache.token().await.expect("t1");
    advance(Duration::from_millis(59_900)).await;
    assert!(cache.current().is_some(), "served until expiry");
    assert_eq!(endpoint.started().len(), 1, "no background refresh");
    advance(Duration::from_millis(100)).await;
    assert!(cache.current().is_none());
}

#[cfg(feature = "tracing")]
mod warnings {
    use std::io::Write;

    use super::*;

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl Log {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("log")).into_owned()
        }
    }

    impl Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Captures what this thread logs while `log` lives (the runtime is current-thread, so
    /// the fetch tasks run here too).
    fn capture() -> (Log, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_skew_is_logged_once_per_cache_with_the_value_used() {
        let (log, _guard) = capture();
        let endpoint = Endpoint::new(Duration::ZERO, Duration::from_secs(2));
        let cache = CachedTokenSource::new(endpoint.clone());
        for _ in 0..3 {
            cache.refresh_now().await.expect("token");
        }
        assert_eq!(endpoint.started().len(), 3);
        let text = log.text();
        assert_eq!(
            text.matches("less than twice the skew").count(),
            1,
            "once, not per fetch: {text}"
        );
        assert!(text.contains("effective_skew=1s"), "{text}");
        assert!(text.contains("skew=30s"), "{text}");
        // Another cache (another connection) says it again.
        let other = CachedTokenSource::new(endpoint.clone());
        other.token().await.expect("token");
        assert_eq!(log.text().matches("less than twice the skew").count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_refresh_before_is_logged_once_with_the_lead_used() {
        let (log, _guard) = capture();
        let endpoint = Endpoint::new(Duration::ZERO, Duration::from_secs(4));
        let cache = CachedTokenSource::with_config(
            endpoint.clone(),
            CacheConfig::default().refresh_before(Duration::from_secs(10)),
        );
        for _ in 0..3 {
            cache.refresh_now().await.expect("token");
        }
        let text = log.text();
        assert_eq!(
            text.matches("less than refresh_before").count(),
            1,
            "once, not per fetch: {text}"
        );
        assert!(text.contains("effective_refresh_before=2s"), "{text}");
        assert!(!text.contains("twice the skew"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_that_fits_logs_nothing() {
        let (log, _guard) = capture();
        let cache = CachedTokenSource::with_config(
            Endpoint::new(Duration::ZERO, Duration::from_secs(60)),
            CacheConfig::default().refresh_before(Duration::from_secs(10)),
        );
        cache.token().await.expect("token");
        let default =
            CachedTokenSource::new(Endpoint::new(Duration::ZERO, Duration::from_secs(3600)));
        default.token().await.expect("token");
        assert_eq!(log.text(), "");
    }
}
