//! [`Discovery`]: an issuer's endpoints and client-authentication methods from its metadata
//! (RFC 8414, OpenID Connect Discovery 1.0).
//!
//! From an issuer URL such as `https://auth.example.com/tenant`, [`Discovery::discover`] reads,
//! in this order, until one answers with a JSON document:
//!
//! 1. `https://auth.example.com/.well-known/oauth-authorization-server/tenant` (RFC 8414 §3.1),
//! 2. `https://auth.example.com/tenant/.well-known/openid-configuration` (OIDC Discovery §4.1),
//! 3. `https://auth.example.com/tenant/.well-known/oauth-authorization-server` (where some
//!    servers put RFC 8414 metadata for issuers with a path; only tried for those).
//!
//! A document whose `issuer` is not exactly the requested issuer is rejected (RFC 8414 §3.3:
//! this stops a server from impersonating another), as is one without a `token_endpoint`.
//! Requests go through [`TokenHttpClient`]: https only (plain `http://` on loopback, or when
//! allowed), no redirects, capped bodies, a timeout.
//!
//! **Caching**: each `Discovery` (and its clones, which share one cache) keeps each issuer's
//! metadata for a TTL, [`DEFAULT_TTL`] (1 hour) unless set with [`Discovery::ttl`]. Concurrent
//! lookups of one issuer cause one fetch. Failures are not cached. There is no process-wide
//! cache: keep one `Discovery` in your application state to share it.
//!
//! ```no_run
//! use auth_oauth::{ClientCredentials, TokenParams, discovery::Discovery};
//! # async fn run() -> Result<(), auth_core::AuthError> {
//! let discovery = Discovery::new()?;
//! let metadata = discovery.discover("https://auth.example.com").await?;
//! println!("token endpoint: {}", metadata.token_endpoint());
//!
//! // The endpoint, with client_secret_basic or client_secret_post as the server supports.
//! let endpoint = metadata
//!     .token_endpoint_builder(discovery.http_client(), "my-client", Some("s3cr3t".into()))?
//!     .build()?;
//! let grant = ClientCredentials::new(endpoint, TokenParams::new().scopes("read"))?;
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use auth_core::{AuthError, ErrorKind, Redactor};
use http::{Method, Request, header};
use serde_json::Value;
use tokio::{sync::OnceCell, time::Instant};

use crate::{ClientAuth, TokenHttpClient, Url, endpoint::parse_url, http_client::Peer};

mod metadata;

pub use metadata::AuthServerMetadata;

/// The order [`AuthServerMetadata::preferred_auth_method`] tries methods in: shared-secret
/// methods first (Basic before the body, as RFC 6749 §2.3.1 recommends), then the private-key
/// and certificate methods.
pub const PREFERRED_AUTH_METHODS: [ClientAuth; 5] = [
    ClientAuth::Basic,
    ClientAuth::Body,
    ClientAuth::PrivateKeyJwt,
    ClientAuth::TlsClientAuth,
    ClientAuth::SelfSignedTlsClientAuth,
];

/// How long metadata is reused by default: 1 hour.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);

/// Reads and caches authorization server metadata; see the [module docs](self). Cheap to clone;
/// clones share the cache.
#[derive(Clone)]
pub struct Discovery {
    http: TokenHttpClient,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<String, Arc<Slot>>>>,
    redactor: Redactor,
}

/// One issuer's metadata: fetched once by whoever comes first, awaited by the others.
#[derive(Default)]
struct Slot {
    cell: OnceCell<(Instant, Arc<AuthServerMetadata>)>,
}

impl Discovery {
    /// Discovery with the default [`TokenHttpClient`].
    pub fn new() -> Result<Self, AuthError> {
        Ok(Self::with_http_client(TokenHttpClient::new()?))
    }

    /// Discovery through `http` (its timeout, body cap and `http://` policy apply).
    pub fn with_http_client(http: TokenHttpClient) -> Self {
        Self {
            http,
            ttl: DEFAULT_TTL,
            cache: Arc::default(),
            redactor: Redactor::new(),
        }
    }

