//! The request handlers of [`TokenServer`](super::TokenServer): token issuing, client
//! authentication, code exchange with PKCE, the authorization redirect and the API.

use std::sync::{Arc, atomic::Ordering};

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{HeaderMap, Response, StatusCode, header},
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    AcceptAuth, CodeGrant, Fault, Shared, TokenRequest, VerifiedAssertion,
    jwt::{self, Expect},
    lock,
};

/// The JWT bearer grant's `grant_type` (RFC 7523 §2.1).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest assertion lifetime accepted, in seconds (Google's limit).
const MAX_ASSERTION_LIFETIME: u64 = 3600;

impl Shared {
    pub(super) fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn issue(&self, scope: Option<&str>, with_refresh: bool) -> Response<Body> {
        self.issue_to(scope, with_refresh, None, false)
    }

    /// Issues tokens owned by `user` (recorded for `/me` and refreshes), with an `id_token`
    /// when asked.
    fn issue_to(
        &self,
        scope: Option<&str>,
        with_refresh: bool,
        user: Option<&str>,
        id_token: bool,
    ) -> Response<Body> {
        let n = self.next();
        let access = format!("at-{n}");
        lock(&self.access_tokens).insert(access.clone());
        let mut body = json!({ "access_token": access, "token_type": "Bearer" });
        if let Some(user) = user {
            lock(&self.owners).insert(access.clone(), user.to_owned());
            if with_refresh {
                lock(&self.owners).insert(format!("rt-{n}"), user.to_owned());
            }
            if id_token {
                body["id_token"] = json!(unsigned_id_token(user));
            }
        }
        if let Some(expires_in) = self.config.expires_in {
            body["expires_in"] = json!(expires_in);
        }
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        if with_refresh {
            let refresh = format!("rt-{n}");
            lock(&self.refresh_tokens).insert(refresh.clone());
            body["refresh_token"] = json!(refresh);
        }
        json_response(StatusCode::OK, &body)
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response<Body> {
    json_response(
        status,
        &json!({ "error": code, "error_description": description }),
    )
}

fn fault_response(fault: Fault) -> Option<Response<Body>> {
    let response = match fault {
        Fault::Respond {
            status,
            content_type,
            body,
        } => {
            let mut builder =
                Response::builder().status(StatusCode::from_u16(status).unwrap_or_default());
            if let Some(ct) = content_type {
                builder = builder.header(header::CONTENT_TYPE, ct);
            }
            builder.body(Body::from(body)).unwrap_or_default()
        }
        Fault::Redirect(location) => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, location)
            .body(Body::empty())
            .unwrap_or_default(),
        Fault::LargeBody(bytes) => {
            let padding = "x".repeat(bytes.saturating_sub(40));
            json_response(
                StatusCode::OK,
                &json!({ "access_token": "at", "pad": padding }),
            )
        }
        Fault::Hang => return None,
    };
    Some(response)
}

fn decode_basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        let text = format!("v={s}");
        form_urlencoded::parse(text.as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

pub(super) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    let request = TokenRequest {
        basic: decode_basic(&headers),
        form: form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        headers,
    };
    lock(&shared.requests).push(request.clone());
    let delay = *lock(&shared.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fault = lock(&shared.faults)
        .pop_front()
        .or_else(|| lock(&shared.sticky).clone());
    if let Some(fault) = fault {
        return match fault_response(fault) {
            Some(response) => response,
            None => std::future::pending().await,
        };
    }
    // Client authentication is optional for the JWT bearer grant (RFC 7523 §3.1).
    let anonymous_assertion_grant = request.field("grant_type") == Some(JWT_BEARER)
        && request.basic.is_none()
        && ["client_id", "client_secret", "client_assertion"]
            .iter()
            .all(|f| request.field(f).is_none());
    if !anonymous_assertion_grant && let Some(rejection) = reject_client(&shared, &request) {
        return rejection;
    }
    let scope = request.field("scope");
    match request.field("grant_type") {
        Some("client_credentials") => {
            let id = match &request.basic {
                Some((id, _)) => Some(id.as_str()),
                None => request.field("client_id"),
            };
            match id.filter(|id| shared.config.other_clients.iter().any(|(i, _)| i == id)) {
                Some(id) => shared.issue_to(scope, false, Some(id), false),
                None => shared.issue(scope, false),
            }
        }
        Some("password") => {
            let user = (request.field("username"), request.field("password"));
            let known = shared
                .config
                .users
                .iter()
                .any(|(u, p)| user == (Some(u.as_str()), Some(p.as_str())));
            if known {
                shared.issue(scope, true)
            } else {
                oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "bad user credentials",
                )
            }
        }
        Some("refresh_token") => {
            let presented = request
                .field("refresh_token")
                .unwrap_or_default()
                .to_owned();
            if !lock(&shared.refresh_tokens).contains(&presented) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown refresh token",
                );
            }
            let owner = lock(&shared.owners).get(&presented).cloned();
            if shared.config.rotate {
                lock(&shared.refresh_tokens).remove(&presented);
                shared.issue_to(scope, true, owner.as_deref(), false)
            } else {
                shared.issue_to(scope, false, owner.as_deref(), false)
            }
        }
        Some("authorization_code") => exchange_code(&shared, &request),
        Some(JWT_BEARER) => jwt_bearer(&shared, &request),
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "unknown grant",
        ),
        None => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "no grant_type"),
    }
}

