//! The JWT bearer grant (RFC 7523 §2.1) and service-account key files against the in-process
//! token server, which verifies every assertion strictly with the public key. Keys are
//! generated at test time: EC with ring, RSA with the `openssl` command.

use std::time::Duration;

use auth_core::{AuthError, ErrorKind, ExposeSecret, TokenSource};
use auth_oauth::{
    ClientAuth, JwtBearer, OAuth2Layer, TokenEndpoint, TokenParams,
    assertion::{Algorithm, AssertionClaims, ServiceAccountKey, SigningKey},
    grant::JWT_BEARER_GRANT_TYPE,
};
use auth_test_support::{
    keys::TestKey,
    token_server::{AcceptAuth, TokenServer, VerifiedAssertion},
};
use http::{Request, StatusCode};
use serde_json::json;
use tower::{Service, ServiceExt};

fn signing_key(key: &TestKey, kid: &str) -> SigningKey {
    SigningKey::from_pem(&key.private_pem)
        .expect("the generated key loads")
        .with_key_id(kid)
}

fn grant_assertions(server: &TokenServer) -> Vec<VerifiedAssertion> {
    server
        .assertions()
        .into_iter()
        .filter(|a| a.kind == "grant")
        .collect()
}

#[tokio::test]
async fn rsa_and_ec_assertions_pass_a_strict_server() {
    for (name, key, alg) in [
        ("RSA PKCS#1", TestKey::rsa_pkcs1(), "RS256"),
        ("RSA PKCS#8", TestKey::rsa_pkcs8(), "RS256"),
        ("EC P-256 PKCS#8", TestKey::es256(), "ES256"),
        ("EC P-256 SEC1", TestKey::es256_sec1(), "ES256"),
        ("EC P-384", TestKey::es384(), "ES384"),
        ("Ed25519", TestKey::ed25519(), "EdDSA"),
    ] {
        let server = TokenServer::builder()
            .jwt_issuer("svc", key.public.clone())
            .start()
            .await;
        let layer = OAuth2Layer::jwt_bearer(server.token_url(), "svc", signing_key(&key, "k1"))
            .scopes("read write")
            .build()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let grant = layer.source().source();
        let first = grant
            .fetch()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        grant
            .fetch()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(first.scopes(), ["read", "write"], "{name}");

        let request = server.last_request();
        assert_eq!(request.field("grant_type"), Some(JWT_BEARER_GRANT_TYPE));
        assert_eq!(request.field("scope"), Some("read write"), "{name}");
        assert_eq!(
            request.field("client_id"),
            None,
            "{name}: the assertion is the client"
        );
        assert!(request.basic.is_none());
        let assertions = grant_assertions(&server);
        assert_eq!(assertions.len(), 2, "{name}");
        for a in &assertions {
            assert_eq!(a.header["alg"], alg, "{name}");
            assert_eq!(a.header["typ"], "JWT");
            assert_eq!(a.header["kid"], "k1");
            assert_eq!(a.claims["iss"], "svc");
            assert_eq!(a.claims["sub"], "svc");
            assert_eq!(a.claims["aud"], json!(server.token_url()));
            assert!(
                !a.claims.contains_key("scope"),
                "scope goes in the parameter"
            );
        }
        assert_ne!(
            assertions[0].claims["jti"], assertions[1].claims["jti"],
            "{name}: a fresh assertion per request"
        );
    }
}

#[tokio::test]
async fn ps256_signs_with_an_rsa_key() {
    let key = TestKey::rsa_pkcs8();
    let server = TokenServer::builder()
        .jwt_issuer("svc", key.public.clone().with_algorithm("PS256"))
        .start()
        .await;
    let signer = signing_key(&key, "k")
        .with_algorithm(Algorithm::Ps256)
        .expect("RSA signs PS256");
    let layer = OAuth2Layer::jwt_bearer(server.token_url(), "svc", signer)
        .build()
        .expect("layer");
    layer.source().token().await.expect("PS256 accepted");
    assert_eq!(grant_assertions(&server)[0].header["alg"], "PS256");
}

