//! `CustomTokenRequest` against an in-process login endpoint and API on 127.0.0.1: the request
//! is sent exactly as configured, odd answers are normalized, the token is placed where asked,
//! and caching, refresh and retry-on-401 work as for every other source.

use std::time::Duration;

use auth_core::{
    AuthError, CacheConfig, CachedTokenSource, ErrorKind, ExposeSecret, SecretString, TokenSource,
};
use auth_layers::TokenLayer;
use auth_oauth::{
    KeyMap, OAuth2Layer, TokenHttpClient,
    custom::{CustomTokenRequest, CustomTokenRequestBuilder, Template, TokenPlacement},
};
use auth_test_support::{
    client,
    login_server::{LoginServer, Reply},
    redirect::RedirectServer,
};
use axum::{
    body::Bytes,
    http::{Method, StatusCode},
};
use http::Request;
use http_body_util::Full;
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};

use auth_test_support::canary::{CANARY, assert_clean};

fn http() -> TokenHttpClient {
    TokenHttpClient::from_service(client())
}

fn post(server: &LoginServer) -> CustomTokenRequestBuilder {
    CustomTokenRequest::post(server.login_url()).http_client(http())
}

/// A 200 answer carrying only `access_token`, no lifetime.
fn access_token(token: impl Into<String>) -> Reply {
    Reply::json(StatusCode::OK, json!({"access_token": token.into()}))
}

fn get_request(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::default()).expect("request")
}

#[tokio::test]
async fn a_json_body_with_placeholders_and_a_secret_is_sent_exactly() {
    let server = LoginServer::start().await;
    let source = post(&server)
        .header("X-Account", "{{account}}")
        .header("X-Api-Key", Template::text("Key {{key}}"))
        .query_param("tenant", "{{account}}")
        .json_field("username", "{{account}}/alice")
        .json_field("password", Template::secret("p@ss \"word\""))
        .json_field("client.id", Template::literal("{{literal}}"))
        .json_field("client.version", 2)
        .json_field("remember", true)
        .value("account", "acme")
        .secret_value("key", "k3y")
        .build()
        .expect("valid request");
    let token = source.token().await.expect("token");
    assert_eq!(token.header_value(), "Bearer tok-1");
    assert_eq!(token.secret().expose_secret(), "tok-1");

    let login = &server.logins()[0];
    assert_eq!(login.method, Method::POST);
    assert_eq!(login.uri.path(), "/login");
    assert_eq!(login.uri.query(), Some("tenant=acme"));
    assert_eq!(login.headers["content-type"], "application/json");
    assert_eq!(login.headers["accept"], "application/json");
    assert_eq!(login.headers["x-account"], "acme");
    assert_eq!(login.headers["x-api-key"], "Key k3y");
    assert_eq!(
        login.json(),
        json!({
            "username": "acme/alice",
            "password": "p@ss \"word\"",
            "client": {"id": "{{literal}}", "version": 2},
            "remember": true,
        })
    );
}

#[tokio::test]
async fn a_form_body_is_form_encoded() {
    let server = LoginServer::start().await;
    let source = CustomTokenRequest::builder(http::Method::PUT, server.login_url())
        .http_client(http())
        .form_field("user", "{{user}}")
        .form_field("password", Template::secret("a&b=c d+é"))
        .value("user", "alice@example.com")
        .build()
        .expect("valid request");
    source.token().await.expect("token");
    let login = &server.logins()[0];
    assert_eq!(login.method, Method::PUT);
    assert_eq!(
        login.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        &login.body[..],
        b"user=alice%40example.com&password=a%26b%3Dc+d%2B%C3%A9"
    );
}

#[tokio::test]
async fn a_non_standard_response_is_read_with_the_key_map() {
    let server = LoginServer::builder()
        .default_answer(|login| {
            let token = format!("nested-{}", login.number);
            Reply::json(
                StatusCode::OK,
                json!({"data": {"token": token, "ttl": "3600"}, "ok": true}),
            )
        })
        .start()
        .await;
    let source = post(&server)
        .json_field("user", "alice")
        .key_map(
            KeyMap::default()
                .access_token("data.token")
                .and_then(|m| m.expires_in("data.ttl"))
                .expect("key map"),
        )
        .build()
        .expect("valid request");
    let token = source.token().await.expect("token");
    assert_eq!(token.header_value(), "Bearer nested-1");
    let lifetime = token
        .expires_at()
        .expect("expires_at from the string ttl")
        .saturating_duration_since(tokio::time::Instant::now());
    assert!(
        lifetime > Duration::from_secs(3590) && lifetime <= Duration::from_secs(3600),
        "{lifetime:?}"
    );
}

