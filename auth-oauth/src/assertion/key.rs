//! [`SigningKey`]: a private key loaded from PEM, with the JWS [`Algorithm`] it signs with and
//! an optional key id.

use std::{fmt, path::Path, str::FromStr, sync::Arc};

use auth_core::{
    AuthError, ErrorKind,
    pem::{self, EcCurve, KeyAlgorithm, KeyEncoding, PemSource, PrivateKey},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::signature::KeyPair as _;
use ring::{
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair},
};
use secrecy::ExposeSecret;

/// A JWS signature algorithm (RFC 7518 §3, RFC 8037 for `EdDSA`).
///
/// ```
/// use auth_oauth::assertion::Algorithm;
///
/// assert_eq!("es256".parse::<Algorithm>()?, Algorithm::Es256);
/// assert_eq!(Algorithm::Rs256.to_string(), "RS256");
/// assert!("HS256".parse::<Algorithm>().is_err());
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256 (RSA key, at least 2048 bits). The most widely
    /// accepted; Google service accounts use it.
    Rs256,
    /// `RS384`: RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// `RS512`: RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// `PS256`: RSASSA-PSS with SHA-256 (RSA key).
    Ps256,
    /// `PS384`: RSASSA-PSS with SHA-384.
    Ps384,
    /// `PS512`: RSASSA-PSS with SHA-512.
    Ps512,
    /// `ES256`: ECDSA on P-256 with SHA-256.
    Es256,
    /// `ES384`: ECDSA on P-384 with SHA-384.
    Es384,
    /// `EdDSA` with Ed25519.
    EdDsa,
}

impl Algorithm {
    /// The JWS name (`RS256`, `ES256`, `EdDSA`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The kind of key the algorithm needs, for messages.
    fn needs(self) -> &'static str {
        match self {
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => "an RSA key",
            Algorithm::Es256 => "an EC P-256 key",
            Algorithm::Es384 => "an EC P-384 key",
            Algorithm::EdDsa => "an Ed25519 key",
        }
    }

    fn rsa_encoding(self) -> Option<&'static dyn signature::RsaEncoding> {
        Some(match self {
            Algorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
            Algorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
            Algorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
            Algorithm::Ps256 => &signature::RSA_PSS_SHA256,
            Algorithm::Ps384 => &signature::RSA_PSS_SHA384,
            Algorithm::Ps512 => &signature::RSA_PSS_SHA512,
            _ => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = AuthError;

    /// Accepts the JWS names, case-insensitively.
    fn from_str(s: &str) -> Result<Self, AuthError> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "RS256" => Algorithm::Rs256,
            "RS384" => Algorithm::Rs384,
            "RS512" => Algorithm::Rs512,
            "PS256" => Algorithm::Ps256,
            "PS384" => Algorithm::Ps384,
            "PS512" => Algorithm::Ps512,
            "ES256" => Algorithm::Es256,
            "ES384" => Algorithm::Es384,
            "EDDSA" => Algorithm::EdDsa,
            _ => {
                return Err(AuthError::config(
                    "algorithm",
                    format!(
                        "unknown or unsupported algorithm `{}` (expected RS256, RS384, RS512, \
                         PS256, PS384, PS512, ES256, ES384 or EdDSA; HMAC algorithms are not \
                         for assertions signed with a private key)",
                        s.escape_debug()
                    ),
                ));
            }
        })
    }
}

/// The key itself, by type.
enum KeyPair {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl KeyPair {
    fn default_algorithm(&self) -> Algorithm {
        match self {
            KeyPair::Rsa(_) => Algorithm::Rs256,
            KeyPair::P256(_) => Algorithm::Es256,
            KeyPair::P384(_) => Algorithm::Es384,
            KeyPair::Ed25519(_) => Algorithm::EdDsa,
        }
    }

    fn supports(&self, algorithm: Algorithm) -> bool {
        match self {
            KeyPair::Rsa(_) => algorithm.rsa_encoding().is_some(),
            KeyPair::P256(_) => algorithm == Algorithm::Es256,
            KeyPair::P384(_) => algorithm == Algorithm::Es384,
            KeyPair::Ed25519(_) => algorithm == Algorithm::EdDsa,
        }
    }
}

struct Inner {
    pair: KeyPair,
    encoding: KeyEncoding,
    rng: SystemRandom,
}

/// A private key that signs assertions: RSA (PKCS#8 or PKCS#1), EC P-256/P-384 (PKCS#8 or
/// SEC1) or Ed25519 (PKCS#8), the [`Algorithm`] it signs with (by default `RS256`, `ES256`,
/// `ES384` or `EdDSA` from the key's type) and an optional key id (the JWS `kid` header).
///
/// Cheap to clone. `Debug` names the key type, never the key.
///
/// ```
/// use auth_oauth::assertion::{Algorithm, SigningKey};
/// # fn main() -> Result<(), auth_core::AuthError> {
/// # use base64::Engine;
/// # let rng = ring::rand::SystemRandom::new();
/// # let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
/// # let der = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
/// # let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
/// # let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
/// // Usually `SigningKey::from_pem_file("key.pem")`.
/// let key = SigningKey::from_pem(&pem)?.with_key_id("2026-01");
/// assert_eq!(key.algorithm(), Algorithm::Es256);
/// assert!(format!("{key:?}").contains("[redacted"));
/// // An EC P-256 key cannot sign RS256: a config error that says so.
/// let err = key.with_algorithm(Algorithm::Rs256).unwrap_err();
/// assert!(err.to_string().contains("RS256 needs an RSA key"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<Inner>,
    algorithm: Algorithm,
    key_id: Option<String>,
}

