//! The retry-on-401 decision, separate from the service that acts on it (like tower's `Policy`).

use http::{HeaderMap, StatusCode};

/// What to do with a response to a request that carried a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Not an authentication failure: hand the response over.
    Accept,
    /// Invalidate the token and send the request once more with a fresh one.
    Retry,
    /// An authentication failure a new token cannot fix (or no second attempt is possible):
    /// hand the response over with the error attached.
    GiveUp,
}

/// Decides after the first attempt. Only a 401 is retried, and only when the request can be
/// replayed; a 403 means the token was accepted but lacks permission, so a new one would not
/// help. A 401 whose `WWW-Authenticate` says `invalid_request` or `insufficient_scope` is not
/// about the token's validity either.
pub(crate) fn decide(status: StatusCode, headers: &HeaderMap, replayable: bool) -> Decision {
    match status {
        StatusCode::UNAUTHORIZED => {
            if !replayable || !token_problem(headers) {
                Decision::GiveUp
            } else {
                Decision::Retry
            }
        }
        StatusCode::FORBIDDEN => Decision::GiveUp,
        _ => Decision::Accept,
    }
}

/// Whether the challenge (if any) blames the token itself.
fn token_problem(headers: &HeaderMap) -> bool {
    match auth_core::WwwAuthenticate::from_headers(headers).and_then(|c| c.error) {
        Some(code) => !matches!(code.as_str(), "invalid_request" | "insufficient_scope"),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::WWW_AUTHENTICATE;

    fn challenge(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(WWW_AUTHENTICATE, http::HeaderValue::from_static(value));
        h
    }

    #[test]
    fn retries_a_replayable_401() {
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &HeaderMap::new(), true),
            Decision::Retry
        );
        let expired = challenge(r#"Bearer error="invalid_token""#);
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &expired, true),
            Decision::Retry
        );
    }

    #[test]
    fn never_retries_403_or_a_body_that_cannot_be_replayed() {
        assert_eq!(
            decide(StatusCode::FORBIDDEN, &HeaderMap::new(), true),
            Decision::GiveUp
        );
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &HeaderMap::new(), false),
            Decision::GiveUp
        );
    }

    #[test]
    fn does_not_retry_when_the_challenge_blames_the_request_not_the_token() {
        let scope = challenge(r#"Bearer error="insufficient_scope", scope="admin""#);
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &scope, true),
            Decision::GiveUp
        );
        let bad = challenge(r#"Bearer error="invalid_request""#);
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &bad, true),
            Decision::GiveUp
        );
    }

    #[test]
    fn other_statuses_are_accepted() {
        for s in [
            StatusCode::OK,
            StatusCode::NOT_FOUND,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            assert_eq!(decide(s, &HeaderMap::new(), true), Decision::Accept);
        }
    }
}
