//! The embedded provider of the examples: an API and a token endpoint on 127.0.0.1, offline.
//!
//! The API (`GET /api/whoami`) accepts every demo credential and answers with the method it
//! recognised; anything else gets a 401 with an RFC 6750 challenge. The token endpoint
//! (`POST /oauth/token`) runs the client-credentials grant for `demo-client` / `demo-secret`
//! (Basic or body), issuing short-lived tokens it can later revoke, and the JWT bearer grant
//! (RFC 7523) for service accounts registered with [`DemoProvider::register_jwt_key`].

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use auth_core::{AccessToken, AuthError, ErrorKind, FnTokenSource, TokenSource};
use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use serde_json::json;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::token_server::{
    PublicKey,
    jwt::{self, Expect},
};

/// The JWT bearer grant's `grant_type`.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Static bearer token the demo API accepts.
pub const BEARER_TOKEN: &str = "static-demo-token";
/// API key the demo API accepts in the `X-API-Key` header or the `api_key` query parameter.
pub const API_KEY: &str = "demo-api-key+/=";
/// Basic-auth user of the demo API.
pub const BASIC_USER: &str = "zoë";
/// Basic-auth password of the demo API (non-ASCII and a colon on purpose).
pub const BASIC_PASSWORD: &str = "pässwörd:with-colon";
/// OAuth client id of the demo token endpoint.
pub const CLIENT_ID: &str = "demo-client";
/// OAuth client secret of the demo token endpoint.
pub const CLIENT_SECRET: &str = "demo-secret";

#[derive(Default)]
struct Shared {
    token_fetches: AtomicUsize,
    token_lifetime_secs: AtomicU64,
    token_delay_ms: AtomicU64,
    issued: Mutex<HashMap<String, Instant>>,
    api_calls: AtomicUsize,
    flaky_calls: AtomicUsize,
    /// Service accounts: issuer → public key.
    jwt_keys: Mutex<Vec<(String, PublicKey)>>,
    /// What assertions' `aud` may be: the token URL.
    jwt_audiences: Mutex<Vec<String>>,
    jtis: Mutex<HashSet<String>>,
}

/// A running demo provider; stops when dropped.
#[derive(Debug)]
pub struct DemoProvider {
    addr: SocketAddr,
    shared: Arc<SharedHandle>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Wrapper so `Debug` of the provider does not print issued tokens.
struct SharedHandle(Shared);

impl std::fmt::Debug for SharedHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoProviderState").finish_non_exhaustive()
    }
}

impl DemoProvider {
    /// Starts the provider on an ephemeral 127.0.0.1 port, issuing tokens that live
    /// `token_lifetime`.
    pub async fn start(token_lifetime: Duration) -> std::io::Result<DemoProvider> {
        let shared = Arc::new(SharedHandle(Shared::default()));
        shared
            .0
            .token_lifetime_secs
            .store(token_lifetime.as_secs().max(1), Ordering::SeqCst);
        let app = Router::new()
            .route("/api/whoami", get(whoami))
            .route("/api/flaky", get(flaky))
            .route("/oauth/token", post(token))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(DemoProvider {
            addr,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        self.url("/oauth/token")
    }

    /// How many tokens the endpoint has issued.
    pub fn token_fetches(&self) -> usize {
        self.shared.0.token_fetches.load(Ordering::SeqCst)
    }

    /// How many API requests arrived.
    pub fn api_calls(&self) -> usize {
        self.shared.0.api_calls.load(Ordering::SeqCst)
    }

    /// Makes the token endpoint take this long to answer.
    pub fn set_token_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.0.token_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Accepts JWT bearer grant assertions (RFC 7523) from `issuer` signed with `key`, for the
    /// token URL as audience, at most an hour long, each `jti` once. Scopes may come as the
    /// `scope` parameter or claim.
    pub fn register_jwt_key(&self, issuer: &str, key: PublicKey) {
        let state = &self.shared.0;
        lock(&state.jwt_keys).push((issuer.to_owned(), key));
        let mut audiences = lock(&state.jwt_audiences);
        if audiences.is_empty() {
            audiences.push(self.token_url());
        }
    }

    /// Revokes every issued token: the API answers 401 to them from now on.
    pub fn revoke_all(&self) {
        self.shared
            .0
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Drop for DemoProvider {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

type AppState = Arc<SharedHandle>;

/// Like `/api/whoami`, but every other call fails with 503 first, as a flaky upstream would.
async fn flaky(
    state: State<AppState>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
) -> Response {
    let n = state.0.0.flaky_calls.fetch_add(1, Ordering::SeqCst);
    if n.is_multiple_of(2) {
        state.0.0.api_calls.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    whoami(state, headers, query).await
}

async fn whoami(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = &state.0;
    state.api_calls.fetch_add(1, Ordering::SeqCst);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let method = if authorization == format!("Bearer {BEARER_TOKEN}") {
        Some("bearer")
    } else if headers.get("x-api-key").is_some_and(|v| v == API_KEY) {
        Some("api-key header")
    } else if query.get("api_key").is_some_and(|v| v == API_KEY) {
        Some("api-key query")
    } else if authorization == basic_header() {
        Some("basic")
    } else if let Some(token) = authorization.strip_prefix("Bearer ") {
        let issued = state.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
            .then_some("oauth2 token")
    } else {
        None
    };
    match method {
        Some(method) => Json(json!({ "ok": true, "method": method })).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                r#"Bearer realm="demo", error="invalid_token""#,
            )],
            Json(json!({ "ok": false })),
        )
            .into_response(),
    }
}

fn basic_header() -> String {
    use base64_lite::encode;
    format!(
        "Basic {}",
        encode(format!("{BASIC_USER}:{BASIC_PASSWORD}").as_bytes())
    )
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let state = &state.0;
    let delay = state.token_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if form.get("grant_type").map(String::as_str) == Some(JWT_BEARER) {
        return jwt_bearer(state, &form);
    }
    let basic_ok = headers.get(header::AUTHORIZATION).is_some_and(|v| {
        v == format!(
            "Basic {}",
            base64_lite::encode(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes())
        )
        .as_str()
    });
    let body_ok = form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    if !(basic_ok || body_ok) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials",
        );
    }
    issue(state, form.get("scope").cloned().unwrap_or_default())
}

fn issue(state: &Shared, scope: String) -> Response {
    let n = state.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
    let lifetime = state.token_lifetime_secs.load(Ordering::SeqCst);
    let access_token = format!("demo-at-{n}-{:016x}", random_u64());
    state
        .issued
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            access_token.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        );
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    }))
    .into_response()
}

