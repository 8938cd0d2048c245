//! Single flight and retry-on-401 against a real token endpoint on 127.0.0.1, counted server-side.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::{CachedTokenSource, TokenLayer, TokenSource};

use auth_test_support::{
    client,
    demo::{self, DemoProvider},
};

async fn provider_with_slow_tokens() -> DemoProvider {
    let provider = DemoProvider::start(Duration::from_secs(3600))
        .await
        .expect("provider starts");
    // Slow enough that every caller arrives while the one fetch is in flight.
    provider.set_token_delay(Duration::from_millis(200));
    provider
}

async fn thousand_concurrent_callers_cause_one_fetch() {
    let provider = provider_with_slow_tokens().await;
    let tokens = CachedTokenSource::new(demo::client_credentials_source(
        client(),
        provider.token_url(),
    ));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token().await })
        })
        .collect();
    let mut first = None;
    for task in tasks {
        let token = task.await.expect("join").expect("token");
        let first = first.get_or_insert_with(|| token.clone());
        assert!(
            token.same_as(first),
            "every caller got the one fetched token"
        );
    }
    assert_eq!(
        provider.token_fetches(),
        1,
        "server-side count of token requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_token_calls_cause_one_fetch_multi_thread() {
    thousand_concurrent_callers_cause_one_fetch().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_concurrent_token_calls_cause_one_fetch_current_thread() {
    thousand_concurrent_callers_cause_one_fetch().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_a_revoked_token_cause_one_refresh() {
    let provider = DemoProvider::start(Duration::from_secs(3600))
        .await
        .expect("provider starts");
    let tokens = CachedTokenSource::new(demo::client_credentials_source(
        client(),
        provider.token_url(),
    ));
    let api = ServiceBuilder::new()
        .layer(TokenLayer::new(tokens))
        .service(client());
    let get = |api: _| {
        let url = provider.url("/api/whoami");
        async move {
            let api: tower_auth::layers::Token<_, _> = api;
            api.oneshot(
                Request::get(url)
                    .body(Full::<Bytes>::default())
                    .expect("request"),
            )
            .await
            .expect("response")
            .status()
        }
    };
    assert_eq!(get(api.clone()).await, StatusCode::OK);
    assert_eq!(provider.token_fetches(), 1);

    provider.revoke_all();
    let tasks: Vec<_> = (0..200).map(|_| tokio::spawn(get(api.clone()))).collect();
    for task in tasks {
        assert_eq!(task.await.expect("join"), StatusCode::OK);
    }
    assert_eq!(
        provider.token_fetches(),
        2,
        "200 concurrent 401s caused exactly one refresh"
    );
}
