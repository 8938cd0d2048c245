//! URLs with a password in them (`http://user:hunter2secret@host`), configured, typed on the
//! command line or named by a discovery document: no command shows the password, and each says
//! why it refused the URL. `a_password_in_a_url_is_refused_and_never_shown` in `cli.rs` covers
//! `base_url` and `token_url` in `check`, `token`, `request` and `config`; these add `login`,
//! `auth_url`, `issuer`, `redirect_uri`, a custom request's `url`, an environment's overlay,
//! named connections, and URLs from the command line and from servers.

use std::time::Duration;

use crate::{
    common::{Run, tower_auth_within, write_config},
    leaks::Findings,
    servers::{Hostile, URL_PASSWORD},
};

const LIMIT: Duration = Duration::from_secs(60);

async fn run(config: &str, args: &[&str]) -> Run {
    let mut all = vec!["-c", config];
    all.extend(args);
    let timed = tower_auth_within(&all, &[("CLIENT_SECRET", "s3")], LIMIT).await;
    assert!(timed.elapsed < LIMIT, "{args:?} hung: {}", timed.run.all());
    timed.run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_any_configured_url_is_refused_by_every_command_and_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("code.json");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.code]
base_url = "http://127.0.0.1:1"
[connections.code.auth]
type = "oauth2"
grant = "authorization_code"
auth_url = "http://user:{URL_PASSWORD}@127.0.0.1:1/authorize"
token_url = "http://user:{URL_PASSWORD}@127.0.0.1:1/token"
redirect_uri = "http://user:{URL_PASSWORD}@127.0.0.1:8765/callback"
client_id = "c"
client_auth = "none"
token_store = "{store}"

[connections.discovered]
base_url = "http://127.0.0.1:1"
[connections.discovered.auth]
type = "oauth2"
grant = "client_credentials"
issuer = "http://user:{URL_PASSWORD}@127.0.0.1:1"
client_id = "c"
client_secret = {{ env = "CLIENT_SECRET" }}

[connections.vendor]
base_url = "http://127.0.0.1:1"
[connections.vendor.auth]
type = "custom"
request = {{ url = "http://user:{URL_PASSWORD}@127.0.0.1:1/login", json = {{ user = "me" }} }}

[connections.staged]
base_url = "http://127.0.0.1:1"
auth = {{ type = "none" }}
[connections.staged.environments.prod]
base_url = "http://user:{URL_PASSWORD}@127.0.0.1:1/"
"#,
            store = store.display(),
        ),
    );
    let mut findings = Findings::default();
    for args in [
        vec!["login", "code", "--no-browser"],
        vec!["check", "code"],
        vec!["check", "discovered", "--format", "json"],
        vec!["token", "code"],
        vec!["token", "discovered"],
        vec!["token", "vendor"],
        vec!["request", "vendor", "GET", "/"],
        vec!["--env", "prod", "request", "staged", "GET", "/"],
        vec!["--env", "prod", "check", "staged"],
        vec!["config", "show", "staged"],
        vec!["config", "show", "code", "vendor"],
        vec!["config", "validate"],
    ] {
        let run = run(&config, &args).await;
        findings.run(&args, &run, 2, &[URL_PASSWORD], &["user information"]);
    }
    findings.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_a_url_on_the_command_line_or_in_a_check_path_is_never_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let usable = dir.path().join("usable");
    let refused = dir.path().join("refused");
    std::fs::create_dir_all(&usable).expect("mkdir");
    std::fs::create_dir_all(&refused).expect("mkdir");
    let usable = write_config(
        &usable,
        r#"
[connections.api]
base_url = "http://127.0.0.1:1"
auth = { type = "none" }
"#,
    );
    // A check path that is a URL is refused when the file is read, without quoting it.
    let refused = write_config(
        &refused,
        &format!(
            r#"
[connections.api]
base_url = "http://127.0.0.1:1"
auth = {{ type = "none" }}
check = {{ path = "http://user:{URL_PASSWORD}@127.0.0.1:1/whoami" }}
"#
        ),
    );
    let mut findings = Findings::default();
    let url = format!("http://user:{URL_PASSWORD}@127.0.0.1:1/");
    let request = vec!["request", "api", "GET", url.as_str()];
    let run_ = run(&usable, &request).await;
    findings.run(
        &request,
        &run_,
        2,
        &[URL_PASSWORD],
        &["absolute URL", "***@"],
    );
    for args in [
        vec!["check", "api"],
        vec!["check", "api", "--format", "json"],
        vec!["config", "show"],
        vec!["config", "validate"],
    ] {
        let run = run(&refused, &args).await;
        findings.run(&args, &run, 2, &[URL_PASSWORD], &["check.path: is a URL"]);
    }
    findings.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_a_url_from_a_discovery_document_is_never_shown() {
    let server = Hostile::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[connections.userinfo_endpoint]
base_url = "{base}"
[connections.userinfo_endpoint.auth]
type = "oauth2"
grant = "client_credentials"
issuer = "{base}"
client_id = "c"
client_secret = {{ env = "CLIENT_SECRET" }}

[connections.userinfo_issuer]
base_url = "{base}"
[connections.userinfo_issuer.auth]
type = "oauth2"
grant = "client_credentials"
issuer = "{base}/evil"
client_id = "c"
client_secret = {{ env = "CLIENT_SECRET" }}
"#,
            base = server.url(""),
        ),
    );
    let mut findings = Findings::default();
    for (name, says) in [
        ("userinfo_endpoint", "user information"),
        ("userinfo_issuer", "issuer"),
    ] {
        for args in [
            vec!["check", name],
            vec!["check", name, "--format", "json"],
            vec!["token", name],
            vec!["request", name, "GET", "/api/json"],
        ] {
            let run = run(&config, &args).await;
            findings.run(&args, &run, 1, &[URL_PASSWORD], &[says]);
        }
    }
    findings.assert_none();
}
