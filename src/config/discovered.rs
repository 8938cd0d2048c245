//! A grant whose endpoints come from the issuer's metadata (RFC 8414 / OpenID Connect
//! discovery), found on the first token request.
//!
//! [`ConnectionSpec::layer`](super::ConnectionSpec::layer) is synchronous and discovery is a
//! request, so a connection with `issuer` and no `token_url` builds this source instead of the
//! grant itself. It sits inside the connection's `CachedTokenSource`, which gives discovery the
//! same single flight, timeout and backoff as a token request: a down issuer is asked again
//! only after the backoff, never once per API request.

use std::{fmt, sync::Arc, sync::OnceLock};

use auth_core::{AccessToken, AuthError, TokenFuture, TokenSource};
use auth_oauth::discovery::{AuthServerMetadata, Discovery};

/// Builds the grant from the issuer's metadata.
pub(crate) type BuildGrant =
    Box<dyn Fn(&AuthServerMetadata) -> Result<Arc<dyn TokenSource>, AuthError> + Send + Sync>;

/// Discovers the issuer's endpoints once, then delegates to the grant built from them.
pub(crate) struct Discovered {
    issuer: String,
    discovery: Discovery,
    build: BuildGrant,
    grant: OnceLock<Arc<dyn TokenSource>>,
}

impl Discovered {
    pub(crate) fn new(issuer: String, discovery: Discovery, build: BuildGrant) -> Self {
        Self {
            issuer,
            discovery,
            build,
            grant: OnceLock::new(),
        }
    }

    async fn grant(&self) -> Result<&Arc<dyn TokenSource>, AuthError> {
        if let Some(grant) = self.grant.get() {
            return Ok(grant);
        }
        let metadata = self.discovery.discover(&self.issuer).await?;
        let grant = (self.build)(&metadata)?;
        // The cache around this source runs one fetch at a time; should two ever race, the
        // first grant wins and the other is dropped unused.
        Ok(self.grant.get_or_init(|| grant))
    }
}

impl TokenSource for Discovered {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move { self.grant().await?.token().await })
    }

    fn invalidate(&self, token: &AccessToken) {
        if let Some(grant) = self.grant.get() {
            grant.invalidate(token);
        }
    }
}

impl fmt::Debug for Discovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovered")
            .field("issuer", &self.issuer)
            .field("discovered", &self.grant.get().is_some())
            .finish_non_exhaustive()
    }
}
