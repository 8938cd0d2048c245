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
//! | [`store`] | [`TokenStore`], [`MemoryTokenStore`], [`FileTokenStore`] |
//! | [`error`] | [`AuthError`], [`ErrorKind`] |
//! | [`challenge`] | `WWW-Authenticate` parsing |
//!
//! # Feature flags
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `tracing` | off | events for fetches, refreshes and failures (never secrets) |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cache;
pub mod challenge;
#[doc(hidden)]
pub mod der;
pub mod error;
pub mod source;
pub mod store;
pub mod token;

pub use cache::{CacheConfig, CachedTokenSource};
pub use challenge::WwwAuthenticate;
pub use error::{AuthError, ErrorKind, ProviderError};
pub use secrecy::{ExposeSecret, SecretString};
pub use source::{FnTokenSource, StaticTokenSource, TokenFuture, TokenSource};
pub use store::{FileTokenStore, MemoryTokenStore, StoreFuture, StoredToken, TokenStore};
pub use token::{AccessToken, AccessTokenBuilder, sensitive_header_value};
