//! Restricting a credential to the origins it is meant for.
//!
//! Every credential layer ([`AddCredentialLayer`](crate::AddCredentialLayer), whichever method
//! built it, and [`TokenLayer`](crate::TokenLayer)) can be
//! restricted to one or more [`Origin`]s (scheme, host and port, as browsers define them). A
//! restricted layer adds its credential only to requests for those origins; a request for any
//! other origin passes through untouched: no credential, no token fetch, no retry, no
//! [`AuthError`] attached to its response.
//!
//! ```
//! use auth_layers::{BearerLayer, Origin};
//! use http::{Request, Response, header::AUTHORIZATION};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let layer = BearerLayer::new("my-token")?
//!     .restrict_to_origin(Origin::parse("https://api.example.com")?);
//! let api = ServiceBuilder::new()
//!     .layer(layer)
//!     // stands in for an HTTP client; answers whether the request carried the token
//!     .service(service_fn(|req: Request<String>| async move {
//!         let sent = req.headers().contains_key(AUTHORIZATION);
//!         Ok::<_, std::convert::Infallible>(Response::new(sent))
//!     }));
//! let sends_token = |url: &str| {
//!     let request = Request::get(url).body(String::new());
//!     let api = api.clone();
//!     async move { Ok::<_, tower::BoxError>(api.oneshot(request?).await?.into_body()) }
//! };
//!
//! // Default ports and the host's case do not matter:
//! assert!(sends_token("https://API.example.com:443/v1/items").await?);
//! // Another host, scheme or port is another origin; a relative URI goes nowhere known:
//! for url in ["https://cdn.example.com/a", "http://api.example.com/a", "https://api.example.com:8443/a", "/a"] {
//!     assert!(!sends_token(url).await?, "{url}");
//! }
//! # Ok(()) }
//! ```
//!
//! # What matches
//!
//! A request matches when its URI is absolute (`https://host/path`) and its scheme, host and
//! port equal those of one of the origins. Schemes and hosts compare case-insensitively, a
//! missing port is the scheme's default (80 for `http`, 443 for `https`), and IPv6 literals
//! compare as addresses (`[::1]` is `[0:0::1]`). Nothing else is normalised, so every doubt
//! ends with the credential *not* being sent: `example.com.` (trailing dot) is not
//! `example.com`, `127.1` is not `127.0.0.1`, and internationalised names must be given in
//! their ASCII (punycode) form, the only one `http::Uri` accepts.
//!
//! A request whose URI has no scheme or host (origin form, `/path?query`, as built for a
//! relative request; or authority form, `host:port`) **never matches** a restriction: the
//! layer cannot know where it is going, and a credential must never go to an unknown
//! destination. Build requests with absolute URIs, as hyper-util's client requires anyway.
//!
//! # Redirects
//!
//! Put a redirect-following layer (tower-http's `FollowRedirect`) *outside* the auth layer, so
//! every hop goes through the origin check and a redirect to another origin is sent without the
//! credential. Inside the auth layer, the first hop's headers would be copied to the next one
//! whatever its origin (tower-http removes `Authorization` on a cross-origin redirect, but not
//! a custom API key header).

use std::{fmt, net::Ipv6Addr, str::FromStr, sync::Arc};

use auth_core::AuthError;
use http::Uri;

/// A web origin: scheme (`http` or `https`), host and port, e.g. `https://api.example.com`.
///
/// Two origins are equal when they name the same scheme, host and port, whatever the spelling
/// (`https://API.example.com:443` is `https://api.example.com`). `Display` writes the normal
/// form: lower-case, without the scheme's default port.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: Host,
    port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if text.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Host {
    /// A registered name or an IPv4 address, lower-cased.
    Name(Box<str>),
    /// An IPv6 literal, kept as an address so every spelling of it compares equal.
    V6(Ipv6Addr),
}

/// A host as written in a URI, borrowed: what a request is compared by, without allocating.
enum HostRef<'a> {
    Name(&'a str),
    V6(Ipv6Addr),
}

impl<'a> HostRef<'a> {
    fn of(text: &'a str) -> Self {
        text.strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|inner| inner.parse().ok())
            .map_or(HostRef::Name(text), HostRef::V6)
    }

    fn to_host(&self) -> Host {
        match self {
            HostRef::Name(name) => Host::Name(name.to_ascii_lowercase().into()),
            HostRef::V6(addr) => Host::V6(*addr),
        }
    }
}

impl PartialEq<HostRef<'_>> for Host {
    fn eq(&self, other: &HostRef<'_>) -> bool {
        match (self, other) {
            (Host::Name(ours), HostRef::Name(theirs)) => ours.eq_ignore_ascii_case(theirs),
            (Host::V6(ours), HostRef::V6(theirs)) => ours == theirs,
            _ => false,
        }
    }
}

/// The scheme, host and port of an absolute URI, borrowed from it.
struct Target<'a> {
    scheme: Scheme,
    host: HostRef<'a>,
    port: u16,
    has_userinfo: bool,
}

