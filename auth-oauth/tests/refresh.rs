//! The refresh token grant against the in-process endpoint: rotation, the store, and failures.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use auth_core::{
    AuthError, ErrorKind, ExposeSecret, MemoryTokenStore, StoreFuture, StoredToken, TokenStore,
};
use auth_oauth::{RefreshToken, TokenEndpoint, TokenParams};
use auth_test_support::token_server::{Fault, TokenServer};
use serde_json::json;

/// A memory store whose saves can be made to fail, counting them.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryTokenStore,
    fail_saves: AtomicBool,
    saves: AtomicUsize,
}

impl TokenStore for FlakyStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredToken>> {
        self.inner.load(key)
    }

    fn save<'a>(&'a self, key: &'a str, token: &'a StoredToken) -> StoreFuture<'a, ()> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        if self.fail_saves.load(Ordering::SeqCst) {
            return Box::pin(async { Err(AuthError::new(ErrorKind::Store, "disk full")) });
        }
        self.inner.save(key, token)
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.inner.remove(key)
    }
}

async fn stored_refresh_token(store: &FlakyStore, key: &str) -> Option<String> {
    let record = store.load(key).await.expect("load")?;
    record.refresh_token.map(|t| t.expose_secret().to_owned())
}

async fn setup(server: &TokenServer) -> (Arc<FlakyStore>, RefreshToken, String) {
    let store = Arc::new(FlakyStore::default());
    let seed = server.issue_refresh_token();
    store
        .save("alice", &StoredToken::with_refresh_token(seed.clone()))
        .await
        .expect("seed");
    let endpoint = TokenEndpoint::builder(server.token_url(), "client-id")
        .client_secret("client-secret")
        .build()
        .expect("endpoint");
    let grant =
        RefreshToken::new(endpoint, store.clone(), "alice", TokenParams::new()).expect("grant");
    (store, grant, seed)
}

#[tokio::test]
async fn a_rotated_refresh_token_is_in_the_store_when_the_access_token_arrives() {
    let server = TokenServer::builder().start().await;
    let (store, grant, seed) = setup(&server).await;
    let token = grant.fetch().await.expect("refreshed");
    let request = server.last_request();
    assert_eq!(request.field_names(), ["grant_type", "refresh_token"]);
    assert_eq!(request.field("refresh_token"), Some(seed.as_str()));

    let rotated = stored_refresh_token(&store, "alice").await.expect("stored");
    assert_ne!(rotated, seed);
    assert!(server.refresh_token_is_valid(&rotated));
    assert!(!server.refresh_token_is_valid(&seed));
    assert_eq!(
        token.refresh_token().map(|t| t.expose_secret()),
        Some(rotated.as_str())
    );

    // The next refresh spends the rotated one.
    grant.fetch().await.expect("refreshed again");
    assert_eq!(
        server.last_request().field("refresh_token"),
        Some(rotated.as_str())
    );
}

#[tokio::test]
async fn a_failed_save_is_the_error_and_the_old_record_stays() {
    let server = TokenServer::builder().start().await;
    let (store, grant, seed) = setup(&server).await;
    store.fail_saves.store(true, Ordering::SeqCst);
    let err = grant.fetch().await.expect_err("save failed");
    assert_eq!(err.kind(), ErrorKind::Store);
    let text = err.to_string();
    assert!(text.contains("disk full"), "{text}");
    assert!(text.contains("the new access token was not used"), "{text}");
    assert_eq!(
        stored_refresh_token(&store, "alice").await.as_deref(),
        Some(seed.as_str())
    );
}

#[tokio::test]
async fn without_rotation_the_store_is_not_rewritten() {
    let server = TokenServer::builder()
        .rotate_refresh_tokens(false)
        .start()
        .await;
    let (store, grant, seed) = setup(&server).await;
    let saves_before = store.saves.load(Ordering::SeqCst);
    grant.fetch().await.expect("refreshed");
    grant.fetch().await.expect("refreshed");
    assert_eq!(store.saves.load(Ordering::SeqCst), saves_before);
    assert_eq!(
        stored_refresh_token(&store, "alice").await.as_deref(),
        Some(seed.as_str())
    );
}

