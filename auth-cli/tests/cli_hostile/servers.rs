//! The hostile servers of `cli_hostile.rs`, on 127.0.0.1: an API that rejects every request and
//! echoes the credential it received (in its `WWW-Authenticate` challenge, a JSON body, an HTML
//! page of the request headers), and token endpoints that echo the secrets a grant sent (in an
//! `error_description`, an HTML page, a plain-text excerpt).

use axum::{
    Router,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

/// The access token `/token/ok` issues, which the API then echoes back.
pub(crate) const ACCESS_TOKEN: &str = "at-short-xyz";

/// The password in the URLs the discovery documents name.
pub(crate) const URL_PASSWORD: &str = "hunter2secret";

/// Prose before an echoed secret, so that a 200-character cut of the challenge's
/// `error_description` falls inside a 100-character secret (156 characters).
const PAD_200: &str = "The access token you sent has expired. The access token you sent has expired. \
                       The access token you sent has expired. The access token you sent has expired.";

/// Prose before an echoed secret in a plain-text body, so that the 120-character excerpt of it
/// is cut inside a 100-character secret (80 characters).
const PAD_120: &str =
    "Login refused by the vendor gateway. Please check the account and the value sent:";

/// Prose before an echoed secret in an `error_description`, so that the 200-character cut of
/// the description as shown falls inside a 100-character secret (176 characters).
const PAD_DESCRIPTION: &str = "Login refused by the vendor gateway after checking the account. \
                               Login refused by the vendor gateway after checking the account. \
                               The rejected value was:";

/// The servers, started by [`Hostile::start`] and stopped when dropped.
pub(crate) struct Hostile {
    base: String,
    task: JoinHandle<()>,
}

impl Hostile {
    /// Routes:
    /// - `/api/json`, `/api/html`, `/api/padded`: 401 with a challenge whose
    ///   `error_description` echoes the credential (after [`PAD_200`] on `/api/padded`), and a
    ///   JSON body `{"error", "received"}` or an HTML page of the request line and headers;
    /// - `/api/forbidden`: 403 with a challenge echoing the credential in `realm` and `scope`;
    /// - `/token/ok`: issues [`ACCESS_TOKEN`];
    /// - `/token/json`: an RFC 6749 error naming the client secret, the password or the
    ///   refresh token it received, by grant type;
    /// - `/token/html`: a 400 HTML page echoing the password (decoded and as sent), the request
    ///   headers and the form body;
    /// - `/custom/text`, `/custom/json`: a custom login rejecting the JSON body's `password`,
    ///   echoed where the excerpt (120 characters) or the description (200) is cut;
    /// - `/custom/echo`: a custom login answering 400 with the raw JSON body it received;
    /// - discovery for the issuer at the root, whose `token_endpoint` has a password in it
    ///   ([`URL_PASSWORD`]), and for the issuer `/evil`, whose document names another issuer
    ///   with a password in it.
    pub(crate) async fn start() -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let root = json!({
            "issuer": base,
            "token_endpoint": format!("http://user:{URL_PASSWORD}@{addr}/token/ok"),
        });
        let evil = json!({
            "issuer": format!("http://user:{URL_PASSWORD}@{addr}/evil"),
            "token_endpoint": format!("{base}/token/ok"),
        });
        let app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || std::future::ready(axum::Json(root.clone()))),
            )
            .route(
                "/.well-known/oauth-authorization-server/evil",
                get(move || std::future::ready(axum::Json(evil.clone()))),
            )
            .route("/api/json", any(api_json))
            .route("/api/html", any(api_html))
            .route("/api/padded", any(api_padded))
            .route("/api/forbidden", any(api_forbidden))
            .route("/token/ok", post(token_ok))
            .route("/token/json", post(token_json))
            .route("/token/html", post(token_html))
            .route("/custom/text", post(custom_text))
            .route("/custom/json", post(custom_json))
            .route("/custom/echo", post(custom_echo));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Hostile { base, task }
    }

    /// The server's URL with `path` appended (`""` for the bare origin).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every credential the request carried, as the server saw it: the `Authorization` header's
