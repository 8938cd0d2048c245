//! The property checks behind tower-auth's fuzz targets.
//!
//! Each module holds the check one target runs on every input. The checks are plain functions
//! so that the main workspace's tests can run them over the committed seed corpus (see
//! `auth-core/tests/fuzz_corpus.rs`, `auth-oauth/tests/fuzz_corpus.rs` and
//! `tests/fuzz_config_corpus.rs`), catching regressions without libFuzzer.
#![forbid(unsafe_code)]

pub mod config;
pub mod token_response;
pub mod www_authenticate;
