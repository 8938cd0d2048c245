//! One canary value used as every secret: it must never appear in `Debug`, `Display`, errors,
//! request dumps, or tracing output at TRACE level.
//!
//! Every type that can hold a secret is listed here; a new one gets a line. (It needs the
//! `oauth2` feature, on by default: most secret holders are OAuth ones.)
#![cfg(feature = "oauth2")]

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_auth::{
    AccessToken, ApiKeyLayer, AuthError, BasicAuthLayer, BearerLayer, CachedTokenSource, ErrorKind,
    FileTokenStore, FnTokenSource, MemoryTokenStore, StaticTokenSource, StoredToken, TokenLayer,
    TokenSource, TokenStore, TokenView,
};

use auth_test_support::canary::{
    CANARY, assert_clean, assert_debug_clean, assert_error_clean, canary_token,
};

#[test]
fn core_types_never_show_the_secret() {
    let token = canary_token();
    assert_debug_clean("AccessToken", &token);
    assert_debug_clean("AccessToken::header_value", token.header_value());
    assert_debug_clean(
        "AccessTokenBuilder",
        &AccessToken::builder(CANARY).refresh_token(CANARY),
    );
    assert_debug_clean("StaticTokenSource", &StaticTokenSource::new(token.clone()));
    let keyed = tower_auth::KeyedTokenSource::builder({
        let token = token.clone();
        move |_: &tower_auth::TokenKey| Ok(StaticTokenSource::new(token.clone()))
    })
    .build();
    let entry = keyed
        .source(&tower_auth::TokenKey::new("alice"))
        .expect("entry");
    entry.cache().insert(token.clone());
    assert_debug_clean("KeyedTokenSource", &keyed);
    assert_debug_clean("KeyedEntry", &entry);
    assert_debug_clean("TokenLayer::keyed", &TokenLayer::keyed(keyed.clone()));
    let mut stored = StoredToken::with_refresh_token(CANARY);
    stored.access_token = Some(CANARY.into());
    assert_debug_clean("StoredToken", &stored);
    assert_debug_clean("SecretString", &tower_auth::SecretString::from(CANARY));
    let redactor = tower_auth::Redactor::new();
    redactor.add(CANARY);
    redactor.add_basic("user", CANARY);
    assert_debug_clean("Redactor", &redactor);
    assert_debug_clean("Redactor::child", &redactor.child());
    let mut stream = redactor.stream();
    stream.push(&CANARY.as_bytes()[..10], &mut Vec::new());
    assert_debug_clean("StreamRedactor holding part of a secret", &stream);
}

#[test]
fn build_errors_never_show_the_secret() {
    let with_newline = format!("{CANARY}\r\nX-Injected: 1");
    let errors = [
        AccessToken::bearer(with_newline.clone()).expect_err("newline"),
        BearerLayer::new(with_newline.clone()).expect_err("newline"),
        BearerLayer::builder(CANARY)
            .header_name("bad header")
            .build()
            .expect_err("header name"),
        ApiKeyLayer::header("X-Key", with_newline.clone())
            .build()
            .expect_err("newline"),
        ApiKeyLayer::query("a&b", CANARY)
            .build()
            .expect_err("query name"),
        BasicAuthLayer::new(format!("{CANARY}:user"), CANARY).expect_err("colon in user"),
        BasicAuthLayer::new("", CANARY).expect_err("empty user"),
    ];
    for error in &errors {
        assert_eq!(error.kind(), ErrorKind::Config, "{error}");
        assert_error_clean("build error", error);
    }
}

