//! The fleet cache from the CLI: `config gen-key`, `config show`/`validate` with `cache`, and
//! several `tower-auth token` processes sharing one token through a real `redis-server`.

mod common;

use auth_test_support::{redis::RedisServer, token_server::TokenServer};
use common::{tower_auth, write_config};

const SECRET: &str = "canary-cli-fleet-secret-51c";

fn config(server: &TokenServer, redis_url: &str, cache_extra: &str) -> String {
    format!(
        r#"
cache = {{ redis = "{redis_url}", key_prefix = "cli", encryption_key = {{ env = "FLEET_KEY" }}{cache_extra} }}

[connections.api]
base_url = "{base}"

[connections.api.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "client-id"
client_secret = {{ env = "CLIENT_SECRET" }}
"#,
        base = server.base_url(),
        token_url = server.token_url(),
    )
}

#[tokio::test]
async fn gen_key_prints_32_random_bytes_in_base64() {
    let a = tower_auth(&["config", "gen-key"], &[]).await;
    let b = tower_auth(&["config", "gen-key"], &[]).await;
    assert_eq!(a.code, 0, "{}", a.all());
    let key = a.stdout.trim();
    assert_eq!(key.len(), 44, "{key}");
    assert_ne!(key, b.stdout.trim());
    assert!(tower_auth::redis::EncryptionKey::from_base64(key).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_processes_share_one_fetch_through_redis() {
    let redis = RedisServer::launch();
    let server = TokenServer::builder()
        .client("client-id", Some(SECRET))
        .start()
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(dir.path(), &config(&server, &redis.url(), ""));
    let key = tower_auth::redis::EncryptionKey::generate().expect("key");
    let key = {
        use tower_auth::core::ExposeSecret;
        key.to_base64().expose_secret().to_owned()
    };
    let envs = [("FLEET_KEY", key.as_str()), ("CLIENT_SECRET", SECRET)];
    for _ in 0..3 {
        let run = tower_auth(&["-c", &path, "token", "api"], &envs).await;
        assert_eq!(run.code, 0, "{}", run.all());
    }
    assert_eq!(
        server.fetches(),
        1,
        "three processes, one token-endpoint call"
    );
}

#[tokio::test]
async fn show_names_the_cache_without_password_or_key_and_validate_warns_on_plaintext() {
    let server = TokenServer::builder().start().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(
        dir.path(),
        &config(&server, "redis://app:hunter2-pw@127.0.0.1:6399/0", ""),
    );
    let run = tower_auth(&["-c", &path, "config", "show"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(
            r#"cache = { redis = "redis://app:***@127.0.0.1:6399/0", key_prefix = "cli""#
        ),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains("hunter2-pw"));
    assert!(
        run.stdout
            .contains(r#"encryption_key = { env = "FLEET_KEY" }"#),
        "{}",
        run.stdout
    );

    let plain = write_config(
        dir.path(),
        &config(
            &server,
            "redis://127.0.0.1:6399",
            ", allow_plaintext = true",
        )
        .replace(r#"encryption_key = { env = "FLEET_KEY" }, "#, ""),
    );
    let run = tower_auth(&["-c", &plain, "config", "show"], &[]).await;
    assert!(
        run.stdout.contains(r#"redis = "redis://127.0.0.1:6399""#),
        "{}",
        run.stdout
    );
    let run = tower_auth(&["-c", &plain, "config", "validate"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("allow_plaintext"), "{}", run.stdout);
    assert!(run.stdout.contains("in clear"), "{}", run.stdout);

    let missing = write_config(
        dir.path(),
        &config(&server, "redis://127.0.0.1:6399", "")
            .replace(r#", encryption_key = { env = "FLEET_KEY" }"#, ""),
    );
    let run = tower_auth(&["-c", &missing, "config", "validate"], &[]).await;
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("cache.encryption_key"),
        "{}",
        run.stderr
    );
}
