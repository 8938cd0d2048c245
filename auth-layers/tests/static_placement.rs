//! The static-credential layers in front of a real hyper-util client, against an in-process API
//! that checks where the credential arrives: the server must see exactly the expected placement
//! (and nothing in the other place), and a wrong credential must surface as a 401 carrying an
//! `AuthError` that says what was sent.

use std::fmt::Debug;

use auth_core::{AuthError, ErrorKind};
use auth_layers::{ApiKeyLayer, BasicAuthLayer, BearerLayer};
use auth_test_support::{ApiServer, Expectation, RecordedRequest, client};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri, header::HOST};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Sends `GET uri` through `layer` on top of a real client.
async fn send<L>(layer: L, uri: Uri) -> Response<Incoming>
where
    L: Layer<HttpClient>,
    L::Service: Service<Request<Full<Bytes>>, Response = Response<Incoming>>,
    <L::Service as Service<Request<Full<Bytes>>>>::Error: Debug,
{
    let request = Request::get(uri)
        .body(Full::default())
        .expect("valid request");
    ServiceBuilder::new()
        .layer(layer)
        .service(client())
        .oneshot(request)
        .await
        .expect("the server answers")
}

/// The only request the server got.
fn only_request(server: &ApiServer) -> RecordedRequest {
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.into_iter().next().expect("one request")
}

/// The request carried `host` and the credential header `name` (once, as `value`), nothing else,
/// and its query is exactly what the caller wrote.
fn assert_header_placement(seen: &RecordedRequest, name: &str, value: &str, query: &str) {
    assert_eq!(seen.header_values(name), [value]);
    let names: Vec<&str> = seen.headers.keys().map(|n| n.as_str()).collect();
    assert_eq!(names.len(), 2, "only host and {name}: {names:?}");
    assert!(seen.headers.contains_key(HOST));
    assert_eq!(seen.query.as_deref(), Some(query), "the query is untouched");
}

/// The 401 carries an `AuthError` of kind `Unauthorized` whose message says where the
/// credential was sent.
fn assert_rejected(response: &Response<Incoming>, placement: &str, secret: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let error = response
        .extensions()
        .get::<AuthError>()
        .expect("the 401 carries an AuthError");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    let challenge = error.challenge().expect("the challenge is parsed");
    assert_eq!(challenge.error.as_deref(), Some("invalid_token"));
    let text = error.to_string();
    assert!(text.contains(placement), "{text}");
    assert!(!text.contains(secret), "{text}");
    // The kind's own hint is the placement checklist (header vs query, name, prefix).
    assert!(error.kind().hint().contains("header vs query parameter"));
}

fn assert_accepted(response: &Response<Incoming>) {
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.extensions().get::<AuthError>().is_none());
}

#[tokio::test]
async fn bearer_default_goes_in_the_authorization_header() {
    let server = ApiServer::start(Expectation::header("Authorization", "Bearer tok-1")).await;
    let layer = BearerLayer::new("tok-1").expect("valid");
    let response = send(layer, server.url("/v1/items?page=2")).await;
    assert_accepted(&response);
    let seen = only_request(&server);
    assert_eq!(seen.path, "/v1/items");
    assert_header_placement(&seen, "authorization", "Bearer tok-1", "page=2");

    let wrong = BearerLayer::new("wrong-1").expect("valid");
    let response = send(wrong, server.url("/v1/items")).await;
    assert_rejected(
        &response,
        "a bearer token in the `Authorization` header with prefix `Bearer`",
        "wrong-1",
    );
}

#[tokio::test]
async fn bearer_custom_header_and_prefix() {
    let server = ApiServer::start(Expectation::header("X-Auth-Token", "Token tok-2")).await;
    let layer = BearerLayer::builder("tok-2")
        .header_name("X-Auth-Token")
        .prefix("Token")
        .build()
        .expect("valid");
    let response = send(layer, server.url("/v1/items?page=2")).await;
    assert_accepted(&response);
    assert_header_placement(
        &only_request(&server),
        "x-auth-token",
        "Token tok-2",
        "page=2",
    );

    // The default placement is the wrong one for this server.
    let response = send(BearerLayer::new("tok-2").expect("valid"), server.url("/")).await;
    assert_rejected(
        &response,
        "the `Authorization` header with prefix `Bearer`",
        "tok-2",
    );
}

#[tokio::test]
async fn bearer_empty_prefix_sends_the_bare_token() {
    let server = ApiServer::start(Expectation::header("Authorization", "tok-3")).await;
    let layer = BearerLayer::builder("tok-3")
        .prefix("")
        .build()
        .expect("valid");
    let response = send(layer, server.url("/v1/items?page=2")).await;
    assert_accepted(&response);
    assert_header_placement(&only_request(&server), "authorization", "tok-3", "page=2");

    let wrong = BearerLayer::builder("wrong-3")
        .prefix("")
        .build()
        .expect("valid");
    let response = send(wrong, server.url("/")).await;
    assert_rejected(&response, "with no prefix", "wrong-3");
}

