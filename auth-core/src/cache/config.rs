//! The tunables of [`CachedTokenSource`](super::CachedTokenSource), each with its default.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{AccessToken, AuthError};

/// Default expiry skew: a token is not handed out within 30 seconds of its expiry.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(30);
/// Default share of a token's life, at its end, in which a background refresh starts: 25%.
pub const DEFAULT_REFRESH_FRACTION: f64 = 0.25;
/// Default cap on the refresh window: 5 minutes.
pub const DEFAULT_MAX_REFRESH_WINDOW: Duration = Duration::from_secs(300);
/// Default lifetime of tokens that come without an expiry: 15 minutes.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(900);
/// Default deadline for one fetch: 60 seconds.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// Default first retry delay after a failed fetch: 1 second.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Default cap on retry delays after transient failures: 60 seconds.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Default delay before retrying an error that cannot heal by itself: 5 minutes.
pub const DEFAULT_PERMANENT_FAILURE_DELAY: Duration = Duration::from_secs(300);
/// Default cap on a server's `Retry-After`: 5 minutes.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// A token is always usable for at least this long after it arrives, whatever its expiry says,
/// so a provider that sends `expires_in: 0` cannot cause a fetch storm.
pub const MIN_USABLE_LIFETIME: Duration = Duration::from_secs(1);

/// Settings of a [`CachedTokenSource`](super::CachedTokenSource).
///
/// ```
/// use auth_core::CacheConfig;
/// use std::time::Duration;
///
/// let config = CacheConfig::default()
///     .skew(Duration::from_secs(10))
///     .default_lifetime(Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub(crate) skew: Duration,
    pub(crate) refresh_fraction: f64,
    pub(crate) max_refresh_window: Duration,
    pub(crate) refresh_before: Option<Duration>,
    pub(crate) proactive_refresh: bool,
    pub(crate) jitter: bool,
    pub(crate) lease_timer: bool,
    pub(crate) default_lifetime: Duration,
    pub(crate) fetch_timeout: Duration,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) permanent_failure_delay: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) name: Option<Arc<str>>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            skew: DEFAULT_SKEW,
            refresh_fraction: DEFAULT_REFRESH_FRACTION,
            max_refresh_window: DEFAULT_MAX_REFRESH_WINDOW,
            refresh_before: None,
            proactive_refresh: true,
            jitter: true,
            lease_timer: true,
            default_lifetime: DEFAULT_LIFETIME,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            permanent_failure_delay: DEFAULT_PERMANENT_FAILURE_DELAY,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            name: None,
        }
    }
}

