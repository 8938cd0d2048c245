use std::time::Duration;

use auth_core::ErrorKind;
use axum::{Router, response::IntoResponse, routing::post};
use http::{Method, StatusCode};
use oauth2::{AsyncHttpClient, url::Url};

use super::*;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn post_to(url: &str) -> HttpRequest {
    Request::builder()
        .method(Method::POST)
        .uri(url)
        .body(b"grant_type=client_credentials".to_vec())
        .expect("valid request")
}

fn client() -> TokenHttpClient {
    TokenHttpClient::new().expect("default client")
}

#[tokio::test]
async fn sends_the_request_and_reads_the_body() {
    let base = serve(Router::new().route(
        "/token",
        post(|body: String| async move { format!("echo:{body}") }),
    ))
    .await;
    let response = client()
        .call(post_to(&format!("{base}/token")))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), b"echo:grant_type=client_credentials");
}

#[tokio::test]
async fn a_redirect_is_an_error_naming_the_location_host_and_is_not_followed() {
    let base = serve(Router::new().route(
        "/token",
        post(|| async {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, "https://evil.example.com/steal")],
            )
        }),
    ))
    .await;
    let err = client()
        .send(post_to(&format!("{base}/token")))
        .await
        .expect_err("redirect refused");
    assert_eq!(err.kind(), ErrorKind::TokenEndpoint);
    assert_eq!(err.status(), Some(StatusCode::TEMPORARY_REDIRECT));
    assert!(
        err.to_string().contains(
            "the token endpoint redirected to `evil.example.com`; requests to the \
             authorization server never follow redirects: set the token URL to the final address"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_a_malformed_response() {
    let base = serve(Router::new().route("/token", post(|| async { "x".repeat(10_000) }))).await;
    let err = client()
        .max_response_size(1000)
        .send(post_to(&format!("{base}/token")))
        .await
        .expect_err("too large");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    assert!(err.to_string().contains("1000-byte limit"), "{err}");
}

#[tokio::test]
async fn a_streamed_body_over_the_cap_is_cut_off_without_a_content_length() {
    let base = serve(Router::new().route(
        "/token",
        post(|| async {
            let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1000])));
            axum::body::Body::from_stream(futures_util::stream::iter(chunks)).into_response()
        }),
    ))
    .await;
    let err = client()
        .max_response_size(5000)
        .send(post_to(&format!("{base}/token")))
        .await
        .expect_err("too large");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let base = serve(Router::new().route(
        "/token",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late"
        }),
    ))
    .await;
    let err = client()
        .timeout(Duration::from_millis(200))
        .send(post_to(&format!("{base}/token")))
        .await
        .expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        err.to_string()
            .contains("the token endpoint `127.0.0.1` did not answer within 200ms"),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = client()
        .send(post_to(&format!("http://{addr}/token")))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    assert!(
        err.to_string()
            .contains("sending the request failed (token endpoint `127.0.0.1`)"),
        "{err}"
    );
}

#[tokio::test]
async fn plain_http_is_refused_unless_loopback_or_allowed() {
    let err = client()
        .send(post_to("http://auth.example.com/token"))
        .await
        .expect_err("insecure");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("allow_insecure_http"), "{err}");

    let url = Url::parse("http://auth.example.com/token").expect("url");
    assert!(
        client()
            .allow_insecure_http(true)
            .check_url(&url, "token_url")
            .is_ok()
    );
    let err = client()
        .check_url(&Url::parse("ftp://x/").expect("url"), "token_url")
        .expect_err("scheme");
    assert!(
        err.to_string()
            .contains("token_url: unsupported scheme `ftp`"),
        "{err}"
    );
}

#[test]
fn loopback_hosts_are_recognised() {
    for (url, loopback) in [
        ("http://127.0.0.1:8080/", true),
        ("http://127.3.2.1/", true),
        ("http://[::1]:9/", true),
        ("http://localhost/", true),
        ("http://LOCALHOST/", true),
        ("http://localhost.example.com/", false),
        ("http://10.0.0.1/", false),
        ("http://[::2]/", false),
    ] {
        assert_eq!(
            is_loopback(&Url::parse(url).expect("url")),
            loopback,
            "{url}"
        );
    }
}

#[cfg(feature = "rustls")]
#[tokio::test]
async fn https_goes_through_rustls() {
    // A plain-HTTP server behind an https:// URL: the TLS handshake fails, which shows the
    // default client speaks TLS for https (without the feature it would refuse the scheme).
    let base = serve(Router::new().route("/token", post(|| async { "plain" }))).await;
    let url = base.replace("http://", "https://");
    let err = client()
        .send(post_to(&format!("{url}/token")))
        .await
        .expect_err("no TLS on the other side");
    assert_eq!(err.kind(), ErrorKind::Transport);
    let text = err.to_string().to_lowercase();
    assert!(!text.contains("scheme"), "{text}");
}
