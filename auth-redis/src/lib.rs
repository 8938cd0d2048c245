//! The fleet tier of tower-auth's token cache: one token fetch per expiry for a whole fleet of
//! processes, on Redis 6+ or Valkey.
//!
//! auth-core's `CachedTokenSource` stays in front (its lock-free fast path never touches Redis);
//! below it, [`FleetTokenSource`] asks Redis before the token endpoint. Values are sealed with
//! ChaCha20-Poly1305 under an [`EncryptionKey`]; keys are keyed hashes of every token-shaping
//! parameter ([`FleetKey`]), so the client secret never reaches Redis. [`RedisTokenStore`] is a
//! `TokenStore` whose refresh-token rotation is serialized across the fleet.
//!
//! ```no_run
//! use auth_core::{AccessToken, CachedTokenSource, FnTokenSource, TokenSource};
//! use auth_redis::{EncryptionKey, FleetKey, RedisTokenCache};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cache = RedisTokenCache::builder("redis://127.0.0.1:6379")
//!     .key_prefix("billing")
//!     .encryption_key(EncryptionKey::generate()?)
//!     .build()?;
//! let key = FleetKey::builder("https://idp.example/token", "billing-svc")
//!     .grant("client_credentials")
//!     .scopes(["invoices:read"])
//!     .client_secret("s3cret")
//!     .build();
//! let grant = FnTokenSource::new(|| async { AccessToken::bearer("from-the-idp") });
//! let source = CachedTokenSource::new(cache.wrap(grant, &key));
//! let token = source.token().await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! | failure | what happens |
//! |---|---|
//! | the lock holder dies mid-fetch | its lock expires (`lock_ttl`), another process fetches |
//! | Redis unreachable or slow | each process fetches on its own (one warning per outage), rejoins when it is back |
//! | an entry that is corrupt, tampered with, or sealed under another key | ignored and replaced |
//! | the API rejects a token (401) | deleted from Redis too, if it is still the stored one |
//!
//! # Feature flags
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `tracing` | off | the outage warning and fleet fetch events (never secrets) |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cache;
mod error;
mod key;
mod seal;
mod source;
mod store;

pub use cache::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_FETCH_TIMEOUT, DEFAULT_KEY_PREFIX,
    DEFAULT_LOCK_TTL, DEFAULT_POLL_INTERVAL, RedisTokenCache, RedisTokenCacheBuilder, shown_url,
};
pub use error::FleetError;
pub use key::{EncryptionKey, FleetKey, FleetKeyBuilder};
pub use source::FleetTokenSource;
pub use store::RedisTokenStore;
