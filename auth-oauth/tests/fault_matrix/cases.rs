//! The rows of the fault matrix: what the token endpoint does, and what the caller gets.

use std::time::Duration;

use auth_core::ErrorKind;
use auth_test_support::token_server::Fault;
use serde_json::json;

/// The endpoint deadline of the rows about timeouts.
pub(crate) const SHORT: Duration = Duration::from_millis(300);
/// The endpoint deadline of the other rows: generous, so a loaded machine does not flake.
pub(crate) const NORMAL: Duration = Duration::from_secs(3);
/// How much longer than the endpoint deadline a call may take before it counts as a hang.
pub(crate) const MARGIN: Duration = Duration::from_secs(2);
/// One year, `normalize::MAX_EXPIRES_IN`.
pub(crate) const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// What the token endpoint does.
pub(crate) enum Setup {
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
pub(crate) enum Expect {
    /// An error of this kind.
    Err(ErrorKind),
    /// An error of this kind whose message says all of these.
    ErrSaying(ErrorKind, &'static [&'static str]),
    /// A token whose lifetime is as given.
    Ok(Lifetime),
}

pub(crate) enum Lifetime {
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

pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) setup: Setup,
    pub(crate) timeout: Duration,
    /// The header prefix the user configured, if any.
    pub(crate) header_prefix: Option<&'static str>,
    pub(crate) expect: Expect,
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

pub(crate) const CASES: &[Case] = &[
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
