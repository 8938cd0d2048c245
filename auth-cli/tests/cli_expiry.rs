//! `tower-auth check --through-expiry` against in-process providers with 2-second tokens:
//! how long the first token lived, how it was refreshed, the second check, the exit code.

mod common;

use std::time::Duration;

use auth_test_support::{
    demo::{self, DemoProvider},
    token_server::{Fault, TokenServer},
};
use common::{Fixture, tower_auth, tower_auth_within, write_config};
use serde_json::json;

/// Every run ends well within this, or is killed and fails.
const LIMIT: Duration = Duration::from_secs(30);

async fn two_second_tokens() -> Fixture {
    Fixture {
        provider: DemoProvider::start(Duration::from_secs(2))
            .await
            .expect("provider"),
        dir: tempfile::tempdir().expect("tempdir"),
    }
}

fn billing_config(fixture: &Fixture, extra: &str) -> String {
    let path = fixture.config(
        "tower-auth.toml",
        &format!(
            r#"
[connections.billing]
base_url = "{{base}}"
check = {{ path = "/whoami" }}

[connections.billing.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "{client_id}"
client_secret = {{ env = "DEMO_CLIENT_SECRET" }}
{extra}
"#,
            token_url = fixture.provider.token_url(),
            client_id = demo::CLIENT_ID,
        ),
    );
    path.display().to_string()
}

const ENVS: [(&str, &str); 1] = [("DEMO_CLIENT_SECRET", demo::CLIENT_SECRET)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_expiry_reports_the_background_refresh_and_checks_again() {
    let fixture = two_second_tokens().await;
    let config = billing_config(&fixture, "");
    let timed = tower_auth_within(
        &["-c", &config, "check", "billing", "--through-expiry"],
        &ENVS,
        LIMIT,
    )
    .await;
    let run = &timed.run;
    assert_eq!(run.code, 0, "{}", run.all());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    assert!(
        lines[0].starts_with("✓ billing  GET /whoami → 200  (oauth2 client_credentials, token"),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].starts_with("  first token lived ") && lines[1].ends_with(" of its 2.0s lifetime"),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].starts_with("  refreshed ")
            && lines[2].contains(" after issue, ")
            && lines[2].contains(" before expiry: background refresh (no request waited)")
            && lines[2].ends_with("(client_credentials grant)"),
        "{}",
        run.stdout
    );
    assert!(
        lines[3].starts_with("✓ billing  after refresh: GET /whoami → 200  (oauth2"),
        "{}",
        run.stdout
    );
    // The default refresh of a 2 s token: in the last quarter before its 1 s skew.
    assert!(
        timed.elapsed < Duration::from_secs(10),
        "{:?}",
        timed.elapsed
    );
    assert_eq!(fixture.provider.token_fetches(), 2, "one refresh");
    assert!(!run.all().contains("demo-at-"), "no token shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_later_than_max_wait_fails_with_a_clear_message() {
    let fixture = two_second_tokens().await;
    // Refreshed 200 ms before expiry, 1.8 s after issue: later than the 1 s allowed.
    let config = billing_config(&fixture, "refresh_before = \"200ms\"");
    let timed = tower_auth_within(
        &[
            "-c",
            &config,
            "check",
            "--through-expiry",
            "--max-wait",
            "1s",
        ],
        &ENVS,
        LIMIT,
    )
    .await;
    let run = &timed.run;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.starts_with("✓ billing  GET /whoami → 200"),
        "the first check passed: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "✗ billing  token endpoint: the token was not refreshed within --max-wait 1.0s (the \
             first token, lifetime 2.0s, is still in use)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  hint: raise --max-wait above the token's lifetime"),
        "{}",
        run.stdout
    );
    assert_eq!(fixture.provider.token_fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_fails_exits_non_zero_with_the_providers_error() {
    let server = TokenServer::builder().expires_in(Some(2)).start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.billing]
base_url = "{api}"

[connections.billing.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "client-id"
client_secret = {{ env = "CLIENT_SECRET" }}
"#,
            api = server.api_url(),
            token_url = server.token_url(),
        ),
    );
    let run = tokio::spawn(async move {
        tower_auth_within(
            &["-c", &config, "check", "--through-expiry"],
            &[("CLIENT_SECRET", "client-secret")],
            LIMIT,
        )
        .await
    });
    // The first token is fetched at once; the refresh comes at least 0.75 s later.
    tokio::time::timeout(LIMIT, async {
        while server.fetches() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first token request");
    // Answered within milliseconds; the refresh starts 0.75 s after the answer at the earliest.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.set_sticky_fault(Some(Fault::json(
        401,
        json!({"error": "invalid_client", "error_description": "client disabled"}),
    )));
    let timed = run.await.expect("join");
    let run = &timed.run;
    assert_eq!(run.code, 1, "{}", run.all());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("✓ billing  GET ") && lines[0].contains("/api → 200"),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].starts_with("✗ billing  token endpoint: ") && lines[1].contains("invalid_client"),
        "{}",
        run.stdout
    );
    assert!(lines[2].starts_with("  hint: "), "{}", run.stdout);
    assert!(server.fetches() >= 2, "the refresh was attempted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_credential_has_nothing_to_refresh_and_exits_non_zero() {
    let fixture = two_second_tokens().await;
    let config = fixture.config(
        "static.toml",
        r#"
[connections.fixed]
base_url = "{base}"
check = { path = "/whoami" }
auth = { type = "bearer", token = { env = "DEMO_BEARER" } }
"#,
    );
    let config = config.display().to_string();
    let timed = tower_auth_within(
        &["-c", &config, "check", "--through-expiry"],
        &[("DEMO_BEARER", demo::BEARER_TOKEN)],
        LIMIT,
    )
    .await;
    let run = &timed.run;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("✓ fixed  GET /whoami → 200"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("✗ fixed  config: `bearer` uses a fixed credential, which never expires"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_grant_says_the_refresh_token_was_used() {
    let server = TokenServer::builder().expires_in(Some(2)).start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.mail]
base_url = "{api}"

[connections.mail.auth]
type = "oauth2"
grant = "refresh_token"
token_url = "{token_url}"
client_id = "client-id"
client_secret = {{ env = "CLIENT_SECRET" }}
refresh_token = {{ env = "REFRESH_TOKEN" }}
token_store = "{store}"
"#,
            api = server.api_url(),
            token_url = server.token_url(),
            store = dir.path().join("tokens.json").display(),
        ),
    );
    let refresh_token = server.issue_refresh_token();
    let timed = tower_auth_within(
        &["-c", &config, "check", "--through-expiry"],
        &[
            ("CLIENT_SECRET", "client-secret"),
            ("REFRESH_TOKEN", refresh_token.as_str()),
        ],
        LIMIT,
    )
    .await;
    let run = &timed.run;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(
            ": background refresh (no request waited) with the refresh token (refresh_token grant)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("✓ mail  after refresh: GET "),
        "{}",
        run.stdout
    );
    assert_eq!(server.fetches(), 2);
    assert!(
        !run.all().contains(&refresh_token),
        "never the refresh token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_show_prints_refresh_before() {
    let fixture = two_second_tokens().await;
    let config = billing_config(&fixture, r#"refresh_before = "1500ms""#);
    let run = tower_auth(&["-c", &config, "config", "show", "billing"], &ENVS).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(r#"refresh_before = "1500ms""#),
        "{}",
        run.stdout
    );
}