#[test]
fn layers_never_show_the_secret() {
    assert_debug_clean("BearerLayer", &BearerLayer::new(CANARY).expect("layer"));
    assert_debug_clean(
        "BearerLayer (custom)",
        &BearerLayer::builder(CANARY)
            .header_name("X-Token")
            .prefix("Token")
            .build()
            .expect("layer"),
    );
    assert_debug_clean("BearerLayerBuilder", &BearerLayer::builder(CANARY));
    assert_debug_clean(
        "ApiKeyLayer (header)",
        &ApiKeyLayer::header("X-Key", CANARY).build().expect("layer"),
    );
    assert_debug_clean(
        "ApiKeyLayer (query)",
        &ApiKeyLayer::query("key", CANARY).build().expect("layer"),
    );
    assert_debug_clean("ApiKeyLayerBuilder", &ApiKeyLayer::query("key", CANARY));
    assert_debug_clean(
        "BasicAuthLayer",
        &BasicAuthLayer::new("user", CANARY).expect("layer"),
    );
    let source = StaticTokenSource::new(canary_token());
    assert_debug_clean("TokenLayer", &TokenLayer::new(source.clone()));
    let service = ServiceBuilder::new()
        .layer(TokenLayer::new(source))
        .service(service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(()))
        }));
    assert_debug_clean("Token", &service);
    for (name, layer) in [
        (
            "AddCredential (bearer)",
            BearerLayer::new(CANARY).expect("layer"),
        ),
        (
            "AddCredential (basic)",
            BasicAuthLayer::new("user", CANARY).expect("layer"),
        ),
        (
            "AddCredential (query)",
            ApiKeyLayer::query("key", CANARY).build().expect("layer"),
        ),
    ] {
        let service = ServiceBuilder::new().layer(layer).service(service_fn(
            |_: Request<Full<Bytes>>| async { Ok::<_, Infallible>(Response::new(())) },
        ));
        assert_debug_clean(name, &service);
    }
}

/// An API that dumps every request it receives with `Debug`, then rejects it.
fn dumping_api(
    dumps: Arc<Mutex<Vec<String>>>,
) -> impl tower::Service<Request<Full<Bytes>>, Response = Response<()>, Error = Infallible, Future: Send>
+ Clone {
    service_fn(move |req: Request<Full<Bytes>>| {
        let dumps = dumps.clone();
        async move {
            tracing::trace!(request = ?req, "api received");
            dumps.lock().expect("lock").push(format!("{req:?}"));
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Ok::<_, Infallible>(response)
        }
    })
}

#[tokio::test]
async fn requests_responses_errors_and_trace_logs_never_show_the_secret() {
    auth_test_support::logs::capture();
    let dumps = Arc::new(Mutex::new(Vec::new()));
    let api = dumping_api(dumps.clone());
    let request = || {
        Request::get("http://api.test/x?a=1")
            .body(Full::default())
            .expect("request")
    };

    // Static layers: the request dump (headers are sensitive) and the 401's AuthError.
    let responses = vec![
        ServiceBuilder::new()
            .layer(BearerLayer::new(CANARY).expect("layer"))
            .service(api.clone())
            .oneshot(request())
            .await
            .expect("response"),
        ServiceBuilder::new()
            .layer(ApiKeyLayer::header("X-Key", CANARY).build().expect("layer"))
            .service(api.clone())
            .oneshot(request())
            .await
            .expect("response"),
        ServiceBuilder::new()
            .layer(BasicAuthLayer::new("user", CANARY).expect("layer"))
            .service(api.clone())
            .oneshot(request())
            .await
            .expect("response"),
    ];
    for response in &responses {
        assert_debug_clean("response", response);
        let error = response
            .extensions()
            .get::<AuthError>()
            .expect("AuthError on 401");
        assert_error_clean("401 error", error);
    }

    // TokenLayer over a cache: fetch, 401, invalidate, refetch, 401 again.
    let tokens = CachedTokenSource::new(FnTokenSource::new(|| async { Ok(canary_token()) }));
    let response = ServiceBuilder::new()
        .layer(TokenLayer::new(tokens.clone()))
        .service(api.clone())
        .oneshot(request())
        .await
        .expect("response");
    assert_debug_clean("TokenLayer response", &response);
    assert_error_clean(
        "TokenLayer 401 error",
        response.extensions().get::<AuthError>().expect("AuthError"),
    );
    assert_debug_clean("CachedTokenSource", &tokens);

    // A service's view of a cache, and the lease it holds.
    let cached = CachedTokenSource::new(StaticTokenSource::new(canary_token()));
    cached.insert(canary_token());
    let mut view = TokenView::new();
    view.current(&cached).expect("a token");
    assert_debug_clean("TokenView", &view);
    assert_debug_clean("Lease", &cached.lease().expect("a lease"));

    // A failing source: the error every waiter gets, and the cache's warning log.
    let failing = CachedTokenSource::new(FnTokenSource::new(|| async {
        Err::<AccessToken, _>(
            AuthError::from_oauth("invalid_client", Some("client authentication failed"), None)
                .with_detail("token endpoint rejected the client"),
        )
    }));
    let error = failing.token().await.expect_err("fails");
    assert_error_clean("fetch error", &error);

    for dump in dumps.lock().expect("lock").iter() {
        assert_clean("request dump", dump);
    }
    let logs = auth_test_support::logs::captured();
    assert!(
        logs.contains("token fetch failed") && logs.contains("api received"),
        "the subscriber captured the events: {logs}"
    );
    assert_clean("TRACE logs", &logs);
}

