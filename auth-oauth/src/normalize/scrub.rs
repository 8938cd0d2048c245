//! Short, secret-free excerpts of response bodies for error messages.
//!
//! A body that failed to parse may still hold a token or echo what the request sent (a
//! provider's HTML error page echoing the request, a JSON body with a bad field next to a good
//! `access_token`), so the excerpt first cuts out every secret the [`Redactor`] holds, by value,
//! then redacts the value after any secret-looking name (`access_token=…`,
//! `"refresh_token": "…"`) and any long token-like run of characters, and only then keeps one
//! short line.

use auth_core::redact::{self, Redactor};

/// The longest excerpt, in characters (an ellipsis marks a cut).
pub(crate) const SNIPPET_CHARS: usize = 120;

/// Names whose values are never shown, compared case-insensitively.
const SECRET_NAMES: [&str; 10] = [
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "code",
    "code_verifier",
    "assertion",
    "token",
    "secret",
];

const REDACTED: &str = "[redacted]";

/// A one-line excerpt of `body` with secrets redacted; `extra_names` are further field names
/// whose values are secret (the key map's renamed token fields).
pub(crate) fn snippet(body: &[u8], extra_names: &[&str], redactor: &Redactor) -> String {
    // Look at a bounded prefix: enough context, and scrubbing stays cheap on a 1 MiB body.
    let head_len = 4 * SNIPPET_CHARS;
    let text = redactor.redact_head(body, head_len);
    let text = redact_named_values(&text, extra_names);
    let text = redact::by_shape(&text);
    let mut out = String::with_capacity(SNIPPET_CHARS + 3);
    let mut last_space = true;
    let mut count = 0;
    for c in text.chars() {
        let c = if c.is_whitespace() || c.is_control() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if count == SNIPPET_CHARS {
            redact::complete_marker(&mut out);
            out.push('…');
            return out.trim_end().to_owned();
        }
        out.push(c);
        count += 1;
    }
    if body.len() > head_len + redactor.longest() {
        out.push('…');
    }
    out.trim().to_owned()
}

