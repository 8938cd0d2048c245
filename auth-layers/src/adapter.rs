//! Building blocks for middleware of HTTP clients that are not Tower services, such as
//! `auth-reqwest`'s `reqwest-middleware` adapter: the layers' own credential placement, origin
//! restriction, retry decision and 401/403 errors, on any request that implements
//! [`OutgoingRequest`].
//!
//! Applications use the layers, or an adapter built on this module; they do not need it
//! themselves. An adapter does what [`AddCredential`](crate::AddCredential) and
//! [`Token`](crate::Token) do, in its client's terms:
//!
//! - a fixed credential: [`AddCredentialLayer::add_to`], then [`Carried::rejection`] on the
//!   response;
//! - a token: [`TokenLayer::adds_token_to`] (origin restriction and `keep_existing`), a token
//!   from the source, [`TokenLayer::put_token`], a copy of the request when
//!   [`TokenLayer::retries_on_401`], then [`retry_decision`] on the response, and
//!   [`Carried::token_rejection`] for a 401 or 403 handed to the caller.
//!
//! ```
//! use auth_layers::{BearerLayer, Origin, adapter::OutgoingRequest};
//! use http::{HeaderMap, Method, StatusCode, Uri};
//!
//! /// A client's request, reduced to what the layers look at.
//! struct MyRequest { host: String, headers: HeaderMap, query: Option<String> }
//!
//! impl OutgoingRequest for MyRequest {
//!     fn scheme(&self) -> &str { "https" }
//!     fn host(&self) -> Option<&str> { Some(&self.host) }
//!     fn port(&self) -> Option<u16> { None }
//!     fn headers(&self) -> &HeaderMap { &self.headers }
//!     fn headers_mut(&mut self) -> &mut HeaderMap { &mut self.headers }
//!     fn query(&self) -> Option<&str> { self.query.as_deref() }
//!     fn set_query(&mut self, query: &str) { self.query = Some(query.to_owned()) }
//! }
//!
//! let layer = BearerLayer::new("my-token")?
//!     .restrict_to_origin(Origin::parse("https://api.example.com")?);
//! let mut request =
//!     MyRequest { host: "api.example.com".into(), headers: HeaderMap::new(), query: None };
//! let carried = layer.add_to(&mut request)?.expect("the origin is allowed");
//! assert_eq!(request.headers["authorization"], "Bearer my-token");
//! // The server said no: the same error as the layer's.
//! let error = carried.rejection(StatusCode::UNAUTHORIZED, &HeaderMap::new()).expect("a 401");
//! assert!(error.to_string().contains("a bearer token in the `Authorization` header"));
//!
//! let mut elsewhere =
//!     MyRequest { host: "cdn.example.com".into(), headers: HeaderMap::new(), query: None };
//! assert!(layer.add_to(&mut elsewhere)?.is_none());
//! assert!(elsewhere.headers.is_empty());
//! # Ok::<(), auth_core::AuthError>(())
//! ```

use auth_core::{AccessToken, AuthError, ExposeSecret, SecretString, TokenSource};
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::{
    AddCredentialLayer, TokenLayer, origin,
    placement::Placement,
    response::Detail,
    token::{self, Decision},
};

/// A request as the layers see it: where it goes (the parts of its URL), its headers and its
/// query. Implemented by an adapter for its client's request type.
pub trait OutgoingRequest {
    /// The URL's scheme, e.g. `https`.
    fn scheme(&self) -> &str;

    /// The URL's host, an IPv6 literal in brackets (`[::1]`); `None` when the URL has none (such
    /// a request never matches an origin restriction).
    fn host(&self) -> Option<&str>;

    /// The URL's port; `None` for the scheme's default.
    fn port(&self) -> Option<u16>;

    /// The request's headers.
    fn headers(&self) -> &HeaderMap;

    /// The request's headers, to add a credential to.
    fn headers_mut(&mut self) -> &mut HeaderMap;

    /// The URL's query without `?`, still percent-encoded; `None` when there is none.
    fn query(&self) -> Option<&str>;

    /// Replaces the URL's query (given without `?`, percent-encoded).
    fn set_query(&mut self, query: &str);