impl<'a> Target<'a> {
    /// Reads where `uri` points to, without allocating; the error says why it points nowhere
    /// an origin can describe.
    fn of(uri: &'a Uri) -> Result<Self, &'static str> {
        let Some(scheme) = uri.scheme_str() else {
            return Err("has no scheme: write it as `https://host` (or `http://host`)");
        };
        let scheme = Scheme::parse(scheme).ok_or("has a scheme other than `http` or `https`")?;
        let authority = uri.authority().ok_or("has no host")?.as_str();
        let (has_userinfo, host_port) = match authority.rsplit_once('@') {
            Some((_, host_port)) => (true, host_port),
            None => (false, authority),
        };
        let (host, port) = if host_port.starts_with('[') {
            let end = host_port
                .find(']')
                .ok_or("has an unterminated IPv6 address")?;
            host_port.split_at(end + 1)
        } else {
            host_port.split_at(host_port.find(':').unwrap_or(host_port.len()))
        };
        if host.is_empty() {
            return Err("has no host");
        }
        let port = match port {
            // RFC 3986 §6.2.3: an empty port is the scheme's default.
            "" | ":" => scheme.default_port(),
            _ => {
                let digits = port.strip_prefix(':').ok_or("has text after the host")?;
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("has a port that is not a number");
                }
                digits.parse().map_err(|_| "has a port above 65535")?
            }
        };
        Ok(Target {
            scheme,
            host: HostRef::of(host),
            port,
            has_userinfo,
        })
    }
}

impl Origin {
    /// Parses an origin: `scheme://host[:port]`, optionally with a trailing `/`.
    ///
    /// The scheme must be `http` or `https`; the port defaults to the scheme's. Fails with
    /// [`ErrorKind::Config`](auth_core::ErrorKind::Config) when the text is not a URL, has no
    /// scheme or host, or has anything an origin does not: a path other than `/`, a query, a
    /// fragment or user information. A path is refused rather than ignored so that
    /// `https://api.example.com/v1` is not mistaken for a restriction to `/v1`; use
    /// [`Origin::of_url`] to take the origin of a longer URL, such as an API's base URL.
    ///
    /// ```
    /// use auth_layers::Origin;
    ///
    /// let origin = Origin::parse("https://API.example.com:443/")?;
    /// assert_eq!(origin.to_string(), "https://api.example.com");
    /// assert!(Origin::parse("api.example.com").is_err()); // no scheme
    /// assert!(Origin::parse("https://api.example.com/v1").is_err()); // a path
    /// assert_eq!(Origin::of_url("https://api.example.com/v1")?, origin);
    /// # Ok::<(), auth_core::AuthError>(())
    /// ```
    pub fn parse(origin: &str) -> Result<Self, AuthError> {
        let uri = parse_uri(origin)?;
        if origin.contains('#') {
            return Err(invalid(
                origin,
                "has a fragment; an origin is only scheme, host and port",
            ));
        }
        Self::strict(&uri).map_err(|problem| invalid(origin, problem))
    }

    /// Like [`Origin::parse`], from a parsed URI: it must be `scheme://host[:port]` with no path
    /// other than `/`, no query and no user information.
    pub fn from_uri(uri: &Uri) -> Result<Self, AuthError> {
        Self::strict(uri).map_err(|problem| invalid(&uri.to_string(), problem))
    }

    /// The origin of any absolute `http` or `https` URL, ignoring its path, query, fragment and
    /// user information: `https://api.example.com/v1?x=1` gives `https://api.example.com`.
    ///
    /// Fails with [`ErrorKind::Config`](auth_core::ErrorKind::Config) when the text is not a
    /// URL, has no scheme or host, has another scheme, or has a port that is not a number up to
    /// 65535.
    pub fn of_url(url: &str) -> Result<Self, AuthError> {
        Self::of_uri(&parse_uri(url)?)
    }

    /// The origin of an absolute URI; see [`Origin::of_url`].
    pub fn of_uri(uri: &Uri) -> Result<Self, AuthError> {
        let target = Target::of(uri).map_err(|problem| invalid(&uri.to_string(), problem))?;
        Ok(Self::from_target(&target))
    }

    fn strict(uri: &Uri) -> Result<Self, &'static str> {
        let target = Target::of(uri)?;
        if target.has_userinfo {
            return Err(
                "contains user information (`user@`); an origin is only scheme, host and port",
            );
        }
        if uri.path() != "/" || uri.query().is_some() {
            return Err(
                "has a path or a query; an origin is only scheme, host and port (to take \
                 the origin of a longer URL, use `Origin::of_url`)",
            );
        }
        Ok(Self::from_target(&target))
    }

    fn from_target(target: &Target<'_>) -> Self {
        Origin {
            scheme: target.scheme,
            host: target.host.to_host(),
            port: target.port,
        }
    }

    /// `"http"` or `"https"`.
    pub fn scheme(&self) -> &'static str {
        self.scheme.as_str()
    }

    /// The port, the scheme's default (80 or 443) when none was given.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether `uri` is absolute and points to this origin. Origin-form URIs (`/path`) never
    /// match. Does not allocate.
    pub fn matches(&self, uri: &Uri) -> bool {
        Target::of(uri).is_ok_and(|target| self.is(&target))
    }

    fn is(&self, target: &Target<'_>) -> bool {
        self.scheme == target.scheme && self.port == target.port && self.host == target.host
    }
}

