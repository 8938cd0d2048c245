//! Panic messages carry no secret: `unwrap`/`expect` on errors of operations that used the
//! canary, and `unwrap_err` on `Ok` of every secret-holding type, are recorded by a panic hook
//! and never show it (the rest of the canary suite is in `canary.rs`).
#![cfg(all(feature = "oauth2", feature = "config"))]

use std::sync::{Arc, Mutex};

use auth_test_support::canary::{CANARY, assert_clean, canary_token};
use tower_auth::{
    ApiKeyLayer, AuthError, BasicAuthLayer, BearerLayer, MemoryTokenStore, StaticTokenSource,
    StoredToken, TokenLayer, TokenSource, TokenStore,
};

/// Every panic message of the current thread, recorded by a panic hook installed for the
/// duration of `body`; panics of other threads (tests running in parallel) go to the previous
/// hook as usual, and the previous hook is restored afterwards. The record stays shared so a
/// test can check that later panics no longer reach it.
fn record_panics(body: impl FnOnce()) -> Arc<Mutex<Vec<String>>> {
    type Hook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let previous: Arc<Hook> = Arc::new(std::panic::take_hook());
    let (sink, fallback, me) = (
        recorded.clone(),
        previous.clone(),
        std::thread::current().id(),
    );
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == me {
            sink.lock().expect("panic record").push(info.to_string());
        } else {
            fallback(info);
        }
    }));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    drop(std::panic::take_hook());
    match Arc::try_unwrap(previous) {
        Ok(previous) => std::panic::set_hook(previous),
        // Our hook (the only other owner) was dropped above, so this cannot happen.
        Err(_) => unreachable!("the recording hook still holds the previous one"),
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    recorded
}

/// Runs `trigger`, which must panic; returns the payload's text.
fn caught(what: &str, trigger: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(trigger))
        .err()
        .unwrap_or_else(|| panic!("{what}: did not panic"));
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// `unwrap_err` on `Ok(value)`: the panic prints `value`'s `Debug`.
#[expect(
    clippy::unwrap_used,
    clippy::unnecessary_literal_unwrap,
    reason = "the panic of `unwrap_err` on `Ok` is what is tested"
)]
fn unwrap_err_on<T: std::fmt::Debug>(value: T) {
    Ok::<T, AuthError>(value).unwrap_err();
}

