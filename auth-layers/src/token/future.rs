//! The response future of [`TokenService`](super::TokenService): fetch a token if needed,
//! buffer the body if it must be replayable, send, and on a 401 refresh and send once more.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use auth_core::{AccessToken, AuthError, TokenFuture, TokenSource};
use http::{Request, Response, StatusCode, request::Parts};
use http_body::Body;
use http_body_util::{BodyExt, combinators::Collect};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{
    Settings,
    replay::{self, ReplayPlan, ReplayableBody},
    retry::{self, Decision},
};
use crate::BoxError;

pin_project! {
    /// Response future of [`TokenService`](super::TokenService).
    pub struct ResponseFuture<S, T, B>
    where
        S: Service<Request<B>>,
        B: Body,
    {
        #[pin]
        state: State<S::Future, B>,
        inner: S,
        source: T,
        settings: Arc<Settings>,
        // The request while its token is fetched.
        pending: Option<Request<B>>,
        // The head while the body is buffered.
        head: Option<Parts>,
        // The copy kept for the one retry.
        replay: Option<Request<B>>,
        // The token the request carries; `None` when the layer passed the request through.
        token: Option<AccessToken>,
        // The 401 held while a fresh token is fetched, returned if none comes.
        first: Option<S::Response>,
        retried: bool,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B>
    where
        B: Body,
    {
        Fetching { fut: TokenFuture<'static> },
        Buffering { #[pin] collect: Collect<B> },
        Calling { #[pin] fut: F },
        Refetching { fut: TokenFuture<'static> },
        Readying,
        Done,
    }
}

/// How the first attempt starts once a token is at hand.
enum Begin<F, B> {
    Call(F, Option<Request<B>>),
    Buffer(Parts, B),
}

fn begin<S, B>(
    inner: &mut S,
    settings: &Settings,
    request: Request<B>,
    token: &AccessToken,
) -> Begin<S::Future, B>
where
    S: Service<Request<B>>,
    B: ReplayableBody,
{
    let (mut head, body) = request.into_parts();
    head.headers
        .insert(settings.header.clone(), token.header_value().clone());
    if !settings.retry_on_401 {
        return Begin::Call(inner.call(Request::from_parts(head, body)), None);
    }
    match replay::plan(&body, settings.replay_limit) {
        (ReplayPlan::Copy, Some(copy)) => {
            let replay = Request::from_parts(head.clone(), copy);
            Begin::Call(inner.call(Request::from_parts(head, body)), Some(replay))
        }
        (ReplayPlan::Buffer, _) => Begin::Buffer(head, body),
        _ => Begin::Call(inner.call(Request::from_parts(head, body)), None),
    }
}

fn fetch_owned<T: TokenSource + Clone>(source: &T) -> TokenFuture<'static> {
    let source = source.clone();
    Box::pin(async move { source.token().await })
}

impl<S, T, B> ResponseFuture<S, T, B>
where
    S: Service<Request<B>>,
    T: TokenSource + Clone,
    B: ReplayableBody,
{
    fn with_state(
        inner: S,
        source: T,
        settings: Arc<Settings>,
        state: State<S::Future, B>,
    ) -> Self {
        Self {
            state,
            inner,
            source,
            settings,
            pending: None,
            head: None,
            replay: None,
            token: None,
            first: None,
            retried: false,
        }
    }

    pub(super) fn send(
        mut inner: S,
        source: T,
        settings: Arc<Settings>,
        request: Request<B>,
        token: AccessToken,
    ) -> Self {
        let started = begin(&mut inner, &settings, request, &token);
        let mut this = Self::with_state(inner, source, settings, State::Done);
        match started {
            Begin::Call(fut, replay) => {
                this.state = State::Calling { fut };
                this.replay = replay;
            }
            Begin::Buffer(head, body) => {
                this.state = State::Buffering {
                    collect: body.collect(),
                };
                this.head = Some(head);
            }
        }
        this.token = Some(token);
        this
    }

    pub(super) fn fetch(inner: S, source: T, settings: Arc<Settings>, request: Request<B>) -> Self {
        let fut = fetch_owned(&source);
        let mut this = Self::with_state(inner, source, settings, State::Fetching { fut });
        this.pending = Some(request);
        this
    }

    pub(super) fn pass_through(
        mut inner: S,
        source: T,
        settings: Arc<Settings>,
        request: Request<B>,
    ) -> Self {
        let fut = inner.call(request);
        Self::with_state(inner, source, settings, State::Calling { fut })
    }
}

impl<S, T, B, ResB> Future for ResponseFuture<S, T, B>
where
    S: Service<Request<B>, Response = Response<ResB>>,
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
                StateProj::Fetching { fut } => {
                    let token = match ready!(fut.as_mut().poll(cx)) {
                        Ok(token) => token,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error.into()));
                        }
                    };
                    let Some(request) = this.pending.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    match begin(this.inner, this.settings, request, &token) {
                        Begin::Call(fut, replay) => {
                            *this.replay = replay;
                            this.state.set(State::Calling { fut });
                        }
                        Begin::Buffer(head, body) => {
                            *this.head = Some(head);
                            this.state.set(State::Buffering {
                                collect: body.collect(),
                            });
                        }
                    }
                    *this.token = Some(token);
                }
                StateProj::Buffering { collect } => {
                    let bytes = match ready!(collect.poll(cx)) {
                        Ok(collected) => collected.to_bytes(),
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error.into()));
                        }
                    };
                    let Some(head) = this.head.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    *this.replay = Some(Request::from_parts(
                        head.clone(),
                        B::from_buffered(bytes.clone()),
                    ));
                    let fut = this
                        .inner
                        .call(Request::from_parts(head, B::from_buffered(bytes)));
                    this.state.set(State::Calling { fut });
                }
                StateProj::Calling { fut } => {
                    let response = match ready!(fut.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error.into()));
                        }
                    };
                    let Some(token) = this.token.as_ref() else {
                        // Passed through: the caller's own credential, not ours to judge.
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    };
                    let can_retry =
                        this.settings.retry_on_401 && !*this.retried && this.replay.is_some();
                    match retry::decide(response.status(), response.headers(), can_retry) {
                        Decision::Accept => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        Decision::GiveUp => {
                            this.state.set(State::Done);
                            let why = give_up_reason(response.status(), *this.retried, can_retry);
                            return Poll::Ready(Ok(attach_error(response, this.settings, why)));
                        }
                        Decision::Retry => {
                            #[cfg(feature = "tracing")]
                            tracing::debug!(
                                target: "tower_auth::token_layer",
                                "401 for a token; invalidating it and retrying once"
                            );
                            this.source.invalidate(token);
                            *this.first = Some(response);
                            let fut = fetch_owned(this.source);
                            this.state.set(State::Refetching { fut });
                        }
                    }
                }
                StateProj::Refetching { fut } => {
                    let token = match ready!(fut.as_mut().poll(cx)) {
                        Ok(token) => token,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error.into()));
                        }
                    };
                    if this.token.as_ref().is_some_and(|old| old.same_as(&token)) {
                        // The source has nothing newer: a retry would be rejected the same way.
                        this.state.set(State::Done);
                        return match this.first.take() {
                            Some(response) => Poll::Ready(Ok(attach_error(
                                response,
                                this.settings,
                                "the token source has no other token to offer, so it was not \
                                 retried",
                            ))),
                            None => Poll::Ready(Err(polled_after_completion())),
                        };
                    }
                    *this.first = None;
                    *this.token = Some(token);
                    *this.retried = true;
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    if let Err(error) = ready!(this.inner.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(error.into()));
                    }
                    let (Some(mut request), Some(token)) =
                        (this.replay.take(), this.token.as_ref())
                    else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    request
                        .headers_mut()
                        .insert(this.settings.header.clone(), token.header_value().clone());
                    let fut = this.inner.call(request);
                    this.state.set(State::Calling { fut });
                }
                StateProj::Done => return Poll::Ready(Err(polled_after_completion())),
            }
        }
    }
}

fn give_up_reason(status: StatusCode, retried: bool, could_retry: bool) -> &'static str {
    if status == StatusCode::FORBIDDEN {
        "the token was accepted but does not grant access; requests are not retried on 403"
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

fn attach_error<ResB>(
    mut response: Response<ResB>,
    settings: &Settings,
    why: &str,
) -> Response<ResB> {
    if let Some(error) = AuthError::from_response(&response) {
        let error = error.with_detail(format!(
            "the request carried an access token in the `{}` header; {why}",
            settings.header
        ));
        response.extensions_mut().insert(error);
    }
    response
}

fn polled_after_completion() -> BoxError {
    "TokenService response future polled after completion".into()
}
