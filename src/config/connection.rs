//! Reads one connection (base merged with its environment overlay) into a [`ConnectionSpec`].

use http::Method;
use serde_json::Value;

use super::{
    read::{Reader, Table},
    sign_in,
    spec::{
        AuthSpec, CheckSpec, ConnectionSpec, CustomSpec, JwtBearerSpec, KeyMapSpec, Location,
        OAuth2Spec, TlsSpec,
    },
};

const CONNECTION_KEYS: &[&str] = &[
    "base_url",
    "check",
    "auth",
    "tls",
    "timeout",
    "headers",
    "variables",
    "secret_check_interval",
    "tenants",
    "environments",
];
const AUTH_TYPES: &[&str] = &[
    "none",
    "bearer",
    "api_key",
    "basic",
    "oauth2",
    "jwt_bearer",
    "custom",
];
const GRANTS: &[&str] = &[
    "client_credentials",
    "password",
    "refresh_token",
    "authorization_code",
    "device_code",
    "token_exchange",
];
const CLIENT_AUTH: &[&str] = &["basic", "body", "auto", "none", "private_key_jwt", "tls"];

pub(crate) fn read_connection(
    r: &mut Reader<'_>,
    name: &str,
    environment: Option<&str>,
    path: String,
    value: &Value,
) -> Option<ConnectionSpec> {
    let t = r.table(path, value)?;
    r.known_keys(&t, CONNECTION_KEYS);
    r.read_variables(&t);
    let base_url = r.filled_url(&t, "base_url", true);
    let headers = super::headers::read_headers(r, &t);
    let check = read_check(r, &t);
    let tls = read_tls(r, &t);
    let timeout = r.duration(&t, "timeout");
    // A duration is more than zero, so a secret file is never looked at per request.
    let secret_check_interval = r.duration(&t, "secret_check_interval");
    let tenants = super::tenants::read_tenants(r, &t);
    let auth = match r.sub_table(&t, "auth") {
        Some(auth) => read_auth(r, &auth),
        None => {
            if t.get("auth").is_none() {
                r.problems.error(
                    &t.key_path("auth"),
                    "missing (use `type = \"none\"` for an API without authentication)",
                );
            }
            None
        }
    };
    Some(ConnectionSpec {
        name: name.to_owned(),
        environment: environment.map(str::to_owned),
        base_url: base_url?,
        check: check?,
        auth: auth?,
        tls,
        timeout,
        secret_check_interval,
        headers: headers.values,
        variables: r.vars.defined(),
        sensitive_headers: headers.sensitive,
        redactor: auth_core::Redactor::new(),
        store_key: None,
        tenants,
        template: None,
    })
}

fn read_check(r: &mut Reader<'_>, t: &Table<'_>) -> Option<CheckSpec> {
    let Some(c) = r.sub_table(t, "check") else {
        return t.get("check").is_none().then(CheckSpec::default);
    };
    r.known_keys(&c, &["method", "path", "expect_status"]);
    let method = match r.string(&c, "method") {
        None => Method::GET,
        Some(m) => match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(method) => method,
            Err(_) => {
                r.problems.error(
                    &c.key_path("method"),
                    format!("`{m}` is not an HTTP method"),
                );
                return None;
            }
        },
    };
    let path = match c.get("path") {
        None => String::new(),
        Some(_) => r.filled_string(&c, "path")?.text,
    };
    if path.contains("://") {
        // Not quoted: a URL may carry a password.
        r.problems.error(
            &c.key_path("path"),
            "is a URL: give a path relative to base_url (e.g. `/me`), so the credential cannot \
             go to another host",
        );
        return None;
    }
    let mut expect_status = Vec::new();
    match c.get("expect_status") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_u64().filter(|s| (100..=599).contains(s)) {
                    Some(status) => expect_status.push(status as u16),
                    None => r.problems.error(
                        &format!("{}[{i}]", c.key_path("expect_status")),
                        "expected an HTTP status code (100 to 599)",
                    ),
                }
            }
        }
        Some(Value::Number(n)) => match n.as_u64().filter(|s| (100..=599).contains(s)) {
            Some(status) => expect_status.push(status as u16),
            None => r.problems.error(
                &c.key_path("expect_status"),
                "expected an HTTP status code (100 to 599)",
            ),
        },
        Some(_) => r.problems.error(
            &c.key_path("expect_status"),
            "expected a status code or a list of them",
        ),
    }
    Some(CheckSpec {
        method,
        path,
        expect_status,
    })
}

