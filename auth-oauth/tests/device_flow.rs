//! The device authorization grant (RFC 8628) against panva's `oidc-provider`: the public
//! `DEVICE` client and the confidential `CONFIDENTIAL` client (Basic) sign in through
//! `OAuth2Layer::device_login` while the provider's own pages are driven over HTTP as a
//! browser would; the token introspects as the user's, the refresh token is stored and a later
//! refresh (the provider rotates refresh tokens) works; a refusal and an expired code end with
//! their typed errors; polls honour the provider's `interval`.

use std::{sync::Arc, time::Duration};

use auth_core::{ErrorKind, ExposeSecret, MemoryTokenStore, TokenStore};
use auth_oauth::{
    ClientAuth, OAuth2Layer,
    grant::{DEVICE_CODE_GRANT_TYPE, DeviceCode, DevicePrompt},
};
use auth_test_support::oidc_provider::{
    CONFIDENTIAL, DEVICE, OidcClient, OidcOptions, OidcProvider,
};
use tokio::task::JoinHandle;

const SCOPES: &str = "openid offline_access api:read";
const KEY: &str = "device/alice";

fn layer(
    provider: &OidcProvider,
    client: OidcClient,
    store: Arc<MemoryTokenStore>,
) -> OAuth2Layer<DeviceCode> {
    let mut builder = OAuth2Layer::device_code(
        provider.token_url(),
        client.id,
        provider.device_authorization_url(),
    )
    .scopes(SCOPES)
    .store(store, KEY);
    if let Some(secret) = client.secret {
        builder = builder.client_secret(secret).client_auth(ClientAuth::Basic);
    }
    builder.build().expect("layer")
}

async fn provider(options: OidcOptions) -> Arc<OidcProvider> {
    Arc::new(
        OidcProvider::start_with(OidcOptions {
            device_interval: Some(1),
            ..options
        })
        .await,
    )
}

/// A prompt callback that has the user act on the code in the background (`approve` as
/// `alice`, or refuse), and keeps the task and the prompt.
struct User {
    provider: Arc<OidcProvider>,
    approve: bool,
    task: Option<JoinHandle<Result<(), String>>>,
    prompt: Option<DevicePrompt>,
}

impl User {
    fn new(provider: &Arc<OidcProvider>, approve: bool) -> Self {
        Self {
            provider: provider.clone(),
            approve,
            task: None,
            prompt: None,
        }
    }

    fn act(&mut self, prompt: &DevicePrompt) {
        let (provider, code, approve) = (
            self.provider.clone(),
            prompt.user_code().to_owned(),
            self.approve,
        );
        self.prompt = Some(prompt.clone());
        self.task = Some(tokio::spawn(async move {
            if approve {
                provider.approve_device(&code, "alice").await
            } else {
                provider.deny_device(&code).await
            }
        }));
    }

    async fn finished(self) {
        self.task
            .expect("the prompt was shown")
            .await
            .expect("task")
            .expect("the browser's side");
    }
}

/// The device code token requests the provider decided, and how many were pending.
fn device_polls(provider: &OidcProvider) -> (usize, usize) {
    let grants = provider.grants_now();
    let polls: Vec<_> = grants
        .iter()
        .filter(|g| g["grant_type"] == DEVICE_CODE_GRANT_TYPE)
        .collect();
    let pending = polls
        .iter()
        .filter(|g| g["error"] == "authorization_pending")
        .count();
    (polls.len(), pending)
}

async fn signs_in_refreshes_and_stores(client: OidcClient) {
    let provider = provider(OidcOptions::default()).await;
    let store = Arc::new(MemoryTokenStore::new());
    let oauth = layer(&provider, client, store.clone());
    let mut user = User::new(&provider, true);
    let started = std::time::Instant::now();
    let token = oauth
        .device_login(|p| user.act(p), Duration::from_secs(30))
        .await
        .expect("device sign-in");
    let elapsed = started.elapsed();
    let prompt = user.prompt.clone().expect("prompt");
    assert!(
        prompt
            .verification_uri()
            .as_str()
            .starts_with(&provider.issuer())
    );
    assert_eq!(prompt.interval(), Duration::from_secs(1));
    assert!(prompt.verification_uri_complete().is_some());
    user.finished().await;

    let info = provider.introspect(token.secret().expose_secret()).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], "alice", "{info}");
    assert_eq!(info["client_id"], client.id, "{info}");
    assert!(oauth.id_token().is_some(), "openid asks for an id_token");

    // Polls honoured the interval: at most one pending answer per second waited.
    let (polls, pending) = device_polls(&provider);
    assert_eq!(polls, pending + 1, "one successful poll");
    assert!(
        pending as u64 <= elapsed.as_secs() + 1,
        "{pending} pending polls in {elapsed:?}"
    );

    // The refresh token is stored; a refresh through the layer spends it and the provider's
    // rotated one replaces it.
    let first = store
        .load(KEY)
        .await
        .expect("store")
        .expect("stored sign-in");
    let first_refresh = first.refresh_token.expect("refresh token");
    let refreshed = oauth.source().refresh_now().await.expect("refresh");
    assert_ne!(
        refreshed.secret().expose_secret(),
        token.secret().expose_secret()
    );
    let info = provider
        .introspect(refreshed.secret().expose_secret())
        .await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], "alice", "{info}");
    let rotated = store
        .load(KEY)
        .await
        .expect("store")
        .expect("stored sign-in");
    assert_ne!(
        rotated
            .refresh_token
            .expect("refresh token")
            .expose_secret(),
        first_refresh.expose_secret(),
        "the provider rotates refresh tokens"
    );
    let grants = provider.grants_now();
    let last = grants.last().expect("the refresh");
    assert_eq!(last["grant_type"], "refresh_token");
    assert_eq!(last["ok"], true, "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_client_signs_in_and_refreshes() {
    signs_in_refreshes_and_stores(DEVICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confidential_client_signs_in_with_basic_and_refreshes() {
    signs_in_refreshes_and_stores(CONFIDENTIAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sign_in_ends_with_access_denied() {
    let provider = provider(OidcOptions::default()).await;
    let store = Arc::new(MemoryTokenStore::new());
    let oauth = layer(&provider, DEVICE, store.clone());
    let mut user = User::new(&provider, false);
    let error = oauth
        .device_login(|p| user.act(p), Duration::from_secs(30))
        .await
        .expect_err("refused");
    user.finished().await;
    assert_eq!(error.kind(), ErrorKind::AccessDenied, "{error}");
    assert_eq!(
        error.provider().expect("provider error").code,
        "access_denied"
    );
    assert!(store.load(KEY).await.expect("store").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_nobody_approves_expires() {
    let provider = provider(OidcOptions {
        device_code_ttl: Some(2),
        ..OidcOptions::default()
    })
    .await;
    let oauth = layer(&provider, DEVICE, Arc::new(MemoryTokenStore::new()));
    let started = std::time::Instant::now();
    let mut prompt = None;
    let error = oauth
        .device_login(|p| prompt = Some(p.clone()), Duration::from_secs(30))
        .await
        .expect_err("nobody approved");
    // The provider says `expired_token`, or the grant stops at the code's `expires_in` first.
    assert!(
        matches!(error.kind(), ErrorKind::ExpiredToken | ErrorKind::Timeout),
        "{error}"
    );
    assert_eq!(
        prompt.expect("prompt").expires_in(),
        Some(Duration::from_secs(2))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (polls, _) = device_polls(&provider);
    assert!((1..=3).contains(&polls), "{polls} polls in 2 s at 1 s");
}
