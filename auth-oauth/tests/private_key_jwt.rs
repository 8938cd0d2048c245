//! `private_key_jwt` client authentication (RFC 7523 §2.2) with every grant, against the
//! in-process token server, which verifies each client assertion with the public key.

use std::time::Duration;

use auth_core::{ErrorKind, MemoryTokenStore, TokenSource};
use auth_oauth::{
    ClientAuth, ClientCredentials, JwtBearer, OAuth2Layer, TokenEndpoint, TokenParams,
    assertion::{AssertionClaims, SigningKey},
    client_auth::CLIENT_ASSERTION_TYPE,
};
use auth_test_support::{
    keys::TestKey,
    token_server::{TokenServer, VerifiedAssertion},
};
use serde_json::json;

fn signing_key(key: &TestKey) -> SigningKey {
    SigningKey::from_pem(&key.private_pem)
        .expect("the generated key loads")
        .with_key_id("client-key-1")
}

fn client_assertions(server: &TokenServer) -> Vec<VerifiedAssertion> {
    server
        .assertions()
        .into_iter()
        .filter(|a| a.kind == "client")
        .collect()
}

async fn server_for(key: &TestKey) -> TokenServer {
    TokenServer::builder()
        .client("my-client", None)
        .client_key(key.public.clone())
        .user("alice", "wonderland")
        .start()
        .await
}

#[tokio::test]
async fn client_credentials_with_rs256_and_es256_client_assertions() {
    for (name, key, alg) in [
        ("RSA", TestKey::rsa_pkcs1(), "RS256"),
        ("EC", TestKey::es256(), "ES256"),
    ] {
        let server = server_for(&key).await;
        let layer = OAuth2Layer::client_credentials_private_key_jwt(
            server.token_url(),
            "my-client",
            signing_key(&key),
        )
        .scopes("read")
        .build()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let grant = layer.source().source();
        for _ in 0..3 {
            grant
                .fetch()
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let request = server.last_request();
        assert_eq!(request.field("grant_type"), Some("client_credentials"));
        assert_eq!(request.field("client_id"), Some("my-client"));
        assert_eq!(
            request.field("client_assertion_type"),
            Some(CLIENT_ASSERTION_TYPE)
        );
        assert_eq!(request.field("client_secret"), None);
        assert!(request.basic.is_none(), "{name}: no Basic header");

        let assertions = client_assertions(&server);
        assert_eq!(assertions.len(), 3, "{name}");
        let mut jtis: Vec<_> = assertions.iter().map(|a| a.claims["jti"].clone()).collect();
        jtis.dedup();
        assert_eq!(jtis.len(), 3, "{name}: a fresh jti per request");
        for a in &assertions {
            assert_eq!(a.header["alg"], alg);
            assert_eq!(a.header["kid"], "client-key-1");
            assert_eq!(a.claims["iss"], "my-client");
            assert_eq!(a.claims["sub"], "my-client");
            assert_eq!(a.claims["aud"], json!(server.token_url()));
            let life = a.claims["exp"].as_u64().zip(a.claims["iat"].as_u64());
            assert_eq!(life.map(|(e, i)| e - i), Some(300), "5 minutes by default");
        }
    }
}

#[tokio::test]
async fn the_audience_can_be_the_issuer_instead_of_the_token_url() {
    let key = TestKey::es256();
    let server = server_for(&key).await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "my-client")
        .private_key_jwt(signing_key(&key))
        .client_assertion_audience(server.base_url())
        .client_assertion_lifetime(Duration::from_secs(60))
        .build()
        .expect("endpoint");
    assert_eq!(endpoint.client_auth(), ClientAuth::PrivateKeyJwt);
    let grant = ClientCredentials::new(endpoint, TokenParams::new()).expect("grant");
    grant.fetch().await.expect("token");
    let assertion = &client_assertions(&server)[0];
    assert_eq!(assertion.claims["aud"], json!(server.base_url()));
}

#[tokio::test]
async fn password_refresh_and_jwt_bearer_grants_authenticate_with_the_key() {
    let key = TestKey::es256();
    let server = server_for(&key).await;

    let password = OAuth2Layer::password(server.token_url(), "my-client", "alice", "wonderland")
        .private_key_jwt_pem(&key.private_pem, Some("client-key-1"))
        .build()
        .expect("password layer");
    let token = password.source().token().await.expect("password grant");
    let refresh_token = token.refresh_token().cloned().expect("a refresh token");

    let refresh = OAuth2Layer::refresh_token(
        server.token_url(),
        "my-client",
        std::sync::Arc::new(MemoryTokenStore::new()),
        "alice",
    )
    .initial_refresh_token(refresh_token)
    .private_key_jwt(signing_key(&key))
    .build()
    .expect("refresh layer");
    refresh.source().token().await.expect("refresh grant");
    assert_eq!(
        server.last_request().field("grant_type"),
        Some("refresh_token")
    );

    // An assertion grant whose client authenticates with private_key_jwt: two assertions.
    let grant_key = TestKey::es256();
    let server = TokenServer::builder()
        .client("my-client", None)
        .client_key(key.public.clone())
        .jwt_issuer("svc", grant_key.public.clone())
        .start()
        .await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "my-client")
        .private_key_jwt(signing_key(&key))
        .build()
        .expect("endpoint");
    let grant = JwtBearer::new(
        endpoint,
        signing_key(&grant_key),
        AssertionClaims::new("svc").subject("svc"),
        TokenParams::new(),
    )
    .expect("grant");
    grant
        .fetch()
        .await
        .expect("jwt bearer with private_key_jwt");
    let kinds: Vec<_> = server.assertions().iter().map(|a| a.kind).collect();
    assert_eq!(kinds, ["client", "grant"]);
    assert_eq!(server.last_request().field("client_id"), Some("my-client"));
}

