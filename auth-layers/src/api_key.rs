//! Sends a fixed API key in a header or a query parameter of every request.
//!
//! In a header, the value (with an optional prefix) is built once and marked sensitive. In the
//! query, the `name=value` pair is percent-encoded once (everything but RFC 3986 unreserved
//! characters, so `+` becomes `%2B` and a space `%20`); per request, every parameter of the same
//! name (compared after percent-decoding) is removed, the other parameters are kept in order and
//! byte for byte, and ours is appended. The layer is an [`AddCredentialLayer`]: an existing
//! header or parameter is replaced unless [`keep_existing`](AddCredentialLayer::keep_existing) is
//! set, and with [`restrict_to_origin`](AddCredentialLayer::restrict_to_origin) the key goes only
//! to the given origins (see [`origin`](crate::origin)).
//!
//! A request whose URI cannot take a query parameter (authority form `host:port`, as used by
//! `CONNECT`, or `*`) fails with an [`AuthError`] of kind
//! [`ErrorKind::Request`](auth_core::ErrorKind::Request), which is why
//! [`AddCredential`](crate::AddCredential)'s error type is [`BoxError`](crate::BoxError).
//!
//! ```
//! use auth_layers::ApiKeyLayer;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), auth_layers::BoxError> {
//! let api = ServiceBuilder::new()
//!     .layer(ApiKeyLayer::query("api_key", "k+y/1").build()?)
//!     .service(service_fn(|req: Request<String>| async move {
//!         // stands in for an HTTP client such as hyper-util's
//!         assert_eq!(req.uri(), "https://api.example.com/v1/items?page=2&api_key=k%2By%2F1");
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     }));
//!
//! let request = Request::get("https://api.example.com/v1/items?api_key=stale&page=2")
//!     .body(String::new())?;
//! let response = api.oneshot(request).await?;
//! # assert!(response.status().is_success());
//!
//! // In a header instead: `X-Api-Key: k+y/1`
//! let layer = ApiKeyLayer::header("X-Api-Key", "k+y/1").build()?;
//! # let _ = layer;
//! # Ok(()) }
//! ```

use std::fmt;

use auth_core::{AuthError, ExposeSecret, SecretString, sensitive_header_value};

use crate::{
    AddCredentialLayer,
    credential::Credential,
    placement::{HeaderSlot, QueryParam, describe_prefix},
};

/// Named constructors of an [`AddCredentialLayer`] that sends a fixed API key, in a header or a
/// query parameter. This type has no values.
///
/// See the [module docs](crate::api_key) for an example.
#[derive(Debug)]
pub enum ApiKeyLayer {}

impl ApiKeyLayer {
    /// Sends `key` in the header `name`, e.g. `ApiKeyLayer::header("X-Api-Key", key)`.
    pub fn header(name: impl Into<String>, key: impl Into<SecretString>) -> ApiKeyLayerBuilder {
        ApiKeyLayerBuilder::new(Mode::Header, name.into(), key.into())
    }

    /// Sends `key` in the query parameter `name`, e.g. `ApiKeyLayer::query("api_key", key)`.
    /// Give the name unencoded; it is percent-encoded when sent.
    pub fn query(name: impl Into<String>, key: impl Into<SecretString>) -> ApiKeyLayerBuilder {
        ApiKeyLayerBuilder::new(Mode::Query, name.into(), key.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Header,
    Query,
}

/// Builds an API-key [`AddCredentialLayer`]; see [`ApiKeyLayer::header`] and
/// [`ApiKeyLayer::query`].
pub struct ApiKeyLayerBuilder {
    mode: Mode,
    name: String,
    key: SecretString,
    prefix: String,
}

impl ApiKeyLayerBuilder {
    fn new(mode: Mode, name: String, key: SecretString) -> Self {
        Self {
            mode,
            name,
            key,
            prefix: String::new(),
        }
    }

    /// Written before the key, separated by one space (`Token abc`). Defaults to none.
    /// In the query the space is encoded as `%20`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Builds the layer, pre-building the header value or the encoded query pair once.
    ///
    /// Fails with [`ErrorKind::Config`](auth_core::ErrorKind::Config) when the key is empty, the
    /// header name is not valid, the key cannot be sent in a header, or the query parameter
    /// name is empty or contains `&`, `=`, `#`, `+`, `%`, whitespace or control characters. The
    /// error never contains the key.
    pub fn build(self) -> Result<AddCredentialLayer, AuthError> {
        let credential = match self.mode {
            Mode::Header => self.build_header()?,
            Mode::Query => self.build_query()?,
        };
        Ok(AddCredentialLayer::new(credential))
    }

    /// "the request carried an API key in `placed`", with the prefix if there is one.
    fn sent(&self, placed: &str) -> String {
        let mut sent = format!("the request carried an API key in {placed}");
        if !self.prefix.is_empty() {
            sent = format!("{sent} {}", describe_prefix(&self.prefix));
        }
        sent
    }

    fn build_header(self) -> Result<Credential, AuthError> {
        let slot = HeaderSlot::parse(&self.name, "API key header name")?;
        let value = sensitive_header_value(&self.prefix, &self.key, "API key")?;
        let sent = self.sent(&format!("the `{}` header", self.name));
        Ok(Credential::header(slot, &self.prefix, value, sent))
    }

    fn build_query(self) -> Result<Credential, AuthError> {
        let param = QueryParam::parse(&self.name, "API key")?;
        let key = self.key.expose_secret();
        if key.trim().is_empty() {
            return Err(AuthError::config("API key", "is empty"));
        }
        let value = if self.prefix.is_empty() {
            SecretString::from(key.to_owned())
        } else {
            SecretString::from(format!("{} {key}", self.prefix))
        };
        let pair = SecretString::from(param.pair(value.expose_secret()));
        let sent = self.sent(&format!("the query parameter `{}`", self.name));
        Ok(Credential::query(param, self.prefix, pair, sent))
    }
}

impl fmt::Debug for ApiKeyLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyLayerBuilder")
            .field("mode", &self.mode)
            .field("name", &self.name)
            .field("key", &"[redacted]")
            .field("prefix", &self.prefix)
            .finish()
    }
}

#[cfg(test)]
mod tests;
