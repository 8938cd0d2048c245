//! [`RedirectServer`]: a server on 127.0.0.1 that answers every request with a redirect, and
//! records what it got, for tests of what follows a redirect to another origin.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{
    Router,
    extract::{Request, State},
    http::{StatusCode, Uri, header::LOCATION},
    response::{IntoResponse, Response},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::RecordedRequest;

struct Shared {
    location: String,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// Answers every request with `302 Found` and a fixed `Location`, recording each request.
///
/// ```
/// use auth_test_support::{client, redirect::RedirectServer};
/// use http::{Request, StatusCode, header::LOCATION};
/// # #[tokio::main]
/// # async fn main() {
/// let server = RedirectServer::start("http://127.0.0.1:9/elsewhere").await;
/// let request = Request::get(server.url("/start"))
///     .body(Default::default())
///     .expect("valid request");
/// let response = client().request(request).await.expect("server reachable");
/// assert_eq!(response.status(), StatusCode::FOUND);
/// assert_eq!(response.headers()[LOCATION], "http://127.0.0.1:9/elsewhere");
/// assert_eq!(server.requests()[0].path, "/start");
/// # }
/// ```
pub struct RedirectServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RedirectServer {
    /// Starts the server on an ephemeral port of 127.0.0.1, redirecting to `location`.
    ///
    /// # Panics
    ///
    /// When no port can be bound (this is test support: failing loudly is the point).
    pub async fn start(location: impl Into<String>) -> RedirectServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port on 127.0.0.1");
        let addr = listener.local_addr().expect("the bound address");
        let shared = Arc::new(Shared {
            location: location.into(),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Serving only ends on shutdown; an I/O error then has nobody to report to.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = signal.await;
                })
                .await;
        });
        RedirectServer {
            addr,
            shared,
            shutdown: Some(shutdown),
            task,
        }
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
}

impl std::fmt::Debug for RedirectServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectServer")
            .field("addr", &self.addr)
            .field("location", &self.shared.location)
            .finish_non_exhaustive()
    }
}

impl Drop for RedirectServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(RecordedRequest {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
        });
    (StatusCode::FOUND, [(LOCATION, shared.location.clone())]).into_response()
}
