//! [`CachedTokenSource`]: reuse, share and refresh the tokens of any [`TokenSource`].
//!
//! - **Fast path**: one `ArcSwap` load, no lock, no allocation; for a reader that asks again and
//!   again (a service), a [`TokenView`](crate::TokenView): one atomic load per request while the
//!   token stays the same, and no clock read when the entry was stored inside a multi-thread
//!   runtime (a timer then marks the end of its lease, see [`view`](crate::view)).
//! - **Skew**: a token is never handed out within `skew` of its expiry.
//! - **Single flight**: any number of concurrent callers cause exactly one fetch. The fetch runs
//!   as its own task, so a caller that is cancelled never cancels or stalls it.
//! - **Proactive refresh**: in the last part of a token's life one background refresh starts
//!   while the current token keeps being served, so callers do not wait for the token endpoint.
//! - **Failures** reach every waiting caller; retries back off with jitter; a still-valid token
//!   keeps being served; errors that cannot heal (`invalid_client`, `invalid_grant`) are not
//!   retried in a loop.
//!
//! ```
//! use auth_core::{AccessToken, CachedTokenSource, FnTokenSource, TokenSource};
//! use std::{sync::atomic::{AtomicUsize, Ordering}, sync::Arc, time::Duration};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::AuthError> {
//! let fetches = Arc::new(AtomicUsize::new(0));
//! let counter = fetches.clone();
//! let source = CachedTokenSource::new(FnTokenSource::new(move || {
//!     counter.fetch_add(1, Ordering::SeqCst);
//!     async { AccessToken::builder("t").expires_in(Duration::from_secs(3600)).build() }
//! }));
//! let (a, b) = tokio::join!(source.token(), source.token());
//! assert!(a?.same_as(&b?));
//! assert_eq!(fetches.load(Ordering::SeqCst), 1);
//! # Ok(()) }
//! ```

use std::{
    fmt,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use arc_swap::ArcSwapOption;
use tokio::{sync::watch, time::Instant};

use crate::{AccessToken, AuthError, ErrorKind, Lease, TokenFuture, TokenSource};

pub mod config;
mod lease;
pub mod telemetry;

pub use config::CacheConfig;
pub use telemetry::{CacheSnapshot, FetchTrigger};

/// Emits a tracing event when the `tracing` feature is on; nothing otherwise.
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::$level!(target: "tower_auth::cache", $($arg)*);
    };
}

/// A [`TokenSource`] that caches the tokens of another one; see the [module docs](self).
///
/// Cloning is cheap and clones share one cache.
pub struct CachedTokenSource<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for CachedTokenSource<S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<S> {
    source: S,
    config: CacheConfig,
    entry: ArcSwapOption<Entry>,
    /// The generation of `entry` (see [`TokenSource::generation`]): a new one is taken after
    /// each change of `entry`, so a reader that sees it sees the entry it names (or a newer one).
    generation: AtomicU64,
    /// A fetch is in flight; read without the lock on the fast path.
    fetching: AtomicBool,
    /// A setting that did not fit a token's life was logged; it is logged once per cache.
    warned_cut: AtomicBool,
    flight: Mutex<Flight>,
}

/// A cached token and the instants derived from it once, when it was stored.
struct Entry {
    token: AccessToken,
    /// From here on a background refresh is due.
    refresh_at: Instant,
    /// From here on the token is not handed out (expiry minus skew).
    stale_at: Instant,
}

type FetchResult = Option<Result<AccessToken, AuthError>>;

#[derive(Default)]
struct Flight {
    inflight: Option<watch::Receiver<FetchResult>>,
    /// The last failure and when the next attempt is allowed.
    failure: Option<(AuthError, Instant)>,
    consecutive_failures: u32,
    counts: telemetry::Counts,
    /// Ends the current entry's watched generation (see [`lease`]).
    timer: lease::Timer,
}

impl<S: TokenSource> CachedTokenSource<S> {
    /// Caches `source` with the default [`CacheConfig`].
    pub fn new(source: S) -> Self {
        Self::with_config(source, CacheConfig::default())
    }

