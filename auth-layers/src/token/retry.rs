//! The retry-on-401 decision, separate from the service that acts on it (like tower's `Policy`).
//!
//! gRPC answers an authentication failure with HTTP 200 and the status in the headers of a
//! trailers-only response; `grpc-status: 16` (UNAUTHENTICATED) is read as a 401 and `7`
//! (PERMISSION_DENIED) as a 403. A plain HTTP 200 costs one header lookup for it.

use auth_core::AuthError;
use http::{
    HeaderMap, HeaderName, HeaderValue, StatusCode,
    header::{CONTENT_LENGTH, CONTENT_TYPE},
};

/// What to do with a response to a request that carried a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Not an authentication failure: hand the response over.
    Accept,
    /// Invalidate the token and send the request once more with a fresh one.
    Retry(Rejection),
    /// An authentication failure a new token cannot fix (or no second attempt is possible):
    /// hand the response over with the error attached.
    GiveUp(Rejection),
}

/// How the server said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// HTTP 401 or 403.
    Http(StatusCode),
    /// A gRPC trailers-only response with status 16 or 7.
    Grpc(GrpcCode),
}

/// The two gRPC status codes about credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrpcCode {
    /// 16: the credential is missing, wrong or expired (gRPC's 401).
    Unauthenticated,
    /// 7: the credential was accepted but does not grant access (gRPC's 403).
    PermissionDenied,
}

impl GrpcCode {
    pub(crate) fn number(self) -> u32 {
        match self {
            GrpcCode::Unauthenticated => 16,
            GrpcCode::PermissionDenied => 7,
        }
    }
}

impl Rejection {
    /// Whether a fresh token cannot help, whatever else is known (403, PERMISSION_DENIED).
    pub(crate) fn is_forbidden(self) -> bool {
        matches!(
            self,
            Rejection::Http(StatusCode::FORBIDDEN) | Rejection::Grpc(GrpcCode::PermissionDenied)
        )
    }

    /// The label of the retry counter: `401`, or `grpc-16`.
    #[cfg(feature = "metrics")]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Rejection::Grpc(_) => "grpc-16",
            Rejection::Http(_) => "401",
        }
    }
}

