//! [`RedisTokenStore`]: auth-core's `TokenStore` on Redis, sealed like the token cache, with
//! refresh-token rotation serialized across the fleet: [`TokenStore::lock`] takes a fleet-wide
//! lock (the grants hold it from loading the refresh token to saving the rotated one), and a save
//! is a compare-and-set on the record this store loaded, so a rotated refresh token is never
//! overwritten by a stale one nor spent twice.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::Mutex,
    time::{Duration, UNIX_EPOCH},
};

use auth_core::{
    AuthError, ErrorKind, ExposeSecret, StoreFuture, StoreLock, StoredToken, TokenStore,
};
use secrecy::{SecretString, zeroize::Zeroizing};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{FleetError, RedisTokenCache, seal::FINGERPRINT_LEN};

/// Sets `KEYS[1]` to `ARGV[2]` only when its fingerprint (first 16 bytes) is still `ARGV[1]`
/// (empty: the key must be missing).
const COMPARE_AND_SET: &str = "local v = redis.call('GET', KEYS[1]) \
    local cur = '' if v then cur = string.sub(v, 1, 16) end \
    if cur == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0";

/// A [`TokenStore`] on Redis, sealed like the token cache. Refresh-token rotation is serialized
/// across the fleet: [`TokenStore::lock`] takes a fleet-wide lock (the grants hold it from
/// loading the refresh token to saving the rotated one), and a save is a compare-and-set on the
/// record this store loaded, so a rotated refresh token is never overwritten by a stale one nor
/// spent twice. Records never expire by themselves; Redis failing fails the store's calls.
pub struct RedisTokenStore {
    cache: RedisTokenCache,
    /// Per store key, the fingerprint of the record this store last loaded or saved.
    seen: Mutex<HashMap<String, Vec<u8>>>,
}

#[derive(Serialize, Deserialize, Default)]
struct Record {
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_at_ms: Option<u64>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

impl Drop for Record {
    fn drop(&mut self) {
        use secrecy::zeroize::Zeroize;
        self.refresh_token.zeroize();
        self.access_token.zeroize();
    }
}

impl RedisTokenStore {
    /// A store in `cache`'s Redis, under its prefix and sealed with its key.
    pub fn new(cache: RedisTokenCache) -> Self {
        Self {
            cache,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn fingerprint(&self, record: Option<&StoredToken>) -> Vec<u8> {
        match record {
            None => Vec::new(),
            Some(r) => {
                let refresh = r.refresh_token.as_ref().map(|s| s.expose_secret());
                self.cache
                    .inner
                    .sealer
                    .fingerprint(refresh.unwrap_or("").as_bytes())
                    .to_vec()
            }
        }
    }

    fn remember(&self, key: &str, fingerprint: Vec<u8>) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(key.to_owned(), fingerprint);
        }
    }

    fn open(&self, name: &str, value: &[u8]) -> Option<StoredToken> {
        let sealed = value.get(FINGERPRINT_LEN..)?;
        let plain = Zeroizing::new(self.cache.inner.sealer.open(name, sealed)?);
        let record: Record = serde_json::from_slice(&plain).ok()?;
        let mut token = StoredToken::default();
        token.refresh_token = record.refresh_token.clone().map(SecretString::from);
        token.access_token = record.access_token.clone().map(SecretString::from);
        token.token_type = record.token_type.clone();
        token.expires_at = record
            .expires_at_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
        token.scopes = record.scopes.clone();
        token.metadata = record.metadata.clone();
        Some(token)
    }

    fn seal(&self, name: &str, token: &StoredToken) -> Result<Vec<u8>, FleetError> {
        let record = Record {
            refresh_token: token
                .refresh_token
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            access_token: token
                .access_token
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            token_type: token.token_type.clone(),
            expires_at_ms: token.expires_at.and_then(|at| {
                at.duration_since(UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_millis() as u64)
            }),
            scopes: token.scopes.clone(),
            metadata: token.metadata.clone(),
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&record).map_err(|e| FleetError::crypto(e.to_string()))?,
        );
        let mut value = self.fingerprint(Some(token));
        value.extend_from_slice(&self.cache.inner.sealer.seal(name, &json)?);
        Ok(value)
    }
}

