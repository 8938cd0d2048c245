//! The token exchange settings of an `oauth2` connection with `grant = "token_exchange"`
//! (RFC 8693): the subject token (a secret reference; a `{ file = … }` one is read anew for
//! every exchange, so a rotating Kubernetes service-account token is picked up), the actor
//! token, and the token types. `audience`, `resource` and `scopes` are the table's own.
//!
//! ```toml
//! [connections.ledger.auth]
//! type = "oauth2"
//! grant = "token_exchange"
//! token_url = "https://sts.example.com/token"
//! client_id = "billing"
//! client_secret = { env = "BILLING_SECRET" }
//! subject_token = { file = "/var/run/secrets/tokens/sts-token" }
//! subject_token_type = "jwt"          # or the full URN; default access_token
//! audience = "https://ledger.example.com"
//! ```

use super::{
    read::{Reader, Table},
    secret::SecretRef,
};

/// The keys of an `oauth2` auth table that only token exchange reads.
pub(crate) const KEYS: [&str; 5] = [
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
];

/// The short names of RFC 8693 §3's token types, accepted for the full URNs.
const SHORT_TYPES: [&str; 6] = [
    "access_token",
    "refresh_token",
    "id_token",
    "jwt",
    "saml1",
    "saml2",
];

/// `grant = "token_exchange"`: what is exchanged, and for what.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenExchangeSpec {
    /// The subject token; a file reference is read anew for every exchange.
    pub subject_token: SecretRef,
    /// Its type (a URN); default `urn:ietf:params:oauth:token-type:access_token`.
    pub subject_token_type: String,
    /// The actor token (delegation), if any.
    pub actor_token: Option<SecretRef>,
    /// Its type (a URN); default as for the subject.
    pub actor_token_type: String,
    /// The `requested_token_type`, if set.
    pub requested_token_type: Option<String>,
}

/// Reads the token exchange keys of `t` for `grant` (`None` when the grant is another one, or
/// on a problem, which is reported). On another grant they are errors: nothing would send them.
pub(crate) fn read(
    r: &mut Reader<'_>,
    t: &Table<'_>,
    grant: Option<&str>,
) -> Option<TokenExchangeSpec> {
    match grant {
        Some("token_exchange") => {}
        Some(other) => {
            for key in KEYS.into_iter().filter(|key| t.get(key).is_some()) {
                r.problems.error(
                    &t.key_path(key),
                    format!(
                        "only the token_exchange grant sends it (this connection's grant is \
                         `{other}`); remove it"
                    ),
                );
            }
            return None;
        }
        None => return None,
    }
    let subject_token = r.secret(t, "subject_token", false);
    if t.get("subject_token").is_none() {
        r.problems.error(
            &t.key_path("subject_token"),
            "missing (the token_exchange grant exchanges it: e.g. `{ file = \"/var/run/secrets/\
             tokens/token\" }`)",
        );
    }
    let actor_token = r.secret(t, "actor_token", false);
    if t.get("actor_token_type").is_some() && t.get("actor_token").is_none() {
        r.problems.error(
            &t.key_path("actor_token_type"),
            "is set without `actor_token`; remove it or give the actor token",
        );
    }
    let subject_token_type = token_type(r, t, "subject_token_type");
    let actor_token_type = token_type(r, t, "actor_token_type");
    let requested_token_type = token_type(r, t, "requested_token_type");
    Some(TokenExchangeSpec {
        subject_token: subject_token?,
        subject_token_type: subject_token_type.unwrap_or_else(|| urn("access_token")),
        actor_token,
        actor_token_type: actor_token_type.unwrap_or_else(|| urn("access_token")),
        requested_token_type,
    })
}

fn urn(short: &str) -> String {
    format!("urn:ietf:params:oauth:token-type:{short}")
}

/// A token type: a short name of RFC 8693 §3 (`jwt`, `access_token`, …) or a URI.
fn token_type(r: &mut Reader<'_>, t: &Table<'_>, key: &str) -> Option<String> {
    let value = r.string(t, key)?;
    let value = value.trim();
    if SHORT_TYPES.contains(&value) {
        return Some(urn(value));
    }
    if value.contains(':') && !value.contains(char::is_whitespace) {
        return Some(value.to_owned());
    }
    r.problems.error(
        &t.key_path(key),
        format!(
            "`{}` is not a token type (one of {}, or a URI such as \
             urn:ietf:params:oauth:token-type:jwt)",
            value.escape_debug(),
            SHORT_TYPES.join(", ")
        ),
    );
    None
}
