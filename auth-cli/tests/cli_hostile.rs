//! End-to-end tests of the `tower-auth` binary against hostile servers (issue 19): an API and
//! token endpoints that echo back the credentials they received, in a `WWW-Authenticate`
//! challenge, a JSON body, an HTML page of the request or a cut excerpt, and configured URLs
//! that carry a password.
//!
//! They prove redaction *by value*: every secret is one the shape heuristic (runs of 24 or more
//! token characters with a digit) does not catch, and no run may show it in any encoding
//! (form-urlencoded, percent-encoded, JSON-escaped, the Base64 of a Basic `id:secret`) nor any 8
//! characters of it, in `check` (text and JSON), `token`, `request` (with and without `-i`),
//! `login` and `config`. Each run must still say what went wrong, so no assertion holds
//! vacuously. Every run is bounded by [`common::tower_auth_within`].

mod common;

#[path = "cli_hostile/leaks.rs"]
mod leaks;
#[path = "cli_hostile/servers.rs"]
mod servers;
#[path = "cli_hostile/urls.rs"]
mod urls;

use std::time::Duration;

use common::{Run, tower_auth_within, write_config};
use leaks::{Findings, assert_no_secret, unsaid};
use servers::{ACCESS_TOKEN, Hostile};

/// How long any run may take before the harness kills it: generous, so only a hang reaches it.
const LIMIT: Duration = Duration::from_secs(60);

const CLIENT_ID: &str = "c1";
const CLIENT_SECRET: &str = "hunter2pass";
/// `c1:hunter2pass`, whose Base64 a Basic header carries.
const CLIENT_PAIR: &str = "c1:hunter2pass";
const PASSWORD: &str = "opensesame-pw";
/// A password whose form encoding (`open+sesame%26more`) differs from its value.
const FORM_PASSWORD: &str = "open sesame&more";
const API_KEY: &str = "keyofmine";
const BEARER: &str = "tok-bearer-short";
const BASIC_USER: &str = "alice";
const BASIC_PASSWORD: &str = "basicpass42";
const BASIC_PAIR: &str = "alice:basicpass42";
const REFRESH_TOKEN: &str = "refresh-me-please";
/// A passphrase whose JSON escaping (`say \"friend\"\\enter`) differs from its value.
const PASSPHRASE: &str = r#"say "friend"\enter"#;

/// 103 characters without a digit: prose to the heuristic, and longer than what a cut leaves.
fn long_secret() -> String {
    ["correcthorsebatterystaple"; 4].join("-")
}

/// Every secret of these tests, as their configs read them.
fn envs(long: &str) -> Vec<(&'static str, String)> {
    [
        ("CLIENT_SECRET", CLIENT_SECRET),
        ("PASSWORD", PASSWORD),
        ("FORM_PASSWORD", FORM_PASSWORD),
        ("API_KEY", API_KEY),
        ("BEARER", BEARER),
        ("BASIC_PASSWORD", BASIC_PASSWORD),
        ("REFRESH_TOKEN", REFRESH_TOKEN),
        ("LONG_SECRET", long),
        ("PASSPHRASE", PASSPHRASE),
    ]
    .into_iter()
    .map(|(name, value)| (name, value.to_owned()))
    .collect()
}