#[tokio::test]
async fn the_layer_fetches_once_and_calls_the_api() {
    let key = TestKey::es256();
    let server = TokenServer::builder()
        .jwt_issuer("svc", key.public.clone())
        .start()
        .await;
    let layer = OAuth2Layer::jwt_bearer(server.token_url(), "svc", signing_key(&key, "k"))
        .build()
        .expect("layer");
    let mut client = tower::ServiceBuilder::new()
        .layer(layer)
        .service(auth_test_support::client());
    for _ in 0..3 {
        let request = Request::get(server.api_url())
            .body(Default::default())
            .expect("request");
        let response = client
            .ready()
            .await
            .expect("ready")
            .call(request)
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(server.fetches(), 1, "the token is cached");
}

#[tokio::test]
async fn a_replayed_assertion_is_rejected_with_invalid_grant() {
    let key = TestKey::es256();
    // `request` sends a public client's id; the server knows the client `svc`.
    let server = TokenServer::builder()
        .client("svc", None)
        .jwt_issuer("svc", key.public.clone())
        .start()
        .await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "svc")
        .build()
        .expect("endpoint");
    let grant = JwtBearer::new(
        endpoint.clone(),
        signing_key(&key, "k"),
        AssertionClaims::new("svc").subject("svc"),
        TokenParams::new(),
    )
    .expect("grant");
    let assertion = grant.assertion().expect("signed");
    let fields = [
        ("grant_type", JWT_BEARER_GRANT_TYPE),
        ("assertion", assertion.expose_secret()),
    ];
    endpoint
        .request(&fields, &TokenParams::new())
        .await
        .expect("first use");
    let err = endpoint
        .request(&fields, &TokenParams::new())
        .await
        .expect_err("replay");
    assert_eq!(err.kind(), ErrorKind::InvalidGrant, "{err}");
    assert!(err.to_string().contains("jti replayed"), "{err}");
}

#[tokio::test]
async fn auto_client_auth_signs_a_new_assertion_for_its_second_attempt() {
    // The server takes the client secret in the body only: `Auto` tries Basic first, is
    // refused, and sends the request again. An assertion is single-use (its `jti`), so the
    // second attempt must carry a new one.
    let key = TestKey::es256();
    let server = TokenServer::builder()
        .client("svc", Some("s3cret"))
        .accept(AcceptAuth::Body)
        .jwt_issuer("svc", key.public.clone())
        .start()
        .await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "svc")
        .client_secret("s3cret")
        .client_auth(ClientAuth::Auto)
        .build()
        .expect("endpoint");
    let grant = JwtBearer::new(
        endpoint,
        signing_key(&key, "k"),
        AssertionClaims::new("svc").subject("svc"),
        TokenParams::new(),
    )
    .expect("grant");
    grant.fetch().await.expect("the body method is accepted");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "Basic, then the body");
    assert!(requests[0].basic.is_some() && requests[1].basic.is_none());
    let assertions: Vec<&str> = requests
        .iter()
        .map(|r| r.field("assertion").expect("an assertion"))
        .collect();
    assert_ne!(
        assertions[0], assertions[1],
        "the second attempt signs anew"
    );
    assert_eq!(
        grant_assertions(&server).len(),
        1,
        "only the accepted one was verified"
    );
}

