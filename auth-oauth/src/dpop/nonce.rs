//! The nonces servers hand out (`DPoP-Nonce`), one per origin: a proof to that origin carries
//! the latest.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

/// The most origins remembered; past it the oldest are forgotten (a forgotten origin answers
/// the next proof with a new nonce, which costs one round trip).
const MAX_ORIGINS: usize = 256;

/// The longest nonce kept (servers send tens of bytes; a longer one is not stored).
const MAX_NONCE: usize = 1024;

#[derive(Default)]
pub(super) struct Nonces {
    by_origin: Mutex<HashMap<String, (Arc<str>, u64)>>,
}

impl Nonces {
    /// The nonce kept for `origin` (`scheme://host[:port]`, see `proof::origin_of`).
    pub(super) fn get(&self, origin: &str) -> Option<Arc<str>> {
        self.lock().get(origin).map(|(nonce, _)| nonce.clone())
    }

    /// Keeps `nonce` for `origin`; `true` when it differs from the one kept.
    pub(super) fn put(&self, origin: &str, nonce: &str) -> bool {
        let nonce = nonce.trim();
        if nonce.is_empty() || nonce.len() > MAX_NONCE {
            return false;
        }
        let mut map = self.lock();
        if map.get(origin).is_some_and(|(kept, _)| &**kept == nonce) {
            return false;
        }
        let stamp = map.values().map(|(_, s)| *s).max().map_or(0, |s| s + 1);
        if !map.contains_key(origin) && map.len() >= MAX_ORIGINS {
            let oldest = map
                .iter()
                .min_by_key(|(_, (_, s))| *s)
                .map(|(o, _)| o.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        map.insert(origin.to_owned(), (Arc::from(nonce), stamp));
        true
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<str>, u64)>> {
        self.by_origin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