#[tokio::test]
async fn a_custom_header_with_an_empty_prefix_reaches_the_api() {
    let server = LoginServer::builder()
        .api_header("x-session", "")
        .default_answer(|login| access_token(format!("sess-{}", login.number)))
        .start()
        .await;
    let source = post(&server)
        .json_field("user", "alice")
        .send_in_header("X-Session", "")
        .build()
        .expect("valid request");
    assert_eq!(
        source.placement(),
        &TokenPlacement::header("x-session", Some("")).expect("placement")
    );
    let api = ServiceBuilder::new()
        .layer(source.into_layer().expect("header placement"))
        .service(client());
    for _ in 0..3 {
        let response = api
            .clone()
            .oneshot(get_request(&server.api_url()))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(server.login_count(), 1, "the token is cached");
}

#[tokio::test]
async fn oauth2_layer_wraps_a_custom_request_too() {
    let server = LoginServer::builder()
        .api_header("x-token", "Token")
        .default_answer(|login| access_token(format!("t-{}", login.number)))
        .start()
        .await;
    let source = post(&server)
        .send_in_header("X-Token", "Token")
        .build()
        .expect("valid request");
    let placement = source.placement().clone();
    let layer = OAuth2Layer::from(
        placement
            .layer(CachedTokenSource::new(source))
            .expect("a header placement applies"),
    );
    let response = ServiceBuilder::new()
        .layer(layer)
        .service(client())
        .oneshot(get_request(&server.api_url()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_is_fetched_again() {
    let server = LoginServer::builder()
        .default_answer(|login| {
            let token = format!("tok-{}", login.number);
            Reply::json(
                StatusCode::OK,
                json!({"access_token": token, "expires_in": "1"}),
            )
        })
        .start()
        .await;
    let source = post(&server).build().expect("valid request");
    let config = CacheConfig::default()
        .skew(Duration::ZERO)
        .proactive_refresh(false);
    let api = ServiceBuilder::new()
        .layer(TokenLayer::new(CachedTokenSource::with_config(
            source, config,
        )))
        .service(client());
    let call = || async {
        api.clone()
            .oneshot(get_request(&server.api_url()))
            .await
            .expect("response")
            .status()
    };
    assert_eq!(call().await, StatusCode::OK);
    assert_eq!(call().await, StatusCode::OK);
    assert_eq!(server.login_count(), 1);
    // A real second: the API and the login endpoint run on real sockets, and tokio's paused
    // clock would skip ahead while the runtime waits for them.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call().await, StatusCode::OK);
    assert_eq!(server.login_count(), 2);
}

#[tokio::test]
async fn a_401_from_the_api_logs_in_again_and_retries_once() {
    let server = LoginServer::start().await;
    let source = post(&server).build().expect("valid request");
    let api = ServiceBuilder::new()
        .layer(TokenLayer::new(CachedTokenSource::new(source)))
        .service(client());
    let call = || async {
        api.clone()
            .oneshot(get_request(&server.api_url()))
            .await
            .expect("response")
            .status()
    };
    assert_eq!(call().await, StatusCode::OK);
    server.revoke_tokens();
    assert_eq!(call().await, StatusCode::OK);
    assert_eq!(server.login_count(), 2);
    assert_eq!(server.api_call_count(), 3);
}

#[tokio::test]
async fn errors_in_a_200_body_and_html_answers_are_typed_errors() {
    let server = LoginServer::builder()
        .answer(
            1,
            Reply::json(
                StatusCode::OK,
                json!({"error": "invalid_grant", "error_description": "wrong password"}),
            ),
        )
        .answer(
            2,
            Reply::json(
                StatusCode::OK,
                json!({"data": null, "err": {"code": "invalid_client", "message": "unknown account"}}),
            ),
        )
        .default_answer(|_| {
            Reply::text(StatusCode::OK, "text/html", "<html><body>Sign in</body></html>")
        })
        .start()
        .await;
    let standard = post(&server).build().expect("valid request");
    let err = standard.token().await.expect_err("error with 200");
    assert_eq!(err.kind(), ErrorKind::InvalidGrant);
    assert_eq!(err.status(), Some(StatusCode::OK));
    assert!(err.to_string().contains("wrong password"), "{err}");

    let mapped = post(&server)
        .key_map(
            KeyMap::default()
                .access_token("data.token")
                .and_then(|m| m.error("err.code"))
                .and_then(|m| m.set("error_description", "err.message"))
                .expect("key map"),
        )
        .build()
        .expect("valid request");
    let err = mapped.token().await.expect_err("mapped error with 200");
    assert_eq!(err.kind(), ErrorKind::InvalidClient);
    assert!(err.to_string().contains("unknown account"), "{err}");

    let err = standard.token().await.expect_err("html");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    assert!(err.to_string().contains("text/html"), "{err}");
}

#[tokio::test]
async fn an_unknown_placeholder_is_a_config_error_naming_it_and_where_it_is_used() {
    let server = LoginServer::start().await;
    let err = post(&server)
        .json_field("username", "{{acount}}")
        .value("account", "acme")
        .build()
        .expect_err("unknown placeholder");
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("JSON field `username`: unknown placeholder `{{acount}}` (values: account;"),
        "{text}"
    );
    assert_eq!(server.login_count(), 0);
}

#[tokio::test]
async fn query_placement_sends_the_bare_token_in_the_parameter() {
    let server = LoginServer::start().await;
    let source = post(&server)
        .send_in_query("api_token")
        .build()
        .expect("valid request");
    assert_eq!(source.placement().query_parameter(), Some("api_token"));
    assert_eq!(source.placement().header_name(), None);
    let layer = source.into_layer().expect("query placement is supported");
    let api = tower::service_fn(|req: http::Request<String>| async move {
        assert!(req.headers().get("authorization").is_none());
        Ok::<_, std::convert::Infallible>(http::Response::new(req.uri().to_string()))
    });
    let uri = tower::ServiceBuilder::new()
        .layer(layer)
        .service(api)
        .oneshot(
            http::Request::get("https://api.example/data?a=1&api_token=old")
                .body(String::new())
                .expect("request"),
        )
        .await
        .expect("response")
        .into_body();
    assert_eq!(uri, "https://api.example/data?a=1&api_token=tok-1");
}

#[tokio::test]
async fn redirects_and_plain_http_are_refused_like_for_any_token_request() {
    let server = LoginServer::builder()
        .default_answer(|_| Reply::json(StatusCode::OK, json!({})))
        .start()
        .await;
    let err = CustomTokenRequest::post("http://auth.example.com/login")
        .http_client(http())
        .build()
        .expect_err("plain http off loopback");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        CustomTokenRequest::post("http://auth.example.com/login")
            .http_client(http())
            .allow_insecure_http(true)
            .build()
            .is_ok()
    );
    let redirecting = RedirectServer::start(server.login_url()).await;
    let source = CustomTokenRequest::post(redirecting.url("/login").to_string())
        .http_client(http())
        .build()
        .expect("valid request");
    let err = source
        .token()
        .await
        .expect_err("a redirect is not followed");
    assert_eq!(err.kind(), ErrorKind::TokenEndpoint);
    assert_eq!(server.login_count(), 0);
}

#[tokio::test]
async fn the_secret_password_never_shows_in_debug_display_or_errors() {
    // The server echoes the request body under a name the generic scrubbing does not know.
    let server = LoginServer::builder()
        .answer(
            1,
            Reply::json(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_request", "error_description": format!("bad login: pw={CANARY}")}),
            ),
        )
        .answer(
            2,
            Reply::text(StatusCode::FORBIDDEN, "text/plain", format!("denied for p {CANARY}")),
        )
        .default_answer(|_| access_token(CANARY))
        .start()
        .await;
    let builder = post(&server)
        .json_field("user", "alice")
        .json_field("password", Template::secret(CANARY))
        .header("X-Key", "{{key}}")
        .secret_value("key", CANARY);
    assert_clean("builder Debug", &format!("{builder:?} {builder:#?}"));
    let source = builder.build().expect("valid request");
    assert_clean("request Debug", &format!("{source:?} {source:#?}"));
    for _ in 0..2 {
        let err = source.token().await.expect_err("error answer");
        assert_clean("error Display", &err.to_string());
        assert_clean("error Debug", &format!("{err:?}"));
    }
    let token = source.token().await.expect("token");
    assert_clean("token Debug", &format!("{token:?}"));
    let cached = CachedTokenSource::new(source.clone());
    let layer = source.clone().into_layer().expect("layer");
    assert_clean("layer Debug", &format!("{layer:?} {cached:?}"));

    let err = post(&server)
        .json_field("password", Template::secret(CANARY))
        .header("X-Key", "{{key}}\n")
        .secret_value("key", SecretString::from(CANARY))
        .build()
        .expect_err("a line break in a header");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_clean("config error", &err.to_string());
    let _: &dyn std::error::Error = &err as &AuthError;
}