#[tokio::test]
async fn stores_and_their_errors_never_show_the_secret() {
    let mut record = StoredToken::with_refresh_token(CANARY);
    record.access_token = Some(CANARY.into());

    let memory = MemoryTokenStore::new();
    memory.save("conn", &record).await.expect("save");
    assert_debug_clean("MemoryTokenStore", &memory);
    assert_debug_clean("loaded record", &memory.load("conn").await.expect("load"));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tokens.json");
    let file = FileTokenStore::new(&path);
    file.save("conn", &record).await.expect("save");
    assert_debug_clean("FileTokenStore", &file);
    assert_debug_clean("loaded record", &file.load("conn").await.expect("load"));

    // A corrupt file that contains the secret: the parse error must not quote it.
    std::fs::write(
        &path,
        format!("{{\"conn\": {{\"refresh_token\": \"{CANARY}\","),
    )
    .expect("write");
    let error = file.load("conn").await.expect_err("corrupt");
    assert_eq!(error.kind(), ErrorKind::Store);
    assert_error_clean("corrupt store error", &error);
}

/// OAuth: every secret of every grant is the canary; builders, layers, errors of failed and
/// malformed token responses, and the TRACE logs of all of it stay clean.
#[tokio::test]
async fn oauth_layers_flows_and_errors_never_show_the_secret() {
    use auth_test_support::token_server::{AcceptAuth, Fault, TokenServer};
    use tower_auth::{ClientAuth, OAuth2Layer};

    auth_test_support::logs::capture();
    let server = TokenServer::builder()
        .client("canary-client", Some(CANARY))
        .accept(AcceptAuth::Any)
        .user("alice", CANARY)
        .start()
        .await;
    let url = server.token_url();

    let builder = OAuth2Layer::client_credentials(&url, "canary-client", CANARY).scopes("read");
    assert_debug_clean("OAuth2LayerBuilder", &builder);
    let layer = builder.build().expect("layer");
    assert_debug_clean("OAuth2Layer", &layer);
    let token = layer
        .source()
        .token()
        .await
        .expect("token with the canary secret");
    assert_debug_clean("fetched token", &token);
    assert_debug_clean("CachedTokenSource<ClientCredentials>", layer.source());

    let password = OAuth2Layer::password(&url, "canary-client", "alice", CANARY)
        .client_secret(CANARY)
        .client_auth(ClientAuth::Body)
        .build()
        .expect("layer");
    assert_debug_clean("OAuth2Layer<Password>", &password);
    password.source().token().await.expect("password grant");

    // Rejected: the canary client secret does not match, the canary refresh token is unknown.
    let wrong = OAuth2Layer::client_credentials(&url, "other-client", CANARY)
        .build()
        .expect("layer");
    let error = wrong.source().token().await.expect_err("invalid_client");
    assert_error_clean("invalid_client", &error);
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let refresh = OAuth2Layer::refresh_token(&url, "canary-client", store, "conn")
        .client_secret(CANARY)
        .initial_refresh_token(CANARY)
        .build()
        .expect("layer");
    assert_debug_clean("OAuth2Layer<RefreshToken>", &refresh);
    let error = refresh.source().token().await.expect_err("invalid_grant");
    assert_error_clean("invalid_grant", &error);

    // Malformed answers that carry the canary as their token: the scrubbed snippet hides it.
    for fault in [
        Fault::json(
            200,
            serde_json::json!({ "access_token": CANARY, "expires_in": "soon" }),
        ),
        Fault::json(
            200,
            serde_json::json!({ "access_token": CANARY, "token_type": "mac" }),
        ),
        Fault::raw(
            200,
            Some("text/plain"),
            format!("access_token={CANARY}&expires_in=x"),
        ),
        Fault::json(200, serde_json::json!({ "refresh_token": CANARY })),
    ] {
        server.push_fault(fault);
        let layer = OAuth2Layer::client_credentials(&url, "canary-client", CANARY)
            .build()
            .expect("layer");
        if let Err(error) = layer.source().token().await {
            assert_error_clean("malformed token response", &error);
        }
    }

    let logs = auth_test_support::logs::captured();
    assert_clean("TRACE logs of OAuth flows", &logs);
}

