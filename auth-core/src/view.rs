//! [`TokenView`]: one reader's cheap, repeated look at a source's current token.
//!
//! A service that sends many requests asks its source for the current token on every one of
//! them. [`TokenSource::current`] answers from shared state (for a [`CachedTokenSource`], an
//! `ArcSwap` load and the checks of the token's refresh window); a `TokenView`, owned by one
//! reader (a service, which is called through `&mut self`), keeps the answer as a [`Lease`]:
//! the token, the [generation](TokenSource::generation) of the source it was read at, and the
//! instant until which the source would keep giving the same answer. While the source's
//! generation is unchanged and that instant is ahead, the view answers from the lease: one
//! atomic load, one clock read and no write to memory other threads read; no clock read at all
//! when the generation is *watched* (the source takes a new one before `until` comes, see
//! [`next_generation`]). Otherwise it asks the
//! source again ([`TokenSource::lease`], or [`TokenSource::current`] when no lease is given, e.g.
//! when a refresh is due and `current` has work to do).
//!
//! Generations come from one process-wide counter ([`next_generation`]), so a lease read from one
//! source never matches another source's generation: a view handed another source by mistake
//! asks that source instead of answering with the first one's token.
//!
//! # Watched generations
//!
//! A [`CachedTokenSource`] that stores a token inside a multi-thread Tokio runtime spawns a timer
//! there that takes a new generation one second before the lease's `until` (the opening of the
//! refresh window, or, with proactive refresh off, the point the token stops being handed out),
//! and hands out leases of that generation only until then. Its readers compare generations
//! and read no clock. Everywhere else (no runtime, a current-thread runtime, and so paused time
//! in tests, where `tokio::time::advance` keeps working exactly) the generation is unwatched and
//! readers read tokio's clock. A timer dropped unfired (its runtime shut down) ends its
//! generation as it goes. The cache's own [`current`](TokenSource::current) skips the clock under
//! a watched generation too (a keyed layer, the reqwest adapter). What a timer cannot promise is
//! to run on time when every worker of its runtime is blocked: until it runs, readers keep
//! answering with the token past `until`. With proactive refresh on (the default) that only
//! starts the refresh later, as the token stays valid until its expiry (minutes after the window
//! opens, by default); a token that expired meanwhile is answered with a 401, whose
//! invalidation takes a new, unwatched generation, and `TokenLayer` retries with a new token.
//!
//! ```
//! use auth_core::{AccessToken, CachedTokenSource, StaticTokenSource, TokenSource, TokenView};
//! use std::time::Duration;
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::AuthError> {
//! let first = AccessToken::builder("one").expires_in(Duration::from_secs(3600)).build()?;
//! let cache = CachedTokenSource::new(StaticTokenSource::new(first.clone()));
//! cache.insert(first);
//! let mut view = TokenView::new();
//! assert_eq!(view.current(&cache).unwrap().header_value(), "Bearer one");
//! // Any change to the cache is seen at once.
//! cache.insert(AccessToken::builder("two").expires_in(Duration::from_secs(3600)).build()?);
//! assert_eq!(view.current(&cache).unwrap().header_value(), "Bearer two");
//! cache.clear();
//! assert!(view.current(&cache).is_none());
//! # Ok(()) }
//! ```
//!
//! [`CachedTokenSource`]: crate::CachedTokenSource

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};

use tokio::time::Instant;

use crate::{AccessToken, TokenSource};

/// The process-wide source of generations; 0 is never handed out.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// A generation no source has had before: for a [`TokenSource`] that implements
/// [`generation`](TokenSource::generation), taken whenever what `current` answers changes.
///
/// `watched` says whether the source promises to take a new generation before the `until` of
/// the leases it hands out at this one (it runs a timer): a [`TokenView`] then compares
/// generations only and does not read the clock. Watched generations are odd, unwatched ones
/// even.
pub fn next_generation(watched: bool) -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed) * 2 + u64::from(watched)
}

/// Whether `generation` was taken as a watched one (see [`next_generation`]).
#[inline]
pub(crate) fn is_watched(generation: u64) -> bool {
    generation & 1 == 1
}

/// What [`TokenSource::current`] answers, for as long as the source's generation stays
/// `generation` and the clock is before `until`; see the [module docs](self).
#[derive(Clone)]
pub struct Lease {
    token: AccessToken,
    generation: u64,
    until: Instant,
}

impl Lease {
    /// `current` answers `token` while the source is at `generation` and the clock is before
    /// `until`.
    pub fn new(token: AccessToken, generation: u64, until: Instant) -> Self {
        Self {
            token,
            generation,
            until,
        }
    }

    /// The token.
    pub fn token(&self) -> &AccessToken {
        &self.token
    }

    /// The source's generation it was read at.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Until when it holds (unless the generation changes first).
    pub fn until(&self) -> Instant {
        self.until
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("token", &self.token)
            .field("generation", &self.generation)
            .field(
                "until",
                &self.until.saturating_duration_since(Instant::now()),
            )
            .finish()
    }
}

/// One reader's view of a source's current token; see the [module docs](self).
///
/// Cloning copies the lease, so a clone of a service answers from it at once.
#[derive(Clone, Default)]
pub struct TokenView {
    /// The last answer.
    token: Option<AccessToken>,
    /// The generation and `until` of the lease `token` came from; `None` when it came from
    /// `current` (not leased: the source is asked again next time).
    held: Option<(u64, Instant)>,
}

impl TokenView {
    /// A view that has not read anything yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// What `source.current()` answers now: from the lease while it holds, else from the
    /// source.
    #[inline]
    pub fn current<S: TokenSource + ?Sized>(&mut self, source: &S) -> Option<AccessToken> {
        let holds = match self.held {
            Some((generation, until)) => {
                source.generation() == Some(generation)
                    && (is_watched(generation) || Instant::now() < until)
            }
            None => false,
        };
        if !holds {
            self.renew(source);
        }
        self.token.clone()
    }

    #[cold]
    #[inline(never)]
    fn renew<S: TokenSource + ?Sized>(&mut self, source: &S) {
        match source.lease() {
            Some(lease) => {
                self.held = Some((lease.generation, lease.until));
                self.token = Some(lease.token);
            }
            None => {
                self.held = None;
                self.token = source.current();
            }
        }
    }
}

impl fmt::Debug for TokenView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenView")
            .field("token", &self.token)
            .field("leased", &self.held.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests;