    /// The request's method and full URI, for the proof a bound token (DPoP) needs on each
    /// request. `None` (the default) for an adapter that cannot tell: then a bound token is
    /// refused by [`TokenLayer::put_token`] rather than sent without its proof.
    fn target(&self) -> Option<(Method, Uri)> {
        None
    }
}

/// What a request carried (in words, never the secret), to describe the server's 401 or 403.
/// `Copy`: a `&'static str` inside.
#[derive(Debug, Clone, Copy)]
pub struct Carried(Detail);

impl Carried {
    /// The [`AuthError`] of a 401 or 403 to a request with a fixed credential, as
    /// [`AddCredential`](crate::AddCredential) attaches it; `None` for any other status.
    pub fn rejection(self, status: StatusCode, headers: &HeaderMap) -> Option<AuthError> {
        AuthError::from_status_and_headers(status, headers)
            .map(|error| error.with_detail(self.0.as_str()))
    }

    /// The [`AuthError`] of a 401 or 403 to a request with a token, as
    /// [`Token`](crate::Token) attaches it: what the request carried, why it is handed over, and
    /// the challenge with every token in `sent` cut out. `None` for any other status.
    pub fn token_rejection(
        self,
        status: StatusCode,
        headers: &HeaderMap,
        handed_over: HandedOver,
        sent: &[&AccessToken],
    ) -> Option<AuthError> {
        let rejection = match token::decide(status, headers, true) {
            Decision::Accept => return None,
            Decision::Retry(rejection) | Decision::GiveUp(rejection) => rejection,
        };
        let why = match handed_over {
            HandedOver::FirstAttempt { could_retry } => {
                token::give_up_reason(rejection, false, could_retry)
            }
            HandedOver::AfterRetry => token::give_up_reason(rejection, true, true),
            HandedOver::NoNewerToken => token::NO_NEWER_TOKEN,
        };
        let sent: Vec<Option<&AccessToken>> = sent.iter().copied().map(Some).collect();
        token::rejection_error(rejection, headers, self.0, why, &sent)
    }
}

/// Why a token request's 401 or 403 is handed to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandedOver {
    /// After the first attempt: a 403, a 401 whose challenge blames the request, or a 401 to a
    /// request that could not be sent again (`could_retry` false).
    FirstAttempt {
        /// Whether a copy of the request was at hand for a retry.
        could_retry: bool,
    },
    /// After the one retry with a fresh token.
    AfterRetry,
    /// After a 401, the source gave back the token that was rejected: nothing to retry with.
    NoNewerToken,
}

/// What to do with the response to a request that carried a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Not an authentication failure: hand the response over.
    Accept,
    /// A 401 a fresh token may fix: [`invalidate`](TokenSource::invalidate) the token, get a new
    /// one, and send the copy once more.
    Retry,
    /// A 401 or 403 a new token cannot fix, or no second attempt is possible: hand it over with
    /// [`Carried::token_rejection`].
    GiveUp,
}

/// [`TokenLayer`]'s decision after an attempt: only a 401 is retried, only when the request can
/// be sent again (`replayable`), and not when its `WWW-Authenticate` blames the request
/// (`invalid_request`, `insufficient_scope`); never a 403.
pub fn retry_decision(status: StatusCode, headers: &HeaderMap, replayable: bool) -> RetryDecision {
    match token::decide(status, headers, replayable) {
        Decision::Accept => RetryDecision::Accept,
        Decision::Retry(_) => RetryDecision::Retry,
        Decision::GiveUp(_) => RetryDecision::GiveUp,
    }
}

impl AddCredentialLayer {
    /// Adds the layer's credential to `request`, as [`AddCredential`](crate::AddCredential)
    /// does: `Ok(None)` when the request is for an origin the layer is not restricted to (it is
    /// left untouched), otherwise what it now carries. Fails with
    /// [`ErrorKind::Request`](auth_core::ErrorKind::Request) only for a query-parameter credential whose request cannot take
    /// one, which an adapter's URL type normally rules out.
    pub fn add_to<R: OutgoingRequest + ?Sized>(
        &self,
        request: &mut R,
    ) -> Result<Option<Carried>, AuthError> {
        if !allows(self.origins.as_ref(), request) {
            return Ok(None);
        }
        self.credential
            .apply_to(request)
            .map(|detail| Some(Carried(detail)))
            .map_err(|rejection| rejection.into_error())
    }
}

