//! `tower-auth login NAME [--no-browser]`: the authorization code grant with PKCE, through the
//! loopback listener on the `redirect_uri` port; the refresh token goes to the connection's
//! `token_store`, so later `check`, `token` and `request` use it.

use std::{
    io::{IsTerminal, Write},
    time::Duration,
};

use tower_auth::config::{AuthSpec, Config, ConnectionSpec};

use crate::{
    check::human,
    diagnose::{self, Failure, Stage},
};

/// How long the browser has to come back to the redirect URI.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) async fn run(config: &Config, env: Option<&str>, name: &str, no_browser: bool) -> u8 {
    diagnose::exit_code(login(config, env, name, no_browser).await.map(|()| 0))
}

async fn login(
    config: &Config,
    env: Option<&str>,
    name: &str,
    no_browser: bool,
) -> Result<(), Failure> {
    let spec = diagnose::connection(config, env, name)?;
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
    let spinner = std::io::stderr()
        .is_terminal()
        .then(|| tokio::spawn(spin()));
    let result = layer.login(open, LOGIN_TIMEOUT).await;
    if let Some(spinner) = spinner {
        spinner.abort();
        eprint!("\r\x1b[K");
    }
    let token = result.map_err(|e| Failure::from_auth(Stage::Token, &e, spec.redactor()))?;
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
    println!("✓ {name}  signed in ({stored}{expires})");
    if token.refresh_token().is_none() {
        eprintln!("warning: {}", no_refresh_token(&spec));
    }
    Ok(())
}

/// One line for a sign-in that returned no refresh token: the connection stops working when
/// this token expires, and the settings that ask the provider for one, less those already set.
fn no_refresh_token(spec: &ConnectionSpec) -> String {
    let name = &spec.name;
    let mut fixes = Vec::new();
    if let AuthSpec::OAuth2(o) = &spec.auth {
        if !o.offline_access {
            fixes.push("`offline_access = true` (Google-style providers)");
        }
        if o.prompt.as_deref() != Some("consent") {
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

async fn spin() {
    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    for frame in frames.iter().cycle() {
        eprint!("\r{frame} waiting for the browser to come back…");
        let _ = std::io::stderr().flush();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
