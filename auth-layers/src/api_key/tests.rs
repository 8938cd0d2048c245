//! Tests of the API-key layer: placement, query rewriting, encoding, bad input.

use std::convert::Infallible;

use auth_core::ErrorKind;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::*;
use crate::{BoxError, Origin};

/// What the inner service received.
#[derive(Debug)]
struct Received {
    uri: Uri,
    headers: HeaderMap,
}

async fn send(layer: AddCredentialLayer, req: Request<()>) -> Result<Received, BoxError> {
    let svc =
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|req: Request<()>| async move {
                let received = Received {
                    uri: req.uri().clone(),
                    headers: req.headers().clone(),
                };
                Ok::<_, Infallible>(Response::new(received))
            }));
    Ok(svc.oneshot(req).await?.into_body())
}

async fn uri_after(layer: &AddCredentialLayer, uri: &str) -> String {
    let req = Request::get(uri).body(()).expect("valid request");
    let received = send(layer.clone(), req).await.expect("key added");
    assert!(received.headers.is_empty());
    received.uri.to_string()
}

fn query_layer(key: &str) -> AddCredentialLayer {
    ApiKeyLayer::query("api_key", key).build().expect("valid")
}

#[tokio::test]
async fn header_mode_sends_the_key_sensitive_with_an_optional_prefix() {
    let layer = ApiKeyLayer::header("X-Api-Key", "k3y")
        .build()
        .expect("valid");
    let received = send(layer, Request::new(())).await.expect("ok");
    assert_eq!(received.headers["x-api-key"], "k3y");
    assert!(received.headers["x-api-key"].is_sensitive());
    assert_eq!(received.uri, "/");

    let layer = ApiKeyLayer::header("Authorization", "k3y")
        .prefix("Api-Key")
        .build()
        .expect("valid");
    let received = send(layer, Request::new(())).await.expect("ok");
    assert_eq!(received.headers["authorization"], "Api-Key k3y");
}

#[tokio::test]
async fn header_mode_replaces_unless_keep_existing() {
    let req = || {
        Request::builder()
            .header("x-api-key", "old")
            .body(())
            .expect("valid request")
    };
    let layer = ApiKeyLayer::header("X-Api-Key", "new")
        .build()
        .expect("valid");
    let received = send(layer, req()).await.expect("ok");
    assert_eq!(received.headers.get_all("x-api-key").iter().count(), 1);
    assert_eq!(received.headers["x-api-key"], "new");

    let layer = ApiKeyLayer::header("X-Api-Key", "new")
        .build()
        .expect("valid")
        .keep_existing();
    let received = send(layer, req()).await.expect("ok");
    assert_eq!(received.headers["x-api-key"], "old");
}

#[tokio::test]
async fn query_mode_appends_to_a_uri_without_query_or_with_an_empty_one() {
    let layer = query_layer("k3y");
    assert_eq!(uri_after(&layer, "/p").await, "/p?api_key=k3y");
    assert_eq!(uri_after(&layer, "/p?").await, "/p?api_key=k3y");
    assert_eq!(uri_after(&layer, "/").await, "/?api_key=k3y");
}

#[tokio::test]
async fn query_mode_replaces_every_same_name_param_and_keeps_the_others_byte_for_byte() {
    let layer = query_layer("new");
    assert_eq!(
        uri_after(&layer, "/p?a=1&api_key=old&b=2").await,
        "/p?a=1&b=2&api_key=new"
    );
    // Percent-encoded spellings of the name, a bare name and a repeated one are all ours.
    assert_eq!(
        uri_after(
            &layer,
            "/p?api%5Fkey=x&%61pi_key=y&api%5fkey=z&api_key&api_key=w"
        )
        .await,
        "/p?api_key=new"
    );
    // Other names stay, including near misses, with their encoding untouched.
    assert_eq!(
        uri_after(&layer, "/p?q=a%20b+c&API_KEY=1&api_key2=2&x=%2F&flag&&").await,
        "/p?q=a%20b+c&API_KEY=1&api_key2=2&x=%2F&flag&api_key=new"
    );
}

