//! One canary value used as every secret of auth-oauth (client secret, password, tokens, codes,
//! state, verifier): it must never appear in the `Debug` of any type or in any error.
//!
//! Every public type that can hold a secret gets a line here.

use std::{sync::Arc, time::Duration};

use auth_core::{ErrorKind, MemoryTokenStore, TokenStore};
use auth_oauth::{
    AuthorizationCode, Callback, ClientAuth, ClientCredentials, KeyMap, LoopbackListener,
    OAuth2Layer, Password, RefreshToken, TokenEndpoint, TokenHttpClient, TokenParams,
    grant::{SubjectToken, TokenExchange},
    normalize,
    revocation::{Revocation, TokenTypeHint, revoke_stored},
};
use auth_test_support::token_server::{Fault, TokenServer};
use http::StatusCode;
use serde_json::json;

use auth_test_support::canary::{CANARY, assert_debug_clean, assert_error_clean};

fn store() -> Arc<dyn TokenStore> {
    Arc::new(MemoryTokenStore::new())
}

#[tokio::test]
async fn no_type_shows_a_secret_in_debug() {
    let server = TokenServer::builder()
        .client("id", Some(CANARY))
        .start()
        .await;
    let builder = TokenEndpoint::builder(server.token_url(), "id").client_secret(CANARY);
    assert_debug_clean("TokenEndpointBuilder", &builder);
    let endpoint = builder
        .client_auth(ClientAuth::Auto)
        .build()
        .expect("endpoint");
    assert_debug_clean("TokenEndpoint", &endpoint);
    assert_debug_clean("TokenHttpClient", endpoint.http_client());

    let cc = ClientCredentials::new(endpoint.clone(), TokenParams::new()).expect("grant");
    assert_debug_clean("ClientCredentials", &cc);
    let password =
        Password::new(endpoint.clone(), "alice", CANARY, TokenParams::new()).expect("grant");
    assert_debug_clean("Password", &password);
    let refresh = RefreshToken::new(endpoint.clone(), store(), "k", TokenParams::new())
        .expect("grant")
        .initial_refresh_token(CANARY);
    assert_debug_clean("RefreshToken", &refresh);

    let code_builder = AuthorizationCode::builder(
        endpoint.clone(),
        server.authorize_url(),
        "http://127.0.0.1:0/cb",
    );
    assert_debug_clean("AuthorizationCodeBuilder", &code_builder);
    let code = code_builder.build().expect("grant");
    assert_debug_clean("AuthorizationCode", &code);
    let request = code.authorize();
    assert_debug_clean("AuthorizationRequest", &request);
    let state = auth_core::ExposeSecret::expose_secret(request.state()).to_owned();
    assert!(!format!("{request:?}").contains(&state), "the state leaks");
    let callback = Callback::parse(&format!("?code={CANARY}&state={CANARY}")).expect("callback");
    assert_debug_clean("Callback", &callback);
    let listener = LoopbackListener::bind(code.redirect_uri())
        .await
        .expect("bind");
    assert_debug_clean("LoopbackListener", &listener);

    let layer_builder = OAuth2Layer::client_credentials(server.token_url(), "id", CANARY);
    assert_debug_clean("OAuth2LayerBuilder<ClientCredentials>", &layer_builder);
    let layer = layer_builder.build().expect("layer");
    assert_debug_clean("OAuth2Layer", &layer);
    assert_debug_clean("CachedTokenSource<ClientCredentials>", layer.source());
    let password_layer =
        OAuth2Layer::password(server.token_url(), "id", "alice", CANARY).client_secret(CANARY);
    assert_debug_clean("OAuth2LayerBuilder<Password>", &password_layer);
    let refresh_layer = OAuth2Layer::refresh_token(server.token_url(), "id", store(), "k")
        .client_secret(CANARY)
        .initial_refresh_token(CANARY);
    assert_debug_clean("OAuth2LayerBuilder<RefreshToken>", &refresh_layer);
    let code_layer = OAuth2Layer::authorization_code(
        server.token_url(),
        "id",
        server.authorize_url(),
        "http://127.0.0.1:0/cb",
    )
    .client_secret(CANARY)
    .store(store(), "k");
    assert_debug_clean("OAuth2LayerBuilder<AuthorizationCode>", &code_layer);
    assert_debug_clean(
        "TokenHttpClient::new",
        &TokenHttpClient::new().expect("client"),
    );
    assert_debug_clean("KeyMap", &KeyMap::default());
}

