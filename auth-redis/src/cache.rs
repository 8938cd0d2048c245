//! [`RedisTokenCache`]: the connection, the settings and the Redis commands the fleet tier uses.
//! Every command is bounded by a timeout; a failure marks the cache as down (one warning per
//! outage), and callers fall back to fetching on their own until Redis answers again.

use std::{
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use redis::{
    Client, Cmd, FromRedisValue,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::{sync::OnceCell, time::Instant};

use crate::{EncryptionKey, FleetError, FleetKey, FleetTokenSource, key::hex, seal::Sealer};

/// Default namespace of every key: `tower-auth`.
pub const DEFAULT_KEY_PREFIX: &str = "tower-auth";
/// Default deadline for connecting to Redis: 1 second.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default deadline for one Redis command: 500 milliseconds.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// Default life of the fleet-wide fetch lock: 10 seconds (a dead holder's lock lasts this long).
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(10);
/// Default time a process waits for another one's fetch beyond the lock's life: 10 seconds.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default interval between looks at Redis while another process fetches: 50 ms (±50% jitter).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Default pause before Redis is tried again after a failure: 1 second.
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Emits a tracing event when the `tracing` feature is on; nothing otherwise.
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::$level!(target: "tower_auth::fleet", $($arg)*);
    };
}
pub(crate) use event;

/// Compare-and-delete: deletes `KEYS[1]` only when its value starts with `ARGV[1]` (a lock's
/// owner, a token's fingerprint). The value itself never leaves Redis.
const DELETE_IF_PREFIX: &str = "local v = redis.call('GET', KEYS[1]) \
    if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) end return 0";

/// The fleet tier of the token cache on Redis (or Valkey); see the [crate docs](crate).
///
/// Cloning is cheap; clones share one connection.
///
/// ```no_run
/// use auth_core::{CachedTokenSource, FnTokenSource, AccessToken};
/// use auth_redis::{EncryptionKey, FleetKey, RedisTokenCache};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = RedisTokenCache::builder("redis://127.0.0.1:6379")
///     .key_prefix("billing")
///     .encryption_key(EncryptionKey::from_base64(&std::env::var("TOKEN_CACHE_KEY")?)?)
///     .build()?;
/// let grant = FnTokenSource::new(|| async { AccessToken::bearer("from-the-idp") });
/// let key = FleetKey::builder("https://idp.example/token", "billing-svc")
///     .grant("client_credentials")
///     .client_secret("s3cret")
///     .build();
/// // The in-process cache stays in front: its fast path never touches Redis.
/// let source = CachedTokenSource::new(cache.wrap(grant, &key));
/// # let _ = source; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTokenCache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    client: Client,
    conn: OnceCell<ConnectionManager>,
    pub(crate) sealer: Sealer,
    pub(crate) prefix: String,
    shown_url: String,
    pub(crate) lock_ttl: Duration,
    pub(crate) fetch_timeout: Duration,
    pub(crate) poll_interval: Duration,
    command_timeout: Duration,
    connect_timeout: Duration,
    retry_after: Duration,
    /// Redis failed and no command has succeeded since (one warning per outage).
    down: AtomicBool,
    /// Redis is not tried again before this instant.
    pause_until: Mutex<Option<Instant>>,
}

impl RedisTokenCache {
    /// Starts a cache on `url` (`redis://`, `rediss://` for TLS, `redis://user:password@host`;
    /// a URL can carry a password, so it is taken as a secret).
    pub fn builder(url: impl Into<SecretString>) -> RedisTokenCacheBuilder {
        RedisTokenCacheBuilder {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            encryption_key: None,
            allow_plaintext: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            lock_ttl: DEFAULT_LOCK_TTL,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// `source` with the fleet tier under `key`: put [`CachedTokenSource`]
    /// (auth-core) in front of the result.
    ///
    /// [`CachedTokenSource`]: auth_core::CachedTokenSource
    pub fn wrap<S>(&self, source: S, key: &FleetKey) -> FleetTokenSource<S> {
        FleetTokenSource::new(self.clone(), source, self.token_key(key))
    }

    /// The Redis key that holds the token for `key` (`{prefix}:token:{keyed hash}`).
    pub fn token_key(&self, key: &FleetKey) -> String {
        format!(
            "{}:token:{}",
            self.inner.prefix,
            key.digest(self.inner.sealer.hash_key())
        )
    }

    /// The Redis key of a [`RedisTokenStore`](crate::RedisTokenStore) record
    /// (`{prefix}:store:{keyed hash}`).
    pub(crate) fn store_key(&self, key: &str) -> String {
        let tag = ring::hmac::sign(self.inner.sealer.hash_key(), key.as_bytes());
        format!("{}:store:{}", self.inner.prefix, hex(&tag.as_ref()[..20]))
    }

    /// The URL without its password, e.g. for `config show`.
    pub fn shown_url(&self) -> &str {
        &self.inner.shown_url
    }

    /// The key namespace.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Whether values are sealed (an encryption key is set).
    pub fn is_sealed(&self) -> bool {
        self.inner.sealer.is_sealed()
    }

    /// Whether Redis is currently considered unreachable.
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::Relaxed)
    }

