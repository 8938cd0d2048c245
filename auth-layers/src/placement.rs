//! Where a credential goes in a request, shared by the static-credential service and the token
//! service: a header ([`HeaderSlot`]) or a query parameter ([`QueryParam`]), and whether a
//! request already carries one there.

use std::{fmt, sync::Arc};

use auth_core::{AuthError, ErrorKind};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri, header::AUTHORIZATION};
use percent_encoding::utf8_percent_encode;

use crate::{query, response::Detail};

/// Where a credential is put.
#[derive(Clone, Debug)]
pub(crate) enum Placement {
    /// In a header, replacing any value of that name.
    Header(HeaderSlot),
    /// In a query parameter, replacing any parameter of that name.
    Query(QueryParam),
}

impl Placement {
    /// Whether `request` already carries a credential where this placement would put one.
    pub(crate) fn carried_by<B>(&self, request: &Request<B>) -> bool {
        match self {
            Placement::Header(slot) => request.headers().contains_key(slot.name()),
            Placement::Query(param) => param.carried_by(request.uri()),
        }
    }
}

/// A header a credential goes in. `Authorization` is inserted as the constant, whose hash the
/// compiler folds, so the common case costs what tower-http's `AddAuthorization` costs.
#[derive(Clone)]
pub(crate) struct HeaderSlot {
    name: HeaderName,
    /// The name as the user spelled it, for messages (`HeaderName` is lower-case).
    display_name: Arc<str>,
    is_authorization: bool,
}

impl HeaderSlot {
    /// `Authorization`.
    pub(crate) fn authorization() -> Self {
        Self::new(AUTHORIZATION, "Authorization")
    }

    /// Parses a header name, as a configuration error naming it (`what` says whose name it is)
    /// when it is not one.
    pub(crate) fn parse(name: &str, what: &str) -> Result<Self, AuthError> {
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            AuthError::config(
                format!("{what} `{}`", name.escape_debug()),
                "is not a valid HTTP header name (letters, digits and `-` only, not empty)",
            )
        })?;
        Ok(Self::new(parsed, name))
    }

    /// A slot for `name`, shown in messages as `display_name`.
    pub(crate) fn new(name: HeaderName, display_name: &str) -> Self {
        Self {
            is_authorization: name == AUTHORIZATION,
            name,
            display_name: display_name.into(),
        }
    }

    pub(crate) fn name(&self) -> &HeaderName {
        &self.name
    }

    pub(crate) fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Inserts `value`, replacing any value of this name.
    #[inline]
    pub(crate) fn insert(&self, headers: &mut HeaderMap, value: HeaderValue) {
        if self.is_authorization {
            headers.insert(AUTHORIZATION, value);
        } else {
            insert_named(headers, &self.name, value);
        }
    }
}

impl fmt::Debug for HeaderSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.display_name, f)
    }
}

/// Out of line, so the `Authorization` insert above is the one the compiler inlines.
#[inline(never)]
fn insert_named(headers: &mut HeaderMap, name: &HeaderName, value: HeaderValue) {
    headers.insert(name.clone(), value);
}

/// A query parameter a credential goes in: the name as given, and percent-encoded.
#[derive(Clone)]
pub(crate) struct QueryParam {
    name: Arc<str>,
    encoded: Arc<str>,
    /// What the parameter carries ("API key", "access token"), for errors.
    what: &'static str,
}

