//! [`PrivateKey`]: a private key's DER, its encoding, and which key it is.

use std::fmt;

use pkcs8::{
    AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo, PrivateKeyInfoRef,
    der::{
        Decode, Encode,
        asn1::{AnyRef, BitStringRef, OctetStringRef},
    },
};
use rustls_pki_types::{
    PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer, pem::SectionKind,
};
use sec1::EcPrivateKey;
use secrecy::{ExposeSecret, SecretSlice};

use super::PemSource;
use crate::AuthError;

/// rsaEncryption (RFC 8017).
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-RSASSA-PSS: RSA keys restricted to PSS.
const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
/// id-ecPublicKey (RFC 5480).
const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// id-Ed25519 and id-Ed448 (RFC 8410).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// How a private key is encoded, from its PEM label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyEncoding {
    /// `PRIVATE KEY`: PKCS#8, any algorithm.
    Pkcs8,
    /// `RSA PRIVATE KEY`: PKCS#1, an RSA key.
    Pkcs1,
    /// `EC PRIVATE KEY`: SEC1, an EC key.
    Sec1,
}

impl KeyEncoding {
    /// The encoding with the key type it implies, for messages: `PKCS#8`, `PKCS#1 RSA`,
    /// `SEC1 EC`.
    pub fn with_key_type(self) -> &'static str {
        match self {
            KeyEncoding::Pkcs8 => "PKCS#8",
            KeyEncoding::Pkcs1 => "PKCS#1 RSA",
            KeyEncoding::Sec1 => "SEC1 EC",
        }
    }
}

impl fmt::Display for KeyEncoding {
    /// `PKCS#8`, `PKCS#1` or `SEC1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyEncoding::Pkcs8 => "PKCS#8",
            KeyEncoding::Pkcs1 => "PKCS#1",
            KeyEncoding::Sec1 => "SEC1",
        })
    }
}

/// The encoding a PEM section holds, when it is a private key.
pub(super) fn encoding_of(kind: SectionKind) -> Option<KeyEncoding> {
    match kind {
        SectionKind::PrivateKey => Some(KeyEncoding::Pkcs8),
        SectionKind::RsaPrivateKey => Some(KeyEncoding::Pkcs1),
        SectionKind::EcPrivateKey => Some(KeyEncoding::Sec1),
        _ => None,
    }
}

/// Which key a [`PrivateKey`] holds, whether or not a signer supports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA (rsaEncryption; every PKCS#1 key).
    Rsa,
    /// RSA restricted to PSS signatures (id-RSASSA-PSS).
    RsaPss,
    /// ECDSA on a named curve.
    Ec(EcCurve),
    /// Ed25519.
    Ed25519,
    /// Ed448.
    Ed448,
    /// Another algorithm (DSA, DH, X25519, …).
    Other,
}

/// The named curve of an EC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EcCurve {
    /// P-256 (prime256v1, secp256r1).
    P256,
    /// P-384 (secp384r1).
    P384,
    /// P-521 (secp521r1).
    P521,
    /// Another curve.
    Other,
}

impl EcCurve {
    fn of(oid: ObjectIdentifier) -> EcCurve {
        match oid {
            P256 => EcCurve::P256,
            P384 => EcCurve::P384,
            P521 => EcCurve::P521,
            _ => EcCurve::Other,
        }
    }
}

/// A private key read from PEM or DER: its DER (zeroed on drop), its encoding, and where it
/// came from, which every error about it names. `Debug` shows the encoding, never the key.
#[derive(Clone)]
pub struct PrivateKey {
    encoding: KeyEncoding,
    der: SecretSlice<u8>,
    source: PemSource,
}

impl PrivateKey {
    pub(super) fn new(encoding: KeyEncoding, der: SecretSlice<u8>, source: PemSource) -> Self {
        PrivateKey {
            encoding,
            der,
            source,
        }
    }

    /// An unencrypted PKCS#8 DER key (what `openssl pkcs8 -topk8 -nocrypt -outform DER`
    /// writes), checked only when it is used.
    pub fn from_pkcs8_der(der: &[u8], source: PemSource) -> Self {
        PrivateKey::new(KeyEncoding::Pkcs8, SecretSlice::from(der.to_vec()), source)
    }

    /// How the key is encoded.
    pub fn encoding(&self) -> KeyEncoding {
        self.encoding
    }

