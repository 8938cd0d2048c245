//! End-to-end tests of the `tower-auth` binary against servers that send too much, too slowly:
//! `request`'s body cap (`--max-body`) and deadline, and the connection's timeout on token
//! fetches in `check` and `token`. Every run is bounded by [`common::tower_auth_within`].

mod common;

use std::{convert::Infallible, time::Duration};

use auth_test_support::demo;
use axum::{Router, body::Body, routing::get};
use bytes::Bytes;
use common::{CANARY, Fixture, tower_auth_within, write_config};
use futures_util::stream;
use tokio::{net::TcpListener, task::JoinHandle};

const MIB: u64 = 1024 * 1024;
/// The lazily generated body: 2 GiB, never stored.
const HUGE: u64 = 2048 * MIB;
const CHUNK: usize = 64 * 1024;
/// How long any run may take before the harness kills it: generous, so only a hang reaches it.
const LIMIT: Duration = Duration::from_secs(60);

/// A body of `len` bytes of `x`, made chunk by chunk as the client reads it.
fn generated(len: u64) -> Body {
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = stream::unfold(len, move |left| {
        let chunk = chunk.clone();
        async move {
            let n = usize::try_from(left.min(CHUNK as u64)).ok()?;
            (n > 0).then(|| (Ok::<_, Infallible>(chunk.slice(..n)), left - n as u64))
        }
    });
    Body::from_stream(chunks)
}

/// One byte per second, for ten minutes: a server that never finishes in a test's lifetime.
fn trickle() -> Body {
    Body::from_stream(stream::unfold(0u32, |sent| async move {
        if sent >= 600 {
            return None;
        }
        if sent > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Some((Ok::<_, Infallible>(Bytes::from_static(b"t")), sent + 1))
    }))
}

/// The API of these tests on 127.0.0.1: `/huge` (2 GiB), `/mib` (1 MiB), `/over-default`
/// (64 MiB and one byte), `/trickle`.
struct BodyServer {
    base_url: String,
    task: JoinHandle<()>,
}

