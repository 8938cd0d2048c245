//! `tower-auth login NAME [--no-browser]`: the authorization code grant with PKCE, through the
//! loopback listener on the `redirect_uri` port; the refresh token goes to the connection's
//! `token_store`, so later `check`, `token` and `request` use it.

use std::{
    io::{IsTerminal, Write},
    time::Duration,
};

use tower_auth::config::Config;

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
        "no refresh token returned: sign in again when the token expires (request `offline_access` or `access_type=offline`)"
    };
    println!("✓ {name}  signed in ({stored}{expires})");
    Ok(())
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