#[tokio::test]
async fn a_key_the_server_does_not_know_is_invalid_client() {
    let registered = TestKey::es256();
    let server = server_for(&registered).await;
    let layer = OAuth2Layer::client_credentials_private_key_jwt(
        server.token_url(),
        "my-client",
        signing_key(&TestKey::es256()),
    )
    .build()
    .expect("layer");
    let err = layer.source().token().await.expect_err("unknown key");
    assert_eq!(err.kind(), ErrorKind::InvalidClient, "{err}");
    assert!(err.to_string().contains("bad signature"), "{err}");
    assert_eq!(server.fetches(), 1, "no fallback to another method");
}

#[test]
fn misconfigurations_are_named_at_build_time() {
    let key = TestKey::es256();
    let url = "https://auth.example.com/token";
    let cases = [
        (
            TokenEndpoint::builder(url, "id")
                .client_secret("s3cr3t")
                .private_key_jwt(signing_key(&key)),
            "client_secret: is set, but client authentication `private_key_jwt` sends no secret",
        ),
        (
            TokenEndpoint::builder(url, "id").client_auth(ClientAuth::PrivateKeyJwt),
            "private_key_jwt: no signing key",
        ),
        (
            TokenEndpoint::builder(url, "id")
                .private_key_jwt(signing_key(&key))
                .client_auth(ClientAuth::Basic),
            "a private_key_jwt signing key is set, but client authentication is \
             `client_secret_basic`",
        ),
        (
            TokenEndpoint::builder(url, "id")
                .private_key_jwt(signing_key(&key))
                .client_assertion_lifetime(Duration::from_secs(2 * 3600)),
            "client assertion: assertion lifetime",
        ),
        (
            TokenEndpoint::builder(url, "id").client_assertion_audience("x"),
            "client_assertion_audience: is set, but there is no private_key_jwt key",
        ),
        (
            TokenEndpoint::builder(url, "id").private_key_jwt_pem("garbage", None),
            "private_key_jwt: private key PEM: not PEM",
        ),
        (
            TokenEndpoint::builder(url, "id").client_auth(ClientAuth::TlsClientAuth),
            "`tls_client_auth` needs a client certificate",
        ),
    ];
    for (builder, expected) in cases {
        let err = builder.build().expect_err(expected);
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[tokio::test]
async fn debug_and_errors_never_show_the_key_or_the_assertion() {
    let key = TestKey::rsa_pkcs8();
    let canaries: Vec<String> = key
        .private_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(str::to_owned)
        .collect();
    let check = |what: &str, text: String| {
        for canary in &canaries {
            assert!(
                !text.contains(canary.as_str()),
                "{what} leaks the key: {text}"
            );
        }
        // A JWS header `{"alg":…` in base64url.
        assert!(
            !text.contains("eyJhbGci"),
            "{what} shows an assertion: {text}"
        );
    };
    let server = server_for(&TestKey::es256()).await;
    let builder = TokenEndpoint::builder(server.token_url(), "my-client")
        .private_key_jwt_pem(&key.private_pem, Some("k"));
    check("TokenEndpointBuilder", format!("{builder:?} {builder:#?}"));
    let endpoint = builder.build().expect("endpoint");
    check("TokenEndpoint", format!("{endpoint:?} {endpoint:#?}"));
    let layer = OAuth2Layer::client_credentials_private_key_jwt(
        server.token_url(),
        "my-client",
        signing_key(&key),
    );
    check("OAuth2LayerBuilder", format!("{layer:?}"));
    let layer = layer.build().expect("layer");
    check("OAuth2Layer", format!("{layer:?}"));
    let err = layer.source().token().await.expect_err("wrong key");
    check("the server's rejection", format!("{err} {err:?}"));

    let broken = key.private_pem.replacen("-----\nM", "-----\n!", 1);
    let err = TokenEndpoint::builder(server.token_url(), "my-client")
        .private_key_jwt_pem(&broken, None)
        .build()
        .expect_err("broken key");
    check("broken-key error", format!("{err} {err:?}"));
}
