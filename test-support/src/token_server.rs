//! [`TokenServer`]: an in-process OAuth 2.0 authorization server on 127.0.0.1 for auth-oauth's
//! tests, with a fetch counter, a delay, fault switches and canned answers.
//!
//! - `POST /token`: client credentials, password, refresh token (rotating by default) and
//!   authorization code with PKCE (S256 and plain), after checking the client's
//!   authentication (Basic with form-urlencoded id and secret, body, or none, as configured).
//!   Every request is recorded as a [`TokenRequest`] so tests can check it exactly.
//! - `GET /authorize`: records the query and redirects (302) to `redirect_uri` with a fresh
//!   `code` and the `state`, like a provider after a successful sign-in. Like Google
//!   (`access_type=offline`) or an OpenID provider (`prompt=consent`), it can be told to issue a
//!   refresh token for the code only when the request asked for one
//!   ([`TokenServerBuilder::refresh_token_requires`]).
//! - `GET /api`: 200 with a valid issued access token, 401 with a Bearer challenge otherwise.
//! - JWT assertions (RFC 7523), checked strictly with the registered public keys (see
//!   [`jwt`]): the JWT bearer grant for the issuers given with
//!   [`TokenServerBuilder::jwt_issuer`], and `private_key_jwt` client authentication with
//!   [`TokenServerBuilder::client_key`]. A replayed `jti` is rejected.
//!
//! ```
//! use auth_test_support::token_server::TokenServer;
//! # #[tokio::main] async fn main() {
//! let server = TokenServer::builder().client("id", Some("secret")).start().await;
//! assert!(server.token_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.fetches(), 0);
//! # }
//! ```

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    http::HeaderMap,
    routing::{get, post},
};
use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};

mod handlers;
pub mod jwt;

use handlers::{api, authorize, token};
pub use jwt::{PublicKey, VerifiedAssertion};

/// Which client-authentication methods the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptAuth {
    /// `client_secret_basic` only.
    Basic,
    /// `client_secret_post` only.
    Body,
    /// Either of the two.
    Any,
    /// Public client: `client_id` in the body, no secret.
    Public,
    /// `private_key_jwt`: a `client_assertion` signed with the key given to
    /// [`TokenServerBuilder::client_key`].
    PrivateKeyJwt,
}

/// A canned or faulty answer for the next token request(s).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, content type and body.
    Respond {
        /// The status code.
        status: u16,
        /// The `Content-Type`, if any.
        content_type: Option<String>,
        /// The body.
        body: String,
    },
    /// Answer 302 with this `Location`.
    Redirect(String),
    /// Answer 200 with a JSON body of this many bytes.
    LargeBody(usize),
    /// Never answer.
    Hang,
}

impl Fault {
    /// A JSON answer with `status`.
    pub fn json(status: u16, body: Value) -> Self {
        Fault::Respond {
            status,
            content_type: Some("application/json".to_owned()),
            body: body.to_string(),
        }
    }

    /// An answer with any content type and body.
    pub fn raw(status: u16, content_type: Option<&str>, body: impl Into<String>) -> Self {
        Fault::Respond {
            status,
            content_type: content_type.map(str::to_owned),
            body: body.into(),
        }
    }
}

/// One token request as received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Every header.
    pub headers: HeaderMap,
    /// The form fields, decoded, in order.
    pub form: Vec<(String, String)>,
    /// The Basic credentials, Base64- and form-decoded, if an `Authorization: Basic` came.
    pub basic: Option<(String, String)>,
}

