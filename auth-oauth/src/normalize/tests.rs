use super::*;
use auth_core::ExposeSecret;

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

fn ok(body: &str) -> TokenResponse {
    normalize(StatusCode::OK, JSON, body.as_bytes(), &KeyMap::default()).expect("a token response")
}

fn err(status: u16, content_type: Option<&str>, body: &str) -> AuthError {
    let status = StatusCode::from_u16(status).expect("status");
    normalize(status, content_type, body.as_bytes(), &KeyMap::default()).expect_err("an error")
}

#[test]
fn standard_json_is_read() {
    let r = ok(
        r#"{"access_token":"at","token_type":"Bearer","expires_in":3600,
        "refresh_token":"rt","scope":"read write"}"#,
    );
    assert_eq!(r.access_token().expose_secret(), "at");
    assert_eq!(r.token_type(), "Bearer");
    assert_eq!(r.expires_in(), Some(Duration::from_secs(3600)));
    assert_eq!(r.refresh_token().map(|s| s.expose_secret()), Some("rt"));
    assert_eq!(
        r.scopes(),
        Some(&["read".to_owned(), "write".to_owned()][..])
    );
}

#[test]
fn a_form_encoded_body_is_read_like_json() {
    let body = b"access_token=a%2Bb&token_type=bearer&expires_in=60&scope=repo%2Cgist";
    let r = normalize(StatusCode::OK, FORM, body, &KeyMap::default()).expect("form");
    assert_eq!(r.access_token().expose_secret(), "a+b");
    assert_eq!(r.expires_in(), Some(Duration::from_secs(60)));
    assert_eq!(
        r.scopes(),
        Some(&["repo".to_owned(), "gist".to_owned()][..])
    );
    // The same body labelled text/plain (or not labelled) is recognised as a form.
    for ct in [Some("text/plain; charset=utf-8"), None] {
        let r = normalize(StatusCode::OK, ct, body, &KeyMap::default()).expect("sniffed form");
        assert_eq!(r.access_token().expose_secret(), "a+b");
    }
}

#[test]
fn json_with_a_charset_or_a_vendor_type_is_json() {
    for ct in [
        "application/json; charset=utf-8",
        "application/vnd.api+json",
        "APPLICATION/JSON",
    ] {
        let r = normalize(
            StatusCode::OK,
            Some(ct),
            br#"{"access_token":"x"}"#,
            &KeyMap::default(),
        )
        .expect(ct);
        assert_eq!(r.access_token().expose_secret(), "x");
    }
    // JSON sent as text/plain is still JSON.
    let r = normalize(
        StatusCode::OK,
        Some("text/plain"),
        br#" {"access_token":"x"}"#,
        &KeyMap::default(),
    )
    .expect("sniffed json");
    assert_eq!(r.access_token().expose_secret(), "x");
}

#[test]
fn camel_case_and_nested_fields_are_found_with_a_key_map() {
    let body =
        br#"{"accessToken":"at","tokenType":"bearer","expiresIn":"120","refreshToken":"rt"}"#;
    let r = normalize(StatusCode::OK, JSON, body, &KeyMap::camel_case()).expect("camel");
    assert_eq!(r.access_token().expose_secret(), "at");
    assert_eq!(r.expires_in(), Some(Duration::from_secs(120)));
    assert!(r.refresh_token().is_some());

    let body = br#"{"data":{"token":"at","ttl":30,"meta":{"kind":"MAC"}}}"#;
    let map = KeyMap::default()
        .access_token("data.token")
        .and_then(|m| m.expires_in("data.ttl"))
        .and_then(|m| m.token_type("data.meta.kind"))
        .expect("paths");
    let r = normalize(StatusCode::OK, JSON, body, &map).expect("nested");
    assert_eq!(r.access_token().expose_secret(), "at");
    assert_eq!(r.expires_in(), Some(Duration::from_secs(30)));
    assert_eq!(r.token_type(), "MAC");
}

#[test]
fn a_dotted_path_also_matches_a_flat_key() {
    let map = KeyMap::default().access_token("token.value").expect("path");
    let r = normalize(StatusCode::OK, FORM, b"token.value=abc", &map).expect("flat");
    assert_eq!(r.access_token().expose_secret(), "abc");
}