    async fn connection(&self) -> Result<ConnectionManager, FleetError> {
        let inner = &self.inner;
        let conn = inner
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(inner.connect_timeout))
                    .set_response_timeout(Some(inner.command_timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(inner.retry_after);
                match tokio::time::timeout(
                    inner.connect_timeout * 2,
                    ConnectionManager::new_with_config(inner.client.clone(), config),
                )
                .await
                {
                    Ok(conn) => conn.map_err(FleetError::from),
                    Err(_) => Err(FleetError::Redis("connect timed out".into())),
                }
            })
            .await?;
        Ok(conn.clone())
    }

    /// Runs `cmd`, bounded by the command timeout; tracks the outage state.
    pub(crate) async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, FleetError> {
        let inner = &self.inner;
        if let Ok(pause) = inner.pause_until.lock()
            && pause.is_some_and(|until| Instant::now() < until)
        {
            return Err(FleetError::Redis("paused after a failure".into()));
        }
        let result = async {
            let mut conn = self.connection().await?;
            match tokio::time::timeout(inner.command_timeout, cmd.query_async(&mut conn)).await {
                Ok(r) => r.map_err(FleetError::from),
                Err(_) => Err(FleetError::Redis("command timed out".into())),
            }
        }
        .await;
        match &result {
            Ok(_) => {
                if inner.down.swap(false, Ordering::Relaxed) {
                    event!(info, url = %inner.shown_url, "redis is back: tokens are shared again");
                }
            }
            Err(_e) => {
                if let Ok(mut pause) = inner.pause_until.lock() {
                    *pause = Some(Instant::now() + inner.retry_after);
                }
                if !inner.down.swap(true, Ordering::Relaxed) {
                    event!(
                        warn,
                        url = %inner.shown_url,
                        error = %_e,
                        "redis unreachable: each process fetches its own tokens until it is back"
                    );
                }
            }
        }
        result
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, FleetError> {
        self.run(redis::cmd("GET").arg(key)).await
    }

    pub(crate) async fn set_px(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), FleetError> {
        let ms = ttl.as_millis().max(1) as u64;
        self.run(redis::cmd("SET").arg(key).arg(value).arg("PX").arg(ms))
            .await
    }

    /// `SET key owner NX PX ttl`: whether this caller now holds the lock.
    pub(crate) async fn try_lock(&self, key: &str, owner: &str) -> Result<bool, FleetError> {
        let ms = self.inner.lock_ttl.as_millis().max(1) as u64;
        let reply: Option<String> = self
            .run(
                redis::cmd("SET")
                    .arg(key)
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms),
            )
            .await?;
        Ok(reply.is_some())
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool, FleetError> {
        let n: i64 = self.run(redis::cmd("EXISTS").arg(key)).await?;
        Ok(n > 0)
    }

    /// Deletes `key` only if its value starts with `prefix`.
    pub(crate) async fn delete_if_prefix(
        &self,
        key: &str,
        prefix: &[u8],
    ) -> Result<bool, FleetError> {
        let n: i64 = self
            .run(
                redis::cmd("EVAL")
                    .arg(DELETE_IF_PREFIX)
                    .arg(1)
                    .arg(key)
                    .arg(prefix),
            )
            .await?;
        Ok(n > 0)
    }

    /// A random lock owner value.
    pub(crate) fn owner() -> String {
        let mut bytes = [0u8; 16];
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
            // Uniqueness, not secrecy, is what an owner needs.
            bytes = fastrand::u128(..).to_le_bytes();
        }
        hex(&bytes)
    }
}