impl CacheConfig {
    /// The name metrics and tracing report this cache under (their `connection` label): the
    /// connection's name, never a secret. Unset by default (reported as `unnamed`); a
    /// configuration's connections are named after their key.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// The name given with [`name`](Self::name), or `unnamed`.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(super::telemetry::UNNAMED)
    }

    /// A token is not handed out within `skew` of its expiry. Defaults to 30 seconds.
    ///
    /// For tokens that live less than twice the skew, half their lifetime is used instead, so
    /// short-lived tokens stay usable (logged once per cache with the `tracing` feature).
    /// With [`refresh_before`](Self::refresh_before), at most half of that lead is used.
    pub fn skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Background refresh starts in the last `fraction` (0.0 to 1.0) of a token's usable life.
    /// Defaults to 0.25. Not used with [`refresh_before`](Self::refresh_before).
    pub fn refresh_fraction(mut self, fraction: f64) -> Self {
        self.refresh_fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            DEFAULT_REFRESH_FRACTION
        };
        self
    }

    /// Caps the refresh window. Defaults to 5 minutes. Not used with
    /// [`refresh_before`](Self::refresh_before).
    pub fn max_refresh_window(mut self, window: Duration) -> Self {
        self.max_refresh_window = window;
        self
    }

    /// Starts the background refresh `lead` before a token's expiry: the one setting that says
    /// "refresh 10 seconds before expiry". Unset by default: then the refresh window is the last
    /// [`refresh_fraction`](Self::refresh_fraction) (25%) of the token's usable life, at most
    /// [`max_refresh_window`](Self::max_refresh_window) (5 minutes), before the
    /// [`skew`](Self::skew) (30 seconds).
    ///
    /// When set, it replaces `refresh_fraction` and `max_refresh_window`:
    /// - the refresh starts at `expiry - lead`, or up to `lead / 4` earlier with
    ///   [`jitter`](Self::jitter) (never later), so a fleet does not refresh in lockstep;
    /// - the token is still handed out until `expiry - min(skew, lead / 2)`, so the refresh has
    ///   at least half the lead to finish before a request would wait for it;
    /// - a token that lives less than `lead` is refreshed at half its life instead (logged once
    ///   per cache with the `tracing` feature, with the lead used).
    ///
    /// A zero lead refreshes nothing in the background: tokens are used until expiry and
    /// fetched again on demand.
    ///
    /// ```
    /// use auth_core::CacheConfig;
    /// use std::time::Duration;
    ///
    /// // A 60-second token: refreshed 10 s (up to 12.5 s) before expiry, served until 5 s before.
    /// let config = CacheConfig::default().refresh_before(Duration::from_secs(10));
    /// ```
    pub fn refresh_before(mut self, lead: Duration) -> Self {
        self.refresh_before = Some(lead);
        self
    }

    /// Whether to refresh in the background before expiry. Defaults to on.
    pub fn proactive_refresh(mut self, enabled: bool) -> Self {
        self.proactive_refresh = enabled;
        self
    }

    /// Whether a token stored inside a multi-thread runtime gets a timer task there, which ends
    /// its watched generation before the refresh window opens, so readers (`TokenLayer`'s
    /// services, [`current`](crate::TokenSource::current)) do not read the clock on every
    /// request; see [`view`](crate::view). Defaults to on: one task per cache. A
    /// [`KeyedTokenSource`](crate::KeyedTokenSource) turns it off for its per-key caches (a task
    /// per key would cost more memory than the clock reads save on its path).
    pub fn lease_timer(mut self, enabled: bool) -> Self {
        self.lease_timer = enabled;
        self
    }

    /// Whether to jitter refresh start and retry delays so a fleet does not act in lockstep.
    /// Defaults to on; tests turn it off for exact timings.
    pub fn jitter(mut self, enabled: bool) -> Self {
        self.jitter = enabled;
        self
    }

    /// Lifetime assumed for tokens without an expiry. Defaults to 15 minutes.
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// Deadline for one fetch, after which waiters get [`ErrorKind::Timeout`](crate::ErrorKind).
    /// Defaults to 60 seconds.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// First retry delay after a transient failure; it doubles per consecutive failure.
    /// Defaults to 1 second.
    pub fn backoff_base(mut self, delay: Duration) -> Self {
        self.backoff_base = delay;
        self
    }

    /// Cap on retry delays after transient failures. Defaults to 60 seconds.
    pub fn backoff_max(mut self, delay: Duration) -> Self {
        self.backoff_max = delay;
        self
    }

    /// Delay before retrying an error that cannot heal (`invalid_client`, `invalid_grant`,
    /// configuration). Until then callers get the same error at once. Defaults to 5 minutes.
    pub fn permanent_failure_delay(mut self, delay: Duration) -> Self {
        self.permanent_failure_delay = delay;
        self
    }

    /// The longest `Retry-After` a server can impose before the next attempt. Defaults to
    /// 5 minutes.
    pub fn max_retry_after(mut self, delay: Duration) -> Self {
        self.max_retry_after = delay;
        self
    }

    /// The delay before the next attempt after `failures` consecutive failures ending in `error`:
    /// at least the server's `Retry-After` (capped), when it sent one.
    pub(crate) fn backoff_delay(&self, error: &AuthError, failures: u32) -> Duration {
        if !error.is_transient() {
            return self.permanent_failure_delay;
        }
        let exponent = failures.saturating_sub(1).min(20);
        let full = self
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_max);
        let backoff = if self.jitter {
            // "Equal jitter": half fixed, half random, so delays never collapse to zero.
            full / 2 + full.mul_f64(fastrand::f64() / 2.0)
        } else {
            full
        };
        match error.retry_after() {
            Some(asked) => backoff.max(asked.min(self.max_retry_after)),
            None => backoff,
        }
    }

    /// `(refresh_at, stale_at)` for a token stored at `now`.
    #[cfg(test)]
    pub(crate) fn entry_times(&self, token: &AccessToken, now: Instant) -> (Instant, Instant) {
        let schedule = self.schedule(token, now);
        (schedule.refresh_at, schedule.stale_at)
    }

    /// When a token stored at `now` is refreshed and stops being handed out, and which
    /// setting had to be cut to fit its life.
    pub(crate) fn schedule(&self, token: &AccessToken, now: Instant) -> Schedule {
        let expires_at = token.expires_at().unwrap_or(now + self.default_lifetime);
        let life = expires_at.saturating_duration_since(now);
        let mut cut = None;
        let lead = self.refresh_before.map(|lead| {
            if lead > life {
                let used = life / 2;
                cut = Some(Cut::RefreshBefore { lead, life, used });
                used
            } else {
                lead
            }
        });
        let skew = match lead {
            Some(lead) => self.skew.min(lead / 2),
            None => self.skew,
        };
        let skew = if skew > life / 2 {
            let used = life / 2;
            cut = cut.or(Some(Cut::Skew {
                skew: self.skew,
                life,
                used,
            }));
            used
        } else {
            skew
        };
        let stale_at = (expires_at - skew).max(now + MIN_USABLE_LIFETIME);
        let refresh_at = match lead {
            Some(lead) => {
                let jitter = if self.jitter {
                    (lead / 4).mul_f64(fastrand::f64())
                } else {
                    Duration::ZERO
                };
                expires_at
                    .checked_sub(lead + jitter)
                    .unwrap_or(now)
                    .clamp(now, stale_at)
            }
            None => {
                let usable = stale_at.saturating_duration_since(now);
                let window = usable
                    .mul_f64(self.refresh_fraction)
                    .min(self.max_refresh_window);
                let offset = if self.jitter {
                    // Start somewhere in the first quarter of the window.
                    window.mul_f64(fastrand::f64() / 4.0)
                } else {
                    Duration::ZERO
                };
                stale_at - window + offset
            }
        };
        Schedule {
            refresh_at,
            stale_at,
            cut,
        }
    }
}

