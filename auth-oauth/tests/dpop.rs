//! DPoP (RFC 9449) against a real third-party authorization server: panva's `oidc-provider`
//! (npm, pinned in package.json; started per test by test-support's [`OidcProvider`]).
//!
//! What each test proves against the provider:
//! - the token endpoint accepts our proofs (ES256, EdDSA, RS256 from PEM) and binds the token
//!   to our key: introspection's `cnf.jkt` is our key's RFC 7638 thumbprint, `token_type` DPoP;
//! - a DPoP-bound token used as a bearer token is refused at userinfo, and the same token with
//!   our per-request proof (`ath`, `htu`, `htm`) is accepted;
//! - nonces: the token endpoint's `use_dpop_nonce` is answered once (the provider saw exactly
//!   one refused and one granted request), and userinfo's `401 WWW-Authenticate: DPoP
//!   error="use_dpop_nonce"` is answered once with the same token, not counted as a 401 retry.

use std::sync::{Arc, Mutex};

use auth_core::{ErrorKind, ExposeSecret, MemoryTokenStore, TokenSource};
use auth_oauth::{
    ClientAuth, OAuth2Layer,
    dpop::{Dpop, DpopKey},
};
use auth_test_support::{
    keys::TestKey,
    oidc_provider::{CONFIDENTIAL, DPOP, DpopNonce, OidcOptions, OidcProvider},
};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::Value;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// Client credentials for the DPoP-bound client, with `key`.
async fn dpop_client_credentials(provider: &OidcProvider, key: DpopKey) -> auth_core::AccessToken {
    let layer = OAuth2Layer::client_credentials_builder(provider.token_url(), DPOP.id)
        .client_secret(DPOP.secret.expect("secret"))
        .client_auth(ClientAuth::Basic)
        .scopes("api:read")
        .dpop(Dpop::new(key).required(true))
        .build()
        .expect("layer");
    layer.source().token().await.expect("a DPoP token")
}

#[tokio::test]
async fn the_token_endpoint_binds_tokens_to_our_key_for_each_algorithm() {
    let provider = OidcProvider::start().await;
    let rsa = DpopKey::from_pem(TestKey::rsa_pkcs8().private_pem).expect("rsa key");
    let keys = [
        DpopKey::generate_es256().expect("key"),
        DpopKey::generate_ed25519().expect("key"),
        rsa,
    ];
    for (i, key) in keys.into_iter().enumerate() {
        let thumbprint = key.thumbprint().to_owned();
        let alg = key.algorithm();
        let token = dpop_client_credentials(&provider, key).await;
        assert_eq!(token.token_type(), "DPoP", "{alg}");
        assert!(token.binding().is_some(), "{alg}");
        assert!(
            token
                .header_value()
                .to_str()
                .expect("ascii")
                .starts_with("DPoP ")
        );
        let info = provider.introspect(token.secret().expose_secret()).await;
        assert_eq!(info["active"], true, "{alg}: {info}");
        assert_eq!(info["token_type"], "DPoP", "{alg}: {info}");
        assert_eq!(
            info["cnf"]["jkt"], thumbprint,
            "{alg}: bound to our key: {info}"
        );
        let grants = provider.grants(i + 1).await;
        assert_eq!(
            grants[i]["dpop"], true,
            "{alg}: the provider saw a valid proof"
        );
        assert_eq!(grants[i]["ok"], true);
    }
}

#[tokio::test]
async fn a_server_that_ignores_dpop_is_refused_when_required_and_used_as_bearer_otherwise() {
    // The confidential client is not DPoP-bound, but the provider still binds a token to a
    // proof it gets; to see a downgrade, the grant's answer must be Bearer: the DPoP client
    // would refuse a request without a proof, so use a server that ignores DPoP entirely.
    let server = auth_test_support::token_server::TokenServer::builder()
        .client("client", Some("secret"))
        .start()
        .await;
    let url = server.token_url();
    let strict = OAuth2Layer::client_credentials_builder(&url, "client")
        .client_secret("secret")
        .dpop(Dpop::new(DpopKey::generate_es256().expect("key")).required(true))
        .build()
        .expect("layer");
    let err = strict
        .source()
        .token()
        .await
        .expect_err("a downgrade is refused");
    assert_eq!(err.kind(), ErrorKind::UnsupportedTokenType, "{err}");
    assert!(err.to_string().contains("Bearer token"), "{err}");
    let lenient = OAuth2Layer::client_credentials_builder(&url, "client")
        .client_secret("secret")
        .dpop(DpopKey::generate_es256().expect("key"))
        .build()
        .expect("layer");
    let token = lenient.source().token().await.expect("accepted as bearer");
    assert_eq!(token.token_type(), "Bearer");
    assert!(token.binding().is_none());
}

