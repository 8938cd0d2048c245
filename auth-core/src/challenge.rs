//! Parsing of `WWW-Authenticate` challenges (RFC 7235 §4.1, RFC 6750 §3).
//!
//! Only what helps diagnose a rejection is kept: the scheme, `realm`, `error`,
//! `error_description`, `scope`. The parser never panics and accepts malformed input by keeping
//! what it could read.

use std::fmt;

use http::{HeaderMap, header::WWW_AUTHENTICATE};

use crate::redact::{self, Redactor};

/// The first usable challenge of a `WWW-Authenticate` header, preferring a `Bearer` one.
///
/// The fields hold what the server wrote, which may echo a credential: `Display` and `Debug`
/// redact long token-like runs, and [`WwwAuthenticate::redact`] cuts out known secrets by value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WwwAuthenticate {
    /// The auth scheme, e.g. `Bearer` or `Basic`.
    pub scheme: String,
    /// The `realm` parameter.
    pub realm: Option<String>,
    /// The RFC 6750 `error` code: `invalid_request`, `invalid_token` or `insufficient_scope`.
    pub error: Option<String>,
    /// The `error_description` parameter.
    pub error_description: Option<String>,
    /// The `scope` parameter: scopes the resource requires.
    pub scope: Option<String>,
}

impl WwwAuthenticate {
    /// Parses every `WWW-Authenticate` header of `headers`; `None` when there is none or nothing
    /// could be read.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut first = None;
        for value in headers.get_all(WWW_AUTHENTICATE) {
            let Ok(text) = value.to_str() else { continue };
            for challenge in parse_challenges(text) {
                if challenge.scheme.eq_ignore_ascii_case("bearer") {
                    return Some(challenge);
                }
                first.get_or_insert(challenge);
            }
        }
        first
    }

    /// Parses one header value; see [`parse_challenges`].
    pub fn parse(value: &str) -> Option<Self> {
        let all = parse_challenges(value);
        let bearer = all
            .iter()
            .position(|c| c.scheme.eq_ignore_ascii_case("bearer"));
        all.into_iter().nth(bearer.unwrap_or(0))
    }

    /// Cuts every secret `redactor` holds out of every field, by value.
    pub fn redact(&mut self, redactor: &Redactor) {
        for field in self.fields_mut() {
            if let std::borrow::Cow::Owned(redacted) = redactor.redact(field) {
                *field = redacted;
            }
        }
    }

    fn fields_mut(&mut self) -> impl Iterator<Item = &mut String> {
        std::iter::once(&mut self.scheme).chain(
            [
                &mut self.realm,
                &mut self.error,
                &mut self.error_description,
                &mut self.scope,
            ]
            .into_iter()
            .flatten(),
        )
    }

    fn params(&self) -> [(&'static str, Option<&String>); 4] {
        [
            ("realm", self.realm.as_ref()),
            ("error", self.error.as_ref()),
            ("error_description", self.error_description.as_ref()),
            ("scope", self.scope.as_ref()),
        ]
    }
}

impl fmt::Debug for WwwAuthenticate {
    /// Server text, with long token-like runs redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("WwwAuthenticate");
        debug.field("scheme", &redact::by_shape(&self.scheme));
        for (name, value) in self.params() {
            debug.field(name, &value.map(|v| redact::by_shape(v)));
        }
        debug.finish()
    }
}

impl fmt::Display for WwwAuthenticate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Server-supplied text: one short printable line, token-like runs redacted.
        write!(f, "challenge {}", redact::shown(&self.scheme, 64))?;
        for (name, value) in self.params() {
            if let Some(value) = value {
                write!(f, " {name}=\"{}\"", redact::shown(value, 200))?;
            }
        }
        Ok(())
    }
}

