//! The refresh token grant (RFC 6749 §6), safe with rotating refresh tokens.
//!
//! The refresh token lives in a [`TokenStore`]. When the provider answers with a new refresh
//! token (rotation), the new one is saved *before* the new access token is handed out: if the
//! save fails, the error is returned, the access token is dropped and the store keeps the old
//! record, so a crash or a full disk never loses the grant silently. Refreshes of one grant are
//! serialized, so two callers never spend the same refresh token.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, LazyLock, Mutex, PoisonError, Weak},
};

use auth_core::{
    AccessToken, AuthError, ErrorKind, ExposeSecret, SecretString, StoredToken, TokenFuture,
    TokenSource, TokenStore,
};

use crate::{TokenEndpoint, TokenParams, TokenResponse, endpoint::event};

/// Exchanges the stored refresh token for a new access token on every call; see the
/// [module docs](self).
///
/// ```
/// use auth_core::{MemoryTokenStore, StoredToken, TokenStore};
/// use auth_oauth::{RefreshToken, TokenEndpoint, TokenParams};
/// use std::sync::Arc;
/// # async fn run() -> Result<(), auth_core::AuthError> {
/// let store = Arc::new(MemoryTokenStore::new());
/// let endpoint = TokenEndpoint::builder("https://auth.example.com/token", "my-cli").build()?;
/// let grant = RefreshToken::new(endpoint, store.clone(), "my-cli/alice", TokenParams::new())?
///     // used when the store has no record yet; saved on first use
///     .initial_refresh_token("1//refresh-token-from-elsewhere");
/// # Ok(()) }
/// ```
pub struct RefreshToken {
    endpoint: TokenEndpoint,
    params: TokenParams,
    rotation: Rotation,
    initial: Option<SecretString>,
}

impl RefreshToken {
    /// The grant reading and saving its refresh token under `key` in `store`. Fails with a
    /// config error for an empty key or invalid params.
    pub fn new(
        endpoint: TokenEndpoint,
        store: Arc<dyn TokenStore>,
        key: impl Into<String>,
        params: TokenParams,
    ) -> Result<Self, AuthError> {
        params.validate()?;
        Ok(Self {
            endpoint,
            params,
            rotation: Rotation::new(store, key.into())?,
            initial: None,
        })
    }