#[tokio::test]
async fn concurrent_refreshes_never_spend_the_same_refresh_token_twice() {
    let server = TokenServer::builder().start().await;
    let (_store, grant, _seed) = setup(&server).await;
    let grant = Arc::new(grant);
    let calls = (0..8).map(|_| {
        let grant = grant.clone();
        tokio::spawn(async move { grant.fetch().await })
    });
    for result in futures_util::future::join_all(calls).await {
        result.expect("task").expect("every refresh succeeds");
    }
    let spent: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| r.field("refresh_token").map(str::to_owned))
        .collect();
    let mut unique = spent.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        spent.len(),
        "a refresh token was reused: {spent:?}"
    );
}

#[tokio::test]
async fn an_initial_refresh_token_is_saved_on_first_use() {
    let server = TokenServer::builder()
        .rotate_refresh_tokens(false)
        .start()
        .await;
    let store = Arc::new(FlakyStore::default());
    let seed = server.issue_refresh_token();
    let endpoint = TokenEndpoint::builder(server.token_url(), "client-id")
        .client_secret("client-secret")
        .build()
        .expect("endpoint");
    let grant = RefreshToken::new(endpoint, store.clone(), "bob", TokenParams::new())
        .expect("grant")
        .initial_refresh_token(seed.clone());
    grant.fetch().await.expect("refreshed");
    assert_eq!(
        stored_refresh_token(&store, "bob").await.as_deref(),
        Some(seed.as_str())
    );
}

#[tokio::test]
async fn no_stored_refresh_token_is_an_error_naming_the_key() {
    let server = TokenServer::builder().start().await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "client-id")
        .client_secret("client-secret")
        .build()
        .expect("endpoint");
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let grant = RefreshToken::new(endpoint, store, "carol", TokenParams::new()).expect("grant");
    let err = grant.fetch().await.expect_err("nothing stored");
    assert_eq!(err.kind(), ErrorKind::NotSignedIn);
    assert!(err.to_string().contains("`carol`"), "{err}");
    assert_eq!(server.fetches(), 0);
}

#[tokio::test]
async fn a_revoked_refresh_token_is_invalid_grant() {
    let server = TokenServer::builder().start().await;
    let store = Arc::new(FlakyStore::default());
    store
        .save("dave", &StoredToken::with_refresh_token("rt-revoked"))
        .await
        .expect("seed");
    let endpoint = TokenEndpoint::builder(server.token_url(), "client-id")
        .client_secret("client-secret")
        .build()
        .expect("endpoint");
    let grant = RefreshToken::new(endpoint, store, "dave", TokenParams::new()).expect("grant");
    let err = grant.fetch().await.expect_err("revoked");
    assert_eq!(err.kind(), ErrorKind::InvalidGrant);
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("rt-revoked"));
}

#[tokio::test]
async fn a_rotated_refresh_token_is_kept_even_when_the_access_token_is_unusable() {
    let server = TokenServer::builder().start().await;
    let (store, grant, seed) = setup(&server).await;
    // The provider spends the seed and rotates, but issues a token type we cannot send.
    server.push_fault(Fault::json(
        200,
        json!({
            "access_token": "at",
            "token_type": "N_A",
            "expires_in": 60,
            "refresh_token": "rotated-before-the-error",
        }),
    ));
    let error = grant.fetch().await.expect_err("N_A is not Bearer");
    assert_eq!(error.kind(), ErrorKind::UnsupportedTokenType, "{error}");
    assert_eq!(
        stored_refresh_token(&store, "alice").await.as_deref(),
        Some("rotated-before-the-error"),
        "the rotated refresh token was saved before the access token was built (seed {seed})"
    );
}
