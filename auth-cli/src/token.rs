//! `tower-auth token NAME [--show]`: obtain a token and describe it (or print it for scripts).

use tower_auth::{ExposeSecret, config::Config, redact};

use crate::{
    check::{describe, human},
    client,
    diagnose::{self, Failure, Stage},
};

pub(crate) async fn run(
    config: &Config,
    env: Option<&str>,
    name: &str,
    show: bool,
    who: diagnose::Who<'_>,
) -> u8 {
    diagnose::exit_code(obtain(config, env, name, show, who).await.map(|()| 0))
}

async fn obtain(
    config: &Config,
    env: Option<&str>,
    name: &str,
    show: bool,
    who: diagnose::Who<'_>,
) -> Result<(), Failure> {
    let spec = diagnose::connection_as(config, env, name, who).await?;
    let layer = spec.layer().map_err(|e| diagnose::build_failure(&e))?;
    let Some(source) = layer.token_source() else {
        return Err(Failure::new(
            Stage::Config,
            format!(
                "connection `{name}` uses {}, which has no token",
                describe(&spec)
            ),
            "`token` works for oauth2, jwt_bearer and custom connections; use `check` or \
             `request` for the others",
        ));
    };
    let token = client::token(&spec, source).await?;
    if show {
        // Explicitly asked for: the raw token alone, so scripts can capture it.
        println!("{}", token.secret().expose_secret());
        return Ok(());
    }
    // The type and scopes are the server's words: held secrets and token-like runs are cut.
    let server_text = |text: &str| redact::shown(&spec.redactor().redact(text), 1000);
    println!("connection: {name}");
    println!("type:       {}", server_text(token.token_type()));
    match token.expires_at() {
        Some(at) => println!(
            "expires in: {}",
            human(at.saturating_duration_since(tokio::time::Instant::now()))
        ),
        None => println!("expires in: unknown (no expires_in)"),
    }
    if token.scopes().is_empty() {
        println!("scopes:     (not reported)");
    } else {
        println!("scopes:     {}", server_text(&token.scopes().join(" ")));
    }
    println!(
        "refresh:    {}",
        if token.refresh_token().is_some() {
            "yes"
        } else {
            "no"
        }
    );
    Ok(())
}