    /// The refresh token to use when the store has none for the key (it is saved to the store
    /// on first use).
    pub fn initial_refresh_token(mut self, refresh_token: impl Into<SecretString>) -> Self {
        self.initial = Some(refresh_token.into()).filter(|t| !t.expose_secret().is_empty());
        self
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    /// The store key.
    pub fn key(&self) -> &str {
        &self.rotation.key
    }

    /// The stored refresh token and the rules for spending it.
    pub(crate) fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// Refreshes once, saving a rotated refresh token before returning the access token.
    pub async fn fetch(&self) -> Result<AccessToken, AuthError> {
        self.rotation
            .refresh(&self.endpoint, &self.params, self.initial.as_ref())
            .await
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("endpoint", &self.endpoint)
            .field("params", &self.params)
            .field("key", &self.rotation.key)
            .field("initial", &self.initial.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl TokenSource for RefreshToken {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }
}

/// A refresh token in a store, and the rules for spending and rotating it. Shared by
/// [`RefreshToken`] and the authorization code grant.
pub(crate) struct Rotation {
    store: Arc<dyn TokenStore>,
    key: String,
    /// Serializes refreshes: with rotation, a refresh token can be spent once, and some
    /// providers revoke the whole grant when one is reused. One lock per store and key in the
    /// process (see [`spending_lock`]), so grants that share a refresh token (a user's tokens for
    /// two resources, say) take turns. A Tokio mutex because the critical section is the
    /// request itself; nothing else waits on it.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Set by a sign-out ([`Rotation::revoke`]): the seed refresh token is not used again
    /// (the next sign-in's code exchange clears it).
    signed_out: std::sync::atomic::AtomicBool,
}

type SpendingLocks = HashMap<(usize, String), Weak<tokio::sync::Mutex<()>>>;

/// The locks of live grants, by store (its address) and key, and the size at which dead entries
/// are next swept.
static SPENDING_LOCKS: LazyLock<Mutex<(SpendingLocks, usize)>> =
    LazyLock::new(|| Mutex::new((HashMap::new(), 64)));

/// The process's one lock for the refresh token under `key` in `store`. An entry lives as long
/// as a grant holds its lock, and a grant holds its store, so a store's address is not reused
/// while its entries live; dead entries are swept when the map has doubled.
fn spending_lock(store: &Arc<dyn TokenStore>, key: &str) -> Arc<tokio::sync::Mutex<()>> {
    let id = (Arc::as_ptr(store).cast::<()>() as usize, key.to_owned());
    let mut guard = SPENDING_LOCKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let (locks, sweep_at) = &mut *guard;
    if let Some(lock) = locks.get(&id).and_then(Weak::upgrade) {
        return lock;
    }
    if locks.len() >= *sweep_at {
        locks.retain(|_, lock| lock.strong_count() > 0);
        *sweep_at = (locks.len() * 2).max(64);
    }
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    locks.insert(id, Arc::downgrade(&lock));
    lock
}

impl Rotation {
    pub(crate) fn new(store: Arc<dyn TokenStore>, key: String) -> Result<Self, AuthError> {
        if key.trim().is_empty() {
            return Err(AuthError::config("store_key", "is empty"));
        }
        Ok(Self {
            lock: spending_lock(&store, &key),
            store,
            key,
            signed_out: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Signs out: revokes the stored refresh token (and `cached`, the access token in use) at
    /// `revocation`, then removes the record, serialized with refreshes so none saves a
    /// rotated token behind it; the seed refresh token is not used again.
    pub(crate) async fn revoke(
        &self,
        revocation: Option<&crate::revocation::Revocation>,
        cached: Option<AccessToken>,
    ) -> Result<crate::revocation::RevocationOutcome, AuthError> {
        let _serialized = self.lock.lock().await;
        let _fleet = self.store.lock(&self.key).await?;
        self.signed_out
            .store(true, std::sync::atomic::Ordering::SeqCst);
        crate::revocation::revoke_stored(revocation, Some((&*self.store, &self.key)), cached).await
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Spends the stored refresh token (or `initial` when none is stored).
    pub(crate) async fn refresh(
        &self,
        endpoint: &TokenEndpoint,
        params: &TokenParams,
        initial: Option<&SecretString>,
    ) -> Result<AccessToken, AuthError> {
        let _serialized = self.lock.lock().await;
        // Across processes too, when the store is shared (Redis): held until the rotated
        // refresh token is saved.
        let _fleet = self.store.lock(&self.key).await?;
        let stored = self.store.load(&self.key).await?;
        let from_store = stored.as_ref().and_then(|s| s.refresh_token.clone());
        let initial =
            initial.filter(|_| !self.signed_out.load(std::sync::atomic::Ordering::SeqCst));
        let Some(refresh_token) = from_store.clone().or_else(|| initial.cloned()) else {
            return Err(AuthError::new(
                ErrorKind::NotSignedIn,
                format!(
                    "no refresh token is stored under `{}`: sign in (run the authorization flow) \
                     first",
                    self.key
                ),
            ));
        };
        let fields = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        let response = endpoint.request(&fields, params).await?;
        // The rotated refresh token is saved before the access token is even built: the
        // provider has spent the old one, so a response whose access token cannot be used
        // (an unsupported token type, say) must not cost the refresh token too.
        if response.rotates(Some(&refresh_token)) || from_store.is_none() {
            let kept = response.refresh_token().cloned().unwrap_or(refresh_token);
            self.save(stored, kept, &response).await?;
            event!(debug, key = %self.key, "refresh token saved");
        }
        response.to_access_token(endpoint.header_prefix(), params.requested_scopes())
    }

    /// Saves the refresh token a code exchange returned.
    pub(crate) async fn save_initial(&self, response: &TokenResponse) -> Result<(), AuthError> {
        let Some(refresh_token) = response.refresh_token().cloned() else {
            return Ok(());
        };
        let _serialized = self.lock.lock().await;
        let _fleet = self.store.lock(&self.key).await?;
        let stored = self.store.load(&self.key).await?;
        self.save(stored, refresh_token, response).await?;
        self.signed_out
            .store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    async fn save(
        &self,
        previous: Option<StoredToken>,
        refresh_token: SecretString,
        response: &TokenResponse,
    ) -> Result<(), AuthError> {
        let mut record = previous.unwrap_or_default();
        record.refresh_token = Some(refresh_token);
        record.token_type = Some(response.token_type().to_owned());
        if let Some(scopes) = response.scopes() {
            record.scopes = scopes.to_vec();
        }
        self.store.save(&self.key, &record).await.map_err(|e| {
            let detail = match e.detail() {
                Some(d) => format!(
                    "{d} (saving the rotated refresh token under `{}`; the new access token was \
                     not used)",
                    self.key
                ),
                None => format!(
                    "saving the rotated refresh token under `{}` failed; the new access token \
                     was not used",
                    self.key
                ),
            };
            e.with_detail(detail)
        })
    }
}