#[tokio::test]
async fn a_strict_server_rejects_wrong_audience_key_subject_and_long_lifetimes() {
    let key = TestKey::es256();
    let other = TestKey::es256();
    let server = TokenServer::builder()
        .jwt_issuer_for("svc", "alice", key.public.clone())
        .start()
        .await;
    let cases = [
        (
            OAuth2Layer::jwt_bearer(server.token_url(), "svc", signing_key(&key, "k"))
                .subject("alice")
                .assertion_audience("https://elsewhere.example/token"),
            "wrong aud",
        ),
        (
            OAuth2Layer::jwt_bearer(server.token_url(), "svc", signing_key(&other, "k"))
                .subject("alice"),
            "bad signature",
        ),
        (
            OAuth2Layer::jwt_bearer(server.token_url(), "svc", signing_key(&key, "k")),
            "wrong sub",
        ),
        (
            OAuth2Layer::jwt_bearer(server.token_url(), "svc", signing_key(&key, "k"))
                .subject("alice")
                .assertion_lifetime(Duration::from_secs(3 * 3600)),
            "exp too far",
        ),
    ];
    for (builder, expected) in cases {
        let layer = builder.build().expect("layer");
        let err = layer.source().source().fetch().await.expect_err(expected);
        assert_eq!(err.kind(), ErrorKind::InvalidGrant, "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    let layer = OAuth2Layer::jwt_bearer(server.token_url(), "svc", signing_key(&key, "k"))
        .subject("alice")
        .build()
        .expect("layer");
    layer.source().source().fetch().await.expect("accepted");
}

fn service_account_json(key: &TestKey, token_uri: &str) -> serde_json::Value {
    json!({
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "0123456789abcdef",
        "private_key": key.private_pem,
        "client_email": "robot@demo-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
}

#[tokio::test]
async fn a_service_account_file_round_trips_google_style() {
    let key = TestKey::rsa_pkcs8();
    let email = "robot@demo-project.iam.gserviceaccount.com";
    let server = TokenServer::builder()
        .jwt_issuer_for(email, "user@example.com", key.public.clone())
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("service-account.json");
    let text = serde_json::to_string_pretty(&service_account_json(&key, &server.token_url()))
        .expect("json");
    std::fs::write(&path, text).expect("write");

    let loaded = ServiceAccountKey::from_file(&path).expect("key file");
    assert_eq!(loaded.client_email(), email);
    assert_eq!(loaded.private_key_id(), Some("0123456789abcdef"));
    assert_eq!(loaded.project_id(), Some("demo-project"));
    assert_eq!(loaded.signing_key().algorithm(), Algorithm::Rs256);

    let layer = OAuth2Layer::service_account(&path)
        .scopes([
            "https://www.googleapis.com/auth/a",
            "https://www.googleapis.com/auth/b",
        ])
        .subject("user@example.com")
        .build()
        .expect("layer");
    let token = layer.source().token().await.expect("token");
    assert_eq!(token.scopes().len(), 2);

    let request = server.last_request();
    assert_eq!(
        request.field("scope"),
        None,
        "Google wants the scopes in the claim"
    );
    assert_eq!(request.field("client_id"), None);
    let assertion = &grant_assertions(&server)[0];
    assert_eq!(assertion.header["kid"], "0123456789abcdef");
    assert_eq!(assertion.header["alg"], "RS256");
    assert_eq!(assertion.claims["iss"], email);
    assert_eq!(assertion.claims["sub"], "user@example.com");
    assert_eq!(assertion.claims["aud"], json!(server.token_url()));
    assert_eq!(
        assertion.claims["scope"],
        "https://www.googleapis.com/auth/a https://www.googleapis.com/auth/b"
    );
    let lifetime = assertion.claims["exp"]
        .as_u64()
        .zip(assertion.claims["iat"].as_u64());
    assert_eq!(lifetime.map(|(e, i)| e - i), Some(3600));
}

#[tokio::test]
async fn a_service_account_without_delegation_sends_no_subject() {
    let key = TestKey::es256();
    let email = "robot@demo-project.iam.gserviceaccount.com";
    let server = TokenServer::builder()
        .jwt_issuer(email, key.public.clone())
        .start()
        .await;
    let json = service_account_json(&key, &server.token_url()).to_string();
    let layer = OAuth2Layer::service_account_json(&json)
        .scopes("s")
        .build()
        .expect("layer");
    layer.source().token().await.expect("token");
    let assertion = &grant_assertions(&server)[0];
    assert!(
        !assertion.claims.contains_key("sub"),
        "no sub: not null, absent"
    );
    assert_eq!(assertion.claims["scope"], "s");
}

fn build_error(builder: auth_oauth::OAuth2LayerBuilder<JwtBearer>) -> AuthError {
    builder.build().expect_err("a bad key file")
}

#[test]
fn bad_service_account_files_name_the_file_and_the_field() {
    let key = TestKey::es256();
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let mut no_email = service_account_json(&key, "https://oauth2.googleapis.com/token");
    no_email
        .as_object_mut()
        .expect("object")
        .remove("client_email");
    let mut bad_key = service_account_json(&key, "https://oauth2.googleapis.com/token");
    bad_key["private_key"] =
        json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    let mut user_file = service_account_json(&key, "https://oauth2.googleapis.com/token");
    user_file["type"] = json!("authorized_user");
    let cases = [
        (
            write("no-email.json", &no_email.to_string()),
            "`client_email` is missing",
        ),
        (
            write("not-json.json", "client_email = robot"),
            "not valid JSON (line 1, column 1)",
        ),
        (write("array.json", "[1, 2]"), "not a JSON object"),
        (
            write("bad-key.json", &bad_key.to_string()),
            "`private_key`: the PKCS#8 key is not valid DER",
        ),
        (
            write("user.json", &user_file.to_string()),
            "`type` is `authorized_user`, not `service_account`",
        ),
        (dir.path().join("missing.json"), "cannot read it"),
    ];
    for (path, expected) in cases {
        let err = build_error(OAuth2Layer::service_account(&path));
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("service account file {}", path.display())),
            "{text}"
        );
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn unusable_keys_are_config_errors() {
    let rsa = TestKey::rsa_pkcs1();
    let err = SigningKey::from_pem(&rsa.private_pem)
        .expect("RSA key")
        .with_algorithm(Algorithm::Es256)
        .expect_err("RSA cannot sign ES256");
    assert!(
        err.to_string()
            .contains("ES256 needs an EC P-256 key, but the private key is RSA 2048-bit"),
        "{err}"
    );
    let err = SigningKey::from_pem(&TestKey::rsa_1024().private_pem).expect_err("too small");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("at least 2048 bits"), "{err}");
    let err = SigningKey::from_pem("not a key").expect_err("not PEM");
    assert!(
        err.to_string().contains("private key PEM: not PEM"),
        "{err}"
    );
}

#[test]
fn no_new_type_or_error_shows_the_private_key() {
    for key in [TestKey::rsa_pkcs1(), TestKey::es256_sec1()] {
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
        };
        let signer = signing_key(&key, "k");
        check("SigningKey", format!("{signer:?} {signer:#?}"));
        let builder = OAuth2Layer::jwt_bearer("https://auth.example/token", "svc", signer.clone());
        check("OAuth2LayerBuilder<JwtBearer>", format!("{builder:?}"));
        let _rt = tokio::runtime::Runtime::new().expect("runtime");
        let _guard = _rt.enter();
        let layer = builder.build().expect("layer");
        check("OAuth2Layer<JwtBearer>", format!("{layer:?}"));
        check("JwtBearer", format!("{:#?}", layer.source().source()));
        let account = ServiceAccountKey::from_json(
            &service_account_json(&key, "https://oauth2.googleapis.com/token").to_string(),
        )
        .expect("key file");
        check("ServiceAccountKey", format!("{account:?} {account:#?}"));
        let err = signer
            .with_algorithm(Algorithm::EdDsa)
            .expect_err("wrong algorithm");
        check("wrong-algorithm error", format!("{err} {err:?}"));

        // The key's own base64, broken so it cannot load: the error must not echo it.
        let broken = key.private_pem.replacen("-----\nM", "-----\n!", 1);
        let mut file = service_account_json(&key, "https://oauth2.googleapis.com/token");
        file["private_key"] = json!(broken);
        let err = ServiceAccountKey::from_json(&file.to_string()).expect_err("broken key");
        check("broken-key error", format!("{err} {err:?}"));
        let err = SigningKey::from_pem(&broken).expect_err("broken key");
        check("broken-PEM error", format!("{err} {err:?}"));
    }
}