/// A user's DPoP-bound access token: alice signs in through the device flow (plain HTTP), and
/// the refresh token is redeemed with our key, so the new access token is bound to it.
fn userinfo_layer(
    provider: &OidcProvider,
    refresh_token: &str,
    dpop: Dpop,
) -> OAuth2Layer<auth_oauth::RefreshToken> {
    OAuth2Layer::refresh_token(
        provider.token_url(),
        CONFIDENTIAL.id,
        Arc::new(MemoryTokenStore::new()),
        "alice",
    )
    .client_secret(CONFIDENTIAL.secret.expect("secret"))
    .initial_refresh_token(refresh_token.to_owned())
    .dpop(dpop)
    .build()
    .expect("layer")
}

/// The hyper-util client under the token layer, recording each response's status and
/// challenge.
type Seen = Arc<Mutex<Vec<(StatusCode, String)>>>;

fn recording_client(
    seen: Seen,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<hyper::body::Incoming>,
    Error = hyper_util::client::legacy::Error,
    Future: Send,
> + Clone {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    service_fn(move |request: Request<Full<Bytes>>| {
        let (client, seen) = (client.clone(), seen.clone());
        async move {
            let response = client.request(request).await?;
            let challenge = response
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            seen.lock()
                .expect("lock")
                .push((response.status(), challenge));
            Ok(response)
        }
    })
}

async fn userinfo(
    layer: &OAuth2Layer<auth_oauth::RefreshToken>,
    provider: &OidcProvider,
    seen: &Seen,
) -> (StatusCode, Value) {
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(recording_client(seen.clone()));
    let request = Request::get(provider.userinfo_url())
        .body(Full::default())
        .expect("request");
    let response = client.oneshot(request).await.expect("userinfo answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn userinfo_accepts_the_bound_token_with_a_proof_and_refuses_it_as_bearer() {
    let provider = OidcProvider::start().await;
    let signed_in = provider
        .device_sign_in(CONFIDENTIAL, "alice", "openid email offline_access")
        .await;
    let refresh = signed_in["refresh_token"].as_str().expect("refresh token");
    let layer = userinfo_layer(
        &provider,
        refresh,
        Dpop::new(DpopKey::generate_es256().expect("key")).required(true),
    );
    let seen = Seen::default();
    let (status, info) = userinfo(&layer, &provider, &seen).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["email"], "alice@example.test");
    let token = layer.source().current().expect("the cached token");
    assert_eq!(token.token_type(), "DPoP");
    // The same token without the proof: the provider refuses it.
    let (status, challenge) = provider
        .userinfo_as_bearer(token.secret().expose_secret())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    // The refresh went with a proof.
    let refreshes: Vec<Value> = provider
        .grants(2)
        .await
        .into_iter()
        .filter(|g| g["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0]["dpop"], true);
}

#[tokio::test]
async fn the_token_endpoints_nonce_challenge_is_answered_once() {
    let provider = OidcProvider::start_with(OidcOptions {
        dpop_nonce: DpopNonce::Everywhere,
        ..OidcOptions::default()
    })
    .await;
    let key = DpopKey::generate_es256().expect("key");
    let dpop = Dpop::new(key.clone());
    let layer = OAuth2Layer::client_credentials_builder(provider.token_url(), DPOP.id)
        .client_secret(DPOP.secret.expect("secret"))
        .dpop(dpop.clone())
        .build()
        .expect("layer");
    let token = layer
        .source()
        .token()
        .await
        .expect("a token after the nonce");
    assert_eq!(token.token_type(), "DPoP");
    let grants = provider.grants(2).await;
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert_eq!(grants[0]["ok"], false);
    assert_eq!(grants[0]["error"], "use_dpop_nonce");
    assert_eq!(grants[1]["ok"], true);
    let token_url: http::Uri = provider.token_url().parse().expect("uri");
    assert!(dpop.nonce_for(&token_url).is_some(), "the nonce is kept");
    // The next token request carries the nonce at once.
    layer.source().invalidate(&token);
    layer.source().token().await.expect("another token");
    let grants = provider.grants(3).await;
    assert_eq!(grants.len(), 3, "no second challenge: {grants:?}");
    assert_eq!(grants[2]["ok"], true);
}

#[tokio::test]
async fn a_resource_servers_nonce_challenge_is_answered_with_the_same_token() {
    let provider = OidcProvider::start_with(OidcOptions {
        dpop_nonce: DpopNonce::UserinfoOnly,
        ..OidcOptions::default()
    })
    .await;
    let signed_in = provider
        .device_sign_in(CONFIDENTIAL, "alice", "openid offline_access")
        .await;
    let refresh = signed_in["refresh_token"].as_str().expect("refresh token");
    let layer = userinfo_layer(
        &provider,
        refresh,
        Dpop::new(DpopKey::generate_ed25519().expect("key")),
    );
    let seen = Seen::default();
    let (status, info) = userinfo(&layer, &provider, &seen).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["sub"], "alice");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].0, StatusCode::UNAUTHORIZED);
    assert!(seen[0].1.contains("use_dpop_nonce"), "{}", seen[0].1);
    assert_eq!(seen[1].0, StatusCode::OK);
    // One refresh only: the challenge did not invalidate the token.
    let refreshes = provider
        .grants_now()
        .into_iter()
        .filter(|g| g["grant_type"] == "refresh_token")
        .count();
    assert_eq!(refreshes, 1);
}

