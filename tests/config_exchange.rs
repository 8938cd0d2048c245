//! Token exchange and sign-out from configuration, against panva's oidc-provider: a
//! connection exchanging a (rotating) subject token file, and `ConnectionSpec::sign_out`
//! revoking a stored refresh token at `revocation_url` or the issuer's `revocation_endpoint`.
#![cfg(all(feature = "config", feature = "oauth2"))]

use std::path::Path;

use auth_test_support::oidc_provider::{CONFIDENTIAL, DEVICE, OidcProvider};
use tower_auth::{
    ErrorKind, ExposeSecret,
    config::{Config, Format},
    core::{FileTokenStore, StoredToken, TokenStore},
    oauth::revocation::TokenRevocation,
};

const SCOPES: &str = "openid offline_access api:read";

async fn user_token(provider: &OidcProvider, account: &str) -> String {
    provider.device_sign_in(DEVICE, account, SCOPES).await["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

fn rotate(path: &Path, value: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, format!("{value}\n")).expect("write");
    std::fs::rename(&next, path).expect("rename");
}

fn config(text: &str) -> Config {
    Config::from_str(text, Format::Toml).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_connection_exchanges_its_subject_token_file_and_rereads_it() {
    let provider = OidcProvider::start().await;
    let alice = user_token(&provider, "alice").await;
    let bob = user_token(&provider, "bob").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sts-token");
    rotate(&file, &alice);
    let config = config(&format!(
        r#"
[connections.ledger]
base_url = "http://127.0.0.1:1"
[connections.ledger.auth]
type = "oauth2"
grant = "token_exchange"
token_url = "{token_url}"
client_id = "{id}"
client_secret = "{secret}"
subject_token = {{ file = "{file}" }}
subject_token_type = "access_token"
audience = "https://ledger.example.test"
scopes = ["api:read"]
"#,
        token_url = provider.token_url(),
        id = CONFIDENTIAL.id,
        secret = CONFIDENTIAL.secret.expect("secret"),
        file = file.display(),
    ));
    let layer = config
        .connection("ledger", None)
        .expect("spec")
        .layer()
        .expect("layer");
    let source = layer.token_source().expect("a token connection").clone();
    let first = source.token().await.expect("exchanged");
    let exchange = &provider.exchanges(1).await[0];
    assert_eq!(exchange["subject"], "alice", "{exchange}");
    assert_eq!(exchange["audience"], "https://ledger.example.test");
    assert_eq!(exchange["scope"], "api:read");
    let info = provider.introspect(first.secret().expose_secret()).await;
    assert_eq!(info["active"], true, "{info}");

    rotate(&file, &bob);
    source.invalidate(&first);
    let second = source.token().await.expect("exchanged again");
    assert!(!second.same_as(&first));
    assert_eq!(provider.exchanges(2).await[1]["subject"], "bob");
}

#[test]
fn token_exchange_settings_are_checked_with_their_key_paths() {
    let cases = [
        (
            "grant = \"token_exchange\"",
            "connections.x.auth.subject_token: missing",
        ),
        (
            "grant = \"client_credentials\"\nclient_secret = \"s\"\nsubject_token = \"t\"",
            "connections.x.auth.subject_token: only the token_exchange grant sends it",
        ),
        (
            "grant = \"token_exchange\"\nsubject_token = \"t\"\nsubject_token_type = \"passport\"",
            "connections.x.auth.subject_token_type: `passport` is not a token type",
        ),
        (
            "grant = \"token_exchange\"\nsubject_token = \"t\"\nactor_token_type = \"jwt\"",
            "connections.x.auth.actor_token_type: is set without `actor_token`",
        ),
        (
            "grant = \"refresh_token\"\nrefresh_token = \"r\"\nrevocation_url = \"not a url\"",
            "connections.x.auth.revocation_url: not a URL",
        ),
    ];
    for (settings, expected) in cases {
        let text = format!(
            "[connections.x]\nbase_url = \"https://api.example.com\"\n[connections.x.auth]\n\
             type = \"oauth2\"\ntoken_url = \"https://sts.example.com/token\"\nclient_id = \"c\"\n\
             {settings}\n"
        );
        let err = Config::from_str(&text, Format::Toml).expect_err(settings);
        assert!(err.to_string().contains(expected), "{settings}: {err}");
    }
}

/// A stored refresh token of `account` under `key` in a file store at `path`.
async fn stored_sign_in(provider: &OidcProvider, path: &Path, key: &str, account: &str) -> String {
    let tokens = provider.device_sign_in(CONFIDENTIAL, account, SCOPES).await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    FileTokenStore::new(path)
        .save(key, &StoredToken::with_refresh_token(refresh.clone()))
        .await
        .expect("saved");
    refresh
}

fn refresh_connection(store: &Path, revocation: &str) -> Config {
    config(&format!(
        r#"
[connections.crm]
base_url = "http://127.0.0.1:1"
[connections.crm.auth]
type = "oauth2"
grant = "refresh_token"
{revocation}
client_id = "{id}"
client_secret = "{secret}"
token_store = "{store}"
"#,
        id = CONFIDENTIAL.id,
        secret = CONFIDENTIAL.secret.expect("secret"),
        store = store.display(),
    ))
}

#[tokio::test]
async fn sign_out_finds_the_revocation_endpoint_from_the_issuer() {
    let provider = OidcProvider::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("tokens.json");
    let refresh = stored_sign_in(&provider, &store, "crm", "alice").await;
    let config = refresh_connection(&store, &format!("issuer = \"{}\"", provider.issuer()));
    let spec = config.connection("crm", None).expect("spec");
    let signed_out = spec.sign_out(None).await.expect("signed out");
    assert!(
        matches!(signed_out.outcome.refresh_token, TokenRevocation::Revoked),
        "{:?}",
        signed_out.outcome
    );
    assert_eq!(
        signed_out
            .outcome
            .revocation_url
            .as_ref()
            .map(ToString::to_string),
        Some(provider.revocation_url())
    );
    assert_eq!(signed_out.key, "crm");
    assert_eq!(provider.introspect(&refresh).await["active"], false);
    let left = FileTokenStore::new(&store).load("crm").await.expect("load");
    assert!(left.is_none());
    // Signed out: the connection asks for a sign-in.
    let layer = spec.layer().expect("layer");
    let err = layer
        .token_source()
        .expect("token connection")
        .token()
        .await
        .expect_err("no refresh token");
    assert_eq!(err.kind(), ErrorKind::NotSignedIn, "{err}");
}
