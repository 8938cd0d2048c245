//! [`SoakProvider`]: the API and token endpoint of the `soak` binary, on 127.0.0.1, with
//! counters and random token revocations.
//!
//! The token endpoint (`POST /oauth/token`) runs the client-credentials grant for the demo
//! client ([`demo::CLIENT_ID`] / [`demo::CLIENT_SECRET`], in the form body, as
//! [`demo::client_credentials_source`] sends them) and issues tokens of a fixed, short lifetime.
//! The API (`GET /api/work`) answers 200 to a live token and 401 to anything else. To exercise
//! retry-on-401, it revokes the token of a random request (1 in [`SoakConfig::revoke_one_in`]),
//! as a provider revoking a token would: that request and every later one carrying the token
//! get a 401.
//!
//! Revocations are spaced by at least [`SoakConfig::revocation_cooldown`], for two reasons. A
//! request is retried once, with a fresh token, within milliseconds of its 401; a second
//! revocation hitting that retry would fail the request by design (the layer never retries
//! twice) and say nothing about the layer. And tokens must live long enough between revocations
//! for expiry and proactive refresh to be exercised too, not only invalidation.
//!
//! [`demo::CLIENT_ID`]: auth_test_support::demo::CLIENT_ID
//! [`demo::CLIENT_SECRET`]: auth_test_support::demo::CLIENT_SECRET
//! [`demo::client_credentials_source`]: auth_test_support::demo::client_credentials_source

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Form, Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use auth_test_support::demo::{CLIENT_ID, CLIENT_SECRET};

/// Issued tokens are forgotten this long after they expire, so the table stays small.
const FORGET_AFTER_EXPIRY: Duration = Duration::from_secs(10);

/// How the provider behaves.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Lifetime of issued tokens (`expires_in`, whole seconds, at least 1).
    pub token_lifetime: Duration,
    /// One API request in this many revokes its token (0: never).
    pub revoke_one_in: u64,
    /// Minimum time between two revocations.
    pub revocation_cooldown: Duration,
}

impl Default for SoakConfig {
    /// 2-second tokens, 1 request in 200 revoking its token, revocations at least 3 s apart
    /// (longer than a token's life, so several refreshes happen between two revocations).
    fn default() -> Self {
        Self {
            token_lifetime: Duration::from_secs(2),
            revoke_one_in: 200,
            revocation_cooldown: Duration::from_secs(3),
        }
    }
}

/// What the provider saw so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SoakStats {
    /// API requests received.
    pub api_requests: u64,
    /// API requests answered 200.
    pub accepted: u64,
    /// Tokens revoked by the random injection (each answered its request with a 401).
    pub revocations: u64,
    /// 401s for a token revoked earlier (requests in flight when it was revoked).
    pub rejected_revoked: u64,
    /// 401s for a missing, unknown or expired token: none in a healthy run.
    pub rejected_other: u64,
    /// Tokens issued.
    pub token_fetches: u64,
    /// Tokens issued while the newest token before them was revoked: fetches caused by a
    /// revocation, as opposed to expiry or proactive refresh.
    pub fetches_after_revocation: u64,
}

struct Issued {
    expires_at: Instant,
    revoked: bool,
}

#[derive(Default)]
struct Tokens {
    issued: HashMap<String, Issued>,
    newest: Option<String>,
    last_revocation: Option<Instant>,
}

struct Shared {
    config: SoakConfig,
    random: RandomState,
    tokens: Mutex<Tokens>,
    api_requests: AtomicU64,
    accepted: AtomicU64,
    revocations: AtomicU64,
    rejected_revoked: AtomicU64,
    rejected_other: AtomicU64,
    token_fetches: AtomicU64,
    fetches_after_revocation: AtomicU64,
}

