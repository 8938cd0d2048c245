//! Credentials never follow a redirect to another origin.
//!
//! The stack is tower-http's `FollowRedirect` *outside* the auth layer, over a real hyper-util
//! client. The first origin answers every request with a 302 to a second origin (another port of
//! 127.0.0.1, so another origin). A layer restricted to the first origin sends its credential
//! there and never to the second; the same layer unrestricted does leak it to the second, which
//! shows that each test can fail.

use std::fmt::Debug;

use auth_core::{AccessToken, AuthError, StaticTokenSource};
use auth_layers::{
    AddCredentialLayer, ApiKeyLayer, BasicAuthLayer, BearerLayer, Origin, TokenLayer,
};
use auth_test_support::{
    ApiServer, Expectation, RecordedRequest, client, redirect::RedirectServer,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_http::follow_redirect::FollowRedirectLayer;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The first origin redirects everything to `/landing?from=first` on the second, an API that
/// answers 200 only when the credential arrives.
struct Origins {
    first: RedirectServer,
    second: ApiServer,
}

impl Origins {
    async fn start(expect: Expectation) -> Self {
        let second = ApiServer::start(expect).await;
        let first = RedirectServer::start(second.url("/landing?from=first").to_string()).await;
        Self { first, second }
    }

    fn first_origin(&self) -> Origin {
        Origin::parse(&self.first.base_url()).expect("the first server's origin")
    }

    /// `GET <first>/start` through `FollowRedirect` → `layer` → client: the final response.
    async fn follow<L>(&self, layer: L) -> Response<Incoming>
    where
        L: Layer<HttpClient>,
        L::Service: Service<Request<Full<Bytes>>, Response = Response<Incoming>> + Clone,
        <L::Service as Service<Request<Full<Bytes>>>>::Error: Debug,
    {
        let request = Request::get(self.first.url("/start"))
            .body(Full::default())
            .expect("valid request");
        ServiceBuilder::new()
            .layer(FollowRedirectLayer::new())
            .layer(layer)
            .service(client())
            .oneshot(request)
            .await
            .expect("both servers answer")
    }
}

/// Whether any of `needles` appears anywhere in the request: a header value, the raw query or
/// a decoded query value.
fn carries_any(seen: &RecordedRequest, needles: &[String]) -> bool {
    needles.iter().any(|needle| {
        seen.headers
            .values()
            .any(|v| String::from_utf8_lossy(v.as_bytes()).contains(needle.as_str()))
            || seen
                .query
                .as_deref()
                .is_some_and(|q| q.contains(needle.as_str()))
            || seen
                .query_pairs()
                .iter()
                .any(|(_, v)| v.contains(needle.as_str()))
    })
}

fn only(requests: Vec<RecordedRequest>) -> RecordedRequest {
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.into_iter().next().expect("one request")
}

/// Runs the redirect once with `layer(Some(first origin))` and once with `layer(None)`.
/// `secrets` are every form the credential can take on the wire.
async fn check<L>(expect: Expectation, secrets: &[String], layer: impl Fn(Option<Origin>) -> L)
where
    L: Layer<HttpClient>,
    L::Service: Service<Request<Full<Bytes>>, Response = Response<Incoming>> + Clone,
    <L::Service as Service<Request<Full<Bytes>>>>::Error: Debug,
{
    let origins = Origins::start(expect.clone()).await;
    let response = origins.follow(layer(Some(origins.first_origin()))).await;
    let first = only(origins.first.requests());
    assert!(carries_any(&first, secrets), "the first origin gets it");
    let second = only(origins.second.requests());
    assert_eq!(second.path, "/landing", "the redirect was followed");
    assert!(
        !carries_any(&second, secrets),
        "the second origin must not see the credential: {second:?}"
    );
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.extensions().get::<AuthError>().is_none(),
        "another origin's 401 is not the layer's to explain"
    );

    let origins = Origins::start(expect).await;
    let response = origins.follow(layer(None)).await;
    let second = only(origins.second.requests());
    assert!(
        carries_any(&second, secrets),
        "unrestricted, the same stack leaks the credential: {second:?}"
    );
    assert_eq!(response.status(), StatusCode::OK);
}

/// `layer`, restricted to `origin` if there is one.
fn restricted(layer: AddCredentialLayer, origin: Option<Origin>) -> AddCredentialLayer {
    match origin {
        Some(origin) => layer.restrict_to_origin(origin),
        None => layer,
    }
}

#[tokio::test]
async fn a_bearer_token_never_follows_a_redirect_to_another_origin() {
    let token = "bearer-canary-5d1f";
    let expect = Expectation::header("Authorization", format!("Bearer {token}"));
    check(expect, &[token.to_owned()], |origin| {
        restricted(BearerLayer::new(token).expect("valid"), origin)
    })
    .await;
}

#[tokio::test]
async fn an_api_key_in_the_query_never_follows_a_redirect_to_another_origin() {
    let key = "query-canary-9b2e";
    check(
        Expectation::query("api_key", key),
        &[key.to_owned()],
        |origin| {
            restricted(
                ApiKeyLayer::query("api_key", key).build().expect("valid"),
                origin,
            )
        },
    )
    .await;
}

#[tokio::test]
async fn an_api_key_header_never_follows_a_redirect_to_another_origin() {
    // tower-http drops `Authorization` on a cross-origin redirect, but not a custom header.
    let key = "header-canary-3c7a";
    check(
        Expectation::header("X-Api-Key", key),
        &[key.to_owned()],
        |origin| {
            restricted(
                ApiKeyLayer::header("X-Api-Key", key)
                    .build()
                    .expect("valid"),
                origin,
            )
        },
    )
    .await;
}

#[tokio::test]
async fn basic_credentials_never_follow_a_redirect_to_another_origin() {
    let (user, password) = ("alice", "basic-canary-0e8d");
    let encoded = STANDARD.encode(format!("{user}:{password}"));
    let expect = Expectation::header("Authorization", format!("Basic {encoded}"));
    check(expect, &[password.to_owned(), encoded], |origin| {
        restricted(BasicAuthLayer::new(user, password).expect("valid"), origin)
    })
    .await;
}

#[tokio::test]
async fn a_token_layer_token_never_follows_a_redirect_to_another_origin() {
    let token = "token-canary-71aa";
    let expect = Expectation::header("Authorization", format!("Bearer {token}"));
    check(expect, &[token.to_owned()], |origin| {
        let source = StaticTokenSource::new(AccessToken::bearer(token).expect("token"));
        let layer = TokenLayer::new(source);
        match origin {
            Some(origin) => layer.restrict_to_origin(origin),
            None => layer,
        }
    })
    .await;
}
