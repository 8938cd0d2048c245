//! `AuthError`: one-line display with a hint, provider errors, challenges.

use super::*;

#[test]
fn display_is_one_sentence_with_a_hint() {
    let err = AuthError::from_oauth(
        "invalid_scope",
        Some("scope admin not allowed"),
        Some(StatusCode::BAD_REQUEST),
    );
    assert_eq!(err.kind(), ErrorKind::InvalidScope);
    let text = err.to_string();
    assert!(text.starts_with("the token endpoint rejected the requested scope"));
    assert!(text.contains("error `invalid_scope`: scope admin not allowed"));
    assert!(text.contains("[HTTP 400]"));
    assert!(text.contains("; hint: a requested scope is not allowed"));
    assert!(!text.contains('\n'));
    assert_eq!(format!("{}; hint: {}", err.message(), err.hint()), text);
}

#[test]
fn oauth_codes_map_to_kinds_and_unknown_codes_to_token_endpoint() {
    for (code, kind) in [
        ("invalid_request", ErrorKind::InvalidRequest),
        ("invalid_client", ErrorKind::InvalidClient),
        ("invalid_grant", ErrorKind::InvalidGrant),
        ("invalid_scope", ErrorKind::InvalidScope),
        ("invalid_target", ErrorKind::InvalidTarget),
        ("unauthorized_client", ErrorKind::UnauthorizedClient),
        ("unsupported_grant_type", ErrorKind::UnsupportedGrantType),
        ("slow_down", ErrorKind::TokenEndpoint),
    ] {
        assert_eq!(ErrorKind::from_oauth_code(code), kind, "{code}");
    }
}

#[test]
fn non_healing_kinds_are_not_transient() {
    assert!(!ErrorKind::InvalidClient.is_transient());
    assert!(!ErrorKind::InvalidGrant.is_transient());
    assert!(!ErrorKind::Config.is_transient());
    assert!(!ErrorKind::UnsupportedTokenType.is_transient());
    assert!(ErrorKind::Transport.is_transient());
    assert!(ErrorKind::Timeout.is_transient());
}

#[test]
fn response_401_carries_the_parsed_challenge_and_a_refined_hint() {
    let response = http::Response::builder()
        .status(401)
        .header(
            "www-authenticate",
            r#"Bearer realm="api", error="insufficient_scope", scope="write""#,
        )
        .body(())
        .expect("valid response");
    let err = AuthError::from_response(&response).expect("401 is an auth error");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let challenge = err.challenge().expect("challenge parsed");
    assert_eq!(challenge.error.as_deref(), Some("insufficient_scope"));
    assert!(err.hint().contains("lacks a scope"));
    assert!(AuthError::from_status_and_headers(StatusCode::OK, &http::HeaderMap::new()).is_none());
}

#[test]
fn long_provider_descriptions_are_scrubbed_to_one_short_line() {
    let long = format!("line1\nline2{}", "x".repeat(500));
    let err = AuthError::from_oauth("invalid_grant", Some(&long), None);
    let text = err.to_string();
    assert!(!text.contains('\n'));
    assert!(text.contains('…'));
}

#[test]
fn builders_keep_every_field_when_shared() {
    let err = AuthError::new(ErrorKind::Transport, "connecting to the token endpoint")
        .with_source(std::io::Error::other("connection refused"));
    let shared = err.clone();
    let err = err.with_status(StatusCode::BAD_GATEWAY);
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
    assert!(err.to_string().contains("connection refused"));
    assert!(shared.status().is_none());
}
