//! Just enough DER to tell which key a PKCS#8 or SEC1 structure holds, and to wrap a SEC1 key
//! in PKCS#8 for ring. Single-byte tags and definite lengths only, which is all keys use.

pub(super) const SEQUENCE: u8 = 0x30;
pub(super) const INTEGER: u8 = 0x02;
pub(super) const OCTET_STRING: u8 = 0x04;
pub(super) const OID: u8 = 0x06;
/// `[0]` constructed: the curve parameters of a SEC1 `ECPrivateKey`.
pub(super) const CONTEXT_0: u8 = 0xa0;

/// rsaEncryption, 1.2.840.113549.1.1.1.
pub(super) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-RSASSA-PSS, 1.2.840.113549.1.1.10 (PSS-only RSA keys; ring cannot load them).
pub(super) const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
/// id-ecPublicKey, 1.2.840.10045.2.1.
pub(super) const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 / P-256, 1.2.840.10045.3.1.7.
pub(super) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 / P-384, 1.3.132.0.34.
pub(super) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1 / P-521, 1.3.132.0.35 (recognised to name it in errors; ring cannot sign with it).
pub(super) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519, 1.3.101.112.
pub(super) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// id-Ed448, 1.3.101.113 (named in errors only).
pub(super) const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

pub(super) use auth_core::der::{expect, read};

/// One element with `tag` around `contents`.
pub(super) fn encode(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// The algorithm OID and its parameters (the whole parameter element, if any) of a PKCS#8
/// `PrivateKeyInfo`.
pub(super) fn pkcs8_algorithm(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (info, _) = expect(der, SEQUENCE)?;
    let (_version, rest) = expect(info, INTEGER)?;
    let (algorithm, _) = expect(rest, SEQUENCE)?;
    let (oid, params) = expect(algorithm, OID)?;
    Some((oid, params))
}

/// The curve OID in the `[0]` parameters of a SEC1 `ECPrivateKey`, if present.
pub(super) fn sec1_curve(der: &[u8]) -> Option<&[u8]> {
    let (fields, _) = expect(der, SEQUENCE)?;
    let (_version, rest) = expect(fields, INTEGER)?;
    let (_private, mut rest) = expect(rest, OCTET_STRING)?;
    while !rest.is_empty() {
        let (tag, contents, next) = read(rest)?;
        if tag == CONTEXT_0 {
            return expect(contents, OID).map(|(oid, _)| oid);
        }
        rest = next;
    }
    None
}

/// A SEC1 `ECPrivateKey` wrapped as PKCS#8 v1 for the curve `curve_oid`:
/// `SEQUENCE { 0, SEQUENCE { id-ecPublicKey, curve }, OCTET STRING { ECPrivateKey } }`.
/// ring accepts the `[0]` curve inside when it matches the algorithm's.
pub(super) fn pkcs8_from_sec1(sec1: &[u8], curve_oid: &[u8]) -> Vec<u8> {
    let mut algorithm = encode(OID, OID_EC);
    algorithm.extend(encode(OID, curve_oid));
    let mut info = encode(INTEGER, &[0]);
    info.extend(encode(SEQUENCE, &algorithm));
    info.extend(encode(OCTET_STRING, sec1));
    encode(SEQUENCE, &info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_short_and_long_form() {
        for len in [0usize, 1, 127, 128, 255, 256, 1000, 70_000] {
            let contents = vec![7u8; len];
            let encoded = encode(OCTET_STRING, &contents);
            let (tag, read_back, rest) = read(&encoded).expect("readable");
            assert_eq!((tag, read_back.len(), rest.len()), (OCTET_STRING, len, 0));
        }
    }

    #[test]
    fn truncated_input_is_none_not_a_panic() {
        let encoded = encode(SEQUENCE, &[1, 2, 3, 4]);
        for end in 0..encoded.len() {
            assert!(read(&encoded[..end]).is_none(), "{end}");
        }
        assert!(
            read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none(),
            "5-byte length"
        );
    }
}