impl fmt::Debug for RedisTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenCache")
            .field("url", &self.inner.shown_url)
            .field("key_prefix", &self.inner.prefix)
            .field("sealed", &self.inner.sealer.is_sealed())
            .field("lock_ttl", &self.inner.lock_ttl)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisTokenCache`]; see [`RedisTokenCache::builder`].
pub struct RedisTokenCacheBuilder {
    url: SecretString,
    key_prefix: String,
    encryption_key: Option<EncryptionKey>,
    allow_plaintext: bool,
    connect_timeout: Duration,
    command_timeout: Duration,
    lock_ttl: Duration,
    fetch_timeout: Duration,
    poll_interval: Duration,
}

impl RedisTokenCacheBuilder {
    /// The namespace in front of every key. Defaults to `tower-auth`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The key that seals values and keys hashes. Required unless
    /// [`allow_plaintext`](Self::allow_plaintext).
    pub fn encryption_key(mut self, key: EncryptionKey) -> Self {
        self.encryption_key = Some(key);
        self
    }

    /// Stores tokens in clear when no encryption key is set: anyone who can read Redis can then
    /// use the tokens. Defaults to `false` (building without a key fails).
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// Deadline for connecting. Defaults to 1 second.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Deadline for one command. Defaults to 500 milliseconds.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Life of the fleet-wide fetch lock; when its holder dies, another process fetches after
    /// this long. Defaults to 10 seconds.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// How long, beyond the lock's life, a process waits for another's fetch before fetching
    /// itself. Defaults to 10 seconds.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Interval between looks at Redis while another process fetches (±50% jitter). Defaults
    /// to 50 milliseconds.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The cache. Does not connect: the first token request does, and a Redis that is down
    /// then only means each process fetches its own tokens.
    pub fn build(self) -> Result<RedisTokenCache, FleetError> {
        if self.encryption_key.is_none() && !self.allow_plaintext {
            return Err(FleetError::config(
                "encryption_key",
                "is required (or set allow_plaintext = true to store tokens in clear)",
            ));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(char::is_whitespace) {
            return Err(FleetError::config(
                "key_prefix",
                "must be non-empty, without spaces",
            ));
        }
        let url = self.url.expose_secret();
        let shown_url = shown_url(url);
        if url.starts_with("rediss://") {
            // redis' TLS builds its rustls config on the process default provider; building a
            // config installs the one rustls's crate features name (ring: the tree enables no
            // other) when none is set (`ring::default_provider()` is deprecated since 0.23.48).
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                let _ = rustls::ClientConfig::builder();
            }
        }
        let client = Client::open(url).map_err(|e| {
            FleetError::config("redis", format!("is not a redis URL ({:?})", e.kind()))
        })?;
        Ok(RedisTokenCache {
            inner: Arc::new(Inner {
                client,
                conn: OnceCell::new(),
                sealer: Sealer::new(self.encryption_key.as_ref())?,
                prefix: self.key_prefix,
                shown_url,
                lock_ttl: self.lock_ttl,
                fetch_timeout: self.fetch_timeout,
                poll_interval: self.poll_interval,
                command_timeout: self.command_timeout,
                connect_timeout: self.connect_timeout,
                retry_after: DEFAULT_RETRY_AFTER,
                down: AtomicBool::new(false),
                pause_until: Mutex::new(None),
            }),
        })
    }
}

impl fmt::Debug for RedisTokenCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenCacheBuilder")
            .field("url", &shown_url(self.url.expose_secret()))
            .field("key_prefix", &self.key_prefix)
            .field("encryption_key", &self.encryption_key)
            .field("allow_plaintext", &self.allow_plaintext)
            .finish_non_exhaustive()
    }
}

/// `url` without the password of its userinfo (`redis://user:***@host:6379/0`).
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[not a URL]".to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_url_hides_the_password() {
        assert_eq!(
            shown_url("redis://app:hunter2@cache:6380/1"),
            "redis://app:***@cache:6380/1"
        );
        assert_eq!(shown_url("rediss://:hunter2@cache"), "rediss://:***@cache");
        assert_eq!(shown_url("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(shown_url("hunter2"), "[not a URL]");
    }

    #[test]
    fn refuses_to_start_without_a_key() {
        let err = RedisTokenCache::builder("redis://127.0.0.1:1")
            .build()
            .expect_err("no key");
        assert!(err.to_string().contains("encryption_key"), "{err}");
        assert!(
            RedisTokenCache::builder("redis://127.0.0.1:1")
                .allow_plaintext(true)
                .build()
                .is_ok()
        );
    }
}