    /// Caches `source` with `config`.
    pub fn with_config(source: S, config: CacheConfig) -> Self {
        #[cfg(feature = "metrics")]
        telemetry::describe();
        Self {
            shared: Arc::new(Shared {
                source,
                config,
                entry: ArcSwapOption::empty(),
                generation: AtomicU64::new(crate::view::next_generation(false)),
                fetching: AtomicBool::new(false),
                warned_cut: AtomicBool::new(false),
                flight: Mutex::new(Flight::default()),
            }),
        }
    }

    /// The wrapped source.
    pub fn source(&self) -> &S {
        &self.shared.source
    }

    /// The configuration in force.
    pub fn config(&self) -> &CacheConfig {
        &self.shared.config
    }

    /// Fetches a new token now, even if the cached one is still fresh, ignoring any backoff;
    /// joins a fetch already in flight instead of starting a second one.
    pub async fn refresh_now(&self) -> Result<AccessToken, AuthError> {
        let rx = {
            let mut flight = self.shared.lock();
            match &flight.inflight {
                Some(rx) => rx.clone(),
                None => Shared::start_fetch(&self.shared, &mut flight, FetchTrigger::Forced)?,
            }
        };
        wait(rx).await
    }

    /// [`current`](TokenSource::current) with the clock already read: a keyed entry reads it
    /// once for its last use and for the freshness check.
    #[inline]
    pub(crate) fn current_at(&self, now: Instant) -> Option<AccessToken> {
        lease::watched_token(&self.shared).or_else(|| self.shared.fresh(now))
    }

    /// The cache's state now (token age and expiry, fetch and failure counts, the latest error
    /// kind), for health endpoints; it never holds a secret. With the `metrics` feature it also
    /// updates the [`TOKEN_EXPIRES_IN`](telemetry::TOKEN_EXPIRES_IN) gauge.
    pub fn snapshot(&self) -> CacheSnapshot {
        let now = Instant::now();
        let entry = self.shared.entry.load();
        let flight = self.shared.lock();
        let token = entry.as_ref().map(|e| &e.token);
        if let Some(token) = token {
            telemetry::expiry(self.shared.config.label(), token);
        }
        CacheSnapshot {
            token_age: token.map(|t| now.saturating_duration_since(t.issued_at())),
            expires_in: token
                .and_then(AccessToken::expires_at)
                .map(|at| at.saturating_duration_since(now)),
            fresh: entry.as_ref().is_some_and(|e| now < e.stale_at),
            fetches: flight.counts.fetches,
            failures: flight.counts.failures,
            consecutive_failures: flight.consecutive_failures,
            last_error: flight.failure.as_ref().map(|(e, _)| e.kind()),
            last_trigger: flight.counts.last_trigger,
            fetching: flight.inflight.is_some(),
        }
    }

    /// Puts a token obtained elsewhere into the cache (e.g. restored from a store, or from an
    /// interactive login). Any recorded failure and its backoff are cleared: the cache is
    /// healthy again.
    pub fn insert(&self, token: AccessToken) {
        let mut flight = self.shared.lock();
        self.shared.store(&mut flight, &token);
        flight.failure = None;
        flight.consecutive_failures = 0;
    }

    /// Drops the cached token, fresh or not, and returns it: after a sign-out or a revocation
    /// the next request fetches anew. A fetch already in flight is not cancelled (its token is
    /// cached when it arrives).
    pub fn clear(&self) -> Option<AccessToken> {
        let mut flight = self.shared.lock();
        let cleared = self.shared.entry.swap(None);
        flight.timer = lease::Timer::default();
        lease::unleased(&self.shared);
        cleared.map(|entry| entry.token.clone())
    }

    async fn token_slow(&self) -> Result<AccessToken, AuthError> {
        let rx = {
            let mut flight = self.shared.lock();
            // Re-check under the lock: a fetch may have completed since the fast path looked.
            if let Some(token) = self.shared.fresh(Instant::now()) {
                return Ok(token);
            }
            match &flight.inflight {
                Some(rx) => rx.clone(),
                None => {
                    if let Some((error, retry_at)) = &flight.failure
                        && Instant::now() < *retry_at
                    {
                        return Err(error.clone());
                    }
                    Shared::start_fetch(&self.shared, &mut flight, FetchTrigger::OnDemand)?
                }
            }
        };
        wait(rx).await
    }
}

