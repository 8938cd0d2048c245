//! `grant = "token_exchange"`: the subject and actor tokens of the configuration as
//! [`SubjectToken`]s; a `{ file = … }` reference is read anew for every exchange.

use auth_oauth::{OAuth2Layer, OAuth2LayerBuilder, grant::SubjectToken, grant::TokenExchange};

use super::{ConfigError, OAuth2Spec, Resolver, SecretRef};

/// The token exchange builder of `o` at `token_url`, before the settings every grant shares.
pub(super) fn builder(
    o: &OAuth2Spec,
    r: &Resolver,
    token_url: String,
) -> Result<OAuth2LayerBuilder<TokenExchange>, ConfigError> {
    let x = o.exchange.as_ref().ok_or_else(|| {
        r.problem(
            "subject_token",
            "missing (the token_exchange grant exchanges it)",
        )
    })?;
    let subject = subject_token(r, "subject_token", &x.subject_token)?;
    let mut builder = OAuth2Layer::token_exchange(token_url, o.client_id.clone(), subject)
        .subject_token_type(x.subject_token_type.clone());
    if let Some(actor) = &x.actor_token {
        builder = builder.actor_token(
            subject_token(r, "actor_token", actor)?,
            x.actor_token_type.clone(),
        );
    }
    if let Some(requested) = &x.requested_token_type {
        builder = builder.requested_token_type(requested.clone());
    }
    Ok(builder)
}

/// A file reference stays a file (read at each exchange: it rotates); the value is read now
/// all the same, so a missing or empty file is a problem at `key` when the connection is
/// built, and the value joins the redactor.
fn subject_token(r: &Resolver, key: &str, secret: &SecretRef) -> Result<SubjectToken, ConfigError> {
    let value = r.secret(key, secret)?;
    Ok(match secret {
        SecretRef::File(path) => SubjectToken::file(path.clone()),
        _ => SubjectToken::fixed(value),
    })
}
