//! The proof JWT (RFC 9449 §4.2) and the `htu` it names.

use std::time::{SystemTime, UNIX_EPOCH};

use auth_core::{AuthError, ErrorKind};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{Method, Uri};
use ring::rand::{SecureRandom as _, SystemRandom};

use super::DpopKey;

/// The `htu` of a request to `uri` (RFC 9449 §4.2, §4.3): scheme, host and path, without query,
/// fragment or user info; scheme and host in lower case, a default port left out, an empty path
/// as `/`.
///
/// ```
/// use auth_oauth::dpop::htu;
///
/// let uri = "HTTPS://API.Example.com:443/v1/items?page=2".parse()?;
/// assert_eq!(htu(&uri)?, "https://api.example.com/v1/items");
/// let uri = "http://127.0.0.1:8080".parse()?;
/// assert_eq!(htu(&uri)?, "http://127.0.0.1:8080/");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// When `uri` has no scheme or host (a relative URI: a proof must name the full URL).
pub fn htu(uri: &Uri) -> Result<String, AuthError> {
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(AuthError::new(
            ErrorKind::Request,
            "a DPoP proof needs an absolute request URI (scheme and host)",
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    let mut out = String::with_capacity(scheme.len() + host.len() + uri.path().len() + 10);
    out.push_str(&scheme);
    out.push_str("://");
    out.push_str(&host.to_ascii_lowercase());
    let default = match scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    if let Some(port) = uri.port_u16().filter(|p| Some(*p) != default) {
        out.push(':');
        out.push_str(&port.to_string());
    }
    match uri.path() {
        "" => out.push('/'),
        path => out.push_str(path),
    }
    Ok(out)
}

/// The origin part of an [`htu`], `scheme://host[:port]`: what nonces are kept under.
pub(super) fn origin_of(htu: &str) -> &str {
    let after_scheme = htu.find("://").map_or(0, |at| at + 3);
    let end = htu[after_scheme..]
        .find('/')
        .map_or(htu.len(), |at| after_scheme + at);
    &htu[..end]
}

/// A signed proof for `method` `htu`, with `ath` and `nonce` when given.
pub(super) fn sign(
    key: &DpopKey,
    method: &Method,
    htu: &str,
    ath: Option<&str>,
    nonce: Option<&str>,
) -> Result<String, AuthError> {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AuthError::new(ErrorKind::Config, "the system clock is before 1970"))?
        .as_secs();
    let mut jti = [0u8; 16];
    SystemRandom::new()
        .fill(&mut jti)
        .map_err(|_| AuthError::new(ErrorKind::Config, "the system random generator failed"))?;
    // Every value but htu and nonce is base64url or a number: only those two need escaping.
    let mut claims = format!(
        r#"{{"jti":"{}","htm":{},"htu":{},"iat":{iat}"#,
        URL_SAFE_NO_PAD.encode(jti),
        json_string(method.as_str()),
        json_string(htu),
    );
    if let Some(ath) = ath {
        claims.push_str(r#","ath":""#);
        claims.push_str(ath);
        claims.push('"');
    }
    if let Some(nonce) = nonce {
        claims.push_str(r#","nonce":"#);
        claims.push_str(&json_string(nonce));
    }
    claims.push('}');
    let header = key.header();
    let mut jws = String::with_capacity(header.len() + claims.len() * 4 / 3 + 100);
    jws.push_str(header);
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(claims.as_bytes(), &mut jws);
    let signature = key.key().sign(jws.as_bytes())?;
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
    Ok(jws)
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}
