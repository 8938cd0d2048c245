//! [`MockServer`]: the third-party OAuth 2.0 server `oauth2-mock-server` (npm), run by Node
//! on 127.0.0.1 for interop tests.
//!
//! The package is pinned in the repository's `package.json` + `package-lock.json` (install with
//! `npm ci` at the workspace root). [`MockServer::start`] runs
//! `auth-oauth/tests/interop/oauth2-mock-server.mjs`, which listens on an ephemeral port,
//! reports every token request it parsed, makes refresh tokens single-use, and exits when its
//! stdin closes. When the server cannot start (no Node, `npm ci` not run), `start` panics with a
//! message saying so: tests using it fail loudly and are never skipped.
//!
//! ```no_run
//! use auth_test_support::oauth2_mock_server::MockServer;
//! # #[tokio::main]
//! # async fn main() {
//! let server = MockServer::start().await;
//! let token_url = server.url("/token");
//! // … request a token from `token_url` …
//! let seen = server.token_requests(1).await;
//! assert_eq!(seen[0]["form"]["grant_type"], "client_credentials");
//! # }
//! ```

use serde_json::Value;

use crate::node::{NodeProcess, workspace};

/// A running `oauth2-mock-server`; killed when dropped.
#[derive(Debug)]
pub struct MockServer {
    node: NodeProcess,
}

impl MockServer {
    /// The Node script that starts the server.
    pub fn script() -> std::path::PathBuf {
        workspace().join("auth-oauth/tests/interop/oauth2-mock-server.mjs")
    }

    /// Starts the server with Node and waits (up to 30 s) until it listens.
    ///
    /// # Panics
    ///
    /// When Node or the npm package is missing, or the server does not start: the message says
    /// what to install, with Node's stderr.
    pub async fn start() -> MockServer {
        let node = NodeProcess::start("oauth2-mock-server", Self::script(), &[]).await;
        MockServer { node }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.node.port()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    /// The `iss` claim of the tokens it issues: `http://localhost:PORT` (the server names
    /// itself by `localhost` whatever address it listens on).
    pub fn issuer(&self) -> String {
        format!("http://localhost:{}", self.port())
    }

    /// The token requests as the server parsed them, oldest first: each
    /// `{"event":"token_request","form":{…},"basic":{"name":…,"pass":…}|null}`.
    ///
    /// # Panics
    ///
    /// When fewer than `at_least` arrive within 2 seconds.
    pub async fn token_requests(&self, at_least: usize) -> Vec<Value> {
        self.node.events("token_request", at_least).await
    }
}
