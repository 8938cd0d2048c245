//! Composing auth layers with tower's `retry` and `timeout` layers around a hyper-util client.
//!
//! The stack, outermost first:
//!
//! ```text
//! timeout (whole call, 10 s) -> retry (503s and transport errors, 3 tries)
//!   -> timeout (per attempt, 2 s) -> TokenLayer (token, one retry on 401) -> hyper-util client
//! ```
//!
//! Auth sits inside the retry so every attempt carries a valid token, and its own 401 handling
//! is separate from tower's retries of server failures. Against the embedded provider's
//! `/api/flaky` (every other call answers 503), each request succeeds on its second attempt.
//!
//! Run it with `cargo run --example composition`.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use auth_test_support::demo::{self, DemoProvider};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower::{
    BoxError, ServiceBuilder, ServiceExt,
    retry::{Policy, RetryLayer},
    timeout::TimeoutLayer,
};
use tower_auth::prelude::*;

/// Retries 502/503/504 and transport errors, up to `attempts_left` more times.
#[derive(Clone)]
struct RetryServerFailures {
    attempts_left: usize,
}

impl<B> Policy<Request<Full<Bytes>>, Response<B>, BoxError> for RetryServerFailures {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        let retryable = match result {
            Ok(response) => matches!(response.status().as_u16(), 502..=504),
            // An AuthError (e.g. invalid_client from the token endpoint) will not heal by retrying.
            Err(error) => !error.is::<AuthError>(),
        };
        if retryable && self.attempts_left > 0 {
            self.attempts_left -= 1;
            Some(std::future::ready(()))
        } else {
            None
        }
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        // Full<Bytes> bodies clone cheaply; streaming bodies would return None (no retry).
        Some(request.clone())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let provider = DemoProvider::start(Duration::from_secs(3600)).await?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let tokens = CachedTokenSource::new(demo::client_credentials_source(
        client.clone(),
        provider.token_url(),
    ));

    let api = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_secs(10)))
        .layer(RetryLayer::new(RetryServerFailures { attempts_left: 2 }))
        .layer(TimeoutLayer::new(Duration::from_secs(2)))
        .layer(TokenLayer::new(tokens))
        .service(client);

    let mut failed = 0;
    for i in 1..=4 {
        let calls_before = provider.api_calls();
        let request = Request::get(provider.url("/api/flaky")).body(Full::default())?;
        let response = api.clone().oneshot(request).await?;
        let attempts = provider.api_calls() - calls_before;
        println!(
            "request {i}: {} after {attempts} attempt(s)",
            response.status()
        );
        if response.status() != StatusCode::OK || attempts != 2 {
            failed += 1;
        }
    }
    println!(
        "{} token fetch for 4 requests and their retries",
        provider.token_fetches()
    );
    if failed > 0 || provider.token_fetches() != 1 {
        std::process::exit(1);
    }
    Ok(())
}
