//! [`OidcProvider`]: panva's `oidc-provider` (npm; OpenID Certified), run by Node on 127.0.0.1,
//! for the interop tests of DPoP (RFC 9449), the device authorization grant (RFC 8628), token
//! exchange (RFC 8693), revocation (RFC 7009) and introspection (RFC 7662).
//!
//! The package is pinned in the repository's `package.json` + `package-lock.json` (`npm ci` at
//! the workspace root; `scripts/test` runs it). [`OidcProvider::start`] runs
//! `auth-oauth/tests/interop/oidc-provider.mjs`, which configures the provider (clients below,
//! DPoP with optional nonces, the device flow, revocation, introspection, and token exchange
//! registered as an extension grant), prints an event per token request it decided, and exits
//! when its stdin closes. When it cannot start, `start` panics saying what to install: tests
//! using it fail loudly and are never skipped.
//!
//! The user's side of the device flow is played over plain HTTP, as a browser would
//! ([`OidcProvider::approve_device`]): the provider's own user-code page, its confirmation,
//! its login form (any account id signs in) and its consent form, with its cookies.
//!
//! ```no_run
//! use auth_test_support::oidc_provider::{CONFIDENTIAL, OidcProvider};
//! # #[tokio::main]
//! # async fn main() {
//! let provider = OidcProvider::start().await;
//! let token = provider.client_credentials(CONFIDENTIAL, "api:read").await;
//! assert_eq!(provider.introspect(&token).await["active"], true);
//! # }
//! ```

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use crate::node::{NodeProcess, workspace};

/// A client registered in the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OidcClient {
    /// `client_id`.
    pub id: &'static str,
    /// `client_secret`; `None` for a public client (`token_endpoint_auth_method=none`).
    pub secret: Option<&'static str>,
    /// Whether it authenticates with `client_secret_post` (else Basic, or none).
    pub post: bool,
}

/// A confidential client (`client_secret_basic`): client credentials, device code, refresh,
/// token exchange. Scopes: `openid offline_access profile email api:read api:write`.
pub const CONFIDENTIAL: OidcClient = OidcClient {
    id: "tower-auth-confidential",
    secret: Some("confidential-secret"),
    post: false,
};

/// The same grants with `client_secret_post`.
pub const POST: OidcClient = OidcClient {
    id: "tower-auth-post",
    secret: Some("post-secret"),
    post: true,
};

/// A public client of the device flow (no secret): device code and refresh.
pub const DEVICE: OidcClient = OidcClient {
    id: "tower-auth-device",
    secret: None,
    post: false,
};

/// A confidential client (`client_secret_basic`) registered with `dpop_bound_access_tokens`:
/// its token requests without a DPoP proof are refused.
pub const DPOP: OidcClient = OidcClient {
    id: "tower-auth-dpop",
    secret: Some("dpop-secret"),
    post: false,
};

/// Where the provider requires a server-provided DPoP nonce (RFC 9449 §8, §9): a proof without
/// the current one is answered with `use_dpop_nonce` and a `DPoP-Nonce` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DpopNonce {
    /// Nowhere (the default).
    #[default]
    Never,
    /// At the token endpoint and at userinfo.
    Everywhere,
    /// At userinfo only: a resource server's challenge, with tokens issued without one (the
    /// token endpoint then sends no `DPoP-Nonce` either, so the first nonce comes from
    /// userinfo).
    UserinfoOnly,
}

/// How the provider is started.
#[derive(Debug, Clone, Default)]
pub struct OidcOptions {
    /// Where DPoP nonces are required.
    pub dpop_nonce: DpopNonce,
    /// Lifetime of issued access tokens, in seconds (default 3600).
    pub access_token_ttl: Option<u64>,
    /// Lifetime of device codes, in seconds (default 600).
    pub device_code_ttl: Option<u64>,
    /// `interval` in device authorization responses (the provider sends none: 5 s).
    pub device_interval: Option<u64>,
}

/// A running `oidc-provider`; killed when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    node: NodeProcess,
    metadata: Value,
}

impl OidcProvider {
    /// Starts the provider with default options and waits until it serves its metadata.
    ///
    /// # Panics
    ///
    /// When Node or the npm package is missing, or the provider does not start.
    pub async fn start() -> OidcProvider {
        Self::start_with(OidcOptions::default()).await
    }

