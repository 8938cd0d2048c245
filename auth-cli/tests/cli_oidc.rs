//! The `tower-auth` binary against panva's oidc-provider: `token` on a token exchange
//! connection (RFC 8693) and `logout` (RFC 7009), checked with the provider's introspection.

mod common;

use std::path::Path;

use auth_test_support::oidc_provider::{CONFIDENTIAL, DEVICE, OidcProvider};
use common::{free_port, tower_auth, write_config};
use tower_auth::core::{FileTokenStore, StoredToken, TokenStore};

const SCOPES: &str = "openid offline_access api:read";

fn secret() -> &'static str {
    CONFIDENTIAL.secret.expect("secret")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_exchanges_the_subject_token_file() {
    let provider = OidcProvider::start().await;
    let alice = provider.device_sign_in(DEVICE, "alice", SCOPES).await["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let subject = dir.path().join("sts-token");
    std::fs::write(&subject, format!("{alice}\n")).expect("write");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.ledger]
base_url = "http://127.0.0.1:1"
[connections.ledger.auth]
type = "oauth2"
grant = "token_exchange"
token_url = "{token_url}"
client_id = "{id}"
client_secret = "{secret}"
subject_token = {{ file = "{subject}" }}
scopes = ["api:read"]
"#,
            token_url = provider.token_url(),
            id = CONFIDENTIAL.id,
            secret = secret(),
            subject = subject.display(),
        ),
    );
    let run = tower_auth(&["-c", &config, "token", "ledger", "--show"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let token = run.stdout.trim();
    assert!(!token.is_empty() && token != alice, "{}", run.all());
    let info = provider.introspect(token).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(provider.exchanges(1).await[0]["subject"], "alice");

    let run = tower_auth(&["-c", &config, "token", "ledger"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        !run.all().contains(&alice),
        "the subject token leaks: {}",
        run.all()
    );
    let run = tower_auth(&["-c", &config, "config", "show", "ledger"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(&format!(
            "subject_token = {{ file = \"{}\" }}",
            subject.display()
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("subject_token_type = \"urn:ietf:params:oauth:token-type:access_token\""),
        "{}",
        run.stdout
    );
}

/// A refresh token of `account` stored under `key` in the file store `store`.
async fn stored(provider: &OidcProvider, store: &Path, key: &str, account: &str) -> String {
    let tokens = provider.device_sign_in(CONFIDENTIAL, account, SCOPES).await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    FileTokenStore::new(store)
        .save(key, &StoredToken::with_refresh_token(refresh.clone()))
        .await
        .expect("saved");
    refresh
}

async fn is_stored(store: &Path, key: &str) -> bool {
    FileTokenStore::new(store)
        .load(key)
        .await
        .expect("load")
        .is_some()
}

fn crm_config(dir: &Path, provider: &OidcProvider, store: &Path, revocation: &str) -> String {
    write_config(
        dir,
        &format!(
            r#"
[connections.crm]
base_url = "http://127.0.0.1:1"
[connections.crm.auth]
type = "oauth2"
grant = "refresh_token"
token_url = "{token_url}"
{revocation}
client_id = "{id}"
client_secret = "{secret}"
token_store = "{store}"
"#,
            token_url = provider.token_url(),
            id = CONFIDENTIAL.id,
            secret = secret(),
            store = store.display(),
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_at_the_provider_and_empties_the_store() {
    let provider = OidcProvider::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("tokens.json");
    let refresh = stored(&provider, &store, "crm", "alice").await;
    let url = provider.revocation_url();
    let config = crm_config(
        dir.path(),
        &provider,
        &store,
        &format!("revocation_url = \"{url}\""),
    );
    let run = tower_auth(&["-c", &config, "logout", "crm"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        format!(
            "✓ crm  revoked the refresh token at {url}; removed it from {} (key `crm`)\n",
            store.display()
        )
    );
    assert!(!run.all().contains(&refresh));
    assert_eq!(provider.introspect(&refresh).await["active"], false);
    assert!(!is_stored(&store, "crm").await);

    let run = tower_auth(&["-c", &config, "logout", "crm"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.starts_with("nothing stored under `crm`"),
        "{}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_with_the_endpoint_down_removes_the_local_copy_and_exits_3() {
    let provider = OidcProvider::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("tokens.json");
    let refresh = stored(&provider, &store, "crm", "alice").await;
    let url = format!("http://127.0.0.1:{}/revoke", free_port());
    let config = crm_config(
        dir.path(),
        &provider,
        &store,
        &format!("revocation_url = \"{url}\""),
    );
    let run = tower_auth(&["-c", &config, "logout", "crm"], &[]).await;
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "warning: could not revoke the refresh token at {url}"
        )),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("removed it from"), "{}", run.all());
    assert!(!run.all().contains(&refresh));
    assert!(!is_stored(&store, "crm").await);
    // The provider was never told.
    assert_eq!(provider.introspect(&refresh).await["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_of_one_user_leaves_the_others_signed_in() {
    let provider = OidcProvider::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("tokens.json");
    let alice = stored(&provider, &store, "crm#user:alice", "alice").await;
    let bob = stored(&provider, &store, "crm#user:bob", "bob").await;
    let config = crm_config(
        dir.path(),
        &provider,
        &store,
        &format!("revocation_url = \"{}\"", provider.revocation_url()),
    );
    let run = tower_auth(&["-c", &config, "logout", "crm", "--user", "alice"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("(key `crm#user:alice`)"),
        "{}",
        run.all()
    );
    assert_eq!(provider.introspect(&alice).await["active"], false);
    assert_eq!(provider.introspect(&bob).await["active"], true);
    assert!(!is_stored(&store, "crm#user:alice").await);
    assert!(is_stored(&store, "crm#user:bob").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_without_a_revocation_endpoint_says_the_provider_was_not_told() {
    let provider = OidcProvider::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("tokens.json");
    let refresh = stored(&provider, &store, "crm", "alice").await;
    let config = crm_config(dir.path(), &provider, &store, "");
    let run = tower_auth(&["-c", &config, "logout", "crm"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains("the provider was not told about the refresh token"),
        "{}",
        run.all()
    );
    assert!(!is_stored(&store, "crm").await);
    assert_eq!(provider.introspect(&refresh).await["active"], true);
}
