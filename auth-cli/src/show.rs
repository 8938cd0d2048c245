//! `tower-auth config validate` and `tower-auth config show`.

use std::fmt::Write as _;

use tower_auth::config::{
    AuthSpec, Config, ConnectionSpec, FleetCacheSpec, KeyMapSpec, Location, SecretRef,
    TemplateValue, TlsSpec,
};

/// Loading already reported every error (exit 2 before we get here); print the warnings.
pub(crate) fn validate(config: &Config) -> u8 {
    let count = config.connection_names().count();
    println!(
        "{}: valid, {count} connection{}",
        config.source_name(),
        if count == 1 { "" } else { "s" }
    );
    for warning in config.warnings() {
        println!("warning: {warning}");
    }
    0
}

/// `tower-auth config gen-key`: a fresh fleet-cache encryption key on stdout.
pub(crate) fn gen_key() -> u8 {
    use tower_auth::core::ExposeSecret;
    match tower_auth::redis::EncryptionKey::generate() {
        Ok(key) => {
            println!("{}", key.to_base64().expose_secret());
            0
        }
        Err(error) => {
            eprintln!("error: {error}");
            1
        }
    }
}

/// The fleet cache as one line: the URL without its password, never the key.
fn cache_line(c: &FleetCacheSpec) -> String {
    let redis = match &c.redis {
        SecretRef::Literal(url) => {
            use tower_auth::core::ExposeSecret;
            quote(&tower_auth::redis::shown_url(url.expose_secret()))
        }
        other => secret(other),
    };
    let mut items = vec![format!("redis = {redis}")];
    if let Some(prefix) = &c.key_prefix {
        items.push(format!("key_prefix = {}", quote(prefix)));
    }
    if let Some(key) = &c.encryption_key {
        items.push(format!("encryption_key = {}", secret(key)));
    }
    if c.allow_plaintext {
        items.push("allow_plaintext = true".to_owned());
    }
    format!("{{ {} }}", items.join(", "))
}

pub(crate) fn show(config: &Config, env: Option<&str>, names: &[String]) -> u8 {
    let names: Vec<String> = if names.is_empty() {
        config.connection_names().map(str::to_owned).collect()
    } else {
        names.to_vec()
    };
    let mut code = 0;
    let mut out = String::new();
    for name in &names {
        // As written: `{name}` variables stay unfilled and none is read, so a variable from
        // the environment or a file is shown as its reference, never its value.
        match config.connection_as_written(name, env) {
            Ok(spec) => render(&mut out, &spec),
            Err(error) => {
                eprintln!("error: {error}");
                code = 2;
            }
        }
    }
    print!("{out}");
    code
}

fn quote(text: &str) -> String {
    format!("{text:?}")
}

/// Secrets print as their reference (`{ env = "X" }`), literals as `"[redacted]"`.
fn secret(s: &SecretRef) -> String {
    s.to_string()
}

