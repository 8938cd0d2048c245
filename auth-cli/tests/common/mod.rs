//! The harness shared by the CLI's end-to-end tests: run the binary, and a fixture holding the
//! in-process demo provider and a temp dir for configs and secret files.
#![allow(dead_code, unreachable_pub)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use auth_test_support::{demo::DemoProvider, token_server::TokenServer};

// Not every test file uses it.
#[allow(unused_imports)]
pub use auth_test_support::canary::CANARY;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Writes `body` as `tower-auth.toml` in `dir`; returns the path for `-c`.
pub fn write_config(dir: &Path, body: &str) -> String {
    let path = dir.join("tower-auth.toml");
    std::fs::write(&path, body).expect("write config");
    path.display().to_string()
}

/// Runs the binary with `args` and extra environment variables, off the async runtime.
pub async fn tower_auth(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut command = command(args, envs);
    tokio::task::spawn_blocking(move || {
        let output = command.output().expect("the binary runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

fn command(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tower-auth"));
    command
        .args(args)
        .env_remove("TOWER_AUTH_ENV")
        .env_remove("TOWER_AUTH_CONFIG")
        .envs(envs.iter().copied());
    command
}

/// A run of [`tower_auth_within`]: the output, how long it took, and the child's peak memory.
pub struct Timed {
    pub run: Run,
    pub elapsed: Duration,
    /// The child's peak resident set (`VmHWM`, KiB), last sampled while it ran; Linux only.
    pub peak_rss_kib: Option<u64>,
}

/// Runs the binary like [`tower_auth`], but never longer than `limit`: past it the child is
/// killed (and the exit code is -1, which fails any assertion on the code).
pub async fn tower_auth_within(args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Timed {
    use std::{io::Read, process::Stdio, time::Instant};

    let mut command = command(args, envs);
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let status_path = format!("/proc/{}/status", child.id());
        let mut peak_rss_kib = None;
        let status = loop {
            // Sampled before try_wait: once reaped, the child's /proc entry is gone.
            if let Some(kib) = std::fs::read_to_string(&status_path)
                .ok()
                .as_deref()
                .and_then(vm_hwm_kib)
            {
                peak_rss_kib = Some(kib);
            }
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = started.elapsed();
        let stdout = stdout.join().expect("stdout reader");
        let stderr = stderr.join().expect("stderr reader");
        Timed {
            run: Run {
                code: status.and_then(|s| s.code()).unwrap_or(-1),
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            },
            elapsed,
            peak_rss_kib,
        }
    })
    .await
    .expect("join")
}

/// `VmHWM:   12345 kB` of a `/proc/PID/status`.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub struct Fixture {
    pub provider: DemoProvider,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn new() -> Self {
        Self {
            provider: DemoProvider::start(Duration::from_secs(3600))
                .await
                .expect("provider"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes `body` (with `{base}` replaced by the provider's URL) as `name`.
    pub fn config(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, body.replace("{base}", &self.provider.url("/api"))).expect("write");
        path
    }

    pub fn secret_file(&self, name: &str, value: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).expect("write");
        path.display().to_string()
    }
}

/// How long one `login` may take, browser round trip included.
pub const LOGIN_LIMIT: Duration = Duration::from_secs(30);

/// What a `tower-auth login` printed, and how it ended.
pub struct Login {
    /// The authorization URL it printed.
    pub url: String,
    pub code: i32,
    /// Every stdout line after the URL.
    pub stdout: String,
    pub stderr: String,
}

impl Login {
    /// Everything it printed after the URL, stdout then stderr.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `tower-auth -c config login NAME --no-browser [extra…]`, plays the browser on the URL it
/// prints (the token server's authorization endpoint redirects to the CLI's loopback listener),
/// and waits for it to end, all within [`LOGIN_LIMIT`]; the process is killed if the test fails.
pub async fn login(config: &str, name: &str, extra: &[&str]) -> Login {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tower-auth"))
        .args(["-c", config, "login", name, "--no-browser"])
        .args(extra)
        .env_remove("TOWER_AUTH_ENV")
        .env_remove("TOWER_AUTH_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn login");
    let run = async {
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = stdout.next_line().await.expect("read").expect("a line");
        let url = first
            .strip_prefix("Open this URL to sign in: ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        let (status, page) = auth_test_support::browse(url.clone()).await;
        assert_eq!(status, 200, "{page}");
        let mut rest = String::new();
        while let Some(line) = stdout.next_line().await.expect("read") {
            rest.push_str(&line);
            rest.push('\n');
        }
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .await
            .expect("read stderr");
        let status = child.wait().await.expect("wait");
        Login {
            url,
            code: status.code().unwrap_or(-1),
            stdout: rest,
            stderr,
        }
    };
    tokio::time::timeout(LOGIN_LIMIT, run)
        .await
        .expect("login finished in time")
}

/// A free loopback port for a redirect URI.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// An `authorization_code` connection `cal` against `server`, with `extra` lines in its auth
/// table and its refresh token stored under `dir`.
pub fn code_config(dir: &Path, server: &TokenServer, extra: &str) -> String {
    write_config(
        dir,
        &format!(
            r#"
[connections.cal]
base_url = "{api}"

[connections.cal.auth]
type = "oauth2"
grant = "authorization_code"
auth_url = "{auth_url}"
token_url = "{token_url}"
client_id = "cli"
client_auth = "none"
redirect_uri = "http://127.0.0.1:{port}/callback"
token_store = "{store}"
{extra}
"#,
            api = server.api_url(),
            auth_url = server.authorize_url(),
            token_url = server.token_url(),
            port = free_port(),
            store = dir.join("store").join("cal.json").display(),
        ),
    )
}
