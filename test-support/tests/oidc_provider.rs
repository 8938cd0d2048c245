//! The oidc-provider harness itself: it starts, the browser side of the device flow signs a
//! user in, introspection and the recorded events tell the truth.

use auth_test_support::oidc_provider::{CONFIDENTIAL, DEVICE, DPOP, OidcProvider};
use http::StatusCode;

#[tokio::test]
async fn device_sign_in_through_the_providers_own_pages() {
    let provider = OidcProvider::start().await;
    let tokens = provider
        .device_sign_in(DEVICE, "alice", "openid offline_access api:read")
        .await;
    let access = tokens["access_token"].as_str().expect("access token");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let info = provider.introspect(access).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], "alice", "{info}");
    let (status, _) = provider.userinfo_as_bearer(access).await;
    assert_eq!(status, StatusCode::OK);
    let grants = provider.grants(1).await;
    assert_eq!(
        grants[0]["grant_type"],
        "urn:ietf:params:oauth:grant-type:device_code"
    );
    assert_eq!(grants[0]["ok"], true);
}

#[tokio::test]
async fn a_denied_device_code_gets_access_denied() {
    let provider = OidcProvider::start().await;
    let started = provider
        .device_authorization(DEVICE, "openid api:read")
        .await;
    let device_code = started["device_code"].as_str().expect("device_code");
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code),
    ];
    let (status, body) = provider.token_request(DEVICE, &poll).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "authorization_pending", "{body}");
    provider
        .deny_device(started["user_code"].as_str().expect("user_code"))
        .await
        .expect("the refusal");
    let (status, body) = provider.token_request(DEVICE, &poll).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "access_denied", "{body}");
}

#[tokio::test]
async fn dpop_bound_client_refuses_a_request_without_proof() {
    let provider = OidcProvider::start().await;
    let (status, body) = provider
        .token_request(DPOP, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let refused = provider.grants(1).await;
    assert_eq!(refused[0]["ok"], false);
    assert_eq!(refused[0]["dpop"], false);
    let cc = provider.client_credentials(CONFIDENTIAL, "api:read").await;
    assert_eq!(provider.introspect(&cc).await["active"], true);
}
