//! Certificate-bound tokens (RFC 8705 §3): the client certificate's thumbprint, and the `cnf`
//! a server may put in a token response or a JWT access token.

use auth_core::ExposeSecret;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::TokenResponse;

/// The `cnf` → `x5t#S256` of the token response body, or else of the access token when it is
/// a JWT. The token is only decoded, not verified: the value is informational, and the API
/// (which verifies) is what enforces the binding.
pub(super) fn bound_certificate(body: &[u8], token: &TokenResponse) -> Option<String> {
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| thumbprint_in(&v));
    from_body.or_else(|| {
        let mut parts = token.access_token().expose_secret().split('.');
        let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next())
        else {
            return None;
        };
        let claims = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        thumbprint_in(&serde_json::from_slice(&claims).ok()?)
    })
}

fn thumbprint_in(value: &Value) -> Option<String> {
    value
        .get("cnf")?
        .get("x5t#S256")?
        .as_str()
        .filter(|t| !t.is_empty() && t.len() < 128)
        .map(str::to_owned)
}

/// Warns when the server bound the token to a certificate other than the one presented: the
/// API will then reject it.
pub(super) fn check(ours: Option<&str>, bound: &str) {
    if let Some(ours) = ours
        && ours != bound
    {
        super::event!(
            warn,
            bound,
            presented = ours,
            "the token is bound to a certificate other than the one this client presents"
        );
    }
}

/// Refuses a [`ClientTls`](auth_layers::tls::ClientTls) without a client certificate for
/// `tls_client_auth` / `self_signed_tls_client_auth`: the server would see no certificate and
/// answer `invalid_client` on every token request.
#[cfg(feature = "mtls")]
pub(super) fn require_certificate(
    tls: &auth_layers::tls::ClientTls,
    client_auth: Option<crate::ClientAuth>,
) -> Result<(), auth_core::AuthError> {
    if tls.has_certificate() {
        return Ok(());
    }
    let method = match client_auth {
        Some(crate::ClientAuth::SelfSignedTlsClientAuth) => "self_signed_tls_client_auth",
        _ => "tls_client_auth",
    };
    Err(auth_core::AuthError::config(
        method,
        "needs a client certificate, and this ClientTls has none (built with \
         `ClientTls::without_certificate`): build it with `ClientTls::from_pem` or \
         `from_pem_files`",
    ))
}

/// An HTTPS client presenting `tls`' certificate, and that certificate's `x5t#S256`.
#[cfg(feature = "mtls")]
pub(super) fn tls_http_client(
    tls: &auth_layers::tls::ClientTls,
) -> Result<(crate::TokenHttpClient, Option<String>), auth_core::AuthError> {
    // The certificate is reachable through the config's resolver, which returns the one
    // identity whatever it is asked.
    let config = tls.build_rustls_config()?;
    let thumbprint = config
        .client_auth_cert_resolver
        .resolve(&[], &[rustls::SignatureScheme::ECDSA_NISTP256_SHA256])
        .and_then(|identity| identity.cert.first().map(|leaf| x5t_s256(leaf.as_ref())));
    Ok((crate::TokenHttpClient::with_client_tls(tls)?, thumbprint))
}

/// `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate's DER.
#[cfg(feature = "mtls")]
pub(crate) fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyMap, normalize};
    use http::StatusCode;
    use serde_json::json;

    #[cfg(feature = "mtls")]
    #[test]
    fn tls_client_auth_without_a_client_certificate_fails_at_build() {
        use auth_core::ErrorKind;
        use auth_layers::tls::ClientTls;

        let builder = || crate::TokenEndpoint::builder("https://auth.example/token", "id");
        for (builder, method) in [
            (
                builder().tls_client_auth(ClientTls::without_certificate()),
                "tls_client_auth",
            ),
            (
                builder().self_signed_tls_client_auth(ClientTls::without_certificate()),
                "self_signed_tls_client_auth",
            ),
        ] {
            let err = builder.build().expect_err("no client certificate");
            assert_eq!(err.kind(), ErrorKind::Config, "{err}");
            assert!(
                err.to_string()
                    .contains(&format!(": {method}: needs a client certificate")),
                "{err}"
            );
        }
    }

    fn response(body: &Value) -> (Vec<u8>, TokenResponse) {
        let bytes = body.to_string().into_bytes();
        let token = normalize(
            StatusCode::OK,
            Some("application/json"),
            &bytes,
            &KeyMap::default(),
        )
        .expect("a token");
        (bytes, token)
    }

    #[test]
    fn reads_cnf_from_the_response_or_a_jwt_access_token() {
        let (body, token) = response(&json!({
            "access_token": "opaque", "cnf": { "x5t#S256": "abc" }
        }));
        assert_eq!(bound_certificate(&body, &token).as_deref(), Some("abc"));

        let claims = URL_SAFE_NO_PAD.encode(json!({ "cnf": { "x5t#S256": "def" } }).to_string());
        let (body, token) = response(&json!({ "access_token": format!("e30.{claims}.sig") }));
        assert_eq!(bound_certificate(&body, &token).as_deref(), Some("def"));

        let (body, token) = response(&json!({ "access_token": "a.b.c.d" }));
        assert_eq!(bound_certificate(&body, &token), None);
        let (body, token) = response(&json!({ "access_token": "not-a-jwt" }));
        assert_eq!(bound_certificate(&body, &token), None);
    }
}