/// Checks the client's authentication against the configuration (RFC 6749 §2.3); the error
/// response when it fails.
fn reject_client(shared: &Shared, request: &TokenRequest) -> Option<Response<Body>> {
    let config = &shared.config;
    let unauthorized = |why: &str| {
        let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"token\""),
        );
        response
    };
    let body_secret = request.field("client_secret");
    if let Some(assertion_type) = request.field("client_assertion_type") {
        if request.basic.is_some() || body_secret.is_some() {
            return Some(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "more than one client authentication method",
            ));
        }
        if config.accept != AcceptAuth::PrivateKeyJwt {
            return Some(unauthorized("client authentication method not allowed"));
        }
        if assertion_type != CLIENT_ASSERTION_TYPE {
            return Some(unauthorized("unsupported client_assertion_type"));
        }
        if request
            .field("client_id")
            .is_some_and(|id| id != config.client_id)
        {
            return Some(unauthorized("client_id does not match the assertion"));
        }
        let (Some(assertion), Some(key)) = (request.field("client_assertion"), &config.client_key)
        else {
            return Some(unauthorized("no client_assertion or no registered key"));
        };
        let expect = Expect {
            issuer: &config.client_id,
            subject: Some(&config.client_id),
            subject_optional: false,
            audiences: &shared.audiences,
            max_lifetime: MAX_ASSERTION_LIFETIME,
        };
        return match jwt::verify(assertion, key, &expect, &shared.jtis) {
            Ok((header, claims)) => {
                lock(&shared.assertions).push(VerifiedAssertion {
                    kind: "client",
                    header,
                    claims,
                });
                None
            }
            Err(why) => Some(unauthorized(&format!("client assertion rejected: {why}"))),
        };
    }
    let presented = match (&request.basic, body_secret) {
        (Some(_), Some(_)) => {
            return Some(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "more than one client authentication method",
            ));
        }
        (Some((id, secret)), None) => (AcceptAuth::Basic, Some(id.as_str()), Some(secret.as_str())),
        (None, Some(secret)) => (AcceptAuth::Body, request.field("client_id"), Some(secret)),
        (None, None) => (AcceptAuth::Public, request.field("client_id"), None),
    };
    let (method, id, secret) = presented;
    let method_ok = match config.accept {
        AcceptAuth::Any => matches!(method, AcceptAuth::Basic | AcceptAuth::Body),
        accepted => accepted == method,
    };
    if !method_ok {
        return Some(unauthorized("client authentication method not allowed"));
    }
    if let (Some(id), Some(secret)) = (id, secret)
        && config
            .other_clients
            .iter()
            .any(|(i, s)| i == id && s == secret)
    {
        return None;
    }
    let expected = lock(&shared.client_secret).clone();
    if id != Some(config.client_id.as_str()) || secret != expected.as_deref() {
        return Some(unauthorized("unknown client or wrong secret"));
    }
    None
}