#[tokio::test]
async fn query_mode_percent_encodes_the_key_and_a_non_ascii_name() {
    let layer = query_layer("a+b&c=d e/é");
    assert_eq!(
        uri_after(&layer, "/p").await,
        "/p?api_key=a%2Bb%26c%3Dd%20e%2F%C3%A9"
    );
    let layer = ApiKeyLayer::query("clé", "k").build().expect("valid");
    assert_eq!(uri_after(&layer, "/p?cl%C3%A9=old").await, "/p?cl%C3%A9=k");
    let layer = ApiKeyLayer::query("key", "k")
        .prefix("Token")
        .build()
        .expect("valid");
    assert_eq!(uri_after(&layer, "/p").await, "/p?key=Token%20k");
}

#[tokio::test]
async fn query_mode_keeps_scheme_authority_and_path_of_an_absolute_uri() {
    let layer = query_layer("k");
    assert_eq!(
        uri_after(&layer, "https://api.example.com:8443/v1/a%20b/c?x=1").await,
        "https://api.example.com:8443/v1/a%20b/c?x=1&api_key=k"
    );
    assert_eq!(
        uri_after(&layer, "http://api.example.com").await,
        "http://api.example.com/?api_key=k"
    );
}

#[tokio::test]
async fn query_mode_keep_existing_leaves_a_request_that_has_the_param() {
    let layer = ApiKeyLayer::query("api_key", "new")
        .build()
        .expect("valid")
        .keep_existing();
    assert_eq!(
        uri_after(&layer, "/p?api%5Fkey=mine&a=1").await,
        "/p?api%5Fkey=mine&a=1"
    );
    assert_eq!(uri_after(&layer, "/p?a=1").await, "/p?a=1&api_key=new");
}

#[tokio::test]
async fn a_uri_that_cannot_take_a_query_is_a_request_error_not_a_panic() {
    for (method, uri) in [
        (Method::CONNECT, "api.example.com:443"),
        (Method::OPTIONS, "*"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .expect("valid request");
        let error = send(query_layer("s3cret"), req)
            .await
            .expect_err("no query possible");
        let error = error.downcast::<AuthError>().expect("an AuthError");
        assert_eq!(error.kind(), ErrorKind::Request, "{uri}");
        assert!(error.to_string().contains("`api_key`"), "{error}");
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}

#[tokio::test]
async fn inner_errors_are_boxed() {
    let svc = ServiceBuilder::new()
        .layer(query_layer("k"))
        .service(service_fn(|_req: Request<()>| async {
            Err::<Response<()>, _>(std::io::Error::other("connection refused"))
        }));
    let error = svc
        .oneshot(Request::new(()))
        .await
        .expect_err("inner error");
    assert!(error.downcast_ref::<std::io::Error>().is_some());
}

#[test]
fn bad_inputs_are_config_errors_naming_the_problem_without_the_secret() {
    let bad_names = [
        "", "a&b", "a=b", "a#b", "a b", "a\tb", "a\u{1}b", "a+b", "a%5Fb",
    ];
    for name in bad_names {
        let error = ApiKeyLayer::query(name, "s3cret").build().expect_err(name);
        assert_eq!(error.kind(), ErrorKind::Config, "{name:?}");
        let text = error.to_string();
        assert!(text.contains("query parameter name"), "{text}");
        assert!(
            text.contains(&format!("`{}`", name.escape_debug())),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }
    let others = [
        ApiKeyLayer::query("api_key", "").build(),
        ApiKeyLayer::query("api_key", "  ").build(),
        ApiKeyLayer::header("X-Api-Key", "").build(),
        ApiKeyLayer::header("X Api Key", "s3cret").build(),
        ApiKeyLayer::header("X-Api-Key", "s3cret\nInjected: 1").build(),
    ];
    for (i, result) in others.into_iter().enumerate() {
        let error = result.expect_err("bad input");
        assert_eq!(error.kind(), ErrorKind::Config, "case {i}");
        assert!(!error.to_string().contains("s3cret"), "case {i}: {error}");
    }
}

#[test]
fn debug_shows_the_placement_but_never_the_key() {
    let layer = ApiKeyLayer::query("api_key", "s3cret")
        .build()
        .expect("valid");
    let text = format!("{layer:?}");
    assert!(
        text.contains("api_key") && !text.contains("s3cret"),
        "{text}"
    );
    let layer = ApiKeyLayer::header("X-Api-Key", "s3cret")
        .build()
        .expect("valid");
    let text = format!("{layer:?}");
    assert!(
        text.contains("X-Api-Key") && !text.contains("s3cret"),
        "{text}"
    );
    let text = format!("{:?}", ApiKeyLayer::query("api_key", "s3cret"));
    assert!(!text.contains("s3cret"), "{text}");
}

async fn rejected_with(layer: AddCredentialLayer, req: Request<()>) -> AuthError {
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|_req: Request<()>| async {
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Ok::<_, Infallible>(response)
        }));
    let response = svc.oneshot(req).await.expect("a response");
    response
        .extensions()
        .get::<AuthError>()
        .expect("401 carries an AuthError")
        .clone()
}

#[tokio::test]
async fn a_401_says_where_the_key_was_sent() {
    let error = rejected_with(query_layer("s3cret"), Request::new(())).await;
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        error.detail(),
        Some("the request carried an API key in the query parameter `api_key`")
    );
    assert!(!error.to_string().contains("s3cret"));

    let layer = ApiKeyLayer::header("X-Api-Key", "s3cret")
        .prefix("Token")
        .build()
        .expect("valid");
    let error = rejected_with(layer, Request::new(())).await;
    assert_eq!(
        error.detail(),
        Some("the request carried an API key in the `X-Api-Key` header with prefix `Token`")
    );

    let layer = ApiKeyLayer::query("api_key", "s3cret")
        .build()
        .expect("valid")
        .keep_existing();
    let req = Request::get("/p?api_key=mine")
        .body(())
        .expect("valid request");
    let error = rejected_with(layer, req).await;
    assert!(
        error
            .detail()
            .expect("detail")
            .contains("already carried a query parameter")
    );
}

