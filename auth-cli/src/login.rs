//! `tower-auth login NAME [--no-browser]`: the authorization code grant with PKCE, through the
//! loopback listener on the `redirect_uri` port, or for a `device_code` connection the device
//! flow ([`device`]); the refresh token goes to the connection's `token_store`, so later
//! `check`, `token` and `request` use it.

use std::{
    io::{IsTerminal, Write},
    time::Duration,
};

use tower_auth::config::{AuthSpec, Config, ConnectionSpec};

use crate::{
    check::human,
    client,
    diagnose::{self, Failure, Stage},
};

mod device;

/// How long the browser has to come back to the redirect URI.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) async fn run(
    config: &Config,
    env: Option<&str>,
    name: &str,
    no_browser: bool,
    user: Option<&str>,
) -> u8 {
    diagnose::exit_code(login(config, env, name, no_browser, user).await.map(|()| 0))
}

async fn login(
    config: &Config,
    env: Option<&str>,
    name: &str,
    no_browser: bool,
    user: Option<&str>,
) -> Result<(), Failure> {
    let mut spec = diagnose::connection(config, env, name)?;
    if matches!(&spec.auth, AuthSpec::OAuth2(o) if o.grant == "device_code") {
        return device::login(spec, name, user).await;
    }
    if let (Some(user), AuthSpec::OAuth2(o)) = (user, &mut spec.auth)
        && !o.auth_params.contains_key("login_hint")
        && !o.extra_params.contains_key("login_hint")
    {
        o.auth_params
            .insert("login_hint".to_owned(), user.to_owned());
    }
    // With a profile the sign-in lands under a key of its own until the profile says whose
    // it is: another user's stored sign-in is never overwritten.
    let pending = format!("{name}#signing-in");
    if spec.profile().is_some() {
        spec = spec.with_store_key(pending.clone());
    }
    let layer = spec
        .authorization_code_layer()
        .await
        .map_err(|e| diagnose::build_failure(&e))?;
    let open = |url: &tower_auth::oauth::Url| {
        // On its own line so scripts (and tests) can pick it up.
        println!("Open this URL to sign in: {url}");
        let _ = std::io::stdout().flush();
        if !no_browser {
            open_browser(url.as_str());
        }
    };
    let spinner = Spinner::start("waiting for the browser to come back…");
    let result = layer.login(open, LOGIN_TIMEOUT).await;
    drop(spinner);
    let token = result.map_err(|e| Failure::from_auth(Stage::Token, &e, spec.redactor()))?;
    signed_in(&spec, name, &token, layer.id_token(), &pending, user).await
}

/// The end of a sign-in: with a profile, who signed in and where the sign-in is filed (it was
/// stored under `pending`); then what was stored, and a warning without a refresh token.
async fn signed_in(
    spec: &ConnectionSpec,
    name: &str,
    token: &tower_auth::AccessToken,
    id_token: Option<tower_auth::SecretString>,
    pending: &str,
    user: Option<&str>,
) -> Result<(), Failure> {
    let expires = token
        .expires_at()
        .map(|at| {
            format!(
                ", token expires in {}",
                human(at.saturating_duration_since(tokio::time::Instant::now()))
            )
        })
        .unwrap_or_default();
    let stored = if token.refresh_token().is_some() {
        "refresh token stored"
    } else {
        "no refresh token stored"
    };
    if spec.profile().is_some() {
        if let Some(id_token) = &id_token {
            spec.redactor()
                .add(tower_auth::ExposeSecret::expose_secret(id_token));
        }
        let profile = fetch_profile(spec, token, id_token.as_ref()).await;
        let profile = match profile {
            Ok(profile) => profile,
            Err(failure) => {
                // Nobody's sign-in: not kept where a later `check` could pick it up unnamed.
                let _ = spec.forget_sign_in(pending).await;
                return Err(failure);
            }
        };
        spec.save_sign_in(pending, &profile)
            .await
            .map_err(|e| Failure::from_auth(Stage::SignIn, &e, spec.redactor()))?;
        println!("Signed in as {profile}");
        if let Some(user) = user.filter(|u| *u != profile.id) {
            eprintln!(
                "warning: asked to sign in `{user}`, but the provider signed in `{}`; use \
                 `--user {}` with check, token and request",
                profile.id, profile.id
            );
        }
    }
    println!("✓ {name}  signed in ({stored}{expires})");
    if token.refresh_token().is_none() {
        eprintln!("warning: {}", no_refresh_token(spec));
    }
    Ok(())
}

/// Who signed in: `profile.url` through the CLI's client (the connection's TLS settings,
/// within its timeout), else the `id_token`'s claims.
async fn fetch_profile(
    spec: &ConnectionSpec,
    token: &tower_auth::AccessToken,
    id_token: Option<&tower_auth::SecretString>,
) -> Result<tower_auth::oauth::profile::Profile, Failure> {
    let shared = client::http_client();
    let http = client::client_for(spec, &shared)
        .map_err(|e| Failure::new(Stage::Config, e, "fix the connection's `tls` settings"))?;
    let http =
        tower_auth::oauth::TokenHttpClient::from_service(http).timeout(client::timeout(spec));
    spec.fetch_profile(token, id_token, Some(http))
        .await
        .map_err(|e| {
            let mut failure = Failure::from_auth(Stage::SignIn, &e, spec.redactor());
            failure.hint = format!(
                "check `connections.{}.auth.profile` (its `url`, `id_path` and `email_path`) \
                 against what the provider answers",
                spec.name
            );
            failure
        })
}

/// One line for a sign-in that returned no refresh token: the connection stops working when
/// this token expires, and the settings that ask the provider for one, less those already set.
fn no_refresh_token(spec: &ConnectionSpec) -> String {
    let name = &spec.name;
    let mut fixes = Vec::new();
    if let AuthSpec::OAuth2(o) = &spec.auth {
        // Only the authorization code grant has an authorization request to add these to.
        let code_grant = o.grant == "authorization_code";
        if code_grant && !o.offline_access {
            fixes.push("`offline_access = true` (Google-style providers)");
        }
        if code_grant && o.prompt.as_deref() != Some("consent") {
            fixes.push("`prompt = \"consent\"`");
        }
        let mut scopes = o.scopes.iter().flat_map(|s| s.split([' ', ',']));
        if !scopes.any(|s| s == "offline_access") {
            fixes.push("`offline_access` in `scopes` (OpenID providers)");
        }
    }
    let fix = if fixes.is_empty() {
        "offline access, `prompt = \"consent\"` and the `offline_access` scope are all set: \
         check at the provider that this client may get refresh tokens"
            .to_owned()
    } else {
        format!("add {} to connections.{name}.auth", fixes.join(" or "))
    };
    format!(
        "the provider returned no refresh token, so `{name}` stops working when this token \
         expires; {fix}, then run `tower-auth login {name}` again"
    )
}

/// Best effort: the URL is printed anyway.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// A spinner with `message` on stderr while it lives, when stderr is a terminal.
struct Spinner(Option<tokio::task::JoinHandle<()>>);

impl Spinner {
    fn start(message: &'static str) -> Self {
        Self(
            std::io::stderr()
                .is_terminal()
                .then(|| tokio::spawn(spin(message))),
        )
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(spinner) = self.0.take() {
            spinner.abort();
            eprint!("\r\x1b[K");
        }
    }
}

async fn spin(message: &str) {
    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    for frame in frames.iter().cycle() {
        eprint!("\r{frame} {message}");
        let _ = std::io::stderr().flush();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
