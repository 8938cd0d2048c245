//! DPoP through the reqwest middleware against panva's `oidc-provider` (test-support's
//! [`OidcProvider`]): the bound token reaches userinfo with a proof per request, the
//! provider's nonce challenge is answered once with the same token, and a client whose proof
//! cannot be made is refused before anything is sent.

use std::sync::Arc;

use auth_core::{MemoryTokenStore, TokenSource};
use auth_oauth::{
    OAuth2Layer,
    dpop::{Dpop, DpopKey},
};
use auth_reqwest::TokenMiddleware;
use auth_test_support::oidc_provider::{CONFIDENTIAL, DpopNonce, OidcOptions, OidcProvider};
use http::StatusCode;
use reqwest_middleware::ClientBuilder;
use serde_json::Value;

#[tokio::test]
async fn a_bound_token_reaches_userinfo_and_the_nonce_challenge_is_answered() {
    let provider = OidcProvider::start_with(OidcOptions {
        dpop_nonce: DpopNonce::UserinfoOnly,
        ..OidcOptions::default()
    })
    .await;
    let signed_in = provider
        .device_sign_in(CONFIDENTIAL, "alice", "openid email offline_access")
        .await;
    let oauth = OAuth2Layer::refresh_token(
        provider.token_url(),
        CONFIDENTIAL.id,
        Arc::new(MemoryTokenStore::new()),
        "alice",
    )
    .client_secret(CONFIDENTIAL.secret.expect("secret"))
    .initial_refresh_token(
        signed_in["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    )
    .dpop(Dpop::new(DpopKey::generate_es256().expect("key")).required(true))
    .build()
    .expect("layer");
    let source = oauth.source().clone();
    #[cfg(feature = "rustls")]
    auth_reqwest::install_ring_provider();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(TokenMiddleware::from(oauth.into_token_layer()))
        .build();
    for _ in 0..2 {
        let response = client
            .get(provider.userinfo_url())
            .send()
            .await
            .expect("userinfo answers");
        assert_eq!(response.status(), StatusCode::OK);
        let info: Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
        assert_eq!(info["sub"], "alice");
    }
    let token = source.current().expect("the cached token");
    assert_eq!(token.token_type(), "DPoP");
    // One refresh: the nonce challenge did not cost the token.
    let refreshes = provider
        .grants_now()
        .into_iter()
        .filter(|g| g["grant_type"] == "refresh_token")
        .count();
    assert_eq!(refreshes, 1);
    let (status, _) = provider
        .userinfo_as_bearer(auth_core::ExposeSecret::expose_secret(token.secret()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the token is bound");
}