#[test]
fn key_map_rejects_unknown_fields_and_bad_paths() {
    let e = KeyMap::default().set("acces_token", "x").expect_err("typo");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string().contains("key_map.acces_token: unknown field"),
        "{e}"
    );
    for bad in ["", "a..b", ".a", "a."] {
        assert!(KeyPath::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn expires_in_may_be_a_number_a_string_or_a_fraction() {
    for (value, secs) in [
        ("3600", Some(3600)),
        (r#""3600""#, Some(3600)),
        (r#"" 42 ""#, Some(42)),
        ("59.9", Some(59)),
        (r#""59.9""#, Some(59)),
        ("null", None),
        (r#""""#, None),
    ] {
        let r = ok(&format!(r#"{{"access_token":"x","expires_in":{value}}}"#));
        assert_eq!(r.expires_in(), secs.map(Duration::from_secs), "{value}");
    }
    assert_eq!(ok(r#"{"access_token":"x"}"#).expires_in(), None);
}

#[test]
fn zero_negative_and_sub_second_lifetimes_mean_unknown() {
    for value in ["0", "-1", r#""-3600""#, "0.5", "-1e300"] {
        let r = ok(&format!(r#"{{"access_token":"x","expires_in":{value}}}"#));
        assert_eq!(r.expires_in(), None, "{value}");
    }
}

#[test]
fn absurd_lifetimes_are_capped_at_one_year() {
    for value in ["1e300", "99999999999999999999", r#""1e30""#] {
        let r = ok(&format!(r#"{{"access_token":"x","expires_in":{value}}}"#));
        assert_eq!(r.expires_in(), Some(MAX_EXPIRES_IN), "{value}");
    }
    // And the capped lifetime still builds a token (no clock overflow).
    let token = ok(r#"{"access_token":"x","expires_in":1e300}"#)
        .to_access_token(None, &[])
        .expect("token");
    assert!(token.expires_at().is_some());
}

#[test]
fn expires_in_that_is_not_a_number_is_malformed() {
    for value in [r#""soon""#, "true", "[1]", r#""NaN""#, r#""inf""#] {
        let e = err(
            200,
            JSON,
            &format!(r#"{{"access_token":"x","expires_in":{value}}}"#),
        );
        assert_eq!(e.kind(), ErrorKind::MalformedResponse, "{value}");
        assert!(e.to_string().contains("`expires_in`"), "{e}");
    }
}

#[test]
fn token_type_defaults_to_bearer_and_is_case_insensitive() {
    for (value, expected) in [
        (None, "Bearer"),
        (Some(r#""bearer""#), "Bearer"),
        (Some(r#""BEARER""#), "Bearer"),
        (Some(r#""""#), "Bearer"),
        (Some("null"), "Bearer"),
        (Some(r#"" Bearer ""#), "Bearer"),
    ] {
        let body = match value {
            Some(v) => format!(r#"{{"access_token":"x","token_type":{v}}}"#),
            None => r#"{"access_token":"x"}"#.to_owned(),
        };
        let response = ok(&body);
        assert_eq!(response.token_type(), expected, "{body}");
        let token = response.to_access_token(None, &[]).expect("a bearer token");
        assert_eq!(token.header_value(), "Bearer x", "{body}");
    }
}

#[test]
fn other_token_types_are_kept_but_unsupported_without_a_configured_prefix() {
    for token_type in ["MAC", "DPoP", "N_A", "mac", "Bearer2"] {
        let response = ok(&format!(
            r#"{{"access_token":"x","token_type":"{token_type}"}}"#
        ));
        // normalize itself reports what the provider sent.
        assert_eq!(response.token_type(), token_type);
        let e = response
            .to_access_token(None, &[])
            .expect_err("not a bearer token");
        assert_eq!(e.kind(), ErrorKind::UnsupportedTokenType, "{token_type}");
        assert!(!e.is_transient());
        let text = e.to_string();
        assert!(
            text.contains(&format!("issued a `{token_type}` token"))
                && text.contains("only Bearer tokens are supported")
                && text.contains("hint:")
                && text.contains("header_prefix"),
            "{text}"
        );
    }
}

#[test]
fn a_configured_prefix_accepts_any_token_type() {
    let response = ok(r#"{"access_token":"x","token_type":"N_A"}"#);
    let token = response
        .to_access_token(Some("Bearer"), &[])
        .expect("the configured prefix wins");
    assert_eq!(token.header_value(), "Bearer x");
    assert_eq!(token.token_type(), "N_A");
    // The bare token (a query parameter, or an empty prefix) is an explicit choice too.
    let token = response.to_access_token(Some(""), &[]).expect("bare token");
    assert_eq!(token.header_value(), "x");
}

#[test]
fn an_unsupported_token_type_is_quoted_on_one_line_and_only_when_short() {
    let e = ok(r#"{"access_token":"x","token_type":"Bear\ner"}"#)
        .to_access_token(None, &[])
        .expect_err("unsupported");
    let text = e.to_string();
    assert!(
        text.contains(r"`Bear\ner`") && !text.contains('\n'),
        "{text}"
    );

    let long = "tok3n-".repeat(10);
    let e = ok(&format!(r#"{{"access_token":"x","token_type":"{long}"}}"#))
        .to_access_token(None, &[])
        .expect_err("unsupported");
    assert_eq!(e.kind(), ErrorKind::UnsupportedTokenType);
    assert!(!e.to_string().contains("tok3n"), "{e}");
}

#[test]
fn scope_may_be_a_list() {
    let r = ok(r#"{"access_token":"x","scope":["a","b c"]}"#);
    assert_eq!(
        r.scopes(),
        Some(&["a".to_owned(), "b".to_owned(), "c".to_owned()][..])
    );
}

#[test]
fn a_missing_access_token_names_the_fields_present_but_no_values() {
    let e = err(
        200,
        JSON,
        r#"{"accessToken":"s3cr3t-value","expiresIn":10}"#,
    );
    assert_eq!(e.kind(), ErrorKind::MalformedResponse);
    let text = e.to_string();
    assert!(text.contains("no `access_token`"), "{text}");
    assert!(text.contains("accessToken, expiresIn"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("key_map"), "hint names key_map: {text}");
}

#[test]
fn empty_or_non_string_access_tokens_are_malformed() {
    for body in [
        r#"{"access_token":""}"#,
        r#"{"access_token":42}"#,
        r#"{"access_token":null}"#,
    ] {
        assert_eq!(
            err(200, JSON, body).kind(),
            ErrorKind::MalformedResponse,
            "{body}"
        );
    }
}

#[test]
fn every_rfc6749_error_becomes_its_typed_kind() {
    for (code, kind) in [
        ("invalid_request", ErrorKind::InvalidRequest),
        ("invalid_client", ErrorKind::InvalidClient),
        ("invalid_grant", ErrorKind::InvalidGrant),
        ("unauthorized_client", ErrorKind::UnauthorizedClient),
        ("unsupported_grant_type", ErrorKind::UnsupportedGrantType),
        ("invalid_scope", ErrorKind::InvalidScope),
        ("invalid_target", ErrorKind::InvalidTarget),
        ("temporarily_unavailable", ErrorKind::TokenEndpoint),
    ] {
        let body = format!(
            r#"{{"error":"{code}","error_description":"because","error_uri":"https://d/e"}}"#
        );
        let e = err(400, JSON, &body);
        assert_eq!(e.kind(), kind, "{code}");
        assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST));
        let provider = e.provider().expect("provider error");
        assert_eq!(provider.code, code);
        assert_eq!(provider.description.as_deref(), Some("because"));
        assert_eq!(provider.uri.as_deref(), Some("https://d/e"));
    }
}

#[test]
fn an_error_with_status_200_is_still_an_error() {
    let e = err(
        200,
        JSON,
        r#"{"error":"invalid_grant","access_token":"ignored"}"#,
    );
    assert_eq!(e.kind(), ErrorKind::InvalidGrant);
    assert_eq!(e.status(), Some(StatusCode::OK));
    // Form-encoded errors too.
    let e = err(200, FORM, "error=invalid_scope&error_description=nope");
    assert_eq!(e.kind(), ErrorKind::InvalidScope);
}

#[test]
fn an_empty_or_null_error_field_is_not_an_error() {
    assert_eq!(
        ok(r#"{"access_token":"x","error":null}"#).token_type(),
        "Bearer"
    );
    assert_eq!(
        ok(r#"{"access_token":"x","error":""}"#).token_type(),
        "Bearer"
    );
}

#[test]
fn a_non_standard_error_object_is_a_token_endpoint_error() {
    let e = err(400, JSON, r#"{"error":{"code":401,"message":"nope"}}"#);
    assert_eq!(e.kind(), ErrorKind::TokenEndpoint);
}

#[test]
fn error_codes_are_kept_short_and_printable() {
    let long = format!("bad\n{}", "x".repeat(500));
    let e = err(400, JSON, &serde_json::json!({ "error": long }).to_string());
    let code = &e.provider().expect("provider").code;
    assert!(code.len() <= MAX_CODE_LEN && !code.contains('\n'));
}

#[test]
fn html_is_malformed_with_the_status_and_a_short_excerpt() {
    let html =
        "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please log in</body></html>";
    let e = err(200, Some("text/html"), html);
    assert_eq!(e.kind(), ErrorKind::MalformedResponse);
    assert_eq!(e.status(), Some(StatusCode::OK));
    assert!(e.to_string().contains("<title>Sign in</title>"), "{e}");
    assert!(e.to_string().contains("content type `text/html`"), "{e}");

    let e = err(404, Some("text/html"), html);
    assert_eq!(e.kind(), ErrorKind::MalformedResponse);
    assert_eq!(e.status(), Some(StatusCode::NOT_FOUND));
    // A 5xx page is the server failing: transient, and says so.
    let e = err(502, Some("text/html"), "<html>Bad Gateway</html>");
    assert_eq!(e.kind(), ErrorKind::TokenEndpoint);
    assert!(e.is_transient());
}

#[test]
fn a_binary_body_is_described_not_quoted() {
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01";
    let e = normalize(StatusCode::OK, Some("image/png"), png, &KeyMap::default())
        .expect_err("an image is no token response");
    assert_eq!(e.kind(), ErrorKind::MalformedResponse);
    let text = e.to_string();
    assert!(
        text.contains(
            "neither JSON nor a form (content type `image/png`, 20 bytes of binary data)"
        ),
        "{text}"
    );
    assert!(
        !text.contains('\u{fffd}') && !text.contains("PNG"),
        "{text}"
    );
    // A JSON body under the same wrong label is still read.
    let r = normalize(
        StatusCode::OK,
        Some("image/png"),
        br#"{"access_token":"at"}"#,
        &KeyMap::default(),
    )
    .expect("JSON whatever the label");
    assert_eq!(r.access_token().expose_secret(), "at");
}

#[test]
fn excerpts_never_echo_tokens() {
    let body = r#"<html>access_token=ya29.A0ARrdaM-secret&refresh_token=1//0gsecret</html>"#;
    let text = err(200, Some("text/html"), body).to_string();
    assert!(!text.contains("secret"), "{text}");
    let body = r#"{"access_token": "ya29.secretsecret", "expires_in": "soon"#; // truncated JSON
    let text = err(200, JSON, body).to_string();
    assert!(!text.contains("secret"), "{text}");
    // A renamed token field is scrubbed as well.
    let map = KeyMap::default().access_token("jwt").expect("path");
    let e = normalize(
        StatusCode::OK,
        Some("text/html"),
        b"<p>jwt: abcsecret</p>",
        &map,
    )
    .expect_err("html");
    assert!(!e.to_string().contains("abcsecret"), "{e}");
}

#[test]
fn a_non_2xx_json_body_without_an_error_is_a_token_endpoint_error() {
    let e = err(500, JSON, r#"{"message":"internal"}"#);
    assert_eq!(e.kind(), ErrorKind::TokenEndpoint);
    assert_eq!(e.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(e.to_string().contains("internal"), "{e}");
    let e = err(401, JSON, "{}");
    assert_eq!(e.kind(), ErrorKind::InvalidClient);
}

#[test]
fn empty_bodies_and_non_objects_are_malformed() {
    assert_eq!(err(200, JSON, "").kind(), ErrorKind::MalformedResponse);
    assert!(err(200, None, "  ").to_string().contains("empty body"));
    assert_eq!(
        err(200, JSON, r#"["access_token"]"#).kind(),
        ErrorKind::MalformedResponse
    );
    assert_eq!(
        err(200, JSON, r#""x""#).kind(),
        ErrorKind::MalformedResponse
    );
    assert_eq!(err(200, FORM, "").kind(), ErrorKind::MalformedResponse);
}

#[test]
fn debug_never_shows_tokens() {
    let r = ok(r#"{"access_token":"at-secret","refresh_token":"rt-secret"}"#);
    let debug = format!("{r:?}");
    assert!(!debug.contains("secret"), "{debug}");
}

#[test]
fn the_access_token_gets_the_prefix_override_and_the_requested_scopes() {
    let r = ok(r#"{"access_token":"x","token_type":"bearer","expires_in":60}"#);
    let token = r.to_access_token(None, &["a".to_owned()]).expect("token");
    assert_eq!(token.header_value(), "Bearer x");
    assert_eq!(token.scopes(), ["a"]);
    let token = r.to_access_token(Some("Token"), &[]).expect("token");
    assert_eq!(token.header_value(), "Token x");
    // A token that cannot be a header value is a malformed response, not a config error.
    let e = ok(r#"{"access_token":"a\nb"}"#)
        .to_access_token(None, &[])
        .expect_err("newline");
    assert_eq!(e.kind(), ErrorKind::MalformedResponse);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for len in 0..200 {
        let body: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .collect();
        for ct in [JSON, FORM, None, Some("text/html")] {
            let _ = normalize(StatusCode::OK, ct, &body, &KeyMap::default());
        }
    }
}