impl BodyServer {
    async fn start() -> BodyServer {
        let app = Router::new()
            .route("/huge", get(|| async { generated(HUGE) }))
            .route("/mib", get(|| async { generated(MIB) }))
            .route("/over-default", get(|| async { generated(64 * MIB + 1) }))
            .route("/trickle", get(|| async { trickle() }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        BodyServer {
            base_url: format!("http://{addr}"),
            task,
        }
    }

    /// A config with the connection `api` (no auth) on this server, timing out after `timeout`.
    fn config(&self, dir: &tempfile::TempDir, timeout: &str) -> String {
        write_config(
            dir.path(),
            &format!(
                r#"
[connections.api]
base_url = "{base}"
timeout = "{timeout}"
auth = {{ type = "none" }}
"#,
                base = self.base_url,
            ),
        )
    }
}

impl Drop for BodyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_gib_body_stops_at_max_body_after_writing_exactly_the_cap() {
    let server = BodyServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = server.config(&dir, "30s");
    let timed = tower_auth_within(
        &[
            "-c",
            &config,
            "request",
            "api",
            "GET",
            "/huge",
            "--max-body",
            "1MiB",
        ],
        &[],
        LIMIT,
    )
    .await;
    let run = &timed.run;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "error: request: the response body exceeded --max-body (1048576 bytes); wrote the \
             first 1048576 bytes"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: raise --max-body"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stdout.len() as u64,
        MIB,
        "exactly the cap, no newline after"
    );
    assert!(run.stdout.bytes().all(|b| b == b'x'));
    assert!(
        timed.elapsed < Duration::from_secs(30),
        "stopped at the cap, not after 2 GiB: {:?}",
        timed.elapsed
    );
    if cfg!(target_os = "linux") {
        let peak = timed.peak_rss_kib.expect("VmHWM sampled");
        assert!(
            peak < 128 * 1024,
            "peak RSS {peak} KiB: the body must not be buffered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_exactly_max_body_is_written_whole() {
    let server = BodyServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = server.config(&dir, "30s");
    let args = ["-c", &config, "request", "api", "GET", "/mib"];
    let timed = tower_auth_within(
        &[&args[..], &["--max-body", "1048576"]].concat(),
        &[],
        LIMIT,
    )
    .await;
    assert_eq!(timed.run.code, 0, "{}", timed.run.stderr);
    assert_eq!(
        timed.run.stdout.len() as u64,
        MIB + 1,
        "the body and a newline"
    );
    assert!(timed.run.stdout.ends_with("x\n"));
    assert_eq!(timed.run.stderr, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_the_cap_is_64_mib() {
    let server = BodyServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = server.config(&dir, "30s");
    let timed = tower_auth_within(
        &["-c", &config, "request", "api", "GET", "/over-default"],
        &[],
        LIMIT,
    )
    .await;
    assert_eq!(timed.run.code, 1, "{}", timed.run.stderr);
    assert!(
        timed.run.stderr.contains(
            "the response body exceeded --max-body (67108864 bytes); wrote the first 67108864 \
             bytes"
        ),
        "{}",
        timed.run.stderr
    );
    assert_eq!(timed.run.stdout.len() as u64, 64 * MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_max_body_is_a_usage_error_naming_the_flag() {
    let server = BodyServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = server.config(&dir, "30s");
    for bad in ["lots", "1.5MiB", "-1", "1TiB"] {
        let flag = format!("--max-body={bad}");
        let timed = tower_auth_within(
            &["-c", &config, "request", "api", "GET", "/mib", &flag],
            &[],
            LIMIT,
        )
        .await;
        assert_eq!(timed.run.code, 2, "{bad}: {}", timed.run.stderr);
        assert!(
            timed
                .run
                .stderr
                .contains(&format!("invalid value '{bad}' for '--max-body <BYTES>'")),
            "{bad}: {}",
            timed.run.stderr
        );
        assert_eq!(timed.run.stdout, "");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_fails_at_the_connection_timeout() {
    let server = BodyServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = server.config(&dir, "2s");
    let timed = tower_auth_within(
        &["-c", &config, "request", "api", "GET", "/trickle", "-i"],
        &[],
        LIMIT,
    )
    .await;
    let run = &timed.run;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(
            "error: request: the response body did not finish within the connection's timeout \
             (2s); wrote"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: the server did not answer in time"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.starts_with("HTTP/1.1 200 OK\n"),
        "{}",
        run.stdout
    );
    let body = run.stdout.rsplit("\n\n").next().unwrap_or_default();
    assert!(
        (1..=3).contains(&body.len()) && body.bytes().all(|b| b == b't'),
        "what arrived in 2 s is written: {body:?}"
    );
    assert!(
        timed.elapsed < Duration::from_secs(15),
        "bounded by the 2 s timeout: {:?}",
        timed.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_token_endpoint_fails_check_and_token_at_the_connection_timeout() {
    let fixture = Fixture::new().await;
    fixture.provider.set_token_delay(Duration::from_secs(120));
    let config = write_config(
        fixture.dir.path(),
        &format!(
            r#"
[connections.billing]
base_url = "{base}"
timeout = "2s"
check = {{ path = "/whoami" }}

[connections.billing.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "{client_id}"
client_secret = {{ env = "DEMO_CLIENT_SECRET" }}
"#,
            base = fixture.provider.url("/api"),
            token_url = fixture.provider.token_url(),
            client_id = demo::CLIENT_ID,
        ),
    );
    // The secret is never checked (the endpoint stalls), and never shown by the failures.
    let envs = [("DEMO_CLIENT_SECRET", CANARY)];
    let bounded = Duration::from_secs(15);

    let timed = tower_auth_within(&["-c", &config, "check"], &envs, LIMIT).await;
    assert_eq!(timed.run.code, 1, "{}", timed.run.all());
    assert!(
        timed
            .run
            .stdout
            .contains("✗ billing  token endpoint: no token within the connection's timeout (2s)"),
        "{}",
        timed.run.stdout
    );
    assert!(timed.elapsed < bounded, "{:?}", timed.elapsed);
    assert!(!timed.run.all().contains(CANARY));

    let timed =
        tower_auth_within(&["-c", &config, "check", "--format", "json"], &envs, LIMIT).await;
    let results: serde_json::Value = serde_json::from_str(&timed.run.stdout).expect("json");
    assert_eq!(results[0]["stage"], "token");
    assert_eq!(results[0]["error_kind"], "Timeout");
    assert!(!timed.run.all().contains(CANARY));

    let timed = tower_auth_within(&["-c", &config, "token", "billing"], &envs, LIMIT).await;
    assert_eq!(timed.run.code, 1, "{}", timed.run.all());
    assert!(
        timed
            .run
            .stderr
            .contains("error: token endpoint: no token within the connection's timeout (2s)"),
        "{}",
        timed.run.stderr
    );
    assert!(timed.elapsed < bounded, "{:?}", timed.elapsed);
    assert!(!timed.run.all().contains(CANARY));

    // `request` fetches the token inside the stack, under the same timeout.
    let timed = tower_auth_within(
        &["-c", &config, "request", "billing", "GET", "/whoami"],
        &envs,
        LIMIT,
    )
    .await;
    assert_eq!(timed.run.code, 1, "{}", timed.run.all());
    assert!(
        timed.run.stderr.contains("connection's timeout"),
        "{}",
        timed.run.stderr
    );
    assert!(timed.elapsed < bounded, "{:?}", timed.elapsed);
    assert!(!timed.run.all().contains(CANARY));
}
