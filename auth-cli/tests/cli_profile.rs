//! End-to-end tests of the user profile after login: `login` prints who signed in (from a
//! profile endpoint with nested paths, or from the `id_token`'s claims), two users signed in
//! to one connection each keep their own refresh token, `check --user` picks one and `check`
//! without it lists both; a missing field is a clear error that never shows the token.

mod common;

use std::path::Path;

use auth_test_support::token_server::TokenServer;
use common::{code_config, login, tower_auth, write_config};

/// An `authorization_code` connection `cal` against `server` with `profile = {profile}`.
fn config(dir: &Path, server: &TokenServer, profile: &str) -> String {
    code_config(dir, server, &format!("profile = {profile}"))
}

/// The user whose refresh token the last refresh request spent.
fn last_refresh_owner(server: &TokenServer) -> String {
    let request = server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.field("grant_type") == Some("refresh_token"))
        .expect("a refresh request");
    let refresh = request.field("refresh_token").expect("a refresh token");
    server.owner_of(refresh).expect("an owned refresh token")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_users_signed_in_each_keep_their_own_refresh_token() {
    let server = TokenServer::builder().client("cli", None).start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = format!(
        r#"{{ url = "{}", id_path = "data.user.id", email_path = "data.user.email" }}"#,
        server.profile_url()
    );
    let config = config(dir.path(), &server, &profile);

    let alice = login(&config, "cal", &["--user", "alice"]).await;
    assert_eq!(alice.code, 0, "{}", alice.all());
    assert!(
        alice
            .stdout
            .contains("Signed in as alice@example.test (alice)"),
        "{}",
        alice.all()
    );
    let bob = login(&config, "cal", &["--user", "bob"]).await;
    assert_eq!(bob.code, 0, "{}", bob.all());
    assert!(
        bob.stdout.contains("Signed in as bob@example.test (bob)"),
        "{}",
        bob.all()
    );
    for run in [&alice, &bob] {
        assert!(
            !run.all().contains("at-"),
            "no access token shown: {}",
            run.all()
        );
        assert!(
            !run.all().contains("rt-"),
            "no refresh token shown: {}",
            run.all()
        );
    }

    let ambiguous = tower_auth(&["-c", &config, "check", "cal"], &[]).await;
    assert_eq!(ambiguous.code, 1, "{}", ambiguous.all());
    let shown = ambiguous.all();
    assert!(shown.contains("alice") && shown.contains("bob"), "{shown}");
    assert!(shown.contains("--user"), "{shown}");

    for user in ["alice", "bob", "alice"] {
        let run = tower_auth(&["-c", &config, "check", "cal", "--user", user], &[]).await;
        assert_eq!(run.code, 0, "{user}: {}", run.all());
        assert_eq!(last_refresh_owner(&server), user);
    }

    let token = tower_auth(&["-c", &config, "token", "cal", "--user", "bob"], &[]).await;
    assert_eq!(token.code, 0, "{}", token.all());
    assert_eq!(last_refresh_owner(&server), "bob");

    let stranger = tower_auth(&["-c", &config, "check", "cal", "--user", "carol"], &[]).await;
    assert_eq!(stranger.code, 1, "{}", stranger.all());
    assert!(
        stranger
            .all()
            .contains("`carol` has not signed in to `cal`"),
        "{}",
        stranger.all()
    );
    assert!(stranger.all().contains("alice, bob"), "{}", stranger.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_user_is_used_without_user_and_an_id_token_names_them() {
    let server = TokenServer::builder()
        .client("cli", None)
        .id_tokens(true)
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &server, "{}");
    let run = login(&config, "cal", &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("Signed in as user@example.test (user)"),
        "{}",
        run.all()
    );
    let check = tower_auth(&["-c", &config, "check", "cal"], &[]).await;
    assert_eq!(check.code, 0, "{}", check.all());
    assert_eq!(last_refresh_owner(&server), "user");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_profile_field_is_named_and_nothing_is_stored() {
    let server = TokenServer::builder().client("cli", None).start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = format!(
        r#"{{ url = "{}", id_path = "data.user.uid" }}"#,
        server.profile_url()
    );
    let config = config(dir.path(), &server, &profile);
    let run = login(&config, "cal", &["--user", "alice"]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    let expected = format!(
        "profile: no `data.user.uid` in the answer of {}",
        server.profile_url()
    );
    assert!(run.all().contains(&expected), "{}", run.all());
    assert!(!run.all().contains("at-"), "{}", run.all());
    assert!(
        !run.all().contains("alice@example.test"),
        "no body: {}",
        run.all()
    );
    let check = tower_auth(&["-c", &config, "check", "cal"], &[]).await;
    assert_eq!(check.code, 1, "{}", check.all());
    assert!(check.all().contains("not signed in"), "{}", check.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_is_refused_on_other_grants_with_its_key_path() {
    let server = TokenServer::builder().start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.svc]
base_url = "{api}"

[connections.svc.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "client-id"
client_secret = "client-secret"
profile = {{ url = "https://user:pw@api.example.test/me" }}
"#,
            api = server.api_url(),
            token_url = server.token_url(),
        ),
    );
    let run = tower_auth(&["-c", &config, "config", "validate"], &[]).await;
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.all().contains("connections.svc.auth.profile"),
        "{}",
        run.all()
    );
}
