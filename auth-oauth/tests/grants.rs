//! Every grant and client-authentication method against the in-process token endpoint, checking
//! the exact request the server received.

use std::time::Duration;

use auth_core::{CachedTokenSource, ErrorKind, ExposeSecret, TokenSource};
use auth_oauth::{
    ClientAuth, ClientCredentials, KeyMap, Password, TokenEndpoint, TokenEndpointBuilder,
    TokenParams,
};
use auth_test_support::token_server::{AcceptAuth, Fault, TokenServer};
use serde_json::json;

fn endpoint(server: &TokenServer, secret: Option<&str>, auth: ClientAuth) -> TokenEndpointBuilder {
    let mut builder = TokenEndpoint::builder(server.token_url(), "client-id").client_auth(auth);
    if let Some(secret) = secret {
        builder = builder.client_secret(secret);
    }
    builder
}

fn client_credentials(
    server: &TokenServer,
    auth: ClientAuth,
    params: TokenParams,
) -> ClientCredentials {
    let endpoint = endpoint(server, Some("client-secret"), auth)
        .build()
        .expect("endpoint");
    ClientCredentials::new(endpoint, params).expect("grant")
}

#[tokio::test]
async fn client_credentials_with_basic_sends_exactly_the_grant_and_no_secret_in_the_body() {
    let server = TokenServer::builder()
        .accept(AcceptAuth::Basic)
        .start()
        .await;
    let grant = client_credentials(
        &server,
        ClientAuth::Basic,
        TokenParams::new().scopes("read write"),
    );
    let token = grant.fetch().await.expect("token");
    assert_eq!(token.header_value(), "Bearer at-1");
    assert_eq!(token.scopes(), ["read", "write"]);

    let request = server.last_request();
    assert_eq!(request.field_names(), ["grant_type", "scope"]);
    assert_eq!(request.field("grant_type"), Some("client_credentials"));
    assert_eq!(request.field("scope"), Some("read write"));
    assert_eq!(
        request.basic,
        Some(("client-id".to_owned(), "client-secret".to_owned()))
    );
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(request.headers["accept"], "application/json");
}

#[tokio::test]
async fn client_credentials_with_body_sends_id_and_secret_as_fields_and_no_basic_header() {
    let server = TokenServer::builder()
        .accept(AcceptAuth::Body)
        .start()
        .await;
    let grant = client_credentials(&server, ClientAuth::Body, TokenParams::new());
    grant.fetch().await.expect("token");
    let request = server.last_request();
    assert_eq!(
        request.field_names(),
        ["grant_type", "client_id", "client_secret"]
    );
    assert_eq!(request.field("client_secret"), Some("client-secret"));
    assert!(request.headers.get("authorization").is_none());
}

#[tokio::test]
async fn a_public_client_sends_its_id_and_no_secret_anywhere() {
    let server = TokenServer::builder()
        .client("public-cli", None)
        .user("alice", "wonderland")
        .start()
        .await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "public-cli")
        .build()
        .expect("endpoint");
    assert_eq!(endpoint.client_auth(), ClientAuth::None);
    let grant = Password::new(endpoint, "alice", "wonderland", TokenParams::new()).expect("grant");
    grant.fetch().await.expect("token");
    let request = server.last_request();
    assert_eq!(
        request.field_names(),
        ["grant_type", "username", "password", "client_id"]
    );
    assert_eq!(request.field("client_id"), Some("public-cli"));
    assert!(request.field("client_secret").is_none());
    assert!(request.headers.get("authorization").is_none());
}

#[tokio::test]
async fn basic_survives_a_secret_with_colon_percent_plus_space_and_non_ascii() {
    let secret = "p:a%ss+w ord/é€";
    let server = TokenServer::builder()
        .client("id:with space", Some(secret))
        .accept(AcceptAuth::Basic)
        .start()
        .await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "id:with space")
        .client_secret(secret)
        .build()
        .expect("endpoint");
    let grant = ClientCredentials::new(endpoint, TokenParams::new()).expect("grant");
    grant
        .fetch()
        .await
        .expect("the server decoded the same id and secret");
    let request = server.last_request();
    assert_eq!(
        request.basic,
        Some(("id:with space".to_owned(), secret.to_owned()))
    );
}