/// Servers echo what they receive: a token endpoint that repeats the client secret, the
/// password or the Basic header in its error (JSON description, HTML page, JSON body, form),
/// and an API that repeats the token in its challenge and realm. The echoed canary has no
/// digit, so only redaction by value can hide it; errors and TRACE logs must not show it.
#[tokio::test]
async fn secrets_echoed_back_by_servers_are_never_shown() {
    use auth_test_support::{
        canary::{ECHO_CANARY, assert_echo_clean, assert_echo_error_clean, basic_of},
        token_server::{AcceptAuth, Fault, TokenServer},
    };
    use tower_auth::{ClientAuth, OAuth2Layer};

    auth_test_support::logs::capture();
    let server = TokenServer::builder()
        .client("echo-client", Some("not-the-canary"))
        .accept(AcceptAuth::Any)
        .start()
        .await;
    let url = server.token_url();
    let basic = basic_of("echo-client", ECHO_CANARY);
    // Each with whether the echo falls within what is shown (a `[redacted]` marks it): the
    // second one echoes the password past the 200 characters of a description that are shown.
    let long = format!("{} the password {ECHO_CANARY}", "word ".repeat(39));
    let echoes = [
        (
            true,
            Fault::json(
                401,
                serde_json::json!({
                    "error": "invalid_client",
                    "error_description": format!("client secret {ECHO_CANARY} is wrong"),
                }),
            ),
        ),
        (
            false,
            Fault::json(
                400,
                serde_json::json!({ "error": "invalid_grant", "error_description": long }),
            ),
        ),
        (
            true,
            Fault::raw(
                400,
                Some("text/html"),
                format!(
                    "<pre>POST /token\nauthorization: Basic {basic}\n\npassword={ECHO_CANARY}</pre>"
                ),
            ),
        ),
        (
            true,
            Fault::json(
                500,
                serde_json::json!({ "message": format!("you sent {ECHO_CANARY}") }),
            ),
        ),
        (
            true,
            Fault::raw(400, None, format!("echo={ECHO_CANARY}&x=1")),
        ),
    ];
    for (marked, echo) in echoes {
        server.push_fault(echo.clone());
        let cc = OAuth2Layer::client_credentials(&url, "echo-client", ECHO_CANARY)
            .build()
            .expect("layer");
        let error = cc.source().token().await.expect_err("the server refuses");
        assert_echo_error_clean("client credentials", &error, "echo-client");
        assert_eq!(error.to_string().contains("[redacted]"), marked, "{error}");

        server.push_fault(echo);
        let password = OAuth2Layer::password(&url, "echo-client", "alice", ECHO_CANARY)
            .client_auth(ClientAuth::None)
            .build()
            .expect("layer");
        let error = password
            .source()
            .token()
            .await
            .expect_err("the server refuses");
        assert_echo_error_clean("password grant", &error, "echo-client");
        assert_eq!(error.to_string().contains("[redacted]"), marked, "{error}");
    }

    // An API that repeats the token it rejects, in every field of its challenge.
    let token = AccessToken::bearer(ECHO_CANARY).expect("token");
    let api = service_fn(|_: Request<Full<Bytes>>| async {
        let challenge = format!(
            r#"Bearer realm="{ECHO_CANARY}", error="invalid_token", error_description="token {ECHO_CANARY} expired", scope="{ECHO_CANARY}""#
        );
        let response = Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(http::header::WWW_AUTHENTICATE, challenge)
            .body(())
            .expect("response");
        Ok::<_, Infallible>(response)
    });
    let service = ServiceBuilder::new()
        .layer(TokenLayer::new(StaticTokenSource::new(token)))
        .service(api);
    let response = service
        .oneshot(Request::new(Full::default()))
        .await
        .expect("response");
    let error = response
        .extensions()
        .get::<AuthError>()
        .expect("a 401 carries an AuthError");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_echo_error_clean("TokenLayer challenge", error, "echo-client");
    assert!(error.to_string().contains("[redacted]"), "{error}");

    let logs = auth_test_support::logs::captured();
    assert_echo_clean("TRACE logs of echoing servers", &logs, "echo-client");
}

