//! `tower-auth logout NAME [--user ID]`: revokes the stored refresh token (and a stored access
//! token) at the connection's `revocation_url` or its issuer's `revocation_endpoint`
//! (RFC 7009), then removes it from the token store.
//!
//! The local copy is removed even when the revocation fails; the command then warns, naming
//! the failure, and exits with [`REVOCATION_FAILED`] (3): signed out here, but the token stays
//! valid at the provider until it expires. With nothing stored it says so and exits 0. A
//! connection without a revocation endpoint is signed out locally, and the output says the
//! provider was not told (exit 0: nothing failed).

use tower_auth::{
    ErrorKind,
    config::Config,
    oauth::revocation::{RevocationOutcome, TokenRevocation},
};

use crate::diagnose::{self, Failure, Stage};

/// The exit code of a sign-out whose revocation request failed (the local copy is gone).
pub(crate) const REVOCATION_FAILED: u8 = 3;

pub(crate) async fn run(config: &Config, env: Option<&str>, name: &str, user: Option<&str>) -> u8 {
    diagnose::exit_code(logout(config, env, name, user).await)
}

async fn logout(
    config: &Config,
    env: Option<&str>,
    name: &str,
    user: Option<&str>,
) -> Result<u8, Failure> {
    let spec = diagnose::connection(config, env, name)?;
    let signed_out = spec.sign_out(user).await.map_err(|e| {
        let stage = if e.kind() == ErrorKind::Config {
            Stage::Config
        } else {
            Stage::Token
        };
        Failure::from_auth(stage, &e, spec.redactor())
    })?;
    let outcome = &signed_out.outcome;
    let whose = user.map(|u| format!(" for `{u}`")).unwrap_or_default();
    if outcome.was_empty() {
        println!(
            "nothing stored{whose} under `{}` in {}: already signed out",
            signed_out.key, signed_out.store
        );
        return Ok(0);
    }
    let mut did = Vec::new();
    let mut warnings = Vec::new();
    for (what, state) in [
        ("refresh token", &outcome.refresh_token),
        ("access token", &outcome.access_token),
    ] {
        match state {
            TokenRevocation::Revoked => did.push(format!("revoked the {what} at {}", url(outcome))),
            TokenRevocation::NotTold => did.push(format!(
                "the provider was not told about the {what} (no `revocation_url`, and no \
                 `revocation_endpoint` from an `issuer`)"
            )),
            TokenRevocation::Failed(e) => warnings.push(format!(
                "could not revoke the {what} at {}: {}",
                url(outcome),
                spec.redactor().redact(&e.message())
            )),
            _ => {}
        }
    }
    if let Some(key) = &outcome.removed_key {
        did.push(format!(
            "removed it from {} (key `{key}`)",
            signed_out.store
        ));
    }
    println!("✓ {name}{whose}  {}", did.join("; "));
    if warnings.is_empty() {
        return Ok(0);
    }
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    eprintln!(
        "warning: signed out here only: the provider may honour the token until it expires \
         (exit code {REVOCATION_FAILED})"
    );
    Ok(REVOCATION_FAILED)
}

fn url(outcome: &RevocationOutcome) -> String {
    outcome
        .revocation_url
        .as_ref()
        .map_or_else(String::new, ToString::to_string)
}
