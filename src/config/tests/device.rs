//! `grant = "device_code"`: read, refused by key path when incomplete or misplaced, and its
//! device authorization endpoint discovered from the issuer (panva's `oidc-provider`).

use super::*;

/// A `device_code` connection named `tv` with `extra` lines in its auth table.
fn device_config(extra: &str) -> String {
    format!(
        r#"
        [connections.tv]
        base_url = "https://api.example.com"
        [connections.tv.auth]
        type = "oauth2"
        grant = "device_code"
        client_id = "tv-app"
        scopes = ["openid", "offline_access"]
        {extra}
        "#
    )
}

fn problems(text: &str) -> Vec<String> {
    let error = Config::from_str(text, Format::Toml).expect_err("refused");
    error.problems().iter().map(ToString::to_string).collect()
}

#[test]
fn a_device_code_connection_is_read() {
    let config = Config::from_str(
        &device_config(
            r#"token_url = "https://auth.example.com/token"
            device_authorization_url = "https://auth.example.com/device/code"
            token_store = "/tmp/tower-auth-device-test.json""#,
        ),
        Format::Toml,
    )
    .expect("valid");
    let spec = config.connection("tv", None).expect("connection");
    let o = oauth2(&spec);
    assert_eq!(o.grant, "device_code");
    assert_eq!(
        o.device_authorization_url.as_deref(),
        Some("https://auth.example.com/device/code")
    );
    assert_eq!(o.scopes, ["openid", "offline_access"]);
    assert_eq!(o.client_auth, "auto");
}

#[test]
fn missing_and_misplaced_keys_are_named_by_path() {
    let missing = problems(&device_config(
        r#"token_url = "https://auth.example.com/token""#,
    ));
    assert!(
        missing.iter().any(|p| p.starts_with(
            "connections.tv.auth.device_authorization_url: missing (give \
             `device_authorization_url`, or `issuer`"
        )),
        "{missing:?}"
    );

    let misplaced = problems(
        r#"
        [connections.api]
        base_url = "https://api.example.com"
        [connections.api.auth]
        type = "oauth2"
        grant = "client_credentials"
        token_url = "https://auth.example.com/token"
        device_authorization_url = "https://auth.example.com/device/code"
        client_id = "svc"
        client_secret = { env = "SVC_SECRET" }
        "#,
    );
    assert!(
        misplaced.iter().any(|p| p.starts_with(
            "connections.api.auth.device_authorization_url: only the device_code grant uses it"
        )),
        "{misplaced:?}"
    );

    // Keys of the authorization request mean nothing here; a misspelt key is unknown.
    let wrong = problems(&device_config(
        r#"token_url = "https://auth.example.com/token"
        device_authorization_url = "https://auth.example.com/device/code"
        prompt = "consent"
        device_authorisation_url = "https://auth.example.com/device/code""#,
    ));
    assert!(
        wrong
            .iter()
            .any(|p| p.starts_with("connections.tv.auth.prompt: only the authorization_code")),
        "{wrong:?}"
    );
    assert!(
        wrong
            .iter()
            .any(|p| p.starts_with("connections.tv.auth.device_authorisation_url")),
        "{wrong:?}"
    );

    let bad_url = problems(&device_config(
        r#"token_url = "https://auth.example.com/token"
        device_authorization_url = "not a url""#,
    ));
    assert!(
        bad_url
            .iter()
            .any(|p| p.starts_with("connections.tv.auth.device_authorization_url")),
        "{bad_url:?}"
    );
}

#[cfg(feature = "oauth2")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_authorization_endpoint_is_discovered_from_the_issuer() {
    use auth_test_support::oidc_provider::OidcProvider;

    let provider = OidcProvider::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("tokens.json");
    let text = device_config(&format!(
        "issuer = \"{}\"\ntoken_store = \"{}\"",
        provider.issuer(),
        store.display()
    ));
    let config = Config::from_str(&text, Format::Toml).expect("valid");
    let spec = config.connection("tv", None).expect("connection");
    let layer = spec.device_code_layer().await.expect("discovered");
    let grant = layer.source().source();
    assert_eq!(
        grant.device_authorization_url().as_str(),
        provider.device_authorization_url()
    );
    assert_eq!(grant.endpoint().token_url().as_str(), provider.token_url());
    assert_eq!(grant.store_key(), "tv");

    // The connection's own layer discovers the same grant; with nothing stored it says so.
    let error = spec
        .layer()
        .expect("layer")
        .prefetch()
        .await
        .expect_err("nobody signed in");
    assert_eq!(error.kind(), auth_core::ErrorKind::NotSignedIn, "{error}");

    // `device_code_layer` is for device_code connections only.
    let other = Config::from_str(FULL_TOML, Format::Toml).expect("valid");
    let billing = other.connection("billing", None).expect("connection");
    let refused = billing
        .device_code_layer()
        .await
        .expect_err("not device_code");
    assert!(
        refused
            .to_string()
            .contains("connections.billing.auth.grant"),
        "{refused}"
    );
}
