//! [`ApiServer`]: an API on 127.0.0.1 that accepts one credential, in one place, and records
//! every request it gets.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Query, Request, State},
    http::{HeaderMap, Method, StatusCode, Uri, header::WWW_AUTHENTICATE},
    response::{IntoResponse, Response},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// The `WWW-Authenticate` challenge sent with every 401.
pub const CHALLENGE: &str = r#"Bearer realm="test", error="invalid_token""#;

/// How long [`ApiServer::shutdown`] waits for open connections before aborting the server.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where and what the credential must be for the server to answer 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// Exactly one header `name` (case-insensitive) whose value is exactly `value`.
    Header {
        /// The header name, e.g. `Authorization`.
        name: String,
        /// The whole header value, e.g. `Bearer abc`.
        value: String,
    },
    /// Exactly one query parameter `name` whose form-decoded value is exactly `value`.
    Query {
        /// The parameter name (decoded), e.g. `api_key`.
        name: String,
        /// The parameter value (decoded).
        value: String,
    },
}

impl Expectation {
    /// The credential must arrive in the header `name` with exactly `value`.
    pub fn header(name: impl Into<String>, value: impl Into<String>) -> Self {
        Expectation::Header {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The credential must arrive in the query parameter `name` with exactly `value` (decoded).
    pub fn query(name: impl Into<String>, value: impl Into<String>) -> Self {
        Expectation::Query {
            name: name.into(),
            value: value.into(),
        }
    }

    fn is_met_by(&self, uri: &Uri, headers: &HeaderMap) -> bool {
        match self {
            Expectation::Header { name, value } => {
                let mut values = headers.get_all(name.as_str()).iter();
                matches!((values.next(), values.next()), (Some(v), None) if v == value.as_str())
            }
            Expectation::Query { name, value } => {
                let pairs = query_pairs(uri);
                let mut ours = pairs.iter().filter(|(n, _)| n == name);
                matches!((ours.next(), ours.next()), (Some((_, v)), None) if v == value)
            }
        }
    }
}

/// The form-decoded query parameters of `uri`, in order; empty when there is no query or it
/// does not parse.
fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default()
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The request method.
    pub method: Method,
    /// The path, still percent-encoded.
    pub path: String,
    /// The raw query string (without `?`), byte for byte; `None` when the URI had no `?`.
    pub query: Option<String>,
    /// Every header, including sensitive ones.
    pub headers: HeaderMap,
}

impl RecordedRequest {
    /// The form-decoded query parameters, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let uri = match &self.query {
            Some(query) => format!("/?{query}"),
            None => "/".to_owned(),
        };
        uri.parse::<Uri>()
            .map(|uri| query_pairs(&uri))
            .unwrap_or_default()
    }

    /// The decoded values of every query parameter named `name`, in order.
    pub fn query_values(&self, name: &str) -> Vec<String> {
        self.query_pairs()
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// The values of every header named `name` (case-insensitive), as text.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }
}

struct Shared {
    expect: Expectation,
    requests: Mutex<Vec<RecordedRequest>>,
    count: AtomicUsize,
    fail_next: AtomicUsize,
}

