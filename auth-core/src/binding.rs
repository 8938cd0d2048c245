//! [`TokenBinding`]: what a sender-constrained access token (DPoP, RFC 9449) needs beyond its
//! header: a fresh proof on every request, and a look at responses for the server's nonce.
//!
//! A token source that issues bound tokens attaches a binding to each [`AccessToken`]
//! (`AccessTokenBuilder::binding`); the token layers then call [`TokenBinding::proof`] for each
//! request carrying the token and [`TokenBinding::observe`] for each response to it. A bearer
//! token has no binding, and the layers' hot path for it is one `Option` check.
//!
//! [`AccessToken`]: crate::AccessToken

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use crate::AuthError;

/// Proof of possession for the requests that carry one access token.
///
/// Implementations hold the private key (never shown by `Debug`) and a digest of the token they
/// were made for; `auth_oauth::dpop` has the DPoP one.
pub trait TokenBinding: Send + Sync + 'static {
    /// The header to add to a request for `method` `uri` that carries the token (for DPoP,
    /// `DPoP: <proof JWT>`), made fresh for each request.
    ///
    /// # Errors
    ///
    /// When no proof can be made for the request (a relative URI, a signing failure).
    fn proof(&self, method: &Method, uri: &Uri) -> Result<(HeaderName, HeaderValue), AuthError>;

    /// Looks at the response to a request for `uri` that carried the token: remembers a nonce
    /// the server sent. Returns `true` when the response is a challenge to send the same
    /// request again with a fresh proof (a 401 with `error="use_dpop_nonce"` and a new nonce),
    /// which is not a rejection of the token.
    ///
    /// `uri` is `None` when the layer kept no copy of the request (a body that cannot be
    /// replayed): the binding then files the nonce under the origin of its latest proof.
    fn observe(&self, uri: Option<&Uri>, status: StatusCode, headers: &HeaderMap) -> bool;

    /// The authentication scheme of the binding, for `Debug` output and diagnostics (`DPoP`).
    fn scheme(&self) -> &'static str;
}
