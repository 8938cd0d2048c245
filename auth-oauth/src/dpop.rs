//! DPoP (RFC 9449): sender-constrained access tokens. A token bound to a key is useless to
//! whoever copies it without the key: each request carries a fresh proof, a JWT signed by the
//! key, naming the request's method and URL and a hash of the token.
//!
//! - [`DpopKey`]: the key (ES256 by default, generated in the process; EdDSA; RS256/PS256 or
//!   ES384 from a PEM so several processes share one binding). Its public half goes in every
//!   proof's `jwk` header; the private half never leaves the process and never shows in
//!   `Debug`.
//! - [`Dpop`]: a key plus what the token source learns while using it: the server nonces
//!   (`DPoP-Nonce`), remembered per origin, and whether a server that ignores DPoP and answers
//!   `token_type: Bearer` is accepted (default) or refused ([`Dpop::required`]).
//!
//! Give it to a token endpoint ([`TokenEndpointBuilder::dpop`](crate::TokenEndpointBuilder::dpop))
//! or an [`OAuth2Layer`](crate::OAuth2Layer) builder (`.dpop(…)`): every token request then
//! carries a proof (answering a `use_dpop_nonce` error once with the nonce it came with), and a
//! token issued as `token_type: DPoP` is bound: the token layer sends it as
//! `Authorization: DPoP <token>` with a proof per request (with `ath`, the token's SHA-256),
//! and answers an API's `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"` by sending
//! the request once more with the new nonce, without counting it as the retry after a 401.
//! Bearer tokens keep their path: no proof, no lookup.
//!
//! ```
//! use auth_oauth::{OAuth2Layer, dpop::{Dpop, DpopKey}};
//! # fn run() -> Result<(), auth_core::AuthError> {
//! // A key generated at start; a Bearer answer is used as a bearer token.
//! let layer = OAuth2Layer::client_credentials_builder("https://auth.example.com/token", "svc")
//!     .client_secret("s3cr3t")
//!     .dpop(DpopKey::generate_es256()?)
//!     .build()?;
//! // A key shared by several processes; a Bearer answer is refused.
//! let key = DpopKey::generate_ed25519()?; // or DpopKey::from_pem_file("dpop.pem")?
//! let strict = OAuth2Layer::client_credentials_builder("https://auth.example.com/token", "svc")
//!     .client_secret("s3cr3t")
//!     .dpop(Dpop::new(key).required(true))
//!     .build()?;
//! # let _ = (layer, strict); Ok(()) }
//! ```