/// An API on an ephemeral port of 127.0.0.1, for tests that send real HTTP requests.
///
/// Every request is recorded. The answer is 200 with a small JSON body when the credential
/// arrives as the [`Expectation`] says, and otherwise 401 with
/// `WWW-Authenticate: Bearer realm="test", error="invalid_token"` ([`CHALLENGE`]).
/// [`fail_next`](ApiServer::fail_next) forces 401s. The server stops when dropped.
///
/// ```
/// use auth_test_support::{ApiServer, Expectation, client};
/// use http::{Request, StatusCode};
/// # #[tokio::main]
/// # async fn main() {
/// let server = ApiServer::start(Expectation::header("X-Api-Key", "k3y")).await;
/// let request = Request::get(server.url("/v1/items?page=2"))
///     .header("x-api-key", "k3y")
///     .body(Default::default())
///     .expect("valid request");
/// let response = client().request(request).await.expect("server reachable");
/// assert_eq!(response.status(), StatusCode::OK);
///
/// let seen = &server.requests()[0];
/// assert_eq!((seen.path.as_str(), seen.query.as_deref()), ("/v1/items", Some("page=2")));
/// # }
/// ```
pub struct ApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts the server on 127.0.0.1 with an ephemeral port.
    ///
    /// # Panics
    ///
    /// When no port can be bound (this is test support: failing loudly is the point).
    pub async fn start(expect: Expectation) -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port on 127.0.0.1");
        let addr = listener.local_addr().expect("the bound address");
        let shared = Arc::new(Shared {
            expect,
            requests: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            fail_next: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let graceful = async {
                // A dropped sender is a shutdown too.
                let _ = signal.await;
            };
            // Serving only ends on shutdown; an I/O error then has nobody to report to.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(graceful)
                .await;
        });
        ApiServer {
            addr,
            shared,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URI of `path_and_query` (which starts with `/`) on this server.
    ///
    /// # Panics
    ///
    /// When `path_and_query` does not make a valid URI.
    pub fn url(&self, path_and_query: &str) -> Uri {
        format!("{}{path_and_query}", self.base_url())
            .parse()
            .expect("a valid path and query")
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
    }

    /// How many requests the server has received.
    pub fn request_count(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Answers the next `n` requests with 401, whatever credential they carry.
    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Stops accepting connections and waits (up to 5 seconds) for open ones to finish.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .field("expect", &self.shared.expect)
            .field("request_count", &self.request_count())
            .finish_non_exhaustive()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(RecordedRequest {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
        });
    let number = shared.count.fetch_add(1, Ordering::SeqCst) + 1;
    let forced = shared
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if forced || !shared.expect.is_met_by(&parts.uri, &parts.headers) {
        let body = Json(serde_json::json!({ "error": "invalid_token" }));
        return (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, CHALLENGE)],
            body,
        )
            .into_response();
    }
    let body = serde_json::json!({
        "ok": true,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "request": number,
    });
    (StatusCode::OK, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use http::Request;
    use http_body_util::{BodyExt, Full};

    use super::*;
    use crate::client;

    async fn get(server: &ApiServer, path: &str, header: Option<(&str, &str)>) -> StatusCode {
        let mut request = Request::get(server.url(path));
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let request = request.body(Full::default()).expect("valid request");
        let response = client().request(request).await.expect("server reachable");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
        assert_eq!(json["ok"].as_bool() == Some(true), status == StatusCode::OK);
        status
    }

    #[tokio::test]
    async fn header_expectation_needs_exactly_that_header() {
        let server = ApiServer::start(Expectation::header("Authorization", "Bearer t")).await;
        assert_eq!(
            get(&server, "/a", Some(("authorization", "Bearer t"))).await,
            StatusCode::OK
        );
        assert_eq!(
            get(&server, "/a", Some(("authorization", "Bearer x"))).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            get(&server, "/a?authorization=Bearer%20t", None).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(server.request_count(), 3);
        let last = server.last_request().expect("recorded");
        assert_eq!(last.query.as_deref(), Some("authorization=Bearer%20t"));
        assert_eq!(last.query_values("authorization"), ["Bearer t"]);
    }

    #[tokio::test]
    async fn query_expectation_decodes_and_needs_exactly_one_parameter() {
        let server = ApiServer::start(Expectation::query("api_key", "a+b c")).await;
        assert_eq!(
            get(&server, "/a?api_key=a%2Bb%20c", None).await,
            StatusCode::OK
        );
        assert_eq!(
            get(&server, "/a?api_key=a%2Bb%20c&api_key=a%2Bb%20c", None).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            get(&server, "/a", Some(("api_key", "a+b c"))).await,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn fail_next_forces_401s_then_recovers() {
        let server = ApiServer::start(Expectation::header("x-k", "v")).await;
        server.fail_next(2);
        for expected in [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::OK,
        ] {
            assert_eq!(get(&server, "/", Some(("x-k", "v"))).await, expected);
        }
    }

    #[tokio::test]
    async fn a_401_carries_the_bearer_challenge() {
        let server = ApiServer::start(Expectation::header("x-k", "v")).await;
        let request = Request::get(server.url("/"))
            .body(Full::default())
            .expect("valid");
        let response = client().request(request).await.expect("reachable");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], CHALLENGE);
    }

    #[tokio::test]
    async fn shutdown_stops_the_server() {
        let server = ApiServer::start(Expectation::header("x-k", "v")).await;
        let url = server.url("/");
        server.shutdown().await;
        let request = Request::get(url).body(Full::default()).expect("valid");
        assert!(client().request(request).await.is_err());
    }
}
