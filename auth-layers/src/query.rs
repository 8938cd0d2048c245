//! Query-parameter helpers shared by the API-key layer and `TokenLayer`: name checks, encoding,
//! and replacing a parameter while keeping the rest of the query byte for byte.

use auth_core::AuthError;
use http::{Uri, uri::PathAndQuery};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str};

/// Everything but RFC 3986's unreserved characters (`ALPHA / DIGIT / "-" / "." / "_" / "~"`).
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Rejects names that would change the meaning of the query or be decoded differently by
/// servers; everything else (including non-ASCII) is percent-encoded when sent.
pub(crate) fn validate_name(name: &str, what: &str) -> Result<(), AuthError> {
    let problem = if name.is_empty() {
        Some("is empty")
    } else {
        name.chars().find_map(|c| match c {
            '&' => Some("contains `&`, which separates query parameters"),
            '=' => Some("contains `=`, which separates a parameter's name from its value"),
            '#' => Some("contains `#`, which starts the URI fragment"),
            '+' => Some("contains `+`, which servers decode as a space"),
            '%' => Some("contains `%`: give the name unencoded, it is percent-encoded when sent"),
            c if c.is_whitespace() => Some("contains whitespace"),
            c if c.is_control() => Some("contains control characters"),
            _ => None,
        })
    };
    match problem {
        Some(problem) => Err(AuthError::config(
            format!("{what} `{}`", name.escape_debug()),
            problem,
        )),
        None => Ok(()),
    }
}

/// Whether a raw (percent-encoded) parameter name decodes to `name`.
pub(crate) fn is_named(raw: &str, name: &str) -> bool {
    percent_decode_str(raw).eq(name.bytes())
}

/// Replaces every parameter of `uri`'s query that is `ours` with `pair` (`name=value`, already
/// percent-encoded), keeping the path and the other parameters byte for byte.
pub(crate) fn set_param(
    uri: &mut Uri,
    ours: impl Fn(&str) -> bool,
    pair: &str,
) -> Result<(), &'static str> {
    let (path, query) = split(uri)?;
    let mut new = String::with_capacity(path.len() + query.len() + pair.len() + 2);
    new.push_str(path);
    new.push('?');
    push_replaced(&mut new, query, ours, pair);
    // Both parts were valid before and the pair is percent-encoded, so this does not fail in
    // practice; it is still an error, not a panic.
    let new = PathAndQuery::try_from(new).map_err(|_| "the new query is not valid")?;
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = Some(new);
    *uri = Uri::from_parts(parts).map_err(|_| "the URI cannot be rebuilt with a query")?;
    Ok(())
}

/// `query` (without `?`) with every parameter that is `ours` replaced by `pair`, for an adapter
/// that holds the query apart from the rest of the URL.
pub(crate) fn replaced(query: &str, ours: impl Fn(&str) -> bool, pair: &str) -> String {
    let mut new = String::with_capacity(query.len() + pair.len() + 1);
    push_replaced(&mut new, query, ours, pair);
    new
}

/// Appends the parameters of `query` that are not `ours`, then `pair`, to `out`.
fn push_replaced(out: &mut String, query: &str, ours: impl Fn(&str) -> bool, pair: &str) {
    for param in query.split('&') {
        if !param.is_empty() && !ours(param) {
            out.push_str(param);
            out.push('&');
        }
    }
    out.push_str(pair);
}

/// The path and query of `uri`, or why a parameter cannot be added to it.
pub(crate) fn split(uri: &Uri) -> Result<(&str, &str), &'static str> {
    let Some(path_and_query) = uri.path_and_query() else {
        return Err("it has no path (authority form, as used by CONNECT)");
    };
    let (path, query) = path_and_query
        .as_str()
        .split_once('?')
        .unwrap_or((path_and_query.as_str(), ""));
    if path == "*" {
        return Err("it is `*` (asterisk form, as used by OPTIONS)");
    }
    Ok((path, query))
}
