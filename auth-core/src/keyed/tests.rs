//! Tests of [`KeyedTokenSource`]: one source per key, the bound, eviction, failing closed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Notify;

use super::*;
use crate::FnTokenSource;

/// Fetches per subject, counted by a shared map.
type Counts = Arc<Mutex<HashMap<String, usize>>>;

fn counted(counts: &Counts) -> KeyedTokenSourceBuilder<TokenKey, Arc<dyn TokenSource>> {
    let counts = counts.clone();
    KeyedTokenSource::builder(move |key: &TokenKey| {
        let counts = counts.clone();
        let subject = key.subject().to_owned();
        let resource = key.requested_resource().unwrap_or("-").to_owned();
        let source: Arc<dyn TokenSource> = Arc::new(FnTokenSource::new(move || {
            let n = {
                let mut counts = counts.lock().expect("counts");
                let n = counts.entry(subject.clone()).or_default();
                *n += 1;
                *n
            };
            let value = format!("{subject}-{resource}-{n}");
            async move {
                tokio::task::yield_now().await;
                AccessToken::builder(value)
                    .expires_in(Duration::from_secs(3600))
                    .build()
            }
        }));
        Ok(source)
    })
}

fn fetches(counts: &Counts, subject: &str) -> usize {
    counts
        .lock()
        .expect("counts")
        .get(subject)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn each_key_gets_its_own_token_with_one_fetch_per_key() {
    let counts = Counts::default();
    let keyed = counted(&counts).build();
    let mut calls = Vec::new();
    for i in 0..300 {
        let keyed = keyed.clone();
        let user = ["alice", "bob", "carol"][i % 3];
        calls.push(tokio::spawn(async move {
            let token = keyed.token(&TokenKey::new(user)).await.expect("token");
            (user, token)
        }));
    }
    for call in calls {
        let (user, token) = call.await.expect("task");
        assert_eq!(token.header_value(), &format!("Bearer {user}---1")[..]);
    }
    for user in ["alice", "bob", "carol"] {
        assert_eq!(fetches(&counts, user), 1, "{user}");
    }
    assert_eq!(keyed.len(), 3);
}

#[tokio::test]
async fn two_resources_of_one_user_are_two_tokens() {
    let counts = Counts::default();
    let keyed = counted(&counts).build();
    let a = TokenKey::new("alice").resource("https://a.example");
    let b = TokenKey::new("alice").resource("https://b.example");
    let ta = keyed.token(&a).await.expect("token");
    let tb = keyed.token(&b).await.expect("token");
    assert!(!ta.same_as(&tb));
    assert_eq!(ta.header_value(), "Bearer alice-https://a.example-1");
    assert_eq!(tb.header_value(), "Bearer alice-https://b.example-2");
    assert_eq!(keyed.len(), 2);
}

#[tokio::test]
async fn the_bound_holds_and_evicted_keys_refetch_once() {
    let counts = Counts::default();
    let keyed = counted(&counts).max_keys(1_000).build();
    for i in 0..10_000 {
        keyed
            .token(&TokenKey::new(format!("user-{i}")))
            .await
            .expect("ok");
        assert!(keyed.len() <= 1_000);
    }
    assert_eq!(keyed.len(), 1_000);
    // user-0 was evicted long ago: asking again costs exactly one more fetch, then it is cached.
    assert_eq!(fetches(&counts, "user-0"), 1);
    keyed.token(&TokenKey::new("user-0")).await.expect("token");
    keyed.token(&TokenKey::new("user-0")).await.expect("token");
    assert_eq!(fetches(&counts, "user-0"), 2);
    // The newest keys were kept.
    keyed
        .token(&TokenKey::new("user-9999"))
        .await
        .expect("token");
    assert_eq!(fetches(&counts, "user-9999"), 1);
}

#[tokio::test(start_paused = true)]
async fn the_least_recently_used_key_goes_first() {
    // A key is used when its token is asked for, directly or as the token at hand for a
    // request that carries the key.
    for through_extensions in [false, true] {
        let counts = Counts::default();
        let keyed = counted(&counts).max_keys(2).build();
        let (a, b, c) = (TokenKey::new("a"), TokenKey::new("b"), TokenKey::new("c"));
        keyed.token(&a).await.expect("token");
        tokio::time::advance(Duration::from_millis(5)).await;
        keyed.token(&b).await.expect("token");
        tokio::time::advance(Duration::from_millis(5)).await;
        // a is now more recent than b
        if through_extensions {
            let mut extensions = http::Extensions::new();
            extensions.insert(a.clone());
            let at_hand = keyed.current_for_extensions(&extensions).expect("key");
            assert!(at_hand.is_some());
        } else {
            keyed.token(&a).await.expect("token");
        }
        tokio::time::advance(Duration::from_millis(5)).await;
        keyed.token(&c).await.expect("token"); // evicts b
        keyed.token(&a).await.expect("token");
        assert_eq!(fetches(&counts, "a"), 1);
        keyed.token(&b).await.expect("token");
        assert_eq!(fetches(&counts, "b"), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn idle_keys_are_evicted_when_room_is_needed() {
    let counts = Counts::default();
    let keyed = counted(&counts)
        .max_keys(3)
        .idle_timeout(Duration::from_secs(60))
        .build();
    keyed.token(&TokenKey::new("a")).await.expect("token");
    keyed.token(&TokenKey::new("b")).await.expect("token");
    tokio::time::advance(Duration::from_secs(50)).await;
    keyed.token(&TokenKey::new("c")).await.expect("token");
    tokio::time::advance(Duration::from_secs(20)).await;
    // a and b are idle (70 s), c is not: both idle keys go, not only the one room needs.
    keyed.token(&TokenKey::new("d")).await.expect("token");
    assert_eq!(keyed.len(), 2);
    keyed.token(&TokenKey::new("c")).await.expect("token");
    assert_eq!(fetches(&counts, "c"), 1);
}

#[tokio::test]
async fn evicting_a_key_never_cancels_a_fetch_its_callers_wait_for() {
    let release = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let (r, s) = (release.clone(), started.clone());
    let keyed = KeyedTokenSource::builder(move |key: &TokenKey| {
        let (r, s) = (r.clone(), s.clone());
        let subject = key.subject().to_owned();
        Ok(FnTokenSource::new(move || {
            let (r, s, subject) = (r.clone(), s.clone(), subject.clone());
            async move {
                s.notify_one();
                r.notified().await;
                AccessToken::builder(subject)
                    .expires_in(Duration::from_secs(60))
                    .build()
            }
        }))
    })
    .max_keys(1)
    .build();
    let waiter = {
        let keyed = keyed.clone();
        tokio::spawn(async move { keyed.token(&TokenKey::new("slow")).await })
    };
    started.notified().await;
    assert!(keyed.remove(&TokenKey::new("slow")));
    assert!(keyed.is_empty());
    release.notify_one();
    let token = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter got its token")
        .expect("ok")
        .expect("ok");
    assert_eq!(token.header_value(), "Bearer slow");
}

#[tokio::test]
async fn a_key_that_cannot_be_built_fails_alone_and_is_tried_again() {
    let attempts = Arc::new(Mutex::new(0));
    let seen = attempts.clone();
    let keyed = KeyedTokenSource::builder(move |key: &TokenKey| {
        if key.subject() == "broken" {
            *seen.lock().expect("attempts") += 1;
            return Err(AuthError::config(
                "connections.crm.auth.client_secret",
                "environment variable `CRM_SECRET_broken` is not set",
            ));
        }
        Ok(crate::StaticTokenSource::new(AccessToken::bearer("ok")?))
    })
    .build();
    let error = keyed
        .token(&TokenKey::new("broken"))
        .await
        .expect_err("fails");
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("CRM_SECRET_broken"), "{error}");
    assert!(keyed.token(&TokenKey::new("fine")).await.is_ok());
    assert!(keyed.token(&TokenKey::new("broken")).await.is_err());
    assert_eq!(*attempts.lock().expect("attempts"), 2);
    assert_eq!(keyed.len(), 1);
}

#[tokio::test]
async fn a_request_without_a_key_fails_closed() {
    let counts = Counts::default();
    let keyed = counted(&counts).build();
    keyed.token(&TokenKey::new("alice")).await.expect("token");
    let error = keyed
        .for_extensions(&http::Extensions::new())
        .expect_err("no key, no source");
    assert_eq!(error.kind(), ErrorKind::NoTokenKey);
    assert!(error.to_string().contains("TokenKey"), "{error}");
    // Asked directly for "a" token, the keyed source never picks a key either.
    let error = TokenSource::token(&keyed).await.expect_err("fails");
    assert_eq!(error.kind(), ErrorKind::NoTokenKey);
    let mut extensions = http::Extensions::new();
    extensions.insert(TokenKey::new("alice"));
    let entry = keyed.for_extensions(&extensions).expect("ok");
    assert_eq!(
        entry.current().expect("ok").header_value(),
        "Bearer alice---1"
    );
}

#[tokio::test]
async fn the_token_at_hand_for_a_requests_key_builds_nothing_and_fails_closed_without_a_key() {
    let counts = Counts::default();
    let keyed = counted(&counts).build();
    let error = keyed
        .current_for_extensions(&http::Extensions::new())
        .expect_err("no key, no token");
    assert_eq!(error.kind(), ErrorKind::NoTokenKey);
    let mut extensions = http::Extensions::new();
    extensions.insert(TokenKey::new("alice"));
    // A key not held yet: nothing at hand, and nothing is built or fetched for it.
    assert!(
        keyed
            .current_for_extensions(&extensions)
            .expect("ok")
            .is_none()
    );
    assert_eq!(keyed.len(), 0);
    assert_eq!(fetches(&counts, "alice"), 0);
    keyed.token(&TokenKey::new("alice")).await.expect("token");
    let token = keyed.current_for_extensions(&extensions).expect("ok");
    assert_eq!(token.expect("at hand").header_value(), "Bearer alice---1");
    // Invalidated: nothing at hand until the next fetch.
    keyed.invalidate_key(&TokenKey::new("alice"));
    assert!(
        keyed
            .current_for_extensions(&extensions)
            .expect("ok")
            .is_none()
    );
    assert_eq!(fetches(&counts, "alice"), 1);
}

#[tokio::test]
async fn invalidating_a_key_refetches_that_key_only() {
    let counts = Counts::default();
    let keyed = counted(&counts).build();
    let (alice, bob) = (TokenKey::new("alice"), TokenKey::new("bob"));
    keyed.token(&alice).await.expect("token");
    keyed.token(&bob).await.expect("token");
    keyed.invalidate_key(&alice);
    assert_eq!(
        keyed.token(&alice).await.expect("token").header_value(),
        "Bearer alice---2"
    );
    assert_eq!(
        keyed.token(&bob).await.expect("token").header_value(),
        "Bearer bob---1"
    );
}

#[test]
fn debug_shows_no_key_and_no_token() {
    let keyed = KeyedTokenSource::builder(|_: &TokenKey| {
        Ok(crate::StaticTokenSource::new(AccessToken::bearer(
            "canary-secret-token",
        )?))
    })
    .build();
    let entry = keyed
        .source(&TokenKey::new("alice@example.com"))
        .expect("ok");
    let shown = format!("{keyed:?} {entry:?}");
    assert!(!shown.contains("canary-secret-token"), "{shown}");
    assert!(!shown.contains("alice@example.com"), "{shown}");
}

#[tokio::test(start_paused = true)]
async fn each_key_is_refreshed_in_the_background_before_it_expires() {
    let counts = Counts::default();
    let source = counts.clone();
    let keyed = KeyedTokenSource::builder(move |key: &TokenKey| {
        let counts = source.clone();
        let subject = key.subject().to_owned();
        Ok(FnTokenSource::new(move || {
            let n = {
                let mut counts = counts.lock().expect("counts");
                let n = counts.entry(subject.clone()).or_default();
                *n += 1;
                *n
            };
            let value = format!("{subject}-{n}");
            async move {
                AccessToken::builder(value)
                    .expires_in(Duration::from_secs(120))
                    .build()
            }
        }))
    })
    .cache_config(
        CacheConfig::default()
            .refresh_before(Duration::from_secs(30))
            .jitter(false),
    )
    .build();
    let (alice, bob) = (TokenKey::new("alice"), TokenKey::new("bob"));
    keyed.token(&alice).await.expect("token");
    tokio::time::advance(Duration::from_secs(60)).await;
    keyed.token(&bob).await.expect("token");
    tokio::time::advance(Duration::from_secs(35)).await;
    // alice is inside her refresh window (95 s of 120, skew 30 s): still served, one refresh
    // starts in the background; bob (35 s old) is left alone.
    assert_eq!(
        keyed.token(&alice).await.expect("token").header_value(),
        "Bearer alice-1"
    );
    assert_eq!(
        keyed.token(&bob).await.expect("token").header_value(),
        "Bearer bob-1"
    );
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(fetches(&counts, "alice"), 2);
    assert_eq!(fetches(&counts, "bob"), 1);
    assert_eq!(
        keyed.token(&alice).await.expect("token").header_value(),
        "Bearer alice-2"
    );
}
