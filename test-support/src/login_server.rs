//! [`LoginServer`]: a login endpoint and an API on 127.0.0.1 for custom token requests. The
//! login endpoint (`/login`, any method) records every request and answers from a script; the
//! API (`/api` and everything under it) accepts only the tokens the login endpoint issued.
//!
//! ```
//! use auth_test_support::{
//!     client,
//!     login_server::{LoginServer, Reply},
//! };
//! use http::{Request, StatusCode};
//! use serde_json::json;
//! # #[tokio::main]
//! # async fn main() {
//! let server = LoginServer::builder()
//!     .api_header("X-Session", "")
//!     .accept_json(json!({ "user": "alice", "password": "s3cr3t" }))
//!     .default_answer(|login| {
//!         Reply::json(StatusCode::OK, json!({ "data": { "token": format!("s-{}", login.number) } }))
//!     })
//!     .start()
//!     .await;
//! let login = Request::post(server.login_url())
//!     .header("content-type", "application/json")
//!     .body(r#"{"user": "alice", "password": "s3cr3t"}"#.into())
//!     .expect("valid request");
//! let response = client().request(login).await.expect("server reachable");
//! assert_eq!(response.status(), StatusCode::OK);
//! let me = Request::get(server.url("/api/me"))
//!     .header("x-session", "s-1")
//!     .body(Default::default())
//!     .expect("valid request");
//! let response = client().request(me).await.expect("server reachable");
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!((server.login_count(), server.api_call_count()), (1, 1));
//! # }
//! ```

use std::{
    collections::{HashMap, HashSet},
    fmt,
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::any,
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

/// Where in a login answer's JSON body the server looks for tokens it then accepts at the API.
const TOKEN_POINTERS: [&str; 2] = ["/access_token", "/data/token"];

/// What the server answers: a status, an optional content type and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The response status.
    pub status: StatusCode,
    /// The `Content-Type` header; none when `None`.
    pub content_type: Option<String>,
    /// The response body.
    pub body: String,
}

impl Reply {
    /// `status` with an empty body and no content type.
    pub fn status(status: StatusCode) -> Self {
        Reply {
            status,
            content_type: None,
            body: String::new(),
        }
    }

    /// `status` with `body` as `application/json`.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Reply::text(status, "application/json", body.to_string())
    }

    /// `status` with `body` as it is, labelled `content_type` (which may lie about it).
    pub fn text(status: StatusCode, content_type: &str, body: impl Into<String>) -> Self {
        Reply {
            status,
            content_type: Some(content_type.to_owned()),
            body: body.into(),
        }
    }

    /// The standard success answer: `{"access_token": token, "expires_in": 3600}`.
    pub fn token(token: impl Into<String>) -> Self {
        Reply::json(
            StatusCode::OK,
            json!({ "access_token": token.into(), "expires_in": 3600 }),
        )
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        if let Some(value) = self
            .content_type
            .and_then(|ct| HeaderValue::from_str(&ct).ok())
        {
            response.headers_mut().insert(CONTENT_TYPE, value);
        }
        response
    }
}

/// One login request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedLogin {
    /// Which login this was, counting from 1.
    pub number: usize,
    /// The request method.
    pub method: Method,
    /// The request URI (path and query).
    pub uri: Uri,
    /// Every header, including sensitive ones.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
}

impl RecordedLogin {
    /// Whether the request's `Content-Type` is `application/json` (parameters allowed).
    pub fn is_json(&self) -> bool {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
    }

    /// The body parsed as JSON; `Value::Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Where the API expects the token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenPlace {
    /// In header `name` (lower-case), after `prefix` and a space (just the token if empty).
    Header { name: String, prefix: String },
    /// In the query parameter `name` (decoded).
    Query(String),
}

type LoginFn<T> = Box<dyn Fn(&RecordedLogin) -> T + Send + Sync>;
type ApiFn = Box<dyn Fn(&str) -> Reply + Send + Sync>;

/// Configures a [`LoginServer`]; from [`LoginServer::builder`].
pub struct LoginServerBuilder {
    place: TokenPlace,
    accept: LoginFn<bool>,
    rejection: LoginFn<Reply>,
    scripted: HashMap<usize, Reply>,
    default_answer: LoginFn<Reply>,
    api_reply: ApiFn,
}

impl fmt::Debug for LoginServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut scripted: Vec<_> = self.scripted.keys().collect();
        scripted.sort();
        f.debug_struct("LoginServerBuilder")
            .field("place", &self.place)
            .field("scripted_logins", &scripted)
            .finish_non_exhaustive()
    }
}

