//! Signing out of an `oauth2` connection (`tower-auth logout NAME [--user ID]`): the stored
//! refresh token is revoked at `revocation_url` (or the issuer's `revocation_endpoint`), with
//! the connection's client authentication, then removed from the token store.

use std::sync::Arc;

use auth_core::{AuthError, ErrorKind, MemoryTokenStore};
use auth_oauth::{
    OAuth2Layer,
    revocation::{Revocation, RevocationOutcome, revoke_stored},
};

use super::{
    ConfigError, ConnectionSpec, Endpoints, OAuth2Spec, Resolver, common, discovery,
    missing_token_url, store,
};
use crate::config::{AuthSpec, users::user_key};

/// What a sign-out did, and where.
#[derive(Debug)]
#[non_exhaustive]
pub struct SignOut {
    /// Per token: revoked, failed (and why), or the provider not told.
    pub outcome: RevocationOutcome,
    /// The token-store key looked at.
    pub key: String,
    /// The token store: its file, or `memory`.
    pub store: String,
}

impl ConnectionSpec {
    /// Signs out of this `oauth2` connection, or of user `user`'s sign-in to it (the key
    /// `tower-auth login NAME --user ID` filed it under, else `NAME#user:ID`): revokes the
    /// stored refresh token (and a stored access token) at `revocation_url` or the issuer's
    /// `revocation_endpoint`, then removes it from the token store, also when the revocation
    /// failed. Without a revocation endpoint the token is removed and the outcome says the
    /// provider was not told.
    ///
    /// Errors: a configuration problem ([`ErrorKind::Config`], naming the key), a failed
    /// discovery, or a token store that cannot be read or written.
    pub async fn sign_out(&self, user: Option<&str>) -> Result<SignOut, AuthError> {
        let AuthSpec::OAuth2(o) = &self.auth else {
            return Err(AuthError::new(
                ErrorKind::Config,
                format!(
                    "connections.{}.auth.type: sign-out needs `type = \"oauth2\"` (nothing else \
                     stores tokens)",
                    self.name
                ),
            ));
        };
        let config = |e: ConfigError| AuthError::new(ErrorKind::Config, e.to_string());
        let key = match user {
            None => self.store_key().to_owned(),
            Some(id) => match self.for_user(id).await {
                Ok(spec) => spec.store_key().to_owned(),
                Err(_) => user_key(&self.name, id),
            },
        };
        let r = Resolver::new(self);
        let tokens = store(&r, &self.name, o).map_err(config)?;
        let revocation = revocation(self, o, &r).await?;
        let _fleet = tokens.lock(&key).await?;
        let outcome = revoke_stored(revocation.as_ref(), Some((&*tokens, &key)), None).await?;
        Ok(SignOut {
            outcome,
            key,
            store: super::store::describe(&self.name, o),
        })
    }
}

/// The revocation client of `o`: at `revocation_url`, or at the issuer's
/// `revocation_endpoint`; `None` when neither exists.
async fn revocation(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
    r: &Resolver,
) -> Result<Option<Revocation>, AuthError> {
    let config = |e: ConfigError| AuthError::new(ErrorKind::Config, e.to_string());
    // The issuer is asked for what the configuration does not name.
    let discover = o.token_url.is_none() || o.revocation_url.is_none();
    let (endpoints, discovered) = match (&o.token_url, &o.issuer) {
        (_, Some(issuer)) if discover => {
            let metadata = discovery(r, o)
                .map_err(config)?
                .discover(issuer)
                .await
                .map_err(|e| config(r.problem("issuer", e.message())))?;
            (
                Endpoints::discovered(&metadata, o),
                metadata.revocation_endpoint().map(ToString::to_string),
            )
        }
        (Some(token_url), _) => (Endpoints::given(token_url, o), None),
        (None, _) => return Err(config(missing_token_url(r))),
    };
    let Some(url) = o.revocation_url.clone().or(discovered) else {
        return Ok(None);
    };
    // The client as the token endpoint knows it (secret, key, certificate, method).
    let builder = OAuth2Layer::refresh_token(
        endpoints.token_url.clone(),
        o.client_id.clone(),
        Arc::new(MemoryTokenStore::new()),
        spec.name.clone(),
    );
    let grant = common(r, o, &endpoints, builder)
        .map_err(config)?
        .build_grant()
        .map_err(|e| config(r.build_error(e)))?;
    Revocation::new(url, grant.endpoint().clone())
        .map(Some)
        .map_err(|e| config(r.build_error(e)))
}