impl<T: TokenSource> TokenLayer<T> {
    /// Whether the layer adds a token to `request`: `None` when it leaves the request as it is
    /// (an origin it is not restricted to, or the request's own credential with
    /// `keep_existing`); otherwise what the request will carry. Fetches nothing.
    pub fn adds_token_to<R: OutgoingRequest + ?Sized>(&self, request: &R) -> Option<Carried> {
        let settings = &self.shared.settings;
        if !allows(settings.origins.as_ref(), request)
            || settings.keep_existing && carries(&settings.placement, request)
        {
            return None;
        }
        Some(Carried(settings.carried))
    }

    /// Puts `token` where the layer sends tokens (a header, replacing any of that name, or a
    /// query parameter, replacing any of that name), and for a bound token (DPoP) its proof
    /// for this request ([`OutgoingRequest::target`]), made fresh on each call.
    ///
    /// # Errors
    ///
    /// Only for a bound token: the adapter gives no [`target`](OutgoingRequest::target), or no
    /// proof can be made for it.
    pub fn put_token<R: OutgoingRequest + ?Sized>(
        &self,
        request: &mut R,
        token: &AccessToken,
    ) -> Result<(), AuthError> {
        match &self.shared.settings.placement {
            Placement::Header(slot) => {
                slot.insert(request.headers_mut(), token.header_value().clone())
            }
            Placement::Query(param) => {
                let pair = SecretString::from(param.pair(token.secret().expose_secret()));
                let new = param.replaced_in(request.query().unwrap_or(""), pair.expose_secret());
                request.set_query(&new);
            }
        }
        let Some(binding) = token.binding() else {
            return Ok(());
        };
        let Some((method, uri)) = request.target() else {
            return Err(AuthError::new(
                auth_core::ErrorKind::Request,
                format!(
                    "the token is bound ({}) and needs a proof per request, but this client's \
                     adapter does not give the request's method and URI",
                    binding.scheme()
                ),
            ));
        };
        let (name, value) = binding.proof(&method, &uri)?;
        request.headers_mut().insert(name, value);
        Ok(())
    }

    /// For a bound token (DPoP): shows the response to `uri` to the token's binding, which keeps
    /// the server's nonce; `true` when it is a nonce challenge, to answer by sending the same
    /// request once more with the same token ([`put_token`](Self::put_token) makes the new
    /// proof). Always `false` for a bearer token.
    pub fn nonce_challenge(
        &self,
        token: &AccessToken,
        uri: Option<&Uri>,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> bool {
        token
            .binding()
            .is_some_and(|binding| binding.observe(uri, status, headers))
    }

    /// Whether a 401 is retried once with a fresh token (see [`TokenLayer::retry_on_401`]).
    pub fn retries_on_401(&self) -> bool {
        self.shared.settings.retry_on_401
    }

    /// For a keyed layer ([`TokenLayer::keyed`]): the token source of the key in `extensions`,
    /// or the [`NoTokenKey`](auth_core::ErrorKind::NoTokenKey) error when there is none (the
    /// request must not be sent). `Ok(None)` for a one-token layer: use
    /// [`source`](TokenLayer::source).
    pub fn keyed_source(
        &self,
        extensions: &http::Extensions,
    ) -> Result<Option<std::sync::Arc<dyn TokenSource>>, AuthError> {
        match &self.shared.pick {
            Some(pick) => pick.pick(extensions).map(Some),
            None => Ok(None),
        }
    }
}

/// Whether the origin restriction lets a credential go with `request`.
fn allows<R: OutgoingRequest + ?Sized>(filter: Option<&crate::OriginFilter>, request: &R) -> bool {
    filter.is_none()
        || origin::allows_parts(filter, request.scheme(), request.host(), request.port())
}

/// Whether `request` already carries a credential where `placement` would put one.
fn carries<R: OutgoingRequest + ?Sized>(placement: &Placement, request: &R) -> bool {
    match placement {
        Placement::Header(slot) => request.headers().contains_key(slot.name()),
        Placement::Query(param) => request.query().is_some_and(|q| param.carried_in(q)),
    }
}
