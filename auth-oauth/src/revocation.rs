//! Token revocation (RFC 7009): telling the authorization server a refresh or access token is
//! no longer needed, so it stops honouring it (sign-out).
//!
//! [`Revocation`] posts `token` and `token_type_hint` to the revocation endpoint with the same
//! client authentication as the token endpoint (it shares the [`TokenEndpoint`]'s client, HTTP
//! client, limits and redactor). [`revoke_stored`] is a whole sign-out: revoke the refresh
//! token stored under a key (and an access token still held), then delete the stored record
//! whatever the server said; the [`RevocationOutcome`] says what was revoked, what failed and
//! that the local copy is gone. [`OAuth2Layer::revoke`](crate::OAuth2Layer::revoke) does this
//! for a layer.
//!
//! ```
//! use auth_oauth::{TokenEndpoint, revocation::{Revocation, TokenTypeHint}};
//! # async fn run() -> Result<(), auth_core::AuthError> {
//! let endpoint = TokenEndpoint::builder("https://auth.example.com/token", "my-client")
//!     .client_secret("s3cr3t")
//!     .build()?;
//! let revocation = Revocation::new("https://auth.example.com/revoke", endpoint)?;
//! revocation
//!     .revoke(&"the-refresh-token".into(), TokenTypeHint::RefreshToken)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The server answers 200 for a token it does not know (RFC 7009 §2.2): that is success.

use std::fmt;

use auth_core::{AccessToken, AuthError, ErrorKind, ExposeSecret, SecretString, TokenStore};
use http::StatusCode;
use serde_json::Value;

use crate::{TokenEndpoint, Url, endpoint::parse_url, http_client::Peer};

/// Which kind of token is revoked: the `token_type_hint` (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenTypeHint {
    /// `refresh_token`
    RefreshToken,
    /// `access_token`
    AccessToken,
}

impl TokenTypeHint {
    /// The hint as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenTypeHint::RefreshToken => "refresh_token",
            TokenTypeHint::AccessToken => "access_token",
        }
    }
}

/// A revocation endpoint and the client that talks to it; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Revocation {
    url: Url,
    endpoint: TokenEndpoint,
}

impl Revocation {
    /// Revocation at `revocation_url`, authenticating the client as `endpoint` does. Fails
    /// with a config error naming `revocation_url` for a bad URL (or plain `http://` off
    /// loopback unless the endpoint's HTTP client allows it).
    pub fn new(
        revocation_url: impl AsRef<str>,
        endpoint: TokenEndpoint,
    ) -> Result<Self, AuthError> {
        let url = parse_url("revocation_url", revocation_url.as_ref())?;
        endpoint.http_client().check_url(&url, "revocation_url")?;
        Ok(Self { url, endpoint })
    }

    /// The revocation URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Revokes `token`. `Ok` when the server answered 200 (also for a token it did not know);
    /// otherwise the error: the provider's code (`unsupported_token_type`, `invalid_client`,
    /// …) when it sent one, [`ErrorKind::TokenEndpoint`] for a 5xx, transport errors and
    /// timeouts as for token requests. Never the token in an error.
    pub async fn revoke(&self, token: &SecretString, hint: TokenTypeHint) -> Result<(), AuthError> {
        let client = self.endpoint.client_identity();
        let (method, _) = client.method();
        // Every field but the hint is a secret (the token, the client's credentials), so all
        // are redacted where the server echoes them.
        let (request, redactor) =
            self.endpoint
                .form_post(&self.url, "revocation request", |form, headers| {
                    form.append_pair("token", token.expose_secret());
                    form.append_pair("token_type_hint", hint.as_str());
                    client.apply(method, headers, form)
                })?;
        let response = self
            .endpoint
            .http_client()
            .send_to(request, Peer::REVOCATION)
            .await
            .map_err(|e| e.redact(&redactor))?;
        if response.status() == StatusCode::OK {
            return Ok(());
        }
        Err(refusal(response.status(), response.body()).redact(&redactor))
    }
}

/// The error of a revocation answer other than 200.
fn refusal(status: StatusCode, body: &[u8]) -> AuthError {
    let object = serde_json::from_slice::<Value>(body).ok();
    let code = object
        .as_ref()
        .and_then(|o| o.get("error"))
        .and_then(Value::as_str);
    if let Some(code) = code {
        let description = object
            .as_ref()
            .and_then(|o| o.get("error_description"))
            .and_then(Value::as_str);
        return AuthError::from_oauth(code, description, Some(status))
            .with_detail("the revocation endpoint refused the token");
    }
    let kind = if status == StatusCode::UNAUTHORIZED {
        ErrorKind::InvalidClient
    } else {
        ErrorKind::TokenEndpoint
    };
    AuthError::new(
        kind,
        format!(
            "the revocation endpoint answered HTTP {} without an OAuth `error`",
            status.as_u16()
        ),
    )
    .with_status(status)
}

/// What happened to one token in a sign-out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TokenRevocation {
    /// There was no such token to revoke.
    NotHeld,
    /// The server revoked it (or did not know it, RFC 7009 §2.2).
    Revoked,
    /// No revocation endpoint is configured: the server was not told.
    NotTold,
    /// The revocation request failed; the local copy was removed anyway.
    Failed(AuthError),
}

impl TokenRevocation {
    /// Whether the revocation request failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, TokenRevocation::Failed(_))
    }
}

