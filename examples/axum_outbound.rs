//! An axum app whose handlers call a third-party API through one shared `OAuth2Layer` client.
//!
//! The authenticated client lives in the app's state: every handler clones it (cheap), and all
//! of them share one token cache, so a burst of incoming requests causes one token fetch.
//! Everything runs on 127.0.0.1: the third-party API and its token endpoint are the embedded
//! demo provider, and the example calls its own app to show the result, then exits.
//!
//! `GET /healthz` reports the token cache's state (`CachedTokenSource::snapshot`: token age and
//! expiry, fetch and failure counts, the latest error kind; never a secret), 503 while the app
//! has no usable token.
//!
//! Run it with `cargo run --example axum_outbound`.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use auth_test_support::demo::{self, DemoProvider};
use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tower::{BoxError, ServiceBuilder, ServiceExt, timeout::Timeout, timeout::TimeoutLayer};
use tower_auth::{OAuth2Layer, layers::Token, oauth::ClientCredentials};

/// The outbound client: timeout → OAuth 2.0 → hyper-util.
type ApiClient = Timeout<
    Token<Client<HttpConnector, Full<Bytes>>, tower_auth::CachedTokenSource<ClientCredentials>>,
>;

#[derive(Clone)]
struct AppState {
    api: ApiClient,
    api_base: String,
    /// The client's token cache (clones share it), for `/healthz`.
    tokens: tower_auth::CachedTokenSource<ClientCredentials>,
}

/// `GET /healthz`: 200 while a usable token is cached (or none was needed yet and nothing
/// failed), 503 otherwise, with the cache's snapshot.
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let snapshot = state.tokens.snapshot();
    let healthy = snapshot.fresh || (snapshot.fetches == 0 && snapshot.last_error.is_none());
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let seconds = |d: Option<Duration>| d.map(|d| d.as_secs());
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "degraded" },
        "token": {
            "fresh": snapshot.fresh,
            "age_seconds": seconds(snapshot.token_age),
            "expires_in_seconds": seconds(snapshot.expires_in),
            "fetches": snapshot.fetches,
            "failures": snapshot.failures,
            "consecutive_failures": snapshot.consecutive_failures,
            "last_error": snapshot.last_error.map(|k| k.as_str()),
            "fetching": snapshot.fetching,
        },
    });
    (status, Json(body))
}

/// `GET /profile`: asks the third-party API who we are and passes the answer on.
async fn profile(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let request = Request::get(format!("{}/api/whoami", state.api_base))
        .body(Full::default())
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let response = state
        .api
        .oneshot(request)
        .await
        .map_err(|error: BoxError| {
            // A token endpoint failure arrives as an AuthError with a hint; never a secret.
            (
                StatusCode::BAD_GATEWAY,
                format!("upstream auth failed: {error}"),
            )
        })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err((
            StatusCode::BAD_GATEWAY,
            format!("upstream answered {status}"),
        ));
    }
    let upstream: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok(Json(serde_json::json!({ "upstream": upstream })))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let provider = DemoProvider::start(Duration::from_secs(3600)).await?;

    let oauth =
        OAuth2Layer::client_credentials(provider.token_url(), demo::CLIENT_ID, demo::CLIENT_SECRET)
            .scopes(["profile"])
            .build()?;
    let tokens = oauth.source().clone();
    let api = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_secs(10)))
        .layer(oauth)
        .service(Client::builder(TokioExecutor::new()).build_http());
    let state = AppState {
        api,
        api_base: provider.url(""),
        tokens,
    };
    let app = Router::new()
        .route("/profile", get(profile))
        .route("/healthz", get(healthz))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("app listening on http://{addr}");

    // Twenty users hit /profile at once.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let request =
                    Request::get(format!("http://{addr}/profile")).body(Full::default())?;
                let response = client.request(request).await?;
                Ok::<_, BoxError>(response.status())
            })
        })
        .collect();
    let mut ok = 0;
    for call in calls {
        if call.await?? == StatusCode::OK {
            ok += 1;
        }
    }
    println!(
        "{ok}/20 requests to /profile succeeded; the token endpoint was called {} time(s)",
        provider.token_fetches()
    );
    let request = Request::get(format!("http://{addr}/healthz")).body(Full::default())?;
    let response = client.request(request).await?;
    let health_status = response.status();
    let health = response.into_body().collect().await?.to_bytes();
    println!(
        "/healthz → {health_status}: {}",
        String::from_utf8_lossy(&health)
    );
    server.abort();
    if ok != 20 || provider.token_fetches() != 1 || health_status != StatusCode::OK {
        std::process::exit(1);
    }
    Ok(())
}