/// credential (for Basic both as sent and decoded), `X-API-Key`, and the `api_key` parameter.
fn received(headers: &HeaderMap, uri: &Uri) -> String {
    let mut seen = Vec::new();
    if let Some(authorization) = text(headers, header::AUTHORIZATION.as_str()) {
        match authorization.split_once(' ') {
            Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                let decoded = STANDARD.decode(encoded).expect("base64 credential");
                let decoded = String::from_utf8(decoded).expect("utf-8 credential");
                seen.push(format!("{encoded} ({decoded})"));
            }
            Some((_, credential)) => seen.push(credential.to_owned()),
            None => seen.push(authorization.to_owned()),
        }
    }
    if let Some(key) = text(headers, "x-api-key") {
        seen.push(key.to_owned());
    }
    let query = form_pairs(uri.query().unwrap_or_default());
    seen.extend(
        query
            .into_iter()
            .filter(|(name, _)| name == "api_key")
            .map(|(_, value)| value),
    );
    seen.join(" and ")
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn challenge(description: &str) -> String {
    format!(r#"Bearer error="invalid_token", error_description="{description}""#)
}

fn unauthorized(description: &str, content_type: &str, body: String) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE.as_str(), challenge(description)),
            (header::CONTENT_TYPE.as_str(), content_type.to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn api_json(headers: HeaderMap, uri: Uri) -> Response {
    let credential = received(&headers, &uri);
    let body = json!({ "error": "invalid_token", "received": credential }).to_string();
    let description = format!("The access token {credential} has expired");
    unauthorized(&description, "application/json", body)
}

async fn api_html(method: Method, headers: HeaderMap, uri: Uri) -> Response {
    let credential = received(&headers, &uri);
    let description = format!("The access token {credential} has expired");
    let page = format!(
        "<html><body><h1>401 Unauthorized</h1><pre>{}</pre></body></html>",
        request_head(&method, &uri, &headers, "")
    );
    unauthorized(&description, "text/html", page)
}

async fn api_padded(headers: HeaderMap, uri: Uri) -> Response {
    let credential = received(&headers, &uri);
    let description = format!("{PAD_200} {credential} is not valid here");
    let body = json!({ "error": "invalid_token", "received": credential }).to_string();
    unauthorized(&description, "application/json", body)
}

async fn api_forbidden(headers: HeaderMap, uri: Uri) -> Response {
    let credential = received(&headers, &uri);
    let challenge = format!(
        r#"Bearer realm="{credential}", error="insufficient_scope", scope="admin {credential}""#
    );
    let body = json!({ "error": "insufficient_scope", "received": credential }).to_string();
    (
        StatusCode::FORBIDDEN,
        [
            (header::WWW_AUTHENTICATE.as_str(), challenge),
            (header::CONTENT_TYPE.as_str(), "application/json".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// The request line and headers, `authorization` first, then `body`: what a careless error page
/// shows.
fn request_head(method: &Method, uri: &Uri, headers: &HeaderMap, body: &str) -> String {
    let mut lines = vec![format!("{method} {uri}")];
    let mut names: Vec<_> = headers.keys().collect();
    names.sort_by_key(|name| *name != header::AUTHORIZATION);
    for name in names {
        for value in headers.get_all(name) {
            lines.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
    }
    if !body.is_empty() {
        lines.push(String::new());
        lines.push(body.to_owned());
    }
    lines.join("\n")
}

async fn token_ok() -> Response {
    let body = json!({ "access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600 });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("percent escape"));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 form value")
}

/// One field of the form, `""` when absent.
fn field(form: &[(String, String)], name: &str) -> String {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The client secret the grant sent: in the body, else in the Basic header (whose parts are
/// form-encoded, RFC 6749 §2.3.1).
fn client_secret(headers: &HeaderMap, form: &[(String, String)]) -> String {
    let in_body = field(form, "client_secret");
    if !in_body.is_empty() {
        return in_body;
    }
    let basic = text(headers, header::AUTHORIZATION.as_str())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|encoded| STANDARD.decode(encoded).expect("base64 credential"))
        .map(|decoded| String::from_utf8(decoded).expect("utf-8 credential"));
    basic
        .and_then(|pair| pair.split_once(':').map(|(_, secret)| form_decode(secret)))
        .unwrap_or_default()
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({ "error": code, "error_description": description });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn token_json(headers: HeaderMap, body: String) -> Response {
    let form = form_pairs(&body);
    match field(&form, "grant_type").as_str() {
        "password" => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            &format!(
                "wrong password {} for user {}",
                field(&form, "password"),
                field(&form, "username")
            ),
        ),
        "refresh_token" => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            &format!(
                "refresh token {} is expired or revoked",
                field(&form, "refresh_token")
            ),
        ),
        _ => {
            let secret = client_secret(&headers, &form);
            let mut response = oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                &format!("client secret {secret} is wrong"),
            );
            // RFC 6749 §5.2: a 401 for invalid_client carries a challenge; this one echoes too.
            let challenge = format!(r#"Basic realm="client secret {secret}""#);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                challenge.parse().expect("a header value"),
            );
            response
        }
    }
}

async fn token_html(method: Method, uri: Uri, headers: HeaderMap, body: String) -> Response {
    let form = form_pairs(&body);
    let password = field(&form, "password");
    // The value as it was sent: still form-encoded.
    let sent = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("password="))
        .unwrap_or_default();
    let intro = if password.is_empty() {
        String::new()
    } else {
        format!("<p>no user with password {password} (sent as {sent})</p>")
    };
    let page = format!(
        "<html><body>{intro}<pre>{}</pre></body></html>",
        request_head(&method, &uri, &headers, &body)
    );
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/html")],
        page,
    )
        .into_response()
}

/// The `password` of a custom login's JSON body.
fn json_password(body: &str) -> String {
    let value: Value = serde_json::from_str(body).expect("json body");
    value["password"].as_str().unwrap_or_default().to_owned()
}

async fn custom_text(body: String) -> Response {
    let text = format!("{PAD_120} {} -- try again later", json_password(&body));
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain")],
        text,
    )
        .into_response()
}

async fn custom_json(body: String) -> Response {
    let description = format!(
        "{PAD_DESCRIPTION} {} (try again later)",
        json_password(&body)
    );
    oauth_error(StatusCode::BAD_REQUEST, "access_denied", &description)
}

/// Like a login page that shows what it was sent: the body as it arrived, JSON escapes and all.
async fn custom_echo(body: String) -> Response {
    let text = format!("rejected {body}");
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain")],
        text,
    )
        .into_response()
}