/// One connection per auth method against `server`, checking `/api/json` (the long bearer token
/// `/api/padded`), and the token endpoints' connections.
fn hostile_config(dir: &tempfile::TempDir, server: &Hostile) -> String {
    let base = server.url("");
    let oauth = |name: &str, path: &str, extra: &str| {
        format!(
            r#"
[connections.{name}]
base_url = "{base}"
check = {{ path = "/api/json" }}
[connections.{name}.auth]
type = "oauth2"
token_url = "{base}{path}"
client_id = "{CLIENT_ID}"
{extra}
"#
        )
    };
    let secret = r#"client_secret = { env = "CLIENT_SECRET" }"#;
    let mut config = format!(
        r#"
[connections.bearer]
base_url = "{base}"
check = {{ path = "/api/json" }}
auth = {{ type = "bearer", token = {{ env = "BEARER" }} }}

[connections.bearer_forbidden]
base_url = "{base}"
check = {{ path = "/api/forbidden" }}
auth = {{ type = "bearer", token = {{ env = "BEARER" }} }}

[connections.long_bearer]
base_url = "{base}"
check = {{ path = "/api/padded" }}
auth = {{ type = "bearer", token = {{ env = "LONG_SECRET" }} }}

[connections.key_header]
base_url = "{base}"
check = {{ path = "/api/json" }}
auth = {{ type = "api_key", key_name = "X-API-Key", key_value = {{ env = "API_KEY" }} }}

[connections.key_query]
base_url = "{base}"
check = {{ path = "/api/json" }}
auth = {{ type = "api_key", key_name = "api_key", key_value = {{ env = "API_KEY" }}, location = "query" }}

[connections.basic]
base_url = "{base}"
check = {{ path = "/api/json" }}
auth = {{ type = "basic", username = "{BASIC_USER}", password = {{ env = "BASIC_PASSWORD" }} }}

[connections.custom_text]
base_url = "{base}"
check = {{ path = "/api/json" }}
[connections.custom_text.auth]
type = "custom"
request = {{ url = "{base}/custom/text", json = {{ username = "bot", password = {{ env = "LONG_SECRET" }} }} }}

[connections.custom_json]
base_url = "{base}"
check = {{ path = "/api/json" }}
[connections.custom_json.auth]
type = "custom"
request = {{ url = "{base}/custom/json", json = {{ username = "bot", password = {{ env = "LONG_SECRET" }} }} }}

[connections.custom_echo]
base_url = "{base}"
check = {{ path = "/api/json" }}
[connections.custom_echo.auth]
type = "custom"
request = {{ url = "{base}/custom/echo", json = {{ user = "bot", passphrase = {{ env = "PASSPHRASE" }} }} }}
"#
    );
    for section in [
        oauth(
            "oauth",
            "/token/ok",
            &format!("grant = \"client_credentials\"\n{secret}"),
        ),
        oauth(
            "client",
            "/token/json",
            &format!("grant = \"client_credentials\"\n{secret}"),
        ),
        oauth(
            "password",
            "/token/json",
            &format!(
                "grant = \"password\"\nusername = \"{BASIC_USER}\"\n\
                 password = {{ env = \"PASSWORD\" }}\n{secret}"
            ),
        ),
        oauth(
            "refresh",
            "/token/json",
            &format!(
                "grant = \"refresh_token\"\nrefresh_token = {{ env = \"REFRESH_TOKEN\" }}\n{secret}"
            ),
        ),
        oauth(
            "html_basic",
            "/token/html",
            &format!("grant = \"client_credentials\"\nclient_auth = \"basic\"\n{secret}"),
        ),
        oauth(
            "html_password",
            "/token/html",
            &format!(
                "grant = \"password\"\nclient_auth = \"none\"\nusername = \"{BASIC_USER}\"\n\
                 password = {{ env = \"FORM_PASSWORD\" }}"
            ),
        ),
    ] {
        config.push_str(&section);
    }
    write_config(dir.path(), &config)
}

/// The servers, a config for them, and the secrets' environment.
struct Setup {
    _server: Hostile,
    _dir: tempfile::TempDir,
    config: String,
    envs: Vec<(&'static str, String)>,
}

impl Setup {
    async fn new() -> Setup {
        let server = Hostile::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = hostile_config(&dir, &server);
        Setup {
            _server: server,
            _dir: dir,
            config,
            envs: envs(&long_secret()),
        }
    }

    /// Runs `tower-auth -c CONFIG args…`, never longer than [`LIMIT`].
    async fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["-c", self.config.as_str()];
        all.extend(args);
        let envs: Vec<(&str, &str)> = self.envs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let timed = tower_auth_within(&all, &envs, LIMIT).await;
        assert!(timed.elapsed < LIMIT, "{args:?} hung: {}", timed.run.all());
        timed.run
    }

    /// Every command that shows the API's answer on connection `name`: `check` (text and JSON)
    /// and `request` on the JSON and the HTML route, with and without `-i`. Each fails with the
    /// 401, says `invalid_token` and shows `[redacted]` where the credential was.
    async fn api_runs(&self, name: &str, path: &str, secrets: &[&str]) {
        let html = path.replace("json", "html");
        let mut findings = Findings::default();
        let mut commands = vec![
            vec!["check", name],
            vec!["check", name, "--format", "json"],
            vec!["request", name, "GET", path],
            vec!["request", name, "GET", path, "-i"],
        ];
        if html != path {
            commands.push(vec!["request", name, "GET", &html]);
            commands.push(vec!["request", name, "GET", &html, "-i"]);
        }
        for args in commands {
            let run = self.run(&args).await;
            let says = ["401", "invalid_token", "[redacted]"];
            findings.run(&args, &run, 1, secrets, &says);
        }
        findings.assert_none();
    }

