//! JWT assertions (RFC 7523): signing keys from PEM, claims, and Google-style service-account
//! key files. The [`JwtBearer`](crate::JwtBearer) grant and `private_key_jwt` client
//! authentication ([`ClientAuth::PrivateKeyJwt`](crate::ClientAuth::PrivateKeyJwt)) sign
//! their assertions with these.
//!
//! ```
//! use auth_oauth::assertion::{AssertionClaims, SigningKey};
//! use auth_core::ExposeSecret;
//! # fn main() -> Result<(), auth_core::AuthError> {
//! # use base64::Engine;
//! # let rng = ring::rand::SystemRandom::new();
//! # let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
//! # let der = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
//! # let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
//! # let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
//! let key = SigningKey::from_pem(&pem)?.with_key_id("2026-01");
//! let assertion = AssertionClaims::new("my-service")
//!     .subject("my-service")
//!     .audience("https://auth.example.com/token")
//!     .sign(&key)?;
//! assert_eq!(assertion.expose_secret().split('.').count(), 3);
//! # Ok(()) }
//! ```
//!
//! # Keys and algorithms
//!
//! Signatures are made with [ring](https://docs.rs/ring), the crypto rustls already uses here:
//! no OpenSSL and no second crypto stack.
//!
//! | key (PEM label) | algorithms | default |
//! |---|---|---|
//! | RSA ≥ 2048 bits (`PRIVATE KEY`, `RSA PRIVATE KEY`) | `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512` | `RS256` |
//! | EC P-256 (`PRIVATE KEY`, `EC PRIVATE KEY`) | `ES256` | `ES256` |
//! | EC P-384 (`PRIVATE KEY`, `EC PRIVATE KEY`) | `ES384` | `ES384` |
//! | Ed25519 (`PRIVATE KEY`) | `EdDSA` | `EdDSA` |
//!
//! Encrypted keys are refused with a "decrypt it first" error; P-521, Ed448 and RSA-PSS-only
//! keys are not supported by ring. Every problem is an
//! [`ErrorKind::Config`](auth_core::ErrorKind::Config) error naming the file or field, never
//! quoting the key.

mod claims;
mod key;
mod service_account;

#[cfg(test)]
mod tests;

pub use claims::{AssertionClaims, DEFAULT_LIFETIME, MAX_LIFETIME};
pub use key::{Algorithm, SigningKey};
pub use service_account::{GOOGLE_TOKEN_URI, ServiceAccountKey};