fn render(out: &mut String, spec: &ConnectionSpec) {
    let header = format!("[connections.{}]", spec.name);
    match &spec.environment {
        Some(env) => {
            let _ = writeln!(out, "{header}  # environment: {env}");
        }
        None => {
            let _ = writeln!(out, "{header}");
        }
    }
    let _ = writeln!(out, "base_url = {}", quote(&spec.base_url));
    let _ = writeln!(
        out,
        "check = {{ method = {}, path = {}, expect_status = {:?} }}",
        quote(spec.check.method.as_str()),
        quote(&spec.check.path),
        spec.check.expect_status
    );
    if let Some(interval) = spec.secret_check_interval {
        let _ = writeln!(
            out,
            "secret_check_interval = \"{}ms\"",
            interval.as_millis()
        );
    }
    if let Some(timeout) = spec.timeout {
        let _ = writeln!(out, "timeout = \"{}ms\"", timeout.as_millis());
    }
    if let Some(tenants) = &spec.tenants {
        let idle = tenants
            .idle_timeout
            .map(|d| format!(", idle_timeout = \"{}ms\"", d.as_millis()))
            .unwrap_or_default();
        let _ = writeln!(out, "tenants = {{ max_keys = {}{idle} }}", tenants.max_keys);
    }
    if let Some(tls) = &spec.tls {
        let _ = writeln!(out, "tls = {}", tls_line(tls));
    }
    if !spec.headers.is_empty() {
        let items: Vec<String> = spec
            .headers
            .iter()
            .map(|(k, v)| format!("{} = {}", quote(k), quote(v)))
            .collect();
        let _ = writeln!(out, "headers = {{ {} }}", items.join(", "));
    }
    if !spec.variables.is_empty() {
        let items: Vec<String> = spec
            .variables
            .iter()
            .map(|(k, v)| format!("{k} = {}", template(v)))
            .collect();
        let _ = writeln!(out, "variables = {{ {} }}", items.join(", "));
    }
    let _ = writeln!(out, "\n[connections.{}.auth]", spec.name);
    let mut field = |key: &str, value: String| {
        let _ = writeln!(out, "{key} = {value}");
    };
    field("type", quote(spec.auth.type_name()));
    match &spec.auth {
        AuthSpec::None => {}
        AuthSpec::Bearer {
            token,
            header,
            prefix,
        } => {
            field("token", secret(token));
            field("header", quote(header));
            field("prefix", quote(prefix));
        }
        AuthSpec::ApiKey {
            key_name,
            key_value,
            location,
            prefix,
        } => {
            field("key_name", quote(key_name));
            field("key_value", secret(key_value));
            field("location", quote(location_name(*location)));
            if let Some(p) = prefix {
                field("prefix", quote(p));
            }
        }
        AuthSpec::Basic { username, password } => {
            field("username", quote(username));
            field("password", secret(password));
        }
        AuthSpec::OAuth2(o) => {
            field("grant", quote(&o.grant));
            for (key, value) in [
                ("token_url", &o.token_url),
                ("auth_url", &o.auth_url),
                ("device_authorization_url", &o.device_authorization_url),
                ("issuer", &o.issuer),
                ("audience", &o.audience),
                ("header_prefix", &o.header_prefix),
                ("username", &o.username),
                ("redirect_uri", &o.redirect_uri),
                ("key_id", &o.key_id),
                ("revocation_url", &o.revocation_url),
            ] {
                if let Some(v) = value {
                    field(key, quote(v));
                }
            }
            field("client_id", quote(&o.client_id));
            field("client_auth", quote(&o.client_auth));
            for (key, value) in [
                ("client_secret", &o.client_secret),
                ("password", &o.password),
                ("refresh_token", &o.refresh_token),
                ("private_key", &o.private_key),
            ] {
                if let Some(v) = value {
                    field(key, secret(v));
                }
            }
            if let Some(x) = &o.exchange {
                field("subject_token", secret(&x.subject_token));
                field("subject_token_type", quote(&x.subject_token_type));
                if let Some(actor) = &x.actor_token {
                    field("actor_token", secret(actor));
                    field("actor_token_type", quote(&x.actor_token_type));
                }
                if let Some(requested) = &x.requested_token_type {
                    field("requested_token_type", quote(requested));
                }
            }
            if !o.scopes.is_empty() {
                field("scopes", format!("{:?}", o.scopes));
            }
            if !o.resource.is_empty() {
                field("resource", format!("{:?}", o.resource));
            }
            field("pkce", o.pkce.to_string());
            if !o.extra_params.is_empty() {
                field("extra_params", format!("{:?}", o.extra_params));
            }
            if !o.auth_params.is_empty() {
                field("auth_params", format!("{:?}", o.auth_params));
            }
            if let Some(prompt) = &o.prompt {
                field("prompt", quote(prompt));
            }
            if o.offline_access {
                field("offline_access", "true".to_owned());
            }
            if let Some(store) = &o.token_store {
                field("token_store", quote(&store.display().to_string()));
            }
            if let Some(cache) = &o.cache {
                field("cache", cache_line(cache));
            }
            if let Some(lead) = o.refresh_before {
                field("refresh_before", format!("\"{}ms\"", lead.as_millis()));
            }
            if let Some(dpop) = &o.dpop {
                // Without `key`, a key is generated each time the connection is built.
                let mut parts: Vec<String> = dpop
                    .key
                    .iter()
                    .map(|key| format!("key = {}", secret(key)))
                    .collect();
                if let Some(alg) = &dpop.alg {
                    parts.push(format!("alg = {}", quote(alg)));
                }
                parts.push(format!("required = {}", dpop.required));
                field("dpop", format!("{{ {} }}", parts.join(", ")));
            }
            key_map_field(&mut field, &o.key_map);
            if let Some(tls) = &o.tls {
                field("tls", tls_line(tls));
            }
        }
        AuthSpec::JwtBearer(j) => {
            for (key, value) in [
                ("token_url", &j.token_url),
                ("issuer", &j.issuer),
                ("subject", &j.subject),
                ("audience", &j.audience),
                ("key_id", &j.key_id),
                ("algorithm", &j.algorithm),
            ] {
                if let Some(v) = value {
                    field(key, quote(v));
                }
            }
            if let Some(key) = &j.private_key {
                field("private_key", secret(key));
            }
            if let Some(file) = &j.service_account_file {
                field("service_account_file", quote(&file.display().to_string()));
            }
            if !j.scopes.is_empty() {
                field("scopes", format!("{:?}", j.scopes));
            }
            if let Some(cache) = &j.cache {
                field("cache", cache_line(cache));
            }
            if let Some(lead) = j.refresh_before {
                field("refresh_before", format!("\"{}ms\"", lead.as_millis()));
            }
            if let Some(tls) = &j.tls {
                field("tls", tls_line(tls));
            }
        }
        AuthSpec::Custom(c) => {
            field("request.method", quote(c.method.as_str()));
            field("request.url", quote(&c.url));
            for (label, map) in [
                ("request.headers", Some(&c.headers)),
                ("request.json", c.json.as_ref()),
                ("request.form", c.form.as_ref()),
                ("values", Some(&c.values)),
            ] {
                if let Some(map) = map.filter(|m| !m.is_empty()) {
                    let items: Vec<String> = map
                        .iter()
                        .map(|(k, v)| format!("{} = {}", quote(k), template(v)))
                        .collect();
                    field(label, format!("{{ {} }}", items.join(", ")));
                }
            }
            field("location", quote(location_name(c.location)));
            field("header", quote(&c.header));
            field("prefix", quote(&c.prefix));
            if let Some(cache) = &c.cache {
                field("cache", cache_line(cache));
            }
            if let Some(lead) = c.refresh_before {
                field("refresh_before", format!("\"{}ms\"", lead.as_millis()));
            }
            key_map_field(&mut field, &c.key_map);
        }
        other => field(
            "note",
            quote(&format!("{} is not shown", other.type_name())),
        ),
    }
    out.push('\n');
}

