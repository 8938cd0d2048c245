//! [`RedisServer`]: a real `redis-server` on a free loopback port, with a temporary directory
//! and no persistence, killed on drop. [`stop`](RedisServer::stop) and
//! [`start`](RedisServer::start) simulate an outage on the same port.
//!
//! `redis-server` must be on `PATH` (`scripts/test` installs it); a test that needs it fails
//! loudly when it is missing, it is never skipped.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use tempfile::TempDir;

/// How long a server gets to answer `PING` after starting: 10 seconds.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// A `redis-server` child process; see the [module docs](self).
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    binary: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free loopback port.
    ///
    /// # Panics
    /// When `redis-server` is not on `PATH` or does not answer within 10 seconds.
    pub fn launch() -> Self {
        let binary = find_on_path("redis-server").unwrap_or_else(|| {
            panic!(
                "redis-server is not on PATH: run scripts/test (it installs it) or \
                 `apt-get install redis-server`; the fleet cache tests need a real server"
            )
        });
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            listener.local_addr().expect("local address").port()
        };
        let mut server = RedisServer {
            port,
            dir: tempfile::tempdir().expect("temporary directory"),
            binary,
            child: None,
        };
        server.start();
        server
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port (after [`stop`](Self::stop)); a no-op while it
    /// runs. Data is not kept across a stop.
    pub fn start(&mut self) {
        if self.child.is_some() {
            return;
        }
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP_DEADLINE;
        while !self.ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within {STARTUP_DEADLINE:?}",
                self.port
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL) and waits for it: clients see connection errors.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server answers `PING` now.
    pub fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
