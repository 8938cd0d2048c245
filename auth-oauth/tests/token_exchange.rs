//! Token exchange (RFC 8693) against panva's oidc-provider, where token exchange is registered
//! as an extension grant: the subject (and actor) must be an active access token the provider
//! issued, and each exchange is reported with whose tokens they were.

use std::{collections::HashMap, sync::Arc};

use auth_core::{
    AccessToken, ErrorKind, ExposeSecret, FnTokenSource, KeyedTokenSource, TokenKey, TokenSource,
};
use auth_oauth::{
    OAuth2Layer, TokenEndpoint, TokenParams,
    grant::{SubjectToken, TokenExchange, per_user_exchange, token_exchange::token_type},
    revocation::{Revocation, TokenTypeHint},
};
use auth_test_support::oidc_provider::{CONFIDENTIAL, DEVICE, OidcProvider};

const USER_SCOPES: &str = "openid offline_access api:read";

async fn user_token(provider: &OidcProvider, account: &str) -> String {
    let tokens = provider.device_sign_in(DEVICE, account, USER_SCOPES).await;
    tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

fn secret() -> &'static str {
    CONFIDENTIAL.secret.expect("confidential secret")
}

fn endpoint(provider: &OidcProvider) -> TokenEndpoint {
    TokenEndpoint::builder(provider.token_url(), CONFIDENTIAL.id)
        .client_secret(secret())
        .build()
        .expect("endpoint")
}

#[tokio::test]
async fn a_users_token_is_exchanged_and_the_issued_token_is_active() {
    let provider = OidcProvider::start().await;
    let alice = user_token(&provider, "alice").await;
    let oauth = OAuth2Layer::token_exchange(
        provider.token_url(),
        CONFIDENTIAL.id,
        SubjectToken::fixed(alice.clone()),
    )
    .client_secret(secret())
    .scopes("api:read")
    .audience("https://ledger.example.test")
    .build()
    .expect("layer");
    let token = oauth.source().token().await.expect("exchanged");
    assert_ne!(token.secret().expose_secret(), alice);
    assert_eq!(
        token.grant_type(),
        Some(auth_oauth::grant::TOKEN_EXCHANGE_GRANT_TYPE)
    );
    assert!(token.expires_at().is_some());

    let info = provider.introspect(token.secret().expose_secret()).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], CONFIDENTIAL.id, "{info}");
    let exchange = &provider.exchanges(1).await[0];
    assert_eq!(exchange["subject"], "alice", "{exchange}");
    assert_eq!(exchange["actor"], serde_json::Value::Null, "{exchange}");
    assert_eq!(exchange["audience"], "https://ledger.example.test");
    assert_eq!(exchange["scope"], "api:read");
    // What the provider received: the default subject token type, client authenticated.
    let grant = provider
        .grants(2)
        .await
        .into_iter()
        .find(|g| g["grant_type"] == auth_oauth::grant::TOKEN_EXCHANGE_GRANT_TYPE)
        .expect("the exchange's grant event");
    assert_eq!(grant["ok"], true, "{grant}");
    assert_eq!(
        grant["params"]["subject_token_type"],
        token_type::ACCESS_TOKEN
    );

    // Cached: a second call does not exchange again.
    let again = oauth.source().token().await.expect("cached");
    assert!(again.same_as(&token));
    assert_eq!(provider.exchanges(1).await.len(), 1);
}

#[tokio::test]
async fn an_actor_token_names_who_acts_for_the_subject() {
    let provider = OidcProvider::start().await;
    let alice = user_token(&provider, "alice").await;
    let service = provider.client_credentials(CONFIDENTIAL, "api:read").await;
    let grant = TokenExchange::new(
        endpoint(&provider),
        SubjectToken::fixed(alice),
        TokenParams::new().scopes("api:read"),
    )
    .expect("grant")
    .actor_token(SubjectToken::fixed(service), token_type::ACCESS_TOKEN)
    .requested_token_type(token_type::ACCESS_TOKEN);
    let response = grant.exchange().await.expect("exchanged");
    assert_eq!(response.issued_token_type(), Some(token_type::ACCESS_TOKEN));
    let exchange = &provider.exchanges(1).await[0];
    assert_eq!(exchange["subject"], "alice", "{exchange}");
    assert_eq!(exchange["actor"], CONFIDENTIAL.id, "{exchange}");
}

#[tokio::test]
async fn a_rotated_subject_file_is_read_again_at_the_next_exchange() {
    let provider = OidcProvider::start().await;
    let alice = user_token(&provider, "alice").await;
    let bob = user_token(&provider, "bob").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("subject-token");
    std::fs::write(&file, format!("{alice}\n")).expect("write");
    let oauth = OAuth2Layer::token_exchange(
        provider.token_url(),
        CONFIDENTIAL.id,
        SubjectToken::file(&file),
    )
    .client_secret(secret())
    .build()
    .expect("layer");
    let first = oauth.source().token().await.expect("first exchange");
    assert_eq!(provider.exchanges(1).await[0]["subject"], "alice");

    // The file rotates under the process (as a projected service-account token does), a new
    // file replacing the old one by rename.
    let next = dir.path().join("subject-token.next");
    std::fs::write(&next, format!("{bob}\n")).expect("write");
    std::fs::rename(&next, &file).expect("rename");
    // Still cached: the file is not read per request.
    assert!(
        oauth
            .source()
            .token()
            .await
            .expect("cached")
            .same_as(&first)
    );
    // The API rejected the token (a 401): the next exchange presents the new file's token.
    oauth.source().invalidate(&first);
    let second = oauth.source().token().await.expect("second exchange");
    assert!(!second.same_as(&first));
    let exchanges = provider.exchanges(2).await;
    assert_eq!(exchanges[1]["subject"], "bob", "{exchanges:?}");
    let info = provider.introspect(second.secret().expose_secret()).await;
    assert_eq!(info["active"], true, "{info}");
}

