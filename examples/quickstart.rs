//! tower-auth in five minutes, offline: every auth method against an embedded provider.
//!
//! Starts an API and a token endpoint on 127.0.0.1 (ephemeral ports), builds hyper-util clients
//! with `ServiceBuilder` (tower's timeout and tower-http's trace layers in the stack), and shows:
//! each static method, a wrong credential surfacing as a typed error with a hint, a short-lived
//! token fetched once for 100 concurrent requests and refreshed, and a 401 healed by one retry.
//! It prints a transcript and exits non-zero if any step fails.
//!
//! Run it with `cargo run --example quickstart` (`QUICKSTART_LOG=1` to see tracing events).
#![allow(clippy::print_stdout)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use auth_test_support::demo::{self, DemoProvider};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, timeout::TimeoutLayer};
use tower_auth::prelude::*;
use tower_http::trace::TraceLayer;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[tokio::main]
async fn main() {
    // `QUICKSTART_LOG=1` shows the library's and tower-http's tracing events too.
    if std::env::var_os("QUICKSTART_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .init();
    }
    let mut transcript = Transcript::default();
    if let Err(error) = run(&mut transcript).await {
        transcript.fail(&format!("the demo stopped early: {error}"));
    }
    transcript.finish();
}

async fn run(t: &mut Transcript) -> Result<(), BoxError> {
    // Two-second tokens so the demo can show expiry and refresh without waiting long.
    let provider = DemoProvider::start(Duration::from_secs(2)).await?;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let whoami = provider.url("/api/whoami");
    println!("embedded provider on {}\n", provider.url(""));

    // Every client is the same stack around a different auth layer:
    //   trace -> timeout -> auth -> hyper-util client
    macro_rules! stack {
        ($auth:expr) => {
            ServiceBuilder::new()
                .layer(TraceLayer::new_for_http())
                .layer(TimeoutLayer::new(Duration::from_secs(10)))
                .layer($auth)
                .service(client.clone())
        };
    }

    t.section("static credentials");
    let (status, _) = get(stack!(NoAuthLayer::new()), &whoami).await?;
    t.check(
        status == StatusCode::UNAUTHORIZED,
        &format!("no auth             -> {status} (expected: the API needs a credential)"),
    );

    let (status, body2) = get(stack!(BearerLayer::new(demo::BEARER_TOKEN)?), &whoami).await?;
    t.check(
        status == StatusCode::OK && body2.contains("bearer"),
        &format!("bearer              -> {status} {body2}"),
    );

    let layer = ApiKeyLayer::header("X-API-Key", demo::API_KEY).build()?;
    let (status, body3) = get(stack!(layer), &whoami).await?;
    t.check(
        status == StatusCode::OK && body3.contains("api-key header"),
        &format!("api key (header)    -> {status} {body3}"),
    );

    // The stale `api_key` already in the URL is replaced, the other parameter kept.
    let layer = ApiKeyLayer::query("api_key", demo::API_KEY).build()?;
    let url = format!("{whoami}?api_key=stale&page=2");
    let (status, body4) = get(stack!(layer), &url).await?;
    t.check(
        status == StatusCode::OK && body4.contains("api-key query"),
        &format!("api key (query)     -> {status} {body4}"),
    );

    let layer = BasicAuthLayer::new(demo::BASIC_USER, demo::BASIC_PASSWORD)?;
    let (status, body5) = get(stack!(layer), &whoami).await?;
    t.check(
        status == StatusCode::OK && body5.contains("basic"),
        &format!("basic (UTF-8, ':')  -> {status} {body5}"),
    );

    t.section("a wrong credential is a typed error with a hint");
    let response = stack!(BearerLayer::new("not-the-token")?)
        .oneshot(Request::get(&whoami).body(Full::default())?)
        .await?;
    match response.extensions().get::<AuthError>() {
        Some(error) => {
            t.check(
                error.kind() == ErrorKind::Unauthorized,
                &format!("{}", response.status()),
            );
            println!("    error: {error}");
        }
        None => t.fail("the 401 carried no AuthError"),
    }

    t.section("tokens from the embedded token endpoint (your own token logic + CachedTokenSource)");
    // `demo::client_credentials_source` is a FnTokenSource doing a client-credentials request by
    // hand: your own token logic gets caching, single flight and refresh from CachedTokenSource.
    let tokens = CachedTokenSource::new(demo::client_credentials_source(
        client.clone(),
        provider.token_url(),
    ));
    let api = stack!(TokenLayer::new(tokens.clone()));
    let before = provider.token_fetches();
    let ok = concurrent_gets(&api, &whoami, 100).await;
    let fetched = provider.token_fetches() - before;
    t.check(
        ok == 100 && fetched == 1,
        &format!("100 concurrent requests -> {ok} x 200, {fetched} token fetch"),
    );

    // The token lives 2 s; past its usable life the next burst causes exactly one more fetch.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = provider.token_fetches();
    let ok = concurrent_gets(&api, &whoami, 100).await;
    let fetched = provider.token_fetches() - before;
    t.check(
        ok == 100 && fetched == 1,
        &format!("after expiry, 100 more -> {ok} x 200, {fetched} token fetch"),
    );

    // Steady traffic: proactive refresh renews the token in the background before it expires.
    let before = provider.token_fetches();
    let mut slowest = Duration::ZERO;
    let mut failures = 0;
    for _ in 0..40 {
        let started = std::time::Instant::now();
        let (status, _) = get(api.clone(), &whoami).await?;
        slowest = slowest.max(started.elapsed());
        failures += usize::from(status != StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fetched = provider.token_fetches() - before;
    t.check(
        failures == 0 && (2..=6).contains(&fetched),
        &format!("4 s of steady traffic -> {failures} failures, {fetched} background refreshes, slowest request {slowest:.1?}"),
    );

    t.section("OAuth 2.0 client credentials with OAuth2Layer");
    // The same endpoint through the auth-oauth crate: client authentication, scopes, response
    // normalization and the cache, configured in one builder.
    let oauth =
        OAuth2Layer::client_credentials(provider.token_url(), demo::CLIENT_ID, demo::CLIENT_SECRET)
            .scopes("read write")
            .build()?;
    let oauth_api = stack!(oauth);
    let before = provider.token_fetches();
    let ok = concurrent_gets(&oauth_api, &whoami, 50).await;
    let fetched = provider.token_fetches() - before;
    t.check(
        ok == 50 && fetched == 1,
        &format!("50 concurrent requests through OAuth2Layer -> {ok} x 200, {fetched} token fetch"),
    );
    let wrong =
        OAuth2Layer::client_credentials(provider.token_url(), demo::CLIENT_ID, "wrong-secret")
            .build()?;
    match get(stack!(wrong), &whoami).await {
        Err(error) => match error.downcast_ref::<AuthError>() {
            Some(error) if error.kind() == ErrorKind::InvalidClient => {
                t.check(true, "a wrong client secret -> typed invalid_client error");
                println!("    error: {error}");
            }
            _ => t.fail(&format!("unexpected error: {error}")),
        },
        Ok((status, _)) => t.fail(&format!("a wrong client secret got {status}")),
    }

    t.section("a revoked token: 401, invalidate, one retry with a fresh token");
    provider.revoke_all();
    let before = (provider.token_fetches(), provider.api_calls());
    let (status, _) = get(api.clone(), &whoami).await?;
    let fetched = provider.token_fetches() - before.0;
    let calls = provider.api_calls() - before.1;
    t.check(
        status == StatusCode::OK && fetched == 1 && calls == 2,
        &format!("revoked -> {status} after {calls} API calls and {fetched} token fetch"),
    );
    Ok(())
}

/// One GET through `service`, returning the status and the body as text.
async fn get<S, B>(service: S, url: &str) -> Result<(StatusCode, String), BoxError>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let response = service
        .oneshot(Request::get(url).body(Full::default())?)
        .await
        .map_err(Into::into)?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(Into::into)?;
    Ok((
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    ))
}

/// Sends `n` GETs at once; returns how many got a 200.
async fn concurrent_gets<S, B>(service: &S, url: &str, n: usize) -> usize
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let ok = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (service, url, ok) = (service.clone(), url.to_owned(), ok.clone());
            tokio::spawn(async move {
                if let Ok((StatusCode::OK, _)) = get(service, &url).await {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    ok.load(Ordering::SeqCst)
}

/// Prints steps as they pass or fail and sets the exit code.
#[derive(Default)]
struct Transcript {
    passed: usize,
    failed: usize,
}

impl Transcript {
    fn section(&self, title: &str) {
        println!("\n== {title}");
    }

    fn check(&mut self, ok: bool, line: &str) {
        if ok {
            self.passed += 1;
            println!("  ok   {line}");
        } else {
            self.fail(line);
        }
    }

    fn fail(&mut self, line: &str) {
        self.failed += 1;
        println!("  FAIL {line}");
    }

    fn finish(self) {
        println!("\n{} passed, {} failed", self.passed, self.failed);
        if self.failed > 0 {
            std::process::exit(1);
        }
    }
}
