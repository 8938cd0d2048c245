//! A `reqwest::Request` as the layers see it ([`OutgoingRequest`]).

use auth_layers::adapter::OutgoingRequest;
use http::HeaderMap;

/// A borrowed `reqwest::Request`, described to auth-layers by its URL's parts.
pub(crate) struct Outgoing<'a>(pub(crate) &'a mut reqwest::Request);

impl OutgoingRequest for Outgoing<'_> {
    fn scheme(&self) -> &str {
        self.0.url().scheme()
    }

    fn host(&self) -> Option<&str> {
        self.0.url().host_str()
    }

    fn port(&self) -> Option<u16> {
        // `Url::port` is `None` for the scheme's default port, as the trait wants.
        self.0.url().port()
    }

    fn headers(&self) -> &HeaderMap {
        self.0.headers()
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        self.0.headers_mut()
    }

    fn query(&self) -> Option<&str> {
        self.0.url().query()
    }

    fn set_query(&mut self, query: &str) {
        self.0.url_mut().set_query(Some(query));
    }

    fn target(&self) -> Option<(http::Method, http::Uri)> {
        let uri = self.0.url().as_str().parse().ok()?;
        Some((self.0.method().clone(), uri))
    }
}