impl TokenRequest {
    /// The first value of form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of form field `name`, in order.
    pub fn fields(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The form field names, in order.
    pub fn field_names(&self) -> Vec<&str> {
        self.form.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// Configures a [`TokenServer`]; see [`TokenServer::builder`].
#[derive(Debug, Clone)]
pub struct TokenServerBuilder {
    client_id: String,
    client_secret: Option<String>,
    accept: AcceptAuth,
    users: Vec<(String, String)>,
    expires_in: Option<u64>,
    rotate: bool,
    jwt_issuers: Vec<JwtIssuer>,
    client_key: Option<PublicKey>,
    /// Authorization-request parameters a code needs for its exchange to return a refresh token.
    offline_requires: Vec<(String, String)>,
    /// Whether code exchanges return an (unsigned) `id_token` naming the user.
    id_tokens: bool,
    /// Further registered clients (id, secret), e.g. one per tenant.
    other_clients: Vec<(String, String)>,
}

/// An issuer whose JWT bearer assertions the server accepts.
#[derive(Debug, Clone)]
struct JwtIssuer {
    issuer: String,
    key: PublicKey,
    subject: Option<String>,
}

impl TokenServerBuilder {
    /// The one registered client. Defaults to `client-id` / `client-secret`.
    pub fn client(mut self, id: &str, secret: Option<&str>) -> Self {
        self.client_id = id.to_owned();
        self.client_secret = secret.map(str::to_owned);
        if secret.is_none() {
            self.accept = AcceptAuth::Public;
        }
        self
    }

    /// Registers one more confidential client (e.g. one per tenant). Its client-credentials
    /// tokens are owned by its id: [`TokenServer::owner_of`] tells which client a token is for.
    pub fn another_client(mut self, id: &str, secret: &str) -> Self {
        self.other_clients.push((id.to_owned(), secret.to_owned()));
        self
    }

    /// Which client-authentication methods are accepted. Defaults to [`AcceptAuth::Any`].
    pub fn accept(mut self, accept: AcceptAuth) -> Self {
        self.accept = accept;
        self
    }

    /// Adds a user for the password grant.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.to_owned(), password.to_owned()));
        self
    }

    /// The `expires_in` of issued tokens; `None` leaves it out. Defaults to 3600.
    pub fn expires_in(mut self, seconds: Option<u64>) -> Self {
        self.expires_in = seconds;
        self
    }

    /// Whether each refresh issues a new refresh token and revokes the old one. Defaults to
    /// `true`.
    pub fn rotate_refresh_tokens(mut self, rotate: bool) -> Self {
        self.rotate = rotate;
        self
    }

    /// Accepts JWT bearer grant assertions from `issuer` signed with `key`, with any subject
    /// (or none) and `aud` the token URL or the base URL. Client authentication is optional
    /// for this grant: none at all is accepted. Repeatable.
    pub fn jwt_issuer(mut self, issuer: &str, key: PublicKey) -> Self {
        self.jwt_issuers.push(JwtIssuer {
            issuer: issuer.to_owned(),
            key,
            subject: None,
        });
        self
    }

    /// Like [`jwt_issuer`](Self::jwt_issuer), requiring `sub` to be `subject`.
    pub fn jwt_issuer_for(mut self, issuer: &str, subject: &str, key: PublicKey) -> Self {
        self.jwt_issuers.push(JwtIssuer {
            issuer: issuer.to_owned(),
            key,
            subject: Some(subject.to_owned()),
        });
        self
    }

    /// Registers the client's public key and requires `private_key_jwt`
    /// ([`AcceptAuth::PrivateKeyJwt`]): `iss` = `sub` = the client id, `aud` the token URL or
    /// the base URL. Call it after [`client`](Self::client), which resets the accepted method.
    pub fn client_key(mut self, key: PublicKey) -> Self {
        self.client_key = Some(key);
        self.client_secret = None;
        self.accept = AcceptAuth::PrivateKeyJwt;
        self
    }

    /// A code exchange returns a refresh token only when the authorization request carried
    /// `name=value` (repeatable: every one of them), as Google does with
    /// `access_type=offline` and many OpenID providers with `prompt=consent`. Without a call
    /// every code exchange returns one.
    pub fn refresh_token_requires(mut self, name: &str, value: &str) -> Self {
        self.offline_requires
            .push((name.to_owned(), value.to_owned()));
        self
    }

    /// Code exchanges also return an OpenID Connect `id_token` (signed with a throwaway HS256
    /// key nobody checks) whose `sub` is the user and `email` is `USER@example.test`. The user
    /// is the authorization request's `login_hint`, else `user`.
    pub fn id_tokens(mut self, enabled: bool) -> Self {
        self.id_tokens = enabled;
        self
    }

    /// Starts the server on an ephemeral port of 127.0.0.1.
    ///
    /// # Panics
    ///
    /// When no port can be bound.
    pub async fn start(self) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port on 127.0.0.1");
        let addr = listener.local_addr().expect("the bound address");
        let shared = Arc::new(Shared {
            audiences: vec![format!("http://{addr}/token"), format!("http://{addr}")],
            jtis: Mutex::new(HashSet::new()),
            assertions: Mutex::new(Vec::new()),
            client_secret: Mutex::new(self.client_secret.clone()),
            config: self,
            fetches: AtomicUsize::new(0),
            counter: AtomicU64::new(0),
            delay: Mutex::new(Duration::ZERO),
            faults: Mutex::new(VecDeque::new()),
            sticky: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            authorizations: Mutex::new(Vec::new()),
            codes: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashSet::new()),
            access_tokens: Mutex::new(HashSet::new()),
            owners: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/token", post(token))
            .route("/authorize", get(authorize))
            .route("/api", get(api))
            .route("/me", get(handlers::me))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TokenServer { addr, shared, task }
    }
}

/// The running server; see the [module docs](self). Stops when dropped.
#[derive(Debug)]
pub struct TokenServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    config: TokenServerBuilder,
    /// The client secret accepted now (rotated by [`TokenServer::set_client_secret`]).
    client_secret: Mutex<Option<String>>,
    /// What an assertion's `aud` may be: the token URL or the base URL (the issuer).
    audiences: Vec<String>,
    /// Every `jti` accepted so far.
    jtis: Mutex<HashSet<String>>,
    assertions: Mutex<Vec<VerifiedAssertion>>,
    fetches: AtomicUsize,
    counter: AtomicU64,
    delay: Mutex<Duration>,
    faults: Mutex<VecDeque<Fault>>,
    sticky: Mutex<Option<Fault>>,
    requests: Mutex<Vec<TokenRequest>>,
    authorizations: Mutex<Vec<Vec<(String, String)>>>,
    codes: Mutex<HashMap<String, CodeGrant>>,
    refresh_tokens: Mutex<HashSet<String>>,
    access_tokens: Mutex<HashSet<String>>,
    /// The user each access and refresh token was issued to.
    owners: Mutex<HashMap<String, String>>,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    scope: Option<String>,
    /// Whether the authorization request asked for what a refresh token needs.
    offline: bool,
    /// Who signed in: the authorization request's `login_hint`, else `user`.
    user: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TokenServer {
    /// A server with the defaults: client `client-id` / `client-secret`, any secret method,
    /// no users, `expires_in` 3600, rotating refresh tokens.
    pub fn builder() -> TokenServerBuilder {
        TokenServerBuilder {
            client_id: "client-id".to_owned(),
            client_secret: Some("client-secret".to_owned()),
            accept: AcceptAuth::Any,
            users: Vec::new(),
            expires_in: Some(3600),
            rotate: true,
            jwt_issuers: Vec::new(),
            client_key: None,
            offline_requires: Vec::new(),
            id_tokens: false,
            other_clients: Vec::new(),
        }
    }

    /// The user an access or refresh token was issued to (by a sign-in, or a refresh of
    /// one), if any.
    pub fn owner_of(&self, token: &str) -> Option<String> {
        lock(&self.shared.owners).get(token).cloned()
    }

    /// `http://127.0.0.1:<port>/me`: the profile of the access token's user,
    /// `{"data": {"user": {"id": USER, "email": "USER@example.test"}}}`; 401 for an unknown
    /// token.
    pub fn profile_url(&self) -> String {
        format!("{}/me", self.base_url())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// The authorization endpoint's URL.
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.base_url())
    }

    /// The protected API's URL.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base_url())
    }