#[tokio::test]
async fn a_revoked_or_unknown_subject_token_is_invalid_grant_named_by_the_provider() {
    let provider = OidcProvider::start().await;
    let alice = user_token(&provider, "alice").await;
    Revocation::new(provider.revocation_url(), endpoint(&provider))
        .expect("revocation")
        .revoke(&alice.clone().into(), TokenTypeHint::AccessToken)
        .await
        .expect("revoked");
    assert_eq!(provider.introspect(&alice).await["active"], false);
    for subject in [alice.as_str(), "not-a-token-the-provider-issued"] {
        let grant = TokenExchange::new(
            endpoint(&provider),
            SubjectToken::fixed(subject.to_owned()),
            TokenParams::new(),
        )
        .expect("grant");
        let err = grant.fetch().await.expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidGrant, "{err}");
        assert_eq!(
            err.provider().map(|p| p.code.as_str()),
            Some("invalid_grant")
        );
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("error `invalid_grant`"), "{shown}");
        assert!(!shown.contains(subject), "{shown}");
    }
    // The provider refused both exchanges itself (no token was issued).
    // The device sign-in's grant, then the two refusals.
    let refused: Vec<_> = provider
        .grants(3)
        .await
        .into_iter()
        .filter(|g| g["grant_type"] == auth_oauth::grant::TOKEN_EXCHANGE_GRANT_TYPE)
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|g| g["ok"] == false && g["error"] == "invalid_grant")
    );
    assert!(provider.exchanges(0).await.is_empty());
}

#[tokio::test]
async fn each_user_gets_a_token_exchanged_from_their_own() {
    let provider = OidcProvider::start().await;
    let mut tokens = HashMap::new();
    for user in ["alice", "bob"] {
        tokens.insert(user.to_owned(), user_token(&provider, user).await);
    }
    let tokens = Arc::new(tokens);
    // The users' own tokens, e.g. from their sign-in to this service.
    let users = KeyedTokenSource::builder(move |key: &TokenKey| {
        let token = tokens.get(key.subject()).cloned();
        Ok(FnTokenSource::new(move || {
            let token = token.clone();
            async move {
                let token = token.ok_or_else(|| {
                    auth_core::AuthError::new(ErrorKind::NotSignedIn, "unknown user")
                })?;
                AccessToken::bearer(token)
            }
        }))
    })
    .build();
    let exchanged = per_user_exchange(
        endpoint(&provider),
        users,
        TokenParams::new().scopes("api:read"),
    )
    .build();
    let alice = exchanged
        .token(&TokenKey::new("alice"))
        .await
        .expect("alice");
    let bob = exchanged.token(&TokenKey::new("bob")).await.expect("bob");
    assert!(!alice.same_as(&bob));
    let subjects: Vec<String> = provider
        .exchanges(2)
        .await
        .iter()
        .map(|e| e["subject"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(subjects, ["alice", "bob"]);
    // Cached per key: alice again does not exchange again.
    exchanged
        .token(&TokenKey::new("alice"))
        .await
        .expect("cached");
    assert_eq!(provider.exchanges(2).await.len(), 2);
}

/// What RFC 8693 §2.2.1 leaves to the client: `token_type` `N_A` for a token that is not an
/// access token, and (lenient only) an answer without `issued_token_type`.
#[tokio::test]
async fn not_applicable_token_types_and_lenient_answers() {
    use auth_test_support::token_server::{Fault, TokenServer};
    use serde_json::json;

    let server = TokenServer::builder()
        .client("id", Some("secret"))
        .start()
        .await;
    let endpoint = TokenEndpoint::builder(server.token_url(), "id")
        .client_secret("secret")
        .build()
        .expect("endpoint");
    let grant = TokenExchange::new(endpoint, SubjectToken::fixed("subject"), TokenParams::new())
        .expect("grant")
        .requested_token_type(token_type::ID_TOKEN);
    server.push_fault(Fault::json(
        200,
        json!({ "access_token": "an-id-token", "token_type": "N_A",
                "issued_token_type": token_type::ID_TOKEN, "expires_in": 60 }),
    ));
    let token = grant.fetch().await.expect("an N_A id token is accepted");
    assert_eq!(token.header_value(), "Bearer an-id-token");
    let sent = server.requests();
    let last = sent.last().expect("a request");
    assert_eq!(
        last.field("requested_token_type"),
        Some(token_type::ID_TOKEN)
    );
    assert_eq!(last.field("subject_token"), Some("subject"));

    // N_A for an access token is not a usable access token.
    server.push_fault(Fault::json(
        200,
        json!({ "access_token": "x", "token_type": "N_A",
                "issued_token_type": token_type::ACCESS_TOKEN }),
    ));
    let err = grant.fetch().await.expect_err("N_A access token");
    assert_eq!(err.kind(), ErrorKind::UnsupportedTokenType, "{err}");

    server.push_fault(Fault::json(
        200,
        json!({ "access_token": "x", "token_type": "Bearer" }),
    ));
    let err = grant.fetch().await.expect_err("no issued_token_type");
    assert_eq!(err.kind(), ErrorKind::MalformedResponse, "{err}");
    assert!(err.to_string().contains("issued_token_type"), "{err}");
    server.push_fault(Fault::json(
        200,
        json!({ "access_token": "x", "token_type": "Bearer" }),
    ));
    grant
        .clone()
        .lenient(true)
        .fetch()
        .await
        .expect("lenient accepts it");
}
