//! [`TokenSource`]: anything that can produce an [`AccessToken`], plus two simple sources.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use crate::{AccessToken, AuthError, Lease};

/// The future returned by [`TokenSource::token`].
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, AuthError>> + Send + 'a>>;

/// Produces access tokens. Object safe: `Arc<dyn TokenSource>` works everywhere a source does.
///
/// A grant (client credentials, JWT bearer, …) fetches on every [`token`](TokenSource::token)
/// call; wrap it in [`CachedTokenSource`](crate::CachedTokenSource) to reuse, refresh and share
/// tokens.
pub trait TokenSource: Send + Sync + 'static {
    /// A valid token, fetching one if needed.
    fn token(&self) -> TokenFuture<'_>;

    /// A fresh token without awaiting, if one is at hand: the layers' fast path. Defaults to `None`.
    fn current(&self) -> Option<AccessToken> {
        None
    }

    /// The server rejected `token` (a 401): forget it if it is still the one in use. A token that
    /// was already replaced is not invalidated again. Defaults to doing nothing.
    fn invalidate(&self, token: &AccessToken) {
        let _ = token;
    }

    /// Names the state [`current`](TokenSource::current) answers from, for a
    /// [`TokenView`](crate::TokenView): a number taken from
    /// [`next_generation`](crate::view::next_generation) whenever what `current` answers may
    /// change other than by the clock passing (a token stored, invalidated or cleared). Called
    /// once per request on the layers' fast path, so it must be one atomic load. Defaults to
    /// `None`: the source does not say, and a view asks `current` every time.
    #[inline]
    fn generation(&self) -> Option<u64> {
        None
    }

    /// What [`current`](TokenSource::current) answers now and how long that holds (see
    /// [`Lease`]), with no side effect: `None` when the source does not say (the default), has
    /// no fresh token, or would do something in `current` (a refresh is due). The generation in
    /// the lease is read before the token, so a change in between shows as a new generation.
    fn lease(&self) -> Option<Lease> {
        None
    }
}

impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    fn token(&self) -> TokenFuture<'_> {
        (**self).token()
    }

    fn current(&self) -> Option<AccessToken> {
        (**self).current()
    }

    fn invalidate(&self, token: &AccessToken) {
        (**self).invalidate(token)
    }

    #[inline]
    fn generation(&self) -> Option<u64> {
        (**self).generation()
    }

    fn lease(&self) -> Option<Lease> {
        (**self).lease()
    }
}

impl<T: TokenSource + ?Sized> TokenSource for Box<T> {
    fn token(&self) -> TokenFuture<'_> {
        (**self).token()
    }

    fn current(&self) -> Option<AccessToken> {
        (**self).current()
    }

    fn invalidate(&self, token: &AccessToken) {
        (**self).invalidate(token)
    }

    #[inline]
    fn generation(&self) -> Option<u64> {
        (**self).generation()
    }

    fn lease(&self) -> Option<Lease> {
        (**self).lease()
    }
}

/// Always the same token: for long-lived tokens obtained elsewhere.
///
/// ```
/// use auth_core::{AccessToken, StaticTokenSource, TokenSource};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::AuthError> {
/// let source = StaticTokenSource::new(AccessToken::bearer("abc")?);
/// assert_eq!(source.token().await?.header_value(), "Bearer abc");
/// assert!(source.current().is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StaticTokenSource {
    token: AccessToken,
}

impl StaticTokenSource {
    /// A source that always yields `token`.
    pub fn new(token: AccessToken) -> Self {
        Self { token }
    }
}

impl fmt::Debug for StaticTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokenSource")
            .field("token", &self.token)
            .finish()
    }
}

impl TokenSource for StaticTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        let token = self.token.clone();
        Box::pin(async move { Ok(token) })
    }

    fn current(&self) -> Option<AccessToken> {
        Some(self.token.clone())
    }
}

/// A source backed by an async closure: bring your own token logic, get caching, refresh and
/// retry-on-401 by wrapping it in [`CachedTokenSource`](crate::CachedTokenSource).
///
/// ```
/// use auth_core::{AccessToken, FnTokenSource, TokenSource};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::AuthError> {
/// let source = FnTokenSource::new(|| async {
///     // e.g. call your identity provider's SDK here
///     AccessToken::builder("from-my-idp").expires_in(Duration::from_secs(600)).build()
/// });
/// assert_eq!(source.token().await?.header_value(), "Bearer from-my-idp");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FnTokenSource<F> {
    fetch: F,
}

impl<F> FnTokenSource<F> {
    /// Wraps `fetch`, called once per token fetch.
    pub fn new<Fut>(fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<AccessToken, AuthError>> + Send + 'static,
    {
        Self { fetch }
    }
}

impl<F> fmt::Debug for FnTokenSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnTokenSource").finish_non_exhaustive()
    }
}

impl<F, Fut> TokenSource for FnTokenSource<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AccessToken, AuthError>> + Send + 'static,
{
    fn token(&self) -> TokenFuture<'_> {
        Box::pin((self.fetch)())
    }
}
