//! `dpop` in the configuration, end to end through the `tower-auth` binary, against panva's
//! `oidc-provider` (test-support's [`OidcProvider`]): the token is bound to the configured key
//! (introspection's `cnf.jkt`), and `request` reaches the provider's userinfo endpoint with a
//! proof per request, answering its nonce challenge.

mod common;

use auth_test_support::{
    keys::TestKey,
    oidc_provider::{CONFIDENTIAL, DPOP, DpopNonce, OidcOptions, OidcProvider},
};
use common::{tower_auth, write_config};
use tower_auth::oauth::dpop::DpopKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reaches_userinfo_with_a_bound_token_and_answers_its_nonce() {
    let provider = OidcProvider::start_with(OidcOptions {
        dpop_nonce: DpopNonce::UserinfoOnly,
        ..OidcOptions::default()
    })
    .await;
    let signed_in = provider
        .device_sign_in(CONFIDENTIAL, "alice", "openid email offline_access")
        .await;
    let refresh = signed_in["refresh_token"].as_str().expect("refresh token");
    let dir = tempfile::tempdir().expect("tempdir");
    let key = TestKey::es256();
    let key_file = dir.path().join("dpop.pem");
    std::fs::write(&key_file, &key.private_pem).expect("key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("mode");
    }
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.me]
base_url = "{issuer}"

[connections.me.auth]
type = "oauth2"
grant = "refresh_token"
token_url = "{token_url}"
client_id = "{client_id}"
client_secret = {{ env = "OP_SECRET" }}
refresh_token = {{ env = "OP_REFRESH" }}
token_store = "{store}"
dpop = {{ key = {{ file = "{key}" }}, alg = "ES256", required = true }}
"#,
            issuer = provider.issuer(),
            token_url = provider.token_url(),
            client_id = CONFIDENTIAL.id,
            store = dir.path().join("tokens.json").display(),
            key = key_file.display(),
        ),
    );
    let envs = [
        ("OP_SECRET", CONFIDENTIAL.secret.expect("secret")),
        ("OP_REFRESH", refresh),
    ];
    let run = tower_auth(&["-c", &config, "request", "me", "GET", "/me"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains(r#""sub":"alice""#), "{}", run.stdout);
    assert!(
        !run.all().contains(refresh),
        "the refresh token is never shown"
    );
    // The refresh went with a proof of the configured key.
    let refreshes: Vec<_> = provider
        .grants_now()
        .into_iter()
        .filter(|g| g["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    assert_eq!(refreshes[0]["dpop"], true);
    assert_eq!(refreshes[0]["ok"], true);

    let run = tower_auth(&["-c", &config, "config", "show", "me"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(&format!(
            "dpop = {{ key = {{ file = \"{}\" }}, alg = \"ES256\", required = true }}",
            key_file.display()
        )),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_says_dpop_and_the_provider_bound_it_to_the_configured_key() {
    let provider = OidcProvider::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = TestKey::ed25519();
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.svc]
base_url = "{issuer}"

[connections.svc.auth]
type = "oauth2"
grant = "client_credentials"
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = {{ env = "OP_SECRET" }}
scopes = ["api:read"]
dpop = {{ key = {{ env = "DPOP_KEY" }} }}
"#,
            issuer = provider.issuer(),
            client_id = DPOP.id,
        ),
    );
    let envs = [
        ("OP_SECRET", DPOP.secret.expect("secret")),
        ("DPOP_KEY", key.private_pem.as_str()),
    ];
    let run = tower_auth(&["-c", &config, "token", "svc"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("type:       DPoP"), "{}", run.stdout);
    let run = tower_auth(&["-c", &config, "token", "svc", "--show"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let token = run.stdout.trim();
    let info = provider.introspect(token).await;
    assert_eq!(info["active"], true, "{info}");
    let expected = DpopKey::from_pem(&key.private_pem).expect("key");
    assert_eq!(info["cnf"]["jkt"], expected.thumbprint(), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_dpop_settings_name_their_key_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            r#"dpop = "yes""#,
            "connections.svc.auth.dpop",
            "expected `true` or a table",
        ),
        (
            r#"dpop = { alg = "HS256" }"#,
            "connections.svc.auth.dpop.alg",
            "unknown algorithm `HS256`",
        ),
        (
            r#"dpop = { alg = "RS256" }"#,
            "connections.svc.auth.dpop.alg",
            "needs a `key`",
        ),
        (
            r#"dpop = { required = true, nonce = "x" }"#,
            "connections.svc.auth.dpop.nonce",
            "unknown key",
        ),
        (
            "dpop = true\ncache = { redis = \"redis://127.0.0.1:9\", encryption_key = \"k\" }",
            "connections.svc.auth.cache",
            "cannot be shared with other processes",
        ),
        (
            r#"dpop = { key = "not a pem" }"#,
            "connections.svc.auth.dpop.key",
            "no private key found",
        ),
    ];
    for (line, path, message) in cases {
        let config = write_config(
            dir.path(),
            &format!(
                r#"
[connections.svc]
base_url = "http://127.0.0.1:9"

[connections.svc.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "http://127.0.0.1:9/token"
client_id = "svc"
client_secret = "s3cr3t"
{line}
"#
            ),
        );
        let run = tower_auth(&["-c", &config, "token", "svc"], &[]).await;
        assert_ne!(run.code, 0, "{line}: {}", run.all());
        assert!(run.all().contains(path), "{line}: {}", run.all());
        assert!(run.all().contains(message), "{line}: {}", run.all());
        assert!(!run.all().contains("s3cr3t"), "{line}: {}", run.all());
    }
}