/// The instants of one stored token; see [`CacheConfig::schedule`].
pub(crate) struct Schedule {
    /// From here on a background refresh is due.
    pub(crate) refresh_at: Instant,
    /// From here on the token is not handed out.
    pub(crate) stale_at: Instant,
    /// The setting that had to be cut for this token, if any.
    pub(crate) cut: Option<Cut>,
}

/// A setting that did not fit a token's life, and what was used instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The token lives less than twice the skew: half its life is used.
    Skew {
        skew: Duration,
        life: Duration,
        used: Duration,
    },
    /// The token lives less than `refresh_before`: it is refreshed at half its life.
    RefreshBefore {
        lead: Duration,
        life: Duration,
        used: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn token(lifetime: Option<Duration>) -> AccessToken {
        let b = AccessToken::builder("t");
        match lifetime {
            Some(d) => b.expires_in(d),
            None => b,
        }
        .build()
        .expect("valid token")
    }

    #[tokio::test(start_paused = true)]
    async fn one_hour_token_refreshes_in_the_last_five_minutes_before_the_skew() {
        let config = CacheConfig::default().jitter(false);
        let now = Instant::now();
        let (refresh_at, stale_at) =
            config.entry_times(&token(Some(Duration::from_secs(3600))), now);
        assert_eq!(stale_at - now, Duration::from_secs(3570));
        assert_eq!(stale_at - refresh_at, Duration::from_secs(300));
    }

    #[tokio::test(start_paused = true)]
    async fn short_tokens_use_half_their_life_as_skew() {
        let config = CacheConfig::default().jitter(false);
        let now = Instant::now();
        let (refresh_at, stale_at) = config.entry_times(&token(Some(Duration::from_secs(2))), now);
        assert_eq!(stale_at - now, Duration::from_secs(1));
        assert_eq!(stale_at - refresh_at, Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_without_expiry_use_the_default_lifetime() {
        let config = CacheConfig::default()
            .jitter(false)
            .default_lifetime(Duration::from_secs(600));
        let now = Instant::now();
        let (_, stale_at) = config.entry_times(&token(None), now);
        assert_eq!(stale_at - now, Duration::from_secs(570));
    }

    #[tokio::test(start_paused = true)]
    async fn already_expired_tokens_stay_usable_for_the_minimum_lifetime() {
        let config = CacheConfig::default().jitter(false);
        let now = Instant::now();
        let (_, stale_at) = config.entry_times(&token(Some(Duration::ZERO)), now);
        assert_eq!(stale_at - now, MIN_USABLE_LIFETIME);
    }

    #[tokio::test(start_paused = true)]
    async fn jittered_refresh_stays_inside_the_window() {
        let config = CacheConfig::default();
        let now = Instant::now();
        for _ in 0..200 {
            let (refresh_at, stale_at) =
                config.entry_times(&token(Some(Duration::from_secs(3600))), now);
            let lead = stale_at - refresh_at;
            assert!(
                lead <= Duration::from_secs(300) && lead >= Duration::from_secs(225),
                "{lead:?}"
            );
        }
    }

    #[test]
    fn a_servers_retry_after_is_honoured_up_to_the_cap() {
        let config = CacheConfig::default().jitter(false);
        let asked = |secs| {
            AuthError::of_kind(ErrorKind::TokenEndpoint).with_retry_after(Duration::from_secs(secs))
        };
        assert_eq!(config.backoff_delay(&asked(30), 1), Duration::from_secs(30));
        assert_eq!(
            config.backoff_delay(&asked(0), 3),
            Duration::from_secs(4),
            "never shorter than the backoff"
        );
        assert_eq!(
            config.backoff_delay(&asked(86_400), 1),
            DEFAULT_MAX_RETRY_AFTER
        );
        let capped = CacheConfig::default()
            .jitter(false)
            .max_retry_after(Duration::from_secs(10));
        assert_eq!(capped.backoff_delay(&asked(30), 1), Duration::from_secs(10));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_permanent_errors_wait_longest() {
        let config = CacheConfig::default().jitter(false);
        let transient = AuthError::of_kind(ErrorKind::Transport);
        let delays: Vec<_> = (1..=8)
            .map(|n| config.backoff_delay(&transient, n))
            .collect();
        assert_eq!(delays[0], Duration::from_secs(1));
        assert_eq!(delays[1], Duration::from_secs(2));
        assert_eq!(delays[5], Duration::from_secs(32));
        assert_eq!(delays[6], Duration::from_secs(60));
        assert_eq!(delays[7], Duration::from_secs(60));
        let permanent = AuthError::of_kind(ErrorKind::InvalidClient);
        assert_eq!(
            config.backoff_delay(&permanent, 1),
            DEFAULT_PERMANENT_FAILURE_DELAY
        );
        let jittered = CacheConfig::default();
        for n in 1..10 {
            let d = jittered.backoff_delay(&transient, n);
            let full = config.backoff_delay(&transient, n);
            assert!(d >= full / 2 && d <= full, "{d:?} vs {full:?}");
        }
    }
}
