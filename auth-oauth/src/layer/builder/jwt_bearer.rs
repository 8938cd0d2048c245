//! The [`OAuth2Layer`] constructors and builder settings of the JWT bearer grant.

use std::{path::Path, time::Duration};

use auth_core::AuthError;

use super::{OAuth2LayerBuilder, sealed};
use crate::{
    JwtBearer, OAuth2Layer, TokenEndpoint, TokenEndpointBuilder, TokenParams,
    assertion::{AssertionClaims, ServiceAccountKey, SigningKey},
};

/// What the JWT bearer grant needs: the key (or why it could not be loaded) and the claims.
#[derive(Debug)]
pub struct JwtInputs {
    key: Result<SigningKey, AuthError>,
    claims: AssertionClaims,
    scopes_in_assertion: bool,
}

impl OAuth2Layer<JwtBearer> {
    /// The JWT bearer grant (RFC 7523 §2.1): each token request carries an assertion issued
    /// by `issuer` (also the `sub` unless [`subject`](OAuth2LayerBuilder::subject) says
    /// otherwise, and the client id), for the token URL as audience, signed with `key`.
    ///
    /// ```
    /// use auth_oauth::{OAuth2Layer, assertion::SigningKey};
    /// # fn main() -> Result<(), auth_core::AuthError> {
    /// # let _rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # let _guard = _rt.enter();
    /// # use base64::Engine;
    /// # let rng = ring::rand::SystemRandom::new();
    /// # let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    /// # let der = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    /// # let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    /// # let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
    /// let key = SigningKey::from_pem(&pem)?.with_key_id("2026-01");
    /// let oauth = OAuth2Layer::jwt_bearer("https://auth.example.com/token", "my-service", key)
    ///     .scopes("read")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn jwt_bearer(
        token_url: impl Into<String>,
        issuer: impl Into<String>,
        key: SigningKey,
    ) -> OAuth2LayerBuilder<JwtBearer> {
        let issuer = issuer.into();
        OAuth2LayerBuilder::new(
            TokenEndpoint::builder(token_url, issuer.clone()),
            JwtInputs {
                key: Ok(key),
                claims: AssertionClaims::new(issuer.clone()).subject(issuer),
                scopes_in_assertion: false,
            },
        )
    }

    /// The JWT bearer grant for a Google-style service-account key file: `iss` =
    /// `client_email`, `aud` = `token_uri` (also where requests go), `kid` =
    /// `private_key_id`, scopes in the `scope` claim, `sub` only with
    /// [`subject`](OAuth2LayerBuilder::subject) (domain-wide delegation). The file is read
    /// now; a problem (unreadable, not JSON, a missing field, a bad key) is reported by
    /// `build()`, naming the file and the field.
    ///
    /// ```no_run
    /// use auth_oauth::OAuth2Layer;
    /// # fn main() -> Result<(), auth_core::AuthError> {
    /// let oauth = OAuth2Layer::service_account("/run/secrets/service-account.json")
    ///     .scopes("https://www.googleapis.com/auth/spreadsheets.readonly")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn service_account(path: impl AsRef<Path>) -> OAuth2LayerBuilder<JwtBearer> {
        Self::service_account_from(ServiceAccountKey::from_file(path))
    }

    /// Like [`service_account`](Self::service_account) from the file's contents.
    pub fn service_account_json(json: &str) -> OAuth2LayerBuilder<JwtBearer> {
        Self::service_account_from(ServiceAccountKey::from_json(json))
    }

    /// Like [`service_account`](Self::service_account) from a loaded key.
    pub fn service_account_key(key: &ServiceAccountKey) -> OAuth2LayerBuilder<JwtBearer> {
        Self::service_account_from(Ok(key.clone()))
    }

    fn service_account_from(
        key: Result<ServiceAccountKey, AuthError>,
    ) -> OAuth2LayerBuilder<JwtBearer> {
        let (endpoint, inputs) = match key {
            Ok(key) => (
                TokenEndpoint::builder(key.token_uri(), key.client_email()),
                JwtInputs {
                    key: Ok(key.signing_key().clone()),
                    claims: AssertionClaims::new(key.client_email()),
                    scopes_in_assertion: true,
                },
            ),
            Err(e) => (
                TokenEndpoint::builder("", ""),
                JwtInputs {
                    key: Err(e),
                    claims: AssertionClaims::new(""),
                    scopes_in_assertion: true,
                },
            ),
        };
        OAuth2LayerBuilder::new(endpoint, inputs)
    }
}

impl OAuth2LayerBuilder<JwtBearer> {
    fn claims(mut self, f: impl FnOnce(AssertionClaims) -> AssertionClaims) -> Self {
        self.inputs.claims = f(self.inputs.claims);
        self
    }

    /// The assertion's `sub`: for a service account, the user to act as (domain-wide
    /// delegation). Defaults to the issuer for [`OAuth2Layer::jwt_bearer`], unset for a
    /// service account.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claims(|c| c.subject(subject))
    }

    /// The assertion's `aud` (repeatable). Defaults to the token URL. Not the `audience`
    /// parameter, which [`audience`](Self::audience) sets.
    pub fn assertion_audience(self, audience: impl Into<String>) -> Self {
        self.claims(|c| c.audience(audience))
    }

    /// How long each assertion is valid. Defaults to 1 hour; at most 24 hours.
    pub fn assertion_lifetime(self, lifetime: Duration) -> Self {
        self.claims(|c| c.lifetime(lifetime))
    }

    /// Adds a claim to the assertion (`null` values are left out).
    pub fn claim(self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.claims(|c| c.claim(name, value))
    }

    /// Whether scopes go in the assertion's `scope` claim instead of the `scope` parameter.
    /// Defaults to `true` for a service account (Google), `false` otherwise.
    pub fn scopes_in_assertion(mut self, enabled: bool) -> Self {
        self.inputs.scopes_in_assertion = enabled;
        self
    }
}

impl sealed::Sealed for JwtBearer {
    type Inputs = JwtInputs;
    const NAME: &'static str = "jwt_bearer";

    /// Also signs one assertion to prove the key works.
    fn build_grant(
        endpoint: TokenEndpointBuilder,
        params: TokenParams,
        JwtInputs {
            key,
            claims,
            scopes_in_assertion,
        }: JwtInputs,
    ) -> Result<Self, AuthError> {
        let key = key?;
        let grant = JwtBearer::new(endpoint.build()?, key, claims, params)?
            .scopes_in_assertion(scopes_in_assertion);
        grant.assertion()?;
        Ok(grant)
    }

    fn token_endpoint(&self) -> &TokenEndpoint {
        self.endpoint()
    }
}
