//! [`CustomTokenRequest`]: a [`TokenSource`] for APIs with their own login endpoint.
//!
//! Any method and URL, headers, and a JSON or form body whose values are literals, secrets or
//! text with `{{name}}` placeholders (see [`Template`]); the answer goes through
//! [`normalize`](crate::normalize()) with your [`KeyMap`] (renamed or nested fields, `expires_in`
//! as a string, errors with status 200); the token is sent in a header with any prefix, or in a
//! query parameter ([`TokenPlacement`]). Wrap it in a [`CachedTokenSource`] and it caches,
//! refreshes and retries on 401 like every other source.
//!
//! ```
//! use auth_oauth::{KeyMap, custom::{CustomTokenRequest, Template}};
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! use tower::ServiceBuilder;
//! # fn main() -> Result<(), auth_core::AuthError> {
//! # let _rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # let _guard = _rt.enter();
//! # let password = String::from("s3cr3t");
//!
//! // POST {"username": "acme/alice", "password": "…", "remember": true}
//! // answered by {"data": {"token": "…", "ttl": "3600"}}
//! let login = CustomTokenRequest::post("https://api.example.com/v1/login")
//!     .header("X-Account", "{{account}}")
//!     .json_field("username", "{{account}}/alice")
//!     .json_field("password", Template::secret(password))
//!     .json_field("remember", true)
//!     .value("account", "acme")
//!     .key_map(KeyMap::default().access_token("data.token")?.expires_in("data.ttl")?)
//!     .send_in_header("X-Session", "")
//!     .build()?;
//!
//! let client = ServiceBuilder::new()
//!     .layer(login.into_layer()?)
//!     .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
//! // Every request now carries `X-Session: …`; the login runs once, again before the token
//! // expires, and once more after a 401.
//! # Ok(()) }
//! ```
//!
//! Every problem that can be found before sending is found by
//! [`build`](CustomTokenRequestBuilder::build) and named: an unknown placeholder and where it
//! is used, a bad header, a URL that is not https (plain `http://` is allowed on loopback, or
//! with [`allow_insecure_http`](CustomTokenRequestBuilder::allow_insecure_http)). Requests go
//! through [`TokenHttpClient`]: no redirects, a capped response body, a timeout.

use std::{fmt, sync::Arc};

use auth_core::{
    AccessToken, AuthError, CachedTokenSource, ErrorKind, Redactor, TokenFuture, TokenSource,
};
use auth_layers::TokenLayer;
use http::{HeaderName, HeaderValue, Method, Request, header};
use oauth2::{HttpRequest, url::Url};
use serde_json::{Map, Value};

use crate::{KeyMap, TokenHttpClient, normalize::normalize_with};

mod builder;
mod placement;
mod template;

pub use builder::CustomTokenRequestBuilder;
pub use placement::TokenPlacement;
pub use template::Template;
use template::{NamedValue, Values};

/// Logs in with a request of your making on every call; see the [module docs](self). Cheap to
/// clone. Its `Debug` shows templates and text values, never secrets.
#[derive(Clone)]
pub struct CustomTokenRequest {
    inner: Arc<Inner>,
}

struct Inner {
    method: Method,
    url: Url,
    query: Vec<(String, Template)>,
    headers: Vec<(HeaderName, Template)>,
    body: Body,
    values: Values,
    key_map: KeyMap,
    placement: TokenPlacement,
    http: TokenHttpClient,
    /// Every secret the request sends, to cut out of the server's answers.
    redactor: Redactor,
}

#[derive(Debug)]
enum Body {
    Empty,
    Json(Vec<(String, Template)>),
    Form(Vec<(String, Template)>),
}

impl CustomTokenRequest {
    /// Starts a request with `method` to `url`.
    pub fn builder(method: Method, url: impl Into<String>) -> CustomTokenRequestBuilder {
        CustomTokenRequestBuilder::new(method, url.into())
    }

    /// Starts a `POST` to `url`.
    pub fn post(url: impl Into<String>) -> CustomTokenRequestBuilder {
        Self::builder(Method::POST, url)
    }

    /// Starts a `GET` to `url`.
    pub fn get(url: impl Into<String>) -> CustomTokenRequestBuilder {
        Self::builder(Method::GET, url)
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.inner.method
    }

    /// The URL (without the templated query parameters).
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// Where API requests carry the token. Tokens are built to match: with the header prefix,
    /// or bare for a query parameter.
    pub fn placement(&self) -> &TokenPlacement {
        &self.inner.placement
    }

    /// The key map answers are read with.
    pub fn key_map(&self) -> &KeyMap {
        &self.inner.key_map
    }

    /// The HTTP client requests go through.
    pub fn http_client(&self) -> &TokenHttpClient {
        &self.inner.http
    }

