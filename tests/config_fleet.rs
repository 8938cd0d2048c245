//! `cache = { redis = … }` in a configuration: per connection and as the top-level default,
//! errors that name the key path, and connections built from it sharing one token.
#![cfg(all(feature = "config", feature = "oauth2", feature = "redis"))]

use auth_test_support::{client, redis::RedisServer, token_server::TokenServer};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::config::{AuthSpec, Config, Format};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn config(redis: &str, token_url: &str, base: &str) -> String {
    format!(
        r#"
cache = {{ redis = "{redis}", key_prefix = "cfg", encryption_key = "{KEY}" }}

[connections.a]
base_url = "{base}"
[connections.a.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "client-id"
client_secret = "client-secret"

[connections.b]
base_url = "{base}"
[connections.b.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "client-id"
client_secret = "client-secret"

[connections.own]
base_url = "{base}"
[connections.own.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "client-id"
client_secret = "client-secret"
cache = {{ redis = "{redis}", key_prefix = "own", allow_plaintext = true }}

[connections.plain]
base_url = "{base}"
auth = {{ type = "bearer", token = "t" }}
"#
    )
}

fn cache_of(config: &Config, name: &str) -> Option<tower_auth::config::FleetCacheSpec> {
    match config.connection(name, None).expect("connection").auth {
        AuthSpec::OAuth2(o) => o.cache,
        _ => None,
    }
}

#[test]
fn the_top_level_cache_is_the_default_of_token_connections() {
    let text = config(
        "redis://127.0.0.1:1",
        "http://127.0.0.1:1/token",
        "http://127.0.0.1:1",
    );
    let config = Config::from_str(&text, Format::Toml).expect("valid");
    for name in ["a", "b"] {
        let cache = cache_of(&config, name).expect("default cache");
        assert_eq!(cache.key_prefix.as_deref(), Some("cfg"));
        assert!(cache.encryption_key.is_some());
    }
    let own = cache_of(&config, "own").expect("own cache");
    assert_eq!(own.key_prefix.as_deref(), Some("own"));
    assert!(own.allow_plaintext);
    assert!(matches!(
        config.connection("plain", None).expect("plain").auth,
        AuthSpec::Bearer { .. }
    ));
    assert!(
        config
            .warnings()
            .iter()
            .any(|w| w.path == "connections.own.auth.cache.allow_plaintext"),
        "{:?}",
        config.warnings()
    );
}

#[test]
fn bad_cache_settings_name_their_key_path() {
    let short = config(
        "redis://127.0.0.1:1",
        "http://127.0.0.1:1/token",
        "http://127.0.0.1:1",
    )
    .replace(KEY, "c2hvcnQ=");
    let err = Config::from_str(&short, Format::Toml)
        .expect_err("short key")
        .to_string();
    assert!(
        err.contains("connections.a.auth.cache.encryption_key"),
        "{err}"
    );
    assert!(err.contains("32 bytes"), "{err}");
    let no_key = config(
        "redis://127.0.0.1:1",
        "http://127.0.0.1:1/token",
        "http://127.0.0.1:1",
    )
    .replace(&format!(r#", encryption_key = "{KEY}""#), "");
    let err = Config::from_str(&no_key, Format::Toml)
        .expect_err("no key")
        .to_string();
    assert!(err.contains("cache.encryption_key"), "{err}");
    assert!(err.contains("gen-key"), "{err}");
    let bad_url = config(
        "http://127.0.0.1:1",
        "http://127.0.0.1:1/token",
        "http://127.0.0.1:1",
    );
    let err = Config::from_str(&bad_url, Format::Toml)
        .expect_err("not redis")
        .to_string();
    assert!(err.contains("cache.redis"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_built_from_config_share_one_token() {
    let redis = RedisServer::launch();
    let server = TokenServer::builder().start().await;
    let text = config(&redis.url(), &server.token_url(), &server.base_url());
    // Two "processes": each loads the configuration and builds its own connection.
    for name in ["a", "b", "a"] {
        let config = Config::from_str(&text, Format::Toml).expect("valid");
        let layer = config
            .connection(name, None)
            .expect("connection")
            .layer()
            .expect("layer");
        let service = ServiceBuilder::new().layer(layer).service(client());
        let request = Request::get(server.api_url())
            .body(Full::<Bytes>::default())
            .expect("request");
        let response = service.oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        server.fetches(),
        1,
        "one token-endpoint call for every connection"
    );
}
