//! Tokens per user: an axum app calls an API on behalf of its signed-in users, each request
//! with its own user's token, against servers on 127.0.0.1.
#![cfg(feature = "oauth2")]

use std::{collections::HashMap, sync::Arc};

use auth_test_support::token_server::TokenServer;
use axum::{
    Router,
    extract::{Request as AxumRequest, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::{
    AuthError, ErrorKind, MemoryTokenStore, StoredToken, TokenKey, TokenLayer, TokenStore,
    oauth::{TokenEndpoint, TokenParams, grant::per_user},
};

type Client = tower::util::BoxCloneSyncService<
    Request<Full<Bytes>>,
    Response<hyper::body::Incoming>,
    tower::BoxError,
>;

/// The signed-in user of an inbound request, as a session middleware would find it.
#[derive(Clone)]
struct SignedIn(String);

struct App {
    client: Client,
    api: String,
}

/// Reads the session (here: a header naming the user) and puts the user in the extensions.
async fn session(mut request: AxumRequest, next: Next) -> Response {
    let Some(user) = request
        .headers()
        .get("x-session-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    request.extensions_mut().insert(SignedIn(user));
    next.run(request).await
}

/// Calls the API's `/me` on behalf of the signed-in user and answers with the user it named.
async fn handler(
    State(app): State<Arc<App>>,
    axum::Extension(SignedIn(user)): axum::Extension<SignedIn>,
) -> Response {
    let mut outbound = Request::get(&app.api)
        .body(Full::default())
        .expect("request");
    outbound.extensions_mut().insert(TokenKey::new(user));
    match app.client.clone().oneshot(outbound).await {
        Ok(response) if response.status() == StatusCode::OK => {
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let json: Value = serde_json::from_slice(&body).expect("json");
            json["data"]["user"]["id"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
                .into_response()
        }
        Ok(response) => {
            let kind = response
                .extensions()
                .get::<AuthError>()
                .map_or("none", |e| e.kind().as_str());
            (
                StatusCode::BAD_GATEWAY,
                format!("api {}: {kind}", response.status()),
            )
                .into_response()
        }
        Err(error) => {
            let kind = error
                .downcast_ref::<AuthError>()
                .map_or("transport", |e| e.kind().as_str());
            (StatusCode::BAD_GATEWAY, format!("error: {kind}")).into_response()
        }
    }
}

struct Setup {
    tokens: TokenServer,
    app: String,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    _task: tokio::task::JoinHandle<()>,
}

/// A token server that issued each of `users` a (rotating) refresh token, a store holding them
/// under `crm#user:ID`, and the endpoint of the app's client.
async fn signed_in(users: &[&str]) -> (TokenServer, Arc<MemoryTokenStore>, TokenEndpoint) {
    let tokens = TokenServer::builder()
        .client("app", Some("app-secret"))
        .rotate_refresh_tokens(true)
        .expires_in(Some(3600))
        .start()
        .await;
    let store = Arc::new(MemoryTokenStore::new());
    for user in users {
        let refresh = tokens.issue_refresh_token_for(user);
        store
            .save(
                &per_user::user_store_key("crm", user),
                &StoredToken::with_refresh_token(refresh),
            )
            .await
            .expect("seed");
    }
    let endpoint = TokenEndpoint::builder(tokens.token_url(), "app")
        .client_secret("app-secret")
        .build()
        .expect("endpoint");
    (tokens, store, endpoint)
}

async fn setup(users: &[&str]) -> Setup {
    let (tokens, store, endpoint) = signed_in(users).await;
    let keyed = per_user(endpoint, store, "crm", TokenParams::new())
        .max_keys(100)
        .build();
    let client: Client = tower::util::BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(TokenLayer::keyed(keyed))
            .service(auth_test_support::client()),
    );
    let app = Arc::new(App {
        client,
        api: tokens.profile_url(),
    });
    let router = Router::new()
        .route("/whoami", get(handler))
        .layer(middleware::from_fn(session))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    Setup {
        tokens,
        app: format!("http://{addr}/whoami"),
        http: auth_test_support::client(),
        _task: task,
    }
}

async fn whoami(setup: &Setup, user: &str) -> (StatusCode, String) {
    let request = Request::get(&setup.app)
        .header("x-session-user", user)
        .body(Full::<Bytes>::default())
        .expect("request");
    let response = setup
        .http
        .clone()
        .oneshot(request)
        .await
        .expect("app answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_carries_its_own_users_token_under_concurrency() {
    let users = ["alice", "bob", "carol"];
    let setup = Arc::new(setup(&users).await);
    let mut answered: HashMap<&str, usize> = HashMap::new();
    for round in 0..2 {
        if round == 1 {
            // Every access token dies at once: each user's next call gets a 401, invalidates
            // that user's token alone and retries with that user's fresh one.
            setup.tokens.revoke_access_tokens();
        }
        let mut calls = Vec::new();
        for i in 0..500 {
            let setup = setup.clone();
            let user = users[(i * 7 + round) % 3];
            calls.push(tokio::spawn(
                async move { (user, whoami(&setup, user).await) },
            ));
        }
        for call in calls {
            let (user, (status, body)) = call.await.expect("task");
            assert_eq!(status, StatusCode::OK, "{user}: {body}");
            assert_eq!(body, user, "a request of {user} carried {body}'s token");
            *answered.entry(user).or_default() += 1;
        }
    }
    assert_eq!(answered.values().sum::<usize>(), 1_000);
    // One refresh per user at start and one per user after the revocation: 6 in all (the
    // concurrent 401s of one user share one refetch).
    assert_eq!(
        setup.tokens.fetches(),
        6,
        "{:?}",
        setup.tokens.requests().len()
    );
}

#[tokio::test]
async fn one_users_revoked_refresh_token_fails_that_user_alone() {
    let users = ["alice", "bob", "carol"];
    let setup = setup(&users).await;
    for user in users {
        assert_eq!(
            whoami(&setup, user).await,
            (StatusCode::OK, user.to_owned())
        );
    }
    setup.tokens.revoke_refresh_tokens_of("bob");
    setup.tokens.revoke_access_tokens();
    let (status, body) = whoami(&setup, "bob").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body, "error: invalid_grant");
    for user in ["alice", "carol"] {
        assert_eq!(
            whoami(&setup, user).await,
            (StatusCode::OK, user.to_owned())
        );
    }
    // Still bob alone, and still alice and carol, on the next round.
    assert_eq!(whoami(&setup, "bob").await.1, "error: invalid_grant");
    assert_eq!(whoami(&setup, "alice").await.1, "alice");
}

#[tokio::test]
async fn two_resources_of_one_user_get_two_tokens_and_share_the_rotating_refresh_token() {
    let (tokens, store, endpoint) = signed_in(&["alice"]).await;
    let seeded = store
        .load(&per_user::user_store_key("crm", "alice"))
        .await
        .expect("load")
        .and_then(|record| record.refresh_token)
        .expect("seeded");
    let refresh = tower_auth::ExposeSecret::expose_secret(&seeded).to_owned();
    let keyed = per_user(endpoint, store.clone(), "crm", TokenParams::new()).build();
    let calendar = TokenKey::new("alice").resource("https://calendar.example");
    let mail = TokenKey::new("alice").resource("https://mail.example");
    // Concurrently: both spend alice's one refresh token, which rotates; they take turns, so
    // the second spends the rotated one instead of the spent one.
    let (a, b) = tokio::join!(keyed.token(&calendar), keyed.token(&mail));
    let (a, b) = (a.expect("calendar token"), b.expect("mail token"));
    assert!(!a.same_as(&b));
    let mut resources: Vec<String> = tokens
        .requests()
        .iter()
        .map(|r| r.field("resource").unwrap_or("-").to_owned())
        .collect();
    resources.sort();
    assert_eq!(
        resources,
        ["https://calendar.example", "https://mail.example"]
    );
    let presented: Vec<String> = tokens
        .requests()
        .iter()
        .map(|r| r.field("refresh_token").unwrap_or("-").to_owned())
        .collect();
    assert_ne!(
        presented[0], presented[1],
        "a refresh token was spent twice"
    );
    assert!(!tokens.refresh_token_is_valid(&refresh));
    let stored = store
        .load(&per_user::user_store_key("crm", "alice"))
        .await
        .expect("load")
        .expect("record");
    let kept = stored.refresh_token.expect("refresh token");
    assert!(tokens.refresh_token_is_valid(tower_auth::ExposeSecret::expose_secret(&kept)));
    // Cached per key: no further request.
    keyed.token(&calendar).await.expect("cached");
    keyed.token(&mail).await.expect("cached");
    assert_eq!(tokens.fetches(), 2);
}

#[tokio::test]
async fn a_request_without_a_key_is_refused_and_never_sent() {
    let setup = setup(&["alice"]).await;
    let keyed = tower_auth::KeyedTokenSource::builder(|key: &TokenKey| {
        Ok(tower_auth::StaticTokenSource::new(
            tower_auth::AccessToken::bearer(format!("t-{}", key.subject()))?,
        ))
    })
    .build();
    let api = auth_test_support::api_server::ApiServer::start(
        auth_test_support::api_server::Expectation::header("authorization", "Bearer t-alice"),
    )
    .await;
    let client = ServiceBuilder::new()
        .layer(TokenLayer::keyed(keyed))
        .service(auth_test_support::client());
    let request = Request::get(api.url("/x"))
        .body(Full::<Bytes>::default())
        .expect("request");
    let error = client.clone().oneshot(request).await.expect_err("refused");
    let error = error.downcast_ref::<AuthError>().expect("an AuthError");
    assert_eq!(error.kind(), ErrorKind::NoTokenKey);
    assert_eq!(api.request_count(), 0);
    let mut request = Request::get(api.url("/x"))
        .body(Full::<Bytes>::default())
        .expect("request");
    request.extensions_mut().insert(TokenKey::new("alice"));
    let response = client.oneshot(request).await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.request_count(), 1);
    drop(setup);
}