/// Parses `text` as a URI, as a configuration error that does not repeat user information.
fn parse_uri(text: &str) -> Result<Uri, AuthError> {
    text.parse::<Uri>()
        .map_err(|_| invalid(text, "is not a valid URL"))
}

/// A configuration error about the origin written as `text`. The text is quoted unless it
/// contains user information, which may hold a password.
fn invalid(text: &str, problem: &str) -> AuthError {
    if text.contains('@') {
        AuthError::config("origin (not shown: it contains user information)", problem)
    } else {
        let shown: String = text.escape_debug().take(200).collect();
        AuthError::config(format!("origin `{shown}`"), problem)
    }
}

impl FromStr for Origin {
    type Err = AuthError;

    /// Same as [`Origin::parse`].
    fn from_str(origin: &str) -> Result<Self, Self::Err> {
        Origin::parse(origin)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            Host::Name(name) => f.write_str(name)?,
            Host::V6(addr) => write!(f, "[{addr}]")?,
        }
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin(\"{self}\")")
    }
}

/// The origins a layer's credential may go to; see the [module docs](self).
///
/// An empty filter matches nothing: a layer restricted to no origin never sends its credential.
/// Cloning is cheap (one `Arc`).
#[derive(Clone, PartialEq, Eq)]
pub struct OriginFilter {
    origins: Arc<[Origin]>,
}

impl OriginFilter {
    /// A filter that lets requests for any of `origins` through; duplicates are dropped.
    pub fn new(origins: impl IntoIterator<Item = Origin>) -> Self {
        let mut list: Vec<Origin> = Vec::new();
        for origin in origins {
            if !list.contains(&origin) {
                list.push(origin);
            }
        }
        Self {
            origins: list.into(),
        }
    }

    /// Whether `uri` is absolute and points to one of the origins. A URI without scheme or
    /// host (origin form `/path`, as built for relative requests) never matches: the credential
    /// must not go to an unknown destination. Does not allocate.
    pub fn matches(&self, uri: &Uri) -> bool {
        Target::of(uri).is_ok_and(|target| self.origins.iter().any(|o| o.is(&target)))
    }

    /// The origins, in the order they were given.
    pub fn origins(&self) -> &[Origin] {
        &self.origins
    }

    /// Whether the filter has no origin (and so matches nothing).
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }
}

impl From<Origin> for OriginFilter {
    fn from(origin: Origin) -> Self {
        Self::new([origin])
    }
}

impl FromIterator<Origin> for OriginFilter {
    fn from_iter<I: IntoIterator<Item = Origin>>(origins: I) -> Self {
        Self::new(origins)
    }
}

impl fmt::Debug for OriginFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for origin in self.origins.iter() {
            list.entry(&format_args!("{origin}"));
        }
        list.finish()
    }
}

/// A layer's restriction after `restrict_to_origins(more)`: the origins it had plus `more`.
/// Starting from none (unrestricted), the result is restricted to exactly `more`, even if that
/// is empty.
pub(crate) fn restrict(
    current: Option<OriginFilter>,
    more: impl IntoIterator<Item = Origin>,
) -> Option<OriginFilter> {
    let existing = current
        .map(|filter| filter.origins.to_vec())
        .unwrap_or_default();
    Some(OriginFilter::new(existing.into_iter().chain(more)))
}

/// Whether a layer with this restriction may add its credential to a request for `uri`: one
/// `Option` check when unrestricted.
#[inline]
pub(crate) fn allows(filter: Option<&OriginFilter>, uri: &Uri) -> bool {
    filter.is_none_or(|filter| filter.matches(uri))
}

/// Like [`allows`], for a request an adapter describes by its URL's parts: `scheme`, `host`
/// (an IPv6 literal in brackets) and `port` (`None` for the scheme's default), as
/// [`url::Url`](https://docs.rs/url) gives them. A request without a host never matches.
pub(crate) fn allows_parts(
    filter: Option<&OriginFilter>,
    scheme: &str,
    host: Option<&str>,
    port: Option<u16>,
) -> bool {
    let Some(filter) = filter else {
        return true;
    };
    let Some(scheme) = Scheme::parse(scheme) else {
        return false;
    };
    let Some(host) = host.filter(|host| !host.is_empty()) else {
        return false;
    };
    let target = Target {
        scheme,
        host: HostRef::of(host),
        port: port.unwrap_or(scheme.default_port()),
        has_userinfo: false,
    };
    filter.origins.iter().any(|origin| origin.is(&target))
}

#[cfg(test)]
mod tests;