impl QueryParam {
    /// Checks `name` (given unencoded) and encodes it. Fails with a configuration error when
    /// it is empty or contains `&`, `=`, `#`, `+`, `%`, whitespace or control characters.
    pub(crate) fn parse(name: &str, what: &'static str) -> Result<Self, AuthError> {
        query::validate_name(name, &format!("{what} query parameter name"))?;
        Ok(Self {
            name: name.into(),
            encoded: utf8_percent_encode(name, query::COMPONENT)
                .to_string()
                .into(),
            what,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// `name=value`, with `value` percent-encoded.
    pub(crate) fn pair(&self, value: &str) -> String {
        let mut pair = String::with_capacity(self.encoded.len() + 1 + value.len());
        pair.push_str(&self.encoded);
        pair.push('=');
        pair.extend(utf8_percent_encode(value, query::COMPONENT));
        pair
    }

    /// Whether the raw `param` (`name=value` or `name`, percent-encoded) has our name.
    fn is_ours(&self, param: &str) -> bool {
        let name = param.split_once('=').map_or(param, |(name, _)| name);
        query::is_named(name, &self.name)
    }

    /// Whether `uri`'s query already has a parameter of our name.
    pub(crate) fn carried_by(&self, uri: &Uri) -> bool {
        query::split(uri).is_ok_and(|(_, q)| q.split('&').any(|param| self.is_ours(param)))
    }

    /// Whether the raw `query` (without `?`) already has a parameter of our name.
    pub(crate) fn carried_in(&self, query: &str) -> bool {
        query.split('&').any(|param| self.is_ours(param))
    }

    /// `query` (without `?`) with every parameter of our name replaced by `pair`, the other
    /// parameters kept byte for byte.
    pub(crate) fn replaced_in(&self, query: &str, pair: &str) -> String {
        query::replaced(query, |param| self.is_ours(param), pair)
    }

    /// Replaces every parameter of our name in `uri` with `pair` (from [`pair`](Self::pair)),
    /// keeping the path and the other parameters byte for byte. Fails, saying why, for a URI
    /// that takes no query (authority or asterisk form).
    pub(crate) fn try_set(&self, uri: &mut Uri, pair: &str) -> Result<(), &'static str> {
        query::set_param(uri, |param| self.is_ours(param), pair)
    }

    /// [`try_set`](Self::try_set), failing with an [`ErrorKind::Request`] error.
    pub(crate) fn set(&self, uri: &mut Uri, pair: &str) -> Result<(), AuthError> {
        self.try_set(uri, pair).map_err(|why| {
            AuthError::new(
                ErrorKind::Request,
                format!("{}: {why}", self.unusable_uri()),
            )
        })
    }

    /// "cannot add the API key query parameter `api_key` to the request URI".
    pub(crate) fn unusable_uri(&self) -> String {
        format!(
            "cannot add the {} query parameter `{}` to the request URI",
            self.what, self.name
        )
    }
}

/// Why a credential could not be added to a request: `Copy`, so a future that holds it has no
/// drop glue; the [`AuthError`] is built only when it is reported.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rejection {
    what: Detail,
    why: &'static str,
}

impl Rejection {
    pub(crate) fn new(what: Detail, why: &'static str) -> Self {
        Self { what, why }
    }

    /// An [`ErrorKind::Request`] error: "cannot add …: it has no path (…)".
    pub(crate) fn into_error(self) -> AuthError {
        AuthError::new(
            ErrorKind::Request,
            format!("{}: {}", self.what.as_str(), self.why),
        )
    }
}

impl fmt::Debug for QueryParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.name, f)
    }
}

/// "with prefix `Bearer`" or "with no prefix (the bare value)", for descriptions.
pub(crate) fn describe_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        "with no prefix (the bare value)".to_owned()
    } else {
        format!("with prefix `{}`", prefix.escape_debug())
    }
}

#[cfg(test)]
mod tests {
    use auth_core::ErrorKind;

    use super::*;

    #[test]
    fn bad_header_names_are_config_errors_naming_the_name() {
        let error = HeaderSlot::parse("X Bad", "bearer header name").expect_err("space");
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.to_string().contains("`X Bad`"));
        assert!(HeaderSlot::parse("", "bearer header name").is_err());
    }

    #[test]
    fn a_query_param_knows_its_own_name_encoded_or_not() {
        let param = QueryParam::parse("api key", "API key").expect_err("space");
        assert_eq!(param.kind(), ErrorKind::Config);
        let param = QueryParam::parse("key/ü", "API key").expect("valid");
        assert_eq!(param.pair("a b"), "key%2F%C3%BC=a%20b");
        let uri: Uri = "https://h/p?x=1&key%2f%c3%bc=old".parse().expect("uri");
        assert!(param.carried_by(&uri));
        let uri: Uri = "https://h/p?x=1".parse().expect("uri");
        assert!(!param.carried_by(&uri));
    }
}
