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

use std::{
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, Command},
};

/// How long Node may take to print its `listening` line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `oauth2-mock-server`; killed when dropped.
#[derive(Debug)]
pub struct MockServer {
    child: Child,
    port: u16,
    token_requests: Arc<Mutex<Vec<Value>>>,
}

impl MockServer {
    /// The workspace root, where `node_modules` is installed.
    fn workspace() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("test-support lives in the workspace")
            .to_owned()
    }

    /// The Node script that starts the server.
    pub fn script() -> PathBuf {
        Self::workspace().join("auth-oauth/tests/interop/oauth2-mock-server.mjs")
    }

    /// Starts the server with Node and waits (up to 30 s) until it listens.
    ///
    /// # Panics
    ///
    /// When Node or the npm package is missing, or the server does not start: the message says
    /// what to install, with Node's stderr.
    pub async fn start() -> MockServer {
        let workspace = Self::workspace();
        let help = format!(
            "oauth2-mock-server could not start: install Node.js (^20.19, ^22.12 or ^24) and run \
             `npm ci` in {}",
            workspace.display()
        );
        let mut child = Command::new("node")
            .arg(Self::script())
            .current_dir(&workspace)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{help} (spawning `node`: {e})"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = tokio::time::timeout(START_TIMEOUT, stdout.next_line()).await;
        let port = match first {
            Ok(Ok(Some(line))) => serde_json::from_str::<Value>(&line)
                .ok()
                .filter(|v| v["event"] == "listening")
                .and_then(|v| v["port"].as_u64())
                .and_then(|p| u16::try_from(p).ok()),
            _ => None,
        };
        let Some(port) = port else {
            let _ = child.start_kill();
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), err.read_to_string(&mut stderr))
                        .await;
            }
            panic!("{help}\nnode's stderr:\n{stderr}");
        };
        let token_requests = Arc::new(Mutex::new(Vec::new()));
        let sink = token_requests.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && event["event"] == "token_request"
                {
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(event);
                }
            }
        });
        MockServer {
            child,
            port,
            token_requests,
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The `iss` claim of the tokens it issues: `http://localhost:PORT` (the server names
    /// itself by `localhost` whatever address it listens on).
    pub fn issuer(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// The token requests as the server parsed them, oldest first: each
    /// `{"event":"token_request","form":{…},"basic":{"name":…,"pass":…}|null}`.
    ///
    /// # Panics
    ///
    /// When fewer than `at_least` arrive within 2 seconds.
    pub async fn token_requests(&self, at_least: usize) -> Vec<Value> {
        // Events arrive through a pipe; give the last one a moment.
        for _ in 0..100 {
            let seen = self
                .token_requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if seen.len() >= at_least {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("oauth2-mock-server reported fewer than {at_least} token requests");
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
