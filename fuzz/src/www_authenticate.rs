//! `WWW-Authenticate` parsing: [`parse_challenges`], [`WwwAuthenticate::parse`] and
//! [`WwwAuthenticate::from_headers`] on arbitrary input, and the [`AuthError`] built from a
//! 401/403 carrying it.
//!
//! Besides "never panics", the check pins what callers rely on: every challenge has a scheme
//! made of token characters; `parse` returns the first `Bearer` challenge, else the first one;
//! and what the challenge and the error display is one line without control characters (the
//! header comes from a server, and ends up in logs).

use auth_core::{
    AuthError,
    challenge::{WwwAuthenticate, parse_challenges},
};
use http::{HeaderMap, HeaderValue, StatusCode, header::WWW_AUTHENTICATE};

/// Runs every property on `data`; panics on a violation. Lines of `data` are also sent as
/// separate `WWW-Authenticate` headers.
pub fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        check_text(text);
    }
    check_headers(data);
}

fn check_text(text: &str) {
    let all = parse_challenges(text);
    for challenge in &all {
        assert!(
            !challenge.scheme.is_empty() && challenge.scheme.chars().all(is_token_char),
            "scheme {:?} is not a token",
            challenge.scheme
        );
        assert_one_clean_line(&challenge.to_string());
    }
    let expected = all
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .or_else(|| all.first());
    assert_eq!(WwwAuthenticate::parse(text).as_ref(), expected);
}

fn check_headers(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(WWW_AUTHENTICATE, value);
        }
    }
    let challenge = WwwAuthenticate::from_headers(&headers);
    for status in [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN] {
        let Some(error) = AuthError::from_status_and_headers(status, &headers) else {
            panic!("a {status} is always an AuthError");
        };
        assert_eq!(error.challenge(), challenge.as_ref());
        assert_eq!(error.status(), Some(status));
        assert_one_clean_line(&error.to_string());
        assert!(!error.hint().is_empty());
        let _ = format!("{error:?}");
    }
    assert!(AuthError::from_status_and_headers(StatusCode::OK, &headers).is_none());
}

/// RFC 7230 `tchar`, plus `/`, which the parser accepts so that token68 values stay whole.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/".contains(c)
}

fn assert_one_clean_line(text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "control character in {text:?}"
    );
}
