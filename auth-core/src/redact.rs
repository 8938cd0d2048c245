//! Redaction of server text: the secrets a process holds are cut out by value, then whatever
//! still looks like a token is cut out by shape.
//!
//! A server may echo what it received: a token in a `WWW-Authenticate` description, a client
//! secret in an `error_description`, the request's `Authorization` header on an HTML error page.
//! Every secret the process resolves is added to a [`Redactor`] (with the encodings it travels
//! in: form-urlencoded, percent-encoded, JSON- and HTML-escaped, and the base64 of Basic
//! credentials), and every text that comes from a server passes through it *before* it is cut
//! to length, so not even a prefix of a secret survives. [`by_shape`] then redacts long
//! token-like runs, for tokens the process never held.
//!
//! ```
//! use auth_core::redact::Redactor;
//!
//! let redactor = Redactor::new();
//! redactor.add("hunter2pass");
//! redactor.add_basic("c1", "hunter2pass");
//! let text = "client secret hunter2pass is wrong; you sent Basic YzE6aHVudGVyMnBhc3M=";
//! assert_eq!(
//!     redactor.redact(text),
//!     "client secret [redacted] is wrong; you sent Basic [redacted]"
//! );
//! ```
//!
//! A `Redactor` is cheap to clone (clones share their secrets); [`Redactor::child`] makes one
//! that also cuts out the secrets of a single request without adding them to its parent.

use std::{
    borrow::Cow,
    fmt,
    sync::{Arc, PoisonError, RwLock},
};

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this many bytes are not redacted by value: cutting every `abc` out of
/// a message garbles it, and a secret that short protects nothing.
pub const MIN_SECRET_LEN: usize = 4;

/// The shortest prefix of a secret redacted at the end of a text that was cut
/// ([`Redactor::redact_cut`]).
const MIN_PREFIX_LEN: usize = 4;

/// Runs of token-like characters at least this long, with a digit, are redacted by
/// [`by_shape`].
pub const LONG_RUN: usize = 24;

