//! The fleet tier against a real `redis-server` and the test token server; each
//! `RedisTokenCache` here has its own connection, as separate processes would.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use auth_core::{
    AccessToken, CachedTokenSource, ExposeSecret, FnTokenSource, StoredToken, TokenSource,
    TokenStore,
};
use auth_oauth::{ClientCredentials, OAuth2Layer};
use auth_redis::{EncryptionKey, FleetKey, FleetTokenSource, RedisTokenCache, RedisTokenStore};
use auth_test_support::{redis::RedisServer, token_server::TokenServer};
use futures_util::future::join_all;

const SECRET: &str = "canary-client-secret-7f3a";
const KEY: [u8; 32] = [7; 32];

fn cache(redis: &RedisServer, key: [u8; 32]) -> RedisTokenCache {
    RedisTokenCache::builder(redis.url())
        .key_prefix("test")
        .encryption_key(EncryptionKey::from_bytes(key))
        .lock_ttl(Duration::from_secs(2))
        .fetch_timeout(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .command_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .expect("cache")
}

fn fleet_key(server: &TokenServer) -> FleetKey {
    FleetKey::builder(server.token_url(), "client-id")
        .grant("client_credentials")
        .client_secret(SECRET)
        .build()
}

fn grant(server: &TokenServer) -> ClientCredentials {
    OAuth2Layer::client_credentials(server.token_url(), "client-id", SECRET)
        .build_grant()
        .expect("grant")
}

async fn token_server(expires_in: u64) -> TokenServer {
    TokenServer::builder()
        .client("client-id", Some(SECRET))
        .expires_in(Some(expires_in))
        .start()
        .await
}

fn source(redis: &RedisServer, server: &TokenServer) -> FleetTokenSource<ClientCredentials> {
    cache(redis, KEY).wrap(grant(server), &fleet_key(server))
}

async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_takes_the_fleet_token() {
    let redis = RedisServer::launch();
    let server = token_server(3600).await;
    let a = source(&redis, &server).token().await.expect("a");
    let b = source(&redis, &server).token().await.expect("b");
    assert_eq!(a.secret().expose_secret(), b.secret().expose_secret());
    assert_eq!(b.header_value(), a.header_value());
    assert_eq!(server.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_processes_cause_one_fetch() {
    let redis = RedisServer::launch();
    let server = token_server(3600).await;
    server.set_delay(Duration::from_millis(200));
    let sources: Vec<_> = (0..8).map(|_| source(&redis, &server)).collect();
    let tokens = join_all(sources.iter().map(|s| s.token())).await;
    let first = tokens[0]
        .as_ref()
        .expect("token")
        .secret()
        .expose_secret()
        .to_owned();
    for t in &tokens {
        assert_eq!(t.as_ref().expect("token").secret().expose_secret(), first);
    }
    assert_eq!(server.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_token_is_refreshed_once_and_picked_up_by_the_others() {
    let redis = RedisServer::launch();
    let server = token_server(3600).await;
    let (a, b) = (source(&redis, &server), source(&redis, &server));
    let t1 = a.token().await.expect("t1");
    let b1 = b.token().await.expect("b1");
    assert_eq!(b1.secret().expose_secret(), t1.secret().expose_secret());
    assert_eq!(server.fetches(), 1);
    // Both now hold t1: asking again means "refresh"; one fetches, the other takes its token.
    let t2 = a.token().await.expect("t2");
    assert_ne!(t2.secret().expose_secret(), t1.secret().expose_secret());
    let b2 = b.token().await.expect("b2");
    assert_eq!(b2.secret().expose_secret(), t2.secret().expose_secret());
    assert_eq!(server.fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_or_corrupt_entry_is_ignored_and_replaced() {
    let redis = RedisServer::launch();
    let server = token_server(3600).await;
    let a = source(&redis, &server);
    a.token().await.expect("a");
    // Another key: another namespace of hashes, and its entries do not open here either.
    let other = cache(&redis, [9; 32]).wrap(grant(&server), &fleet_key(&server));
    other.token().await.expect("other");
    assert_eq!(server.fetches(), 2);
    // An entry sealed under another key, placed under this key's name, is ignored.
    let mut conn = raw(&redis).await;
    let foreign: Vec<u8> = redis::cmd("GET")
        .arg(other.redis_key())
        .query_async(&mut conn)
        .await
        .expect("get");
    let _: () = redis::cmd("SET")
        .arg(a.redis_key())
        .arg(foreign)
        .query_async(&mut conn)
        .await
        .expect("set");
    source(&redis, &server).token().await.expect("fresh");
    assert_eq!(server.fetches(), 3);
    // Garbage too, and it is replaced by a good entry.
    let _: () = redis::cmd("SET")
        .arg(a.redis_key())
        .arg("not a sealed value at all")
        .query_async(&mut conn)
        .await
        .expect("set");
    source(&redis, &server).token().await.expect("fresh");
    source(&redis, &server).token().await.expect("cached");
    assert_eq!(server.fetches(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_deletes_only_the_stored_token() {
    let redis = RedisServer::launch();
    let server = token_server(3600).await;
    let (a, b) = (source(&redis, &server), source(&redis, &server));
    let t1 = a.token().await.expect("t1");
    let stale = AccessToken::bearer("some-older-token").expect("token");
    b.invalidate(&stale);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(b.token().await.expect("b").secret().expose_secret() == t1.secret().expose_secret());
    assert_eq!(server.fetches(), 1);
    b.invalidate(&t1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut conn = raw(&redis).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(a.redis_key())
        .query_async(&mut conn)
        .await
        .expect("exists");
    assert_eq!(exists, 0, "the rejected token is gone from Redis");
    let fresh = source(&redis, &server).token().await.expect("fresh");
    assert_ne!(fresh.secret().expose_secret(), t1.secret().expose_secret());
    assert_eq!(server.fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_fetching_alone_then_rejoining() {
    let mut redis = RedisServer::launch();
    let server = token_server(3600).await;
    let a = CachedTokenSource::new(source(&redis, &server));
    a.token().await.expect("shared");
    redis.stop();
    // Every request still succeeds: each process fetches on its own.
    let alone = source(&redis, &server);
    for _ in 0..3 {
        alone.token().await.expect("fetched alone");
    }
    assert!(alone.cache().is_down());
    assert_eq!(server.fetches(), 4);
    redis.start();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Back: one fetch publishes, everyone after takes it.
    let t = alone.token().await.expect("after restart");
    let again = source(&redis, &server).token().await.expect("shared again");
    assert_eq!(t.secret().expose_secret(), again.secret().expose_secret());
    assert!(!alone.cache().is_down());
    assert_eq!(server.fetches(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_differ_by_secret_scopes_and_subject() {
    let redis = RedisServer::launch();
    let cache = cache(&redis, KEY);
    let base = || FleetKey::builder("https://idp.example/token", "c").grant("client_credentials");
    let keys = [
        cache.token_key(&base().client_secret("one").build()),
        cache.token_key(&base().client_secret("two").build()),
        cache.token_key(&base().client_secret("one").scopes(["a"]).build()),
        cache.token_key(&base().client_secret("one").scopes(["b"]).build()),
        cache.token_key(&base().client_secret("one").subject("alice").build()),
        cache.token_key(&base().client_secret("one").audience("api").build()),
        cache.token_key(&base().client_secret("one").extra("x", "1").build()),
    ];
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert_eq!(
        cache.token_key(&base().scopes(["b", "a"]).build()),
        cache.token_key(&base().scopes(["a", "b", "a"]).build())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_secrets_never_reach_redis_in_clear() {
    let redis = RedisServer::launch();
    let server = token_server(3600).await;
    let key = EncryptionKey::from_bytes(KEY);
    let refresh = server.issue_refresh_token();
    let a = source(&redis, &server);
    let token = a.token().await.expect("token");
    let store = RedisTokenStore::new(cache(&redis, KEY));
    let mut record = StoredToken::with_refresh_token(refresh.clone());
    record.access_token = Some(token.secret().clone());
    store.save("alice", &record).await.expect("save");
    let canaries = [
        SECRET.to_owned(),
        token.secret().expose_secret().to_owned(),
        refresh,
        key.to_base64().expose_secret().to_owned(),
        "alice".to_owned(),
    ];
    let mut conn = raw(&redis).await;
    let names: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("keys");
    let mut scanned = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .query_async(&mut conn)
            .await
            .expect("scan");
        scanned.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(scanned.len(), names.len());
    assert!(
        scanned.len() >= 2,
        "the token and the store record are there"
    );
    for name in &scanned {
        let value: Vec<u8> = redis::cmd("GET")
            .arg(name)
            .query_async(&mut conn)
            .await
            .expect("get");
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(name)
            .query_async(&mut conn)
            .await
            .expect("dump");
        for canary in &canaries {
            for hay in [name, &value, &dump] {
                assert!(
                    !hay.windows(canary.len()).any(|w| w == canary.as_bytes()),
                    "a canary is in clear in Redis"
                );
            }
        }
    }
    let shown = format!("{a:?} {store:?} {key:?}");
    for canary in &canaries[..4] {
        assert!(
            !shown.contains(canary.as_str()),
            "a canary is in Debug output"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_rotated_by_one_process_is_used_by_the_next() {
    let redis = RedisServer::launch();
    let server = TokenServer::builder()
        .client("client-id", Some(SECRET))
        .rotate_refresh_tokens(true)
        .start()
        .await;
    let first = server.issue_refresh_token();
    let grant = |store: Arc<dyn TokenStore>| {
        OAuth2Layer::refresh_token(server.token_url(), "client-id", store, "alice")
            .client_secret(SECRET)
            .build_grant()
            .expect("grant")
    };
    let store_a: Arc<dyn TokenStore> = Arc::new(RedisTokenStore::new(cache(&redis, KEY)));
    let store_b: Arc<dyn TokenStore> = Arc::new(RedisTokenStore::new(cache(&redis, KEY)));
    store_a
        .save("alice", &StoredToken::with_refresh_token(first.clone()))
        .await
        .expect("seed");
    let (a, b) = (grant(store_a.clone()), grant(store_b.clone()));
    // Interleaved and concurrent refreshes: every one spends the current refresh token, none
    // spends one twice (the server answers invalid_grant to a reused one).
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(a.token(), b.token());
        ra.expect("a refreshed");
        rb.expect("b refreshed");
    }
    assert_eq!(server.fetches(), 6);
    assert!(!server.refresh_token_is_valid(&first));
    let current = store_b.load("alice").await.expect("load").expect("record");
    let current = current.refresh_token.expect("refresh token");
    assert!(server.refresh_token_is_valid(current.expose_secret()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_save_over_a_changed_record_is_refused() {
    let redis = RedisServer::launch();
    let a = RedisTokenStore::new(cache(&redis, KEY));
    let b = RedisTokenStore::new(cache(&redis, KEY));
    a.save("k", &StoredToken::with_refresh_token("r1"))
        .await
        .expect("seed");
    a.load("k").await.expect("a loads");
    b.load("k").await.expect("b loads");
    b.save("k", &StoredToken::with_refresh_token("r2"))
        .await
        .expect("b rotates");
    let err = a
        .save("k", &StoredToken::with_refresh_token("r2-stale"))
        .await
        .expect_err("a's view is stale");
    assert!(
        err.to_string().contains("changed by another process"),
        "{err}"
    );
    let kept = a.load("k").await.expect("load").expect("record");
    assert_eq!(kept.refresh_token.expect("rt").expose_secret(), "r2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_front_of_the_fleet_the_in_process_cache_serves_without_redis() {
    let redis = RedisServer::launch();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = FnTokenSource::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            AccessToken::builder("t")
                .expires_in(Duration::from_secs(3600))
                .build()
        }
    });
    let key = FleetKey::builder("https://idp.example/token", "c").build();
    let source = CachedTokenSource::new(cache(&redis, KEY).wrap(inner, &key));
    source.token().await.expect("first");
    drop(redis);
    for _ in 0..100 {
        assert!(source.current().is_some(), "served from memory");
        source.token().await.expect("cached");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_rejected_in_one_process_is_replaced_for_the_fleet() {
    let redis = RedisServer::launch();
    let server = token_server(3600).await;
    let a = CachedTokenSource::new(source(&redis, &server));
    let t1 = a.token().await.expect("t1");
    // The layer's 401 path: the in-process cache drops it; the next fetch finds the same token
    // in Redis, the one this process holds, so it replaces it for everyone.
    a.invalidate(&t1);
    let t2 = a.token().await.expect("t2");
    assert_ne!(t2.secret().expose_secret(), t1.secret().expose_secret());
    let b = source(&redis, &server).token().await.expect("b");
    assert_eq!(b.secret().expose_secret(), t2.secret().expose_secret());
    assert_eq!(server.fetches(), 2);
}
