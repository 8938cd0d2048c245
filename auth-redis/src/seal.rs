//! Sealing values for Redis: ChaCha20-Poly1305 (ring) with a random nonce, the key id beside the
//! ciphertext and the Redis key as associated data, so a value cannot be read without the key,
//! changed unnoticed, or moved to another key.
//!
//! Layout: `1 ‖ key id (4) ‖ nonce (12) ‖ ciphertext ‖ tag`, or `0 ‖ plaintext` when the cache
//! was explicitly allowed to run without a key.

use std::fmt;

use ring::{
    aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey},
    hmac,
    rand::{SecureRandom, SystemRandom},
};

use crate::{EncryptionKey, FleetError};

const SEALED: u8 = 1;
const PLAIN: u8 = 0;
const KID_LEN: usize = 4;
/// Length of a token fingerprint, stored in front of a token entry.
pub(crate) const FINGERPRINT_LEN: usize = 16;

/// Seals and opens values, and computes the keyed hashes that name keys and fingerprint tokens.
pub(crate) struct Sealer {
    aead: Option<(LessSafeKey, [u8; KID_LEN])>,
    hash_key: hmac::Key,
    rng: SystemRandom,
}

impl Sealer {
    /// A sealer under `key`; `None` stores values in clear (only with `allow_plaintext`).
    pub(crate) fn new(key: Option<&EncryptionKey>) -> Result<Self, FleetError> {
        let (aead, hash_key) = match key {
            Some(key) => {
                let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key.derive(b"aead"))
                    .map_err(|_| FleetError::config("encryption_key", "is not a valid key"))?;
                let mut kid = [0u8; KID_LEN];
                kid.copy_from_slice(&key.derive(b"key id")[..KID_LEN]);
                (
                    Some((LessSafeKey::new(unbound), kid)),
                    hmac::Key::new(hmac::HMAC_SHA256, &key.derive(b"names")),
                )
            }
            // Without a key the hashes are still salted, but anyone can recompute them.
            None => (
                None,
                hmac::Key::new(hmac::HMAC_SHA256, b"tower-auth fleet cache v1 plaintext"),
            ),
        };
        Ok(Self {
            aead,
            hash_key,
            rng: SystemRandom::new(),
        })
    }

    pub(crate) fn hash_key(&self) -> &hmac::Key {
        &self.hash_key
    }

    /// A keyed, non-reversible fingerprint of a token (compare-and-delete, "is it mine").
    pub(crate) fn fingerprint(&self, secret: &[u8]) -> [u8; FINGERPRINT_LEN] {
        let mut ctx = hmac::Context::with_key(&self.hash_key);
        ctx.update(b"fingerprint ");
        ctx.update(secret);
        let mut out = [0u8; FINGERPRINT_LEN];
        out.copy_from_slice(&ctx.sign().as_ref()[..FINGERPRINT_LEN]);
        out
    }

    /// `plaintext` sealed for the Redis key `name`.
    pub(crate) fn seal(&self, name: &str, plaintext: &[u8]) -> Result<Vec<u8>, FleetError> {
        let Some((key, kid)) = &self.aead else {
            let mut out = Vec::with_capacity(1 + plaintext.len());
            out.push(PLAIN);
            out.extend_from_slice(plaintext);
            return Ok(out);
        };
        let mut nonce = [0u8; aead::NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| FleetError::crypto("the system random source failed"))?;
        let mut out = Vec::with_capacity(1 + KID_LEN + nonce.len() + plaintext.len() + 16);
        out.push(SEALED);
        out.extend_from_slice(kid);
        out.extend_from_slice(&nonce);
        let body = out.len();
        out.extend_from_slice(plaintext);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut out[body..],
            )
            .map_err(|_| FleetError::crypto("sealing failed"))?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// The plaintext of a value stored under `name`, or `None` when it is corrupt, tampered
    /// with, sealed under another key, moved from another Redis key, or not in this cache's
    /// mode (a clear value in a keyed cache and the reverse).
    pub(crate) fn open(&self, name: &str, value: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = value.split_first()?;
        match (&self.aead, version) {
            (None, PLAIN) => Some(rest.to_vec()),
            (Some((key, kid)), SEALED) => {
                if rest.len() < KID_LEN + aead::NONCE_LEN + CHACHA20_POLY1305.tag_len() {
                    return None;
                }
                let (stored_kid, rest) = rest.split_at(KID_LEN);
                if stored_kid != kid {
                    return None;
                }
                let (nonce, sealed) = rest.split_at(aead::NONCE_LEN);
                let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
                let mut buf = sealed.to_vec();
                let plain = key
                    .open_in_place(nonce, Aad::from(name.as_bytes()), &mut buf)
                    .ok()?;
                Some(plain.to_vec())
            }
            _ => None,
        }
    }

    pub(crate) fn is_sealed(&self) -> bool {
        self.aead.is_some()
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("sealed", &self.is_sealed())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::from_bytes([byte; 32])
    }

    #[test]
    fn round_trip() {
        let sealer = Sealer::new(Some(&key(1))).expect("sealer");
        let sealed = sealer.seal("k", b"the-token").expect("seal");
        assert_eq!(
            sealer.open("k", &sealed).as_deref(),
            Some(&b"the-token"[..])
        );
    }

    #[test]
    fn no_secret_in_clear() {
        let sealer = Sealer::new(Some(&key(1))).expect("sealer");
        let sealed = sealer.seal("k", b"canary-token-value").expect("seal");
        assert!(
            !sealed.windows(b"canary".len()).any(|w| w == b"canary"),
            "sealed value holds the plaintext"
        );
        // Two seals of one value differ (random nonce).
        assert_ne!(
            sealed,
            sealer.seal("k", b"canary-token-value").expect("seal")
        );
    }

    #[test]
    fn wrong_key_is_ignored() {
        let sealed = Sealer::new(Some(&key(1)))
            .expect("sealer")
            .seal("k", b"t")
            .expect("seal");
        let other = Sealer::new(Some(&key(2))).expect("sealer");
        assert_eq!(other.open("k", &sealed), None);
        // Same key id bytes but another key: the tag fails.
        let mut forged = sealed.clone();
        forged[1..5].copy_from_slice(&key(2).derive(b"key id")[..4]);
        assert_eq!(other.open("k", &forged), None);
    }

    #[test]
    fn tampered_is_ignored() {
        let sealer = Sealer::new(Some(&key(1))).expect("sealer");
        let sealed = sealer.seal("k", b"the-token").expect("seal");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            assert_eq!(sealer.open("k", &bad), None, "byte {i} flipped");
        }
        assert_eq!(sealer.open("k", &sealed[..sealed.len() - 1]), None);
        assert_eq!(sealer.open("k", b""), None);
        assert_eq!(sealer.open("k", b"\x01abc"), None);
    }

    #[test]
    fn another_keys_entry_is_ignored() {
        let sealer = Sealer::new(Some(&key(1))).expect("sealer");
        let sealed = sealer.seal("prefix:token:aaaa", b"t").expect("seal");
        assert_eq!(sealer.open("prefix:token:bbbb", &sealed), None);
    }

    #[test]
    fn plaintext_and_sealed_modes_do_not_mix() {
        let plain = Sealer::new(None).expect("sealer");
        let sealed = Sealer::new(Some(&key(1))).expect("sealer");
        let p = plain.seal("k", b"t").expect("seal");
        assert_eq!(plain.open("k", &p).as_deref(), Some(&b"t"[..]));
        assert_eq!(sealed.open("k", &p), None);
        let s = sealed.seal("k", b"t").expect("seal");
        assert_eq!(plain.open("k", &s), None);
    }

    #[test]
    fn fingerprints_are_keyed() {
        let a = Sealer::new(Some(&key(1))).expect("sealer");
        let b = Sealer::new(Some(&key(2))).expect("sealer");
        assert_eq!(a.fingerprint(b"t"), a.fingerprint(b"t"));
        assert_ne!(a.fingerprint(b"t"), a.fingerprint(b"u"));
        assert_ne!(a.fingerprint(b"t"), b.fingerprint(b"t"));
    }
}
