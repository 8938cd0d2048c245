//! The one canary secret every canary test uses as every secret (client secrets, passwords,
//! tokens, keys), and the checks that it never shows in `Display`, `Debug`, errors or hints.

use std::{fmt, time::Duration};

use auth_core::{AccessToken, AuthError};

/// The canary secret.
pub const CANARY: &str = "CANARY-c4n4ry-5ecret-7f3a9c";

/// A second canary, for what servers echo back: no digit, so the shape heuristic (long
/// token-like runs with a digit) does not catch it, and only redaction by value keeps it out.
pub const ECHO_CANARY: &str = "canary-echoed-secret-value";

/// Fails the test, naming `what`, when `text` contains [`ECHO_CANARY`] as is, form-encoded, or
/// in the base64 of Basic credentials `id:ECHO_CANARY`.
#[track_caller]
pub fn assert_echo_clean(what: &str, text: &str, basic_id: &str) {
    let basic = basic_of(basic_id, ECHO_CANARY);
    for shown in [
        ECHO_CANARY,
        "canary-echoed-secret",
        basic.trim_end_matches('='),
    ] {
        assert!(
            !text.contains(shown),
            "{what} shows the echoed canary ({shown}): {text}"
        );
    }
}

/// The base64 of the Basic credentials `id:secret`, as a request's `Authorization` header
/// carries them.
pub fn basic_of(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

/// [`assert_echo_clean`] on `error`'s `Display` and `Debug`.
#[track_caller]
pub fn assert_echo_error_clean(what: &str, error: &AuthError, basic_id: &str) {
    assert_echo_clean(what, &error.to_string(), basic_id);
    assert_echo_clean(what, &format!("{error:?}"), basic_id);
}

/// Fails the test, naming `what`, when `text` contains the canary.
#[track_caller]
pub fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(CANARY),
        "{what} leaks the canary secret: {text}"
    );
}

/// [`assert_clean`] on `value`'s `Debug`, plain and pretty.
#[track_caller]
pub fn assert_debug_clean(what: &str, value: &impl fmt::Debug) {
    assert_clean(what, &format!("{value:?}"));
    assert_clean(what, &format!("{value:#?}"));
}

/// [`assert_clean`] on `error`'s `Display`, `Debug` and hint.
#[track_caller]
pub fn assert_error_clean(what: &str, error: &AuthError) {
    assert_clean(what, &error.to_string());
    assert_debug_clean(what, error);
    assert_clean(what, error.hint());
}

/// An hour-long token whose access and refresh tokens are the canary.
///
/// # Panics
///
/// Never: the canary is a valid header value.
pub fn canary_token() -> AccessToken {
    AccessToken::builder(CANARY)
        .refresh_token(CANARY)
        .expires_in(Duration::from_secs(3600))
        .scopes(["read"])
        .build()
        .expect("the canary makes a valid token")
}
