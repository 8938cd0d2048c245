//! A Node.js script run as a child process for interop tests: it prints JSON lines on stdout,
//! the first `{"event":"listening","port":N}`, then one per thing it wants the test to see; it
//! exits when its stdin closes. Shared by [`oauth2_mock_server`](crate::oauth2_mock_server) and
//! [`oidc_provider`](crate::oidc_provider).

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

/// A running script; killed when dropped.
#[derive(Debug)]
pub(crate) struct NodeProcess {
    child: Child,
    port: u16,
    events: Arc<Mutex<Vec<Value>>>,
    name: &'static str,
}

/// The workspace root, where `node_modules` is installed.
pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support lives in the workspace")
        .to_owned()
}

impl NodeProcess {
    /// Runs `node SCRIPT ARGS…` in the workspace root and waits (up to 30 s) for its
    /// `listening` line.
    ///
    /// # Panics
    ///
    /// When Node or the npm package is missing, or the script does not start: the message says
    /// what to install, with Node's stderr. Tests using it fail loudly and are never skipped.
    pub(crate) async fn start(name: &'static str, script: PathBuf, args: &[String]) -> NodeProcess {
        let workspace = workspace();
        let help = format!(
            "{name} could not start: install Node.js (^20.19, ^22.12 or ^24) and run `npm ci` \
             in {} (scripts/test does both)",
            workspace.display()
        );
        let mut child = Command::new("node")
            .arg(&script)
            .args(args)
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
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(event);
                }
            }
        });
        NodeProcess {
            child,
            port,
            events,
            name,
        }
    }

    /// The port on 127.0.0.1 the script listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The events named `kind` so far, oldest first.
    pub(crate) fn events_now(&self, kind: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    }

    /// The events named `kind`, oldest first, once at least `at_least` have arrived.
    ///
    /// # Panics
    ///
    /// When fewer than `at_least` arrive within 2 seconds.
    pub(crate) async fn events(&self, kind: &str, at_least: usize) -> Vec<Value> {
        // Events arrive through a pipe; give the last one a moment.
        for _ in 0..100 {
            let seen = self.events_now(kind);
            if seen.len() >= at_least {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{} reported fewer than {at_least} `{kind}` events: {:?}",
            self.name,
            self.events_now(kind)
        );
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