    /// The secrets to cut out of the excerpts of bad metadata documents (a server's error page
    /// may echo anything it has seen). Defaults to an empty redactor: discovery sends no
    /// secret, but a configuration shares the one holding all of its secrets.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// How long metadata is reused before it is read again. Defaults to 1 hour; zero reads it
    /// on every lookup.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The HTTP client metadata is read with (and that
    /// [`AuthServerMetadata::token_endpoint_builder`] should be given).
    pub fn http_client(&self) -> &TokenHttpClient {
        &self.http
    }

    /// Forgets the cached metadata of `issuer`, e.g. after the server was reconfigured.
    pub fn forget(&self, issuer: &str) {
        self.lock().remove(issuer.trim());
    }

    /// The metadata of `issuer`, from the cache when it is younger than the TTL.
    ///
    /// Errors: [`ErrorKind::Config`] for an issuer that is not an https URL (plain `http://`
    /// only on loopback or when allowed) or has a query or fragment, a document for another
    /// issuer, one without `token_endpoint`, or no document at any well-known address;
    /// [`ErrorKind::MalformedResponse`] for a document that is not a JSON object;
    /// [`ErrorKind::TokenEndpoint`] when the server fails (5xx) or redirects;
    /// [`ErrorKind::Transport`] / [`ErrorKind::Timeout`] when it cannot be reached.
    pub async fn discover(&self, issuer: &str) -> Result<Arc<AuthServerMetadata>, AuthError> {
        let issuer = issuer.trim();
        let url = parse_issuer(issuer, &self.http)?;
        let slot = self.slot(issuer);
        let (_, metadata) = slot
            .cell
            .get_or_try_init(|| async {
                let metadata = fetch(&self.http, issuer, &url, &self.redactor)
                    .await
                    .map_err(|e| e.redact(&self.redactor))?;
                Ok::<_, AuthError>((Instant::now(), Arc::new(metadata)))
            })
            .await?;
        Ok(metadata.clone())
    }

    /// The slot of `issuer`: the cached one while fresh (or still being filled), a new one
    /// otherwise.
    fn slot(&self, issuer: &str) -> Arc<Slot> {
        let mut cache = self.lock();
        let fresh = cache.get(issuer).filter(|slot| match slot.cell.get() {
            Some((fetched_at, _)) => fetched_at.elapsed() < self.ttl,
            None => true,
        });
        match fresh {
            Some(slot) => slot.clone(),
            None => {
                let slot = Arc::new(Slot::default());
                cache.insert(issuer.to_owned(), slot.clone());
                slot
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        // Never held across an await; a panic cannot leave the map half-updated.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers: Vec<String> = self.lock().keys().cloned().collect();
        f.debug_struct("Discovery")
            .field("http", &self.http)
            .field("ttl", &self.ttl)
            .field("cached_issuers", &issuers)
            .finish()
    }
}

/// The issuer as a URL: https (or allowed http), no query, no fragment.
fn parse_issuer(issuer: &str, http: &TokenHttpClient) -> Result<Url, AuthError> {
    let url = parse_url("issuer", issuer)?;
    if url.query().is_some() {
        return Err(AuthError::config(
            "issuer",
            "must not contain a query (`?…`, RFC 8414 §2)",
        ));
    }
    http.check_url(&url, "issuer")?;
    Ok(url)
}

/// The well-known addresses to try for `issuer`, in order (see the module docs).
pub fn well_known_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let at = |path: String| {
        let mut url = issuer.clone();
        url.set_path(&path);
        url
    };
    let mut urls = vec![
        at(format!("/.well-known/oauth-authorization-server{path}")),
        at(format!("{path}/.well-known/openid-configuration")),
    ];
    if !path.is_empty() {
        urls.push(at(format!("{path}/.well-known/oauth-authorization-server")));
    }
    urls
}

/// Why a well-known address gave no document; the worst one decides the error kind.
#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Miss {
    NotFound,
    NotJson,
    ServerError,
}