    /// How many token requests arrived.
    pub fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }

    /// Every token request so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The latest token request.
    ///
    /// # Panics
    ///
    /// When there was none.
    pub fn last_request(&self) -> TokenRequest {
        lock(&self.shared.requests)
            .last()
            .cloned()
            .expect("a token request was received")
    }

    /// Every assertion that passed the checks, oldest first.
    pub fn assertions(&self) -> Vec<VerifiedAssertion> {
        lock(&self.shared.assertions).clone()
    }

    /// The query of every `GET /authorize`, oldest first.
    pub fn authorizations(&self) -> Vec<Vec<(String, String)>> {
        lock(&self.shared.authorizations).clone()
    }

    /// Delays every token answer by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// Accepts `secret` as the client's secret from now on (and no longer the old one), as a
    /// provider does after a secret rotation.
    pub fn set_client_secret(&self, secret: &str) {
        *lock(&self.shared.client_secret) = Some(secret.to_owned());
    }

    /// Answers the next token request with `fault` (queued after earlier ones).
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push_back(fault);
    }

    /// Answers every token request with `fault` until cleared with `None`.
    pub fn set_sticky_fault(&self, fault: Option<Fault>) {
        *lock(&self.shared.sticky) = fault;
    }

    /// Issues a valid refresh token, e.g. to seed a store.
    pub fn issue_refresh_token(&self) -> String {
        let token = format!("rt-{}", self.shared.next());
        lock(&self.shared.refresh_tokens).insert(token.clone());
        token
    }

    /// Issues a valid refresh token owned by `user` (its access tokens answer `/me` with
    /// `user`), as a sign-in would.
    pub fn issue_refresh_token_for(&self, user: &str) -> String {
        let token = self.issue_refresh_token();
        lock(&self.shared.owners).insert(token.clone(), user.to_owned());
        token
    }

    /// Revokes every refresh token of `user` (the user signed out at the provider, or an
    /// administrator revoked the grant): refreshing with one answers `invalid_grant`.
    pub fn revoke_refresh_tokens_of(&self, user: &str) {
        let owners = lock(&self.shared.owners);
        lock(&self.shared.refresh_tokens)
            .retain(|token| owners.get(token).is_none_or(|owner| owner != user));
    }

    /// Whether `refresh_token` is currently valid.
    pub fn refresh_token_is_valid(&self, refresh_token: &str) -> bool {
        lock(&self.shared.refresh_tokens).contains(refresh_token)
    }

    /// Makes every access token issued so far invalid at `/api` and `/me` (as if expired or revoked).
    pub fn revoke_access_tokens(&self) {
        lock(&self.shared.access_tokens).clear();
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