/// Configured connections whose credentials come from rotating files (and a header filled from
/// a file variable): the spec, the layer and its service never show the secret, and an API
/// echoing the file's credential in its challenge never gets it shown.
#[cfg(feature = "config")]
#[tokio::test]
async fn configured_file_credentials_never_show_the_secret() {
    use auth_test_support::canary::{ECHO_CANARY, assert_echo_error_clean};
    use tower_auth::config::{Config, Format};

    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, ECHO_CANARY).expect("write");
    let canary = dir.path().join("canary");
    std::fs::write(&canary, CANARY).expect("write");
    let auths = [
        r#"{ type = "bearer", token = { file = "SECRET" } }"#,
        r#"{ type = "api_key", key_name = "X-Key", key_value = { file = "SECRET" } }"#,
        r#"{ type = "basic", username = "user", password = { file = "SECRET" } }"#,
    ];
    for auth in auths {
        let toml = format!(
            "[connections.api]\nbase_url = \"http://127.0.0.1:1\"\n\
             variables = {{ v = {{ file = \"{canary}\" }} }}\n\
             headers = {{ X-Extra = \"{{v}}\" }}\nauth = {auth}\n",
            canary = canary.display(),
            auth = auth.replace("SECRET", &secret.display().to_string()),
        );
        let config = Config::from_str(&toml, Format::Toml).unwrap_or_else(|e| panic!("{e}"));
        let spec = config.connection("api", None).expect("spec");
        assert_debug_clean("ConnectionSpec with a file variable", &spec);
        let layer = spec.layer().expect("layer");
        assert_debug_clean("ConnectionLayer of a file credential", &layer);
        let api = service_fn(|_: Request<Full<Bytes>>| async {
            let challenge = format!(
                r#"Bearer error="invalid_token", error_description="{ECHO_CANARY} expired""#
            );
            let response = Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header(http::header::WWW_AUTHENTICATE, challenge)
                .body(())
                .expect("response");
            Ok::<_, Infallible>(response)
        });
        let service = ServiceBuilder::new().layer(layer).service(api);
        assert_debug_clean("ConnectionService of a file credential", &service);
        let request = Request::get("http://127.0.0.1:1/")
            .body(Full::default())
            .expect("request");
        let response = service.oneshot(request).await.expect("response");
        let error = response
            .extensions()
            .get::<AuthError>()
            .expect("a 401 carries an AuthError");
        assert_echo_error_clean(auth, error, "user");
        assert!(error.to_string().contains("[redacted]"), "{error}");
    }
}