/// What a sign-out did: per token, and whether a stored record was removed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RevocationOutcome {
    /// Where the tokens were revoked; `None` when no revocation endpoint is configured.
    pub revocation_url: Option<Url>,
    /// The refresh token.
    pub refresh_token: TokenRevocation,
    /// The access token (cached, or stored with the refresh token).
    pub access_token: TokenRevocation,
    /// The store key whose record was removed, when one was stored.
    pub removed_key: Option<String>,
}

impl RevocationOutcome {
    /// Whether a revocation request failed (the local copies are removed all the same).
    pub fn has_failures(&self) -> bool {
        self.refresh_token.is_failed() || self.access_token.is_failed()
    }

    /// Whether there was nothing to revoke or remove.
    pub fn was_empty(&self) -> bool {
        matches!(self.refresh_token, TokenRevocation::NotHeld)
            && matches!(self.access_token, TokenRevocation::NotHeld)
            && self.removed_key.is_none()
    }
}

impl fmt::Display for RevocationOutcome {
    /// One line per token, e.g. `revoked the refresh token at https://…/revoke`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self
            .revocation_url
            .as_ref()
            .map_or_else(String::new, ToString::to_string);
        let mut first = true;
        for (name, state) in [
            ("refresh token", &self.refresh_token),
            ("access token", &self.access_token),
        ] {
            let line = match state {
                TokenRevocation::NotHeld => continue,
                TokenRevocation::Revoked => format!("revoked the {name} at {url}"),
                TokenRevocation::NotTold => {
                    format!("the provider was not told about the {name} (no revocation endpoint)")
                }
                TokenRevocation::Failed(e) => {
                    format!("could not revoke the {name} at {url}: {}", e.message())
                }
            };
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            f.write_str(&line)?;
        }
        Ok(())
    }
}

/// Signs out: revokes the refresh token stored under `key` in `store` (and the access token
/// stored with it, or `cached`, the one in use), then removes the stored record, even when a
/// revocation failed. Without `revocation`, nothing is revoked and the outcome says the
/// provider was not told. Errors only when the store cannot be read or written: then the
/// local copy may remain.
pub async fn revoke_stored(
    revocation: Option<&Revocation>,
    store: Option<(&dyn TokenStore, &str)>,
    cached: Option<AccessToken>,
) -> Result<RevocationOutcome, AuthError> {
    let stored = match store {
        Some((store, key)) => store.load(key).await?,
        None => None,
    };
    let refresh = stored.as_ref().and_then(|s| s.refresh_token.clone());
    let access = cached
        .map(|t| t.secret().clone())
        .or_else(|| stored.as_ref().and_then(|s| s.access_token.clone()));
    let revoke = |token: Option<SecretString>, hint| async move {
        match (token, revocation) {
            (None, _) => TokenRevocation::NotHeld,
            (Some(_), None) => TokenRevocation::NotTold,
            (Some(token), Some(revocation)) => match revocation.revoke(&token, hint).await {
                Ok(()) => TokenRevocation::Revoked,
                Err(error) => TokenRevocation::Failed(error),
            },
        }
    };
    let refresh_token = revoke(refresh, TokenTypeHint::RefreshToken).await;
    let access_token = revoke(access, TokenTypeHint::AccessToken).await;
    let removed_key = match (store, &stored) {
        (Some((store, key)), Some(_)) => {
            store.remove(key).await?;
            Some(key.to_owned())
        }
        _ => None,
    };
    Ok(RevocationOutcome {
        revocation_url: revocation.map(|r| r.url.clone()),
        refresh_token,
        access_token,
        removed_key,
    })
}

/// Signs one user out of a per-user connection ([`per_user()`](crate::grant::per_user())): revokes
/// and removes the refresh token stored under
/// [`user_store_key(prefix, user)`](crate::grant::per_user::user_store_key), as
/// [`revoke_stored`] does. Drop the user's cached tokens too
/// ([`KeyedTokenSource::remove`](auth_core::KeyedTokenSource::remove)).
pub async fn revoke_user(
    revocation: Option<&Revocation>,
    store: &dyn TokenStore,
    prefix: &str,
    user: &str,
) -> Result<RevocationOutcome, AuthError> {
    let key = crate::grant::per_user::user_store_key(prefix, user);
    let _fleet = store.lock(&key).await?;
    revoke_stored(revocation, Some((store, &key)), None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_providers_code_and_a_bare_5xx_is_a_token_endpoint_error() {
        let err = refusal(
            StatusCode::BAD_REQUEST,
            br#"{"error":"unsupported_token_type","error_description":"no"}"#,
        );
        assert_eq!(
            err.provider().map(|p| p.code.as_str()),
            Some("unsupported_token_type")
        );
        let err = refusal(StatusCode::SERVICE_UNAVAILABLE, b"<html>down</html>");
        assert_eq!(err.kind(), ErrorKind::TokenEndpoint);
        assert!(err.to_string().contains("HTTP 503"), "{err}");
        let err = refusal(StatusCode::UNAUTHORIZED, b"");
        assert_eq!(err.kind(), ErrorKind::InvalidClient);
    }

    #[test]
    fn bad_revocation_urls_name_the_setting() {
        let endpoint = TokenEndpoint::builder("https://a.example/token", "id")
            .client_secret("s")
            .build()
            .expect("endpoint");
        let err = Revocation::new("http://a.example/revoke", endpoint).expect_err("plain http");
        assert!(err.to_string().contains("revocation_url"), "{err}");
    }
}