impl LoginServerBuilder {
    /// The API reads the token from header `name`, as `{prefix} {token}`, or just the token
    /// when `prefix` is empty. Defaults to `Authorization` with `Bearer`.
    pub fn api_header(mut self, name: &str, prefix: &str) -> Self {
        self.place = TokenPlace::Header {
            name: name.to_ascii_lowercase(),
            prefix: prefix.to_owned(),
        };
        self
    }

    /// The API reads the bare token from the query parameter `name` instead of a header.
    pub fn api_query(mut self, name: &str) -> Self {
        self.place = TokenPlace::Query(name.to_owned());
        self
    }

    /// Only logins for which `accept` is true get the scripted answer; the others get the
    /// rejection. Defaults to accepting every login.
    pub fn accept(
        mut self,
        accept: impl Fn(&RecordedLogin) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.accept = Box::new(accept);
        self
    }

    /// Only logins sent as `application/json` whose body equals `credentials` are accepted
    /// (see [`Self::accept`]).
    pub fn accept_json(self, credentials: Value) -> Self {
        self.accept(move |login| login.is_json() && login.json() == credentials)
    }

    /// What a login that is not accepted gets. Defaults to 401 `{"error": "invalid_client"}`.
    pub fn rejection(
        mut self,
        rejection: impl Fn(&RecordedLogin) -> Reply + Send + Sync + 'static,
    ) -> Self {
        self.rejection = Box::new(rejection);
        self
    }

    /// Accepted login number `number` (counting every login from 1) gets `reply`.
    pub fn answer(mut self, number: usize, reply: Reply) -> Self {
        self.scripted.insert(number, reply);
        self
    }

    /// What accepted logins without a scripted [`answer`](Self::answer) get. Defaults to
    /// [`Reply::token`] with `tok-{number}`.
    pub fn default_answer(
        mut self,
        answer: impl Fn(&RecordedLogin) -> Reply + Send + Sync + 'static,
    ) -> Self {
        self.default_answer = Box::new(answer);
        self
    }

    /// What the API answers, given the request path, to a call that carries a valid token.
    /// Defaults to 200 with an empty body. Calls without one always get 401.
    pub fn api_reply(mut self, reply: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
        self.api_reply = Box::new(reply);
        self
    }

    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start(self) -> LoginServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            config: self,
            logins: Mutex::new(Vec::new()),
            valid: Mutex::new(HashSet::new()),
            api_calls: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/login", any(login))
            .route("/api", any(api))
            .route("/api/{*rest}", any(api))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        LoginServer { addr, shared, task }
    }
}

struct Shared {
    config: LoginServerBuilder,
    logins: Mutex<Vec<RecordedLogin>>,
    /// Tokens the API accepts.
    valid: Mutex<HashSet<String>>,
    api_calls: AtomicUsize,
}

/// A login endpoint (`/login`) and an API (`/api`, `/api/…`) on 127.0.0.1; stops when dropped.
///
/// Every token found in a login answer's JSON body (at `access_token` or `data.token`),
/// whatever its status, becomes valid at the API until [`revoke_tokens`](Self::revoke_tokens).
pub struct LoginServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for LoginServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginServer")
            .field("addr", &self.addr)
            .field("place", &self.shared.config.place)
            .field("login_count", &self.login_count())
            .field("api_call_count", &self.api_call_count())
            .finish_non_exhaustive()
    }
}

impl Drop for LoginServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LoginServer {
    /// A server with every default: `Authorization: Bearer` at the API, every login accepted
    /// and answered with `tok-{number}` valid for an hour.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A builder to choose the API's token placement, the accepted credentials and the answers.
    pub fn builder() -> LoginServerBuilder {
        LoginServerBuilder {
            place: TokenPlace::Header {
                name: "authorization".to_owned(),
                prefix: "Bearer".to_owned(),
            },
            accept: Box::new(|_| true),
            rejection: Box::new(|_| {
                Reply::json(
                    StatusCode::UNAUTHORIZED,
                    json!({ "error": "invalid_client" }),
                )
            }),
            scripted: HashMap::new(),
            default_answer: Box::new(|login| Reply::token(format!("tok-{}", login.number))),
            api_reply: Box::new(|_| Reply::status(StatusCode::OK)),
        }
    }

    /// `http://127.0.0.1:{port}`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The login endpoint's URL.
    pub fn login_url(&self) -> String {
        self.url("/login")
    }

    /// The API's URL (`…/api`); paths under it are served too.
    pub fn api_url(&self) -> String {
        self.url("/api")
    }

