//! The profile lookup against an in-process endpoint, and the `id_token` fallback.

use std::net::SocketAddr;

use auth_core::{AccessToken, ErrorKind, SecretString};
use axum::{
    Router,
    http::{HeaderMap, StatusCode, header},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{Profile, ProfileEndpoint, from_id_token};

const TOKEN: &str = "at-profile-canary-7f3a";

/// Serves `/nested`, `/flat`, `/no-email`, `/empty` and `/denied` on 127.0.0.1; each answers
/// 401 unless the request carries [`TOKEN`] as a Bearer token.
async fn server() -> SocketAddr {
    fn authorized(headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {TOKEN}"))
    }
    fn answer(headers: &HeaderMap, body: &'static str) -> (StatusCode, &'static str) {
        if authorized(headers) {
            (StatusCode::OK, body)
        } else {
            (StatusCode::UNAUTHORIZED, r#"{"error":"bad token"}"#)
        }
    }
    let app =
        Router::new()
            .route(
                "/nested",
                get(|h: HeaderMap| async move {
                    answer(
                        &h,
                        r#"{"data":{"user":{"id":42,"email":"ada@example.test"}}}"#,
                    )
                }),
            )
            .route(
                "/flat",
                get(|h: HeaderMap| async move {
                    answer(&h, r#"{"id":"u-1","email":"bob@example.test"}"#)
                }),
            )
            .route(
                "/no-email",
                get(|h: HeaderMap| async move { answer(&h, r#"{"id":"u-2"}"#) }),
            )
            .route(
                "/empty",
                get(|h: HeaderMap| async move {
                    answer(
                        &h,
                        r#"{"data":{"name":"x","token":"at-profile-canary-7f3a"}}"#,
                    )
                }),
            )
            .route(
                "/denied",
                get(|| async {
                    (
                        StatusCode::FORBIDDEN,
                        "forbidden for at-profile-canary-7f3a",
                    )
                }),
            );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn token() -> AccessToken {
    AccessToken::bearer(TOKEN).expect("a token")
}

async fn fetch(endpoint: ProfileEndpoint) -> Result<Profile, auth_core::AuthError> {
    tokio::time::timeout(std::time::Duration::from_secs(10), endpoint.fetch(&token()))
        .await
        .expect("answered in time")
}

#[tokio::test]
async fn reads_the_id_and_email_at_nested_paths() {
    let addr = server().await;
    let endpoint = ProfileEndpoint::new(&format!("http://{addr}/nested"))
        .expect("ok")
        .id_path("data.user.id")
        .expect("ok")
        .email_path("data.user.email")
        .expect("ok");
    let profile = fetch(endpoint).await.expect("ok");
    assert_eq!(
        profile,
        Profile::new("42", Some("ada@example.test".to_owned()))
    );
    assert_eq!(profile.to_string(), "ada@example.test (42)");
}

#[tokio::test]
async fn defaults_to_top_level_id_and_email_and_allows_no_email() {
    let addr = server().await;
    let flat = ProfileEndpoint::new(&format!("http://{addr}/flat")).expect("ok");
    assert_eq!(
        fetch(flat).await.expect("ok"),
        Profile::new("u-1", Some("bob@example.test".to_owned()))
    );
    let bare = ProfileEndpoint::new(&format!("http://{addr}/no-email")).expect("ok");
    let profile = fetch(bare).await.expect("ok");
    assert_eq!(profile, Profile::new("u-2", None));
    assert_eq!(profile.to_string(), "u-2");
}

#[tokio::test]
async fn a_missing_id_names_its_path_and_never_the_token_or_body() {
    let addr = server().await;
    let url = format!("http://{addr}/empty");
    let endpoint = ProfileEndpoint::new(&url)
        .expect("ok")
        .id_path("data.user.id")
        .expect("ok");
    let error = fetch(endpoint).await.expect_err("an error");
    assert_eq!(error.kind(), ErrorKind::MalformedResponse);
    let shown = error.to_string();
    assert!(
        shown.contains(&format!(
            "profile: no `data.user.id` in the answer of {url}"
        )),
        "{shown}"
    );
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!format!("{error:?}").contains(TOKEN));
    assert!(
        !shown.contains("\"name\""),
        "the body is not quoted: {shown}"
    );
}

#[tokio::test]
async fn a_refusal_reports_its_status_with_the_token_cut_out() {
    let addr = server().await;
    let denied = ProfileEndpoint::new(&format!("http://{addr}/denied")).expect("ok");
    let error = fetch(denied).await.expect_err("an error");
    assert_eq!(error.kind(), ErrorKind::Forbidden);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(403));
    let shown = error.to_string();
    assert!(shown.contains("403"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!format!("{error:?}").contains(TOKEN));

    let other = AccessToken::bearer("at-someone-else").expect("ok");
    let flat = ProfileEndpoint::new(&format!("http://{addr}/flat")).expect("ok");
    let error = flat.fetch(&other).await.expect_err("an error");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert!(error.to_string().contains("401"), "{error}");
}

#[test]
fn bad_paths_name_their_key() {
    let endpoint = ProfileEndpoint::new("https://api.example.test/me").expect("ok");
    let error = endpoint.clone().id_path("data..id").expect_err("an error");
    assert!(error.to_string().contains("profile.id_path"), "{error}");
    let error = endpoint.email_path("").expect_err("an error");
    assert!(error.to_string().contains("profile.email_path"), "{error}");
    let error = ProfileEndpoint::new("not a url").expect_err("an error");
    assert!(error.to_string().contains("profile.url"), "{error}");
}

/// An HS256-shaped JWT over `claims` (the signature is not checked, so any bytes do).
fn jwt(claims: &serde_json::Value) -> SecretString {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = URL_SAFE_NO_PAD.encode(b"not-checked");
    SecretString::from(format!("{header}.{payload}.{signature}"))
}

#[test]
fn id_token_claims_give_sub_and_email() {
    let token = jwt(&serde_json::json!({"sub": "user-7", "email": "eve@example.test"}));
    assert_eq!(
        from_id_token(&token).expect("ok"),
        Profile::new("user-7", Some("eve@example.test".to_owned()))
    );
    let token = jwt(&serde_json::json!({"sub": "user-8"}));
    assert_eq!(
        from_id_token(&token).expect("ok"),
        Profile::new("user-8", None)
    );
}

#[test]
fn a_malformed_id_token_is_a_typed_error_without_the_token() {
    for bad in [
        SecretString::from("only.two"),
        SecretString::from("a.%%%.c"),
        jwt(&serde_json::json!({"email": "no-sub@example.test"})),
    ] {
        let error = from_id_token(&bad).expect_err("an error");
        assert_eq!(error.kind(), ErrorKind::MalformedResponse);
        let shown = error.to_string();
        let detail = error.detail().unwrap_or_default();
        assert!(detail.starts_with("profile: the id_token"), "{shown}");
        assert!(
            !shown.contains("%%%") && !shown.contains("only.two"),
            "{shown}"
        );
    }
}
