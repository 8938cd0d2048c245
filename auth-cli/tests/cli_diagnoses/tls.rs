//! TLS diagnoses: untrusted server certificates, extra CA roots, client certificates.

use std::path::Path;

use auth_test_support::{
    pki::{PemFiles, Pki},
    tls::{ClientCerts, TlsApiServer},
};
use serde_json::Value;

use super::{TLS_TOKEN, check_json};
use crate::common::{Run, tower_auth, write_config};

/// A config for `server` with a bearer token from `TLS_TOKEN` and an optional `tls` table.
fn tls_connection(name: &str, server: &TlsApiServer, tls: Option<String>) -> String {
    let tls = tls.map(|t| format!("tls = {t}\n")).unwrap_or_default();
    format!(
        r#"
[connections.{name}]
base_url = "{base}"
check = {{ path = "/whoami" }}
auth = {{ type = "bearer", token = {{ env = "TLS_TOKEN" }} }}
{tls}"#,
        base = server.base_url(),
    )
}

fn tls_table(cert: &Path, key: &Path, ca: &Path) -> String {
    format!(
        r#"{{ cert = "{}", key = {{ file = "{}" }}, ca = "{}" }}"#,
        cert.display(),
        key.display(),
        ca.display()
    )
}

/// How rustls reports a server certificate from an unknown CA.
const UNKNOWN_ISSUER: &str = "invalid peer certificate: UnknownIssuer";

const TLS_HINT: &str = "TLS failed: check the server's certificate is trusted (CA roots), and \
                        the client certificate and key if the server requires one";

/// Asserts `run` is one failed `check` line for `name` at the request stage, ending with
/// `error` (rustls's words), then the TLS hint.
fn assert_tls_failure(run: &Run, name: &str, error: &str) {
    assert_eq!(run.code, 1, "{}", run.all());
    let mut lines = run.stdout.lines();
    let first = lines.next().expect("a result line");
    assert!(
        first.starts_with(&format!("✗ {name}  request: client error (")) && first.ends_with(error),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines.next(),
        Some(format!("  hint: {TLS_HINT}").as_str()),
        "{}",
        run.stdout
    );
    assert_eq!(lines.next(), None, "{}", run.stdout);
}

/// An API on a certificate of `pki` that takes `Bearer TLS_TOKEN`, asking for client
/// certificates as `certs` says.
async fn bearer_server(pki: &Pki, certs: ClientCerts) -> TlsApiServer {
    TlsApiServer::require_header(pki, certs, "authorization", &format!("Bearer {TLS_TOKEN}")).await
}

