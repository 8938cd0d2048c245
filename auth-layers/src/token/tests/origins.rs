//! A layer restricted to origins fetches and sends tokens for those origins only.

use std::sync::atomic::Ordering;

use auth_core::{AccessToken, AuthError, StaticTokenSource};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use tower::{ServiceBuilder, ServiceExt};

use super::{Api, numbered_source};
use crate::TokenLayer;

#[tokio::test]
async fn a_restricted_layer_fetches_and_sends_tokens_for_its_origins_only() {
    let (source, fetches) = numbered_source();
    let api = Api::new("t1");
    let origin = crate::Origin::parse("https://api.example.com").expect("origin");
    let client = ServiceBuilder::new()
        .layer(TokenLayer::new(source).restrict_to_origin(origin))
        .service(api.service::<Empty<Bytes>>());
    let get = |uri: &str| Request::get(uri).body(Empty::new()).expect("request");

    // Another origin, and a relative URI: sent without a token, nothing fetched, the 401
    // returned as it is (no retry, no AuthError).
    for other in ["https://evil.example/v1", "/v1"] {
        let response = client.clone().oneshot(get(other)).await.expect("response");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{other}");
        assert!(
            response.extensions().get::<AuthError>().is_none(),
            "{other}"
        );
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 0);
    assert_eq!(api.calls(), 2, "no retries");

    let response = client
        .oneshot(get("https://API.example.com:443/v1"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn debug_of_a_restricted_layer_shows_its_origins() {
    let source = StaticTokenSource::new(AccessToken::bearer("s3cret").expect("token"));
    let layer = TokenLayer::new(source)
        .restrict_to_origins([crate::Origin::parse("http://127.0.0.1:9").expect("origin")])
        .retry_on_401(false);
    let text = format!("{layer:?}");
    assert!(text.contains("http://127.0.0.1:9"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}