fn template(value: &TemplateValue) -> String {
    match value {
        TemplateValue::Text(text) => quote(text),
        TemplateValue::Secret(s) => secret(s),
    }
}

fn key_map_field(field: &mut impl FnMut(&str, String), key_map: &KeyMapSpec) {
    let items: Vec<String> = [
        ("access_token", &key_map.access_token),
        ("expires_in", &key_map.expires_in),
        ("token_type", &key_map.token_type),
        ("refresh_token", &key_map.refresh_token),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {}", quote(v))))
    .collect();
    if !items.is_empty() {
        field("key_map", format!("{{ {} }}", items.join(", ")));
    }
}

/// `{ cert = "…", key = { file = "…" }, ca = "…" }` with the fields that are set; the key as
/// its reference.
fn tls_line(tls: &TlsSpec) -> String {
    let mut fields = Vec::new();
    if let Some(cert) = &tls.cert {
        fields.push(format!("cert = {}", quote(&cert.display().to_string())));
    }
    if let Some(key) = &tls.key {
        fields.push(format!("key = {}", secret(key)));
    }
    if let Some(ca) = &tls.ca {
        fields.push(format!("ca = {}", quote(&ca.display().to_string())));
    }
    format!("{{ {} }}", fields.join(", "))
}

fn location_name(location: Location) -> &'static str {
    match location {
        Location::Header => "header",
        Location::Query => "query",
    }
}