    /// Sends the request and turns the answer into a token.
    pub async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let inner = &*self.inner;
        let request = inner.render().map_err(|e| {
            // `build` rendered the same request successfully, so this cannot happen.
            AuthError::new(ErrorKind::Request, "building the custom token request").with_source(e)
        })?;
        crate::endpoint::event!(
            debug,
            host = inner.url.host_str().unwrap_or_default(),
            method = %inner.method,
            "requesting a token (custom request)"
        );
        let response = inner
            .http
            .send(request)
            .await
            .map_err(|e| e.redact(&inner.redactor))?;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // A login endpoint may echo the request (a password under a name the excerpts'
        // scrubbing does not know): every secret the request sent is cut out by value.
        let token = normalize_with(
            response.status(),
            content_type,
            response.body(),
            &inner.key_map,
            &inner.redactor,
        )
        .map_err(|error| {
            crate::normalize::with_retry_after(error, response.status(), response.headers())
        })?;
        token.to_access_token(inner.placement.token_prefix(), &[])
    }

    /// A [`TokenLayer`] over this request, cached with the default
    /// [`CacheConfig`](auth_core::CacheConfig), sending tokens where
    /// [`placement`](Self::placement) says. For other cache settings, use
    /// [`TokenPlacement::layer`] with your own `CachedTokenSource`.
    pub fn into_layer(self) -> Result<TokenLayer<CachedTokenSource<Self>>, AuthError> {
        let placement = self.inner.placement.clone();
        placement.layer(CachedTokenSource::new(self))
    }
}

impl TokenSource for CustomTokenRequest {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }
}

impl Inner {
    /// Every secret this request sends.
    fn secrets(&self) -> impl Iterator<Item = &str> {
        let templates = self
            .query
            .iter()
            .chain(self.body_fields())
            .filter_map(|(_, t)| t.exposed_secret());
        self.headers
            .iter()
            .filter_map(|(_, t)| t.exposed_secret())
            .chain(templates)
            .chain(self.values.secrets())
            .filter(|s| !s.is_empty())
    }

    fn body_fields(&self) -> &[(String, Template)] {
        match &self.body {
            Body::Empty => &[],
            Body::Json(fields) | Body::Form(fields) => fields,
        }
    }

    /// The request to send; errors are [`ErrorKind::Config`] naming the part at fault.
    fn render(&self) -> Result<HttpRequest, AuthError> {
        let mut url = self.url.clone();
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &self.query {
                pairs.append_pair(name, &value.render_text(&self.values));
            }
        }
        let (content_type, body) = match &self.body {
            Body::Empty => (None, Vec::new()),
            Body::Json(fields) => {
                let mut object = Map::new();
                for (name, value) in fields {
                    insert_at_path(&mut object, name, value.render_json(&self.values)).map_err(
                        |problem| AuthError::config(format!("JSON field `{name}`"), problem),
                    )?;
                }
                let bytes = serde_json::to_vec(&Value::Object(object)).map_err(|e| {
                    AuthError::new(ErrorKind::Request, "serializing the JSON body").with_source(e)
                })?;
                (Some("application/json"), bytes)
            }
            Body::Form(fields) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (name, value) in fields {
                    form.append_pair(name, &value.render_text(&self.values));
                }
                (
                    Some("application/x-www-form-urlencoded"),
                    form.finish().into_bytes(),
                )
            }
        };
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(url.as_str())
            .body(body)
            .map_err(|e| AuthError::config("url", "is not a valid request URI").with_source(e))?;
        let headers = request.headers_mut();
        for (name, value) in &self.headers {
            let mut header_value = HeaderValue::from_bytes(
                value.render_text(&self.values).as_bytes(),
            )
            .map_err(|_| {
                AuthError::config(
                    format!("header `{name}`"),
                    "the value (placeholders filled) cannot be a header value: it contains \
                     control characters or line breaks",
                )
            })?;
            header_value.set_sensitive(value.uses_secret(&self.values));
            headers.append(name.clone(), header_value);
        }
        if let Some(content_type) = content_type
            && !headers.contains_key(header::CONTENT_TYPE)
        {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if !headers.contains_key(header::ACCEPT) {
            headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        }
        Ok(request)
    }
}

/// Puts `value` at the dotted `path` of `object`, creating the objects on the way.
fn insert_at_path(object: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), String> {
    let mut segments = path.split('.').peekable();
    let mut current = object;
    while let Some(segment) = segments.next() {
        if segment.is_empty() {
            return Err("is not a field path (names separated by single dots)".to_owned());
        }
        if segments.peek().is_none() {
            if current.contains_key(segment) {
                return Err("is set twice, or is also the parent of another field".to_owned());
            }
            current.insert(segment.to_owned(), value);
            return Ok(());
        }
        let next = current
            .entry(segment.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        current = match next {
            Value::Object(map) => map,
            _ => return Err(format!("`{segment}` is also set as a value, not an object")),
        };
    }
    Ok(())
}

impl fmt::Debug for CustomTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("CustomTokenRequest")
            .field("method", &inner.method)
            .field("url", &inner.url.as_str())
            .field("query", &inner.query)
            .field("headers", &inner.headers)
            .field("body", &inner.body)
            .field("values", &inner.values)
            .field("key_map", &inner.key_map)
            .field("placement", &inner.placement)
            .field("http", &inner.http)
            .finish()
    }
}

#[cfg(test)]
mod tests;
