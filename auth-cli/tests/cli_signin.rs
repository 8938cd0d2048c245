//! End-to-end tests of sign-in parameters: `auth_params`, `prompt`, `offline_access` and
//! `extra_params` reach the authorization URL `tower-auth login` prints; a provider that only
//! issues a refresh token when asked for one gets asked; without them `login` warns with the
//! fix; a connection nobody signed in to says which `login` to run; parameters tower-auth sets
//! itself are refused by `config validate` with their key path.

mod common;

use auth_test_support::token_server::TokenServer;
use common::{code_config, login, tower_auth};
use tower_auth::oauth::Url;

/// The values of query parameter `name` in `url`.
fn query_values(url: &str, name: &str) -> Vec<String> {
    Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// A token server that issues a refresh token only when the authorization request had `name=value`.
async fn provider(name: &str, value: &str) -> TokenServer {
    TokenServer::builder()
        .client("cli", None)
        .refresh_token_requires(name, value)
        .start()
        .await
}

/// The one line `login` warns with when no refresh token came back.
fn warning_line(stderr: &str) -> &str {
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    warnings[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_consent_and_auth_params_reach_the_url_and_the_refresh_token_is_stored() {
    let server = provider("prompt", "consent").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = code_config(
        dir.path(),
        &server,
        r#"prompt = "consent"
scopes = ["openid", "calendar.read"]
auth_params = { login_hint = "alice@example.com" }
extra_params = { include_granted_scopes = "true" }"#,
    );
    let run = login(&config, "cal", &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for (name, value) in [
        ("prompt", "consent"),
        ("login_hint", "alice@example.com"),
        ("include_granted_scopes", "true"),
        ("scope", "openid calendar.read"),
    ] {
        assert_eq!(
            query_values(&run.url, name),
            [value],
            "{name} in {}",
            run.url
        );
    }
    assert!(
        query_values(&run.url, "access_type").is_empty(),
        "{}",
        run.url
    );
    // The provider saw the same request; the code exchange carried the extra parameter too.
    let authorization = &server.authorizations()[0];
    assert!(authorization.contains(&("prompt".to_owned(), "consent".to_owned())));
    let exchange = server.last_request();
    assert_eq!(exchange.field("grant_type"), Some("authorization_code"));
    assert_eq!(exchange.field("include_granted_scopes"), Some("true"));
    assert!(
        run.stdout
            .contains("✓ cal  signed in (refresh token stored"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("warning:"), "{}", run.stderr);

    // A later check refreshes from the stored token, without a browser.
    let before = server.fetches();
    let check = tower_auth(&["-c", &config, "check"], &[]).await;
    assert_eq!(check.code, 0, "{}", check.all());
    assert!(check.stdout.contains("✓ cal  GET "), "{}", check.stdout);
    assert_eq!(server.fetches(), before + 1, "one refresh-token request");
    assert_eq!(
        server.last_request().field("grant_type"),
        Some("refresh_token")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_access_reaches_the_url_of_a_provider_that_needs_it() {
    let server = provider("access_type", "offline").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = code_config(dir.path(), &server, "offline_access = true");
    let run = login(&config, "cal", &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(query_values(&run.url, "access_type"), ["offline"]);
    assert!(query_values(&run.url, "prompt").is_empty(), "{}", run.url);
    assert!(
        run.stdout.contains("signed in (refresh token stored"),
        "{}",
        run.stdout
    );
    let check = tower_auth(&["-c", &config, "check", "cal"], &[]).await;
    assert_eq!(check.code, 0, "{}", check.all());

    // `extra_params` is the other way to say it: it reaches the authorization URL too.
    let server = provider("access_type", "offline").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = code_config(
        dir.path(),
        &server,
        r#"extra_params = { access_type = "offline" }"#,
    );
    let run = login(&config, "cal", &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(query_values(&run.url, "access_type"), ["offline"]);
    assert!(
        run.stdout.contains("signed in (refresh token stored"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_them_login_warns_with_the_fix_and_check_says_to_sign_in() {
    for (name, value) in [("prompt", "consent"), ("access_type", "offline")] {
        let server = provider(name, value).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = code_config(dir.path(), &server, "");
        let run = login(&config, "cal", &[]).await;
        assert_eq!(run.code, 0, "signing in itself worked: {}", run.stderr);
        assert!(query_values(&run.url, name).is_empty(), "{}", run.url);
        assert!(
            run.stdout
                .contains("✓ cal  signed in (no refresh token stored"),
            "{}",
            run.stdout
        );
        let warning = warning_line(&run.stderr);
        for expected in [
            "warning: the provider returned no refresh token, so `cal` stops working when this \
             token expires; add ",
            "`offline_access = true` (Google-style providers)",
            "`prompt = \"consent\"`",
            "`offline_access` in `scopes` (OpenID providers)",
            "to connections.cal.auth, then run `tower-auth login cal` again",
        ] {
            assert!(
                warning.contains(expected),
                "missing `{expected}` in {warning}"
            );
        }

        let check = tower_auth(&["-c", &config, "check"], &[]).await;
        assert_eq!(check.code, 1, "{}", check.all());
        assert!(
            check
                .stdout
                .contains("✗ cal  not signed in: run `tower-auth login cal`"),
            "{}",
            check.stdout
        );
        assert!(!check.all().contains("invalid_grant"), "{}", check.all());
    }

    // With every setting given and still no refresh token, the advice is the provider's.
    let server = TokenServer::builder()
        .client("cli", None)
        .refresh_token_requires("never", "given")
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = code_config(
        dir.path(),
        &server,
        r#"offline_access = true
prompt = "consent"
scopes = ["openid", "offline_access"]"#,
    );
    let run = login(&config, "cal", &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warning = warning_line(&run.stderr);
    assert!(
        warning.contains("check at the provider that this client may get refresh tokens"),
        "{warning}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_stored_every_command_says_to_sign_in() {
    let server = provider("prompt", "consent").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = code_config(dir.path(), &server, "");
    let expected = "not signed in: run `tower-auth login cal`";

    let check = tower_auth(&["-c", &config, "check"], &[]).await;
    assert_eq!(check.code, 1, "{}", check.all());
    assert!(
        check.stdout.contains(&format!("✗ cal  {expected}")),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains("hint: the token store holds no refresh token for `cal` yet"),
        "{}",
        check.stdout
    );
    let json = tower_auth(&["-c", &config, "check", "--format", "json"], &[]).await;
    let results: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(results[0]["stage"], "sign_in", "{results}");
    assert_eq!(results[0]["error_kind"], "NotSignedIn", "{results}");
    assert_eq!(results[0]["error"], expected, "{results}");

    for args in [vec!["token", "cal"], vec!["request", "cal", "GET", "/"]] {
        let mut all = vec!["-c", config.as_str()];
        all.extend(args.iter().copied());
        let run = tower_auth(&all, &[]).await;
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains(&format!("error: {expected}\n")),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.all().contains("invalid_grant"), "{}", run.all());
    }
    assert_eq!(server.fetches(), 0, "nothing to send to the token endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_validate_refuses_parameters_tower_auth_sets_by_key_path() {
    let server = provider("prompt", "consent").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = code_config(
        dir.path(),
        &server,
        r#"auth_params = { state = "fixed", redirect_uri = "https://evil.example/cb", scope = "admin" }
extra_params = { code_challenge = "known" }"#,
    );
    let run = tower_auth(&["-c", &config, "config", "validate"], &[]).await;
    assert_eq!(run.code, 2, "{}", run.all());
    for expected in [
        "connections.cal.auth.auth_params.state: is set by tower-auth",
        "connections.cal.auth.auth_params.redirect_uri: is set by tower-auth (from `redirect_uri`)",
        "connections.cal.auth.auth_params.scope: is set by tower-auth (from `scopes`",
        "connections.cal.auth.extra_params.code_challenge: is set by tower-auth (PKCE",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing `{expected}` in:\n{}",
            run.stderr
        );
    }

    let valid = code_config(
        dir.path(),
        &server,
        r#"auth_params = { login_hint = "alice@example.com" }
prompt = "consent""#,
    );
    let run = tower_auth(&["-c", &valid, "config", "validate"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let show = tower_auth(&["-c", &valid, "config", "show", "cal"], &[]).await;
    assert!(
        show.stdout.contains("prompt = \"consent\""),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("auth_params = "), "{}", show.stdout);
}
