//! Putting a token on a request for the response future of [`Token`](super::Token): the first
//! attempt ([`begin`]), the token's placement, a bound token's proof (DPoP) and what its
//! responses say ([`Nonce`], [`bound_response`]).

use auth_core::{AccessToken, AuthError, ExposeSecret, SecretString};
use http::{Request, Response};
use http_body_util::BodyExt;
use tower_service::Service;

use super::{
    Settings,
    future::State,
    replay::{self, Replay, ReplayPlan, ReplayableBody},
};
use crate::placement::Placement;

/// A request's token and DPoP nonces: a bearer token never looks at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nonce {
    /// A bearer token.
    Bearer,
    /// A bound token: a nonce challenge is answered by sending the request again.
    Bound,
    /// A bound token whose nonce challenge was answered.
    Answered,
}

impl Nonce {
    pub(super) fn of(token: &AccessToken) -> Nonce {
        match token.binding() {
            None => Nonce::Bearer,
            Some(_) => Nonce::Bound,
        }
    }
}

/// Starts an attempt once a token is at hand: when `keep_copy`, buffers the body first if it
/// must be replayable and cannot be copied, else keeps a copy if it can; then calls `inner`
/// (which must be ready) with the request carrying `token` (and, when `bound`, its proof). The
/// request is changed in place, not taken apart, so it is not moved more than it must be.
///
/// The first attempt keeps a copy when retrying is on or the token is bound (a bound token's
/// request keeps one even with retrying off: a DPoP nonce challenge is answered by sending it
/// again); the resend after a nonce challenge keeps one for the 401 retry still to come.
#[inline(always)]
pub(super) fn begin<S, B>(
    inner: &mut S,
    settings: &Settings,
    mut request: Request<B>,
    token: &AccessToken,
    keep_copy: bool,
    bound: bool,
) -> State<S::Future, B, S::Response>
where
    S: Service<Request<B>>,
    B: ReplayableBody,
{
    let plan = if keep_copy {
        replay::plan(request.body_mut(), settings.replay_limit)
    } else {
        (ReplayPlan::Never, None)
    };
    // The copy is taken before the token goes in (the retry puts the new one in), so a request
    // without headers is copied without allocating.
    let replay = match plan {
        (ReplayPlan::Copy, Some(body)) => Some(Replay::copy(&request, body)),
        _ => None,
    };
    if let Err(error) = place(settings, &mut request, token) {
        return State::Failed { error: Some(error) };
    }
    if bound && let Err(error) = prove(token, &mut request) {
        return State::Failed { error: Some(error) };
    }
    if let (ReplayPlan::Buffer, _) = plan {
        let (head, body) = request.into_parts();
        return State::Buffering {
            collect: body.collect(),
            head: Some(head),
        };
    }
    State::Calling {
        fut: inner.call(request),
        replay,
    }
}

/// Puts `token` where the layer sends it: the header (pre-built value), or the query parameter.
#[inline]
fn place<B>(
    settings: &Settings,
    request: &mut Request<B>,
    token: &AccessToken,
) -> Result<(), AuthError> {
    match &settings.placement {
        Placement::Header(slot) => {
            slot.insert(request.headers_mut(), token.header_value().clone());
            Ok(())
        }
        Placement::Query(param) => {
            let pair = SecretString::from(param.pair(token.secret().expose_secret()));
            param.set(request.uri_mut(), pair.expose_secret())
        }
    }
}

/// A bound token's response: shown to the binding (which keeps the server's nonce). `true` when
/// it is a nonce challenge to answer now (once per request, with a copy of the request at
/// hand; `nonce` becomes `Answered`); otherwise, with retrying off, the copy kept for the
/// challenge is dropped, so a 401 is not retried.
#[cold]
#[inline(never)]
pub(super) fn bound_response<B, R>(
    token: Option<&AccessToken>,
    replay: &mut Option<Replay<B>>,
    settings: Option<&Settings>,
    nonce: &mut Nonce,
    response: &Response<R>,
) -> bool {
    let Some(binding) = token.and_then(AccessToken::binding) else {
        return false;
    };
    let uri = replay.as_ref().map(|r| &r.uri);
    let challenged = binding.observe(uri, response.status(), response.headers());
    if challenged && *nonce == Nonce::Bound && replay.is_some() && settings.is_some() {
        *nonce = Nonce::Answered;
        return true;
    }
    if settings.is_some_and(|s| !s.retry_on_401) {
        *replay = None;
    }
    false
}

/// Adds a bound token's proof (DPoP) for this request.
#[inline(never)]
fn prove<B>(token: &AccessToken, request: &mut Request<B>) -> Result<(), AuthError> {
    let Some(binding) = token.binding() else {
        return Ok(());
    };
    let (name, value) = binding.proof(request.method(), request.uri())?;
    request.headers_mut().insert(name, value);
    Ok(())
}