impl<S: TokenSource> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Flight> {
        // The lock is never held across an await or user code, so poisoning cannot leave the
        // state half-updated; recover rather than panic.
        self.flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached token if it may be handed out at `now`, starting a background refresh when
    /// one is due.
    fn fresh(self: &Arc<Self>, now: Instant) -> Option<AccessToken> {
        let guard = self.entry.load();
        let entry = guard.as_ref()?;
        if now >= entry.stale_at {
            return None;
        }
        if now >= entry.refresh_at
            && self.config.proactive_refresh
            && !self.fetching.load(Ordering::Acquire)
        {
            self.start_background_refresh(now);
        }
        Some(entry.token.clone())
    }

    fn start_background_refresh(self: &Arc<Self>, now: Instant) {
        // try_lock: a contended lock means another caller is already deciding.
        let Ok(mut flight) = self.flight.try_lock() else {
            return;
        };
        if flight.inflight.is_some() {
            return;
        }
        if let Some((error, retry_at)) = &flight.failure {
            // Errors that cannot heal are retried only on demand, once the token is gone.
            if now < *retry_at || !error.is_transient() {
                return;
            }
        }
        event!(
            debug,
            "token enters its refresh window; refreshing in the background"
        );
        let _ = Shared::start_fetch(self, &mut flight, FetchTrigger::Background);
    }

    /// Starts the one fetch; the caller holds the flight lock and no fetch is in flight.
    fn start_fetch(
        this: &Arc<Self>,
        flight: &mut Flight,
        trigger: FetchTrigger,
    ) -> Result<watch::Receiver<FetchResult>, AuthError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(AuthError::new(
                ErrorKind::Config,
                "CachedTokenSource needs a Tokio runtime to fetch tokens",
            ));
        };
        let (tx, rx) = watch::channel(None);
        flight.inflight = Some(rx.clone());
        flight.counts.fetches = flight.counts.fetches.saturating_add(1);
        flight.counts.last_trigger = Some(trigger);
        this.fetching.store(true, Ordering::Release);
        let guard = FetchGuard {
            shared: Some(this.clone()),
        };
        runtime.spawn(async move {
            let mut guard = guard;
            let Some(shared) = guard.shared.as_ref() else {
                return;
            };
            event!(debug, trigger = trigger.as_str(), "fetching a token");
            let started = Instant::now();
            let fetch = tokio::time::timeout(shared.config.fetch_timeout, shared.source.token());
            // One span per fetch (the token request's own span nests in it); never a secret.
            #[cfg(feature = "tracing")]
            let fetch = tracing::Instrument::instrument(
                fetch,
                tracing::info_span!(
                    target: "tower_auth::cache",
                    "token_fetch",
                    connection = shared.config.label(),
                    trigger = trigger.as_str(),
                ),
            );
            let result = match fetch.await {
                Ok(result) => result,
                Err(_) => Err(AuthError::new(
                    ErrorKind::Timeout,
                    format!(
                        "the token fetch did not finish within {:?}",
                        shared.config.fetch_timeout
                    ),
                )),
            };
            telemetry::fetched(shared.config.label(), trigger, &result, started.elapsed());
            if let Some(shared) = guard.shared.take() {
                shared.complete(&result);
            }
            // Followers are woken only after the cache is updated.
            let _ = tx.send(Some(result));
        });
        Ok(rx)
    }

    /// Records the outcome of a fetch and ends the flight.
    fn complete(self: &Arc<Self>, result: &Result<AccessToken, AuthError>) {
        let mut flight = self.lock();
        flight.inflight = None;
        match result {
            Ok(token) => {
                self.store(&mut flight, token);
                flight.failure = None;
                flight.consecutive_failures = 0;
                event!(debug, expires_in = ?token.expires_at().map(|at| at.saturating_duration_since(Instant::now())), "token fetched");
            }
            Err(error) => {
                flight.consecutive_failures = flight.consecutive_failures.saturating_add(1);
                flight.counts.failures = flight.counts.failures.saturating_add(1);
                let delay = self
                    .config
                    .backoff_delay(error, flight.consecutive_failures);
                flight.failure = Some((error.clone(), Instant::now() + delay));
                let still_valid = self
                    .entry
                    .load()
                    .as_ref()
                    .is_some_and(|e| Instant::now() < e.stale_at);
                event!(warn, error = %error, retry_in = ?delay, still_valid, "token fetch failed");
                let _ = still_valid;
            }
        }
        self.fetching.store(false, Ordering::Release);
    }

    fn store(self: &Arc<Self>, flight: &mut Flight, token: &AccessToken) {
        let schedule = self.config.schedule(token, Instant::now());
        if let Some(cut) = schedule.cut
            && !self.warned_cut.swap(true, Ordering::Relaxed)
        {
            warn_cut(cut);
        }
        let entry = Entry {
            token: token.clone(),
            refresh_at: schedule.refresh_at,
            stale_at: schedule.stale_at,
        };
        let until = lease::until(&entry, &self.config);
        self.entry.store(Some(Arc::new(entry)));
        lease::publish(self, &mut flight.timer, until);
    }
}

