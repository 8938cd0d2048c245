//! Which client authentication and token URL the metadata leads to (no server needed).

use auth_core::{ErrorKind, SecretString};
use auth_oauth::{AuthServerMetadata, ClientAuth, Url};
use serde_json::{Value, json};

use super::{document, http};

fn metadata(methods: Option<&[&str]>) -> AuthServerMetadata {
    let issuer = "https://auth.example.com";
    let mut doc = document(issuer);
    match methods {
        Some(methods) => doc["token_endpoint_auth_methods_supported"] = json!(methods),
        None => {
            doc.as_object_mut()
                .expect("object")
                .remove("token_endpoint_auth_methods_supported");
        }
    }
    let Value::Object(object) = doc else {
        unreachable!("a JSON object")
    };
    let source =
        Url::parse("https://auth.example.com/.well-known/oauth-authorization-server").expect("url");
    AuthServerMetadata::from_json(object, issuer, source, &http()).expect("valid metadata")
}

#[test]
fn the_auth_method_prefers_basic_then_post_then_keys_and_certificates() {
    use ClientAuth as M;
    for (methods, expected) in [
        (
            Some(&["client_secret_post", "client_secret_basic"][..]),
            Some(M::Basic),
        ),
        (
            Some(&["private_key_jwt", "client_secret_post"][..]),
            Some(M::Body),
        ),
        (
            Some(&["tls_client_auth", "private_key_jwt"][..]),
            Some(M::PrivateKeyJwt),
        ),
        (
            Some(&["self_signed_tls_client_auth", "tls_client_auth"][..]),
            Some(M::TlsClientAuth),
        ),
        (
            Some(&["self_signed_tls_client_auth"][..]),
            Some(M::SelfSignedTlsClientAuth),
        ),
        (Some(&["client_secret_jwt", "none"][..]), None),
        // RFC 8414 §2: without the list, client_secret_basic.
        (None, Some(M::Basic)),
    ] {
        assert_eq!(
            metadata(methods).preferred_auth_method(),
            expected,
            "{methods:?}"
        );
    }
    let meta = metadata(Some(&["private_key_jwt", "client_secret_basic"]));
    assert_eq!(
        meta.pick_auth_method(&[M::PrivateKeyJwt, M::Basic]),
        Some(M::PrivateKeyJwt),
        "the caller's order wins"
    );
    assert!(
        meta.supports_auth_method(M::Auto),
        "auto needs one secret method"
    );
    assert!(!metadata(Some(&["private_key_jwt"])).supports_auth_method(M::Auto));
    assert!(metadata(Some(&["none"])).supports_auth_method(M::None));
}

#[test]
fn the_mtls_alias_is_the_token_url_for_certificate_methods() {
    let issuer = "https://auth.example.com";
    let mut doc = document(issuer);
    doc["mtls_endpoint_aliases"] = json!({"token_endpoint": "https://mtls.auth.example.com/token"});
    let Value::Object(object) = doc else {
        unreachable!("a JSON object")
    };
    let source =
        Url::parse("https://auth.example.com/.well-known/openid-configuration").expect("url");
    let meta = AuthServerMetadata::from_json(object, issuer, source, &http()).expect("metadata");
    assert_eq!(
        meta.mtls_token_endpoint().map(Url::as_str),
        Some("https://mtls.auth.example.com/token")
    );
    assert_eq!(
        meta.token_endpoint_for(ClientAuth::TlsClientAuth).as_str(),
        "https://mtls.auth.example.com/token"
    );
    assert_eq!(
        meta.token_endpoint_for(ClientAuth::Basic).as_str(),
        "https://auth.example.com/oauth/token"
    );
}

#[test]
fn the_endpoint_builder_picks_a_secret_method_the_server_supports() {
    let secret = || Some(SecretString::from("s3cr3t"));
    let endpoint = |methods: Option<&[&str]>, secret: Option<SecretString>| {
        metadata(methods)
            .token_endpoint_builder(&http(), "my-client", secret)
            .and_then(|b| b.build())
    };
    let post = endpoint(Some(&["client_secret_post", "private_key_jwt"]), secret()).expect("post");
    assert_eq!(post.client_auth(), ClientAuth::Body);
    assert_eq!(
        post.token_url().as_str(),
        "https://auth.example.com/oauth/token"
    );
    let basic = endpoint(None, secret()).expect("basic by default");
    assert_eq!(basic.client_auth(), ClientAuth::Basic);
    let public = endpoint(Some(&["client_secret_basic"]), None).expect("public");
    assert_eq!(public.client_auth(), ClientAuth::None);
    let err = endpoint(Some(&["private_key_jwt"]), secret()).expect_err("no secret method");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("(it lists: private_key_jwt)"),
        "{err}"
    );
    // The user's own choice wins over the pick.
    let chosen = metadata(Some(&["client_secret_basic", "client_secret_post"]))
        .token_endpoint_builder(&http(), "my-client", secret())
        .expect("builder")
        .client_auth(ClientAuth::Body)
        .build()
        .expect("endpoint");
    assert_eq!(chosen.client_auth(), ClientAuth::Body);
}
