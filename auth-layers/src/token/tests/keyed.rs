//! A keyed layer's 401: the retry invalidates and refetches the token of the request's own key,
//! picked again from the request's copy (a request sent with a token at hand keeps no reference
//! to its key's source).

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use auth_core::{AccessToken, FnTokenSource, KeyedTokenSource, TokenKey, TokenSource};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use super::{answer, authorization};
use crate::TokenLayer;

/// Fetches per user.
type Counts = Arc<Mutex<HashMap<String, usize>>>;

/// The `Authorization` headers the API saw, in order.
type Seen = Arc<Mutex<Vec<String>>>;

/// A keyed source whose user `u` gets `u-1`, `u-2`, … (numbered per user, across rebuilds of the
/// user's source).
fn users(counts: &Counts) -> KeyedTokenSource<TokenKey, Arc<dyn TokenSource>> {
    let counts = counts.clone();
    KeyedTokenSource::builder(move |key: &TokenKey| {
        let counts = counts.clone();
        let user = key.subject().to_owned();
        let source: Arc<dyn TokenSource> = Arc::new(FnTokenSource::new(move || {
            let n = {
                let mut counts = counts.lock().expect("counts");
                let n = counts.entry(user.clone()).or_default();
                *n += 1;
                *n
            };
            let value = format!("{user}-{n}");
            async move {
                AccessToken::builder(value)
                    .expires_in(Duration::from_secs(3600))
                    .build()
            }
        }));
        Ok(source)
    })
    .build()
}

fn fetches(counts: &Counts, user: &str) -> usize {
    counts
        .lock()
        .expect("counts")
        .get(user)
        .copied()
        .unwrap_or(0)
}

/// A request for `user`, with a body that can be replayed.
fn request_of(user: &str) -> Request<Full<Bytes>> {
    let mut request = Request::post("https://api.example/items")
        .body(Full::new(Bytes::from_static(b"{}")))
        .expect("request");
    request.extensions_mut().insert(TokenKey::new(user));
    request
}

async fn send<S>(client: &mut S, user: &str) -> StatusCode
where
    S: Service<Request<Full<Bytes>>, Response = Response<()>>,
    S::Error: std::fmt::Debug,
{
    let ready = client.ready().await.expect("ready");
    ready
        .call(request_of(user))
        .await
        .expect("response")
        .status()
}

fn seen_since(seen: &Seen, from: usize) -> Vec<String> {
    seen.lock().expect("seen")[from..].to_vec()
}

#[tokio::test]
async fn a_401_refreshes_the_token_of_the_requests_own_key_and_retries_once() {
    let counts = Counts::default();
    let revoked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let seen = Seen::default();
    let (refused, log) = (revoked.clone(), seen.clone());
    let api = service_fn(move |request: Request<Full<Bytes>>| {
        let token = authorization(&request);
        let status = if refused.lock().expect("revoked").contains(&token) {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        log.lock().expect("seen").push(token);
        async move { Ok::<_, Infallible>(answer(status)) }
    });
    let mut client = ServiceBuilder::new()
        .layer(TokenLayer::keyed(users(&counts)))
        .service(api);
    assert_eq!(send(&mut client, "alice").await, StatusCode::OK);
    assert_eq!(send(&mut client, "bob").await, StatusCode::OK);
    // The server revokes alice's token; her next request goes out with it (it is at hand).
    revoked
        .lock()
        .expect("revoked")
        .insert("Bearer alice-1".to_owned());
    let from = seen.lock().expect("seen").len();
    assert_eq!(send(&mut client, "alice").await, StatusCode::OK);
    assert_eq!(
        seen_since(&seen, from),
        ["Bearer alice-1", "Bearer alice-2"]
    );
    // Bob's token was neither invalidated nor refetched.
    assert_eq!(send(&mut client, "bob").await, StatusCode::OK);
    assert_eq!(send(&mut client, "alice").await, StatusCode::OK);
    assert_eq!(
        seen_since(&seen, from + 2),
        ["Bearer bob-1", "Bearer alice-2"]
    );
    assert_eq!((fetches(&counts, "alice"), fetches(&counts, "bob")), (2, 1));
}

#[tokio::test]
async fn a_key_evicted_before_its_401_is_built_again_for_the_retry() {
    let counts = Counts::default();
    let keyed = users(&counts);
    let seen = Seen::default();
    let armed = Arc::new(Mutex::new(false));
    let (evicting, log, fire) = (keyed.clone(), seen.clone(), armed.clone());
    let api = service_fn(move |request: Request<Full<Bytes>>| {
        let token = authorization(&request);
        log.lock().expect("seen").push(token.clone());
        let mut status = StatusCode::OK;
        if token == "Bearer alice-1" && *fire.lock().expect("armed") {
            // The key goes while its request is in flight (evicted, or the user signed out).
            assert!(evicting.remove(&TokenKey::new("alice")));
            status = StatusCode::UNAUTHORIZED;
        }
        async move { Ok::<_, Infallible>(answer(status)) }
    });
    let mut client = ServiceBuilder::new()
        .layer(TokenLayer::keyed(keyed.clone()))
        .service(api);
    assert_eq!(send(&mut client, "alice").await, StatusCode::OK);
    *armed.lock().expect("armed") = true;
    let from = seen.lock().expect("seen").len();
    assert_eq!(send(&mut client, "alice").await, StatusCode::OK);
    assert_eq!(
        seen_since(&seen, from),
        ["Bearer alice-1", "Bearer alice-2"]
    );
    // The retry built alice's source again and left it in the map.
    assert_eq!(keyed.len(), 1);
    assert_eq!(fetches(&counts, "alice"), 2);
}