#[tokio::test]
async fn password_grant_sends_the_user_credentials_and_maps_a_bad_password_to_invalid_grant() {
    let server = TokenServer::builder()
        .user("alice", "wonder land+%")
        .start()
        .await;
    let endpoint = endpoint(&server, Some("client-secret"), ClientAuth::Basic)
        .build()
        .expect("endpoint");
    let grant = Password::new(
        endpoint.clone(),
        "alice",
        "wonder land+%",
        TokenParams::new().scopes("profile"),
    )
    .expect("grant");
    let token = grant.fetch().await.expect("token");
    assert!(token.refresh_token().is_some());
    let request = server.last_request();
    assert_eq!(
        request.field_names(),
        ["grant_type", "username", "password", "scope"]
    );
    assert_eq!(request.field("password"), Some("wonder land+%"));

    let wrong = Password::new(endpoint, "alice", "nope", TokenParams::new()).expect("grant");
    let err = wrong.fetch().await.expect_err("bad password");
    assert_eq!(err.kind(), ErrorKind::InvalidGrant);
    assert!(!err.to_string().contains("nope"));
}

#[tokio::test]
async fn audience_resources_and_extra_params_are_sent() {
    let server = TokenServer::builder().start().await;
    let params = TokenParams::new()
        .scopes(["a", "b"])
        .audience("https://api.example.com")
        .resource("https://r1.example.com")
        .resource("https://r2.example.com")
        .param("tenant", "acme");
    client_credentials(&server, ClientAuth::Basic, params)
        .fetch()
        .await
        .expect("token");
    let request = server.last_request();
    assert_eq!(request.field("audience"), Some("https://api.example.com"));
    assert_eq!(
        request.fields("resource"),
        ["https://r1.example.com", "https://r2.example.com"]
    );
    assert_eq!(request.field("tenant"), Some("acme"));
}

#[tokio::test]
async fn auto_falls_back_to_the_body_on_invalid_client_and_remembers_it() {
    let server = TokenServer::builder()
        .accept(AcceptAuth::Body)
        .start()
        .await;
    let grant = client_credentials(&server, ClientAuth::Auto, TokenParams::new());
    grant.fetch().await.expect("token after fallback");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].basic.is_some() && requests[0].field("client_secret").is_none());
    assert!(requests[1].basic.is_none() && requests[1].field("client_secret").is_some());

    grant.fetch().await.expect("second token");
    assert_eq!(
        server.fetches(),
        3,
        "the second fetch goes straight to the body method"
    );
    assert!(server.last_request().basic.is_none());
}

#[tokio::test]
async fn auto_keeps_basic_when_it_works() {
    let server = TokenServer::builder()
        .accept(AcceptAuth::Basic)
        .start()
        .await;
    let grant = client_credentials(&server, ClientAuth::Auto, TokenParams::new());
    grant.fetch().await.expect("token");
    grant.fetch().await.expect("token");
    assert_eq!(server.fetches(), 2);
    assert!(server.requests().iter().all(|r| r.basic.is_some()));
}

#[tokio::test]
async fn auto_with_a_wrong_secret_tries_both_methods_then_reports_invalid_client() {
    let server = TokenServer::builder().start().await;
    let endpoint = endpoint(&server, Some("wrong"), ClientAuth::Auto)
        .build()
        .expect("endpoint");
    let grant = ClientCredentials::new(endpoint, TokenParams::new()).expect("grant");
    let err = grant.fetch().await.expect_err("wrong secret");
    assert_eq!(err.kind(), ErrorKind::InvalidClient);
    assert_eq!(server.fetches(), 2);
    let text = err.to_string();
    assert!(
        text.contains("tried client_secret_basic, then client_secret_post"),
        "{text}"
    );
    assert!(
        text.contains("hint: check the client id and secret"),
        "{text}"
    );
}

