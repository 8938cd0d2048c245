//! What a response the layer gives up on carries: the [`AuthError`] of a 401 or 403 (or gRPC
//! status 16 or 7), saying what the request carried and why it was not retried.

use auth_core::{AccessToken, Redactor};
use http::Response;

use super::{
    replay::ReplayableBody,
    retry::{self, Rejection},
};
use crate::{BoxError, response::Detail};

/// Why a 401 was not retried when the source gave back the token that was rejected.
pub(crate) const NO_NEWER_TOKEN: &str =
    "the token source has no other token to offer, so it was not retried";

/// Why a 401 or 403 was handed over: after a retry, or why there was none.
pub(crate) fn give_up_reason(
    rejection: Rejection,
    retried: bool,
    could_retry: bool,
) -> &'static str {
    if rejection.is_forbidden() {
        match rejection {
            Rejection::Grpc(_) => {
                "the token was accepted but does not grant access; requests are not retried on \
                 PERMISSION_DENIED"
            }
            Rejection::Http(_) => {
                "the token was accepted but does not grant access; requests are not retried on 403"
            }
        }
    } else if retried {
        "a freshly fetched token was rejected too"
    } else if could_retry {
        "the server's challenge says the request, not the token, is at fault, so it was not \
         retried"
    } else {
        "the request could not be replayed (streaming or large body, or retry disabled), so it \
         was not retried with a fresh token"
    }
}

/// Attaches the 401/403 (or gRPC 16/7) as an [`AuthError`] to the response, with every token
/// the request sent cut out of the server's challenge or `grpc-message` (an API may echo the
/// token it rejected). A gRPC failure becomes an error instead when the body type says its
/// client would drop the response's extensions ([`ReplayableBody::grpc_failure`]).
pub(super) fn attach_error<B: ReplayableBody, ResB>(
    mut response: Response<ResB>,
    rejection: Rejection,
    carried: Detail,
    why: &str,
    sent: &[Option<&AccessToken>],
) -> Result<Response<ResB>, BoxError> {
    if let Some(error) = rejection_error(rejection, response.headers(), carried, why, sent) {
        if let Rejection::Grpc(_) = rejection
            && let Some(failure) = B::grpc_failure(response.headers(), &error)
        {
            return Err(failure);
        }
        response.extensions_mut().insert(error);
    }
    Ok(response)
}

/// The [`AuthError`] of a rejection: what the request carried, why it was handed over, and the
/// challenge (or `grpc-message`) with every token in `sent` cut out. `None` when the headers
/// describe no rejection.
pub(crate) fn rejection_error(
    rejection: Rejection,
    headers: &http::HeaderMap,
    carried: Detail,
    why: &str,
    sent: &[Option<&AccessToken>],
) -> Option<auth_core::AuthError> {
    let error = retry::error_of(rejection, headers)?;
    let redactor = Redactor::new();
    for token in sent.iter().flatten() {
        redactor.add_token(token);
    }
    Some(
        error
            .with_detail(format!("{}; {why}", carried.as_str()))
            .redact(&redactor),
    )
}