use std::{
    fmt,
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

use auth_core::{
    AccessToken, AccessTokenBuilder, AuthError, ErrorKind, SecretString, TokenBinding,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use crate::assertion::{Algorithm, SigningKey};

mod nonce;
mod proof;
#[cfg(test)]
mod tests;

use nonce::Nonces;
pub use proof::htu;

/// The `DPoP` request header.
pub static DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header.
pub static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// A DPoP key: a private key and its public JWK. Cheap to clone (shared).
///
/// ```
/// use auth_oauth::dpop::DpopKey;
///
/// let key = DpopKey::generate_es256()?;
/// assert_eq!(key.algorithm().as_str(), "ES256");
/// assert_eq!(key.thumbprint().len(), 43); // base64url SHA-256
/// assert!(!format!("{key:?}").contains(key.public_jwk())); // Debug shows the type, not bytes
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    key: SigningKey,
    /// `{"crv":…,"kty":…,…}`: the public key, required members only.
    jwk: String,
    /// base64url of the proof's JOSE header, the same for every proof.
    header: String,
    /// RFC 7638 thumbprint: base64url SHA-256 of `jwk`.
    thumbprint: String,
}

impl DpopKey {
    /// A new EC P-256 key signing ES256, the algorithm every DPoP server supports.
    ///
    /// # Errors
    ///
    /// Only when the system random generator fails.
    pub fn generate_es256() -> Result<Self, AuthError> {
        Ok(Self::from_signing_key(SigningKey::generate_p256()?))
    }

    /// A new Ed25519 key signing EdDSA (faster to sign than ES256; not every server accepts it).
    ///
    /// # Errors
    ///
    /// Only when the system random generator fails.
    pub fn generate_ed25519() -> Result<Self, AuthError> {
        Ok(Self::from_signing_key(SigningKey::generate_ed25519()?))
    }

    /// The key in `pem` (the encodings [`SigningKey::from_pem`] reads: EC P-256/P-384,
    /// Ed25519, RSA ≥ 2048 bits), signing with its type's default algorithm (ES256, ES384,
    /// EdDSA, RS256; see [`with_algorithm`](Self::with_algorithm)).
    ///
    /// # Errors
    ///
    /// A config error saying what is wrong with the PEM, never quoting it.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, AuthError> {
        Ok(Self::from_signing_key(SigningKey::from_pem(pem)?))
    }

    /// [`from_pem`](Self::from_pem), reading the file at `path`; errors name the file.
    ///
    /// # Errors
    ///
    /// As [`from_pem`](Self::from_pem), or when the file cannot be read.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        Ok(Self::from_signing_key(SigningKey::from_pem_file(path)?))
    }

    /// Proofs signed with `key` (its algorithm and key type; a key id is not sent, the JWK is).
    pub fn from_signing_key(key: SigningKey) -> Self {
        let jwk = key.public_jwk();
        let thumbprint = URL_SAFE_NO_PAD.encode(sha256(jwk.as_bytes()));
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"{}","typ":"dpop+jwt","jwk":{jwk}}}"#,
            key.algorithm()
        ));
        DpopKey {
            inner: Arc::new(KeyInner {
                key,
                jwk,
                header,
                thumbprint,
            }),
        }
    }

    /// Signs with `algorithm` instead of the key type's default (`PS256` with an RSA key).
    ///
    /// # Errors
    ///
    /// A config error when the key cannot sign `algorithm`.
    pub fn with_algorithm(self, algorithm: Algorithm) -> Result<Self, AuthError> {
        let key = self.inner.key.clone().with_algorithm(algorithm)?;
        Ok(Self::from_signing_key(key))
    }

    /// The algorithm proofs are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.key.algorithm()
    }

    /// The public key as a JWK (`{"crv":"P-256","kty":"EC","x":…,"y":…}`), as proofs carry it.
    pub fn public_jwk(&self) -> &str {
        &self.inner.jwk
    }

    /// The key's JWK SHA-256 thumbprint (RFC 7638): what a DPoP-bound token's `cnf.jkt` names
    /// and what an authorization request's `dpop_jkt` parameter carries.
    pub fn thumbprint(&self) -> &str {
        &self.inner.thumbprint
    }

    /// A proof for one request: `method` and `url` (query and fragment left out), `iat` now, a
    /// fresh `jti`, `ath` when the request carries `access_token`, and the server's `nonce`.
    /// For applications that send requests themselves; the token layers and the token endpoint
    /// make their own.
    ///
    /// # Errors
    ///
    /// When `url` is not absolute, or signing fails.
    pub fn proof(
        &self,
        method: &Method,
        url: &str,
        access_token: Option<&SecretString>,
        nonce: Option<&str>,
    ) -> Result<SecretString, AuthError> {
        let uri: Uri = url.parse().map_err(|_| {
            AuthError::new(ErrorKind::Request, "a DPoP proof needs an absolute URL")
        })?;
        let ath = access_token.map(ath);
        proof::sign(self, method, &htu(&uri)?, ath.as_deref(), nonce).map(SecretString::from)
    }

    fn key(&self) -> &SigningKey {
        &self.inner.key
    }

    fn header(&self) -> &str {
        &self.inner.header
    }
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("algorithm", &self.algorithm())
            .field(
                "key",
                &format_args!("[redacted {}]", self.inner.key.key_type()),
            )
            .finish()
    }
}

/// `ath`: base64url SHA-256 of the access token (RFC 9449 §4.2).
pub fn ath(access_token: &SecretString) -> String {
    use auth_core::ExposeSecret as _;
    URL_SAFE_NO_PAD.encode(sha256(access_token.expose_secret().as_bytes()))
}

fn sha256(bytes: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, bytes)
}

/// A [`DpopKey`] and what a token source learns using it; see the [module docs](self). Cheap
/// to clone: clones share the nonces.
#[derive(Clone)]
pub struct Dpop {
    inner: Arc<DpopInner>,
    required: bool,
}

struct DpopInner {
    key: DpopKey,
    nonces: Nonces,
}

impl Dpop {
    /// DPoP with `key`; a server answering `token_type: Bearer` is accepted (see
    /// [`required`](Self::required)).
    pub fn new(key: DpopKey) -> Self {
        Dpop {
            inner: Arc::new(DpopInner {
                key,
                nonces: Nonces::default(),
            }),
            required: false,
        }
    }

    /// Whether a token endpoint that answers a DPoP token request with a Bearer token is
    /// refused (`true`: the token request fails with [`ErrorKind::UnsupportedTokenType`], a
    /// downgrade is never used) or accepted and used as a bearer token (`false`, the default).
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// The key.
    pub fn key(&self) -> &DpopKey {
        &self.inner.key
    }

