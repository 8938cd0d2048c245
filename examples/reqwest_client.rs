//! tower-auth with reqwest, offline: every auth method as a `reqwest-middleware` middleware
//! against the embedded provider (an API and a token endpoint on 127.0.0.1).
//!
//! Shows the static methods (bearer, API key in a header and in the query, Basic), OAuth 2.0
//! client credentials with one token cache shared by two clients, a revoked token healed by
//! one retry, a wrong credential surfacing as a typed `AuthError`, and a request to another
//! origin sent without the credential. Exits non-zero if any step fails.
//!
//! Run it with `cargo run --example reqwest_client --features reqwest`.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use auth_test_support::demo::{self, DemoProvider};
use reqwest::StatusCode;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware};
use tower_auth::{
    prelude::*,
    reqwest::{
        CredentialMiddleware, TokenMiddleware, install_ring_provider, reqwest, reqwest_middleware,
    },
};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn client(middleware: impl Middleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

/// Sends `GET /api/whoami` and checks the status.
async fn check(
    client: &ClientWithMiddleware,
    url: &str,
    what: &str,
    want: StatusCode,
) -> Result<reqwest::Response, Error> {
    let response = client.get(url).send().await?;
    let status = response.status();
    println!("{:<44} -> {status}", what);
    if status != want {
        return Err(format!("{what}: expected {want}, got {status}").into());
    }
    Ok(response)
}

async fn run() -> Result<(), Error> {
    // reqwest here uses rustls with ring, as the rest of tower-auth does.
    install_ring_provider();
    let provider = DemoProvider::start(Duration::from_secs(60)).await?;
    let whoami = provider.url("/api/whoami");
    println!("embedded provider on {}\n", provider.url(""));

    let bearer = BearerLayer::new(demo::BEARER_TOKEN)?;
    check(
        &client(CredentialMiddleware::new(bearer)),
        &whoami,
        "bearer",
        StatusCode::OK,
    )
    .await?;
    let header_key = ApiKeyLayer::header("X-API-Key", demo::API_KEY).build()?;
    let client_header_key = client(CredentialMiddleware::new(header_key));
    check(
        &client_header_key,
        &whoami,
        "API key (header)",
        StatusCode::OK,
    )
    .await?;
    let query_key = ApiKeyLayer::query("api_key", demo::API_KEY).build()?;
    let stale = format!("{whoami}?api_key=stale");
    let client_query_key = client(CredentialMiddleware::new(query_key));
    check(
        &client_query_key,
        &stale,
        "API key (query, replacing `stale`)",
        StatusCode::OK,
    )
    .await?;
    let basic = BasicAuthLayer::new(demo::BASIC_USER, demo::BASIC_PASSWORD)?;
    check(
        &client(CredentialMiddleware::new(basic)),
        &whoami,
        "Basic (UTF-8)",
        StatusCode::OK,
    )
    .await?;

    // A wrong credential: the 401 carries a typed error saying what was sent (never the secret).
    let wrong = client(CredentialMiddleware::new(BearerLayer::new("wrong-token")?));
    let response = check(
        &wrong,
        &whoami,
        "a wrong bearer token",
        StatusCode::UNAUTHORIZED,
    )
    .await?;
    let error = response
        .extensions()
        .get::<AuthError>()
        .ok_or("no AuthError on the 401")?;
    println!("  {error}");

    // OAuth 2.0 client credentials: one cache, shared by two clients (and any Tower stack).
    let oauth =
        OAuth2Layer::client_credentials(provider.token_url(), demo::CLIENT_ID, demo::CLIENT_SECRET)
            .build()?;
    let origin = Origin::of_url(&whoami)?;
    let layer = oauth.into_token_layer().restrict_to_origin(origin);
    let first = client(TokenMiddleware::from(layer.clone()));
    let second = client(TokenMiddleware::from(layer));
    for client in [&first, &second, &first] {
        check(client, &whoami, "client credentials", StatusCode::OK).await?;
    }
    println!("  token fetches: {}", provider.token_fetches());
    if provider.token_fetches() != 1 {
        return Err("the two clients did not share one token".into());
    }

    // The provider revokes every token: the next request gets a 401, fetches a fresh token and
    // is sent once more.
    provider.revoke_all();
    check(
        &first,
        &whoami,
        "after revocation (one retry)",
        StatusCode::OK,
    )
    .await?;
    println!("  token fetches: {}", provider.token_fetches());

    // Another origin (a second provider on another port): sent as it is, no token fetched.
    let other = DemoProvider::start(Duration::from_secs(60)).await?;
    let fetches = provider.token_fetches();
    let url = other.url("/api/whoami");
    check(
        &first,
        &url,
        "another origin: no token",
        StatusCode::UNAUTHORIZED,
    )
    .await?;
    if provider.token_fetches() != fetches {
        return Err("a token was fetched for another origin".into());
    }
    println!("\nall steps passed");
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        println!("FAILED: {error}");
        std::process::exit(1);
    }
}