/// The secrets to cut out of server text, with their encodings; see the [module docs](self).
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    needles: RwLock<Vec<SecretString>>,
    parent: Option<Redactor>,
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// A redactor that cuts out everything `self` does (now and later) plus what is added to
    /// it; adding to it leaves `self` unchanged. For the secrets of one request.
    pub fn child(&self) -> Self {
        Self {
            inner: Arc::new(Inner {
                needles: RwLock::default(),
                parent: Some(self.clone()),
            }),
        }
    }

    /// Adds `secret` and its encodings: form-urlencoded, percent-encoded, JSON-escaped (also
    /// with `\/` and `\uXXXX`), HTML-escaped. Secrets shorter than [`MIN_SECRET_LEN`] bytes are
    /// ignored.
    pub fn add(&self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let mut needles = self
            .inner
            .needles
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for encoded in encodings(secret) {
            if !needles.iter().any(|n| n.expose_secret() == encoded) {
                needles.push(SecretString::from(encoded));
            }
        }
    }

    /// Adds the HTTP Basic credentials of `user` and `password` as they travel: the base64 of
    /// `user:password`, and of both form-urlencoded first (RFC 6749 §2.3.1), plus the password.
    pub fn add_basic(&self, user: &str, password: &str) {
        self.add(password);
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.add(&plain);
        let form = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form(user),
            form(password)
        ));
        self.add(&encoded);
    }

    /// Adds an access token's value and its refresh token, if any (and, for a token sent as
    /// HTTP Basic credentials, the password inside it).
    pub fn add_token(&self, token: &crate::AccessToken) {
        self.add(token.secret().expose_secret());
        if let Some(refresh) = token.refresh_token() {
            self.add(refresh.expose_secret());
        }
        // A token sent as Basic credentials carries `user:password`: the password alone is a
        // secret a server may echo too.
        if let Some(encoded) = token
            .header_value()
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Basic "))
            && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded)
            && let Ok(pair) = String::from_utf8(decoded)
            && let Some((user, password)) = pair.split_once(':')
        {
            self.add_basic(user, password);
        }
    }

    /// Adds a PEM document (a private key): the whole text and each line of its base64 body.
    pub fn add_pem(&self, pem: &str) {
        self.add(pem.trim());
        for line in pem.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with("-----") && !line.contains(':') {
                self.add(line);
            }
        }
    }

    /// Whether nothing would be redacted by value.
    pub fn is_empty(&self) -> bool {
        let mut empty = true;
        self.each(&mut |_| empty = false);
        empty
    }

    /// `text` with every held secret replaced by [`REDACTED`], and the user information of
    /// every URL hidden ([`hide_userinfo`]).
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.redact_text(text, false)
    }

    /// [`Redactor::redact`] for a text whose end was cut: a trailing prefix (of at least four
    /// bytes) of a held secret is redacted too, since the rest of the secret may follow.
    pub fn redact_cut<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.redact_text(text, true)
    }

    fn redact_text<'t>(&self, text: &'t str, cut: bool) -> Cow<'t, str> {
        let ranges = self.ranges(text.as_bytes(), cut);
        if ranges.is_empty() {
            return hide_userinfo(text);
        }
        // A range may start or end inside a multi-byte character when a secret's bytes match
        // there: widen it to whole characters (ranges stay sorted; they may now touch).
        let mut widened: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            let (start, end) = (
                floor_char_boundary(text, start),
                ceil_char_boundary(text, end),
            );
            match widened.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => widened.push((start, end)),
            }
        }
        let bytes = replace(text.as_bytes(), &widened);
        // Replacements fall on character boundaries, so the result is UTF-8.
        Cow::Owned(
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    }

    /// The start of `body` as text, for an excerpt: at least its first `len` bytes (more, so a
    /// secret that starts within them is read whole), with every held secret cut out, and a
    /// trailing prefix of one too when the body goes on. Shorten it only after this.
    pub fn redact_head(&self, body: &[u8], len: usize) -> String {
        let head = &body[..body.len().min(len.saturating_add(self.longest()))];
        let text = String::from_utf8_lossy(head);
        let redacted = if head.len() < body.len() {
            self.redact_cut(&text)
        } else {
            self.redact(&text)
        };
        redacted.into_owned()
    }

    /// `bytes` with every held secret replaced by [`REDACTED`].
    pub fn redact_bytes<'b>(&self, bytes: &'b [u8]) -> Cow<'b, [u8]> {
        let ranges = self.ranges(bytes, false);
        if ranges.is_empty() {
            return Cow::Borrowed(bytes);
        }
        Cow::Owned(replace(bytes, &ranges))
    }

    /// A redactor for a stream of bytes (a response body) whose secrets may straddle chunks.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            redactor: self.clone(),
            carry: Vec::new(),
        }
    }

    /// The length of the longest secret (in any encoding), in bytes.
    pub fn longest(&self) -> usize {
        let mut longest = 0;
        self.each(&mut |n| longest = longest.max(n.len()));
        longest
    }

    fn each(&self, f: &mut dyn FnMut(&[u8])) {
        let mut next = Some(self);
        while let Some(redactor) = next {
            let needles = redactor
                .inner
                .needles
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            for needle in needles.iter() {
                f(needle.expose_secret().as_bytes());
            }
            next = redactor.inner.parent.as_ref();
        }
    }

    /// Sorted, merged byte ranges of every match (and, when `cut`, of a trailing prefix).
    fn ranges(&self, hay: &[u8], cut: bool) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        self.each(&mut |needle| {
            ranges.extend(memchr::memmem::find_iter(hay, needle).map(|at| (at, at + needle.len())));
            if cut {
                let longest = (needle.len() - 1).min(hay.len());
                if let Some(k) = (MIN_PREFIX_LEN..=longest)
                    .rev()
                    .find(|&k| hay.ends_with(&needle[..k]))
                {
                    ranges.push((hay.len() - k, hay.len()));
                }
            }
        });
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut count = 0;
        self.each(&mut |_| count += 1);
        f.debug_struct("Redactor")
            .field("secrets", &format_args!("[{count} redacted]"))
            .finish()
    }
}

/// Redacts a byte stream chunk by chunk: it holds back the last few bytes of each chunk (fewer
/// than the longest secret) until it knows they do not start a secret. From
/// [`Redactor::stream`].
pub struct StreamRedactor {
    redactor: Redactor,
    carry: Vec<u8>,
}

impl StreamRedactor {
    /// Redacts `chunk` (after what was held back) and appends what is safe to write to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.carry.extend_from_slice(chunk);
        let hold = self.redactor.longest().saturating_sub(1);
        let ranges = self.redactor.ranges(&self.carry, false);
        // Everything before `safe` is final: a secret starting there would fit in the buffer.
        let mut safe = self.carry.len().saturating_sub(hold);
        for &(start, end) in &ranges {
            if start < safe {
                safe = safe.max(end);
            }
        }
        let done: Vec<(usize, usize)> = ranges.into_iter().filter(|r| r.1 <= safe).collect();
        out.extend_from_slice(&replace(&self.carry[..safe], &done));
        self.carry.drain(..safe);
    }

    /// Appends what was held back, redacted, to `out`.
    pub fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.redactor.redact_bytes(&self.carry));
    }

    /// [`StreamRedactor::finish`] for a stream that was cut short: a trailing prefix of a
    /// secret is redacted too (see [`Redactor::redact_cut`]).
    pub fn finish_cut(self, out: &mut Vec<u8>) {
        let ranges = self.redactor.ranges(&self.carry, true);
        out.extend_from_slice(&replace(&self.carry, &ranges));
    }
}