    /// Starts the provider with `options`.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub async fn start_with(options: OidcOptions) -> OidcProvider {
        let mut args = serde_json::Map::new();
        let nonce = match options.dpop_nonce {
            DpopNonce::Never => Value::Bool(false),
            DpopNonce::Everywhere => Value::Bool(true),
            DpopNonce::UserinfoOnly => Value::from("userinfo"),
        };
        args.insert("dpop_nonce".into(), nonce);
        if let Some(ttl) = options.access_token_ttl {
            args.insert("access_token_ttl".into(), ttl.into());
        }
        if let Some(ttl) = options.device_code_ttl {
            args.insert("device_code_ttl".into(), ttl.into());
        }
        if let Some(interval) = options.device_interval {
            args.insert("device_interval".into(), interval.into());
        }
        let script = workspace().join("auth-oauth/tests/interop/oidc-provider.mjs");
        let node =
            NodeProcess::start("oidc-provider", script, &[Value::Object(args).to_string()]).await;
        let issuer = format!("http://127.0.0.1:{}", node.port());
        let (status, body) = http_get(&format!("{issuer}/.well-known/openid-configuration")).await;
        assert_eq!(status, StatusCode::OK, "oidc-provider metadata: {body}");
        let metadata = serde_json::from_str(&body).expect("metadata is JSON");
        OidcProvider { node, metadata }
    }

    /// The issuer, `http://127.0.0.1:PORT` (its metadata is at
    /// `/.well-known/openid-configuration`).
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.node.port())
    }

    /// The provider's metadata document.
    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    /// An endpoint from the metadata, e.g. `"token_endpoint"`.
    ///
    /// # Panics
    ///
    /// When the metadata has no such endpoint.
    pub fn endpoint(&self, name: &str) -> String {
        self.metadata[name]
            .as_str()
            .unwrap_or_else(|| panic!("oidc-provider metadata has no {name}"))
            .to_owned()
    }

    /// `token_endpoint`.
    pub fn token_url(&self) -> String {
        self.endpoint("token_endpoint")
    }

    /// `device_authorization_endpoint`.
    pub fn device_authorization_url(&self) -> String {
        self.endpoint("device_authorization_endpoint")
    }

    /// `revocation_endpoint`.
    pub fn revocation_url(&self) -> String {
        self.endpoint("revocation_endpoint")
    }

    /// `introspection_endpoint`.
    pub fn introspection_url(&self) -> String {
        self.endpoint("introspection_endpoint")
    }

    /// `userinfo_endpoint` (accepts only access tokens of a signed-in user with `openid`).
    pub fn userinfo_url(&self) -> String {
        self.endpoint("userinfo_endpoint")
    }

    /// The token endpoint requests decided so far, oldest first, once at least `at_least`:
    /// `{"event":"grant","ok":bool,"grant_type","client_id","dpop":bool,"params":{…},"error"?}`.
    ///
    /// # Panics
    ///
    /// When fewer than `at_least` arrive within 2 seconds.
    pub async fn grants(&self, at_least: usize) -> Vec<Value> {
        self.node.events("grant", at_least).await
    }

    /// The token endpoint requests decided so far (no waiting).
    pub fn grants_now(&self) -> Vec<Value> {
        self.node.events_now("grant")
    }

    /// The token exchanges so far, once at least `at_least`: `{"event":"exchange","client_id",
    /// "subject","actor","audience","resource","scope"}` (`subject`/`actor`: the account or client
    /// the presented token belonged to).
    ///
    /// # Panics
    ///
    /// When fewer than `at_least` arrive within 2 seconds.
    pub async fn exchanges(&self, at_least: usize) -> Vec<Value> {
        self.node.events("exchange", at_least).await
    }

    /// A token endpoint request (form fields) by `client`, without DPoP; the status and the JSON
    /// answer.
    pub async fn token_request(
        &self,
        client: OidcClient,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let (status, body) = self.post_as(client, &self.token_url(), form).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// An access token from the client credentials grant (no DPoP).
    ///
    /// # Panics
    ///
    /// When the provider refuses.
    pub async fn client_credentials(&self, client: OidcClient, scope: &str) -> String {
        let (status, body) = self
            .token_request(
                client,
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "client credentials: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A device authorization request (RFC 8628 §3.1) over plain HTTP: the answer with
    /// `device_code`, `user_code`, `verification_uri`, ….
    ///
    /// # Panics
    ///
    /// When the provider refuses.
    pub async fn device_authorization(&self, client: OidcClient, scope: &str) -> Value {
        let (status, body) = self
            .post_as(
                client,
                &self.device_authorization_url(),
                &[("scope", scope)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "device authorization: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// Signs `account` in through the whole device flow over plain HTTP (device authorization,
    /// the browser's side, one token request) and returns the token response (access token,
    /// refresh token, `id_token` with `openid`).
    ///
    /// # Panics
    ///
    /// When any step fails.
    pub async fn device_sign_in(&self, client: OidcClient, account: &str, scope: &str) -> Value {
        let started = self.device_authorization(client, scope).await;
        let user_code = started["user_code"].as_str().expect("user_code");
        self.approve_device(user_code, account)
            .await
            .expect("the browser's side of the device flow");
        let device_code = started["device_code"].as_str().expect("device_code");
        let (status, body) = self
            .token_request(
                client,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", device_code),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "device code token request: {body}");
        body
    }

    /// Plays the user of the device flow in a browser: opens the verification page, enters
    /// `user_code`, confirms, signs in as `account` and consents. `Err` with the page where it
    /// stopped (an unknown or expired code, say).
    pub async fn approve_device(&self, user_code: &str, account: &str) -> Result<(), String> {
        self.device_user(user_code, account, false).await
    }

    /// Plays the user who enters `user_code` and then refuses ("Cancel" on the confirmation
    /// page): the device's next poll gets `access_denied`.
    pub async fn deny_device(&self, user_code: &str) -> Result<(), String> {
        self.device_user(user_code, "nobody", true).await
    }

    async fn device_user(&self, user_code: &str, account: &str, deny: bool) -> Result<(), String> {
        let mut browser = Browser::default();
        let mut page = browser
            .get(
                &self
                    .endpoint("device_authorization_endpoint")
                    .replace("/device/auth", "/device"),
            )
            .await;
        // The user-code form, the confirmation, login, consent: a handful of pages.
        for _ in 0..8 {
            if page.1.contains("Sign-in Success") {
                return Ok(());
            }
            let Some(form) = Form::first(&page.1) else {
                return Err(format!("no form on the page ({}): {}", page.0, page.1));
            };
            let mut fields = form.fields.clone();
            if fields.contains_key("confirm") && deny {
                fields.remove("confirm");
                fields.insert("abort".into(), "yes".into());
            }
            if fields.contains_key("user_code") || form.has_input("user_code") {
                fields.insert("user_code".into(), user_code.into());
            }
            if form.has_input("login") {
                fields.insert("login".into(), account.into());
                fields.insert("password".into(), "any password".into());
            }
            let action = browser.absolute(&form.action, &self.issuer());
            page = browser.post(&action, &fields).await;
            if deny && fields.contains_key("abort") {
                return if page.1.contains("aborted")
                    || page.1.contains("access_denied")
                    || page.1.contains("request was interrupted")
                {
                    Ok(())
                } else {
                    Err(format!(
                        "the provider did not confirm the refusal: {}",
                        page.1
                    ))
                };
            }
        }
        Err(format!("the device sign-in did not finish: {}", page.1))
    }

    /// Introspects `token` (RFC 7662) as the confidential client: `{"active": false}` for a
    /// revoked or expired token.
    ///
    /// # Panics
    ///
    /// When the endpoint does not answer 200 with JSON.
    pub async fn introspect(&self, token: &str) -> Value {
        let (status, body) = self
            .post_as(CONFIDENTIAL, &self.introspection_url(), &[("token", token)])
            .await;
        assert_eq!(status, StatusCode::OK, "introspection: {body}");
        serde_json::from_str(&body).expect("introspection JSON")
    }

    /// `GET userinfo` with `Authorization: Bearer TOKEN` (no proof): the status and the
    /// `WWW-Authenticate` challenge.
    pub async fn userinfo_as_bearer(&self, token: &str) -> (StatusCode, String) {
        let request = Request::get(self.userinfo_url())
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Full::default())
            .expect("request");
        let response = crate::client()
            .request(request)
            .await
            .expect("userinfo reachable");
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (response.status(), challenge)
    }

    async fn post_as(
        &self,
        client: OidcClient,
        url: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let mut request =
            Request::post(url).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        match client.secret {
            Some(secret) if client.post => {
                fields.push(("client_id", client.id));
                fields.push(("client_secret", secret));
            }
            Some(secret) => {
                use base64::Engine as _;
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{secret}", client.id));
                request = request.header(header::AUTHORIZATION, format!("Basic {basic}"));
            }
            None => fields.push(("client_id", client.id)),
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = request.body(Full::new(Bytes::from(body))).expect("request");
        let response = crate::client()
            .request(request)
            .await
            .expect("provider reachable");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

async fn http_get(url: &str) -> (StatusCode, String) {
    Browser::default().get(url).await
}

/// A browser for the provider's pages: keeps cookies (one origin, so names are enough),
/// follows redirects (up to 10 per navigation).
#[derive(Debug, Default)]
struct Browser {
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn absolute(&self, action: &str, origin: &str) -> String {
        if action.starts_with("http://") || action.starts_with("https://") {
            action.to_owned()
        } else {
            format!("{origin}{action}")
        }
    }

    async fn get(&mut self, url: &str) -> (StatusCode, String) {
        self.navigate(url.to_owned(), None).await
    }

    async fn post(&mut self, url: &str, fields: &BTreeMap<String, String>) -> (StatusCode, String) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.navigate(url.to_owned(), Some(body)).await
    }

    async fn navigate(
        &mut self,
        mut url: String,
        mut body: Option<String>,
    ) -> (StatusCode, String) {
        let client = crate::client();
        for _ in 0..10 {
            let mut request = match &body {
                Some(_) => Request::post(url.as_str())
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
                None => Request::get(url.as_str()),
            };
            if !self.cookies.is_empty() {
                let cookies = self
                    .cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                request = request.header(header::COOKIE, cookies);
            }
            let request = request
                .body(Full::new(Bytes::from(body.take().unwrap_or_default())))
                .expect("request");
            let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
                .await
                .expect("the provider answers within 10 s")
                .expect("the provider is reachable");
            for cookie in response.headers().get_all(header::SET_COOKIE) {
                let Ok(cookie) = cookie.to_str() else {
                    continue;
                };
                let pair = cookie.split(';').next().unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    if value.is_empty() || cookie.contains("expires=Thu, 01 Jan 1970") {
                        self.cookies.remove(name.trim());
                    } else {
                        self.cookies
                            .insert(name.trim().to_owned(), value.to_owned());
                    }
                }
            }
            if response.status().is_redirection() {
                let location = response.headers()[header::LOCATION]
                    .to_str()
                    .expect("an ASCII location")
                    .to_owned();
                let origin = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
                url = self.absolute(&location, &origin);
                continue;
            }
            let status = response.status();
            let page = response
                .into_body()
                .collect()
                .await
                .expect("page")
                .to_bytes();
            return (status, String::from_utf8_lossy(&page).into_owned());
        }
        panic!("more than 10 redirects from {url}");
    }
}

/// The first `<form>` of a page: its action, its named inputs' values, and which inputs it has.
#[derive(Debug)]
struct Form {
    action: String,
    fields: BTreeMap<String, String>,
    inputs: Vec<String>,
}

impl Form {
    fn first(page: &str) -> Option<Form> {
        let start = page.find("<form")?;
        let end = page[start..]
            .find("</form>")
            .map_or(page.len(), |e| start + e);
        let form = &page[start..end];
        let head_end = form.find('>')?;
        let action = attribute(&form[..head_end], "action")?;
        let mut fields = BTreeMap::new();
        let mut inputs = Vec::new();
        let mut rest = &form[head_end..];
        while let Some(at) = rest.find("<input") {
            let tag_end = rest[at..].find('>').map_or(rest.len(), |e| at + e);
            let tag = &rest[at..tag_end];
            if let Some(name) = attribute(tag, "name") {
                if let Some(value) = attribute(tag, "value") {
                    fields.insert(name.clone(), value);
                }
                inputs.push(name);
            }
            rest = &rest[tag_end..];
        }
        Some(Form {
            action,
            fields,
            inputs,
        })
    }

    fn has_input(&self, name: &str) -> bool {
        self.inputs.iter().any(|i| i == name)
    }
}

/// `name="value"` in a tag, HTML entities of the provider's escaping undone.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let at = tag.find(&needle)? + needle.len();
    let end = tag[at..].find('"')? + at;
    Some(
        tag[at..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}