#[tokio::test]
async fn tokens_from_the_server_stay_secret() {
    let server = TokenServer::builder()
        .client("id", Some(CANARY))
        .start()
        .await;
    server.push_fault(Fault::json(
        200,
        json!({ "access_token": CANARY, "refresh_token": CANARY, "expires_in": 60 }),
    ));
    let endpoint = TokenEndpoint::builder(server.token_url(), "id")
        .client_secret(CANARY)
        .build()
        .expect("endpoint");
    let grant = ClientCredentials::new(endpoint, TokenParams::new()).expect("grant");
    let token = grant.fetch().await.expect("token");
    assert_debug_clean("AccessToken from a grant", &token);

    let response = normalize(
        StatusCode::OK,
        Some("application/json"),
        json!({ "access_token": CANARY, "refresh_token": CANARY })
            .to_string()
            .as_bytes(),
        &KeyMap::default(),
    )
    .expect("response");
    assert_debug_clean("TokenResponse", &response);
}

#[tokio::test]
async fn errors_never_echo_a_secret() {
    let server = TokenServer::builder()
        .client("id", Some("other"))
        .start()
        .await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "id")
        .client_secret(CANARY)
        .client_auth(ClientAuth::Auto)
        .timeout(Duration::from_millis(500))
        .build()
        .expect("endpoint");
    let grant =
        Password::new(endpoint.clone(), "alice", CANARY, TokenParams::new()).expect("grant");
    let err = grant.fetch().await.expect_err("wrong secret");
    assert_eq!(err.kind(), ErrorKind::InvalidClient);
    assert_error_clean("invalid_client", &err);

    // Bodies that echo secrets, in every shape, with every status.
    let bodies = [
        (Some("text/html"), format!("<p>access_token={CANARY}</p>")),
        (Some("text/html"), format!("<pre>{CANARY}</pre>")),
        (
            Some("application/json"),
            format!(r#"{{"access_token":"{CANARY}","expires_in":"x"}}"#),
        ),
        (
            Some("application/json"),
            format!(r#"{{"refresh_token":"{CANARY}"}}"#),
        ),
        (
            Some("application/json"),
            format!(r#"{{"message":"bad secret {CANARY}"}}"#),
        ),
        (None, format!("password={CANARY}&oops")),
    ];
    for status in [200, 400, 500] {
        for (content_type, body) in &bodies {
            server.push_fault(Fault::raw(status, *content_type, body.clone()));
            let cc = ClientCredentials::new(endpoint.clone(), TokenParams::new()).expect("grant");
            if let Err(err) = cc.fetch().await {
                assert_error_clean(&format!("{status} {body}"), &err);
            }
        }
    }

    let err = Callback::parse(&format!("?error={CANARY}&error_description={CANARY}"))
        .expect_err("error redirect");
    // A provider's own error text is shown (it is not ours to judge), but a code never
    // contains our secrets; this checks the parsing path does not add any.
    assert_eq!(err.kind(), ErrorKind::TokenEndpoint);
    let code =
        AuthorizationCode::builder(endpoint, server.authorize_url(), "http://127.0.0.1:0/cb")
            .build()
            .expect("grant");
    let request = code.authorize();
    let forged = Callback::parse(&format!("?code={CANARY}&state={CANARY}")).expect("callback");
    let err = code
        .exchange(request, &forged)
        .await
        .expect_err("state mismatch");
    assert_error_clean("state mismatch", &err);
}

/// DPoP: the private key never shows (its PEM body, its scalar in hex or base64url), neither
/// does a bound token, in the Debug of the key, its state, the endpoint, the layer and the
/// token, nor in the error of a key that cannot be read.
#[tokio::test]
async fn dpop_keys_and_bound_tokens_never_show() {
    use auth_oauth::dpop::{Dpop, DpopKey};
    use auth_test_support::keys::TestKey;
    use base64::Engine as _;

    let key = TestKey::es256();
    let scalar = key.ec_private_scalar();
    let leaks = [
        key.private_base64()[40..80].to_owned(),
        scalar
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&scalar),
        base64::engine::general_purpose::STANDARD.encode(&scalar),
        format!("{:?}", &scalar[..8]),
    ];
    let check = |what: &str, text: String| {
        for leak in &leaks {
            assert!(
                !text.contains(leak.as_str()),
                "{what} shows the DPoP private key: {text}"
            );
        }
        assert!(!text.contains(CANARY), "{what} leaks the canary: {text}");
    };
    let dpop_key = DpopKey::from_pem(&key.private_pem).expect("key");
    check("DpopKey", format!("{dpop_key:?} {dpop_key:#?}"));
    let dpop = Dpop::new(dpop_key.clone()).required(true);
    check("Dpop", format!("{dpop:?} {dpop:#?}"));

    // A DPoP-bound token (the server answers token_type DPoP) with the canary as its value.
    let server = TokenServer::builder()
        .client("id", Some(CANARY))
        .start()
        .await;
    server.push_fault(Fault::json(
        200,
        json!({"access_token": CANARY, "token_type": "DPoP", "expires_in": 3600}),
    ));
    let endpoint = TokenEndpoint::builder(server.token_url(), "id")
        .client_secret(CANARY)
        .dpop(dpop.clone());
    check("TokenEndpointBuilder with DPoP", format!("{endpoint:?}"));
    let endpoint = endpoint.build().expect("endpoint");
    check("TokenEndpoint with DPoP", format!("{endpoint:?}"));
    let layer = OAuth2Layer::client_credentials(server.token_url(), "id", CANARY)
        .dpop(dpop)
        .build()
        .expect("layer");
    check("OAuth2Layer with DPoP", format!("{layer:?}"));
    let token = auth_core::TokenSource::token(layer.source())
        .await
        .expect("a DPoP token");
    assert!(token.binding().is_some());
    check("a bound AccessToken", format!("{token:?} {token:#?}"));

    // A PEM that is not a key, with the canary inside: the error names the problem only.
    let bad = format!("-----BEGIN PRIVATE KEY-----\n{CANARY}\n-----END PRIVATE KEY-----\n");
    let err = DpopKey::from_pem(&bad).expect_err("not a key");
    assert_error_clean("DpopKey::from_pem", &err);
}

#[tokio::test]
async fn the_device_code_never_shows() {
    use auth_oauth::grant::DeviceCode;

    let server = TokenServer::builder()
        .client("id", Some(CANARY))
        .start()
        .await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "id")
        .client_secret(CANARY)
        .build()
        .expect("endpoint");
    // The token server's canned answers play the device authorization endpoint.
    let builder = DeviceCode::builder(endpoint, server.token_url()).store(store(), "device");
    assert_debug_clean("DeviceCodeBuilder", &builder);
    let grant = builder.build().expect("grant");
    assert_debug_clean("DeviceCode", &grant);
    let layer_builder = OAuth2Layer::device_code(server.token_url(), "id", server.token_url())
        .client_secret(CANARY);
    assert_debug_clean("OAuth2LayerBuilder<DeviceCode>", &layer_builder);
    assert_debug_clean(
        "OAuth2Layer<DeviceCode>",
        &layer_builder.build().expect("layer"),
    );

    let started = format!(
        r#"{{"device_code":"{CANARY}","user_code":"AB","verification_uri":"https://e.x/d"}}"#
    );
    server.push_fault(Fault::raw(200, Some("application/json"), started));
    let authorization = grant.authorize().await.expect("device authorization");
    assert_debug_clean("DeviceAuthorization", &authorization);
    assert_debug_clean("DevicePrompt", authorization.prompt());
    // The token server does not know the grant: its refusal must not echo the device code.
    let err = grant
        .poll(&authorization, Duration::from_secs(8))
        .await
        .expect_err("unknown grant");
    assert_error_clean("device code poll", &err);

    let bodies = [
        format!(r#"{{"device_code":"{CANARY}"}}"#),
        format!(r#"{{"device_code":"{CANARY}","user_code":"AB","verification_uri":"x"}}"#),
        format!(
            r#"{{"device_code":"{CANARY}","error":"invalid_scope","error_description":"{CANARY}"}}"#
        ),
        format!("<p>device_code={CANARY}</p>"),
        format!(r#"{{"message":"bad {CANARY}"}}"#),
    ];
    for status in [200, 400, 500] {
        for body in &bodies {
            server.push_fault(Fault::raw(status, Some("application/json"), body.clone()));
            let err = grant.authorize().await.expect_err(body);
            assert_error_clean(&format!("{status} {body}"), &err);
        }
    }
}

#[tokio::test]
async fn exchanged_and_revoked_tokens_never_show() {
    let server = TokenServer::builder()
        .client("id", Some(CANARY))
        .start()
        .await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "id")
        .client_secret(CANARY)
        .build()
        .expect("endpoint");
    let subject = SubjectToken::fixed(CANARY);
    assert_debug_clean("SubjectToken", &subject);
    let exchange = TokenExchange::new(endpoint.clone(), subject.clone(), TokenParams::new())
        .expect("grant")
        .actor_token(SubjectToken::fixed(CANARY), "urn:x");
    assert_debug_clean("TokenExchange", &exchange);
    let builder = OAuth2Layer::token_exchange(server.token_url(), "id", subject)
        .client_secret(CANARY)
        .actor_token(SubjectToken::fixed(CANARY), "urn:x");
    assert_debug_clean("OAuth2LayerBuilder<TokenExchange>", &builder);
    assert_debug_clean(
        "OAuth2Layer<TokenExchange>",
        &builder.build().expect("layer"),
    );

    // A server echoing the subject and actor tokens in its error.
    server.push_fault(Fault::json(
        400,
        json!({ "error": "invalid_grant", "error_description": format!("bad token {CANARY}") }),
    ));
    let err = exchange.fetch().await.expect_err("refused");
    assert_error_clean("token exchange refused", &err);
    // An answer without issued_token_type.
    server.push_fault(Fault::json(200, json!({ "access_token": CANARY })));
    let err = exchange.fetch().await.expect_err("no issued_token_type");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    assert_error_clean("no issued_token_type", &err);

    let revocation = Revocation::new(server.token_url(), endpoint).expect("revocation");
    assert_debug_clean("Revocation", &revocation);
    for fault in [
        Fault::json(
            400,
            json!({ "error": "invalid_request", "error_description": CANARY }),
        ),
        Fault::raw(503, Some("text/html"), format!("<p>{CANARY}</p>")),
    ] {
        server.push_fault(fault);
        let err = revocation
            .revoke(&CANARY.into(), TokenTypeHint::RefreshToken)
            .await
            .expect_err("refused");
        assert_error_clean("revocation refused", &err);
    }
    let store = MemoryTokenStore::new();
    store
        .save("k", &auth_core::StoredToken::with_refresh_token(CANARY))
        .await
        .expect("save");
    server.push_fault(Fault::raw(500, None, CANARY));
    let outcome = revoke_stored(Some(&revocation), Some((&store, "k")), None)
        .await
        .expect("removed locally");
    assert!(outcome.has_failures());
    assert_debug_clean("RevocationOutcome", &outcome);
    assert!(!outcome.to_string().contains(CANARY), "{outcome}");
}
