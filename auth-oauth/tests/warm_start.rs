//! `OAuth2LayerBuilder::build_and_fetch`: the first token is fetched before the layer is
//! handed out, so the first burst of requests does not wait for the token endpoint, and bad
//! credentials fail at startup with the fetch's typed error.

use std::{convert::Infallible, future::Future, pin::Pin, sync::Arc, time::Duration};

use auth_core::{ErrorKind, MemoryTokenStore, TokenSource};
use auth_oauth::OAuth2Layer;
use auth_test_support::token_server::TokenServer;
use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt, service_fn};

const ENDPOINT_DELAY: Duration = Duration::from_millis(200);
const BURST: usize = 64;

/// An API that answers at once (so a request future that is not ready on its first poll is
/// one that waited for its token): 200 with a bearer token, 401 without.
fn instant_api(
    request: Request<Full<Bytes>>,
) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let status = match request.headers().get(header::AUTHORIZATION) {
        Some(value) if value.as_bytes().starts_with(b"Bearer ") => StatusCode::OK,
        _ => StatusCode::UNAUTHORIZED,
    };
    let mut response = Response::new(Full::default());
    *response.status_mut() = status;
    std::future::ready(Ok(response))
}

#[tokio::test]
async fn a_burst_right_after_build_and_fetch_never_waits_for_the_token_endpoint() {
    let server = TokenServer::builder().start().await;
    server.set_delay(ENDPOINT_DELAY);
    let oauth = tokio::time::timeout(
        Duration::from_secs(10),
        OAuth2Layer::client_credentials(server.token_url(), "client-id", "client-secret")
            .build_and_fetch(),
    )
    .await
    .expect("bounded")
    .expect("first token at startup");
    assert_eq!(server.fetches(), 1, "fetched before returning");
    let api = ServiceBuilder::new()
        .layer(oauth)
        .service(service_fn(instant_api));
    let requests: Vec<Pending> = (0..BURST)
        .map(|_| {
            let request = Request::get("http://api.test/")
                .body(Full::default())
                .expect("request");
            Box::pin(api.clone().oneshot(request)) as _
        })
        .collect();
    let (waited, responses) = count_waiters(requests).await;
    assert!(
        responses.iter().all(|r| r.status() == StatusCode::OK),
        "every request sent with a token"
    );
    assert_eq!(
        waited, 0,
        "no request of the burst waited for the token endpoint"
    );
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn the_same_burst_after_build_waits_for_one_fetch() {
    // The control: without the eager start, every request of the burst waits.
    let server = TokenServer::builder().start().await;
    server.set_delay(ENDPOINT_DELAY);
    let oauth = OAuth2Layer::client_credentials(server.token_url(), "client-id", "client-secret")
        .build()
        .expect("layer");
    let api = ServiceBuilder::new()
        .layer(oauth)
        .service(service_fn(instant_api));
    let requests: Vec<Pending> = (0..BURST)
        .map(|_| {
            let request = Request::get("http://api.test/")
                .body(Full::default())
                .expect("request");
            Box::pin(api.clone().oneshot(request)) as _
        })
        .collect();
    let (waited, responses) = count_waiters(requests).await;
    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(waited, BURST, "every request waited for the one fetch");
    assert_eq!(server.fetches(), 1);
}

type Pending = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, tower::BoxError>> + Send>>;

/// Polls each request once, counting those that could not complete without waiting (they
/// waited for a token fetch in flight), then drives them all to completion.
async fn count_waiters(requests: Vec<Pending>) -> (usize, Vec<Response<Full<Bytes>>>) {
    let mut responses = Vec::new();
    let mut waiting = Vec::new();
    for mut request in requests {
        match (&mut request).now_or_never() {
            Some(response) => responses.push(response.expect("response")),
            None => waiting.push(request),
        }
    }
    let waited = waiting.len();
    for request in waiting {
        let response = tokio::time::timeout(Duration::from_secs(10), request)
            .await
            .expect("bounded")
            .expect("response");
        responses.push(response);
    }
    (waited, responses)
}

#[tokio::test]
async fn bad_credentials_fail_at_startup_with_the_typed_error() {
    let server = TokenServer::builder().start().await;
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        OAuth2Layer::client_credentials(server.token_url(), "client-id", "wrong-secret")
            .build_and_fetch(),
    )
    .await
    .expect("bounded")
    .expect_err("wrong secret");
    assert_eq!(error.kind(), ErrorKind::InvalidClient, "{error}");
    assert!(!error.to_string().contains("wrong-secret"), "{error}");
}

#[tokio::test]
async fn tokens_say_which_grant_obtained_them() {
    let server = TokenServer::builder().start().await;
    let oauth = OAuth2Layer::client_credentials(server.token_url(), "client-id", "client-secret")
        .build_and_fetch()
        .await
        .expect("layer");
    let token = oauth.source().current().expect("cached");
    assert_eq!(token.grant_type(), Some("client_credentials"));
    assert!(!token.from_refresh_token());
    let refresh = OAuth2Layer::refresh_token(
        server.token_url(),
        "client-id",
        Arc::new(MemoryTokenStore::new()),
        "user",
    )
    .client_secret("client-secret")
    .initial_refresh_token(server.issue_refresh_token())
    .refresh_before(Duration::from_secs(10))
    .build_and_fetch()
    .await
    .expect("layer");
    let token = refresh.source().current().expect("cached");
    assert_eq!(token.grant_type(), Some("refresh_token"));
    assert!(token.from_refresh_token());
}