    /// Every login request so far, in order.
    pub fn logins(&self) -> Vec<RecordedLogin> {
        lock(&self.shared.logins).clone()
    }

    /// How many login requests arrived, accepted or not.
    pub fn login_count(&self) -> usize {
        lock(&self.shared.logins).len()
    }

    /// How many API calls arrived, authorized or not.
    pub fn api_call_count(&self) -> usize {
        self.shared.api_calls.load(Ordering::SeqCst)
    }

    /// Makes every token issued so far invalid at the API, as if the sessions expired.
    pub fn revoke_tokens(&self) {
        lock(&self.shared.valid).clear();
    }
}

async fn login(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let login = {
        let mut logins = lock(&shared.logins);
        let login = RecordedLogin {
            number: logins.len() + 1,
            method,
            uri,
            headers,
            body,
        };
        logins.push(login.clone());
        login
    };
    let config = &shared.config;
    let reply = if !(config.accept)(&login) {
        (config.rejection)(&login)
    } else if let Some(reply) = config.scripted.get(&login.number) {
        reply.clone()
    } else {
        (config.default_answer)(&login)
    };
    if let Ok(value) = serde_json::from_str::<Value>(&reply.body) {
        let tokens = TOKEN_POINTERS
            .iter()
            .filter_map(|pointer| value.pointer(pointer)?.as_str());
        lock(&shared.valid).extend(tokens.map(str::to_owned));
    }
    reply
}

async fn api(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Reply {
    shared.api_calls.fetch_add(1, Ordering::SeqCst);
    let token = match &shared.config.place {
        TokenPlace::Header { name, prefix } => headers
            .get(name.as_str())
            .and_then(|value| value.to_str().ok())
            .and_then(|value| match prefix.as_str() {
                "" => Some(value),
                prefix => value.strip_prefix(prefix)?.strip_prefix(' '),
            })
            .map(str::to_owned),
        TokenPlace::Query(name) => {
            form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .find(|(n, _)| n == name)
                .map(|(_, value)| value.into_owned())
        }
    };
    match token {
        Some(token) if lock(&shared.valid).contains(&token) => {
            (shared.config.api_reply)(uri.path())
        }
        _ => Reply::json(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "invalid_token" }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client;
    use http::Request;

    async fn send(request: Request<String>) -> StatusCode {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.into());
        client()
            .request(request)
            .await
            .expect("server reachable")
            .status()
    }

    fn login(server: &LoginServer, body: &str) -> Request<String> {
        Request::post(server.login_url())
            .header("content-type", "application/json")
            .body(body.to_owned())
            .expect("valid request")
    }

    #[tokio::test]
    async fn scripted_answers_rejections_and_revocation() {
        let server = LoginServer::builder()
            .accept(|login| login.json()["user"] == "alice")
            .answer(2, Reply::status(StatusCode::BAD_GATEWAY))
            .api_reply(|path| match path {
                "/api/admin" => Reply::status(StatusCode::FORBIDDEN),
                _ => Reply::status(StatusCode::OK),
            })
            .start()
            .await;
        assert_eq!(send(login(&server, r#"{"user":"bob"}"#)).await, 401);
        assert_eq!(send(login(&server, r#"{"user":"alice"}"#)).await, 502);
        assert_eq!(send(login(&server, r#"{"user":"alice"}"#)).await, 200);
        let call = |path: &str, token: &str| {
            Request::get(server.url(path))
                .header("authorization", format!("Bearer {token}"))
                .body(String::new())
                .expect("valid request")
        };
        assert_eq!(send(call("/api", "tok-3")).await, 200);
        assert_eq!(send(call("/api/admin", "tok-3")).await, 403);
        assert_eq!(send(call("/api", "tok-1")).await, 401, "never issued");
        server.revoke_tokens();
        assert_eq!(send(call("/api", "tok-3")).await, 401);
        let numbers: Vec<_> = server.logins().iter().map(|l| l.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(server.api_call_count(), 4);
    }

    #[tokio::test]
    async fn query_placement_reads_the_decoded_parameter() {
        let server = LoginServer::builder()
            .api_query("api token")
            .default_answer(|_| Reply::token("a b"))
            .start()
            .await;
        assert_eq!(send(login(&server, "{}")).await, 200);
        let call = |query: &str| {
            Request::get(format!("{}?{query}", server.api_url()))
                .header("authorization", "Bearer a b")
                .body(String::new())
                .expect("valid request")
        };
        assert_eq!(send(call("api+token=a%20b")).await, 200);
        assert_eq!(send(call("other=a+b")).await, 401);
    }
}