fn store_error(what: &str, e: FleetError) -> AuthError {
    AuthError::new(ErrorKind::Store, format!("redis token store: {what}: {e}"))
}

impl TokenStore for RedisTokenStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredToken>> {
        Box::pin(async move {
            let name = self.cache.store_key(key);
            let value = self
                .cache
                .get(&name)
                .await
                .map_err(|e| store_error("load", e))?;
            let Some(value) = value else {
                self.remember(key, Vec::new());
                return Ok(None);
            };
            let fp = value.get(..FINGERPRINT_LEN).unwrap_or_default().to_vec();
            self.remember(key, fp);
            // A record that does not open (another key, corrupt) counts as missing; the next
            // save replaces it.
            Ok(self.open(&name, &value))
        })
    }

    fn save<'a>(&'a self, key: &'a str, token: &'a StoredToken) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.cache.store_key(key);
            let value = self
                .seal(&name, token)
                .map_err(|e| store_error("save", e))?;
            let expected = self.seen.lock().ok().and_then(|s| s.get(key).cloned());
            let Some(expected) = expected else {
                self.cache
                    .run::<()>(redis::cmd("SET").arg(&name).arg(&value))
                    .await
                    .map_err(|e| store_error("save", e))?;
                self.remember(key, self.fingerprint(Some(token)));
                return Ok(());
            };
            let set: i64 = self
                .cache
                .run(
                    redis::cmd("EVAL")
                        .arg(COMPARE_AND_SET)
                        .arg(1)
                        .arg(&name)
                        .arg(&expected)
                        .arg(&value),
                )
                .await
                .map_err(|e| store_error("save", e))?;
            if set == 0 {
                return Err(AuthError::new(
                    ErrorKind::Store,
                    format!(
                        "redis token store: the record under `{key}` was changed by another \
                         process since it was loaded; not overwritten"
                    ),
                ));
            }
            self.remember(key, self.fingerprint(Some(token)));
            Ok(())
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.cache.store_key(key);
            self.cache
                .run::<()>(redis::cmd("DEL").arg(&name))
                .await
                .map_err(|e| store_error("remove", e))?;
            self.remember(key, Vec::new());
            Ok(())
        })
    }

    fn lock<'a>(&'a self, key: &'a str) -> StoreFuture<'a, StoreLock> {
        Box::pin(async move {
            let lock_key = format!("{}:lock", self.cache.store_key(key));
            let owner = RedisTokenCache::owner();
            let inner = &self.cache.inner;
            let deadline = Instant::now() + inner.lock_ttl + inner.fetch_timeout;
            loop {
                let taken = self
                    .cache
                    .try_lock(&lock_key, &owner)
                    .await
                    .map_err(|e| store_error("lock", e))?;
                if taken {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(AuthError::new(
                        ErrorKind::Store,
                        format!("redis token store: `{key}` stayed locked by another process"),
                    ));
                }
                let jitter = 0.5 + fastrand::f64();
                tokio::time::sleep(inner.poll_interval.mul_f64(jitter)).await;
            }
            Ok(StoreLock::new(Release {
                cache: self.cache.clone(),
                lock_key,
                owner,
            }))
        })
    }
}

/// Releases a store lock when dropped (only if this process still owns it).
struct Release {
    cache: RedisTokenCache,
    lock_key: String,
    owner: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // The lock expires by itself.
        };
        let cache = self.cache.clone();
        let lock_key = std::mem::take(&mut self.lock_key);
        let owner = std::mem::take(&mut self.owner);
        runtime.spawn(async move {
            let _ = cache.delete_if_prefix(&lock_key, owner.as_bytes()).await;
        });
    }
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}