/// `tls = { cert, key, ca }`: `cert` and `key` together (a client certificate), `ca` (extra
/// roots), or all three.
fn read_tls(r: &mut Reader<'_>, t: &Table<'_>) -> Option<TlsSpec> {
    let tls = r.sub_table(t, "tls")?;
    r.known_keys(&tls, &["cert", "key", "ca"]);
    let cert = r.path(&tls, "cert");
    let key = r.private_key(&tls, "key");
    let ca = r.path(&tls, "ca");
    let given = |key: &str| tls.get(key).is_some();
    let incomplete = match (given("cert"), given("key")) {
        (true, false) => Some(("key", "missing (cert and key go together)")),
        (false, true) => Some(("cert", "missing (cert and key go together)")),
        _ => None,
    };
    if let Some((missing, message)) = incomplete {
        r.problems.error(&tls.key_path(missing), message);
        return None;
    }
    if !given("cert") && !given("ca") {
        r.problems.error(
            &tls.path,
            "empty (give `ca` to trust a private CA, `cert` and `key` to present a client \
             certificate, or all three)",
        );
        return None;
    }
    // A value given but unreadable is already a problem.
    if given("cert") != cert.is_some()
        || given("key") != key.is_some()
        || given("ca") != ca.is_some()
    {
        return None;
    }
    Some(TlsSpec { cert, key, ca })
}

fn read_key_map(r: &mut Reader<'_>, t: &Table<'_>) -> KeyMapSpec {
    let Some(k) = r.sub_table(t, "key_map") else {
        return KeyMapSpec::default();
    };
    r.known_keys(
        &k,
        &["access_token", "expires_in", "token_type", "refresh_token"],
    );
    KeyMapSpec {
        access_token: r.string(&k, "access_token"),
        expires_in: r.string(&k, "expires_in"),
        token_type: r.string(&k, "token_type"),
        refresh_token: r.string(&k, "refresh_token"),
    }
}

fn read_location(r: &mut Reader<'_>, t: &Table<'_>) -> Location {
    match r.string(t, "location").as_deref() {
        None | Some("header") => Location::Header,
        Some("query") => Location::Query,
        Some(other) => {
            r.problems.error(
                &t.key_path("location"),
                format!("`{other}` is not a location (expected `header` or `query`)"),
            );
            Location::Header
        }
    }
}

/// Reads a string that must be one of `allowed`, with a suggestion when it is not.
fn one_of(r: &mut Reader<'_>, t: &Table<'_>, key: &str, allowed: &[&str]) -> Option<String> {
    let value = r.string(t, key)?;
    if allowed.contains(&value.as_str()) {
        return Some(value);
    }
    let hint = match super::error::did_you_mean(&value, allowed) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("expected one of: {}", allowed.join(", ")),
    };
    r.problems.error(
        &t.key_path(key),
        format!("unknown value `{value}` ({hint})"),
    );
    None
}

fn read_auth(r: &mut Reader<'_>, t: &Table<'_>) -> Option<AuthSpec> {
    let Some(kind) = one_of(r, t, "type", AUTH_TYPES) else {
        if t.get("type").is_none() {
            r.problems.error(
                &t.key_path("type"),
                format!("missing (one of: {})", AUTH_TYPES.join(", ")),
            );
        }
        return None;
    };
    match kind.as_str() {
        "none" => {
            r.known_keys(t, &["type"]);
            Some(AuthSpec::None)
        }
        "bearer" => {
            r.known_keys(t, &["type", "token", "header", "prefix"]);
            let token = r.secret(t, "token", true);
            let header = r
                .string(t, "header")
                .unwrap_or_else(|| "Authorization".into());
            let prefix = r.string(t, "prefix").unwrap_or_else(|| "Bearer".into());
            Some(AuthSpec::Bearer {
                token: token?,
                header,
                prefix,
            })
        }
        "api_key" => {
            r.known_keys(t, &["type", "key_name", "key_value", "location", "prefix"]);
            let key_name = r.required_string(t, "key_name");
            let key_value = r.secret(t, "key_value", true);
            let location = read_location(r, t);
            let prefix = r.string(t, "prefix");
            Some(AuthSpec::ApiKey {
                key_name: key_name?,
                key_value: key_value?,
                location,
                prefix,
            })
        }
        "basic" => {
            r.known_keys(t, &["type", "username", "password"]);
            let username = r.required_string(t, "username");
            let password = r.secret(t, "password", true);
            Some(AuthSpec::Basic {
                username: username?,
                password: password?,
            })
        }
        "oauth2" => read_oauth2(r, t).map(|s| AuthSpec::OAuth2(Box::new(s))),
        "jwt_bearer" => read_jwt_bearer(r, t).map(|s| AuthSpec::JwtBearer(Box::new(s))),
        "custom" => read_custom(r, t).map(|s| AuthSpec::Custom(Box::new(s))),
        _ => None,
    }
}