#[tokio::test]
async fn api_key_in_a_header() {
    let server = ApiServer::start(Expectation::header("X-Api-Key", "key-4")).await;
    let layer = ApiKeyLayer::header("X-Api-Key", "key-4")
        .build()
        .expect("valid");
    let response = send(layer, server.url("/v1/items?page=2")).await;
    assert_accepted(&response);
    let seen = only_request(&server);
    assert_header_placement(&seen, "x-api-key", "key-4", "page=2");
    assert!(seen.query_values("X-Api-Key").is_empty());

    let wrong = ApiKeyLayer::header("X-Api-Key", "wrong-4")
        .build()
        .expect("valid");
    let response = send(wrong, server.url("/")).await;
    assert_rejected(&response, "an API key in the `X-Api-Key` header", "wrong-4");
}

#[tokio::test]
async fn api_key_in_a_header_with_a_prefix() {
    let server = ApiServer::start(Expectation::header("Authorization", "Api-Key key-5")).await;
    let layer = ApiKeyLayer::header("Authorization", "key-5")
        .prefix("Api-Key")
        .build()
        .expect("valid");
    let response = send(layer, server.url("/v1/items?page=2")).await;
    assert_accepted(&response);
    assert_header_placement(
        &only_request(&server),
        "authorization",
        "Api-Key key-5",
        "page=2",
    );

    let unprefixed = ApiKeyLayer::header("Authorization", "key-5")
        .build()
        .expect("valid");
    let response = send(unprefixed, server.url("/")).await;
    assert_rejected(
        &response,
        "an API key in the `Authorization` header",
        "key-5",
    );
}

#[tokio::test]
async fn api_key_in_the_query_replaces_an_existing_param_and_is_percent_encoded() {
    let key = "k+y &=/é-6";
    let server = ApiServer::start(Expectation::query("api_key", key)).await;
    let layer = ApiKeyLayer::query("api_key", key).build().expect("valid");
    let response = send(
        layer,
        server.url("/v1/items?api_key=stale&page=2&q=a%20b+c&api%5Fkey=older"),
    )
    .await;
    assert_accepted(&response);
    let seen = only_request(&server);
    assert_eq!(seen.path, "/v1/items");
    assert_eq!(
        seen.query.as_deref(),
        Some("page=2&q=a%20b+c&api_key=k%2By%20%26%3D%2F%C3%A9-6")
    );
    assert_eq!(seen.query_values("api_key"), [key]);
    // Nothing in a header.
    let names: Vec<&str> = seen.headers.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["host"]);

    let wrong = ApiKeyLayer::query("api_key", "wrong-6")
        .build()
        .expect("valid");
    let response = send(wrong, server.url("/v1/items")).await;
    assert_rejected(
        &response,
        "an API key in the query parameter `api_key`",
        "wrong-6",
    );
}

#[tokio::test]
async fn api_key_in_a_header_when_the_server_wants_the_query_is_a_401_saying_so() {
    let server = ApiServer::start(Expectation::query("api_key", "key-7")).await;
    let layer = ApiKeyLayer::header("api_key", "key-7")
        .build()
        .expect("valid");
    let response = send(layer, server.url("/v1/items")).await;
    assert_rejected(&response, "an API key in the `api_key` header", "key-7");
    let seen = only_request(&server);
    assert_eq!(seen.query, None);
    assert_eq!(seen.header_values("api_key"), ["key-7"]);
}

#[tokio::test]
async fn basic_with_non_ascii_and_a_colon_in_the_password() {
    let expected = format!("Basic {}", STANDARD.encode("Zoë:pä:ss:wörd"));
    let server = ApiServer::start(Expectation::header("Authorization", expected.clone())).await;
    let layer = BasicAuthLayer::new("Zoë", "pä:ss:wörd").expect("valid");
    let response = send(layer, server.url("/v1/items?page=2")).await;
    assert_accepted(&response);
    assert_header_placement(&only_request(&server), "authorization", &expected, "page=2");

    let wrong = BasicAuthLayer::new("Zoë", "wrong-8").expect("valid");
    let response = send(wrong, server.url("/")).await;
    assert_rejected(
        &response,
        "HTTP Basic credentials in the `Authorization` header",
        "wrong-8",
    );
}

#[tokio::test]
async fn fail_next_401s_carry_the_error_even_with_the_right_credential() {
    let server = ApiServer::start(Expectation::header("Authorization", "Bearer tok-9")).await;
    server.fail_next(1);
    let layer = BearerLayer::new("tok-9").expect("valid");
    let response = send(layer.clone(), server.url("/")).await;
    assert_rejected(&response, "`Authorization` header", "tok-9");
    assert_accepted(&send(layer, server.url("/")).await);
    assert_eq!(server.request_count(), 2);
}