/// A config with two connections to `server`: `bare` without a `tls` table, `with_tls` with the
/// client certificate, key and CA of `files`.
fn without_and_with_tls(
    files: &PemFiles,
    server: &TlsApiServer,
    bare: &str,
    with_tls: &str,
) -> String {
    let tls = tls_table(&files.client_cert, &files.client_key, &files.ca);
    write_config(
        files.dir(),
        &[
            tls_connection(bare, server, None),
            tls_connection(with_tls, server, Some(tls)),
        ]
        .concat(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_certificate_fails_and_the_ca_makes_it_pass() {
    let pki = Pki::new();
    let files = pki.write_pem_files();
    let server = bearer_server(&pki, ClientCerts::None).await;
    let config = without_and_with_tls(&files, &server, "untrusted", "trusted");
    let envs = [("TLS_TOKEN", TLS_TOKEN)];

    let run = tower_auth(&["-c", &config, "check", "untrusted"], &envs).await;
    assert_tls_failure(&run, "untrusted", UNKNOWN_ISSUER);
    assert_eq!(server.request_count(), 0, "no request got through");
    assert_eq!(server.wait_for_failed_handshakes(1).await, 1);

    let (run, results) = check_json(&config, &["untrusted"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(results[0]["stage"], "request");
    assert_eq!(results[0]["error_kind"], "Transport");
    assert_eq!(results[0]["status"], Value::Null);
    assert_eq!(results[0]["hint"], TLS_HINT);

    let run = tower_auth(&["-c", &config, "check", "trusted"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "✓ trusted  GET /whoami → 200  (bearer token in Authorization)\n"
    );
    assert_eq!(server.request_count(), 1);

    for run in [
        run,
        tower_auth(&["-c", &config, "check"], &envs).await,
        tower_auth(&["-c", &config, "check", "--format", "json"], &envs).await,
    ] {
        assert!(
            !run.all().contains(TLS_TOKEN),
            "token leaked:\n{}",
            run.all()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_requiring_a_client_certificate_passes_only_with_tls_cert_and_key() {
    let pki = Pki::new();
    let files = pki.write_pem_files();
    let server = bearer_server(&pki, ClientCerts::Required).await;
    let config = without_and_with_tls(&files, &server, "no_cert", "mtls");
    let envs = [("TLS_TOKEN", TLS_TOKEN)];

    // Without a `tls` table the CLI neither trusts the server nor presents a certificate.
    let run = tower_auth(&["-c", &config, "check", "no_cert"], &envs).await;
    assert_tls_failure(&run, "no_cert", UNKNOWN_ISSUER);
    let (run, results) = check_json(&config, &["no_cert"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(results[0]["stage"], "request");
    assert_eq!(results[0]["error_kind"], "Transport");
    assert_eq!(results[0]["hint"], TLS_HINT);
    assert_eq!(server.request_count(), 0, "no request got through");

    let run = tower_auth(&["-c", &config, "check", "mtls"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "✓ mtls  GET /whoami → 200  (bearer token in Authorization)\n"
    );
    let (run, results) = check_json(&config, &["mtls"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["status"], 200);

    let run = tower_auth(
        &["-c", &config, "request", "mtls", "GET", "/whoami", "-i"],
        &envs,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.starts_with("HTTP/1.1 200 OK\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("\n\n{\"client_certificate\":true,\"path\":\"/whoami\"}\n"),
        "the server saw the client certificate: {}",
        run.stdout
    );
    assert_eq!(server.request_count(), 3);
    assert!(
        !run.all().contains(TLS_TOKEN),
        "token leaked:\n{}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_the_server_rejects_gets_the_tls_hint() {
    let pki = Pki::new();
    let files = pki.write_pem_files();
    // A client certificate from a CA the server does not know; the server's CA is trusted.
    let stranger = Pki::with_ca_name("some other CA").write_pem_files();
    let server = bearer_server(&pki, ClientCerts::Required).await;
    let config = write_config(
        files.dir(),
        &tls_connection(
            "wrong_cert",
            &server,
            Some(tls_table(
                &stranger.client_cert,
                &stranger.client_key,
                &files.ca,
            )),
        ),
    );
    let envs = [("TLS_TOKEN", TLS_TOKEN)];

    let run = tower_auth(&["-c", &config, "check", "wrong_cert"], &envs).await;
    // The handshake completes on the client's side (TLS 1.3); the server's alert ends the
    // first request.
    assert_tls_failure(&run, "wrong_cert", "received fatal alert: UnknownCA");
    let (run, results) = check_json(&config, &["wrong_cert"], &envs).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(results[0]["stage"], "request");
    assert_eq!(results[0]["error_kind"], "Transport");
    assert_eq!(results[0]["status"], Value::Null);
    assert_eq!(results[0]["hint"], TLS_HINT);

    let run = tower_auth(
        &["-c", &config, "request", "wrong_cert", "GET", "/whoami"],
        &envs,
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: request: "), "{}", run.stderr);
    assert!(
        run.stderr.ends_with(&format!("\nhint: {TLS_HINT}\n")),
        "{}",
        run.stderr
    );
    assert_eq!(server.request_count(), 0, "no request got through");
    // One rejected certificate per run at least (hyper may retry a canceled request once).
    assert!(server.wait_for_failed_handshakes(3).await >= 3);
}

/// `tls = { ca }` alone trusts a private CA without presenting a client certificate;
/// `cert` and `key` go together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_table_with_only_a_ca_passes_and_a_cert_without_key_is_refused() {
    let pki = Pki::new();
    let files = pki.write_pem_files();
    let server = bearer_server(&pki, ClientCerts::None).await;
    let envs = [("TLS_TOKEN", TLS_TOKEN)];
    let config = write_config(
        files.dir(),
        &tls_connection(
            "ca_only",
            &server,
            Some(format!(r#"{{ ca = "{}" }}"#, files.ca.display())),
        ),
    );

    let run = tower_auth(&["-c", &config, "check"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "✓ ca_only  GET /whoami → 200  (bearer token in Authorization)\n"
    );
    assert_eq!(server.request_count(), 1);

    let config = write_config(
        files.dir(),
        &tls_connection(
            "cert_only",
            &server,
            Some(format!(
                r#"{{ cert = "{}", ca = "{}" }}"#,
                files.client_cert.display(),
                files.ca.display()
            )),
        ),
    );
    let run = tower_auth(&["-c", &config, "check"], &envs).await;
    assert_eq!(run.code, 2, "{}", run.all());
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "error: {config}: connections.cert_only.tls.key: missing (cert and key go \
             together)\n\
             hint: fix the configuration values named above\n"
        )
    );
    assert_eq!(server.request_count(), 1);
}
