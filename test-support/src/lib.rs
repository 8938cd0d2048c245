//! In-process servers on 127.0.0.1 shared by tower-auth's tests, examples and benches.
//!
//! ```
//! use auth_test_support::{ApiServer, Expectation, client};
//! use http::{Request, StatusCode};
//! # #[tokio::main]
//! # async fn main() {
//! let server = ApiServer::start(Expectation::query("api_key", "k3y")).await;
//! let request = Request::get(server.url("/v1/items?api_key=k3y"))
//!     .body(Default::default())
//!     .expect("valid request");
//! let response = client().request(request).await.expect("server reachable");
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(server.request_count(), 1);
//! # }
//! ```
//!
//! | item | what it is |
//! |---|---|
//! | [`client`] | a plain hyper-util HTTP/1 client to put under the layers |
//! | [`browse`] | plays the browser of a sign-in: follows redirects, returns the final page |
//! | [`api_server`] | [`ApiServer`]: checks one credential's placement, records requests |
//! | [`canary`] | the one canary secret of the canary tests, and the checks that it never shows |
//! | [`demo`] | the examples' embedded provider: an API and a token endpoint, offline |
//! | [`keys`] | EC, Ed25519 and RSA key pairs in PKCS#8, SEC1 or PKCS#1 PEM |
//! | [`login_server`] | a scripted login endpoint and an API accepting the tokens it issued |
//! | [`logs`] | a TRACE subscriber whose output tests read back |
//! | [`metrics`] | a `metrics` recorder that keeps what was recorded, for assertions |
//! | [`oauth2_mock_server`] | the npm `oauth2-mock-server`, run by Node, for interop tests |
//! | [`oidc_provider`] | panva's npm `oidc-provider` (DPoP, device flow, token exchange, revocation), run by Node |
//! | [`pki`] | the test PKI: CA, server and client certificates; expired, intermediate, self-signed |
//! | [`redirect`] | a server that answers every request with a redirect and records it |
//! | [`redis`] | [`RedisServer`](redis::RedisServer): a real `redis-server` on a free port, stopped on drop |
//! | [`tls`] | an HTTPS API on a [`pki`] certificate, optionally requiring client certificates |
//! | [`token_server`] | an OAuth 2.0 authorization server: grants, fault switches, JWT assertions |
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api_server;
pub mod canary;
pub mod demo;
pub mod keys;
pub mod login_server;
pub mod logs;
pub mod metrics;
mod node;
pub mod oauth2_mock_server;
pub mod oidc_provider;
pub mod pki;
pub mod redirect;
pub mod redis;
pub mod tls;
pub mod token_server;

pub use api_server::{ApiServer, CHALLENGE, Expectation, RecordedRequest};

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// A hyper-util HTTP/1 client (plain `http://`), the inner service of the stacks under test.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Plays the browser of an authorization-code sign-in: GETs `url`, follows up to five redirects
/// (authorization endpoint, then the loopback listener), and returns the final status and page.
///
/// # Panics
///
/// When a request fails or there are more than five redirects (a test failure).
pub async fn browse(url: String) -> (StatusCode, String) {
    let client = client();
    let mut url = url;
    for _ in 0..5 {
        let request = Request::get(url.as_str())
            .body(Full::default())
            .expect("request");
        let response = client
            .request(request)
            .await
            .expect("the browser's request");
        if response.status().is_redirection() {
            url = response.headers()[header::LOCATION]
                .to_str()
                .expect("an ASCII location")
                .to_owned();
            continue;
        }
        let status = response.status();
        let page = response
            .into_body()
            .collect()
            .await
            .expect("page")
            .to_bytes();
        return (status, String::from_utf8_lossy(&page).into_owned());
    }
    panic!("too many redirects");
}