impl fmt::Debug for StreamRedactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRedactor")
            .field("held_back", &self.carry.len())
            .finish_non_exhaustive()
    }
}

fn replace(bytes: &[u8], ranges: &[(usize, usize)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for &(start, end) in ranges {
        out.extend_from_slice(&bytes[at..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        at = end;
    }
    out.extend_from_slice(&bytes[at..]);
    out
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// The forms a secret takes in requests and in the echoes of servers.
fn encodings(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_owned()];
    let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    out.push(form.replace('+', "%20"));
    out.push(form);
    if let Ok(json) = serde_json::to_string(secret) {
        let json = json[1..json.len() - 1].to_owned();
        out.push(json.replace('/', "\\/"));
        out.push(ascii_json(&json));
        out.push(json);
    }
    out.push(html_escape(secret));
    out.sort_unstable();
    out.dedup();
    out
}

/// JSON text with every non-ASCII character as `\uXXXX` (what Python's `json.dumps` writes).
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` with the user information of every URL in it (`https://user:password@host`) shown as
/// `***` (`https://***@host`): a password in a URL is never shown, whoever wrote the URL.
pub fn hide_userinfo(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    for scheme_end in memchr::memmem::find_iter(bytes, b"://") {
        let start = scheme_end + 3;
        // The authority ends at a path, query or fragment, or where the URL ends in prose.
        let end = bytes[start..]
            .iter()
            .position(|b| {
                matches!(
                    b,
                    b'/' | b'?' | b'#' | b'"' | b'\'' | b'`' | b'<' | b'>' | b'\\'
                ) || b.is_ascii_whitespace()
                    || b.is_ascii_control()
            })
            .map_or(bytes.len(), |n| start + n);
        if let Some(at) = memchr::memrchr(b'@', &bytes[start..end]) {
            ranges.push((start, start + at));
        }
    }
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end) in ranges {
        // `://` and `@` are ASCII, so both ends are character boundaries.
        out.push_str(&text[copied..start]);
        out.push_str("***");
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `text` with every run of at least [`LONG_RUN`] token-like characters (letters, digits,
/// `-._~+/=`) that contains a digit replaced by [`REDACTED`]: the second net, for tokens the
/// process never held. Long words without digits are kept: they are prose.
pub fn by_shape(text: &str) -> Cow<'_, str> {
    let is_token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=');
    let is_secret_run =
        |run: &str| run.len() >= LONG_RUN && run.bytes().any(|b| b.is_ascii_digit());
    let mut out: Option<String> = None;
    let mut run_start = None;
    let mut copied = 0;
    // Token characters are ASCII, so byte offsets of runs are character boundaries.
    let flush = |start: usize, end: usize, out: &mut Option<String>, copied: &mut usize| {
        if is_secret_run(&text[start..end]) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[*copied..start]);
            out.push_str(REDACTED);
            *copied = end;
        }
    };
    for (at, c) in text.char_indices() {
        match (is_token_char(c), run_start) {
            (true, None) => run_start = Some(at),
            (false, Some(start)) => {
                flush(start, at, &mut out, &mut copied);
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run_start {
        flush(start, text.len(), &mut out, &mut copied);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// Finishes a [`REDACTED`] marker that a cut split off at the end of `text` (`… [red` becomes
/// `… [redacted]`): half a marker would read as the start of a secret.
pub fn complete_marker(text: &mut String) {
    if let Some(open) = text.rfind('[')
        && let Some(rest) = REDACTED.strip_prefix(&text[open..])
    {
        text.push_str(rest);
    }
}

/// Server text as shown to people: control characters dropped (so they cannot split a
/// token-like run and hide it), [`hide_userinfo`] and [`by_shape`] applied, then at most `max_chars` characters (an
/// ellipsis marks a cut). Redact by value with a [`Redactor`] before this.
pub fn shown(text: &str, max_chars: usize) -> String {
    let printable: String = text.chars().filter(|c| !c.is_control()).collect();
    let printable = hide_userinfo(&printable);
    let shaped = by_shape(&printable);
    let mut chars = shaped.chars();
    let mut out: String = chars.by_ref().take(max_chars).collect();
    if chars.next().is_some() {
        complete_marker(&mut out);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