/// The JWT bearer grant: the assertion of a registered issuer, checked strictly.
fn jwt_bearer(shared: &Shared, request: &TokenRequest) -> Response<Body> {
    let invalid = |why: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why);
    let Some(assertion) = request.field("assertion") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "no assertion");
    };
    let Some(issuer) = jwt::unverified_issuer(assertion) else {
        return invalid("assertion without a readable iss");
    };
    let Some(registered) = shared
        .config
        .jwt_issuers
        .iter()
        .find(|i| i.issuer == issuer)
    else {
        return invalid("unknown issuer");
    };
    let expect = Expect {
        issuer: &registered.issuer,
        subject: registered.subject.as_deref(),
        subject_optional: registered.subject.is_none(),
        audiences: &shared.audiences,
        max_lifetime: MAX_ASSERTION_LIFETIME,
    };
    match jwt::verify(assertion, &registered.key, &expect, &shared.jtis) {
        Ok((header, claims)) => {
            let scope = request.field("scope").map(str::to_owned).or_else(|| {
                claims
                    .get("scope")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            lock(&shared.assertions).push(VerifiedAssertion {
                kind: "grant",
                header,
                claims,
            });
            shared.issue(scope.as_deref(), false)
        }
        Err(why) => invalid(&format!("assertion rejected: {why}")),
    }
}

fn exchange_code(shared: &Shared, request: &TokenRequest) -> Response<Body> {
    let code = request.field("code").unwrap_or_default();
    // Codes are single use: taken out whether or not the rest checks out.
    let Some(grant) = lock(&shared.codes).remove(code) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or used code",
        );
    };
    let client_id = request
        .basic
        .as_ref()
        .map(|(id, _)| id.as_str())
        .or(request.field("client_id"));
    if client_id != Some(grant.client_id.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code of another client",
        );
    }
    if request.field("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri mismatch",
        );
    }
    if let Some((challenge, method)) = &grant.challenge {
        let Some(verifier) = request.field("code_verifier") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "code_verifier missing",
            );
        };
        let computed = match method.as_str() {
            "S256" => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            _ => verifier.to_owned(),
        };
        if &computed != challenge {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "PKCE verification failed",
            );
        }
    }
    shared.issue_to(
        grant.scope.as_deref(),
        grant.offline,
        Some(&grant.user),
        shared.config.id_tokens,
    )
}

/// An OpenID Connect ID token for `user`, signed with a key nobody checks.
fn unsigned_id_token(user: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({ "sub": user, "email": format!("{user}@example.test") });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!(
        "{header}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(b"unchecked")
    )
}

/// The access token's user, nested as many APIs do; 401 for an unknown or revoked token.
pub(super) async fn me(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| lock(&shared.access_tokens).contains(*t));
    let owner = token.and_then(|t| lock(&shared.owners).get(t).cloned());
    match owner {
        Some(user) => json_response(
            StatusCode::OK,
            &json!({ "data": { "user": { "id": user, "email": format!("{user}@example.test") } } }),
        ),
        None => oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", "unknown token"),
    }
}

pub(super) async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response<Body> {
    lock(&shared.authorizations).push(query.clone());
    let field = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(redirect_uri), Some(client_id)) = (field("redirect_uri"), field("client_id")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri and client_id required",
        );
    };
    let code = format!("code-{}", shared.next());
    let challenge = field("code_challenge").map(|c| {
        (
            c,
            field("code_challenge_method").unwrap_or_else(|| "plain".to_owned()),
        )
    });
    lock(&shared.codes).insert(
        code.clone(),
        CodeGrant {
            client_id,
            redirect_uri: redirect_uri.clone(),
            challenge,
            scope: field("scope"),
            offline: shared
                .config
                .offline_requires
                .iter()
                .all(|(name, value)| query.iter().any(|(n, v)| n == name && v == value)),
            user: field("login_hint").unwrap_or_else(|| "user".to_owned()),
        },
    );
    let mut location = form_urlencoded::Serializer::new(String::new());
    location.append_pair("code", &code);
    if let Some(state) = field("state") {
        location.append_pair("state", &state);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    Response::builder()
        .status(StatusCode::FOUND)
        .header(
            header::LOCATION,
            format!("{redirect_uri}{separator}{}", location.finish()),
        )
        .body(Body::empty())
        .unwrap_or_default()
}

pub(super) async fn api(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let valid = token.is_some_and(|t| lock(&shared.access_tokens).contains(t));
    if valid {
        Response::new(Body::from("hello"))
    } else {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#)
            .body(Body::empty())
            .unwrap_or_default()
    }
}
