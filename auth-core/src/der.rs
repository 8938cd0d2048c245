//! Just enough DER (X.690) to walk the certificates and keys the other tower-auth crates read:
//! single-byte tags and definite lengths, which is all those structures use.
//!
//! Shared by auth-layers (client certificate summaries) and auth-oauth (which key a PEM holds);
//! an implementation detail of tower-auth, not a stable API.

/// One element: `(tag, contents, what follows)`, or `None` when `input` does not start with a
/// whole element (truncated, an indefinite or over-long length).
pub fn read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The contents of an element that must have `tag`, and what follows it.
pub fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match read(input)? {
        (t, contents, rest) if t == tag => Some((contents, rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths_are_read_and_truncation_is_none() {
        assert_eq!(
            read(&[0x04, 0x02, 1, 2, 9]),
            Some((0x04, &[1u8, 2][..], &[9u8][..]))
        );
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        let (tag, contents, rest) = read(&long).expect("long form");
        assert_eq!((tag, contents.len(), rest.len()), (0x30, 0x80, 0));
        assert_eq!(read(&[0x04, 0x03, 1, 2]), None, "truncated contents");
        assert_eq!(read(&[0x04, 0x80]), None, "indefinite length");
        assert_eq!(
            read(&[0x04, 0x85, 0, 0, 0, 0, 1]),
            None,
            "length over 4 bytes"
        );
        assert_eq!(read(&[0x04]), None);
        assert_eq!(expect(&[0x04, 0x00], 0x30), None, "wrong tag");
        assert_eq!(expect(&[0x04, 0x00], 0x04), Some((&[][..], &[][..])));
    }
}
