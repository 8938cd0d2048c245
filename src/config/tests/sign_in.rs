//! The authorization request of an `authorization_code` connection: `auth_params`, `prompt`,
//! `offline_access` and `extra_params` read, sent, and refused by key path when they would
//! override what tower-auth sets.

use super::*;

/// An `authorization_code` connection named `cal` with `extra` lines in its auth table.
fn code_config(extra: &str) -> String {
    format!(
        r#"
        [connections.cal]
        base_url = "https://api.example.com"
        [connections.cal.auth]
        type = "oauth2"
        grant = "authorization_code"
        auth_url = "http://127.0.0.1:2/authorize"
        token_url = "http://127.0.0.1:2/token"
        client_id = "cli"
        client_auth = "none"
        redirect_uri = "http://127.0.0.1:8765/callback"
        token_store = "/tmp/tower-auth-sign-in-test.json"
        {extra}
        "#
    )
}

fn problems(text: &str) -> Vec<String> {
    let error = Config::from_str(text, Format::Toml).expect_err("refused");
    error.problems().iter().map(ToString::to_string).collect()
}

#[test]
fn the_sign_in_keys_are_read() {
    let config = Config::from_str(
        &code_config(
            r#"auth_params = { login_hint = "alice@example.com", hd = "example.com" }
            prompt = "consent"
            offline_access = true
            extra_params = { include_granted_scopes = true }"#,
        ),
        Format::Toml,
    )
    .expect("valid");
    let spec = config.connection("cal", None).expect("connection");
    let o = oauth2(&spec);
    assert_eq!(o.auth_params["login_hint"], "alice@example.com");
    assert_eq!(o.auth_params["hd"], "example.com");
    assert_eq!(o.prompt.as_deref(), Some("consent"));
    assert!(o.offline_access);
    assert_eq!(o.extra_params["include_granted_scopes"], "true");

    let plain = Config::from_str(&code_config(""), Format::Toml).expect("valid");
    let spec = plain.connection("cal", None).expect("connection");
    let o = oauth2(&spec);
    assert!(o.auth_params.is_empty() && o.prompt.is_none() && !o.offline_access);
}

#[cfg(feature = "oauth2")]
#[tokio::test]
async fn the_authorization_url_carries_them_once() {
    let config = Config::from_str(
        &code_config(
            r#"auth_params = { login_hint = "alice@example.com" }
            prompt = "consent"
            offline_access = true
            scopes = ["openid", "calendar.read"]
            extra_params = { include_granted_scopes = "true" }"#,
        ),
        Format::Toml,
    )
    .expect("valid");
    let spec = config.connection("cal", None).expect("connection");
    let layer = spec.authorization_code_layer().await.expect("layer");
    let request = layer.source().source().authorize();
    let query: Vec<(String, String)> = request
        .url()
        .query_pairs()
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    for (name, value) in [
        ("login_hint", "alice@example.com"),
        ("prompt", "consent"),
        ("access_type", "offline"),
        ("include_granted_scopes", "true"),
        ("scope", "openid calendar.read"),
        ("client_id", "cli"),
    ] {
        let values: Vec<&str> = query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values, [value], "{name} in {query:?}");
    }
}

#[cfg(feature = "oauth2")]
#[test]
fn the_refused_names_are_the_grants_own() {
    let names: Vec<&str> = super::super::sign_in::SET_BY_TOWER_AUTH
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(names, auth_oauth::grant::AuthorizationCode::SET_BY_GRANT);
}

#[test]
fn parameters_tower_auth_sets_are_refused_with_their_key_path() {
    let found = problems(&code_config(
        r#"auth_params = { state = "fixed", client_id = "other", scope = "admin", login_hint = "a" }
        extra_params = { code_challenge_method = "plain", response_type = "token" }"#,
    ));
    let text = found.join("\n");
    for expected in [
        "connections.cal.auth.auth_params.state: is set by tower-auth (a fresh value for every \
         sign-in, which protects it); remove it",
        "connections.cal.auth.auth_params.client_id: is set by tower-auth (from `client_id`)",
        "connections.cal.auth.auth_params.scope: is set by tower-auth (from `scopes`; list the \
         scope there)",
        "connections.cal.auth.extra_params.code_challenge_method: is set by tower-auth (PKCE",
        "connections.cal.auth.extra_params.response_type: is set by tower-auth (`code` for this \
         grant)",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert_eq!(found.len(), 5, "{text}");
    assert!(!text.contains("login_hint"), "{text}");
}

#[test]
fn a_parameter_sent_twice_is_refused_with_its_key_path() {
    let found = problems(&code_config(
        r#"prompt = "consent"
        offline_access = true
        audience = "https://api.example.com"
        auth_params = { prompt = "login", audience = "x", login_hint = "a" }
        extra_params = { access_type = "offline", login_hint = "b" }"#,
    ));
    let text = found.join("\n");
    for expected in [
        "connections.cal.auth.auth_params.prompt: repeats `prompt`",
        "connections.cal.auth.auth_params.audience: repeats `audience`",
        "connections.cal.auth.extra_params.access_type: repeats `offline_access`",
        "connections.cal.auth.auth_params.login_hint: is in `extra_params` too",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert_eq!(found.len(), 4, "{text}");
    let empty = problems(&code_config(r#"prompt = " ""#));
    assert_eq!(empty.len(), 1, "{empty:?}");
    assert!(empty[0].starts_with("connections.cal.auth.prompt: is empty"));
}

#[test]
fn the_sign_in_keys_on_another_grant_are_errors_naming_the_key() {
    let found = problems(
        r#"
        [connections.billing]
        base_url = "https://api.example.com"
        [connections.billing.auth]
        type = "oauth2"
        grant = "client_credentials"
        token_url = "https://auth.example.com/token"
        client_id = "c"
        client_secret = { env = "BILLING_SECRET" }
        auth_params = { login_hint = "a" }
        prompt = "consent"
        offline_access = false
        extra_params = { state = "allowed: token requests only" }
        "#,
    );
    let text = found.join("\n");
    for key in ["auth_params", "prompt", "offline_access"] {
        let expected = format!(
            "connections.billing.auth.{key}: only the authorization_code grant sends an \
             authorization request (this connection's grant is `client_credentials`)"
        );
        assert!(text.contains(&expected), "missing `{expected}` in:\n{text}");
    }
    assert_eq!(found.len(), 3, "{text}");
}
