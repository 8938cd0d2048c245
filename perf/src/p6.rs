//! P6: what a DPoP-bound token costs per request on the `TokenLayer` path (a proof signed per
//! request) against the bearer `TokenLayer`, per algorithm, on the same requests (absolute
//! URIs, since a proof names the URL). The token is cached and fresh, as in P1: only the layer's
//! work is timed.

use std::time::Duration;

use auth_core::{CachedTokenSource, StaticTokenSource};
use auth_oauth::dpop::{Dpop, DpopKey};
use http::Uri;
use tower::Layer;
use tower_auth::TokenLayer;

use crate::p1::{Requests, Shape, TOKEN, WithStack, fresh_token_cache, inner};

/// The token a P6 stack carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// A bearer token (the baseline: P1's `TokenLayer`).
    Bearer,
    /// A DPoP-bound token, ES256 proofs (P-256).
    Es256,
    /// A DPoP-bound token, EdDSA proofs (Ed25519).
    EdDsa,
}

impl Proof {
    /// Every variant, baseline first.
    pub const ALL: [Proof; 3] = [Proof::Bearer, Proof::Es256, Proof::EdDsa];

    /// The name shown in tables.
    pub fn name(self) -> &'static str {
        match self {
            Proof::Bearer => "TokenLayer, bearer token",
            Proof::Es256 => "TokenLayer, DPoP ES256",
            Proof::EdDsa => "TokenLayer, DPoP EdDSA",
        }
    }
}

/// P6's requests: P1's shape, to an absolute URL.
pub fn requests(shape: Shape) -> Requests {
    shape
        .requests()
        .with_uri(Uri::from_static("https://api.example.com/v1/items?page=2"))
}

/// Builds the `TokenLayer` stack carrying `proof`'s token and hands it to `with`.
pub fn with_stack<W: WithStack>(proof: Proof, with: W) -> W::Output {
    let key = match proof {
        Proof::Bearer => return with.run(TokenLayer::new(fresh_token_cache()).layer(inner())),
        Proof::Es256 => DpopKey::generate_es256(),
        Proof::EdDsa => DpopKey::generate_ed25519(),
    }
    .expect("a DPoP key");
    let token = Dpop::new(key)
        .access_token(TOKEN)
        .expires_in(Duration::from_secs(24 * 3600))
        .build()
        .expect("a bound token");
    let cache = CachedTokenSource::new(StaticTokenSource::new(token.clone()));
    cache.insert(token);
    with.run(TokenLayer::new(cache).layer(inner()))
}
