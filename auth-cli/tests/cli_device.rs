//! `tower-auth login NAME` for a `device_code` connection against panva's `oidc-provider`: the
//! device authorization endpoint comes from the issuer's metadata, the test reads the printed
//! user code from stdout and approves it through the provider's own pages, `login` exits 0 and
//! stores the refresh token, and `token` then works from it; a refused code exits non-zero
//! naming `access_denied`; before any sign-in `token` says which `login` to run.

mod common;

use std::{process::Stdio, sync::Arc, time::Duration};

use auth_test_support::oidc_provider::{OidcOptions, OidcProvider};
use common::{tower_auth, write_config};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// A `device_code` connection `dev` for the public client, discovered from the issuer, its
/// refresh token stored in `dir`.
fn config(dir: &std::path::Path, provider: &OidcProvider) -> String {
    let issuer = provider.issuer();
    let store = dir.join("tokens.json");
    write_config(
        dir,
        &format!(
            r#"[connections.dev]
base_url = "{issuer}"

[connections.dev.auth]
type = "oauth2"
grant = "device_code"
issuer = "{issuer}"
client_id = "tower-auth-device"
scopes = ["openid", "offline_access", "api:read"]
token_store = "{}"
"#,
            store.display()
        ),
    )
}

struct Login {
    code: i32,
    first: String,
    stdout: String,
    stderr: String,
}

/// Runs `login dev`, reads the user code from its first line and has the user `approve` (as
/// `alice`) or refuse it.
async fn login(config: &str, provider: Arc<OidcProvider>, approve: bool) -> Login {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tower-auth"))
        .args(["-c", config, "login", "dev"])
        .env_remove("TOWER_AUTH_ENV")
        .env_remove("TOWER_AUTH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn login");
    let run = async {
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = stdout.next_line().await.expect("read").expect("a line");
        let rest = first
            .strip_prefix("To sign in, open ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        let (uri, code) = rest
            .split_once(" and enter the code ")
            .unwrap_or_else(|| panic!("no code in: {first}"));
        assert!(uri.starts_with(&provider.issuer()), "{first}");
        let user = if approve {
            provider.approve_device(code, "alice").await
        } else {
            provider.deny_device(code).await
        };
        user.expect("the browser's side");
        let mut out = String::new();
        while let Some(line) = stdout.next_line().await.expect("read") {
            out.push_str(&line);
            out.push('\n');
        }
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .await
            .expect("read stderr");
        let status = child.wait().await.expect("wait");
        Login {
            code: status.code().unwrap_or(-1),
            first,
            stdout: out,
            stderr,
        }
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("login finished in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_signs_in_with_the_printed_code_and_token_works_from_the_stored_refresh_token() {
    let provider = Arc::new(
        OidcProvider::start_with(OidcOptions {
            device_interval: Some(1),
            ..OidcOptions::default()
        })
        .await,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &provider);

    let shown = tower_auth(&["-c", &config, "config", "show", "dev"], &[]).await;
    assert_eq!(shown.code, 0, "{}", shown.all());
    assert!(
        shown.stdout.contains("grant = \"device_code\""),
        "{}",
        shown.stdout
    );

    let before = tower_auth(&["-c", &config, "token", "dev"], &[]).await;
    assert_ne!(before.code, 0, "{}", before.all());
    assert!(
        before.stderr.contains("run `tower-auth login dev`"),
        "{}",
        before.stderr
    );

    let run = login(&config, provider.clone(), true).await;
    assert_eq!(run.code, 0, "{}\n{}\n{}", run.first, run.stdout, run.stderr);
    // The complete URI on its own line (no QR code: stdout is not a terminal).
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("Or open ") && l.contains("user_code=")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("✓ dev  signed in (refresh token stored"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('█'), "{}", run.stdout);
    let stored = std::fs::read_to_string(dir.path().join("tokens.json")).expect("token store");
    assert!(
        stored.contains("\"dev\""),
        "stored under the connection's name"
    );

    let token = tower_auth(&["-c", &config, "token", "dev", "--show"], &[]).await;
    assert_eq!(token.code, 0, "{}", token.all());
    let info = provider.introspect(token.stdout.trim()).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], "alice", "{info}");
    // `token` refreshed with the stored refresh token (a new process: no cached token).
    let grants = provider.grants_now();
    assert_eq!(
        grants.last().expect("grants")["grant_type"],
        "refresh_token"
    );
    assert_eq!(grants.last().expect("grants")["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_code_exits_non_zero_naming_access_denied() {
    let provider = Arc::new(
        OidcProvider::start_with(OidcOptions {
            device_interval: Some(1),
            ..OidcOptions::default()
        })
        .await,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &provider);
    let run = login(&config, provider.clone(), false).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("access_denied"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    assert!(
        !dir.path().join("tokens.json").exists() || {
            let stored = std::fs::read_to_string(dir.path().join("tokens.json")).expect("read");
            !stored.contains("refresh_token")
        }
    );
}
