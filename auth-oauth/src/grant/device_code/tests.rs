//! The polling rules with tokio's paused clock, against an in-process axum authorization server.
//!
//! The server is an axum `Router` served as the token endpoint's Tower service, without a
//! socket: tokio's paused clock jumps to the next timer whenever the runtime waits, so a real
//! socket would see the 30-second request timeout fire while loopback I/O was in flight. The
//! router still parses every request like a server (form bodies, headers).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use auth_core::{ErrorKind, MemoryTokenStore, TokenSource, TokenStore};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::post,
};
use tokio::time::Instant;

use super::*;
use crate::{ClientAuth, TokenHttpClient};

const DEVICE_CODE: &str = "dc-canary-4f1d9a7e2b6c";

/// A request's form fields, in order.
type Form = Vec<(String, String)>;

/// What the server answers and what it saw.
#[derive(Default)]
struct Script {
    /// The device authorization answer: status and body.
    device: Mutex<Option<(u16, String)>>,
    /// Token answers in order; `authorization_pending` once they run out.
    answers: Mutex<VecDeque<(u16, String)>>,
    /// Each token request: when, its form and its `Authorization` header.
    polls: Mutex<Vec<(Instant, Form)>>,
    /// Each device authorization request: its form and its `Authorization` header.
    device_requests: Mutex<Vec<(Form, Option<String>)>>,
}