/// A configured DPoP key (inline PEM, an env reference, a file): the spec and the connection's
/// layer never show it; a key that is not PEM fails naming its key path, not its value.
#[cfg(all(feature = "config", feature = "oauth2"))]
#[test]
fn configured_dpop_keys_never_show() {
    use auth_test_support::keys::TestKey;
    use tower_auth::config::{Config, Format};

    let key = TestKey::es256();
    let body = key.private_base64();
    let toml = |dpop: &str| {
        format!(
            "[connections.api]\nbase_url = \"http://127.0.0.1:1\"\n\
             [connections.api.auth]\ntype = \"oauth2\"\ngrant = \"client_credentials\"\n\
             token_url = \"http://127.0.0.1:1/token\"\nclient_id = \"c\"\n\
             client_secret = \"{CANARY}\"\ndpop = {dpop}\n"
        )
    };
    let inline = format!(
        "{{ key = \"\"\"{}\"\"\", required = true }}",
        key.private_pem
    );
    let config = Config::from_str(&toml(&inline), Format::Toml).unwrap_or_else(|e| panic!("{e}"));
    let spec = config.connection("api", None).expect("spec");
    let shown = format!("{spec:?} {spec:#?}");
    assert!(
        !shown.contains(&body[40..80]),
        "the spec shows the DPoP key: {shown}"
    );
    assert_debug_clean("ConnectionSpec with a DPoP key", &spec);
    let layer = spec.layer().expect("layer");
    let shown = format!("{layer:?} {layer:#?}");
    assert!(
        !shown.contains(&body[40..80]),
        "the layer shows the DPoP key: {shown}"
    );
    assert_debug_clean("ConnectionLayer with a DPoP key", &layer);

    let bad = format!("{{ key = \"{CANARY}\" }}");
    let config = Config::from_str(&toml(&bad), Format::Toml).unwrap_or_else(|e| panic!("{e}"));
    let spec = config.connection("api", None).expect("spec");
    let err = spec.layer().expect_err("not a key");
    let text = format!("{err} {err:?}");
    assert_clean("a bad DPoP key's error", &text);
    assert!(text.contains("connections.api.auth.dpop.key"), "{text}");
}

#[cfg(feature = "reqwest")]
#[test]
fn reqwest_middlewares_never_show_the_secret() {
    use tower_auth::reqwest::{AuthMiddleware, CredentialMiddleware, TokenMiddleware};

    for (name, layer) in [
        ("CredentialMiddleware (bearer)", BearerLayer::new(CANARY)),
        (
            "CredentialMiddleware (basic)",
            BasicAuthLayer::new("user", CANARY),
        ),
        (
            "CredentialMiddleware (header key)",
            ApiKeyLayer::header("X-Key", CANARY).build(),
        ),
        (
            "CredentialMiddleware (query key)",
            ApiKeyLayer::query("key", CANARY).build(),
        ),
    ] {
        let layer = layer.expect("layer");
        assert_debug_clean(name, &CredentialMiddleware::new(layer.clone()));
        assert_debug_clean(name, &AuthMiddleware::from(layer));
    }
    let source = StaticTokenSource::new(canary_token());
    assert_debug_clean("TokenMiddleware", &TokenMiddleware::new(source));
    let shared: Arc<dyn TokenSource> = Arc::new(StaticTokenSource::new(canary_token()));
    let headers = tower_auth::DefaultHeadersLayer::new()
        .sensitive_header("X-Extra", CANARY)
        .expect("header");
    assert_debug_clean(
        "AuthMiddleware (token)",
        &AuthMiddleware::from(TokenLayer::new(shared)).with_default_headers(headers),
    );
}

