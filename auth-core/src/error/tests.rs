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
        ("access_denied", ErrorKind::AccessDenied),
        ("expired_token", ErrorKind::ExpiredToken),
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
    assert!(!ErrorKind::NotSignedIn.is_transient());
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
fn grpc_statuses_16_and_7_are_unauthorized_and_forbidden_with_the_message_redacted() {
    let err = AuthError::from_grpc_status(16, Some("token tok-4711-secret expired"))
        .expect("16 is UNAUTHENTICATED");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.grpc_status(), Some(16));
    assert_eq!(err.status(), None);
    let provider = err.provider().expect("the grpc-message is kept");
    assert_eq!(provider.code, "UNAUTHENTICATED");
    let redactor = Redactor::new();
    redactor.add("tok-4711-secret");
    let shown = err.redact(&redactor).to_string();
    assert!(
        shown.starts_with("the server answered gRPC status 16"),
        "{shown}"
    );
    assert!(shown.contains("token [redacted] expired"), "{shown}");
    assert!(!shown.contains("tok-4711-secret"), "{shown}");
    assert!(!shown.contains("HTTP"), "{shown}");

    let denied = AuthError::from_grpc_status(7, None).expect("7 is PERMISSION_DENIED");
    assert_eq!(denied.kind(), ErrorKind::Forbidden);
    assert!(denied.to_string().contains("`PERMISSION_DENIED`"));
    for other in [0, 1, 2, 13, 14, 17] {
        assert!(AuthError::from_grpc_status(other, Some("x")).is_none());
    }
}

#[test]
fn long_provider_descriptions_are_scrubbed_to_one_short_line() {
    let long = format!("line one\nline two {}", "word ".repeat(100));
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

#[test]
fn redact_cuts_known_secrets_out_of_every_server_text_before_any_cut() {
    let redactor = Redactor::new();
    let long = "correcthorsebatterystaple-".repeat(4);
    redactor.add(&long);
    redactor.add("hunter2pass");
    // The long secret starts where the 200-character display cut falls.
    let description = format!("{}{long} was sent", "x".repeat(190));
    let challenge = http::HeaderMap::from_iter([(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static(
            r#"Bearer error="invalid_token", error_description="token hunter2pass expired""#,
        ),
    )]);
    let errors = [
        AuthError::from_oauth("invalid_client", Some(&description), None),
        AuthError::from_oauth("hunter2pass", None, None),
        AuthError::from_status_and_headers(StatusCode::UNAUTHORIZED, &challenge)
            .expect("a 401 is an error"),
        AuthError::new(ErrorKind::TokenEndpoint, "excerpt: hunter2pass")
            .with_source(std::io::Error::other("peer said hunter2pass"))
            .with_provider_uri("https://x.example/?s=hunter2pass"),
    ];
    for error in errors {
        let shown = error.clone().redact(&redactor);
        let all = format!("{shown} {shown:?}");
        assert!(!all.contains("hunter2pass"), "{all}");
        assert!(!all.contains("correcthorse"), "{all}");
        assert!(all.contains("[redacted]"), "{all}");
        assert_eq!(shown.kind(), error.kind());
    }
}

#[test]
fn redact_without_a_match_keeps_the_error_as_it_is() {
    let redactor = Redactor::new();
    redactor.add("hunter2pass");
    let err = AuthError::new(ErrorKind::Transport, "connection refused")
        .with_source(std::io::Error::other("refused"));
    let same = err.clone().redact(&redactor);
    assert!(Arc::ptr_eq(&err.inner, &same.inner), "nothing was copied");
    assert!(same.source().is_some(), "the source chain is kept");
}

#[test]
fn server_text_is_redacted_by_shape_whenever_it_is_shown() {
    let token = "eyJhbGciOiJSUzI1NiJ9abcdef0123456789";
    let err = AuthError::from_oauth(
        "invalid_token",
        Some(&format!("token {token} expired")),
        None,
    );
    let challenge = http::HeaderMap::from_iter([(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::try_from(format!(r#"Bearer error_description="{token}""#))
            .expect("header value"),
    )]);
    let rejected =
        AuthError::from_status_and_headers(StatusCode::UNAUTHORIZED, &challenge).expect("401");
    for err in [err, rejected] {
        let all = format!("{err} {err:?}");
        assert!(!all.contains(token), "{all}");
    }
}
