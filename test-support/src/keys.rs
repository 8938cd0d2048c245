//! Key pairs generated at run time for assertion tests, certificates ([`crate::pki`]) and
//! examples; no key is ever committed.
//!
//! EC and Ed25519 keys come from ring. ring cannot generate RSA keys, so those come from the
//! `openssl` command; without it the call panics naming the Debian package to install.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
};

use pkcs8::{
    PrivateKeyInfoRef,
    der::{Decode, Encode},
};
use sec1::{EcParameters, EcPrivateKey};

use crate::token_server::jwt::PublicKey;

/// A private key in PEM and the public key a server verifies its signatures with.
#[derive(Clone)]
pub struct TestKey {
    /// The private key, PEM.
    pub private_pem: String,
    /// The public key, with the algorithm it is expected to sign.
    pub public: PublicKey,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// A P-256 key as PKCS#8 (`PRIVATE KEY`), for `ES256`.
    pub fn es256() -> TestKey {
        ec(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            "ES256",
            Format::Pkcs8,
        )
    }

    /// A P-256 key as SEC1 (`EC PRIVATE KEY`, with the curve in `[0]` as OpenSSL writes it).
    pub fn es256_sec1() -> TestKey {
        ec(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            "ES256",
            Format::Sec1,
        )
    }

    /// A P-384 key as PKCS#8, for `ES384`.
    pub fn es384() -> TestKey {
        ec(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            "ES384",
            Format::Pkcs8,
        )
    }

    /// A P-384 key as SEC1 (`EC PRIVATE KEY`, with the curve in `[0]`).
    pub fn es384_sec1() -> TestKey {
        ec(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            "ES384",
            Format::Sec1,
        )
    }

    /// An Ed25519 key as PKCS#8, for `EdDSA`.
    pub fn ed25519() -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("Ed25519 key");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 key");
        TestKey {
            private_pem: pem_encode("PRIVATE KEY", pkcs8.as_ref()),
            public: PublicKey::raw("EdDSA", pair.public_key().as_ref()),
        }
    }

    /// A 2048-bit RSA key as PKCS#1 (`RSA PRIVATE KEY`), for `RS256`, from `openssl genrsa`.
    ///
    /// # Panics
    ///
    /// When the `openssl` command is missing or fails.
    pub fn rsa_pkcs1() -> TestKey {
        let pem = openssl(&["genrsa", "-traditional", "2048"], None);
        assert!(
            pem.contains("BEGIN RSA PRIVATE KEY"),
            "openssl genrsa -traditional did not write a PKCS#1 key"
        );
        Self::rsa_from(pem)
    }

    /// A 2048-bit RSA key as PKCS#8 (`PRIVATE KEY`), for `RS256`, from `openssl genpkey`.
    ///
    /// # Panics
    ///
    /// When the `openssl` command is missing or fails.
    pub fn rsa_pkcs8() -> TestKey {
        let pem = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            None,
        );
        Self::rsa_from(pem)
    }

    /// A 1024-bit RSA key (PKCS#8): too small for RS256 anywhere.
    ///
    /// # Panics
    ///
    /// When the `openssl` command is missing or fails.
    pub fn rsa_1024() -> TestKey {
        let pem = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
            ],
            None,
        );
        Self::rsa_from(pem)
    }

    fn rsa_from(private_pem: String) -> TestKey {
        let public = openssl(&["pkey", "-pubout"], Some(&private_pem));
        TestKey {
            public: PublicKey::from_spki_pem(&public),
            private_pem,
        }
    }

    /// The base64 body of the private key PEM (a canary for leak tests).
    pub fn private_base64(&self) -> String {
        self.private_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect()
    }

    /// The private scalar of a PKCS#8 EC key (a canary for leak tests: its bytes or hex must
    /// never show).
    ///
    /// # Panics
    ///
    /// When the key is not a PKCS#8 EC key.
    pub fn ec_private_scalar(&self) -> Vec<u8> {
        let body: String = self.private_base64();
        let pkcs8 = STANDARD.decode(body).expect("PEM body is base64");
        let info = PrivateKeyInfoRef::from_der(&pkcs8).expect("PrivateKeyInfo");
        let key = EcPrivateKey::from_der(info.private_key.as_bytes()).expect("ECPrivateKey");
        key.private_key.to_vec()
    }
}

enum Format {
    Pkcs8,
    Sec1,
}

fn ec(
    alg: &'static signature::EcdsaSigningAlgorithm,
    jws: &'static str,
    format: Format,
) -> TestKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("EC key");
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("EC key");
    let private_pem = match format {
        Format::Pkcs8 => pem_encode("PRIVATE KEY", pkcs8.as_ref()),
        Format::Sec1 => pem_encode("EC PRIVATE KEY", &sec1_from_pkcs8(pkcs8.as_ref())),
    };
    TestKey {
        private_pem,
        public: PublicKey::raw(jws, pair.public_key().as_ref()),
    }
}

/// Runs `openssl args` with `input` on stdin; its stdout.
fn openssl(args: &[&str], input: Option<&str>) -> String {
    let child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => panic!(
            "the `openssl` command is needed to generate RSA test keys (ring cannot) and could \
             not be run ({e}): install it, e.g. `apt-get install openssl` (Debian package \
             `openssl`)"
        ),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.unwrap_or_default().as_bytes())
            .expect("write to openssl");
    }
    let output = child.wait_with_output().expect("openssl ran");
    assert!(
        output.status.success(),
        "`openssl {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("openssl writes PEM")
}

/// PEM with 64-character lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The SEC1 `ECPrivateKey` inside an EC PKCS#8 key, with the curve OID added as `[0]`.
fn sec1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    let info = PrivateKeyInfoRef::from_der(pkcs8).expect("PrivateKeyInfo");
    let curve = info.algorithm.parameters_oid().expect("named curve");
    let mut key = EcPrivateKey::from_der(info.private_key.as_bytes()).expect("ECPrivateKey");
    key.parameters = Some(EcParameters::NamedCurve(curve));
    key.to_der().expect("DER")
}
