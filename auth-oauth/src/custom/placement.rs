//! [`TokenPlacement`]: where requests carry the token a custom token request obtained.

use std::fmt;

use auth_core::{AuthError, TokenSource};
use auth_layers::TokenLayer;
use http::{HeaderName, HeaderValue, header::AUTHORIZATION};

/// Where API requests carry the token: a header (with a prefix) or a query parameter.
///
/// [`CustomTokenRequest`](super::CustomTokenRequest) builds its tokens to match (the header
/// value with the prefix, or the bare token for a query parameter), and
/// [`TokenPlacement::layer`] builds a [`TokenLayer`] accordingly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenPlacement {
    /// `name: {prefix} {token}`, or `name: {token}` when the prefix is empty.
    Header {
        /// The header name.
        name: HeaderName,
        /// The prefix; `None` means `Bearer`, and then a response with another token type
        /// fails with [`UnsupportedTokenType`](auth_core::ErrorKind::UnsupportedTokenType).
        /// A configured prefix is used whatever the response's token type.
        prefix: Option<String>,
    },
    /// `?name={token}`, percent-encoded.
    Query {
        /// The query parameter's name.
        name: String,
    },
}

impl Default for TokenPlacement {
    /// `Authorization: {token type} {token}`, i.e. `Authorization: Bearer …` for bearer tokens.
    fn default() -> Self {
        TokenPlacement::Header {
            name: AUTHORIZATION,
            prefix: None,
        }
    }
}

impl TokenPlacement {
    /// A header, checked: `name` must be a header name, and `prefix` a header value without
    /// spaces (or empty for the bare token).
    pub fn header(name: &str, prefix: Option<&str>) -> Result<Self, AuthError> {
        let header = HeaderName::try_from(name.trim()).map_err(|_| {
            AuthError::config(
                "send_in_header",
                format!("`{}` is not a valid header name", name.escape_debug()),
            )
        })?;
        if let Some(prefix) = prefix
            && (HeaderValue::from_str(prefix).is_err() || prefix.contains(' '))
        {
            return Err(AuthError::config(
                "send_in_header",
                format!(
                    "prefix `{}` cannot start a header value",
                    prefix.escape_debug()
                ),
            ));
        }
        Ok(TokenPlacement::Header {
            name: header,
            prefix: prefix.map(str::to_owned),
        })
    }

    /// A query parameter, checked: `name` must not be empty.
    pub fn query(name: &str) -> Result<Self, AuthError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AuthError::config(
                "send_in_query",
                "the query parameter name is empty",
            ));
        }
        Ok(TokenPlacement::Query {
            name: name.to_owned(),
        })
    }

    /// The header name, for a header placement.
    pub fn header_name(&self) -> Option<&HeaderName> {
        match self {
            TokenPlacement::Header { name, .. } => Some(name),
            TokenPlacement::Query { .. } => None,
        }
    }

    /// The query parameter's name, for a query placement.
    pub fn query_parameter(&self) -> Option<&str> {
        match self {
            TokenPlacement::Query { name } => Some(name),
            TokenPlacement::Header { .. } => None,
        }
    }

    /// The prefix tokens are built with: the configured one, the empty prefix for a query
    /// parameter (the bare token), or `None` for the token type.
    pub(crate) fn token_prefix(&self) -> Option<&str> {
        match self {
            TokenPlacement::Header { prefix, .. } => prefix.as_deref(),
            TokenPlacement::Query { .. } => Some(""),
        }
    }

    /// A [`TokenLayer`] that sends tokens from `source` here: in the header, or the query
    /// parameter.
    pub fn layer<T>(&self, source: T) -> Result<TokenLayer<T>, AuthError>
    where
        T: TokenSource + Clone,
    {
        match self {
            TokenPlacement::Header { name, .. } => TokenLayer::header(name.as_str(), source),
            TokenPlacement::Query { name } => TokenLayer::query(name, source),
        }
    }
}

impl fmt::Display for TokenPlacement {
    /// `header authorization (prefix Bearer)`, `header authorization (prefix from the token
    /// type)`, `header x-session (no prefix)`, `query parameter access_token` (header names
    /// lower-case, as HTTP/2 sends them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenPlacement::Header { name, prefix } => {
                write!(f, "header {name}")?;
                match prefix.as_deref() {
                    None => f.write_str(" (prefix from the token type)"),
                    Some("") => f.write_str(" (no prefix)"),
                    Some(p) => write!(f, " (prefix {p})"),
                }
            }
            TokenPlacement::Query { name } => write!(f, "query parameter {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TokenPlacement;

    #[test]
    fn display_says_where_the_token_goes_and_its_prefix() {
        let shown = |placement: Result<TokenPlacement, _>| placement.expect("valid").to_string();
        assert_eq!(
            shown(TokenPlacement::header("Authorization", Some("Bearer"))),
            "header authorization (prefix Bearer)"
        );
        assert_eq!(
            shown(TokenPlacement::header("Authorization", None)),
            "header authorization (prefix from the token type)"
        );
        assert_eq!(
            shown(TokenPlacement::header("X-Session", Some(""))),
            "header x-session (no prefix)"
        );
        assert_eq!(
            shown(TokenPlacement::query("access_token")),
            "query parameter access_token"
        );
    }
}
