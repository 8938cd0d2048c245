//! The fault matrix: one table of misbehaving token endpoints (in process, on 127.0.0.1), each
//! with the typed error (or the accepted token) the caller gets, plus the cache's behaviour
//! when a refresh fails (a still-valid token keeps being served; retries wait for the backoff).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use auth_core::{AccessToken, AuthError, CacheConfig, ErrorKind, TokenSource};
use auth_oauth::OAuth2Layer;
use auth_test_support::token_server::{Fault, TokenServer};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    time::Instant,
};

#[path = "fault_matrix/cases.rs"]
mod cases;

use cases::{CASES, Expect, Lifetime, MARGIN, SHORT, Setup};

/// A raw endpoint: `None` answer means accept, read and never answer. Counts connections.
async fn raw_endpoint(answer: Option<&'static [u8]>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                match answer {
                    Some(answer) => {
                        let _ = socket.write_all(answer).await;
                        let _ = socket.shutdown().await;
                    }
                    None => {
                        // Hold the connection open without answering.
                        std::future::pending::<()>().await;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/token"), hits)
}

fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}/token")
}

fn check_message(name: &str, error: &AuthError) {
    let text = error.to_string();
    assert!(!text.is_empty(), "{name}: empty message");
    assert!(
        !text.contains('\n') && !text.contains('\r'),
        "{name}: message is not one line: {text:?}"
    );
    assert!(text.contains("hint:"), "{name}: no hint: {text:?}");
}