/// The JWT bearer grant: an assertion from a registered issuer, verified with its key.
fn jwt_bearer(state: &Shared, form: &HashMap<String, String>) -> Response {
    let invalid = |why: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why);
    let Some(assertion) = form.get("assertion") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "no assertion");
    };
    let Some(issuer) = jwt::unverified_issuer(assertion) else {
        return invalid("assertion without a readable iss");
    };
    let key = lock(&state.jwt_keys)
        .iter()
        .find(|(i, _)| *i == issuer)
        .map(|(_, key)| key.clone());
    let Some(key) = key else {
        return invalid("unknown issuer");
    };
    let audiences = lock(&state.jwt_audiences).clone();
    let expect = Expect {
        issuer: &issuer,
        subject: None,
        subject_optional: true,
        audiences: &audiences,
        max_lifetime: 3600,
    };
    match jwt::verify(assertion, &key, &expect, &state.jtis) {
        Ok((_, claims)) => {
            let scope = form
                .get("scope")
                .cloned()
                .or_else(|| {
                    claims
                        .get("scope")
                        .and_then(|s| s.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            issue(state, scope)
        }
        Err(why) => invalid(&format!("assertion rejected: {why}")),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// "Your own token logic": a client-credentials request to the demo token endpoint written by
/// hand, as a [`FnTokenSource`]. (The `auth-oauth` crate's `OAuth2Layer` does this, and much
/// more, for you.) Wrap it in a `CachedTokenSource`.
pub fn client_credentials_source(
    client: HttpClient,
    token_url: String,
) -> impl TokenSource + Clone {
    FnTokenSource::new(move || {
        let (client, token_url) = (client.clone(), token_url.clone());
        async move {
            let form = format!(
                "grant_type=client_credentials&client_id={}&client_secret={}",
                CLIENT_ID, CLIENT_SECRET
            );
            let request = http::Request::post(&token_url)
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(Full::from(form))
                .map_err(|e| AuthError::config("token_url", e))?;
            let transport = |e: &dyn std::fmt::Display| {
                AuthError::new(ErrorKind::Transport, format!("calling {token_url}: {e}"))
            };
            let response = client.request(request).await.map_err(|e| transport(&e))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| transport(&e))?;
            let json: serde_json::Value =
                serde_json::from_slice(&body.to_bytes()).map_err(|_| {
                    AuthError::new(
                        ErrorKind::MalformedResponse,
                        "the token response is not JSON",
                    )
                    .with_status(status)
                })?;
            if let Some(code) = json["error"].as_str() {
                return Err(AuthError::from_oauth(
                    code,
                    json["error_description"].as_str(),
                    Some(status),
                ));
            }
            let access_token = json["access_token"].as_str().ok_or_else(|| {
                AuthError::new(
                    ErrorKind::MalformedResponse,
                    "no `access_token` in the response",
                )
            })?;
            let lifetime = json["expires_in"].as_u64().unwrap_or(3600);
            AccessToken::builder(access_token.to_owned())
                .expires_in(Duration::from_secs(lifetime))
                .build()
        }
    })
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response()
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

/// Minimal standard Base64 so the demo provider checks Basic credentials independently of the
/// code under test.
mod base64_lite {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub(super) fn encode(input: &[u8]) -> String {
        let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn matches_rfc_4648_vectors() {
            for (input, expected) in [
                ("", ""),
                ("f", "Zg=="),
                ("fo", "Zm8="),
                ("foo", "Zm9v"),
                ("foob", "Zm9vYg=="),
                ("fooba", "Zm9vYmE="),
                ("foobar", "Zm9vYmFy"),
            ] {
                assert_eq!(super::encode(input.as_bytes()), expected);
            }
        }
    }
}
