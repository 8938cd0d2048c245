//! Secrets read from files rotate without rebuilding the client: static credentials (bearer,
//! API key, Basic) and token grants pick up a rewritten file, against servers on 127.0.0.1.
#![cfg(all(feature = "config", feature = "oauth2"))]

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use auth_test_support::token_server::TokenServer;
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    routing::get,
};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::{net::TcpListener, task::JoinHandle};
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::config::{Config, ConnectionLayer, Format};

/// Replaces `path`'s content the way mounted secrets are replaced: a new file renamed over it.
fn rotate(path: &Path, value: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, format!("{value}\n")).expect("write");
    std::fs::rename(&next, path).expect("rename");
}

/// An API that accepts one credential (a header value, or the `key` query parameter) and
/// records every one it was sent.
struct Api {
    url: String,
    accepted: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

type ApiState = (Arc<Mutex<String>>, Arc<Mutex<Vec<String>>>);

async fn check(
    State((accepted, seen)): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
) -> StatusCode {
    let presented = headers
        .get("authorization")
        .or_else(|| headers.get("x-api-key"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            uri.query()
                .and_then(|q| q.strip_prefix("key="))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    seen.lock().expect("lock").push(presented.clone());
    if presented == *accepted.lock().expect("lock") {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

impl Api {
    async fn start(accepted: &str) -> Api {
        let accepted = Arc::new(Mutex::new(accepted.to_owned()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/check", get(check))
            .with_state((accepted.clone(), seen.clone()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Api {
            url,
            accepted,
            seen,
            task,
        }
    }

    fn accept(&self, value: &str) {
        *self.accepted.lock().expect("lock") = value.to_owned();
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn layer(toml: &str) -> ConnectionLayer {
    let config = Config::from_str(toml, Format::Toml).unwrap_or_else(|e| panic!("{e}"));
    config
        .connection("api", None)
        .expect("spec")
        .layer()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn status(layer: &ConnectionLayer, url: &str) -> StatusCode {
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(auth_test_support::client());
    let request = Request::get(url)
        .body(Full::<Bytes>::default())
        .expect("request");
    client.oneshot(request).await.expect("response").status()
}

/// The static methods: the first value works; after a rotation, the 401 makes the layer look
/// at the file at once and retry once with the new value; a 401 with an unchanged file is not
/// retried.
#[tokio::test]
async fn static_credentials_from_files_rotate_on_a_401_with_one_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("secret");
    let basic = |password: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"))
        )
    };
    // Each auth table (its file as `FILE`) and what the API receives for a value.
    type Presented<'a> = &'a dyn Fn(&str) -> String;
    let cases: [(&str, Presented<'_>); 4] = [
        (
            r#"auth = { type = "bearer", token = { file = "FILE" } }"#,
            &|v| format!("Bearer {v}"),
        ),
        (
            r#"auth = { type = "api_key", key_name = "X-Api-Key", key_value = { file = "FILE" } }"#,
            &|v| v.to_owned(),
        ),
        (
            r#"auth = { type = "api_key", key_name = "key", location = "query", key_value = { file = "FILE" } }"#,
            &|v| v.to_owned(),
        ),
        (
            r#"auth = { type = "basic", username = "alice", password = { file = "FILE" } }"#,
            &basic,
        ),
    ];
    for (auth, presented) in cases {
        rotate(&file, "first-value");
        let api = Api::start(&presented("first-value")).await;
        let layer = layer(&format!(
            "[connections.api]\nbase_url = \"{}\"\n{}\n",
            api.url,
            auth.replace("FILE", &file.display().to_string())
        ));
        let url = format!("{}/check", api.url);
        assert_eq!(status(&layer, &url).await, StatusCode::OK, "{auth}");

        rotate(&file, "second-value");
        api.accept(&presented("second-value"));
        assert_eq!(status(&layer, &url).await, StatusCode::OK, "{auth}");
        assert_eq!(
            api.seen(),
            [
                presented("first-value"),
                presented("first-value"),
                presented("second-value")
            ],
            "one 401 with the old value, then one retry with the new one: {auth}"
        );
        assert_eq!(status(&layer, &url).await, StatusCode::OK, "{auth}");
        assert_eq!(api.seen().len(), 4, "the new value is kept: {auth}");

        // The server changes its mind but the file does not: no retry with the same value.
        api.accept("something else");
        assert_eq!(
            status(&layer, &url).await,
            StatusCode::UNAUTHORIZED,
            "{auth}"
        );
        assert_eq!(
            api.seen().len(),
            5,
            "an unchanged file is not retried: {auth}"
        );
    }
}

/// A client secret from a file: after the provider and the file both rotate it, the next
/// token request (here forced by the API's 401) is made by a grant rebuilt with the new secret.
#[tokio::test]
async fn a_rotated_client_secret_file_reaches_the_next_token_request() {
    let server = TokenServer::builder()
        .client("rot-client", Some("secret-one"))
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("client_secret");
    rotate(&file, "secret-one");
    let layer = layer(&format!(
        r#"
[connections.api]
base_url = "{api}"
[connections.api.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "rot-client"
client_secret = {{ file = "{file}" }}
client_auth = "body"
"#,
        api = server.base_url(),
        token_url = server.token_url(),
        file = file.display(),
    ));
    assert_eq!(status(&layer, &server.api_url()).await, StatusCode::OK);
    assert_eq!(server.fetches(), 1);

    server.set_client_secret("secret-two");
    rotate(&file, "secret-two");
    server.revoke_access_tokens();
    assert_eq!(
        status(&layer, &server.api_url()).await,
        StatusCode::OK,
        "the 401 refetches with the rotated secret and the retry passes"
    );
    assert_eq!(server.fetches(), 2);
    assert_eq!(
        server.last_request().field("client_secret"),
        Some("secret-two")
    );
}

/// With `secret_check_interval`, a rewritten file is used by the first request after the
/// interval, without waiting for a 401; zero (a look per request) is refused with its key path.
#[tokio::test]
async fn the_first_request_after_the_interval_sends_the_rotated_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    rotate(&file, "first-value");
    let api = Api::start("Bearer first-value").await;
    let toml = |interval: &str| {
        format!(
            "[connections.api]\nbase_url = \"{}\"\nsecret_check_interval = \"{interval}\"\n\
             auth = {{ type = \"bearer\", token = {{ file = \"{}\" }} }}\n",
            api.url,
            file.display()
        )
    };
    let layer = layer(&toml("200ms"));
    let url = format!("{}/check", api.url);
    assert_eq!(status(&layer, &url).await, StatusCode::OK);
    rotate(&file, "second-value");
    // Both values are accepted, so no 401 forces a look: only the interval can.
    api.accept("Bearer second-value");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(status(&layer, &url).await, StatusCode::OK);
    assert_eq!(
        api.seen(),
        ["Bearer first-value", "Bearer second-value"],
        "the request after the interval carried the new value, with no 401 in between"
    );

    let error = Config::from_str(&toml("0s"), Format::Toml).expect_err("zero is refused");
    assert!(
        error
            .to_string()
            .contains("connections.api.secret_check_interval: expected a duration"),
        "{error}"
    );
}
