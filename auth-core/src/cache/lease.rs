//! Leases on a cache's entry: its generations (see [`TokenSource::generation`]), what
//! [`TokenSource::lease`] answers, and the timers that let readers skip the clock.
//!
//! A reader holding a [`Lease`](crate::Lease) must stop answering from it at its `until` (the
//! token's refresh window opens, or it is no longer handed out). Either it reads the clock on
//! every request, or something tells it, by taking a new generation, before `until` comes. When
//! the cache stores an entry inside a multi-thread Tokio runtime (and
//! [`CacheConfig::lease_timer`] is on, as it is but for a keyed source's caches), it spawns a
//! timer that takes a new generation [`MARGIN`] before `until`, and the entry's generation is
//! *watched* (odd): readers compare generations only, and the cache's own `current` reads no
//! clock either. Elsewhere (no runtime, a current-thread runtime, which runs tasks only while it
//! is driven, and so paused time in tests) the generation is unwatched (even) and readers read
//! the clock. A timer dropped before it fires (its runtime shut down) takes a new, unwatched
//! generation as it goes, so readers never wait on a timer that will not come.

use std::{
    sync::{Arc, Weak, atomic::Ordering},
    time::Duration,
};

use tokio::{
    runtime::{Handle, RuntimeFlavor},
    task::AbortHandle,
    time::Instant,
};

use super::{CacheConfig, Entry, Shared};
use crate::{
    AccessToken, Lease, TokenSource,
    view::{is_watched, next_generation},
};

/// A watched generation ends this long before its lease's `until`, so a timer that runs up to
/// this late still ends it in time.
pub(super) const MARGIN: Duration = Duration::from_secs(1);

/// Until when `current` answers with `entry` and does nothing else: until the refresh window
/// opens (with proactive refresh off, until the token is no longer handed out).
pub(super) fn until(entry: &Entry, config: &CacheConfig) -> Instant {
    if config.proactive_refresh {
        entry.refresh_at.min(entry.stale_at)
    } else {
        entry.stale_at
    }
}

/// The entry was dropped: readers holding a [`Lease`] read again.
pub(super) fn unleased<S>(shared: &Shared<S>) {
    shared
        .generation
        .store(next_generation(false), Ordering::Release);
}

/// The lease on the current entry. A watched generation is leased only while its timer is due
/// to end it in time; when the timer runs late, readers ask `current`.
pub(super) fn lease<S>(shared: &Shared<S>) -> Option<Lease> {
    let generation = shared.generation.load(Ordering::Acquire);
    let guard = shared.entry.load();
    let entry = guard.as_ref()?;
    let until = until(entry, &shared.config);
    let ends = if is_watched(generation) {
        until.checked_sub(MARGIN)?
    } else {
        until
    };
    (Instant::now() < ends).then(|| Lease::new(entry.token.clone(), generation, until))
}

/// `current`'s answer under a watched generation, without reading the clock: the entry is fresh
/// and before its refresh window (its timer ends the generation before that). The generation is
/// read again after the entry, so the entry is the one it names. `None` when the generation is
/// unwatched (the caller reads the clock).
#[inline]
pub(super) fn watched_token<S>(shared: &Shared<S>) -> Option<AccessToken> {
    let generation = shared.generation.load(Ordering::Acquire);
    if !is_watched(generation) {
        return None;
    }
    let guard = shared.entry.load();
    let entry = guard.as_ref()?;
    (shared.generation.load(Ordering::Acquire) == generation).then(|| entry.token.clone())
}

/// The timer of the current entry; replacing or dropping it (with the cache) cancels it.
#[derive(Default)]
pub(super) struct Timer(Option<AbortHandle>);

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(timer) = self.0.take() {
            timer.abort();
        }
    }
}

/// Publishes the generation of an entry just stored, whose lease ends at `until`: watched, with
/// a new timer in `timer`, when a multi-thread runtime can run it and `until` is far enough
/// ahead; unwatched otherwise.
pub(super) fn publish<S: TokenSource>(shared: &Arc<Shared<S>>, timer: &mut Timer, until: Instant) {
    *timer = Timer::default();
    let runtime = Handle::try_current()
        .ok()
        .filter(|runtime| runtime.runtime_flavor() == RuntimeFlavor::MultiThread);
    let fires_at = until.checked_sub(MARGIN).filter(|at| Instant::now() < *at);
    let (true, Some(runtime), Some(fires_at)) = (shared.config.lease_timer, runtime, fires_at)
    else {
        shared
            .generation
            .store(next_generation(false), Ordering::Release);
        return;
    };
    let generation = next_generation(true);
    shared.generation.store(generation, Ordering::Release);
    let unwatch = Unwatch {
        shared: Arc::downgrade(shared),
        generation,
    };
    let task = runtime.spawn(async move {
        tokio::time::sleep_until(fires_at).await;
        drop(unwatch);
    });
    *timer = Timer(Some(task.abort_handle()));
}

/// Ends a watched generation when its timer fires or is dropped: takes a new, unwatched one,
/// unless the cache has moved on already.
struct Unwatch<S: TokenSource> {
    shared: Weak<Shared<S>>,
    generation: u64,
}

impl<S: TokenSource> Drop for Unwatch<S> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            let _ = shared.generation.compare_exchange(
                self.generation,
                next_generation(false),
                Ordering::Release,
                Ordering::Relaxed,
            );
        }
    }
}

#[cfg(test)]
mod tests;