/// Says which setting did not fit a token's life and what is used instead (once per cache).
fn warn_cut(cut: config::Cut) {
    match cut {
        config::Cut::Skew { skew, life, used } => {
            event!(
                warn,
                ?skew,
                ?life,
                effective_skew = ?used,
                "the token lives less than twice the skew; it is not handed out within half its \
                 life of expiry instead (lower the skew to silence this)"
            );
            let _ = (skew, life, used);
        }
        config::Cut::RefreshBefore { lead, life, used } => {
            event!(
                warn,
                refresh_before = ?lead,
                ?life,
                effective_refresh_before = ?used,
                "the token lives less than refresh_before; it is refreshed at half its life \
                 instead (lower refresh_before to silence this)"
            );
            let _ = (lead, life, used);
        }
    }
}

/// Ends the flight if the fetch task is dropped without completing (runtime shutdown, a panic
/// in the source), so waiters get an error instead of hanging and the next call fetches again.
struct FetchGuard<S: TokenSource> {
    shared: Option<Arc<Shared<S>>>,
}

impl<S: TokenSource> Drop for FetchGuard<S> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let mut flight = shared.lock();
            flight.inflight = None;
            shared.fetching.store(false, Ordering::Release);
        }
    }
}

async fn wait(mut rx: watch::Receiver<FetchResult>) -> Result<AccessToken, AuthError> {
    match rx.wait_for(Option::is_some).await {
        Ok(value) => match &*value {
            Some(result) => result.clone(),
            None => Err(abandoned()),
        },
        Err(_) => Err(abandoned()),
    }
}

fn abandoned() -> AuthError {
    AuthError::new(
        ErrorKind::TokenEndpoint,
        "the token fetch ended without a result (runtime shutting down, or the token source \
         panicked)",
    )
}

impl<S: TokenSource> TokenSource for CachedTokenSource<S> {
    fn token(&self) -> TokenFuture<'_> {
        if let Some(token) = self.current() {
            return Box::pin(std::future::ready(Ok(token)));
        }
        Box::pin(self.token_slow())
    }

    fn current(&self) -> Option<AccessToken> {
        lease::watched_token(&self.shared).or_else(|| self.shared.fresh(Instant::now()))
    }

    fn invalidate(&self, token: &AccessToken) {
        let current = self.shared.entry.load();
        if let Some(entry) = current.as_ref()
            && entry.token.same_as(token)
        {
            event!(
                debug,
                connection = self.shared.config.label(),
                "token rejected by the server; dropping it from the cache"
            );
            telemetry::invalidated(self.shared.config.label());
            self.shared.entry.compare_and_swap(&*current, None);
            lease::unleased(&self.shared);
            // A tier below (a fleet cache shared with other processes) drops it too.
            self.shared.source.invalidate(token);
        }
    }

    #[inline]
    fn generation(&self) -> Option<u64> {
        Some(self.shared.generation.load(Ordering::Acquire))
    }

    /// Holds until the token's refresh window opens (with proactive refresh off, until it is
    /// no longer handed out): from there on `current` may start a refresh. See
    /// [the view module](crate::view).
    fn lease(&self) -> Option<Lease> {
        lease::lease(&self.shared)
    }
}

impl<S> fmt::Debug for CachedTokenSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entry = self.shared.entry.load();
        f.debug_struct("CachedTokenSource")
            .field("config", &self.shared.config)
            .field("cached", &entry.as_ref().map(|e| &e.token))
            .field("fetching", &self.shared.fetching.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod timing_tests;