async fn fetch(
    http: &TokenHttpClient,
    issuer: &str,
    issuer_url: &Url,
    redactor: &Redactor,
) -> Result<AuthServerMetadata, AuthError> {
    let mut tried = Vec::new();
    let mut worst = Miss::NotFound;
    let mut last_status = None;
    for url in well_known_urls(issuer_url) {
        crate::endpoint::event!(
            debug,
            url = url.as_str(),
            "reading authorization server metadata"
        );
        let request = Request::builder()
            .method(Method::GET)
            .uri(url.as_str())
            .header(header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| {
                AuthError::new(ErrorKind::Request, "building the metadata request").with_source(e)
            })?;
        let response = http.send_to(request, Peer::METADATA).await?;
        let status = response.status();
        let (miss, why) = if status.is_success() {
            match serde_json::from_slice::<Value>(response.body()) {
                Ok(Value::Object(object)) => {
                    return AuthServerMetadata::from_json(object, issuer, url, http);
                }
                _ => (
                    Miss::NotJson,
                    format!(
                        "not a JSON object (content type `{}`): {}",
                        response
                            .headers()
                            .get(header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("none"),
                        excerpt(response.body(), redactor)
                    ),
                ),
            }
        } else if status.is_server_error() {
            (Miss::ServerError, format!("HTTP {}", status.as_u16()))
        } else {
            (Miss::NotFound, format!("HTTP {}", status.as_u16()))
        };
        if miss >= worst {
            worst = miss;
            last_status = Some(status);
        }
        tried.push(format!("`{url}`: {why}"));
    }
    let tried = tried.join("; ");
    let error = match worst {
        Miss::NotFound => AuthError::config(
            "issuer",
            format!("no metadata for `{issuer}` ({tried}): check the issuer URL"),
        ),
        Miss::NotJson => AuthError::new(
            ErrorKind::MalformedResponse,
            format!("no metadata document for `{issuer}` ({tried})"),
        ),
        Miss::ServerError => AuthError::new(
            ErrorKind::TokenEndpoint,
            format!("the metadata of `{issuer}` could not be read ({tried})"),
        ),
    };
    Err(match last_status {
        Some(status) => error.with_status(status),
        None => error,
    })
}

/// The start of a body, on one line: metadata is public, but an HTML error page is long (and
/// may echo what the server has seen: cut out by value, then by shape, before the cut).
fn excerpt(body: &[u8], redactor: &Redactor) -> String {
    const MAX: usize = 80;
    let text = redactor.redact_head(body, 4 * MAX);
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = auth_core::redact::shown(&one_line, MAX);
    if body.len() > 4 * MAX && !out.ends_with('…') {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> Vec<String> {
        well_known_urls(&Url::parse(issuer).expect("url"))
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn well_known_addresses_follow_rfc_8414_then_oidc() {
        assert_eq!(
            urls("https://as.example.com"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://as.example.com/realms/main/"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server/realms/main",
                "https://as.example.com/realms/main/.well-known/openid-configuration",
                "https://as.example.com/realms/main/.well-known/oauth-authorization-server",
            ]
        );
    }

    #[test]
    fn excerpts_are_one_short_line() {
        let none = Redactor::new();
        assert_eq!(excerpt(b"  <html>\n<body>", &none), "<html> <body>");
        assert_eq!(excerpt(b"", &none), "(empty)");
        assert!(excerpt(&[b'x'; 500], &none).ends_with('…'));
    }

    #[test]
    fn excerpts_lose_held_secrets_and_token_like_runs() {
        let redactor = Redactor::new();
        redactor.add("hunter2pass");
        let page = b"<p>seen: hunter2pass and eyJhbGciOiJSUzI1NiJ9abcdef0123456789</p>";
        let shown = excerpt(page, &redactor);
        assert_eq!(shown, "<p>seen: [redacted] and [redacted]</p>");
    }
}
