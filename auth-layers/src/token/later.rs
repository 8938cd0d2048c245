//! What a [`Token`](super::Token) request needs after its first call (a token fetch, the
//! body's buffering, the retry after a 401), and where a fetch or a retry gets its token.

use std::sync::Arc;

use auth_core::{AccessToken, AuthError, TokenFuture, TokenSource};

use super::{Bound, Shared, replay::Replay};

/// What work after the first call needs.
pub(super) struct Later<S, T> {
    pub(super) bound: Arc<Bound<S, T>>,
    /// The request's own source, for a keyed layer that fetched it (`None`: the layer's
    /// source, or for a keyed layer, the source picked again from the request's copy).
    pub(super) picked: Option<Arc<dyn TokenSource>>,
    /// The service for the next call: the layer's ready service, moved in when the call waits
    /// (for the token, or for the body); for a retry, a clone of the spare, taken only when the
    /// retry happens.
    pub(super) service: Option<S>,
}

/// A token fetch from `picked`, else from the layer's own source, owning what it reads.
pub(super) fn fetch_owned<T: TokenSource>(
    shared: &Arc<Shared<T>>,
    picked: Option<&Arc<dyn TokenSource>>,
) -> TokenFuture<'static> {
    match picked {
        Some(source) => {
            let source = source.clone();
            Box::pin(async move { source.token().await })
        }
        None => {
            let shared = shared.clone();
            Box::pin(async move { shared.source.token().await })
        }
    }
}

impl<S, T: TokenSource> Later<S, T> {
    /// The source to invalidate a rejected token in and fetch the next from: the one the
    /// request's token was fetched from, else for a keyed layer the key's source picked again
    /// from the request's copy (`None`: the layer's own source).
    pub(super) fn retry_source<B>(
        &self,
        replay: Option<&Replay<B>>,
    ) -> Result<Option<Arc<dyn TokenSource>>, AuthError> {
        match (&self.picked, &self.bound.shared.pick, replay) {
            (Some(source), ..) => Ok(Some(source.clone())),
            (None, Some(pick), Some(copy)) => pick.pick(copy.extensions()).map(Some),
            // Without a copy there is no retry; a keyed layer's own source fails closed.
            (None, ..) => Ok(None),
        }
    }

    /// Drops `token` from `picked` (see [`retry_source`](Self::retry_source)).
    pub(super) fn invalidate(&self, picked: Option<&Arc<dyn TokenSource>>, token: &AccessToken) {
        match picked {
            Some(source) => source.invalidate(token),
            None => self.bound.shared.source.invalidate(token),
        }
    }
}