/// Decides after the first attempt. Only a 401 (or gRPC UNAUTHENTICATED) is retried, and only
/// when the request can be replayed; a 403 (or PERMISSION_DENIED) means the token was accepted
/// but lacks permission, so a new one would not help. A 401 whose `WWW-Authenticate` says
/// `invalid_request` or `insufficient_scope` is not about the token's validity either.
#[inline]
pub(crate) fn decide(status: StatusCode, headers: &HeaderMap, replayable: bool) -> Decision {
    match status {
        StatusCode::UNAUTHORIZED => {
            let rejection = Rejection::Http(status);
            if !replayable || !token_problem(headers) {
                Decision::GiveUp(rejection)
            } else {
                Decision::Retry(rejection)
            }
        }
        StatusCode::FORBIDDEN => Decision::GiveUp(Rejection::Http(status)),
        StatusCode::OK => match grpc_rejection(headers) {
            None => Decision::Accept,
            Some(GrpcCode::Unauthenticated) if replayable => {
                Decision::Retry(Rejection::Grpc(GrpcCode::Unauthenticated))
            }
            Some(code) => Decision::GiveUp(Rejection::Grpc(code)),
        },
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

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// The gRPC status 16 or 7 of a trailers-only response (headers of an HTTP 200); `None` for
/// anything else. Only a status in the response headers counts: a regular gRPC response carries
/// it in the trailers, after the messages, where no retry can help.
#[inline]
fn grpc_rejection(headers: &HeaderMap) -> Option<GrpcCode> {
    // The one lookup a response that is not gRPC costs.
    let status = headers.get(&GRPC_STATUS)?;
    grpc_rejection_of(status, headers)
}

#[cold]
fn grpc_rejection_of(status: &HeaderValue, headers: &HeaderMap) -> Option<GrpcCode> {
    let code = match status.as_bytes() {
        b"16" => GrpcCode::Unauthenticated,
        b"7" => GrpcCode::PermissionDenied,
        _ => return None,
    };
    // `application/grpc`, `application/grpc+proto`, `application/grpc-web`…
    let grpc = headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    // Trailers-only: no message follows the headers.
    let body_follows = headers
        .get(CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0");
    (grpc && !body_follows).then_some(code)
}

/// The [`AuthError`] of a rejected response, without the layer's detail: the 401/403 with its
/// challenge, or the gRPC status with its `grpc-message` (percent-decoded) as the server's
/// description.
pub(crate) fn error_of(rejection: Rejection, headers: &HeaderMap) -> Option<AuthError> {
    match rejection {
        Rejection::Http(status) => AuthError::from_status_and_headers(status, headers),
        Rejection::Grpc(code) => {
            let message = headers.get(&GRPC_MESSAGE).map(|v| {
                percent_encoding::percent_decode(v.as_bytes())
                    .decode_utf8_lossy()
                    .into_owned()
            });
            AuthError::from_grpc_status(code.number(), message.as_deref())
        }
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
            Decision::Retry(Rejection::Http(StatusCode::UNAUTHORIZED))
        );
        let expired = challenge(r#"Bearer error="invalid_token""#);
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &expired, true),
            Decision::Retry(Rejection::Http(StatusCode::UNAUTHORIZED))
        );
    }

    #[test]
    fn never_retries_403_or_a_body_that_cannot_be_replayed() {
        assert_eq!(
            decide(StatusCode::FORBIDDEN, &HeaderMap::new(), true),
            Decision::GiveUp(Rejection::Http(StatusCode::FORBIDDEN))
        );
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &HeaderMap::new(), false),
            Decision::GiveUp(Rejection::Http(StatusCode::UNAUTHORIZED))
        );
    }

    #[test]
    fn does_not_retry_when_the_challenge_blames_the_request_not_the_token() {
        let scope = challenge(r#"Bearer error="insufficient_scope", scope="admin""#);
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &scope, true),
            Decision::GiveUp(Rejection::Http(StatusCode::UNAUTHORIZED))
        );
        let bad = challenge(r#"Bearer error="invalid_request""#);
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &bad, true),
            Decision::GiveUp(Rejection::Http(StatusCode::UNAUTHORIZED))
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

    /// The headers of a trailers-only gRPC response with `grpc-status: code`.
    fn trailers_only(code: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        h.insert(GRPC_STATUS, HeaderValue::from_static(code));
        h
    }

    const UNAUTHENTICATED: Rejection = Rejection::Grpc(GrpcCode::Unauthenticated);
    const PERMISSION_DENIED: Rejection = Rejection::Grpc(GrpcCode::PermissionDenied);

    #[test]
    fn retries_a_replayable_grpc_unauthenticated() {
        assert_eq!(
            decide(StatusCode::OK, &trailers_only("16"), true),
            Decision::Retry(UNAUTHENTICATED)
        );
        let mut proto = trailers_only("16");
        proto.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        assert_eq!(
            decide(StatusCode::OK, &proto, true),
            Decision::Retry(UNAUTHENTICATED)
        );
        // A streaming call cannot be replayed: the failure is handed over.
        assert_eq!(
            decide(StatusCode::OK, &trailers_only("16"), false),
            Decision::GiveUp(UNAUTHENTICATED)
        );
    }

    #[test]
    fn never_retries_grpc_permission_denied() {
        for replayable in [true, false] {
            assert_eq!(
                decide(StatusCode::OK, &trailers_only("7"), replayable),
                Decision::GiveUp(PERMISSION_DENIED)
            );
        }
        assert!(PERMISSION_DENIED.is_forbidden());
        assert!(!UNAUTHENTICATED.is_forbidden());
    }

    #[test]
    fn other_grpc_statuses_are_accepted() {
        for code in ["0", "1", "2", "5", "13", "14", "160", "", "unauthenticated"] {
            assert_eq!(
                decide(StatusCode::OK, &trailers_only(code), true),
                Decision::Accept,
                "grpc-status {code:?}"
            );
        }
    }

    #[test]
    fn a_plain_http_200_is_accepted() {
        let mut json = HeaderMap::new();
        json.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(decide(StatusCode::OK, &json, true), Decision::Accept);
        // A gRPC response without a status in its headers (it comes in the trailers).
        let mut grpc = HeaderMap::new();
        grpc.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        assert_eq!(decide(StatusCode::OK, &grpc, true), Decision::Accept);
    }

    #[test]
    fn grpc_status_in_a_response_that_is_not_trailers_only_is_accepted() {
        // A body is announced after the headers.
        let mut with_body = trailers_only("16");
        with_body.insert(CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert_eq!(decide(StatusCode::OK, &with_body, true), Decision::Accept);
        // Not a gRPC response at all, whatever its headers say.
        let mut json = trailers_only("16");
        json.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(decide(StatusCode::OK, &json, true), Decision::Accept);
        let mut untyped = trailers_only("7");
        untyped.remove(CONTENT_TYPE);
        assert_eq!(decide(StatusCode::OK, &untyped, true), Decision::Accept);
        // Only HTTP 200 carries a gRPC status; other statuses are judged as HTTP.
        assert_eq!(
            decide(StatusCode::NOT_FOUND, &trailers_only("16"), true),
            Decision::Accept
        );
        // An empty body announced is still trailers-only.
        let mut empty = trailers_only("16");
        empty.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        assert_eq!(
            decide(StatusCode::OK, &empty, true),
            Decision::Retry(UNAUTHENTICATED)
        );
    }

    #[test]
    fn the_grpc_error_carries_the_code_and_the_decoded_message() {
        let mut headers = trailers_only("16");
        headers.insert(
            GRPC_MESSAGE,
            HeaderValue::from_static("token%20expired%3A%20sign%20in%20again"),
        );
        let error = error_of(UNAUTHENTICATED, &headers).expect("an auth error");
        assert_eq!(error.kind(), auth_core::ErrorKind::Unauthorized);
        assert_eq!(error.grpc_status(), Some(16));
        let provider = error.provider().expect("the message is kept");
        assert_eq!(
            provider.description.as_deref(),
            Some("token expired: sign in again")
        );
        let denied = error_of(PERMISSION_DENIED, &trailers_only("7")).expect("an auth error");
        assert_eq!(denied.kind(), auth_core::ErrorKind::Forbidden);
        assert_eq!(denied.grpc_status(), Some(7));
    }
}