fn api_origin() -> Origin {
    Origin::parse("https://api.example.com").expect("origin")
}

#[tokio::test]
async fn a_restricted_query_key_goes_to_its_origin_only() {
    let layer = ApiKeyLayer::query("api_key", "k3y")
        .build()
        .expect("valid")
        .restrict_to_origin(api_origin());
    assert_eq!(
        uri_after(&layer, "https://api.example.com/v1?a=1").await,
        "https://api.example.com/v1?a=1&api_key=k3y"
    );
    for other in [
        "https://cdn.example.com/v1?a=1",
        "http://api.example.com/v1?a=1",
        "https://api.example.com:8443/v1?a=1",
        "/v1?a=1",
    ] {
        assert_eq!(uri_after(&layer, other).await, other, "untouched");
    }
}

#[tokio::test]
async fn a_restricted_header_key_goes_to_its_origin_only() {
    let layer = ApiKeyLayer::header("X-Api-Key", "k3y")
        .build()
        .expect("valid")
        .restrict_to_origins([api_origin(), api_origin()]);
    let get = |uri: &str| Request::get(uri).body(()).expect("valid request");
    let received = send(layer.clone(), get("https://api.example.com/"))
        .await
        .expect("sent");
    assert_eq!(received.headers["x-api-key"], "k3y");
    let received = send(layer.clone(), get("https://other.example/"))
        .await
        .expect("sent");
    assert!(received.headers.is_empty());
    assert!(format!("{layer:?}").contains("[https://api.example.com]"));
}

#[tokio::test]
async fn another_origin_gets_no_error_on_401_and_no_uri_error() {
    let layer = ApiKeyLayer::query("api_key", "s3cret")
        .build()
        .expect("valid")
        .restrict_to_origin(api_origin());
    let svc = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|_req: Request<()>| async {
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Ok::<_, Infallible>(response)
        }));
    let req = Request::get("https://other.example/")
        .body(())
        .expect("valid");
    let response = svc.oneshot(req).await.expect("passed through");
    assert!(response.extensions().get::<AuthError>().is_none());
    // Authority form cannot match an origin, so it passes through instead of failing.
    let req = Request::builder()
        .method(Method::CONNECT)
        .uri("api.example.com:443")
        .body(())
        .expect("valid request");
    let received = send(layer, req).await.expect("passed through");
    assert_eq!(received.uri, "api.example.com:443");
}