/// The usual ways code panics with a secret in reach: `unwrap`/`expect` on a failed operation
/// that sent the canary, `unwrap_err`/`expect_err` on `Ok` of every secret-holding type, and
/// `assert_eq!` on a token's header. Neither the hook's message nor the payload shows it.
#[test]
#[expect(
    clippy::unwrap_used,
    reason = "the panics of `unwrap` are what is tested"
)]
fn panic_messages_never_show_the_secret() {
    use auth_test_support::token_server::{AcceptAuth, Fault, TokenServer};
    use tower_auth::{
        OAuth2Layer, SecretString,
        config::{Config, Format},
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(
        TokenServer::builder()
            .client("canary-client", Some("the-right-secret"))
            .accept(AcceptAuth::Any)
            .start(),
    );
    let url = server.token_url();
    let fetch = |layer: &OAuth2Layer<_>| runtime.block_on(layer.source().token());

    // Failed operations that sent the canary.
    let wrong_secret = OAuth2Layer::client_credentials(&url, "canary-client", CANARY)
        .build()
        .expect("layer");
    let invalid_client = fetch(&wrong_secret);
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let refresh = OAuth2Layer::refresh_token(&url, "canary-client", store, "conn")
        .client_secret("the-right-secret")
        .initial_refresh_token(CANARY)
        .build()
        .expect("layer");
    let invalid_grant = runtime.block_on(refresh.source().token());
    let strict = Config::from_str(
        &format!(
            "strict_secrets = true\n[connections.api]\nbase_url = \"https://api.example.com\"\n\
             auth = {{ type = \"bearer\", token = \"{CANARY}\" }}\n"
        ),
        Format::Toml,
    );
    let bad_header = BearerLayer::new(format!("{CANARY}\r\nX-Injected: 1"));

    // Successful ones whose results hold the canary.
    server.push_fault(Fault::json(
        200,
        serde_json::json!({ "access_token": CANARY, "refresh_token": CANARY,
                            "token_type": "bearer", "expires_in": 3600 }),
    ));
    let canary_layer = OAuth2Layer::client_credentials(&url, "canary-client", CANARY)
        .build()
        .expect("layer");
    let fetched = fetch(&canary_layer);
    let connection = Config::from_str(
        &format!(
            "[connections.api]\nbase_url = \"https://api.example.com\"\n\
             auth = {{ type = \"bearer\", token = \"{CANARY}\" }}\n"
        ),
        Format::Toml,
    )
    .expect("config")
    .connection("api", None)
    .expect("connection")
    .layer()
    .expect("layer");
    let mut stored = StoredToken::with_refresh_token(CANARY);
    stored.access_token = Some(CANARY.into());
    let token = canary_token();
    let static_source = StaticTokenSource::new(token.clone());
    let canary_builder = || OAuth2Layer::client_credentials(&url, "canary-client", CANARY);

    // (what, a fragment the message must show so we know the value's `Debug` was printed (the
    // type's name by default), the code that panics)
    type Trigger<'a> = (&'static str, &'static str, Box<dyn FnOnce() + 'a>);
    fn ignore<T>(_: T) {}
    macro_rules! trigger {
        ($what:expr, $fragment:expr, $panics:expr) => {
            (
                $what,
                $fragment,
                Box::new(|| ignore($panics)) as Box<dyn FnOnce()>,
            )
        };
        ($type:expr, $panics:expr) => {
            trigger!($type, $type, $panics)
        };
    }
    let ok_token = || fetched.clone().expect("fetched");
    let triggers: Vec<Trigger<'_>> = vec![
        trigger!(
            "invalid_client",
            "InvalidClient",
            invalid_client.clone().unwrap()
        ),
        trigger!(
            "invalid_grant",
            "InvalidGrant",
            invalid_grant.clone().expect("grant")
        ),
        trigger!(
            "strict config",
            "literal secret is not allowed",
            strict.unwrap()
        ),
        trigger!("bad header", "kind: Config", bad_header.unwrap()),
        trigger!(
            "fetched token",
            "AccessToken",
            fetched.clone().expect_err("failed")
        ),
        trigger!("assert_eq", "left == right", {
            assert_eq!(ok_token().header_value(), "Bearer something-else");
        }),
        trigger!("AccessToken", unwrap_err_on(token.clone())),
        trigger!(
            "header",
            "Sensitive",
            unwrap_err_on(token.header_value().clone())
        ),
        trigger!(
            "SecretString",
            "SecretBox",
            unwrap_err_on(SecretString::from(CANARY))
        ),
        trigger!("StoredToken", unwrap_err_on(stored.clone())),
        trigger!(
            "StaticTokenSource",
            unwrap_err_on(StaticTokenSource::new(token.clone()))
        ),
        trigger!(
            "BearerLayer",
            "AddCredentialLayer",
            unwrap_err_on(BearerLayer::new(CANARY))
        ),
        trigger!(
            "ApiKeyLayer",
            "AddCredentialLayer",
            unwrap_err_on(ApiKeyLayer::query("key", CANARY).build())
        ),
        trigger!(
            "BasicAuthLayer",
            "AddCredentialLayer",
            unwrap_err_on(BasicAuthLayer::new("user", CANARY))
        ),
        trigger!(
            "TokenLayer",
            unwrap_err_on(TokenLayer::new(static_source.clone()))
        ),
        trigger!("OAuth2Layer", unwrap_err_on(canary_layer.clone())),
        trigger!(
            "CachedTokenSource",
            unwrap_err_on(canary_layer.source().clone())
        ),
        trigger!("OAuth2LayerBuilder", unwrap_err_on(canary_builder())),
        trigger!("ConnectionLayer", unwrap_err_on(connection.clone())),
    ];

    let count = triggers.len();
    let mut payloads = Vec::new();
    let mut expected = Vec::new();
    let record = record_panics(|| {
        for (what, fragment, trigger) in triggers {
            payloads.push((what, caught(what, trigger)));
            expected.push((what, fragment));
        }
    });
    let messages = record.lock().expect("panic record").clone();
    assert_eq!(
        messages.len(),
        count,
        "one hook message per panic: {messages:#?}"
    );
    for ((what, fragment), message) in expected.iter().zip(&messages) {
        assert!(!message.trim().is_empty(), "{what}: empty panic message");
        assert!(
            message.contains(fragment),
            "{what}: no {fragment:?} in {message}"
        );
        assert_clean(what, message);
    }
    for (what, payload) in &payloads {
        assert!(!payload.is_empty(), "{what}: empty payload");
        assert_clean(what, payload);
    }
    // The previous hook is back: a later panic is not recorded any more.
    caught("after restoring the hook", || {
        panic!("expected by the canary test")
    });
    assert_eq!(record.lock().expect("panic record").len(), count);
}
