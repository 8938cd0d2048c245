//! Core types of tower-auth: secrets, [`AccessToken`], [`TokenSource`], [`CachedTokenSource`],
//! [`TokenStore`] and [`AuthError`].
//!
//! This crate knows nothing of HTTP clients; the layers that inject credentials live in
//! `auth-layers`, the OAuth grants in `auth-oauth`, and the `tower-auth` facade re-exports all.
//!
//! | module | what it holds |
//! |---|---|
//! | [`token`] | [`AccessToken`] and its builder |
//! | [`source`] | the [`TokenSource`] trait, [`StaticTokenSource`], [`FnTokenSource`] |
//! | [`cache`] | [`CachedTokenSource`]: lock-free reads, single flight, proactive refresh |
//! | [`view`] | [`TokenView`]: one service's cheap, repeated read of a source's current token |
//! | [`keyed`] | [`KeyedTokenSource`]: one cached source per user or tenant, bounded |
//! | [`store`] | [`TokenStore`], [`MemoryTokenStore`], [`FileTokenStore`] |
//! | [`error`] | [`AuthError`], [`ErrorKind`] |
//! | [`challenge`] | `WWW-Authenticate` parsing |
//! | [`redact`] | [`Redactor`]: secrets cut out of server text by value, then by shape |
//! | `pem` | private keys and certificates from PEM or DER, with errors that name the file (feature `pem`) |
//!
//! # Feature flags
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `tracing` | off | events for fetches, refreshes and failures (never secrets) |
//! | `pem` | off | the `pem` module: keys and certificates from PEM (`rustls-pki-types`) and DER (`pkcs8`, `sec1`) |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod binding;
pub mod cache;
pub mod challenge;
pub mod error;
pub mod keyed;
#[cfg(feature = "pem")]
#[cfg_attr(docsrs, doc(cfg(feature = "pem")))]
pub mod pem;
pub mod redact;
pub mod secret_file;
pub mod source;
pub mod store;
pub mod token;
pub mod view;

pub use binding::TokenBinding;
pub use cache::{CacheConfig, CachedTokenSource};
pub use challenge::WwwAuthenticate;
pub use error::{AuthError, ErrorKind, ProviderError};
pub use keyed::{KeyedEntry, KeyedTokenSource, TokenKey};
pub use redact::Redactor;
pub use secrecy::{ExposeSecret, SecretString};
pub use source::{FnTokenSource, StaticTokenSource, TokenFuture, TokenSource};
pub use store::{
    FileTokenStore, MemoryTokenStore, StoreFuture, StoreLock, StoredToken, TokenStore,
};
pub use token::{AccessToken, AccessTokenBuilder, sensitive_header_value};
pub use view::{Lease, TokenView};
