//! [`FleetTokenSource`]: a [`TokenSource`] that asks the fleet before the token endpoint.
//!
//! `token()` reads Redis. A token this process has not handed out yet is taken as it is. On a
//! miss, or when Redis still holds the very token this process already has (its in-process
//! cache is asking because that token is due for refresh), one process in the fleet takes the
//! lock (`SET NX PX`, a random owner, released by a compare-and-delete), fetches, and publishes
//! the sealed token with a TTL of its remaining usable life (its life less auth-core's
//! `MIN_USABLE_LIFETIME`, one second: a token closer to expiry counts as a miss); the others
//! poll (with jitter) for the result. Every Redis failure means fetching alone, never a failed
//! request.

use std::{
    fmt,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use auth_core::{
    AccessToken, AuthError, ExposeSecret, TokenFuture, TokenSource,
    cache::config::MIN_USABLE_LIFETIME,
};
use secrecy::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{
    RedisTokenCache,
    cache::event,
    seal::{FINGERPRINT_LEN, Sealer},
};

/// Lifetime published for tokens that come without an expiry: 15 minutes (as auth-core's cache).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(900);

type Fingerprint = [u8; FINGERPRINT_LEN];

/// The fleet tier around a token source; built by [`RedisTokenCache::wrap`]. Wrap it in
/// `CachedTokenSource`, which keeps the lock-free fast path in front.
pub struct FleetTokenSource<S> {
    cache: RedisTokenCache,
    source: S,
    key: String,
    lock_key: String,
    /// The fingerprint of the token this process handed out last.
    held: Mutex<Option<Fingerprint>>,
}

/// What is sealed in Redis for one token.
#[derive(Serialize, Deserialize)]
struct Payload {
    #[serde(rename = "v")]
    secret: String,
    #[serde(rename = "ty")]
    token_type: String,
    #[serde(rename = "hp")]
    header_prefix: String,
    /// Expiry, milliseconds since the Unix epoch.
    #[serde(rename = "exp")]
    expires_at_ms: u64,
    #[serde(rename = "sc", default)]
    scopes: Vec<String>,
    #[serde(rename = "gt", default)]
    grant_type: Option<String>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        secrecy::zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl<S> FleetTokenSource<S> {
    pub(crate) fn new(cache: RedisTokenCache, source: S, key: String) -> Self {
        Self {
            lock_key: format!("{key}:lock"),
            cache,
            source,
            key,
            held: Mutex::new(None),
        }
    }

    /// The Redis key of this source's token.
    pub fn redis_key(&self) -> &str {
        &self.key
    }

    /// The wrapped source.
    pub fn get_ref(&self) -> &S {
        &self.source
    }

    /// The fleet cache.
    pub fn cache(&self) -> &RedisTokenCache {
        &self.cache
    }

    fn sealer(&self) -> &Sealer {
        &self.cache.inner.sealer
    }

    fn held(&self) -> Option<Fingerprint> {
        self.held.lock().ok().and_then(|h| *h)
    }

    fn hold(&self, fingerprint: Fingerprint) {
        if let Ok(mut held) = self.held.lock() {
            *held = Some(fingerprint);
        }
    }

    /// The entry in Redis: `Ok(None)` on a miss or an entry that does not open (corrupt,
    /// another key, expired); `Err` when Redis failed.
    async fn read(&self) -> Result<Option<(Fingerprint, AccessToken)>, crate::FleetError> {
        let Some(value) = self.cache.get(&self.key).await? else {
            return Ok(None);
        };
        Ok(self.open(&value))
    }

    fn open(&self, value: &[u8]) -> Option<(Fingerprint, AccessToken)> {
        if value.len() < FINGERPRINT_LEN {
            return None;
        }
        let (fp, sealed) = value.split_at(FINGERPRINT_LEN);
        let plain = Zeroizing::new(self.sealer().open(&self.key, sealed)?);
        let payload: Payload = serde_json::from_slice(&plain).ok()?;
        let fingerprint: Fingerprint = fp.try_into().ok()?;
        // The fingerprint is outside the seal: it must match what is inside.
        if self.sealer().fingerprint(payload.secret.as_bytes()) != fingerprint {
            return None;
        }
        let now_ms = unix_ms(SystemTime::now());
        let remaining = payload.expires_at_ms.checked_sub(now_ms)?;
        // A token this close to expiry is not worth taking: the in-process cache would still
        // serve it for its minimum usable life. It counts as a miss, so one process replaces it.
        if remaining < MIN_USABLE_LIFETIME.as_millis() as u64 {
            return None;
        }
        let mut builder = AccessToken::builder(payload.secret.clone())
            .token_type(payload.token_type.clone())
            .header_prefix(payload.header_prefix.clone())
            .expires_in(Duration::from_millis(remaining))
            .scopes(payload.scopes.clone());
        if let Some(grant) = &payload.grant_type {
            builder = builder.grant_type(grant.clone());
        }
        Some((fingerprint, builder.build().ok()?))
    }

    fn seal(&self, token: &AccessToken) -> Result<(Vec<u8>, Duration), crate::FleetError> {
        let remaining = token.expires_at().map_or(DEFAULT_LIFETIME, |at| {
            at.saturating_duration_since(Instant::now())
        });
        let secret = token.secret().expose_secret();
        let header = token.header_value().as_bytes();
        let prefix = header
            .strip_suffix(secret.as_bytes())
            .map(|p| String::from_utf8_lossy(p).trim_end().to_owned())
            .unwrap_or_else(|| token.token_type().to_owned());
        let payload = Payload {
            secret: secret.to_owned(),
            token_type: token.token_type().to_owned(),
            header_prefix: prefix,
            expires_at_ms: unix_ms(SystemTime::now() + remaining),
            scopes: token.scopes().to_vec(),
            grant_type: token.grant_type().map(str::to_owned),
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&payload).map_err(|e| crate::FleetError::crypto(e.to_string()))?,
        );
        let mut value = self.sealer().fingerprint(secret.as_bytes()).to_vec();
        value.extend_from_slice(&self.sealer().seal(&self.key, &json)?);
        // The entry lives as long as the token is worth taking (see `open`).
        Ok((value, remaining.saturating_sub(MIN_USABLE_LIFETIME)))
    }
}

impl<S: TokenSource> FleetTokenSource<S> {
    /// Fetches from the wrapped source without the fleet (Redis failed or stayed silent).
    async fn fetch_alone(&self) -> Result<AccessToken, AuthError> {
        let token = self.source.token().await?;
        self.hold(
            self.sealer()
                .fingerprint(token.secret().expose_secret().as_bytes()),
        );
        Ok(token)
    }

    /// This process holds the lock: look once more, then fetch, publish and release.
    async fn fetch_as_leader(&self, owner: &str) -> Result<AccessToken, AuthError> {
        let held = self.held();
        let result = match self.read().await {
            Ok(Some((fp, token))) if Some(fp) != held => {
                self.hold(fp);
                Ok(token)
            }
            _ => {
                event!(debug, key = %self.key, "fetching for the fleet");
                let result = self.fetch_alone().await;
                if let Ok(token) = &result
                    && let Ok((value, ttl)) = self.seal(token)
                    && !ttl.is_zero()
                {
                    let _ = self.cache.set_px(&self.key, &value, ttl).await;
                }
                result
            }
        };
        let _ = self
            .cache
            .delete_if_prefix(&self.lock_key, owner.as_bytes())
            .await;
        result
    }

    async fn fleet_token(&self) -> Result<AccessToken, AuthError> {
        let inner = &self.cache.inner;
        let deadline = Instant::now() + inner.lock_ttl + inner.fetch_timeout;
        loop {
            let held = self.held();
            match self.read().await {
                Err(_) => return self.fetch_alone().await,
                Ok(Some((fp, token))) if Some(fp) != held => {
                    self.hold(fp);
                    return Ok(token);
                }
                Ok(_) => {}
            }
            let owner = RedisTokenCache::owner();
            match self.cache.try_lock(&self.lock_key, &owner).await {
                Err(_) => return self.fetch_alone().await,
                Ok(true) => return self.fetch_as_leader(&owner).await,
                Ok(false) => {}
            }
            // Another process fetches: wait for its token, or for its lock to go.
            loop {
                if Instant::now() >= deadline {
                    event!(warn, key = %self.key, "the fleet's fetch did not finish in time; fetching alone");
                    return self.fetch_alone().await;
                }
                let jitter = 0.5 + fastrand::f64();
                tokio::time::sleep(inner.poll_interval.mul_f64(jitter)).await;
                match self.read().await {
                    Err(_) => return self.fetch_alone().await,
                    Ok(Some((fp, token))) if Some(fp) != held => {
                        self.hold(fp);
                        return Ok(token);
                    }
                    Ok(_) => {}
                }
                match self.cache.exists(&self.lock_key).await {
                    Err(_) => return self.fetch_alone().await,
                    // The holder released without publishing (its fetch failed) or died.
                    Ok(false) => break,
                    Ok(true) => {}
                }
            }
        }
    }
}

impl<S: TokenSource> TokenSource for FleetTokenSource<S> {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.fleet_token())
    }

    fn invalidate(&self, token: &AccessToken) {
        self.source.invalidate(token);
        let fingerprint = self
            .sealer()
            .fingerprint(token.secret().expose_secret().as_bytes());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let cache = self.cache.clone();
        let key = self.key.clone();
        runtime.spawn(async move {
            // Only if Redis still holds that token: a newer one stays.
            let _ = cache.delete_if_prefix(&key, &fingerprint).await;
        });
    }
}

impl<S: fmt::Debug> fmt::Debug for FleetTokenSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetTokenSource")
            .field("cache", &self.cache)
            .field("key", &self.key)
            .field("source", &self.source)
            .finish()
    }
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
