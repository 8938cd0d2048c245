//! The HTTP client the commands use, and a connection's authenticated stack around it.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tower::{ServiceBuilder, timeout::Timeout, timeout::TimeoutLayer};
use tower_auth::{
    AccessToken, ErrorKind, TokenSource,
    config::{ConnectionLayer, ConnectionService, ConnectionSpec},
};

use crate::diagnose::{Failure, Stage};

/// hyper-util's client over rustls (platform roots), HTTP/1.1, http and https.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A connection's stack: timeout, then its auth layer, then the client.
pub(crate) type Stack = Timeout<ConnectionService<HttpClient>>;

/// Requests on a connection without a `timeout` give up after this long.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn http_client() -> HttpClient {
    let builder = HttpsConnectorBuilder::new();
    // Without platform roots (a minimal container) https fails with a certificate error that the
    // diagnosis explains; plain http and loopback still work.
    let connector = match builder.with_native_roots() {
        Ok(builder) => builder.https_or_http().enable_http1().build(),
        Err(_) => HttpsConnectorBuilder::new()
            .with_tls_config(
                // The process-default provider, as hyper-rustls uses above.
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
            .https_or_http()
            .enable_http1()
            .build(),
    };
    Client::builder(TokioExecutor::new()).build(connector)
}

/// The client for `spec`'s API: through `tls` (client certificate, CA roots) when configured.
pub(crate) fn client_for(spec: &ConnectionSpec, shared: &HttpClient) -> Result<HttpClient, String> {
    match spec.client_tls().map_err(|e| e.to_string())? {
        None => Ok(shared.clone()),
        Some(tls) => {
            let connector = tls.https_connector().map_err(|e| e.message())?;
            Ok(Client::builder(TokioExecutor::new()).build(connector))
        }
    }
}

/// The connection's `timeout`, else [`DEFAULT_TIMEOUT`]: it bounds the token fetch, the time
/// to the response headers and (in `request`) the whole exchange, body included.
pub(crate) fn timeout(spec: &ConnectionSpec) -> Duration {
    spec.timeout.unwrap_or(DEFAULT_TIMEOUT)
}

/// A token from `source`, within the connection's timeout: a stalled token endpoint is a
/// `token`-stage timeout, not a wait for the token client's own deadline.
pub(crate) async fn token(
    spec: &ConnectionSpec,
    source: &Arc<dyn TokenSource>,
) -> Result<AccessToken, Failure> {
    let timeout = timeout(spec);
    match tokio::time::timeout(timeout, source.token()).await {
        Ok(Ok(token)) => {
            // The server may echo it back (in a challenge, an error page): never shown.
            spec.redactor().add_token(&token);
            Ok(token)
        }
        Ok(Err(e)) => {
            Err(Failure::from_auth(Stage::Token, &e, spec.redactor()).in_connection(spec))
        }
        Err(_elapsed) => {
            let mut failure = Failure::new(
                Stage::Token,
                format!("no token within the connection's timeout ({timeout:?})"),
                ErrorKind::Timeout.hint(),
            );
            failure.kind = Some(ErrorKind::Timeout);
            Err(failure)
        }
    }
}

pub(crate) fn stack(spec: &ConnectionSpec, layer: ConnectionLayer, client: HttpClient) -> Stack {
    ServiceBuilder::new()
        .layer(TimeoutLayer::new(timeout(spec)))
        .layer(layer)
        .service(client)
}

/// `base_url` joined with a relative `path` (which may carry a query).
pub(crate) fn join(base_url: &str, path: &str) -> Result<String, String> {
    if path.contains("://") {
        return Err(format!(
            "`{}` is an absolute URL: give a path relative to the connection's base_url, so \
             its credential cannot go to another host",
            tower_auth::redact::hide_userinfo(path)
        ));
    }
    if path.is_empty() {
        return Ok(base_url.to_owned());
    }
    Ok(format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        path.trim_start_matches('/')
    ))
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn joins_paths_and_refuses_absolute_urls() {
        assert_eq!(
            join("https://a.example/v2", "/me").as_deref(),
            Ok("https://a.example/v2/me")
        );
        assert_eq!(
            join("https://a.example/v2/", "me?x=1").as_deref(),
            Ok("https://a.example/v2/me?x=1")
        );
        assert_eq!(
            join("https://a.example/v2", "").as_deref(),
            Ok("https://a.example/v2")
        );
        assert!(join("https://a.example", "https://evil.example/").is_err());
    }
}
