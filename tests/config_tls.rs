//! `auth.tls` and `client_auth = "tls"` in a configured OAuth 2.0 connection: the token
//! endpoint is reached over HTTPS with a private CA and authenticates the client by its
//! certificate (RFC 8705), against an HTTPS server on 127.0.0.1.
#![cfg(all(feature = "config", feature = "oauth2", feature = "tls"))]

use auth_test_support::{
    pki::{PemFiles, Pki},
    tls::{ClientCerts, TOKEN, TlsApiServer},
};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::config::{Config, ConnectionLayer, ConnectionSpec, Format};

fn connection(server: &TlsApiServer, files: &PemFiles, auth_tls: &str) -> ConnectionSpec {
    let tls = format!(
        r#"{{ cert = "{cert}", key = {{ file = "{key}" }}, ca = "{ca}" }}"#,
        cert = files.client_cert.display(),
        key = files.client_key.display(),
        ca = files.ca.display(),
    );
    let config = Config::from_str(
        &format!(
            r#"
[connections.payments]
base_url = "{base}"
tls = {tls}

[connections.payments.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "payments-batch"
client_auth = "tls"
{auth_tls}
"#,
            base = server.base_url(),
            token_url = server.url("/token"),
            auth_tls = auth_tls.replace("{tls}", &tls),
        ),
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    config.connection("payments", None).expect("connection")
}

/// `GET /whoami` through `layer` (built once per test, so its token cache is shared) over a
/// client built from `spec`'s `tls`; asserts 200 and returns the body.
async fn whoami(spec: &ConnectionSpec, layer: &ConnectionLayer, server: &TlsApiServer) -> Vec<u8> {
    let tls = spec.client_tls().expect("tls").expect("configured");
    let client = ServiceBuilder::new().layer(layer.clone()).service(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build::<_, Full<Bytes>>(tls.https_connector().expect("connector")),
    );
    let request = Request::get(server.url("/whoami"))
        .body(Full::default())
        .expect("request");
    let response = client.oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.expect("body");
    body.to_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_auth_tls_gets_a_token_with_the_certificate_of_auth_tls() {
    let pki = Pki::new();
    let files = pki.write_pem_files();
    let server = TlsApiServer::require_header(
        &pki,
        ClientCerts::Required,
        "authorization",
        &format!("Bearer {TOKEN}"),
    )
    .await;
    let spec = connection(&server, &files, "tls = {tls}");
    let layer = spec.layer().unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..2 {
        assert_eq!(
            whoami(&spec, &layer, &server).await,
            br#"{"client_certificate":true,"path":"/whoami"}"#
        );
    }
    // One token request, then two API requests.
    assert_eq!(server.request_count(), 3);
}

#[test]
fn client_auth_tls_without_a_certificate_in_auth_tls_names_what_is_missing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pki = Pki::new();
    let files = pki.write_pem_files();
    let server = runtime.block_on(TlsApiServer::start(&pki, ClientCerts::Required));
    let error = connection(&server, &files, "")
        .layer()
        .expect_err("no certificate for the token endpoint");
    assert!(
        error
            .to_string()
            .contains("connections.payments.auth.tls: missing (client_auth `tls` authenticates"),
        "{error}"
    );
    let error = connection(
        &server,
        &files,
        r#"tls = { cert = "/nonexistent/c.pem", key = { file = "/nonexistent/k.pem" } }"#,
    )
    .layer()
    .expect_err("unreadable certificate");
    assert!(
        error
            .to_string()
            .contains("connections.payments.auth.tls.cert: cannot read /nonexistent/c.pem"),
        "{error}"
    );
    // A CA alone trusts the server but is no certificate to authenticate with.
    let auth_tls = format!(r#"tls = {{ ca = "{}" }}"#, files.ca.display());
    let error = connection(&server, &files, &auth_tls)
        .layer()
        .expect_err("no certificate for tls client authentication");
    assert!(
        error.to_string().contains(
            "connections.payments.auth.tls.cert: missing (tls client authentication needs a \
             client certificate"
        ),
        "{error}"
    );
    assert_eq!(server.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_table_with_only_a_ca_trusts_a_private_ca_without_a_client_certificate() {
    let pki = Pki::new();
    let files = pki.write_pem_files();
    let server =
        TlsApiServer::require_header(&pki, ClientCerts::None, "authorization", "Bearer api-token")
            .await;
    let config = Config::from_str(
        &format!(
            r#"
[connections.internal]
base_url = "{base}"
tls = {{ ca = "{ca}" }}
auth = {{ type = "bearer", token = "api-token" }}
"#,
            base = server.base_url(),
            ca = files.ca.display(),
        ),
        Format::Toml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let spec = config.connection("internal", None).expect("connection");
    let tls = spec.client_tls().expect("tls").expect("configured");
    assert!(!tls.has_certificate());
    let layer = spec.layer().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        whoami(&spec, &layer, &server).await,
        br#"{"client_certificate":false,"path":"/whoami"}"#
    );
    assert_eq!(server.request_count(), 1);
}
