//! The JWT bearer grant (RFC 7523 §2.1): the client trades a JWT it signed for an access
//! token. Google service accounts use it, as do many server-to-server integrations.

use auth_core::{AccessToken, AuthError, SecretString, TokenFuture, TokenSource};

use crate::{
    TokenEndpoint, TokenParams,
    assertion::{AssertionClaims, MAX_LIFETIME, ServiceAccountKey, SigningKey},
    endpoint::RequestOptions,
};

/// The `grant_type` of the JWT bearer grant.
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Fetches a token with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and a freshly
/// signed `assertion` on every call.
///
/// The assertion's `aud` defaults to the token URL. Scopes go in the `scope` parameter, or in
/// a `scope` claim with [`scopes_in_assertion`](Self::scopes_in_assertion) (Google). With
/// client authentication `none` (the default when no secret or key is set), no `client_id`
/// is sent: the assertion identifies the client. Any other [`ClientAuth`](crate::ClientAuth)
/// (a secret, `private_key_jwt`, mTLS) is applied as usual.
///
/// ```
/// use auth_oauth::{JwtBearer, TokenEndpoint, TokenParams, assertion::{AssertionClaims, SigningKey}};
/// # fn main() -> Result<(), auth_core::AuthError> {
/// # use base64::Engine;
/// # let rng = ring::rand::SystemRandom::new();
/// # let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
/// # let der = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
/// # let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
/// # let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
/// let endpoint = TokenEndpoint::builder("https://auth.example.com/token", "my-service").build()?;
/// let grant = JwtBearer::new(
///     endpoint,
///     SigningKey::from_pem(&pem)?.with_key_id("2026-01"),
///     AssertionClaims::new("my-service").subject("my-service"),
///     TokenParams::new().scopes("read"),
/// )?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct JwtBearer {
    endpoint: TokenEndpoint,
    key: SigningKey,
    claims: AssertionClaims,
    params: TokenParams,
    scopes_in_assertion: bool,
}

impl JwtBearer {
    /// The grant against `endpoint`, signing `claims` with `key`. The audience defaults to the
    /// token URL. Fails with a config error naming a bad claim (no issuer, a lifetime over
    /// 24 hours, an extra claim overriding a registered one) or invalid params.
    pub fn new(
        endpoint: TokenEndpoint,
        key: SigningKey,
        claims: AssertionClaims,
        params: TokenParams,
    ) -> Result<Self, AuthError> {
        let claims = if claims.has_audience() {
            claims
        } else {
            claims.audience(endpoint.token_url().as_str())
        };
        claims.validate(MAX_LIFETIME)?;
        params.validate()?;
        if let Some((name, _)) = params
            .extra_params()
            .iter()
            .find(|(n, _)| n == "assertion" || n.starts_with("client_assertion"))
        {
            return Err(AuthError::config(
                format!("params.{name}"),
                "is set by the grant or client authentication itself",
            ));
        }
        Ok(Self {
            endpoint,
            key,
            claims,
            params,
            scopes_in_assertion: false,
        })
    }

    /// The grant for a [`ServiceAccountKey`], Google-style: `iss` = the service account's
    /// email, `aud` = its `token_uri`, scopes in the `scope` claim, no `sub` unless `subject`
    /// is given (domain-wide delegation: the user to act as).
    pub fn service_account(
        key: &ServiceAccountKey,
        subject: Option<&str>,
        params: TokenParams,
    ) -> Result<Self, AuthError> {
        let endpoint = TokenEndpoint::builder(key.token_uri(), key.client_email()).build()?;
        let mut claims = AssertionClaims::new(key.client_email());
        if let Some(subject) = subject {
            claims = claims.subject(subject);
        }
        Ok(
            Self::new(endpoint, key.signing_key().clone(), claims, params)?
                .scopes_in_assertion(true),
        )
    }

    /// Sends the requested scopes as a space-separated `scope` claim of the assertion instead
    /// of the `scope` parameter, as Google requires. Defaults to `false` (RFC 7523's parameter).
    pub fn scopes_in_assertion(mut self, enabled: bool) -> Self {
        self.scopes_in_assertion = enabled;
        self
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    /// The claims every assertion carries.
    pub fn claims(&self) -> &AssertionClaims {
        &self.claims
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// A fresh signed assertion, as the next request would send it.
    pub fn assertion(&self) -> Result<SecretString, AuthError> {
        let scope = self
            .scopes_in_assertion
            .then(|| self.params.requested_scopes().join(" "))
            .filter(|s| !s.is_empty());
        if scope.is_some() && self.claims.has_claim("scope") {
            return Err(AuthError::config(
                "claims.scope",
                "is set, and scopes go in the assertion too: set one or the other",
            ));
        }
        self.claims.sign_with(&self.key, scope.as_deref())
    }

    /// Asks for a new token with a new assertion (another one if the request is sent twice,
    /// as [`ClientAuth::Auto`](crate::ClientAuth::Auto) does when Basic is refused).
    pub async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let sign = || self.assertion();
        let options = RequestOptions {
            scope_in_body: !self.scopes_in_assertion,
            public_client_id: false,
            assertion: Some(&sign),
        };
        let response = self
            .endpoint
            .request_with(
                &[("grant_type", JWT_BEARER_GRANT_TYPE)],
                &self.params,
                options,
            )
            .await?;
        response.to_access_token(
            self.endpoint.header_prefix(),
            self.params.requested_scopes(),
        )
    }
}

impl TokenSource for JwtBearer {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }
}
