//! Revocation and sign-out (RFC 7009) against panva's oidc-provider: after `revoke()` the
//! provider's introspection says the tokens are inactive, and the local copies are gone even
//! when the revocation endpoint cannot be reached.

use std::sync::Arc;

use auth_core::{ErrorKind, ExposeSecret, MemoryTokenStore, StoredToken, TokenSource, TokenStore};
use auth_oauth::{
    OAuth2Layer, RefreshToken, TokenEndpoint,
    grant::per_user::user_store_key,
    revocation::{Revocation, TokenRevocation, TokenTypeHint, revoke_user},
};
use auth_test_support::oidc_provider::{CONFIDENTIAL, DEVICE, OidcProvider};

const SCOPES: &str = "openid offline_access api:read";

/// A signed-in user's refresh token, stored under `key`.
async fn signed_in(
    provider: &OidcProvider,
    client: auth_test_support::oidc_provider::OidcClient,
    account: &str,
    store: &MemoryTokenStore,
    key: &str,
) -> (String, String) {
    let tokens = provider.device_sign_in(client, account, SCOPES).await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    store
        .save(key, &StoredToken::with_refresh_token(refresh.clone()))
        .await
        .expect("saved");
    (refresh, access)
}

fn layer(
    provider: &OidcProvider,
    store: Arc<MemoryTokenStore>,
    revocation_url: &str,
) -> OAuth2Layer<RefreshToken> {
    OAuth2Layer::refresh_token(provider.token_url(), DEVICE.id, store, "crm")
        .revocation_url(revocation_url)
        .build()
        .expect("layer")
}

#[tokio::test]
async fn revoke_makes_both_tokens_inactive_and_empties_the_store() {
    let provider = OidcProvider::start().await;
    let store = Arc::new(MemoryTokenStore::new());
    signed_in(&provider, DEVICE, "alice", &store, "crm").await;
    let oauth = layer(&provider, store.clone(), &provider.revocation_url());
    let access = oauth.source().token().await.expect("refreshed");
    // The refresh rotated: the stored one is the live one.
    let refresh = store
        .load("crm")
        .await
        .expect("load")
        .and_then(|s| s.refresh_token)
        .expect("stored refresh token");
    let refresh = refresh.expose_secret().to_owned();
    assert_eq!(provider.introspect(&refresh).await["active"], true);
    assert_eq!(
        provider.introspect(access.secret().expose_secret()).await["active"],
        true
    );

    let outcome = oauth.revoke().await.expect("signed out");
    assert!(
        matches!(outcome.refresh_token, TokenRevocation::Revoked),
        "{outcome:?}"
    );
    assert!(
        matches!(outcome.access_token, TokenRevocation::Revoked),
        "{outcome:?}"
    );
    assert_eq!(outcome.removed_key.as_deref(), Some("crm"));
    assert!(!outcome.has_failures());
    assert!(outcome.to_string().contains(&format!(
        "revoked the refresh token at {}",
        provider.revocation_url()
    )));

    let info = provider.introspect(&refresh).await;
    assert_eq!(info["active"], false, "{info}");
    let info = provider.introspect(access.secret().expose_secret()).await;
    assert_eq!(info["active"], false, "{info}");
    assert!(store.load("crm").await.expect("load").is_none());
    let err = oauth.source().token().await.expect_err("signed out");
    assert_eq!(err.kind(), ErrorKind::NotSignedIn, "{err}");
    assert!(err.to_string().contains("sign in"), "{err}");
    // Nothing left: a second sign-out has nothing to do.
    assert!(oauth.revoke().await.expect("again").was_empty());
}

#[tokio::test]
async fn an_unreachable_endpoint_still_removes_the_local_copy_and_says_so() {
    let provider = OidcProvider::start().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let store = Arc::new(MemoryTokenStore::new());
    let (refresh, _) = signed_in(&provider, DEVICE, "alice", &store, "crm").await;
    let oauth = layer(
        &provider,
        store.clone(),
        &format!("http://127.0.0.1:{closed}/revoke"),
    );
    let outcome = oauth.revoke().await.expect("signed out locally");
    assert!(outcome.has_failures());
    match &outcome.refresh_token {
        TokenRevocation::Failed(e) => {
            assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
            assert!(e.to_string().contains("revocation endpoint"), "{e}");
            assert!(!format!("{e} {e:?}").contains(&refresh));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(matches!(outcome.access_token, TokenRevocation::NotHeld));
    assert_eq!(outcome.removed_key.as_deref(), Some("crm"));
    assert!(store.load("crm").await.expect("load").is_none());
    // The provider was not told: the token is still active there.
    assert_eq!(provider.introspect(&refresh).await["active"], true);
}

#[tokio::test]
async fn without_a_revocation_endpoint_the_provider_is_not_told() {
    let provider = OidcProvider::start().await;
    let store = Arc::new(MemoryTokenStore::new());
    let (refresh, _) = signed_in(&provider, DEVICE, "alice", &store, "crm").await;
    let oauth = OAuth2Layer::refresh_token(provider.token_url(), DEVICE.id, store.clone(), "crm")
        .build()
        .expect("layer");
    let outcome = oauth.revoke().await.expect("signed out locally");
    assert!(matches!(outcome.refresh_token, TokenRevocation::NotTold));
    assert!(outcome.to_string().contains("was not told"), "{outcome}");
    assert!(store.load("crm").await.expect("load").is_none());
    assert_eq!(provider.introspect(&refresh).await["active"], true);
}

#[tokio::test]
async fn one_user_is_signed_out_and_the_others_stay() {
    let provider = OidcProvider::start().await;
    let store = MemoryTokenStore::new();
    let alice_key = user_store_key("crm", "alice");
    let bob_key = user_store_key("crm", "bob");
    let (alice, _) = signed_in(&provider, CONFIDENTIAL, "alice", &store, &alice_key).await;
    let (bob, _) = signed_in(&provider, CONFIDENTIAL, "bob", &store, &bob_key).await;
    let endpoint = TokenEndpoint::builder(provider.token_url(), CONFIDENTIAL.id)
        .client_secret(CONFIDENTIAL.secret.expect("secret"))
        .build()
        .expect("endpoint");
    let revocation = Revocation::new(provider.revocation_url(), endpoint).expect("revocation");
    let outcome = revoke_user(Some(&revocation), &store, "crm", "alice")
        .await
        .expect("alice signed out");
    assert!(
        matches!(outcome.refresh_token, TokenRevocation::Revoked),
        "{outcome:?}"
    );
    assert_eq!(provider.introspect(&alice).await["active"], false);
    assert_eq!(provider.introspect(&bob).await["active"], true);
    assert!(store.load(&alice_key).await.expect("load").is_none());
    assert!(store.load(&bob_key).await.expect("load").is_some());
    // RFC 7009 §2.2: a token the server does not know is revoked all the same.
    revocation
        .revoke(&"never-issued".into(), TokenTypeHint::RefreshToken)
        .await
        .expect("200 for an unknown token");
}