#[tokio::test]
async fn a_proof_for_another_key_is_refused_by_the_provider() {
    // Carol's token is bound to key b; a proof made with another key is refused: the
    // binding is real.
    let provider = OidcProvider::start().await;
    let b = DpopKey::generate_es256().expect("key");
    let signed_in = provider
        .device_sign_in(CONFIDENTIAL, "carol", "openid offline_access")
        .await;
    let layer = userinfo_layer(
        &provider,
        signed_in["refresh_token"].as_str().expect("refresh"),
        Dpop::new(b.clone()),
    );
    let user_token = layer.source().token().await.expect("token");
    // Carol's token with a proof made by a fresh key c: refused; with b's proof: accepted.
    let c = DpopKey::generate_es256().expect("key");
    let status = userinfo_proving(&provider, &user_token, &c).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let status = userinfo_proving(&provider, &user_token, &b).await;
    assert_eq!(status, StatusCode::OK);
}

/// `GET userinfo` with `Authorization: DPoP <token>` and a proof made by `key`, by hand.
async fn userinfo_proving(
    provider: &OidcProvider,
    token: &auth_core::AccessToken,
    key: &DpopKey,
) -> StatusCode {
    let url = provider.userinfo_url();
    let proof = key
        .proof(&http::Method::GET, &url, Some(token.secret()), None)
        .expect("proof");
    let request = Request::get(url)
        .header(
            "authorization",
            format!("DPoP {}", token.secret().expose_secret()),
        )
        .header("dpop", proof.expose_secret())
        .body(Full::<Bytes>::default())
        .expect("request");
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    client.request(request).await.expect("answer").status()
}

#[tokio::test]
async fn the_device_flow_with_dpop_binds_the_users_token_through_nonces() {
    use std::time::Duration;

    use auth_oauth::grant::DevicePrompt;
    use auth_test_support::oidc_provider::OidcClient;

    let provider = Arc::new(
        OidcProvider::start_with(OidcOptions {
            dpop_nonce: DpopNonce::Everywhere,
            device_interval: Some(1),
            ..OidcOptions::default()
        })
        .await,
    );
    let client: OidcClient = DPOP;
    let key = DpopKey::generate_es256().expect("key");
    let thumbprint = key.thumbprint().to_owned();
    let layer = OAuth2Layer::device_code(
        provider.token_url(),
        client.id,
        provider.device_authorization_url(),
    )
    .client_secret(client.secret.expect("secret"))
    .client_auth(ClientAuth::Basic)
    .scopes("openid email offline_access")
    .store(Arc::new(MemoryTokenStore::new()), "device/alice")
    .dpop(Dpop::new(key).required(true))
    .build()
    .expect("layer");
    let mut approval = None;
    let approve = |prompt: &DevicePrompt| {
        let (provider, code) = (provider.clone(), prompt.user_code().to_owned());
        approval = Some(tokio::spawn(async move {
            provider.approve_device(&code, "alice").await
        }));
    };
    let token = layer
        .device_login(approve, Duration::from_secs(30))
        .await
        .expect("device sign-in with DPoP");
    approval
        .expect("the prompt was shown")
        .await
        .expect("task")
        .expect("the browser's side");
    assert_eq!(token.token_type(), "DPoP");
    let info = provider.introspect(token.secret().expose_secret()).await;
    assert_eq!(info["cnf"]["jkt"], thumbprint, "{info}");
    // Every device-code poll carried a proof; the first was answered with use_dpop_nonce.
    let polls: Vec<Value> = provider
        .grants_now()
        .into_iter()
        .filter(|g| g["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code")
        .collect();
    assert!(polls.iter().all(|g| g["dpop"] == true), "{polls:?}");
    assert!(
        polls.iter().any(|g| g["error"] == "use_dpop_nonce"),
        "{polls:?}"
    );
    let seen = Seen::default();
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(recording_client(seen.clone()));
    let request = Request::get(provider.userinfo_url())
        .body(Full::default())
        .expect("request");
    let response = client.oneshot(request).await.expect("userinfo answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let info: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(info["sub"], "alice");
}