#[cfg(feature = "redis")]
#[test]
fn fleet_cache_types_never_show_the_secret() {
    use tower_auth::redis::{EncryptionKey, FleetKey, RedisTokenCache, RedisTokenStore};
    let key = EncryptionKey::generate().expect("key");
    let key_text = {
        use tower_auth::core::ExposeSecret;
        key.to_base64().expose_secret().to_owned()
    };
    let shown = format!("{key:?}");
    assert!(!shown.contains(&key_text), "EncryptionKey shows the key");
    let url = format!("redis://app:{CANARY}@127.0.0.1:1/0");
    let builder = RedisTokenCache::builder(url.clone())
        .encryption_key(EncryptionKey::from_base64(&key_text).expect("key"));
    assert_debug_clean("RedisTokenCacheBuilder", &builder);
    let cache = builder.build().expect("cache");
    assert_debug_clean("RedisTokenCache", &cache);
    assert_clean("RedisTokenCache::shown_url", cache.shown_url());
    let fleet_key = FleetKey::builder("https://idp.example/token", "c")
        .client_secret(CANARY)
        .build();
    assert_debug_clean("FleetKey", &fleet_key);
    assert_debug_clean(
        "FleetKeyBuilder",
        &FleetKey::builder("u", "c").client_secret(CANARY),
    );
    assert_clean("FleetKey's Redis key", &cache.token_key(&fleet_key));
    let source = cache.wrap(StaticTokenSource::new(canary_token()), &fleet_key);
    assert_debug_clean("FleetTokenSource", &source);
    assert_debug_clean("RedisTokenStore", &RedisTokenStore::new(cache.clone()));
    let err = RedisTokenCache::builder(format!("not a url {CANARY}"))
        .allow_plaintext(true)
        .build()
        .expect_err("bad url");
    assert_clean("FleetError", &err.to_string());
}

/// A token exchange connection (subject token from a file, actor token literal) and a
/// sign-out whose revocation endpoint echoes the token: the spec, the layer and every error
/// leave the tokens out.
#[cfg(feature = "config")]
#[tokio::test]
async fn configured_token_exchange_and_sign_out_never_show_the_tokens() {
    use auth_test_support::token_server::{Fault, TokenServer};
    use tower_auth::config::{Config, Format};

    let server = TokenServer::builder()
        .client("id", Some("client-secret"))
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let subject = dir.path().join("subject");
    std::fs::write(&subject, CANARY).expect("write");
    let store = dir.path().join("tokens.json");
    FileTokenStore::new(&store)
        .save("crm", &StoredToken::with_refresh_token(CANARY))
        .await
        .expect("save");
    let toml = format!(
        r#"
[connections.ledger]
base_url = "http://127.0.0.1:1"
[connections.ledger.auth]
type = "oauth2"
grant = "token_exchange"
token_url = "{url}"
client_id = "id"
client_secret = "client-secret"
subject_token = {{ file = "{subject}" }}
actor_token = "{CANARY}"
[connections.crm]
base_url = "http://127.0.0.1:1"
[connections.crm.auth]
type = "oauth2"
grant = "refresh_token"
token_url = "{url}"
revocation_url = "{url}"
client_id = "id"
client_secret = "client-secret"
token_store = "{store}"
"#,
        url = server.token_url(),
        subject = subject.display(),
        store = store.display(),
    );
    let config = Config::from_str(&toml, Format::Toml).unwrap_or_else(|e| panic!("{e}"));
    let spec = config.connection("ledger", None).expect("spec");
    assert_debug_clean("ConnectionSpec of a token exchange", &spec);
    let layer = spec.layer().expect("layer");
    assert_debug_clean("ConnectionLayer of a token exchange", &layer);
    server.push_fault(Fault::json(
        400,
        serde_json::json!({ "error": "invalid_grant", "error_description": format!("{CANARY} is revoked") }),
    ));
    let err = layer
        .token_source()
        .expect("token connection")
        .token()
        .await
        .expect_err("refused");
    assert_error_clean("a refused token exchange", &err);

    server.push_fault(Fault::json(
        400,
        serde_json::json!({ "error": "invalid_request", "error_description": format!("bad token {CANARY}") }),
    ));
    let signed_out = config
        .connection("crm", None)
        .expect("spec")
        .sign_out(None)
        .await
        .expect("removed locally");
    assert!(signed_out.outcome.has_failures());
    assert_debug_clean("SignOut", &signed_out);
    assert!(!signed_out.outcome.to_string().contains(CANARY));
}