impl SigningKey {
    /// Loads the one private key in `pem`: a `PRIVATE KEY` (PKCS#8: RSA, EC P-256/P-384 or
    /// Ed25519), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1, with its curve) block.
    ///
    /// Fails with an [`ErrorKind::Config`] error saying what is wrong (not PEM, no key, an
    /// encrypted key, an unsupported key type, an RSA key under 2048 bits, …), never quoting
    /// the key.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, AuthError> {
        Self::parse(pem.as_ref(), PemSource::inline("private key"))
    }

    /// Like [`SigningKey::from_pem`], reading the file at `path`; errors name the file.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        let source = PemSource::file("private key", path.as_ref());
        let pem = source.read()?;
        Self::parse(pem.expose_secret(), source)
    }

    /// Loads an unencrypted PKCS#8 DER key (what `openssl pkcs8 -topk8 -nocrypt -outform DER`
    /// writes).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, AuthError> {
        Self::from_key(&PrivateKey::from_pkcs8_der(
            der,
            PemSource::named("private key DER"),
        ))
    }

    /// Parses PEM from `source` (named in errors: a file, a PEM, a field of a key file).
    pub(crate) fn parse(pem: &[u8], source: PemSource) -> Result<Self, AuthError> {
        Self::from_key(&pem::private_key(pem, &source)?)
    }

    fn from_key(key: &PrivateKey) -> Result<Self, AuthError> {
        let encoding = key.encoding();
        let algorithm = key.algorithm()?;
        let pair = match encoding {
            // ring reads PKCS#1 as it is; everything else as PKCS#8 (SEC1 wrapped).
            KeyEncoding::Pkcs1 => RsaKeyPair::from_der(key.der().secret_der())
                .map(KeyPair::Rsa)
                .map_err(|e| rejected("PKCS#1 RSA", e)),
            _ => key_pair(algorithm, key.pkcs8_der()?.expose_secret(), encoding),
        }
        .map_err(|problem| key.source().error(problem))?;
        Ok(SigningKey {
            algorithm: pair.default_algorithm(),
            inner: Arc::new(Inner {
                pair,
                encoding,
                rng: SystemRandom::new(),
            }),
            key_id: None,
        })
    }

    /// Signs with `algorithm` instead of the key type's default (e.g. `PS256` with an RSA
    /// key). Fails with a config error when the key cannot sign it.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Result<Self, AuthError> {
        if !self.inner.pair.supports(algorithm) {
            return Err(AuthError::config(
                "algorithm",
                format!(
                    "{algorithm} needs {}, but the private key is {}",
                    algorithm.needs(),
                    self.key_type()
                ),
            ));
        }
        self.algorithm = algorithm;
        Ok(self)
    }

    /// The key id, sent as the JWS `kid` header so the server can pick the right public key.
    /// Unset by default.
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into()).filter(|k: &String| !k.is_empty());
        self
    }

    /// The algorithm signatures are made with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key id, if set.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The key's type for people: `RSA 2048-bit`, `EC P-256`, `EC P-384` or `Ed25519`.
    pub fn key_type(&self) -> String {
        match &self.inner.pair {
            KeyPair::Rsa(pair) => format!("RSA {}-bit", pair.public().modulus_len() * 8),
            KeyPair::P256(_) => "EC P-256".to_owned(),
            KeyPair::P384(_) => "EC P-384".to_owned(),
            KeyPair::Ed25519(_) => "Ed25519".to_owned(),
        }
    }

    /// A new EC P-256 key (ES256), from the system's random generator.
    pub(crate) fn generate_p256() -> Result<Self, AuthError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| generation_failed("EC P-256"))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// A new Ed25519 key (EdDSA), from the system's random generator.
    pub(crate) fn generate_ed25519() -> Result<Self, AuthError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| generation_failed("Ed25519"))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// The public key as a JWK (RFC 7517) with only its required members, in the
    /// lexicographic order RFC 7638 hashes them in: `{"crv","kty","x","y"}` (EC),
    /// `{"crv","kty","x"}` (Ed25519), `{"e","kty","n"}` (RSA). Its SHA-256 is the key's
    /// thumbprint.
    pub(crate) fn public_jwk(&self) -> String {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match &self.inner.pair {
            KeyPair::P256(pair) | KeyPair::P384(pair) => {
                // The uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                let crv = if half == 32 { "P-256" } else { "P-384" };
                format!(
                    r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                    b64(&point[1..=half]),
                    b64(&point[1 + half..])
                )
            }
            KeyPair::Ed25519(pair) => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                b64(pair.public_key().as_ref())
            ),
            KeyPair::Rsa(pair) => {
                let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
                format!(
                    r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                    b64(&public.e),
                    b64(&public.n)
                )
            }
        }
    }

    /// The signature of `message` with the configured algorithm.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuthError> {
        let failed = || {
            AuthError::new(
                ErrorKind::Config,
                format!("signing with {} failed", self.algorithm),
            )
        };
        let rng = &self.inner.rng;
        match &self.inner.pair {
            KeyPair::Rsa(pair) => {
                let encoding = self.algorithm.rsa_encoding().ok_or_else(failed)?;
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(encoding, rng, message, &mut signature)
                    .map_err(|_| failed())?;
                Ok(signature)
            }
            KeyPair::P256(pair) | KeyPair::P384(pair) => pair
                .sign(rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| failed()),
            KeyPair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field(
                "key",
                &format_args!("[redacted {} {}]", self.key_type(), self.inner.encoding),
            )
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// The ring key pair for `algorithm` from PKCS#8 DER (`encoding` is what the PEM held).
fn key_pair(
    algorithm: KeyAlgorithm,
    pkcs8: &[u8],
    encoding: KeyEncoding,
) -> Result<KeyPair, String> {
    let rng = SystemRandom::new();
    match algorithm {
        KeyAlgorithm::Rsa => RsaKeyPair::from_pkcs8(pkcs8)
            .map(KeyPair::Rsa)
            .map_err(|e| rejected("PKCS#8 RSA", e)),
        KeyAlgorithm::Ec(EcCurve::P256) => {
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map(KeyPair::P256)
                .map_err(|e| rejected(&format!("{encoding} EC P-256"), e))
        }
        KeyAlgorithm::Ec(EcCurve::P384) => {
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8, &rng)
                .map(KeyPair::P384)
                .map_err(|e| rejected(&format!("{encoding} EC P-384"), e))
        }
        KeyAlgorithm::Ec(EcCurve::P521) => Err(
            "EC P-521 keys (ES512) are not supported: use P-256 (ES256) or P-384 (ES384)"
                .to_owned(),
        ),
        KeyAlgorithm::Ec(_) => {
            Err("the EC key is on an unsupported curve (expected P-256 or P-384)".to_owned())
        }
        KeyAlgorithm::Ed25519 => Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map(KeyPair::Ed25519)
            .map_err(|e| rejected("PKCS#8 Ed25519", e)),
        KeyAlgorithm::RsaPss => Err(
            "the key is an RSA-PSS-only key (OID 1.2.840.113549.1.1.10), which is not \
             supported: use a plain RSA key (it can still sign PS256)"
                .to_owned(),
        ),
        KeyAlgorithm::Ed448 => {
            Err("Ed448 keys are not supported (use Ed25519, EC or RSA)".to_owned())
        }
        _ => Err(
            "the key type is not supported (expected RSA, EC P-256/P-384 or Ed25519; DSA \
                  and DH keys cannot sign JWTs)"
                .to_owned(),
        ),
    }
}

fn generation_failed(what: &str) -> AuthError {
    AuthError::new(
        ErrorKind::Config,
        format!("generating an {what} key failed (the system random generator failed)"),
    )
}

/// What ring's rejection means for a person. ring's reasons are fixed words, never key bytes.
fn rejected(what: &str, reason: ring::error::KeyRejected) -> String {
    let why = match reason.to_string().as_str() {
        "TooSmall" => "it is too small: RSA keys need at least 2048 bits".to_owned(),
        "TooLarge" => "it is too large (RSA keys up to 8192 bits)".to_owned(),
        "PublicKeyIsMissing" => "it does not include its public key; re-export it with \
                                 `openssl pkey -in key.pem -out key-full.pem`"
            .to_owned(),
        "VersionNotSupported" => "its PKCS#8 version is not supported".to_owned(),
        "WrongAlgorithm" => "its algorithm does not match its encoding".to_owned(),
        "InvalidEncoding" => "it is not valid DER (a truncated or damaged key?)".to_owned(),
        "InconsistentComponents" | "InvalidComponent" => {
            "its components are inconsistent (a damaged key?)".to_owned()
        }
        other => format!("it was rejected ({other})"),
    };
    format!("the {what} private key cannot be used: {why}")
}
