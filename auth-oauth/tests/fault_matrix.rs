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

/// The endpoint deadline of the rows about timeouts.
const SHORT: Duration = Duration::from_millis(300);
/// The endpoint deadline of the other rows: generous, so a loaded machine does not flake.
const NORMAL: Duration = Duration::from_secs(3);
/// How much longer than the endpoint deadline a call may take before it counts as a hang.
const MARGIN: Duration = Duration::from_secs(2);
/// One year, `normalize::MAX_EXPIRES_IN`.
const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// What the token endpoint does.
enum Setup {
    /// Nothing listens on the port.
    Refused,
    /// Accepts the connection, reads the request, never answers.
    Silent,
    /// A raw HTTP/1.1 answer, written verbatim (for headers `Fault` cannot set, or a binary
    /// body).
    Raw(&'static [u8]),
    /// The test server answering with this fault.
    Fault(fn() -> Fault),
    /// The test server answering correctly, but only after this delay.
    Late(Duration),
}

/// What the caller gets.
enum Expect {
    /// An error of this kind.
    Err(ErrorKind),
    /// An error of this kind whose message says all of these.
    ErrSaying(ErrorKind, &'static [&'static str]),
    /// A token whose lifetime is as given.
    Ok(Lifetime),
}

enum Lifetime {
    /// No expiry: the cache applies its default lifetime.
    Unknown,
    /// Expires about this long after it was issued.
    About(Duration),
    /// Any token is fine; also check its type.
    TokenType(&'static str),
    /// Any token is fine; check its type and the header value it is sent as.
    Sent {
        token_type: &'static str,
        header: &'static str,
    },
}

struct Case {
    name: &'static str,
    setup: Setup,
    timeout: Duration,
    /// The header prefix the user configured, if any.
    header_prefix: Option<&'static str>,
    expect: Expect,
}

const fn err(name: &'static str, setup: Setup, kind: ErrorKind) -> Case {
    Case {
        name,
        setup,
        timeout: NORMAL,
        header_prefix: None,
        expect: Expect::Err(kind),
    }
}

const fn ok(name: &'static str, setup: Setup, lifetime: Lifetime) -> Case {
    Case {
        name,
        setup,
        timeout: NORMAL,
        header_prefix: None,
        expect: Expect::Ok(lifetime),
    }
}

const CASES: &[Case] = &[
    err("connection refused", Setup::Refused, ErrorKind::Transport),
    Case {
        name: "accepts then never answers",
        setup: Setup::Silent,
        timeout: SHORT,
        header_prefix: None,
        expect: Expect::Err(ErrorKind::Timeout),
    },
    Case {
        name: "server hangs inside the handler",
        setup: Setup::Fault(|| Fault::Hang),
        timeout: SHORT,
        header_prefix: None,
        expect: Expect::Err(ErrorKind::Timeout),
    },
    Case {
        name: "answers after the timeout",
        setup: Setup::Late(Duration::from_secs(1)),
        timeout: SHORT,
        header_prefix: None,
        expect: Expect::Err(ErrorKind::Timeout),
    },
    err(
        "500 with a JSON body without `error`",
        Setup::Fault(|| Fault::json(500, json!({ "message": "internal" }))),
        ErrorKind::TokenEndpoint,
    ),
    err(
        "500 with an empty body",
        Setup::Fault(|| Fault::raw(500, None, "")),
        ErrorKind::TokenEndpoint,
    ),
    // normalize: a body that is neither JSON nor a form is TokenEndpoint for a 5xx.
    err(
        "502 with an HTML page",
        Setup::Fault(|| {
            Fault::raw(
                502,
                Some("text/html"),
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
        }),
        ErrorKind::TokenEndpoint,
    ),
    // The kind is what the status and body give; the Retry-After value rides on the error
    // (see `retry_after_is_read_and_the_cache_waits_that_long`).
    err(
        "503 with Retry-After",
        Setup::Raw(
            b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 120\r\ncontent-type: text/html\r\n\
             content-length: 24\r\nconnection: close\r\n\r\n<h1>maintenance</h1>\r\n\r\n",
        ),
        ErrorKind::TokenEndpoint,
    ),
    err(
        "429 with Retry-After and a JSON body",
        Setup::Raw(
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 30\r\n\
             content-type: application/json\r\ncontent-length: 28\r\nconnection: close\r\n\r\n\
             {\"message\":\"slow down pls\"}\n",
        ),
        ErrorKind::TokenEndpoint,
    ),
    err(
        "429 with Retry-After and an HTML body",
        Setup::Raw(
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 30\r\ncontent-type: text/html\r\n\
             content-length: 26\r\nconnection: close\r\n\r\n<h1>too many requests</h1>",
        ),
        ErrorKind::MalformedResponse,
    ),
    err(
        "200 with an HTML page",
        Setup::Fault(|| {
            Fault::raw(
                200,
                Some("text/html"),
                "<!doctype html><html><body>Sign in</body></html>",
            )
        }),
        ErrorKind::MalformedResponse,
    ),
    err(
        "200 with malformed JSON",
        Setup::Fault(|| {
            Fault::raw(
                200,
                Some("application/json"),
                r#"{"access_token": "at", "expires_in": 36"#,
            )
        }),
        ErrorKind::MalformedResponse,
    ),
    err(
        "200 with a JSON array",
        Setup::Fault(|| Fault::raw(200, Some("application/json"), r#"["at"]"#)),
        ErrorKind::MalformedResponse,
    ),
    err(
        "200 with an empty body",
        Setup::Fault(|| Fault::raw(200, Some("application/json"), "")),
        ErrorKind::MalformedResponse,
    ),
    Case {
        name: "200 with a 10 MiB body (over the 1 MiB cap)",
        setup: Setup::Fault(|| Fault::LargeBody(10 * 1024 * 1024)),
        timeout: Duration::from_secs(20),
        header_prefix: None,
        expect: Expect::Err(ErrorKind::MalformedResponse),
    },
    err(
        "200 without access_token",
        Setup::Fault(|| Fault::json(200, json!({ "token_type": "Bearer", "expires_in": 3600 }))),
        ErrorKind::MalformedResponse,
    ),
    err(
        "200 with an empty access_token",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "  " }))),
        ErrorKind::MalformedResponse,
    ),
    err(
        "200 with a numeric access_token",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": 42 }))),
        ErrorKind::MalformedResponse,
    ),
    ok(
        "negative expires_in (treated as unknown)",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "at", "expires_in": -5 }))),
        Lifetime::Unknown,
    ),
    ok(
        "zero expires_in (treated as unknown)",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "at", "expires_in": 0 }))),
        Lifetime::Unknown,
    ),
    ok(
        "huge expires_in (capped at one year)",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "at", "expires_in": 1e300 }))),
        Lifetime::About(YEAR),
    ),
    ok(
        "u64::MAX expires_in (capped at one year)",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "at", "expires_in": u64::MAX }))),
        Lifetime::About(YEAR),
    ),
    ok(
        "numeric-string expires_in",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "at", "expires_in": "120" }))),
        Lifetime::About(Duration::from_secs(120)),
    ),
    err(
        "non-numeric expires_in",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "at", "expires_in": "soon" }))),
        ErrorKind::MalformedResponse,
    ),
    err(
        "expires_in as an object",
        Setup::Fault(|| {
            Fault::json(
                200,
                json!({ "access_token": "at", "expires_in": { "s": 1 } }),
            )
        }),
        ErrorKind::MalformedResponse,
    ),
    err(
        "302 redirect",
        Setup::Fault(|| Fault::Redirect("https://elsewhere.example/token".to_owned())),
        ErrorKind::TokenEndpoint,
    ),
    err(
        "302 redirect without Location",
        Setup::Raw(b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
        ErrorKind::TokenEndpoint,
    ),
    // Lenient on purpose: real providers label JSON `text/html` or `text/plain` (misconfigured
    // frameworks, gateways rewriting headers), so a body that parses as a JSON object is read
    // whatever its label. Only the body decides; the label alone never rejects a good token.
    ok(
        "wrong content type (JSON labelled text/html)",
        Setup::Fault(|| {
            Fault::raw(
                200,
                Some("text/html"),
                r#"{"access_token": "at", "expires_in": 600}"#,
            )
        }),
        Lifetime::About(Duration::from_secs(600)),
    ),
    // Neither JSON nor a form, and labelled as something else entirely: malformed, and the
    // message names the content type instead of dumping the binary body.
    Case {
        name: "wrong content type (binary body labelled image/png)",
        setup: Setup::Raw(
            b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: 33\r\n\
              connection: close\r\n\r\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\
              \x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89",
        ),
        timeout: NORMAL,
        header_prefix: None,
        expect: Expect::ErrSaying(
            ErrorKind::MalformedResponse,
            &[
                "neither JSON nor a form",
                "`image/png`",
                "33 bytes of binary data",
            ],
        ),
    },
    err(
        "wrong content type (form body labelled JSON)",
        Setup::Fault(|| {
            Fault::raw(
                200,
                Some("application/json"),
                "access_token=at&expires_in=600",
            )
        }),
        ErrorKind::MalformedResponse,
    ),
    ok(
        "no content type, form body",
        Setup::Fault(|| Fault::raw(200, None, "access_token=at&token_type=bearer")),
        Lifetime::TokenType("Bearer"),
    ),
    ok(
        "token_type in lower case",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "at", "token_type": "bearer" }))),
        Lifetime::Sent {
            token_type: "Bearer",
            header: "Bearer at",
        },
    ),
    // Only Bearer tokens can be sent without configuration: anything else is a typed error.
    Case {
        name: "unsupported token_type (MAC)",
        setup: Setup::Fault(|| {
            Fault::json(200, json!({ "access_token": "at", "token_type": "MAC" }))
        }),
        timeout: NORMAL,
        header_prefix: None,
        expect: Expect::ErrSaying(
            ErrorKind::UnsupportedTokenType,
            &["`MAC` token", "only Bearer tokens are supported"],
        ),
    },
    err(
        "unsupported token_type (DPoP)",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "at", "token_type": "DPoP" }))),
        ErrorKind::UnsupportedTokenType,
    ),
    // With a configured prefix the provider's token_type is informational: the prefix is used.
    Case {
        name: "unsupported token_type (N_A) with an explicit header prefix",
        setup: Setup::Fault(|| {
            Fault::json(200, json!({ "access_token": "at", "token_type": "N_A" }))
        }),
        timeout: NORMAL,
        header_prefix: Some("Bearer"),
        expect: Expect::Ok(Lifetime::Sent {
            token_type: "N_A",
            header: "Bearer at",
        }),
    },
    // Unsupported too; the message quotes it escaped, on one line.
    err(
        "token_type with a line break",
        Setup::Fault(|| {
            Fault::json(
                200,
                json!({ "access_token": "at", "token_type": "Bear\ner" }),
            )
        }),
        ErrorKind::UnsupportedTokenType,
    ),
    err(
        "token_type not a string",
        Setup::Fault(|| Fault::json(200, json!({ "access_token": "at", "token_type": 7 }))),
        ErrorKind::MalformedResponse,
    ),
];

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