    /// Where the key came from.
    pub fn source(&self) -> &PemSource {
        &self.source
    }

    /// The key as rustls takes it, borrowed from `self`.
    pub fn der(&self) -> PrivateKeyDer<'_> {
        let der = self.der.expose_secret();
        match self.encoding {
            KeyEncoding::Pkcs8 => PrivatePkcs8KeyDer::from(der).into(),
            KeyEncoding::Pkcs1 => PrivatePkcs1KeyDer::from(der).into(),
            KeyEncoding::Sec1 => PrivateSec1KeyDer::from(der).into(),
        }
    }

    /// Which key this is: from the algorithm of a PKCS#8 key, the curve of a SEC1 key; a
    /// PKCS#1 key is RSA. Fails when the DER is damaged or an EC key names no curve.
    pub fn algorithm(&self) -> Result<KeyAlgorithm, AuthError> {
        match self.encoding {
            KeyEncoding::Pkcs1 => Ok(KeyAlgorithm::Rsa),
            KeyEncoding::Sec1 => Ok(KeyAlgorithm::Ec(EcCurve::of(self.sec1_curve()?))),
            KeyEncoding::Pkcs8 => {
                let info = self.pkcs8_info()?;
                Ok(match info.algorithm.oid {
                    RSA => KeyAlgorithm::Rsa,
                    RSA_PSS => KeyAlgorithm::RsaPss,
                    EC => {
                        let curve = info.algorithm.parameters_oid().map_err(|_| {
                            self.source
                                .error("the PKCS#8 EC key does not name its curve")
                        })?;
                        KeyAlgorithm::Ec(EcCurve::of(curve))
                    }
                    ED25519 => KeyAlgorithm::Ed25519,
                    ED448 => KeyAlgorithm::Ed448,
                    _ => KeyAlgorithm::Other,
                })
            }
        }
    }

    /// The key as PKCS#8 DER (zeroed on drop), the form ring loads: a PKCS#8 key as it is, a
    /// SEC1 key wrapped with its curve, a PKCS#1 key wrapped as rsaEncryption.
    pub fn pkcs8_der(&self) -> Result<SecretSlice<u8>, AuthError> {
        let der = self.der.expose_secret();
        let wrap = |oid: ObjectIdentifier, parameters: AnyRef<'_>| {
            let key = OctetStringRef::new(der).map_err(|_| self.too_large())?;
            let info: PrivateKeyInfo<AnyRef<'_>, &OctetStringRef, BitStringRef<'_>> =
                PrivateKeyInfo::new(
                    AlgorithmIdentifierRef {
                        oid,
                        parameters: Some(parameters),
                    },
                    key,
                );
            info.to_der()
                .map(SecretSlice::from)
                .map_err(|_| self.too_large())
        };
        match self.encoding {
            KeyEncoding::Pkcs8 => Ok(SecretSlice::from(der.to_vec())),
            KeyEncoding::Pkcs1 => wrap(RSA, AnyRef::NULL),
            KeyEncoding::Sec1 => wrap(EC, AnyRef::from(&self.sec1_curve()?)),
        }
    }

    fn pkcs8_info(&self) -> Result<PrivateKeyInfoRef<'_>, AuthError> {
        PrivateKeyInfoRef::from_der(self.der.expose_secret()).map_err(|_| {
            self.source
                .error("the PKCS#8 key is not valid DER (a truncated or damaged file?)")
        })
    }

    /// The curve named in a SEC1 key's `[0]` parameters.
    fn sec1_curve(&self) -> Result<ObjectIdentifier, AuthError> {
        let key = EcPrivateKey::from_der(self.der.expose_secret()).map_err(|_| {
            self.source
                .error("the SEC1 EC key is not valid DER (a truncated or damaged file?)")
        })?;
        key.parameters
            .and_then(sec1::EcParameters::named_curve)
            .ok_or_else(|| {
                self.source.error(
                    "the SEC1 EC key does not name its curve (no `[0]` parameters): convert it \
                     to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt`",
                )
            })
    }

    fn too_large(&self) -> AuthError {
        self.source
            .error("the private key is too large to convert to PKCS#8")
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("encoding", &self.encoding)
            .field("source", &self.source)
            .field("der", &format_args!("[redacted]"))
            .finish()
    }
}