#[tokio::test]
async fn auto_falls_back_on_a_bare_401_too() {
    let server = TokenServer::builder().start().await;
    server.push_fault(Fault::raw(401, None, ""));
    let grant = client_credentials(&server, ClientAuth::Auto, TokenParams::new());
    grant.fetch().await.expect("token after fallback");
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn every_rfc6749_error_reaches_the_caller_typed() {
    let server = TokenServer::builder().start().await;
    let grant = client_credentials(&server, ClientAuth::Basic, TokenParams::new());
    for (code, kind) in [
        ("invalid_request", ErrorKind::InvalidRequest),
        ("invalid_client", ErrorKind::InvalidClient),
        ("invalid_grant", ErrorKind::InvalidGrant),
        ("unauthorized_client", ErrorKind::UnauthorizedClient),
        ("unsupported_grant_type", ErrorKind::UnsupportedGrantType),
        ("invalid_scope", ErrorKind::InvalidScope),
        ("invalid_target", ErrorKind::InvalidTarget),
    ] {
        server.push_fault(Fault::json(
            400,
            json!({ "error": code, "error_description": "no" }),
        ));
        let err = grant.fetch().await.expect_err(code);
        assert_eq!(err.kind(), kind, "{code}");
        assert_eq!(err.provider().map(|p| p.code.as_str()), Some(code));
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    }
}

#[tokio::test]
async fn normalization_cases_work_end_to_end() {
    let server = TokenServer::builder().start().await;
    let with_map = |map: KeyMap| {
        let endpoint = endpoint(&server, Some("client-secret"), ClientAuth::Basic)
            .key_map(map)
            .build()
            .expect("endpoint");
        ClientCredentials::new(endpoint, TokenParams::new()).expect("grant")
    };
    // Form-encoded, lower-case token type, string expires_in.
    server.push_fault(Fault::raw(
        200,
        Some("application/x-www-form-urlencoded"),
        "access_token=f0rm&token_type=bearer&expires_in=120",
    ));
    let token = with_map(KeyMap::default()).fetch().await.expect("form");
    assert_eq!(token.header_value(), "Bearer f0rm");
    assert!(token.expires_at().is_some());
    // Nested and renamed fields.
    server.push_fault(Fault::json(
        200,
        json!({ "data": { "token": "n3sted", "expiresIn": "60" } }),
    ));
    let map = KeyMap::default()
        .access_token("data.token")
        .and_then(|m| m.expires_in("data.expiresIn"))
        .expect("map");
    let token = with_map(map).fetch().await.expect("nested");
    assert_eq!(token.secret().expose_secret(), "n3sted");
    // An error with status 200.
    server.push_fault(Fault::json(200, json!({ "error": "invalid_scope" })));
    let err = with_map(KeyMap::default())
        .fetch()
        .await
        .expect_err("error in 200");
    assert_eq!(err.kind(), ErrorKind::InvalidScope);
    // An HTML page.
    server.push_fault(Fault::raw(
        200,
        Some("text/html"),
        "<html><body>Login</body></html>",
    ));
    let err = with_map(KeyMap::default()).fetch().await.expect_err("html");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    assert!(err.to_string().contains("<html><body>Login"), "{err}");
}

#[tokio::test]
async fn the_header_prefix_can_be_overridden() {
    let server = TokenServer::builder().start().await;
    let endpoint = endpoint(&server, Some("client-secret"), ClientAuth::Basic)
        .header_prefix("Token")
        .build()
        .expect("endpoint");
    let grant = ClientCredentials::new(endpoint, TokenParams::new()).expect("grant");
    assert_eq!(
        grant.fetch().await.expect("token").header_value(),
        "Token at-1"
    );
}

#[tokio::test]
async fn a_redirecting_token_endpoint_is_refused_without_following() {
    let server = TokenServer::builder().start().await;
    server.push_fault(Fault::Redirect(
        "https://elsewhere.example.net/token".to_owned(),
    ));
    let grant = client_credentials(&server, ClientAuth::Basic, TokenParams::new());
    let err = grant.fetch().await.expect_err("redirect");
    assert_eq!(err.kind(), ErrorKind::TokenEndpoint);
    assert!(err.to_string().contains("elsewhere.example.net"), "{err}");
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn an_oversized_answer_is_cut_off() {
    let server = TokenServer::builder().start().await;
    server.push_fault(Fault::LargeBody(2 * 1024 * 1024));
    let grant = client_credentials(&server, ClientAuth::Basic, TokenParams::new());
    let err = grant.fetch().await.expect_err("too large");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_with_the_endpoint_timeout() {
    let server = TokenServer::builder().start().await;
    server.push_fault(Fault::Hang);
    let endpoint = endpoint(&server, Some("client-secret"), ClientAuth::Basic)
        .timeout(Duration::from_millis(300))
        .build()
        .expect("endpoint");
    let grant = ClientCredentials::new(endpoint, TokenParams::new()).expect("grant");
    let err = grant.fetch().await.expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn a_cached_grant_fetches_once_for_many_concurrent_callers() {
    let server = TokenServer::builder().start().await;
    server.set_delay(Duration::from_millis(100));
    let source = CachedTokenSource::new(client_credentials(
        &server,
        ClientAuth::Basic,
        TokenParams::new(),
    ));
    let calls = (0..50).map(|_| source.token());
    let tokens = futures_util::future::join_all(calls).await;
    assert!(tokens.iter().all(Result::is_ok));
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn client_credentials_refuses_a_public_client() {
    let endpoint = TokenEndpoint::builder("https://auth.example.com/token", "id")
        .build()
        .expect("endpoint");
    let err = ClientCredentials::new(endpoint, TokenParams::new()).expect_err("public");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("client_secret"), "{err}");
}