fn read_oauth2(r: &mut Reader<'_>, t: &Table<'_>) -> Option<OAuth2Spec> {
    r.known_keys(
        t,
        &[
            "type",
            "grant",
            "token_url",
            "auth_url",
            "device_authorization_url",
            "issuer",
            "client_id",
            "client_secret",
            "client_auth",
            "scopes",
            "audience",
            "resource",
            "header_prefix",
            "username",
            "password",
            "refresh_token",
            "redirect_uri",
            "pkce",
            "extra_params",
            "key_map",
            "private_key",
            "key_id",
            "token_store",
            "tls",
            "auth_params",
            "prompt",
            "offline_access",
            "refresh_before",
            "cache",
            "profile",
            "dpop",
            "revocation_url",
            "subject_token",
            "subject_token_type",
            "actor_token",
            "actor_token_type",
            "requested_token_type",
        ],
    );
    let grant = one_of(r, t, "grant", GRANTS);
    if t.get("grant").is_none() {
        r.problems.error(
            &t.key_path("grant"),
            format!("missing (one of: {})", GRANTS.join(", ")),
        );
    }
    let issuer = r.url(t, "issuer", false);
    let token_url = r.url(t, "token_url", false);
    if token_url.is_none() && issuer.is_none() && t.get("token_url").is_none() {
        r.problems.error(
            &t.key_path("token_url"),
            "missing (give `token_url`, or `issuer` for discovery)",
        );
    }
    let client_id = r.required_string(t, "client_id");
    let client_auth = match t.get("client_auth") {
        None => Some("auto".to_owned()),
        Some(_) => one_of(r, t, "client_auth", CLIENT_AUTH),
    };
    let client_secret = r.secret(t, "client_secret", false);
    let needs_secret = matches!(client_auth.as_deref(), Some("basic" | "body"));
    if needs_secret && client_secret.is_none() && t.get("client_secret").is_none() {
        r.problems.error(
            &t.key_path("client_secret"),
            "missing (client_auth `basic` and `body` send a client secret)",
        );
    }
    let private_key = r.private_key(t, "private_key");
    if client_auth.as_deref() == Some("private_key_jwt") && t.get("private_key").is_none() {
        r.problems.error(
            &t.key_path("private_key"),
            "missing (client_auth `private_key_jwt` signs with a private key)",
        );
    }
    let username = r.string(t, "username");
    let password = r.secret(t, "password", false);
    let refresh_token = r.secret(t, "refresh_token", false);
    let redirect_uri = r.url(t, "redirect_uri", false);
    let auth_url = r.url(t, "auth_url", false);
    let device_authorization_url = r.url(t, "device_authorization_url", false);
    match grant.as_deref() {
        Some("password") => {
            if t.get("username").is_none() {
                r.problems.error(
                    &t.key_path("username"),
                    "missing (the password grant needs it)",
                );
            }
            if t.get("password").is_none() {
                r.problems.error(
                    &t.key_path("password"),
                    "missing (the password grant needs it)",
                );
            }
        }
        Some("refresh_token")
            if t.get("refresh_token").is_none() && t.get("token_store").is_none() =>
        {
            r.problems.error(
                &t.key_path("refresh_token"),
                "missing (the refresh_token grant needs a refresh token, or a token_store holding one)",
            );
        }
        Some("authorization_code") => {
            if t.get("redirect_uri").is_none() {
                r.problems.error(
                    &t.key_path("redirect_uri"),
                    "missing (the authorization_code grant needs the registered redirect URI)",
                );
            }
            if t.get("auth_url").is_none() && issuer.is_none() {
                r.problems.error(
                    &t.key_path("auth_url"),
                    "missing (give `auth_url`, or `issuer` for discovery)",
                );
            }
        }
        Some("device_code") if t.get("device_authorization_url").is_none() && issuer.is_none() => {
            r.problems.error(
                &t.key_path("device_authorization_url"),
                "missing (give `device_authorization_url`, or `issuer` for discovery)",
            );
        }
        _ => {}
    }
    if let Some(other) = grant.as_deref().filter(|g| *g != "device_code")
        && t.get("device_authorization_url").is_some()
    {
        r.problems.error(
            &t.key_path("device_authorization_url"),
            format!(
                "only the device_code grant uses it (this connection's grant is `{other}`); \
                 remove it"
            ),
        );
    }
    let extra_params = r.string_map(t, "extra_params");
    let sign_in = sign_in::read(r, t, grant.as_deref(), &extra_params);
    let profile = super::profile::read(r, t, grant.as_deref());
    let exchange = super::exchange::read(r, t, grant.as_deref());
    let revocation_url = r.url(t, "revocation_url", false);
    let spec = OAuth2Spec {
        grant: grant?,
        token_url,
        auth_url,
        device_authorization_url,
        issuer,
        client_id: client_id?,
        client_secret,
        client_auth: client_auth?,
        scopes: r.string_list(t, "scopes"),
        audience: r.string(t, "audience"),
        resource: r.string_list(t, "resource"),
        header_prefix: r.string(t, "header_prefix"),
        username,
        password,
        refresh_token,
        redirect_uri,
        pkce: r.bool(t, "pkce", true),
        extra_params,
        auth_params: sign_in.auth_params,
        prompt: sign_in.prompt,
        offline_access: sign_in.offline_access,
        key_map: read_key_map(r, t),
        private_key,
        key_id: r.string(t, "key_id"),
        token_store: r.path(t, "token_store"),
        tls: read_tls(r, t),
        refresh_before: r.duration(t, "refresh_before"),
        cache: super::fleet::read(r, t),
        profile,
        dpop: super::dpop::read(r, t),
        exchange,
        revocation_url,
    };
    if spec.dpop.is_some() && t.get("cache").is_some() {
        r.problems.error(
            &t.key_path("cache"),
            "a DPoP-bound token is bound to this process's key and cannot be shared with other \
             processes: remove `cache` (or `dpop`)",
        );
    }
    Some(spec)
}