/// Replaces the value after `name` + `=` or `:` (quotes and spaces allowed around) for every
/// secret name.
fn redact_named_values(text: &str, extra_names: &[&str]) -> String {
    let lower = text.to_ascii_lowercase();
    let names = SECRET_NAMES
        .iter()
        .copied()
        .chain(extra_names.iter().copied())
        .filter(|n| !n.is_empty());
    // (start, end) byte ranges of values to redact.
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for name in names {
        let name = name.to_ascii_lowercase();
        let mut from = 0;
        while let Some(pos) = lower[from..].find(&name) {
            let after = from + pos + name.len();
            from = after;
            if let Some(range) = value_after(text.as_bytes(), after) {
                ranges.push(range);
            }
        }
    }
    if ranges.is_empty() {
        return text.to_owned();
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for (start, end) in ranges {
        if start < cursor {
            continue;
        }
        out.push_str(&text[cursor..start]);
        out.push_str(REDACTED);
        cursor = end;
    }
    out.push_str(&text[cursor..]);
    out
}

/// The byte range of the value following a name that ends at `at`, if a `:` or `=` follows.
fn value_after(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let skip = |mut i: usize| {
        while i < bytes.len() && matches!(bytes[i], b'"' | b'\'' | b' ' | b'\t') {
            i += 1;
        }
        i
    };
    let i = skip(at);
    if i >= bytes.len() || !matches!(bytes[i], b':' | b'=') {
        return None;
    }
    let start = skip(i + 1);
    let mut end = start;
    while end < bytes.len()
        && !matches!(
            bytes[end],
            b'"' | b'\'' | b'&' | b',' | b';' | b'}' | b'<' | b'>' | b' ' | b'\t' | b'\r' | b'\n'
        )
    {
        end += 1;
    }
    // Delimiters are ASCII, so both ends fall on character boundaries.
    (end > start).then_some((start, end))
}

/// A response's field name as shown in an error: control characters dropped, at most 40
/// characters, and a long token-like name (a provider keying a map by token) redacted.
pub(crate) fn field_name(name: &str, redactor: &Redactor) -> String {
    provider_text(name, 40, redactor)
}

/// Text the provider chose (a field name, an error code or description) as kept in an error:
/// the held secrets cut out by value, then [`redact::shown`] (control characters dropped, long
/// token-like runs redacted, at most `max_chars` characters).
pub(crate) fn provider_text(text: &str, max_chars: usize, redactor: &Redactor) -> String {
    redact::shown(&redactor.redact(text), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(body: &[u8], extra_names: &[&str]) -> String {
        super::snippet(body, extra_names, &Redactor::new())
    }

    fn field_name(name: &str) -> String {
        super::field_name(name, &Redactor::new())
    }

    #[test]
    fn values_after_secret_names_are_redacted_in_json_form_and_html() {
        let s = snippet(br#"{"access_token": "abc", "expires_in": "soon"}"#, &[]);
        assert_eq!(s, r#"{"access_token": "[redacted]", "expires_in": "soon"}"#);
        let s = snippet(b"refresh_token=r1&Password=hunter2&x=1", &[]);
        assert_eq!(s, "refresh_token=[redacted]&Password=[redacted]&x=1");
        let s = snippet(b"<p>token: zzz</p><code>42</code>", &[]);
        assert_eq!(s, "<p>token: [redacted]</p><code>42</code>");
    }

    #[test]
    fn renamed_token_fields_are_redacted_too() {
        let s = snippet(br#"{"jwt":"e30.e30.sig"}"#, &["jwt"]);
        assert_eq!(s, r#"{"jwt":"[redacted]"}"#);
    }

    #[test]
    fn long_token_like_runs_are_redacted_anywhere() {
        let s = snippet(
            b"<html>eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc</html>",
            &[],
        );
        assert_eq!(s, "<html>[redacted]</html>");
        // Long words without digits are kept: they are prose, not tokens.
        let s = snippet(b"InternalServerErrorOccurredWhileProcessing", &[]);
        assert_eq!(s, "InternalServerErrorOccurredWhileProcessing");
    }

    #[test]
    fn field_names_are_printable_short_and_never_token_like() {
        assert_eq!(field_name("accessToken"), "accessToken");
        assert_eq!(field_name("a\u{1e}b"), "ab");
        assert_eq!(
            field_name("eyJhbGciOiJSUzI1NiJ9abcdef0123456789"),
            REDACTED,
            "a name that looks like a token is not shown"
        );
        assert_eq!(field_name(&"x".repeat(60)).chars().count(), 41);
        assert_eq!(
            provider_text(
                "token eyJhbGci\u{1e}OiJSUzI1NiJ9abcdef0123456789 expired",
                200,
                &Redactor::new(),
            ),
            "token [redacted] expired",
            "a control character cannot hide a token-like run"
        );
    }

    #[test]
    fn output_is_one_short_line() {
        let body = format!("<html>\n  <body>\r\n{}</body></html>", "word ".repeat(200));
        let s = snippet(body.as_bytes(), &[]);
        assert!(!s.contains('\n') && !s.contains("  "));
        assert!(s.chars().count() <= SNIPPET_CHARS + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let s = snippet(&[0xff, 0xfe, b'a', 0xc3], &[]);
        assert!(s.contains('a'));
    }
}

#[cfg(test)]
mod by_value {
    use super::*;

    #[test]
    fn held_secrets_are_cut_out_before_the_excerpt_is_cut() {
        let secret = "correcthorsebatterystaple-".repeat(3);
        let redactor = Redactor::new();
        redactor.add(&secret);
        redactor.add("hunter2pass");
        // The long secret starts just before the 120-character cut.
        let body = format!(
            "<html>{}{secret} and hunter2pass</html>",
            "word ".repeat(22)
        );
        let s = snippet(body.as_bytes(), &[], &redactor);
        assert!(!s.contains("correct") && !s.contains("hunter2pass"), "{s}");
        assert!(s.contains("[redacted]"), "{s}");
        // A secret straddling the end of the scrubbed prefix leaves no prefix either.
        // (Whitespace collapses, so the secret's first bytes would be in view.)
        let pad = " ".repeat(4 * SNIPPET_CHARS + redactor.longest() - 5);
        let s = snippet(format!("{pad}{secret}").as_bytes(), &[], &redactor);
        assert!(!s.contains("corr"), "{s}");
        assert!(s.contains("[redacted]"), "{s}");
    }

    #[test]
    fn provider_text_is_redacted_by_value_then_cut() {
        let redactor = Redactor::new();
        redactor.add("hunter2pass");
        assert_eq!(
            provider_text("client secret hunter2pass is wrong", 25, &redactor),
            "client secret [redacted] …"
        );
    }
}