    /// `check` (text and JSON) and `token` on connection `name`, whose token endpoint refuses;
    /// then `request`, which fetches the token inside the stack.
    async fn token_runs(&self, name: &str, secrets: &[&str], says: &[&str]) {
        let mut findings = Findings::default();
        for args in [
            vec!["check", name],
            vec!["check", name, "--format", "json"],
            vec!["token", name],
            vec!["request", name, "GET", "/api/json"],
        ] {
            let run = self.run(&args).await;
            findings.run(&args, &run, 1, secrets, says);
        }
        findings.assert_none();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_echoed_by_the_api_is_never_shown() {
    let setup = Setup::new().await;
    setup.api_runs("bearer", "/api/json", &[BEARER]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_header_echoed_by_the_api_is_never_shown() {
    let setup = Setup::new().await;
    setup.api_runs("key_header", "/api/json", &[API_KEY]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_query_parameter_echoed_by_the_api_is_never_shown() {
    let setup = Setup::new().await;
    setup.api_runs("key_query", "/api/json", &[API_KEY]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_credential_echoed_by_the_api_is_never_shown_decoded_or_encoded() {
    let setup = Setup::new().await;
    setup
        .api_runs("basic", "/api/json", &[BASIC_PASSWORD, BASIC_PAIR])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_access_token_echoed_by_the_api_is_never_shown() {
    let setup = Setup::new().await;
    setup
        .api_runs(
            "oauth",
            "/api/json",
            &[ACCESS_TOKEN, CLIENT_SECRET, CLIENT_PAIR],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_token_echoed_across_the_challenge_cut_leaves_no_fragment() {
    let setup = Setup::new().await;
    let long = long_secret();
    // The challenge's description is cut at 200 characters, inside the echoed token.
    setup.api_runs("long_bearer", "/api/padded", &[&long]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_challenge_echoing_the_token_in_realm_and_scope_never_shows_it() {
    let setup = Setup::new().await;
    let mut findings = Findings::default();
    for args in [
        vec!["check", "bearer_forbidden"],
        vec!["check", "bearer_forbidden", "--format", "json"],
        vec!["request", "bearer_forbidden", "GET", "/api/forbidden"],
        vec!["request", "bearer_forbidden", "GET", "/api/forbidden", "-i"],
    ] {
        let run = setup.run(&args).await;
        let says = ["403", "insufficient_scope", "[redacted]"];
        findings.run(&args, &run, 1, &[BEARER], &says);
    }
    findings.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_echoed_by_the_token_endpoint_is_never_shown() {
    let setup = Setup::new().await;
    let says = ["invalid_client", "[redacted]"];
    setup
        .token_runs("client", &[CLIENT_SECRET, CLIENT_PAIR], &says)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_echoed_by_the_token_endpoint_is_never_shown() {
    let setup = Setup::new().await;
    let says = ["invalid_grant", "[redacted]"];
    setup
        .token_runs("password", &[PASSWORD, CLIENT_SECRET, CLIENT_PAIR], &says)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_echoed_by_the_token_endpoint_is_never_shown() {
    let setup = Setup::new().await;
    let says = ["invalid_grant", "[redacted]"];
    setup
        .token_runs(
            "refresh",
            &[REFRESH_TOKEN, CLIENT_SECRET, CLIENT_PAIR],
            &says,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_error_page_echoing_the_basic_header_never_shows_its_base64() {
    let setup = Setup::new().await;
    let says = ["400", "[redacted]"];
    setup
        .token_runs("html_basic", &[CLIENT_SECRET, CLIENT_PAIR], &says)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_error_page_echoing_the_form_never_shows_the_password_or_its_encoding() {
    let setup = Setup::new().await;
    let says = ["400", "[redacted]"];
    setup
        .token_runs("html_password", &[FORM_PASSWORD], &says)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_request_secret_echoed_across_the_excerpt_cut_leaves_no_fragment() {
    let setup = Setup::new().await;
    let long = long_secret();
    // A plain-text answer, shown as a 120-character excerpt cut inside the echoed secret.
    setup
        .token_runs("custom_text", &[&long], &["400", "[redacted]"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_request_secret_echoed_across_the_description_cut_leaves_no_fragment() {
    let setup = Setup::new().await;
    let long = long_secret();
    // An `error_description` shown cut at 200 characters, inside the echoed secret.
    setup
        .token_runs("custom_json", &[&long], &["access_denied", "[redacted]"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_request_secret_echoed_json_escaped_is_never_shown() {
    let setup = Setup::new().await;
    // The login echoes its raw JSON body: the passphrase appears only in its escaped form.
    setup
        .token_runs("custom_echo", &[PASSPHRASE], &["400", "[redacted]"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_of_every_connection_at_once_shows_no_secret() {
    let setup = Setup::new().await;
    let long = long_secret();
    let secrets = [
        BEARER,
        API_KEY,
        BASIC_PASSWORD,
        BASIC_PAIR,
        ACCESS_TOKEN,
        CLIENT_SECRET,
        CLIENT_PAIR,
        PASSWORD,
        FORM_PASSWORD,
        REFRESH_TOKEN,
        PASSPHRASE,
        &long,
    ];
    for format in ["text", "json"] {
        let run = setup.run(&["check", "--format", format]).await;
        assert_eq!(run.code, 1, "{}", run.all());
        assert_no_secret(&run, &secrets);
        let unsaid = unsaid(&run, &["invalid_token", "invalid_client", "invalid_grant"]);
        assert!(unsaid.is_empty(), "{unsaid:?}: {}", run.all());
    }
}