    /// Whether a Bearer answer is refused.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The nonce last received from `url`'s origin, if any.
    pub fn nonce_for(&self, url: &Uri) -> Option<Arc<str>> {
        let htu = htu(url).ok()?;
        self.inner.nonces.get(proof::origin_of(&htu))
    }

    /// A DPoP-bound access token with value `secret`, for a token obtained with this key by
    /// other means (the token endpoint binds the tokens it issues itself): `token_type` DPoP,
    /// sent as `Authorization: DPoP …` with a proof per request by the token layers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use auth_oauth::dpop::{Dpop, DpopKey};
    ///
    /// let dpop = Dpop::new(DpopKey::generate_es256()?);
    /// let token = dpop.access_token("obtained-elsewhere").expires_in(Duration::from_secs(300)).build()?;
    /// assert_eq!(token.header_value(), "DPoP obtained-elsewhere");
    /// assert!(token.binding().is_some());
    /// # Ok::<(), auth_core::AuthError>(())
    /// ```
    pub fn access_token(&self, secret: impl Into<SecretString>) -> AccessTokenBuilder {
        let secret = secret.into();
        let binding = self.bind(&secret);
        AccessToken::builder(secret)
            .token_type("DPoP")
            .binding(binding)
    }

    /// A proof for a request to `uri` (with `ath` for a token), with the origin's nonce.
    pub(crate) fn proof_header(
        &self,
        method: &Method,
        uri: &Uri,
        ath: Option<&str>,
    ) -> Result<HeaderValue, AuthError> {
        let htu = htu(uri)?;
        let nonce = self.inner.nonces.get(proof::origin_of(&htu));
        let jwt = proof::sign(&self.inner.key, method, &htu, ath, nonce.as_deref())?;
        let mut value = HeaderValue::try_from(jwt).map_err(|_| {
            AuthError::new(
                ErrorKind::Request,
                "the DPoP proof is not a valid header value",
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Remembers the `DPoP-Nonce` of a response from `uri`'s origin; `true` when it is new.
    pub(crate) fn remember_nonce(&self, uri: &Uri, headers: &HeaderMap) -> bool {
        let Some(nonce) = headers.get(&DPOP_NONCE).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        match htu(uri) {
            Ok(htu) => self.inner.nonces.put(proof::origin_of(&htu), nonce),
            Err(_) => false,
        }
    }

    /// The binding of an access token issued as `token_type: DPoP`.
    pub(crate) fn bind(&self, access_token: &SecretString) -> Arc<dyn TokenBinding> {
        Arc::new(Binding {
            dpop: self.clone(),
            ath: ath(access_token),
            last: Mutex::default(),
        })
    }
}

impl From<DpopKey> for Dpop {
    /// DPoP with `key`, a Bearer answer accepted.
    fn from(key: DpopKey) -> Self {
        Dpop::new(key)
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("key", &self.inner.key)
            .field("required", &self.required)
            .field("nonces", &self.inner.nonces.len())
            .finish()
    }
}

/// The binding of one DPoP token: its key's state, the token's `ath`, and the URI of its
/// latest proof (where a response the layer kept no copy for came from).
struct Binding {
    dpop: Dpop,
    ath: String,
    last: Mutex<Option<Uri>>,
}

impl TokenBinding for Binding {
    fn proof(&self, method: &Method, uri: &Uri) -> Result<(HeaderName, HeaderValue), AuthError> {
        let value = self.dpop.proof_header(method, uri, Some(&self.ath))?;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(uri.clone());
        Ok((DPOP.clone(), value))
    }

    fn observe(&self, uri: Option<&Uri>, status: StatusCode, headers: &HeaderMap) -> bool {
        if !headers.contains_key(&DPOP_NONCE) {
            return false;
        }
        let fresh = match uri {
            Some(uri) => self.dpop.remember_nonce(uri, headers),
            None => {
                let last = self
                    .last
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                last.is_some_and(|uri| self.dpop.remember_nonce(&uri, headers))
            }
        };
        fresh && status == StatusCode::UNAUTHORIZED && asks_for_nonce(headers)
    }

    fn scheme(&self) -> &'static str {
        "DPoP"
    }
}

/// A `WWW-Authenticate: DPoP error="use_dpop_nonce"` challenge (RFC 9449 §9).
fn asks_for_nonce(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(auth_core::challenge::parse_challenges)
        .any(|c| {
            c.scheme.eq_ignore_ascii_case("dpop") && c.error.as_deref() == Some("use_dpop_nonce")
        })
}
