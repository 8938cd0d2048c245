//! [`CustomTokenRequestBuilder`]: the settings of a [`CustomTokenRequest`], checked by `build`.

use std::{fmt, sync::Arc, time::Duration};

use auth_core::{AuthError, SecretString};
use http::{HeaderName, Method};

use super::{Body, CustomTokenRequest, Inner, NamedValue, Template, TokenPlacement, Values};
use crate::{KeyMap, TokenHttpClient, endpoint::parse_url, http_client::HttpLimits};

/// Configures a [`CustomTokenRequest`]; see [`CustomTokenRequest::builder`]. Nothing is checked
/// until [`build`](Self::build), which names the first problem.
pub struct CustomTokenRequestBuilder {
    method: Method,
    url: String,
    query: Vec<(String, Template)>,
    headers: Vec<(String, Template)>,
    json: Vec<(String, Template)>,
    form: Vec<(String, Template)>,
    values: Values,
    key_map: KeyMap,
    placement: Result<TokenPlacement, AuthError>,
    http: Option<TokenHttpClient>,
    limits: HttpLimits,
}

impl CustomTokenRequestBuilder {
    pub(super) fn new(method: Method, url: String) -> Self {
        Self {
            method,
            url,
            query: Vec::new(),
            headers: Vec::new(),
            json: Vec::new(),
            form: Vec::new(),
            values: Values::default(),
            key_map: KeyMap::default(),
            placement: Ok(TokenPlacement::default()),
            http: None,
            limits: HttpLimits::default(),
        }
    }

    /// Adds a request header (a header set twice is sent twice). A `Content-Type` or `Accept`
    /// set here replaces the default (the body's type; `application/json`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Template>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a field to a JSON body. A dotted name nests: `auth.password` is the field
    /// `password` of the object `auth`. Values made from text are strings; typed literals
    /// (`true`, `3`, [`Template::json`]) keep their type. Cannot be combined with
    /// [`form_field`](Self::form_field).
    pub fn json_field(mut self, name: impl Into<String>, value: impl Into<Template>) -> Self {
        self.json.push((name.into(), value.into()));
        self
    }

    /// Adds a field to an `application/x-www-form-urlencoded` body. Cannot be combined with
    /// [`json_field`](Self::json_field).
    pub fn form_field(mut self, name: impl Into<String>, value: impl Into<Template>) -> Self {
        self.form.push((name.into(), value.into()));
        self
    }

    /// Adds a query parameter to the URL (percent-encoded).
    pub fn query_param(mut self, name: impl Into<String>, value: impl Into<Template>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// A value for `{{name}}` placeholders. Setting a name twice keeps the last value.
    pub fn value(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.values
            .insert(name.into(), NamedValue::Text(value.into()));
        self
    }

    /// A secret value for `{{name}}` placeholders: never shown by `Debug`, and headers that
    /// use it are marked sensitive.
    pub fn secret_value(mut self, name: impl Into<String>, value: impl Into<SecretString>) -> Self {
        self.values
            .insert(name.into(), NamedValue::Secret(value.into()));
        self
    }

    /// Where the fields of the answer are. Defaults to RFC 6749's names (`access_token`,
    /// `expires_in`, …).
    pub fn key_map(mut self, key_map: KeyMap) -> Self {
        self.key_map = key_map;
        self
    }

    /// Sends tokens as `name: {prefix} {token}`; an empty prefix sends the bare token.
    /// Defaults to `Authorization` with the token type of the answer (`Bearer` when it has
    /// none).
    pub fn send_in_header(mut self, name: &str, prefix: &str) -> Self {
        self.placement = TokenPlacement::header(name, Some(prefix));
        self
    }

    /// Sends tokens in the query parameter `name` (see [`TokenPlacement::layer`]: the layer
    /// side of this is not available yet).
    pub fn send_in_query(mut self, name: &str) -> Self {
        self.placement = TokenPlacement::query(name);
        self
    }

    /// Sends tokens as `placement` says.
    pub fn placement(mut self, placement: TokenPlacement) -> Self {
        self.placement = Ok(placement);
        self
    }

    /// The HTTP client. Defaults to [`TokenHttpClient::new`].
    pub fn http_client(mut self, client: TokenHttpClient) -> Self {
        self.http = Some(client);
        self
    }

    /// The deadline of one request. Defaults to 30 seconds (or the HTTP client's).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = Some(timeout);
        self
    }

    /// The largest answer read, in bytes. Defaults to 1 MiB (or the HTTP client's).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.limits.max_response_size = Some(bytes);
        self
    }

    /// Allows a plain `http://` URL on a host that is not loopback. Defaults to `false`.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.limits.allow_insecure_http = allow;
        self
    }

    /// Checks everything and builds the request. Errors are [`ErrorKind::Config`](auth_core::ErrorKind::Config) naming the
    /// setting: `url`, a header, a field or parameter with an unknown placeholder, both a JSON
    /// and a form body, the placement.
    pub fn build(self) -> Result<CustomTokenRequest, AuthError> {
        let url = parse_url("url", &self.url)?;
        let http = self.limits.client(self.http, &url, "url")?;
        self.values
            .check_names()
            .map_err(|problem| AuthError::config("value", problem))?;
        let placement = self.placement?;

        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in self.headers {
            let header = HeaderName::try_from(name.trim()).map_err(|_| {
                AuthError::config(
                    format!("header `{}`", name.escape_debug()),
                    "not a valid header name",
                )
            })?;
            headers.push((header, value));
        }
        let body = match (self.json.is_empty(), self.form.is_empty()) {
            (true, true) => Body::Empty,
            (false, true) => Body::Json(self.json),
            (true, false) => Body::Form(self.form),
            (false, false) => {
                return Err(AuthError::config(
                    "body",
                    "has both JSON fields and form fields; a request has one body",
                ));
            }
        };

        let check = |what: &str, name: &str, value: &Template| {
            value
                .check(&self.values)
                .map_err(|problem| AuthError::config(format!("{what} `{name}`"), problem))
        };
        for (name, value) in &self.query {
            check("query parameter", name, value)?;
        }
        for (name, value) in &headers {
            check("header", name.as_str(), value)?;
        }
        if let Body::Json(fields) | Body::Form(fields) = &body {
            let what = if matches!(body, Body::Json(_)) {
                "JSON field"
            } else {
                "form field"
            };
            for (name, value) in fields {
                check(what, name, value)?;
            }
        }

        let inner = Inner {
            method: self.method,
            url,
            query: self.query,
            headers,
            body,
            values: self.values,
            key_map: self.key_map,
            placement,
            http,
            redactor: auth_core::Redactor::new(),
        };
        for secret in inner.secrets() {
            inner.redactor.add(secret);
        }
        // Render once now, so every remaining problem (a header value, the JSON shape) is a
        // build error rather than a failure on every fetch.
        inner.render()?;
        Ok(CustomTokenRequest {
            inner: Arc::new(inner),
        })
    }
}

impl fmt::Debug for CustomTokenRequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomTokenRequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("json", &self.json)
            .field("form", &self.form)
            .field("values", &self.values)
            .field("key_map", &self.key_map)
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}