impl Shared {
    fn tokens(&self) -> MutexGuard<'_, Tokens> {
        // Never held across an await; a panic cannot leave the table half-updated.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running soak provider; stops when dropped.
pub struct SoakProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl SoakProvider {
    /// Starts the provider on an ephemeral 127.0.0.1 port.
    pub async fn start(config: SoakConfig) -> std::io::Result<SoakProvider> {
        let shared = Arc::new(Shared {
            config,
            random: RandomState::new(),
            tokens: Mutex::default(),
            api_requests: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            revocations: AtomicU64::new(0),
            rejected_revoked: AtomicU64::new(0),
            rejected_other: AtomicU64::new(0),
            token_fetches: AtomicU64::new(0),
            fetches_after_revocation: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/api/work", get(work))
            .route("/oauth/token", post(token))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Serving only ends on shutdown; an I/O error then has nobody to report to.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SoakProvider {
            addr,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    /// The API's URL, `http://127.0.0.1:PORT/api/work`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/work", self.addr)
    }

    /// The token endpoint's URL, `http://127.0.0.1:PORT/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    /// The configuration in force.
    pub fn config(&self) -> &SoakConfig {
        &self.shared.config
    }

    /// The counters so far.
    pub fn stats(&self) -> SoakStats {
        let s = &self.shared;
        let load = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        SoakStats {
            api_requests: load(&s.api_requests),
            accepted: load(&s.accepted),
            revocations: load(&s.revocations),
            rejected_revoked: load(&s.rejected_revoked),
            rejected_other: load(&s.rejected_other),
            token_fetches: load(&s.token_fetches),
            fetches_after_revocation: load(&s.fetches_after_revocation),
        }
    }
}

impl std::fmt::Debug for SoakProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoakProvider")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for SoakProvider {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

type AppState = Arc<Shared>;

enum Verdict {
    Accepted,
    Revoked,
    AlreadyRevoked,
    Unknown,
}

async fn work(State(shared): State<AppState>, headers: HeaderMap) -> Response {
    let n = shared.api_requests.fetch_add(1, Ordering::Relaxed);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let one_in = shared.config.revoke_one_in;
    let chosen = one_in > 0 && shared.random.hash_one(n) % one_in == 0;
    let verdict = match token {
        None => Verdict::Unknown,
        Some(token) => {
            let now = Instant::now();
            let mut tokens = shared.tokens();
            let cooled = tokens
                .last_revocation
                .is_none_or(|at| now.duration_since(at) >= shared.config.revocation_cooldown);
            match tokens.issued.get_mut(token) {
                Some(issued) if issued.revoked => Verdict::AlreadyRevoked,
                Some(issued) if now >= issued.expires_at => Verdict::Unknown,
                Some(issued) if chosen && cooled => {
                    issued.revoked = true;
                    tokens.last_revocation = Some(now);
                    Verdict::Revoked
                }
                Some(_) => Verdict::Accepted,
                None => Verdict::Unknown,
            }
        }
    };
    let counter = match verdict {
        Verdict::Accepted => {
            shared.accepted.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::OK, "ok").into_response();
        }
        Verdict::Revoked => &shared.revocations,
        Verdict::AlreadyRevoked => &shared.rejected_revoked,
        Verdict::Unknown => &shared.rejected_other,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            r#"Bearer realm="soak", error="invalid_token""#,
        )],
    )
        .into_response()
}

async fn token(
    State(shared): State<AppState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("client_id") != Some(CLIENT_ID) || field("client_secret") != Some(CLIENT_SECRET) {
        let body = json!({ "error": "invalid_client", "error_description": "unknown client" });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    if field("grant_type") != Some("client_credentials") {
        let body = json!({ "error": "unsupported_grant_type" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let lifetime = shared.config.token_lifetime.as_secs().max(1);
    let n = shared.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
    let access_token = format!("soak-{n}-{:016x}", shared.random.hash_one(n));
    let now = Instant::now();
    {
        let mut tokens = shared.tokens();
        let newest_revoked = tokens
            .newest
            .as_ref()
            .and_then(|newest| tokens.issued.get(newest))
            .is_some_and(|issued| issued.revoked);
        if newest_revoked {
            shared
                .fetches_after_revocation
                .fetch_add(1, Ordering::SeqCst);
        }
        tokens
            .issued
            .retain(|_, issued| now < issued.expires_at + FORGET_AFTER_EXPIRY);
        tokens.issued.insert(
            access_token.clone(),
            Issued {
                expires_at: now + Duration::from_secs(lifetime),
                revoked: false,
            },
        );
        tokens.newest = Some(access_token.clone());
    }
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
    }))
    .into_response()
}