fn form(body: &str) -> Form {
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn device(
    State(script): State<Arc<Script>>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    script
        .device_requests
        .lock()
        .expect("ok")
        .push((form(&body), auth));
    let (status, body) = script.device.lock().expect("ok").clone().expect("ok");
    (
        StatusCode::from_u16(status).expect("ok"),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
}

async fn token(State(script): State<Arc<Script>>, body: String) -> impl IntoResponse {
    script
        .polls
        .lock()
        .expect("ok")
        .push((Instant::now(), form(&body)));
    let (status, body) = script
        .answers
        .lock()
        .expect("ok")
        .pop_front()
        .unwrap_or_else(pending);
    (
        StatusCode::from_u16(status).expect("ok"),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
}

fn pending() -> (u16, String) {
    oauth_error("authorization_pending")
}

fn oauth_error(code: &str) -> (u16, String) {
    (400, format!(r#"{{"error":"{code}"}}"#))
}

fn success() -> (u16, String) {
    (
        200,
        r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#
            .to_owned(),
    )
}

fn device_answer(extra: &str) -> (u16, String) {
    (
        200,
        format!(
            r#"{{"device_code":"{DEVICE_CODE}","user_code":"WDJB-MJHT",
                "verification_uri":"https://example.com/device"{extra}}}"#
        ),
    )
}

struct Fixture {
    script: Arc<Script>,
    store: Arc<MemoryTokenStore>,
    grant: DeviceCode,
}

fn fixture(device: (u16, String), answers: Vec<(u16, String)>) -> Fixture {
    fixture_with(device, answers, |e| e)
}

fn fixture_with(
    device_answer: (u16, String),
    answers: Vec<(u16, String)>,
    endpoint: impl FnOnce(crate::TokenEndpointBuilder) -> crate::TokenEndpointBuilder,
) -> Fixture {
    let script = Arc::new(Script::default());
    *script.device.lock().expect("ok") = Some(device_answer);
    *script.answers.lock().expect("ok") = answers.into();
    let router = Router::new()
        .route("/device", post(device))
        .route("/token", post(token))
        .with_state(script.clone());
    let builder = TokenEndpoint::builder("http://127.0.0.1/token", "cli")
        .http_client(TokenHttpClient::from_service(router));
    let endpoint = endpoint(builder).build().expect("ok");
    let store = Arc::new(MemoryTokenStore::new());
    let grant = DeviceCode::builder(endpoint, "http://127.0.0.1/device")
        .params(TokenParams::new().scopes("openid offline_access"))
        .store(store.clone(), "cli/alice")
        .build()
        .expect("ok");
    Fixture {
        script,
        store,
        grant,
    }
}

impl Fixture {
    /// The instants of the polls, as offsets from `start`.
    fn poll_offsets(&self, start: Instant) -> Vec<Duration> {
        self.script
            .polls
            .lock()
            .expect("ok")
            .iter()
            .map(|(at, _)| *at - start)
            .collect()
    }
}

fn secs(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|s| Duration::from_secs(*s)).collect()
}

fn assert_no_device_code(error: &AuthError) {
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(DEVICE_CODE), "{shown}");
}

#[tokio::test(start_paused = true)]
async fn pending_then_success_polls_every_five_seconds_and_stores_the_refresh_token() {
    let f = fixture(device_answer(""), vec![pending(), pending(), success()]);
    let start = Instant::now();
    let mut shown = None;
    let token = f
        .grant
        .login(|p| shown = Some(p.clone()), Duration::from_secs(600))
        .await
        .expect("ok");
    // No `interval` in the answer: 5 s (RFC 8628 §3.2).
    assert_eq!(f.poll_offsets(start), secs(&[5, 10, 15]));
    assert_eq!(token.secret().expose_secret(), "at-1");
    let prompt = shown.expect("ok");
    assert_eq!(prompt.user_code(), "WDJB-MJHT");
    assert_eq!(
        prompt.verification_uri().as_str(),
        "https://example.com/device"
    );
    assert_eq!(prompt.verification_uri_complete(), None);
    assert_eq!(prompt.interval(), DEFAULT_INTERVAL);
    // The device request: the scope and, for a public client, the client id.
    let (device_form, auth) = f.script.device_requests.lock().expect("ok")[0].clone();
    assert_eq!(field(&device_form, "scope"), Some("openid offline_access"));
    assert_eq!(field(&device_form, "client_id"), Some("cli"));
    assert_eq!(auth, None);
    // Every poll: the grant type, the device code, the client id.
    for (_, poll) in f.script.polls.lock().expect("ok").iter() {
        assert_eq!(field(poll, "grant_type"), Some(DEVICE_CODE_GRANT_TYPE));
        assert_eq!(field(poll, "device_code"), Some(DEVICE_CODE));
        assert_eq!(field(poll, "client_id"), Some("cli"));
    }
    let stored = f.store.load("cli/alice").await.expect("ok").expect("ok");
    assert_eq!(stored.refresh_token.expect("ok").expose_secret(), "rt-1");
    // The signed-in token is handed out once; then the grant refreshes with the stored token.
    assert_eq!(
        f.grant.token().await.expect("ok").secret().expose_secret(),
        "at-1"
    );
    f.script.answers.lock().expect("ok").push_back(success());
    f.grant.token().await.expect("ok");
    let polls = f.script.polls.lock().expect("ok");
    let refresh = &polls.last().expect("ok").1;
    assert_eq!(field(refresh, "grant_type"), Some("refresh_token"));
    assert_eq!(field(refresh, "refresh_token"), Some("rt-1"));
}

#[tokio::test(start_paused = true)]
async fn slow_down_adds_five_seconds_to_this_and_every_later_poll() {
    let answers = vec![
        pending(),
        oauth_error("slow_down"),
        pending(),
        oauth_error("slow_down"),
        pending(),
        success(),
    ];
    let f = fixture(device_answer(r#","interval":2"#), answers);
    let start = Instant::now();
    f.grant
        .login(|_| {}, Duration::from_secs(600))
        .await
        .expect("ok");
    // 2 s, then 7 s after the first slow_down, then 12 s after the second.
    assert_eq!(f.poll_offsets(start), secs(&[2, 4, 11, 18, 30, 42]));
}

#[tokio::test(start_paused = true)]
async fn access_denied_and_expired_token_end_with_their_own_kinds() {
    for (code, kind) in [
        ("access_denied", ErrorKind::AccessDenied),
        ("expired_token", ErrorKind::ExpiredToken),
    ] {
        let f = fixture(device_answer(""), vec![pending(), oauth_error(code)]);
        let start = Instant::now();
        let error = f
            .grant
            .login(|_| {}, Duration::from_secs(600))
            .await
            .expect_err("an error");
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(error.provider().expect("ok").code, code);
        assert!(error.to_string().contains(code), "{error}");
        assert_no_device_code(&error);
        // No poll after the refusal, and nothing stored.
        assert_eq!(f.poll_offsets(start), secs(&[5, 10]));
        assert!(f.store.load("cli/alice").await.expect("ok").is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn the_callers_timeout_stops_polling_before_the_deadline() {
    let f = fixture(device_answer(r#","expires_in":1800"#), vec![]);
    let start = Instant::now();
    let error = f
        .grant
        .login(|_| {}, Duration::from_secs(12))
        .await
        .expect_err("an error");
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(error.to_string().contains("timeout"), "{error}");
    assert_no_device_code(&error);
    // Polls at 5 and 10; the one at 15 would be after the deadline, so none is sent and the
    // error comes at once.
    assert_eq!(f.poll_offsets(start), secs(&[5, 10]));
    assert_eq!(start.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn the_servers_expires_in_stops_polling_when_it_comes_first() {
    let f = fixture(
        device_answer(r#","expires_in":"16","interval":"4""#),
        vec![],
    );
    let start = Instant::now();
    let error = f
        .grant
        .login(|_| {}, Duration::from_secs(600))
        .await
        .expect_err("an error");
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(error.to_string().contains("expires_in"), "{error}");
    assert_eq!(f.poll_offsets(start), secs(&[4, 8, 12, 16]));
}

#[tokio::test(start_paused = true)]
async fn verification_url_and_the_complete_uri_are_read() {
    let body = format!(
        r#"{{"device_code":"{DEVICE_CODE}","user_code":"ABCD-EFGH",
            "verification_url":"https://www.google.com/device","expires_in":1800,"interval":5}}"#
    );
    let f = fixture((200, body), vec![]);
    let authorization = f.grant.authorize().await.expect("ok");
    let prompt = authorization.prompt();
    assert_eq!(
        prompt.verification_uri().as_str(),
        "https://www.google.com/device"
    );
    assert_eq!(prompt.expires_in(), Some(Duration::from_secs(1800)));
    assert!(!format!("{authorization:?}").contains(DEVICE_CODE));

    let f = fixture(
        device_answer(
            r#","verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT""#,
        ),
        vec![],
    );
    let authorization = f.grant.authorize().await.expect("ok");
    assert_eq!(
        authorization
            .prompt()
            .verification_uri_complete()
            .map(Url::as_str),
        Some("https://example.com/device?user_code=WDJB-MJHT")
    );
}

#[tokio::test(start_paused = true)]
async fn a_confidential_client_authenticates_the_device_request_like_token_requests() {
    let f = fixture_with(device_answer(""), vec![success()], |e| {
        e.client_secret("s3cr3t").client_auth(ClientAuth::Basic)
    });
    f.grant
        .login(|_| {}, Duration::from_secs(60))
        .await
        .expect("ok");
    let (device_form, auth) = f.script.device_requests.lock().expect("ok")[0].clone();
    assert!(auth.expect("ok").starts_with("Basic "));
    assert_eq!(field(&device_form, "client_secret"), None);

    let f = fixture_with(device_answer(""), vec![success()], |e| {
        e.client_secret("s3cr3t").client_auth(ClientAuth::Body)
    });
    f.grant
        .login(|_| {}, Duration::from_secs(60))
        .await
        .expect("ok");
    let (device_form, auth) = f.script.device_requests.lock().expect("ok")[0].clone();
    assert_eq!(auth, None);
    assert_eq!(field(&device_form, "client_secret"), Some("s3cr3t"));
    let polls = f.script.polls.lock().expect("ok");
    assert_eq!(field(&polls[0].1, "client_secret"), Some("s3cr3t"));
}

#[tokio::test(start_paused = true)]
async fn bad_device_authorization_responses_are_typed_errors_without_the_device_code() {
    let cases: Vec<((u16, String), ErrorKind, &str)> = vec![
        (
            (
                200,
                format!(r#"{{"device_code":"{DEVICE_CODE}","verification_uri":"https://e.x/d"}}"#),
            ),
            ErrorKind::MalformedResponse,
            "no `user_code`",
        ),
        (
            (
                200,
                format!(r#"{{"device_code":"{DEVICE_CODE}","user_code":"AB"}}"#),
            ),
            ErrorKind::MalformedResponse,
            "no `verification_uri`",
        ),
        (
            (200, format!("<html>device_code={DEVICE_CODE}</html>")),
            ErrorKind::MalformedResponse,
            "not a JSON object",
        ),
        (
            (
                200,
                format!(
                    r#"{{"device_code":"{DEVICE_CODE}","user_code":"A\u001b[2JB","verification_uri":"https://e.x/d"}}"#
                ),
            ),
            ErrorKind::MalformedResponse,
            "`user_code` contains control characters",
        ),
        (
            (
                200,
                format!(
                    r#"{{"device_code":"{DEVICE_CODE}","user_code":"AB","verification_uri":"javascript:alert(1)"}}"#
                ),
            ),
            ErrorKind::MalformedResponse,
            "`verification_uri` is not an http(s) URL",
        ),
        (
            (
                200,
                format!(
                    r#"{{"device_code":"{DEVICE_CODE}","user_code":"AB","verification_uri":"https://e.x/d","interval":"soon"}}"#
                ),
            ),
            ErrorKind::MalformedResponse,
            "`interval` is not a number",
        ),
        (
            (
                401,
                format!(
                    r#"{{"error":"invalid_client","error_description":"not for {DEVICE_CODE}",
                        "device_code":"{DEVICE_CODE}"}}"#
                ),
            ),
            ErrorKind::InvalidClient,
            "invalid_client",
        ),
    ];
    for (answer, kind, expected) in cases {
        let f = fixture(answer.clone(), vec![]);
        let error = f.grant.authorize().await.expect_err("an error");
        assert_eq!(error.kind(), kind, "{answer:?}: {error}");
        assert!(error.to_string().contains(expected), "{answer:?}: {error}");
        assert_no_device_code(&error);
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_device_authorization_response_is_refused_unread() {
    let huge = format!(
        r#"{{"device_code":"{DEVICE_CODE}","padding":"{}"}}"#,
        "x".repeat(64 * 1024)
    );
    let f = fixture_with((200, huge), vec![], |e| e.max_response_size(4096));
    let error = f.grant.authorize().await.expect_err("an error");
    assert_eq!(error.kind(), ErrorKind::MalformedResponse, "{error}");
    assert!(
        error.to_string().contains("device authorization endpoint"),
        "{error}"
    );
    assert_no_device_code(&error);
}

#[tokio::test(start_paused = true)]
async fn a_hostile_interval_is_bounded() {
    let f = fixture(
        device_answer(r#","interval":0"#),
        vec![pending(), success()],
    );
    let start = Instant::now();
    f.grant
        .login(|_| {}, Duration::from_secs(60))
        .await
        .expect("ok");
    assert_eq!(f.poll_offsets(start), secs(&[1, 2]));
}

#[test]
fn debug_never_shows_the_device_code() {
    let object = serde_json::json!({
        "device_code": DEVICE_CODE,
        "user_code": "AB",
        "verification_uri": "https://e.x/d",
    });
    let serde_json::Value::Object(object) = object else {
        unreachable!()
    };
    let authorization = authorization::parse_for_tests(&object);
    let shown = format!("{authorization:?} {:?}", authorization.prompt());
    assert!(!shown.contains(DEVICE_CODE), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}
