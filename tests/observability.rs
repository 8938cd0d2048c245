//! Metrics (feature `metrics`), tracing spans (feature `tracing`) and `snapshot()` of token
//! caches, against a token server on 127.0.0.1: what is recorded, under which labels, and that
//! no secret is ever among them.
#![cfg(all(
    feature = "metrics",
    feature = "tracing",
    feature = "config",
    feature = "oauth2"
))]

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use auth_test_support::{
    canary::{CANARY, assert_clean},
    metrics::TestRecorder,
    token_server::TokenServer,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_auth::{
    CacheConfig, ErrorKind, OAuth2Layer, TokenSource,
    config::{Config, Format},
    core::cache::{
        FetchTrigger,
        telemetry::{
            TOKEN_EXPIRES_IN, TOKEN_EXPIRY, TOKEN_FETCH_DURATION, TOKEN_FETCHES,
            TOKEN_INVALIDATIONS,
        },
    },
    layers::token::RETRIES,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_failures_and_retries_are_counted_by_connection_and_never_with_a_secret() {
    let metrics = TestRecorder::install();
    auth_test_support::logs::capture();
    let server = TokenServer::builder()
        .client("obs-client", Some(CANARY))
        .expires_in(Some(3600))
        .start()
        .await;
    let config = Config::from_str(
        &format!(
            r#"
[connections.billing]
base_url = "http://127.0.0.1:1"
[connections.billing.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{url}"
client_id = "obs-client"
client_secret = "{CANARY}"

[connections.broken]
base_url = "http://127.0.0.1:1"
[connections.broken.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{url}"
client_id = "obs-client"
client_secret = "not-the-secret"
"#,
            url = server.token_url(),
        ),
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let source = |name: &str| {
        let layer = config
            .connection(name, None)
            .expect("spec")
            .layer()
            .expect("layer");
        layer.token_source().expect("a token connection").clone()
    };

    source("billing").token().await.expect("a token");
    let billing = [("connection", "billing")];
    let success = [
        ("connection", "billing"),
        ("trigger", "on_demand"),
        ("outcome", "success"),
    ];
    assert_eq!(metrics.counter(TOKEN_FETCHES, &success), 1);
    assert_eq!(metrics.histogram(TOKEN_FETCH_DURATION, &billing).len(), 1);
    let expires_in = metrics
        .gauge(TOKEN_EXPIRES_IN, &billing)
        .expect("the expiry gauge is set");
    assert!(expires_in > 3500.0 && expires_in <= 3600.0, "{expires_in}");
    let expiry = metrics.gauge(TOKEN_EXPIRY, &billing).expect("expiry");
    assert!(expiry > 1.7e9, "a Unix time in seconds: {expiry}");
    assert_eq!(
        metrics.unit(TOKEN_FETCH_DURATION),
        Some(Some(metrics::Unit::Seconds))
    );

    let error = source("broken").token().await.expect_err("wrong secret");
    assert_eq!(error.kind(), ErrorKind::InvalidClient);
    let failure = [
        ("connection", "broken"),
        ("outcome", "failure"),
        ("error_kind", "invalid_client"),
    ];
    assert_eq!(metrics.counter(TOKEN_FETCHES, &failure), 1);

    // A 401 invalidates the token and retries once with a fresh one.
    let oauth = OAuth2Layer::client_credentials(server.token_url(), "obs-client", CANARY)
        .cache_config(CacheConfig::default().name("retrying"))
        .build()
        .expect("layer");
    let calls = Arc::new(AtomicUsize::new(0));
    let api = {
        let calls = calls.clone();
        service_fn(move |_: Request<Full<Bytes>>| {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                let status = if first {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::OK
                };
                let mut response = Response::new(());
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        })
    };
    let retries_before = metrics.counter(RETRIES, &[("status", "401")]);
    let response = ServiceBuilder::new()
        .layer(oauth)
        .service(api)
        .oneshot(Request::new(Full::default()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        metrics.counter(TOKEN_INVALIDATIONS, &[("connection", "retrying")]),
        1
    );
    assert_eq!(
        metrics.counter(RETRIES, &[("status", "401")]) - retries_before,
        1
    );
    assert_eq!(
        metrics.counter(
            TOKEN_FETCHES,
            &[("connection", "retrying"), ("outcome", "success")]
        ),
        2,
        "the first token and the one after the 401"
    );

    for label in metrics.all_labels() {
        assert_clean("a metrics label", &label);
    }
    let logs = auth_test_support::logs::captured();
    assert_clean("TRACE logs with spans", &logs);
    assert!(
        logs.contains("token_fetch") && logs.contains("connection=\"billing\""),
        "the fetch span names the connection: {logs}"
    );
    assert!(
        logs.contains("token_request")
            && logs.contains("grant=\"client_credentials\"")
            && logs.contains("outcome=\"invalid_client\""),
        "the request span names the grant and its outcome: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_tells_a_health_endpoint_how_the_cache_is() {
    let server = TokenServer::builder()
        .client("snap-client", Some("snap-secret"))
        .expires_in(Some(600))
        .start()
        .await;
    let good = OAuth2Layer::client_credentials(server.token_url(), "snap-client", "snap-secret")
        .build()
        .expect("layer");
    let before = good.source().snapshot();
    assert_eq!(before.fetches, 0);
    assert!(!before.fresh && before.token_age.is_none() && before.last_trigger.is_none());

    good.source().token().await.expect("token");
    let after = good.source().snapshot();
    assert!(after.fresh);
    assert_eq!((after.fetches, after.failures), (1, 0));
    assert_eq!(after.last_trigger, Some(FetchTrigger::OnDemand));
    assert!(after.token_age.expect("a token") < Duration::from_secs(60));
    let left = after.expires_in.expect("an expiry");
    assert!(left > Duration::from_secs(500) && left <= Duration::from_secs(600));
    good.source().refresh_now().await.expect("forced");
    assert_eq!(
        good.source().snapshot().last_trigger,
        Some(FetchTrigger::Forced)
    );

    let bad = OAuth2Layer::client_credentials(server.token_url(), "snap-client", "wrong")
        .build()
        .expect("layer");
    bad.source().token().await.expect_err("wrong secret");
    let failed = bad.source().snapshot();
    assert_eq!(
        (failed.fetches, failed.failures, failed.consecutive_failures),
        (1, 1, 1)
    );
    assert_eq!(failed.last_error, Some(ErrorKind::InvalidClient));
    assert!(!failed.fresh && !failed.fetching);
    assert!(
        !format!("{failed:?}").contains("wrong"),
        "no secret in a snapshot"
    );
}
