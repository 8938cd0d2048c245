//! `TokenLayer::query`: the token in the query instead of a header.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex, atomic::Ordering},
};

use auth_core::{AccessToken, AuthError, ErrorKind, StaticTokenSource};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use super::numbered_source;
use crate::TokenLayer;

/// An API that accepts the token only in the `access_token` query parameter and records URIs.
fn query_api(
    valid: &'static str,
    uris: Arc<Mutex<Vec<String>>>,
) -> impl Service<Request<Empty<Bytes>>, Response = Response<()>, Error = Infallible, Future: Send> + Clone
{
    service_fn(move |req: Request<Empty<Bytes>>| {
        let uris = uris.clone();
        async move {
            let uri = req.uri().to_string();
            let ok = uri.contains(&format!("access_token={valid}"))
                && req.headers().get("authorization").is_none();
            uris.lock().expect("lock").push(uri);
            let mut response = Response::new(());
            if !ok {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
            }
            Ok::<_, Infallible>(response)
        }
    })
}

#[tokio::test]
async fn query_placement_replaces_the_parameter_and_keeps_the_rest() {
    let (source, fetches) = numbered_source();
    let uris = Arc::new(Mutex::new(Vec::new()));
    let client = ServiceBuilder::new()
        .layer(TokenLayer::query("access_token", source).expect("valid"))
        .service(query_api("t2", uris.clone()));
    let request = Request::get("https://api.test/v1/items?page=2&access_token=stale&q=a%20b")
        .body(Empty::new())
        .expect("request");
    let response = client.oneshot(request).await.expect("response");
    // t1 is rejected, the retry carries t2 in the same place.
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let uris = uris.lock().expect("lock").clone();
    assert_eq!(
        uris,
        [
            "https://api.test/v1/items?page=2&q=a%20b&access_token=t1",
            "https://api.test/v1/items?page=2&q=a%20b&access_token=t2",
        ]
    );
}

#[tokio::test]
async fn query_placement_keep_existing_and_bad_input() {
    let source = StaticTokenSource::new(AccessToken::bearer("mine+/=").expect("token"));
    let uris = Arc::new(Mutex::new(Vec::new()));
    let layer = TokenLayer::query("access_token", source.clone()).expect("valid");
    let client = ServiceBuilder::new()
        .layer(layer.clone().keep_existing())
        .service(query_api("caller", uris.clone()));
    let request = Request::get("https://api.test/?access_token=caller")
        .body(Empty::new())
        .expect("request");
    assert_eq!(
        client.oneshot(request).await.expect("response").status(),
        StatusCode::OK
    );
    // The token is percent-encoded.
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(query_api("x", uris.clone()));
    let request = Request::get("https://api.test/")
        .body(Empty::new())
        .expect("request");
    client.oneshot(request).await.expect("response");
    assert!(uris.lock().expect("lock")[1].ends_with("?access_token=mine%2B%2F%3D"));
    // A URI that cannot take a query is a typed error, not a panic.
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(query_api("x", uris.clone()));
    let request = Request::builder()
        .method("OPTIONS")
        .uri("*")
        .body(Empty::new())
        .expect("request");
    let error = client.oneshot(request).await.expect_err("asterisk form");
    let error = error.downcast::<AuthError>().expect("AuthError");
    assert_eq!(error.kind(), ErrorKind::Request);
    assert!(!error.to_string().contains("mine"));
    for bad in ["", "a&b", "a=b", "a b", "a%20"] {
        let error = TokenLayer::query(bad, source.clone()).expect_err("bad name");
        assert_eq!(error.kind(), ErrorKind::Config, "{bad:?}");
    }
}