fn check_token(name: &str, token: &AccessToken, lifetime: &Lifetime) {
    match lifetime {
        Lifetime::Unknown => assert!(
            token.expires_at().is_none(),
            "{name}: expected no expiry, got {:?}",
            token.expires_at().map(|at| at - token.issued_at())
        ),
        Lifetime::About(expected) => {
            let got = token.expires_at().expect("an expiry") - token.issued_at();
            assert!(
                got.abs_diff(*expected) <= Duration::from_secs(1),
                "{name}: lifetime {got:?}, expected {expected:?}"
            );
        }
        Lifetime::TokenType(expected) => {
            assert_eq!(token.token_type(), *expected, "{name}: token type");
        }
        Lifetime::Sent { token_type, header } => {
            assert_eq!(token.token_type(), *token_type, "{name}: token type");
            assert_eq!(token.header_value(), *header, "{name}: header value");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    for case in CASES {
        let name = case.name;
        // Keeps the server (if any) alive for the duration of the row.
        let mut _server = None;
        let url = match &case.setup {
            Setup::Refused => refused_url(),
            Setup::Silent => raw_endpoint(None).await.0,
            Setup::Raw(answer) => raw_endpoint(Some(answer)).await.0,
            Setup::Fault(fault) => {
                let server = TokenServer::builder().start().await;
                server.set_sticky_fault(Some(fault()));
                let url = server.token_url();
                _server = Some(server);
                url
            }
            Setup::Late(delay) => {
                let server = TokenServer::builder().start().await;
                server.set_delay(*delay);
                let url = server.token_url();
                _server = Some(server);
                url
            }
        };
        let mut builder = OAuth2Layer::client_credentials(url, "client-id", "client-secret")
            .timeout(case.timeout)
            .cache_config(CacheConfig::default().jitter(false));
        if let Some(prefix) = case.header_prefix {
            builder = builder.header_prefix(prefix);
        }
        let layer = builder
            .build()
            .unwrap_or_else(|e| panic!("{name}: layer: {e}"));
        let started = Instant::now();
        let outcome = tokio::time::timeout(case.timeout + MARGIN, layer.source().token())
            .await
            .unwrap_or_else(|_| panic!("{name}: hung beyond {:?}", case.timeout + MARGIN));
        let elapsed = started.elapsed();
        assert!(elapsed <= case.timeout + MARGIN, "{name}: took {elapsed:?}");
        match (&case.expect, outcome) {
            (Expect::Err(kind), Err(error)) => {
                assert_eq!(error.kind(), *kind, "{name}: wrong kind: {error}");
                check_message(name, &error);
            }
            (Expect::ErrSaying(kind, phrases), Err(error)) => {
                assert_eq!(error.kind(), *kind, "{name}: wrong kind: {error}");
                check_message(name, &error);
                let text = error.to_string();
                for phrase in *phrases {
                    assert!(text.contains(phrase), "{name}: no {phrase:?} in {text:?}");
                }
            }
            (Expect::Ok(lifetime), Ok(token)) => check_token(name, &token, lifetime),
            (Expect::Err(kind) | Expect::ErrSaying(kind, _), Ok(token)) => {
                panic!("{name}: expected {kind:?}, got a token {token:?}")
            }
            (Expect::Ok(_), Err(error)) => panic!("{name}: expected a token, got {error}"),
        }
    }
}

/// The faults of the cache-level checks: a server error and a timeout.
fn cache_faults() -> [(&'static str, Fault, ErrorKind); 2] {
    [
        (
            "500",
            Fault::json(500, json!({ "message": "down" })),
            ErrorKind::TokenEndpoint,
        ),
        ("timeout", Fault::Hang, ErrorKind::Timeout),
    ]
}

fn cached_layer(server: &TokenServer) -> OAuth2Layer<auth_oauth::ClientCredentials> {
    OAuth2Layer::client_credentials(server.token_url(), "client-id", "client-secret")
        .timeout(SHORT)
        .cache_config(CacheConfig::default().jitter(false))
        .build()
        .expect("layer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_valid_cached_token_is_served_when_a_refresh_fails() {
    for (name, fault, kind) in cache_faults() {
        let server = TokenServer::builder().expires_in(Some(40)).start().await;
        let layer = cached_layer(&server);
        let source = layer.source();
        let first = source.token().await.expect("a first token");
        assert_eq!(server.fetches(), 1, "{name}");

        server.set_sticky_fault(Some(fault));
        let refresh = tokio::time::timeout(SHORT + MARGIN, source.refresh_now())
            .await
            .unwrap_or_else(|_| panic!("{name}: refresh_now hung"));
        let error = refresh.expect_err("the refresh fails");
        assert_eq!(error.kind(), kind, "{name}: {error}");
        check_message(name, &error);
        assert_eq!(server.fetches(), 2, "{name}");

        for _ in 0..3 {
            let token = tokio::time::timeout(MARGIN, source.token())
                .await
                .unwrap_or_else(|_| panic!("{name}: token() hung"))
                .unwrap_or_else(|e| panic!("{name}: the cached token is not served: {e}"));
            assert!(token.same_as(&first), "{name}: not the cached token");
        }
        assert_eq!(server.fetches(), 2, "{name}: token() refetched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failure_the_next_attempt_waits_for_the_backoff() {
    for (name, fault, kind) in cache_faults() {
        let server = TokenServer::builder().start().await;
        server.set_sticky_fault(Some(fault));
        let layer = cached_layer(&server);
        let source = layer.source();

        let error = tokio::time::timeout(SHORT + MARGIN, source.token())
            .await
            .unwrap_or_else(|_| panic!("{name}: token() hung"))
            .expect_err("the first fetch fails");
        assert_eq!(error.kind(), kind, "{name}: {error}");
        assert_eq!(server.fetches(), 1, "{name}");

        // Immediately again: the recorded failure comes back, the endpoint is not asked.
        let started = Instant::now();
        let again = tokio::time::timeout(MARGIN, source.token())
            .await
            .unwrap_or_else(|_| panic!("{name}: token() hung"))
            .expect_err("still failing within the backoff");
        assert!(
            started.elapsed() < SHORT,
            "{name}: the second call waited for the endpoint"
        );
        assert_eq!(again.kind(), kind, "{name}: {again}");
        check_message(name, &again);
        assert_eq!(server.fetches(), 1, "{name}: refetched within the backoff");

        // After the backoff (1 s by default, no jitter) the next call asks the endpoint again
        // and, with the fault cleared, succeeds.
        server.set_sticky_fault(None);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        tokio::time::timeout(SHORT + MARGIN, source.token())
            .await
            .unwrap_or_else(|_| panic!("{name}: token() hung"))
            .unwrap_or_else(|e| panic!("{name}: no token after the backoff: {e}"));
        assert_eq!(
            server.fetches(),
            2,
            "{name}: no new attempt after the backoff"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_read_and_the_cache_waits_that_long() {
    let (url, hits) = raw_endpoint(Some(
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 3\r\ncontent-type: application/json\r\n\
         content-length: 2\r\nconnection: close\r\n\r\n{}",
    ))
    .await;
    let layer = OAuth2Layer::client_credentials(url, "client-id", "client-secret")
        .timeout(SHORT)
        .cache_config(CacheConfig::default().jitter(false))
        .build()
        .expect("layer");
    let source = layer.source();
    let error = tokio::time::timeout(SHORT + MARGIN, source.token())
        .await
        .expect("no hang")
        .expect_err("503");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)), "{error}");
    assert!(error.to_string().contains("retry after 3s"), "{error}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Past the cache's own 1 s backoff, but within the server's 3 s: still no new request.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = source.token().await.expect_err("still backing off");
    assert_eq!(again.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "asked again before Retry-After"
    );
    // After it, the endpoint is asked again.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let _ = tokio::time::timeout(SHORT + MARGIN, source.token())
        .await
        .expect("no hang");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "no new attempt after Retry-After"
    );
}
