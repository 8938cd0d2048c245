//! [`MemoryTokenStore`]: a [`TokenStore`] that keeps records in memory, for tests and for
//! processes that do not need tokens to survive a restart.
//!
//! ```
//! use auth_core::{MemoryTokenStore, StoredToken, TokenStore};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::AuthError> {
//! let store = MemoryTokenStore::new();
//! store.save("billing", &StoredToken::with_refresh_token("r1")).await?;
//! assert!(store.load("billing").await?.is_some());
//! store.remove("billing").await?;
//! assert!(store.load("billing").await?.is_none());
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    fmt,
    future::ready,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use super::{StoreFuture, StoredToken, TokenStore};

/// A [`TokenStore`] held in memory. Clones share the same records.
///
/// `Debug` shows the stored keys, never the tokens.
#[derive(Clone, Default)]
pub struct MemoryTokenStore {
    records: Arc<Mutex<HashMap<String, StoredToken>>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> MutexGuard<'_, HashMap<String, StoredToken>> {
        // Every critical section is a single map operation that cannot leave the map half
        // updated, so a panic elsewhere while the lock was held does not make the data invalid.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TokenStore for MemoryTokenStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredToken>> {
        let record = self.records().get(key).cloned();
        Box::pin(ready(Ok(record)))
    }

    fn save<'a>(&'a self, key: &'a str, token: &'a StoredToken) -> StoreFuture<'a, ()> {
        self.records().insert(key.to_owned(), token.clone());
        Box::pin(ready(Ok(())))
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.records().remove(key);
        Box::pin(ready(Ok(())))
    }
}

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<String> = self.records().keys().cloned().collect();
        // Sorted so the output is stable across runs (HashMap order is random).
        keys.sort_unstable();
        f.debug_struct("MemoryTokenStore")
            .field("keys", &keys)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use secrecy::ExposeSecret;

    use super::*;

    const CANARY: &str = "canary-secret-3f9a";

    fn full_record() -> StoredToken {
        StoredToken {
            refresh_token: Some(CANARY.into()),
            access_token: Some(format!("{CANARY}-access").into()),
            token_type: Some("Bearer".to_owned()),
            expires_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
            scopes: vec!["read".to_owned(), "write".to_owned()],
            metadata: [("client_auth".to_owned(), "basic".to_owned())].into(),
        }
    }

    #[tokio::test]
    async fn round_trips_every_field() {
        let store = MemoryTokenStore::new();
        let saved = full_record();
        store.save("api", &saved).await.expect("save");
        let loaded = store.load("api").await.expect("load").expect("record");
        assert_eq!(
            loaded.refresh_token.as_ref().map(|s| s.expose_secret()),
            Some(CANARY)
        );
        assert_eq!(
            loaded.access_token.as_ref().map(|s| s.expose_secret()),
            saved.access_token.as_ref().map(|s| s.expose_secret())
        );
        assert_eq!(loaded.token_type, saved.token_type);
        assert_eq!(loaded.expires_at, saved.expires_at);
        assert_eq!(loaded.scopes, saved.scopes);
        assert_eq!(loaded.metadata, saved.metadata);
    }

    #[tokio::test]
    async fn missing_key_loads_as_none_and_removes_fine() {
        let store = MemoryTokenStore::new();
        assert!(store.load("nope").await.expect("load").is_none());
        store.remove("nope").await.expect("remove of a missing key");
    }

    #[tokio::test]
    async fn save_replaces_and_remove_deletes() {
        let store = MemoryTokenStore::new();
        store
            .save("k", &StoredToken::with_refresh_token("one"))
            .await
            .expect("save");
        store
            .save("k", &StoredToken::with_refresh_token("two"))
            .await
            .expect("save");
        let loaded = store.load("k").await.expect("load").expect("record");
        assert_eq!(
            loaded.refresh_token.as_ref().map(|s| s.expose_secret()),
            Some("two")
        );
        store.remove("k").await.expect("remove");
        assert!(store.load("k").await.expect("load").is_none());
    }

    #[tokio::test]
    async fn clones_share_records() {
        let store = MemoryTokenStore::new();
        let other = store.clone();
        store
            .save("shared", &StoredToken::with_refresh_token("r"))
            .await
            .expect("save");
        assert!(other.load("shared").await.expect("load").is_some());
    }

    #[tokio::test]
    async fn works_as_a_trait_object() {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
        store
            .save("k", &StoredToken::with_refresh_token("r"))
            .await
            .expect("save");
        assert!(store.load("k").await.expect("load").is_some());
    }

    #[tokio::test]
    async fn debug_shows_keys_but_never_secrets() {
        let store = MemoryTokenStore::new();
        store.save("beta", &full_record()).await.expect("save");
        store.save("alpha", &full_record()).await.expect("save");
        let text = format!("{store:?}");
        assert_eq!(text, r#"MemoryTokenStore { keys: ["alpha", "beta"] }"#);
        let record = format!("{:?}", full_record());
        assert!(!record.contains(CANARY), "{record}");
        assert!(record.contains("[redacted]"));
    }
}
