//! [`TokenStore`]: where refresh tokens (and optionally access tokens) live across restarts.
//!
//! A grant that rotates refresh tokens saves the new one *before* handing out the new access
//! token, so a crash never loses the grant. Two stores ship: [`MemoryTokenStore`] and
//! [`FileTokenStore`] (atomic write + rename, owner-only permissions, a lock file so several
//! processes can share it). The trait is async so a networked store (Redis) fits later.

use std::{collections::BTreeMap, fmt, future::Future, pin::Pin, time::SystemTime};

use secrecy::SecretString;

use crate::AuthError;

mod file;
mod memory;

pub use file::FileTokenStore;
pub use memory::MemoryTokenStore;

/// The future returned by [`TokenStore`] methods.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, AuthError>> + Send + 'a>>;

/// What a [`TokenStore`] keeps for one key (typically one connection or one user).
///
/// Times are wall-clock (`SystemTime`) because they outlive the process.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct StoredToken {
    /// The refresh token, if any.
    pub refresh_token: Option<SecretString>,
    /// The access token, if the caller chose to persist it.
    pub access_token: Option<SecretString>,
    /// The access token's type, e.g. `Bearer`.
    pub token_type: Option<String>,
    /// When the access token expires.
    pub expires_at: Option<SystemTime>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// Free-form, non-secret metadata (e.g. the client-authentication method that worked).
    pub metadata: BTreeMap<String, String>,
}

impl StoredToken {
    /// A record holding only a refresh token.
    pub fn with_refresh_token(refresh_token: impl Into<SecretString>) -> Self {
        StoredToken {
            refresh_token: Some(refresh_token.into()),
            ..Default::default()
        }
    }
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredToken")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "[redacted]"),
            )
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Persists [`StoredToken`]s by key. Object safe; implementations must be `Send + Sync`.
pub trait TokenStore: Send + Sync + 'static {
    /// The record for `key`, or `None` when there is none.
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredToken>>;

    /// Replaces the record for `key`. When this returns `Ok`, the record is durable (for the
    /// file store: written, synced and renamed into place); on error the previous record is
    /// intact.
    fn save<'a>(&'a self, key: &'a str, token: &'a StoredToken) -> StoreFuture<'a, ()>;

    /// Removes the record for `key`; removing a missing key is not an error.
    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;

    /// Serializes refresh-token rotation of `key` across every process sharing this store: the
    /// grants hold the returned lock from loading a refresh token to saving the rotated one, so
    /// two processes never spend the same refresh token. Released when dropped.
    ///
    /// Defaults to [`StoreLock::none`]: a store in one process needs no more than the grants'
    /// own in-process lock (the file store has its lock file).
    fn lock<'a>(&'a self, key: &'a str) -> StoreFuture<'a, StoreLock> {
        let _ = key;
        Box::pin(async { Ok(StoreLock::none()) })
    }
}

/// A lock taken with [`TokenStore::lock`], released when dropped.
pub struct StoreLock {
    _release: Option<Box<dyn Send + Sync>>,
}

impl StoreLock {
    /// No lock to release (stores used by one process).
    pub fn none() -> Self {
        StoreLock { _release: None }
    }

    /// A lock released by dropping `release`.
    pub fn new(release: impl Send + Sync + 'static) -> Self {
        StoreLock {
            _release: Some(Box::new(release)),
        }
    }
}

impl fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreLock")
            .field("held", &self._release.is_some())
            .finish()
    }
}

impl<T: TokenStore + ?Sized> TokenStore for std::sync::Arc<T> {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredToken>> {
        (**self).load(key)
    }

    fn save<'a>(&'a self, key: &'a str, token: &'a StoredToken) -> StoreFuture<'a, ()> {
        (**self).save(key, token)
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        (**self).remove(key)
    }

    fn lock<'a>(&'a self, key: &'a str) -> StoreFuture<'a, StoreLock> {
        (**self).lock(key)
    }
}
