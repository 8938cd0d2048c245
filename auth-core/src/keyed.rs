//! [`KeyedTokenSource`]: one [`CachedTokenSource`] per key (a user, a tenant, a user and a
//! resource), built on first use and kept in a bounded map.
//!
//! A server that calls an API on behalf of its users, or a multi-tenant service with one client
//! registration per tenant, needs one token per key. A keyed source builds a token source for
//! a key the first time it is asked for one (from a function you give it), caches it in a
//! [`CachedTokenSource`] (single flight, proactive refresh, backoff: all per key), and keeps at
//! most [`max_keys`](KeyedTokenSourceBuilder::max_keys) of them: the least recently used key
//! is evicted first, and keys unused for [`idle_timeout`](KeyedTokenSourceBuilder::idle_timeout)
//! go when room is needed. Evicting a key never cancels a fetch in flight: the callers already
//! waiting for it hold the source and get their token; the next call for that key builds it
//! again (one fetch).
//!
//! The key must hold everything that makes tokens differ: a user's tokens for two resources
//! (or two scope sets) are two keys, never one, so a token for one resource is never sent to
//! another. [`TokenKey`] is a ready-made key with exactly those parts.
//!
//! ```
//! use auth_core::{AccessToken, FnTokenSource, KeyedTokenSource, TokenKey, TokenSource};
//! use std::time::Duration;
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::AuthError> {
//! let tokens = KeyedTokenSource::builder(|key: &TokenKey| {
//!     // e.g. a refresh-token grant reading this user's refresh token from a store
//!     let user = key.subject().to_owned();
//!     Ok(FnTokenSource::new(move || {
//!         let user = user.clone();
//!         async move {
//!             AccessToken::builder(format!("token-of-{user}"))
//!                 .expires_in(Duration::from_secs(3600))
//!                 .build()
//!         }
//!     }))
//! })
//! .max_keys(10_000)
//! .build();
//! let alice = tokens.token(&TokenKey::new("alice")).await?;
//! assert_eq!(alice.header_value(), "Bearer token-of-alice");
//! # Ok(()) }
//! ```
//!
//! `TokenLayer::keyed` (in `auth-layers`) takes the key from each request's extensions and fails
//! closed (with [`ErrorKind::NoTokenKey`]) when a request carries none.

use std::{
    collections::HashMap,
    fmt,
    hash::Hash,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use crate::{
    AccessToken, AuthError, CacheConfig, CachedTokenSource, ErrorKind, TokenFuture, TokenSource,
};

mod key;

pub use key::TokenKey;

/// The default bound on the number of keys: 10,000.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// Builds the token source of one key.
type MakeSource<K, S> = dyn Fn(&K) -> Result<S, AuthError> + Send + Sync;

/// One cached token source per key; see the [module docs](self). Cloning is cheap and clones
/// share one map.
pub struct KeyedTokenSource<K, S> {
    shared: Arc<Shared<K, S>>,
}

impl<K, S> Clone for KeyedTokenSource<K, S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<K, S> {
    make: Box<MakeSource<K, S>>,
    config: CacheConfig,
    max_keys: usize,
    idle_timeout: Option<Duration>,
    /// When the map was made: `last_used` counts milliseconds from here.
    epoch: Instant,
    map: RwLock<HashMap<K, KeyedEntry<S>>>,
}

/// Configures a [`KeyedTokenSource`]; see [`KeyedTokenSource::builder`].
pub struct KeyedTokenSourceBuilder<K, S> {
    make: Box<MakeSource<K, S>>,
    config: CacheConfig,
    max_keys: usize,
    idle_timeout: Option<Duration>,
}

impl<K, S> KeyedTokenSourceBuilder<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: TokenSource,
{
    /// The cache settings of every key's [`CachedTokenSource`] (skew, refresh window, backoff).
    pub fn cache_config(mut self, config: CacheConfig) -> Self {
        self.config = config;
        self
    }

    /// At most `keys` keys are kept (at least 1); the least recently used one is evicted to
    /// make room. Defaults to [`DEFAULT_MAX_KEYS`].
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.max_keys = keys.max(1);
        self
    }

    /// Keys unused for `idle` are evicted first when room is needed. Off by default (only the
    /// bound applies).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// The keyed source.
    pub fn build(self) -> KeyedTokenSource<K, S> {
        KeyedTokenSource {
            shared: Arc::new(Shared {
                make: self.make,
                // No timer task per key (see `CacheConfig::lease_timer`).
                config: self.config.lease_timer(false),
                max_keys: self.max_keys,
                idle_timeout: self.idle_timeout,
                epoch: Instant::now(),
                map: RwLock::new(HashMap::new()),
            }),
        }
    }
}

impl<K, S> KeyedTokenSource<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: TokenSource,
{
    /// A keyed source whose key `k` gets its tokens from `make(k)`, called once per key (again
    /// after the key was evicted). An error from `make` (a tenant's secret that is not set, say)
    /// is that key's error alone; it is not cached, so the next request tries again.
    pub fn builder(
        make: impl Fn(&K) -> Result<S, AuthError> + Send + Sync + 'static,
    ) -> KeyedTokenSourceBuilder<K, S> {
        KeyedTokenSourceBuilder {
            make: Box::new(make),
            config: CacheConfig::default(),
            max_keys: DEFAULT_MAX_KEYS,
            idle_timeout: None,
        }
    }

    /// The cached source of `key`, built now if the key is new (or was evicted). The key
    /// counts as used when a token is asked of the entry (`token`, `current`), which reads
    /// the clock once for both its last use and the token's freshness.
    pub fn source(&self, key: &K) -> Result<KeyedEntry<S>, AuthError> {
        {
            let map = self
                .shared
                .map
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = map.get(key) {
                return Ok(entry.clone());
            }
        }
        let now = Instant::now();
        // Built outside the lock: `make` may read files or the environment.
        let built = KeyedEntry {
            inner: Arc::new(EntryInner {
                cache: CachedTokenSource::with_config(
                    (self.shared.make)(key)?,
                    self.shared.config.clone(),
                ),
                epoch: self.shared.epoch,
                last_used: AtomicU64::new(millis_since(self.shared.epoch, now)),
            }),
        };
        let mut map = self
            .shared
            .map
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = map.get(key) {
            // Another caller built it meanwhile: one source per key.
            return Ok(entry.clone());
        }
        self.make_room(&mut map, millis_since(self.shared.epoch, now));
        map.insert(key.clone(), built.clone());
        Ok(built)
    }

    /// A valid token for `key`, fetching one if needed.
    pub async fn token(&self, key: &K) -> Result<AccessToken, AuthError> {
        self.source(key)?.token().await
    }

    /// The source for the key a request carries in its extensions (a value of type `K`, set by
    /// the application before the request reaches the layer). Fails closed with
    /// [`ErrorKind::NoTokenKey`] when there is none.
    pub fn for_extensions(
        &self,
        extensions: &http::Extensions,
    ) -> Result<KeyedEntry<S>, AuthError> {
        match extensions.get::<K>() {
            Some(key) => self.source(key),
            None => Err(no_key::<K>()),
        }
    }

    /// The token the key in `extensions` has at hand, as [`current`](TokenSource::current)
    /// (the key counts as used), without taking a reference to its source: `Ok(None)` when
    /// the key has no fresh token or is not held yet ([`for_extensions`](Self::for_extensions)
    /// then builds its source). Fails closed like `for_extensions` when there is no key.
    #[inline]
    pub fn current_for_extensions(
        &self,
        extensions: &http::Extensions,
    ) -> Result<Option<AccessToken>, AuthError> {
        let Some(key) = extensions.get::<K>() else {
            return Err(no_key::<K>());
        };
        let map = self
            .shared
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(map.get(key).and_then(|entry| entry.inner.current()))
    }

    /// Drops the cached token of `key` (the user signed out, a tenant's credentials changed),
    /// keeping the key; its next request fetches a new token.
    pub fn invalidate_key(&self, key: &K) {
        let entry = {
            let map = self
                .shared
                .map
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            map.get(key).cloned()
        };
        // Through the cache itself: invalidating is not a use of the key.
        if let Some(entry) = entry
            && let Some(token) = entry.cache().current()
        {
            entry.invalidate(&token);
        }
    }

    /// Forgets `key` altogether; a fetch in flight for it still reaches its callers.
    pub fn remove(&self, key: &K) -> bool {
        let mut map = self
            .shared
            .map
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.remove(key).is_some()
    }

    /// How many keys are held now (never more than the bound).
    pub fn len(&self) -> usize {
        self.shared
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on the number of keys.
    pub fn max_keys(&self) -> usize {
        self.shared.max_keys
    }

    /// Evicts idle keys, then the least recently used ones, until one more key fits.
    fn make_room(&self, map: &mut HashMap<K, KeyedEntry<S>>, now: u64) {
        if map.len() < self.shared.max_keys {
            return;
        }
        if let Some(idle) = self.shared.idle_timeout {
            let idle = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
            map.retain(|_, entry| now.saturating_sub(entry.last_used()) < idle);
        }
        let excess = (map.len() + 1).saturating_sub(self.shared.max_keys);
        if excess == 0 {
            return;
        }
        let mut ages: Vec<(u64, K)> = map
            .iter()
            .map(|(key, entry)| (entry.last_used(), key.clone()))
            .collect();
        ages.select_nth_unstable_by_key(excess - 1, |(used, _)| *used);
        for (_, key) in ages.into_iter().take(excess) {
            map.remove(&key);
        }
    }
}

/// Milliseconds from `epoch` to `now`: the unit of a key's last use.
#[inline]
fn millis_since(epoch: Instant, now: Instant) -> u64 {
    let elapsed = now.saturating_duration_since(epoch);
    (elapsed.as_secs().saturating_mul(1000)).saturating_add(u64::from(elapsed.subsec_millis()))
}

/// The error of a request without a key.
fn no_key<K>() -> AuthError {
    AuthError::new(
        ErrorKind::NoTokenKey,
        format!(
            "the request carries no `{}` in its extensions, so a keyed token layer cannot tell \
             whose token it needs; it was not sent",
            std::any::type_name::<K>()
        ),
    )
}

/// A keyed source asked for a token without a key fails closed: it never picks one.
impl<K, S> TokenSource for KeyedTokenSource<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: TokenSource,
{
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(std::future::ready(Err(no_key::<K>())))
    }
}

impl<K, S> fmt::Debug for KeyedTokenSourceBuilder<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedTokenSourceBuilder")
            .field("max_keys", &self.max_keys)
            .field("idle_timeout", &self.idle_timeout)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<K, S> fmt::Debug for KeyedTokenSource<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.shared.map.read().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("KeyedTokenSource")
            .field("keys", &keys)
            .field("max_keys", &self.shared.max_keys)
            .field("idle_timeout", &self.shared.idle_timeout)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// The cached token source of one key (a reference count on it). Keys never appear in its
/// `Debug`: a key may be a user's identity.
pub struct KeyedEntry<S> {
    inner: Arc<EntryInner<S>>,
}

struct EntryInner<S> {
    cache: CachedTokenSource<S>,
    /// The map's epoch: `last_used` counts milliseconds from here.
    epoch: Instant,
    last_used: AtomicU64,
}

impl<S> EntryInner<S> {
    /// Marks the entry used now and returns the instant, for the freshness check.
    #[inline]
    fn used_now(&self) -> Instant {
        let now = Instant::now();
        let ms = millis_since(self.epoch, now);
        // Written only when the millisecond changed, so requests on many cores do not fight
        // over the cache line.
        if self.last_used.load(Ordering::Relaxed) != ms {
            self.last_used.store(ms, Ordering::Relaxed);
        }
        now
    }
}

impl<S> Clone for KeyedEntry<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S> KeyedEntry<S> {
    /// The key's cache.
    pub fn cache(&self) -> &CachedTokenSource<S> {
        &self.inner.cache
    }

    fn last_used(&self) -> u64 {
        self.inner.last_used.load(Ordering::Relaxed)
    }

    /// The entry as a shared trait object, without a new allocation.
    pub fn into_dyn(self) -> Arc<dyn TokenSource>
    where
        S: TokenSource,
    {
        self.inner
    }
}

impl<S: TokenSource> TokenSource for EntryInner<S> {
    fn token(&self) -> TokenFuture<'_> {
        let now = self.used_now();
        match self.cache.current_at(now) {
            Some(token) => Box::pin(std::future::ready(Ok(token))),
            None => self.cache.token(),
        }
    }

    #[inline]
    fn current(&self) -> Option<AccessToken> {
        self.cache.current_at(self.used_now())
    }

    fn invalidate(&self, token: &AccessToken) {
        self.cache.invalidate(token)
    }

    #[inline]
    fn generation(&self) -> Option<u64> {
        self.cache.generation()
    }

    fn lease(&self) -> Option<crate::Lease> {
        self.cache.lease()
    }
}

impl<S: TokenSource> TokenSource for KeyedEntry<S> {
    fn token(&self) -> TokenFuture<'_> {
        self.inner.token()
    }

    fn current(&self) -> Option<AccessToken> {
        self.inner.current()
    }

    fn invalidate(&self, token: &AccessToken) {
        self.inner.cache.invalidate(token)
    }

    #[inline]
    fn generation(&self) -> Option<u64> {
        self.inner.cache.generation()
    }

    fn lease(&self) -> Option<crate::Lease> {
        self.inner.cache.lease()
    }
}

impl<S> fmt::Debug for KeyedEntry<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedEntry")
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