fn read_jwt_bearer(r: &mut Reader<'_>, t: &Table<'_>) -> Option<JwtBearerSpec> {
    r.known_keys(
        t,
        &[
            "type",
            "token_url",
            "issuer",
            "subject",
            "audience",
            "scopes",
            "private_key",
            "key_id",
            "algorithm",
            "service_account_file",
            "tls",
            "refresh_before",
            "cache",
        ],
    );
    let service_account_file = r.key_file(t, "service_account_file");
    let token_url = r.url(t, "token_url", false);
    let private_key = r.private_key(t, "private_key");
    if service_account_file.is_none() {
        for key in ["token_url", "issuer", "private_key"] {
            if t.get(key).is_none() {
                r.problems.error(
                    &t.key_path(key),
                    "missing (required unless `service_account_file` is given)",
                );
            }
        }
    }
    let algorithm = one_of(
        r,
        t,
        "algorithm",
        &[
            "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA",
        ],
    );
    Some(JwtBearerSpec {
        token_url,
        issuer: r.string(t, "issuer"),
        subject: r.string(t, "subject"),
        audience: r.string(t, "audience"),
        scopes: r.string_list(t, "scopes"),
        private_key,
        key_id: r.string(t, "key_id"),
        algorithm,
        service_account_file,
        tls: read_tls(r, t),
        refresh_before: r.duration(t, "refresh_before"),
        cache: super::fleet::read(r, t),
    })
}

fn read_custom(r: &mut Reader<'_>, t: &Table<'_>) -> Option<CustomSpec> {
    r.known_keys(
        t,
        &[
            "type",
            "request",
            "values",
            "key_map",
            "header",
            "prefix",
            "location",
            "refresh_before",
            "cache",
        ],
    );
    let request = r.sub_table(t, "request");
    if t.get("request").is_none() {
        r.problems.error(
            &t.key_path("request"),
            "missing (the token request: method, url, body)",
        );
    }
    let request = request?;
    r.known_keys(&request, &["method", "url", "headers", "json", "form"]);
    let method = match r.string(&request, "method") {
        None => Method::POST,
        Some(m) => match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(method) => method,
            Err(_) => {
                r.problems.error(
                    &request.key_path("method"),
                    format!("`{m}` is not an HTTP method"),
                );
                Method::POST
            }
        },
    };
    let url = r.filled_url(&request, "url", true);
    let json = r.filled_template_map(&request, "json");
    let form = r.filled_template_map(&request, "form");
    if json.is_some() && form.is_some() {
        r.problems.error(
            &request.path,
            "give either `json` or `form` as the body, not both",
        );
    }
    let headers = r
        .filled_template_map(&request, "headers")
        .unwrap_or_default();
    let values = r.filled_template_map(t, "values").unwrap_or_default();
    let location = read_location(r, t);
    let header = r.string(t, "header").unwrap_or_else(|| match location {
        Location::Header => "Authorization".into(),
        Location::Query => "access_token".into(),
    });
    Some(CustomSpec {
        method,
        url: url?,
        headers,
        json,
        form,
        values,
        key_map: read_key_map(r, t),
        header,
        prefix: r.string(t, "prefix").unwrap_or_else(|| match location {
            Location::Header => "Bearer".into(),
            Location::Query => String::new(),
        }),
        location,
        refresh_before: r.duration(t, "refresh_before"),
        cache: super::fleet::read(r, t),
    })
}
