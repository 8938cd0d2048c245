//! The response future of [`Token`](super::Token): fetch a token if needed,
//! buffer the body if it must be replayable, send, and on a 401 refresh and send once more.

use std::{
    future::Future,
    mem,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use auth_core::{AccessToken, AuthError, TokenFuture, TokenSource};
use http::{Request, Response, request::Parts};
use http_body::Body;
use http_body_util::combinators::Collect;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{
    Bound,
    attach::{Nonce, begin, bound_response},
    later::{Later, fetch_owned},
    rejected::{NO_NEWER_TOKEN, attach_error, give_up_reason},
    replay::{Replay, ReplayableBody},
    retry::{self, Decision, Rejection},
};
use crate::{BoxError, response::Detail};

pin_project! {
    /// Response future of [`Token`](super::Token).
    pub struct ResponseFuture<S, T, B>
    where
        S: Service<Request<B>>,
        B: Body,
    {
        #[pin]
        state: State<S::Future, B, S::Response>,
        // What work after the first call needs (a token fetch, the body's buffering, the retry
        // after a 401). `None` for a request that carries a cached token and cannot be retried,
        // and for one passed through: nothing after their call needs the service or the layer,
        // so their hot path clones neither.
        later: Option<Later<S, T>>,
        // The token the request carries, kept when a retry may have to invalidate it.
        token: Option<AccessToken>,
        // What the request carried, for the `AuthError` of a 401 or 403; `None` when the layer
        // passed the request through (another origin, or the caller's own credential).
        carried: Option<Detail>,
        retried: bool,
        // Whether the token is bound (DPoP), and whether a nonce challenge was answered (once
        // per request; not the retry after a 401).
        nonce: Nonce,
    }
}

pin_project! {
    // Each state holds what only it needs, so the future is as large as its largest state rather
    // than the sum of them all: it is moved a few times before it is polled.
    #[project = StateProj]
    pub(super) enum State<F, B, R>
    where
        B: Body,
    {
        // The request waits for its token.
        Fetching { fut: TokenFuture<'static>, request: Option<Request<B>> },
        // The body is buffered so the request can be replayed; `head` waits for it.
        Buffering { #[pin] collect: Collect<B>, head: Option<Parts> },
        // `replay` is the copy kept for the one retry.
        Calling { #[pin] fut: F, replay: Option<Replay<B>> },
        // A fresh token is fetched after a 401; `first` is returned if none comes.
        Refetching {
            fut: TokenFuture<'static>,
            first: Option<R>,
            rejection: Rejection,
            replay: Option<Replay<B>>,
        },
        // `again`: a resend after a DPoP nonce challenge, which keeps a copy for a later 401.
        Readying { replay: Option<Replay<B>>, again: bool },
        // The token could not be placed in the request (a URI that takes no query).
        Failed { error: Option<AuthError> },
        Done,
    }
}

impl<S, T, B> ResponseFuture<S, T, B>
where
    S: Service<Request<B>> + Clone,
    T: TokenSource + Clone,
    B: ReplayableBody,
{
    /// The request carries `token`, from the cache; `inner` is the layer's ready service.
    #[inline(always)]
    pub(super) fn send(
        inner: &mut S,
        bound: &Arc<Bound<S, T>>,
        request: Request<B>,
        token: AccessToken,
        picked: Option<Arc<dyn TokenSource>>,
    ) -> Self {
        if token.binding().is_some() {
            return Self::send_bound(inner, bound, request, token, picked);
        }
        Self::send_with::<false>(inner, bound, request, token, picked)
    }

    /// [`send`](Self::send) for a bound token (DPoP), off the bearer path.
    #[cold]
    #[inline(never)]
    fn send_bound(
        inner: &mut S,
        bound: &Arc<Bound<S, T>>,
        request: Request<B>,
        token: AccessToken,
        picked: Option<Arc<dyn TokenSource>>,
    ) -> Self {
        Self::send_with::<true>(inner, bound, request, token, picked)
    }

    #[inline(always)]
    fn send_with<const BOUND: bool>(
        inner: &mut S,
        bound: &Arc<Bound<S, T>>,
        request: Request<B>,
        token: AccessToken,
        picked: Option<Arc<dyn TokenSource>>,
    ) -> Self {
        let settings = &bound.shared.settings;
        let state = begin(
            inner,
            settings,
            request,
            &token,
            settings.retry_on_401 || BOUND,
            BOUND,
        );
        let carried = Some(settings.carried);
        let nonce = if BOUND { Nonce::Bound } else { Nonce::Bearer };
        let service = match &state {
            // Sent, and no retry possible: nothing more to do but look at the response (a
            // bound token's binding looks at it too).
            State::Calling { replay: None, .. } | State::Failed { .. } if !BOUND => {
                return Self {
                    state,
                    later: None,
                    token: None,
                    carried,
                    retried: false,
                    nonce,
                };
            }
            // Not called yet: the ready service goes into the future, the layer keeps a clone
            // (tower's pattern).
            State::Buffering { .. } => {
                let clone = inner.clone();
                Some(mem::replace(inner, clone))
            }
            // Called, with a copy kept: a retry clones the spare service.
            _ => None,
        };
        Self {
            state,
            later: Some(Later {
                bound: bound.clone(),
                picked,
                service,
            }),
            token: Some(token),
            carried,
            retried: false,
            nonce,
        }
    }

    /// The request waits for a token; `inner` is the layer's ready service, moved in.
    pub(super) fn fetch(
        inner: S,
        bound: Arc<Bound<S, T>>,
        request: Request<B>,
        picked: Option<Arc<dyn TokenSource>>,
    ) -> Self {
        let fut = fetch_owned(&bound.shared, picked.as_ref());
        let carried = Some(bound.shared.settings.carried);
        Self {
            state: State::Fetching {
                fut,
                request: Some(request),
            },
            later: Some(Later {
                bound,
                picked,
                service: Some(inner),
            }),
            token: None,
            carried,
            retried: false,
            nonce: Nonce::Bearer,
        }
    }

    /// The request is not sent: `error` says why (a keyed layer's request without a key).
    pub(super) fn failed(error: AuthError) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
            later: None,
            token: None,
            carried: None,
            retried: false,
            nonce: Nonce::Bearer,
        }
    }

    /// The layer leaves the request alone: `future` is the inner service's call.
    #[inline]
    pub(super) fn pass_through(future: S::Future) -> Self {
        Self {
            state: State::Calling {
                fut: future,
                replay: None,
            },
            later: None,
            token: None,
            carried: None,
            retried: false,
            nonce: Nonce::Bearer,
        }
    }
}

impl<S, T, B, ResB> Future for ResponseFuture<S, T, B>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    T: TokenSource + Clone,
    B: ReplayableBody,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Fetching { fut, request } => {
                    let token = match ready!(fut.as_mut().poll(cx)) {
                        Ok(token) => token,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error.into()));
                        }
                    };
                    let (
                        Some(request),
                        Some(Later {
                            bound,
                            service: Some(service),
                            ..
                        }),
                    ) = (request.take(), this.later.as_mut())
                    else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    *this.nonce = Nonce::of(&token);
                    let is_bound = *this.nonce == Nonce::Bound;
                    let settings = &bound.shared.settings;
                    let keep_copy = settings.retry_on_401 || is_bound;
                    let next = begin(service, settings, request, &token, keep_copy, is_bound);
                    this.state.set(next);
                    *this.token = Some(token);
                }
                StateProj::Buffering { collect, head } => {
                    let bytes = match ready!(collect.poll(cx)) {
                        Ok(collected) => collected.to_bytes(),
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error.into()));
                        }
                    };
                    let (
                        Some(head),
                        Some(Later {
                            service: Some(service),
                            ..
                        }),
                    ) = (head.take(), this.later.as_mut())
                    else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let request = Request::from_parts(head, B::from_buffered(bytes.clone()));
                    let replay = Some(Replay::copy(&request, B::from_buffered(bytes)));
                    let fut = service.call(request);
                    this.state.set(State::Calling { fut, replay });
                }
                StateProj::Calling { fut, replay } => {
                    let response = match ready!(fut.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error.into()));
                        }
                    };
                    let Some(carried) = *this.carried else {
                        // Passed through (the caller's own credential, or another origin's
                        // request): not ours to judge.
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    };
                    if *this.nonce != Nonce::Bearer
                        && bound_response(
                            this.token.as_ref(),
                            replay,
                            this.later.as_ref().map(|l| &l.bound.shared.settings),
                            this.nonce,
                            &response,
                        )
                    {
                        // A DPoP nonce challenge: the same token, a proof with the new nonce.
                        let replay = replay.take();
                        this.state.set(State::Readying {
                            replay,
                            again: true,
                        });
                        continue;
                    }
                    // A copy is kept only when retrying is on (or for a bound token's nonce
                    // challenge, dropped by then), and with it the shared state and the token.
                    let retry_with = match (&this.later, &*this.token) {
                        (Some(later), Some(token)) if replay.is_some() && !*this.retried => {
                            Some((later, token))
                        }
                        _ => None,
                    };
                    let can_retry = retry_with.is_some();
                    match (
                        retry::decide(response.status(), response.headers(), can_retry),
                        retry_with,
                    ) {
                        (Decision::Retry(rejection), Some((later, token))) => {
                            #[cfg(feature = "tracing")]
                            tracing::debug!(
                                target: "tower_auth::token_layer",
                                grpc = matches!(rejection, Rejection::Grpc(_)),
                                "401 for a token; invalidating it and retrying once"
                            );
                            #[cfg(feature = "metrics")]
                            metrics::counter!(super::RETRIES, "status" => rejection.label())
                                .increment(1);
                            let picked = match later.retry_source(replay.as_ref()) {
                                Ok(picked) => picked,
                                Err(error) => {
                                    this.state.set(State::Done);
                                    return Poll::Ready(Err(error.into()));
                                }
                            };
                            later.invalidate(picked.as_ref(), token);
                            let fut = fetch_owned(&later.bound.shared, picked.as_ref());
                            let replay = replay.take();
                            this.state.set(State::Refetching {
                                fut,
                                first: Some(response),
                                rejection,
                                replay,
                            });
                        }
                        (Decision::Accept, _) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        (Decision::GiveUp(rejection) | Decision::Retry(rejection), _) => {
                            this.state.set(State::Done);
                            let why = give_up_reason(rejection, *this.retried, can_retry);
                            let sent = [this.token.as_ref()];
                            return Poll::Ready(attach_error::<B, _>(
                                response, rejection, carried, why, &sent,
                            ));
                        }
                    }
                }
                StateProj::Refetching {
                    fut,
                    first,
                    rejection,
                    replay,
                } => {
                    let token = match ready!(fut.as_mut().poll(cx)) {
                        Ok(token) => token,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error.into()));
                        }
                    };
                    if this.token.as_ref().is_some_and(|old| old.same_as(&token)) {
                        // The source has nothing newer: a retry would be rejected the same way.
                        let (first, rejection) = (first.take(), *rejection);
                        this.state.set(State::Done);
                        return match (first, *this.carried) {
                            (Some(response), Some(carried)) => Poll::Ready(attach_error::<B, _>(
                                response,
                                rejection,
                                carried,
                                NO_NEWER_TOKEN,
                                &[this.token.as_ref(), Some(&token)],
                            )),
                            _ => Poll::Ready(Err(polled_after_completion())),
                        };
                    }
                    let replay = replay.take();
                    if *this.nonce == Nonce::Bearer {
                        *this.nonce = Nonce::of(&token);
                    }
                    *this.token = Some(token);
                    *this.retried = true;
                    this.state.set(State::Readying {
                        replay,
                        again: false,
                    });
                }
                StateProj::Readying { replay, again } => {
                    let Some(Later { bound, service, .. }) = this.later.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let service = service.get_or_insert_with(|| bound.service());
                    if let Err(error) = ready!(service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(error.into()));
                    }
                    let (Some(request), Some(token)) =
                        (replay.take().map(Replay::into_request), this.token.as_ref())
                    else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    // After a nonce challenge the 401 retry is still to come: keep a copy as
                    // the first attempt did (a buffered body is buffered again, at once).
                    let bound_token = token.binding().is_some();
                    let next = begin(
                        service,
                        &bound.shared.settings,
                        request,
                        token,
                        *again,
                        bound_token,
                    );
                    this.state.set(next);
                }
                StateProj::Failed { error } => {
                    let error = error.take();
                    this.state.set(State::Done);
                    return Poll::Ready(Err(match error {
                        Some(error) => error.into(),
                        None => polled_after_completion(),
                    }));
                }
                StateProj::Done => return Poll::Ready(Err(polled_after_completion())),
            }
        }
    }
}

fn polled_after_completion() -> BoxError {
    "token service response future polled after completion".into()
}
