//! Token-response normalization: [`normalize`] on an arbitrary status, `Content-Type`, key map
//! and body.
//!
//! The first byte picks the status, the second the content type (JSON, form, none, HTML), the
//! third the key map (standard, camelCase, `data.token`, `result.jwt`); the rest is the body.
//! Besides "never panics", the check pins that an error displays as one line with a hint (it
//! ends up in logs), that a response which normalizes also turns into a token (or into such an
//! error, e.g. for an unsupported token type), and that a long access token never shows in an
//! error or a `Debug`: the body is replayed with a canary `access_token` added (a JSON field or
//! a form pair) and neither `normalize` nor `to_access_token` may show the canary.

use auth_oauth::{KeyMap, normalize};
use http::StatusCode;
use serde_json::Value;

/// Statuses the first byte picks from (wrapping around).
const STATUSES: [u16; 12] = [200, 201, 204, 400, 401, 403, 404, 429, 500, 502, 503, 302];

/// A token-like value long enough for the scrubber's long-run rule, with digits.
const CANARY: &str = "CANARYtok3n0123456789abcdefXYZ";

/// Runs every property on `data`; panics on a violation.
pub fn check(data: &[u8]) {
    let [status, content_type, key_map, body @ ..] = data else {
        return;
    };
    let status = status_for(*status);
    let content_type = content_type_for(*content_type);
    let key_map = key_map_for(*key_map);

    check_one(status, content_type, body, &key_map);

    if !contains(body, CANARY.as_bytes()) {
        for with_canary in canary_bodies(body) {
            match normalize(status, content_type, &with_canary, &key_map) {
                Err(error) => assert_no_canary(&error),
                Ok(response) => {
                    assert!(!format!("{response:?}").contains(CANARY));
                    // Turning the response into a token can still fail (an unsupported token
                    // type): that error must not show the token either.
                    match response.to_access_token(None, &[]) {
                        Err(error) => assert_no_canary(&error),
                        Ok(token) => assert!(!format!("{token:?}").contains(CANARY)),
                    }
                }
            }
        }
    }
}

fn check_one(status: StatusCode, content_type: Option<&str>, body: &[u8], key_map: &KeyMap) {
    match normalize(status, content_type, body, key_map) {
        Ok(response) => {
            assert!(!response.token_type().is_empty());
            if let Some(lifetime) = response.expires_in() {
                assert!(lifetime <= auth_oauth::normalize::MAX_EXPIRES_IN);
                assert!(!lifetime.is_zero());
            }
            let _ = format!("{response:?}");
            match response.to_access_token(None, &[]) {
                Ok(token) => assert!(token.header_value().is_sensitive()),
                Err(error) => assert_one_line_with_hint(&error),
            }
        }
        Err(error) => assert_one_line_with_hint(&error),
    }
}

/// An error as it reaches logs: one line, with a hint.
fn assert_one_line_with_hint(error: &auth_core::AuthError) {
    let text = error.to_string();
    assert!(!text.contains('\n'), "a multi-line error: {text:?}");
    assert!(
        !text.contains('\r'),
        "a carriage return in the error: {text:?}"
    );
    assert!(!error.hint().is_empty());
    let _ = format!("{error:?}");
}

fn assert_no_canary(error: &auth_core::AuthError) {
    let text = error.to_string();
    assert!(
        !text.contains(CANARY),
        "the access token shows in the error: {text:?}"
    );
    assert!(!format!("{error:?}").contains(CANARY));
}

fn status_for(byte: u8) -> StatusCode {
    let code = STATUSES[usize::from(byte) % STATUSES.len()];
    StatusCode::from_u16(code).expect("a valid status")
}

fn content_type_for(byte: u8) -> Option<&'static str> {
    match byte % 6 {
        0 => Some("application/json"),
        1 => Some("application/x-www-form-urlencoded"),
        2 => None,
        3 => Some("text/html; charset=utf-8"),
        4 => Some("application/json; charset=utf-8"),
        _ => Some("text/plain"),
    }
}

fn key_map_for(byte: u8) -> KeyMap {
    match byte % 5 {
        0 => KeyMap::default(),
        1 => KeyMap::camel_case(),
        2 => KeyMap::default()
            .set("access_token", "data.token")
            .and_then(|m| m.set("expires_in", "data.expiresIn"))
            .expect("a valid key map"),
        3 => KeyMap::default()
            .set("access_token", "result.jwt")
            .and_then(|m| m.set("error", "result.error"))
            .expect("a valid key map"),
        _ => KeyMap::default()
            .set("scope", "scopes")
            .and_then(|m| m.set("refresh_token", "data.refresh"))
            .expect("a valid key map"),
    }
}

/// `body` with a canary `access_token` added: in the JSON object when it is one, else as a
/// leading form pair.
fn canary_bodies(body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body.trim_ascii()) {
        object.insert("access_token".to_owned(), Value::String(CANARY.to_owned()));
        out.push(serde_json::to_vec(&Value::Object(object)).expect("JSON serializes"));
    }
    let mut form = format!("access_token={CANARY}&").into_bytes();
    form.extend_from_slice(body);
    out.push(form);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
