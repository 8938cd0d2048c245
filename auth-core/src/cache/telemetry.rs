//! What a [`CachedTokenSource`](super::CachedTokenSource) reports: metrics through the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics`, so any exporter works:
//! Prometheus, OpenTelemetry, StatsD) and a [`CacheSnapshot`] for health endpoints.
//!
//! Every metric carries the cache's [`name`](super::CacheConfig::name) as its `connection`
//! label (`unnamed` without one). Labels never hold a secret: names, triggers, outcomes and
//! error kinds only. Metric names follow OpenTelemetry's style (dotted, lower case; units in
//! the metadata); a Prometheus exporter shows `tower_auth_token_fetches_total` and so on.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | [`TOKEN_FETCHES`] | counter | `connection`, `trigger`, `outcome`, `error_kind` | token fetches by why they started (`on_demand`, `background`, `forced`) and how they ended (`success`, `failure` with the [`ErrorKind::as_str`]) |
//! | [`TOKEN_FETCH_DURATION`] | histogram, seconds | `connection`, `outcome` | how long each fetch took |
//! | [`TOKEN_EXPIRES_IN`] | gauge, seconds | `connection` | seconds until the cached token expires, set at each fetch and each [`snapshot`](super::CachedTokenSource::snapshot) |
//! | [`TOKEN_EXPIRY`] | gauge, Unix seconds | `connection` | when the cached token expires (always current: alert on `expiry - time()`) |
//! | [`TOKEN_INVALIDATIONS`] | counter | `connection` | tokens dropped because a server rejected them (each 401 retry of `TokenLayer`) |

use std::time::Duration;
#[cfg(feature = "metrics")]
use std::time::SystemTime;

#[cfg(feature = "metrics")]
use tokio::time::Instant;

use crate::{AccessToken, AuthError, ErrorKind};

/// Counter: token fetches, by trigger and outcome.
pub const TOKEN_FETCHES: &str = "tower_auth.token.fetches";
/// Histogram (seconds): the duration of each token fetch.
pub const TOKEN_FETCH_DURATION: &str = "tower_auth.token.fetch.duration";
/// Gauge (seconds): time left until the cached token expires, when last looked at.
pub const TOKEN_EXPIRES_IN: &str = "tower_auth.token.expires_in";
/// Gauge (Unix time, seconds): when the cached token expires.
pub const TOKEN_EXPIRY: &str = "tower_auth.token.expiry";
/// Counter: cached tokens invalidated because a server rejected them.
pub const TOKEN_INVALIDATIONS: &str = "tower_auth.token.invalidations";

/// The `connection` label of a cache without a name.
pub const UNNAMED: &str = "unnamed";

/// Why a fetch started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchTrigger {
    /// A caller needed a token and none was fresh.
    OnDemand,
    /// The cached token entered its refresh window: refreshed while it is still served.
    Background,
    /// [`refresh_now`](super::CachedTokenSource::refresh_now) asked for a new token.
    Forced,
}

impl FetchTrigger {
    /// `on_demand`, `background` or `forced`: the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchTrigger::OnDemand => "on_demand",
            FetchTrigger::Background => "background",
            FetchTrigger::Forced => "forced",
        }
    }
}

/// The state of a cache at one moment, for health endpoints and diagnostics; from
/// [`CachedTokenSource::snapshot`](super::CachedTokenSource::snapshot). Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheSnapshot {
    /// How long ago the cached token was issued; `None` without a token.
    pub token_age: Option<Duration>,
    /// Time left until the cached token expires; `None` without a token or when it has no
    /// expiry. Zero once expired.
    pub expires_in: Option<Duration>,
    /// Whether the cached token may be handed out now (it is not within the skew of its
    /// expiry).
    pub fresh: bool,
    /// Fetches started since the cache was created.
    pub fetches: u64,
    /// Fetches that failed since the cache was created.
    pub failures: u64,
    /// Failures in a row since the last success.
    pub consecutive_failures: u32,
    /// The kind of the latest failure, until a fetch succeeds again.
    pub last_error: Option<ErrorKind>,
    /// Why the latest fetch started; `None` before the first.
    pub last_trigger: Option<FetchTrigger>,
    /// Whether a fetch is in flight.
    pub fetching: bool,
}

/// Counts of a cache's fetches, kept under its flight lock.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) fetches: u64,
    pub(super) failures: u64,
    pub(super) last_trigger: Option<FetchTrigger>,
}

/// Records a finished fetch.
pub(super) fn fetched(
    name: &str,
    trigger: FetchTrigger,
    result: &Result<AccessToken, AuthError>,
    elapsed: Duration,
) {
    #[cfg(feature = "metrics")]
    {
        let connection = name.to_owned();
        let (outcome, error_kind) = match result {
            Ok(_) => ("success", ""),
            Err(error) => ("failure", error.kind().as_str()),
        };
        metrics::counter!(
            TOKEN_FETCHES,
            "connection" => connection.clone(),
            "trigger" => trigger.as_str(),
            "outcome" => outcome,
            "error_kind" => error_kind,
        )
        .increment(1);
        metrics::histogram!(
            TOKEN_FETCH_DURATION,
            "connection" => connection,
            "outcome" => outcome,
        )
        .record(elapsed.as_secs_f64());
        if let Ok(token) = result {
            expiry(name, token);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, trigger, result, elapsed);
}

/// Sets the expiry gauges of `token`.
pub(super) fn expiry(name: &str, token: &AccessToken) {
    #[cfg(feature = "metrics")]
    if let Some(at) = token.expires_at() {
        let left = at.saturating_duration_since(Instant::now());
        metrics::gauge!(TOKEN_EXPIRES_IN, "connection" => name.to_owned()).set(left.as_secs_f64());
        if let Some(unix) = SystemTime::now()
            .checked_add(left)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        {
            metrics::gauge!(TOKEN_EXPIRY, "connection" => name.to_owned()).set(unix.as_secs_f64());
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, token);
}

/// Records a token dropped because a server rejected it.
pub(super) fn invalidated(name: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(TOKEN_INVALIDATIONS, "connection" => name.to_owned()).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = name;
}

/// Describes every metric once (units and help texts), when a recorder is installed.
#[cfg(feature = "metrics")]
pub(super) fn describe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use metrics::Unit;
        metrics::describe_counter!(TOKEN_FETCHES, "token fetches, by trigger and outcome");
        metrics::describe_histogram!(
            TOKEN_FETCH_DURATION,
            Unit::Seconds,
            "duration of each token fetch"
        );
        metrics::describe_gauge!(
            TOKEN_EXPIRES_IN,
            Unit::Seconds,
            "seconds until the cached token expires, when last looked at"
        );
        metrics::describe_gauge!(
            TOKEN_EXPIRY,
            Unit::Seconds,
            "when the cached token expires, in Unix seconds"
        );
        metrics::describe_counter!(
            TOKEN_INVALIDATIONS,
            "cached tokens dropped because a server rejected them"
        );
    });
}