/// Parses a header value into its challenges: `Bearer realm="x", error="invalid_token", Basic`.
///
/// Tolerant: unknown parameters are skipped, unterminated quotes end at the end of input, and
/// `token68` credentials are ignored.
pub fn parse_challenges(input: &str) -> Vec<WwwAuthenticate> {
    let mut out = Vec::new();
    let mut cursor = Cursor { s: input, pos: 0 };
    loop {
        cursor.skip_separators();
        let Some(scheme) = cursor.token() else {
            // Not a token where a scheme should start: skip one character and resync.
            if cursor.bump().is_none() {
                break;
            }
            continue;
        };
        let mut challenge = WwwAuthenticate {
            scheme: scheme.to_owned(),
            ..Default::default()
        };
        // Parameters: name=value pairs separated by commas, until the next scheme.
        loop {
            cursor.skip_ws();
            let save = cursor.pos;
            let Some(name) = cursor.token() else { break };
            cursor.skip_ws();
            if !cursor.eat('=') {
                // A bare token: the next scheme (or a token68). Rewind and stop.
                cursor.pos = save;
                break;
            }
            // token68 ends in '=' padding: "abc==" - consume trailing '='.
            while cursor.eat('=') {}
            cursor.skip_ws();
            let value = if cursor.peek() == Some('"') {
                cursor.quoted()
            } else {
                cursor.token().unwrap_or_default().to_owned()
            };
            match name.to_ascii_lowercase().as_str() {
                "realm" => challenge.realm = Some(value),
                "error" => challenge.error = Some(value),
                "error_description" => challenge.error_description = Some(value),
                "scope" => challenge.scope = Some(value),
                _ => {}
            }
            cursor.skip_ws();
            // A missing comma before another `name=value` (seen from real servers) keeps that
            // parameter in this challenge instead of misreading it as a new scheme.
            if !cursor.eat(',') && !cursor.at_parameter() {
                break;
            }
        }
        out.push(challenge);
        if cursor.pos >= input.len() {
            break;
        }
    }
    out
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Whether a `name=value` parameter starts here (not a scheme, nor a token68 such as
    /// `abc==`); the position is left unchanged.
    fn at_parameter(&mut self) -> bool {
        let save = self.pos;
        let parameter = self.token().is_some() && {
            self.skip_ws();
            self.eat('=') && !matches!(self.peek(), None | Some('=' | ','))
        };
        self.pos = save;
        parameter
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | ',')) {
            self.pos += 1;
        }
    }

    /// An RFC 7230 `token` (tchar+), plus `/` so token68 values are consumed whole.
    fn token(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let tchar = c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/".contains(c);
            if !tchar {
                break;
            }
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.s[start..self.pos])
    }

    fn quoted(&mut self) -> String {
        let mut out = String::new();
        self.bump(); // opening quote
        while let Some(c) = self.bump() {
            match c {
                '"' => break,
                '\\' => {
                    if let Some(escaped) = self.bump() {
                        out.push(escaped);
                    }
                }
                c => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_rfc_6750_error_challenge() {
        let c = WwwAuthenticate::parse(
            r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
        )
        .expect("parsed");
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.realm.as_deref(), Some("example"));
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(
            c.error_description.as_deref(),
            Some("The access token expired")
        );
    }

    #[test]
    fn prefers_bearer_among_several_challenges() {
        let all =
            parse_challenges(r#"Basic realm="a", Bearer error="insufficient_scope", scope="x y""#);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].scheme, "Basic");
        let c = WwwAuthenticate::parse(
            r#"Basic realm="a", Bearer error="insufficient_scope", scope="x y""#,
        )
        .expect("parsed");
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.scope.as_deref(), Some("x y"));
    }

    #[test]
    fn tolerates_escapes_token68_and_garbage() {
        let c = WwwAuthenticate::parse(r#"Bearer realm="a \"q\" b""#).expect("parsed");
        assert_eq!(c.realm.as_deref(), Some(r#"a "q" b"#));
        assert_eq!(parse_challenges("Negotiate abc123==").len(), 1);
        for junk in [
            "",
            "=",
            "\"",
            ",,,",
            "Bearer realm=\"unterminated",
            "é ü =\"",
            "Bearer ,=,",
        ] {
            let _ = parse_challenges(junk);
        }
        assert!(WwwAuthenticate::parse("").is_none());
    }

    #[test]
    fn a_missing_comma_between_parameters_loses_nothing() {
        let all = parse_challenges(
            r#"Bearer realm="api" error="invalid_token" error_description="expired", Basic realm="b""#,
        );
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].scheme, "Bearer");
        assert_eq!(all[0].realm.as_deref(), Some("api"));
        assert_eq!(all[0].error.as_deref(), Some("invalid_token"));
        assert_eq!(all[0].error_description.as_deref(), Some("expired"));
        assert_eq!(all[1].scheme, "Basic");
        assert_eq!(all[1].realm.as_deref(), Some("b"));
        // A scheme followed by a token68 still starts a new challenge.
        let all = parse_challenges(r#"Bearer realm="a" Negotiate abc123=="#);
        assert_eq!(
            all.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(),
            ["Bearer", "Negotiate"]
        );
    }

    #[test]
    fn display_keeps_a_huge_scheme_short() {
        let c = WwwAuthenticate::parse(&"B".repeat(5000)).expect("parsed");
        assert!(c.to_string().len() < 100);
    }

    #[test]
    fn bare_scheme_has_no_parameters() {
        let c = WwwAuthenticate::parse("Bearer").expect("parsed");
        assert_eq!(c.scheme, "Bearer");
        assert!(c.error.is_none());
    }
}
