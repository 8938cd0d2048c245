//! Builds the token source of a `type = "custom"` connection with `CustomTokenRequest`.

use std::sync::Arc;

use auth_core::{AuthError, CachedTokenSource, TokenSource};
use auth_layers::TokenLayer;
use auth_oauth::custom::{CustomTokenRequest, Template};

use super::{
    error::ConfigError,
    oauth::key_map_from,
    spec::{ConnectionSpec, CustomSpec, Location, TemplateValue},
};

/// The connection's custom token source, cached, in a `TokenLayer` that places the token where
/// the configuration says.
pub(crate) fn token_layer(
    spec: &ConnectionSpec,
    c: &CustomSpec,
) -> Result<TokenLayer<Arc<dyn TokenSource>>, ConfigError> {
    let first = request(spec, c)?;
    let placement = first.placement().clone();
    // Secret files rotate: the request is built again when one changed.
    let source = super::rotation::rebuilt_on_change(spec, Arc::new(first), {
        let (spec, c) = (spec.clone(), c.clone());
        move || request(&spec, &c).map(|r| Arc::new(r) as Arc<dyn TokenSource>)
    });
    let source = super::fleet::shared(spec, c.cache.as_ref(), source, || fleet_key(spec, c))?;
    let cache = super::oauth::cache_config(c.refresh_before).name(spec.name.clone());
    let source: Arc<dyn TokenSource> = Arc::new(CachedTokenSource::with_config(source, cache));
    let path = format!("connections.{}.auth.location", spec.name);
    placement
        .layer(source)
        .map_err(|e| ConfigError::from_auth(path, &e))
}

/// The connection's custom token request, its secrets resolved now.
fn request(spec: &ConnectionSpec, c: &CustomSpec) -> Result<CustomTokenRequest, ConfigError> {
    let path = format!("connections.{}.auth", spec.name);
    let problem = |key: &str, error: AuthError| {
        let at = if key.is_empty() {
            path.clone()
        } else {
            format!("{path}.{key}")
        };
        ConfigError::from_auth(at, &error)
    };
    let template = |key: String, value: &TemplateValue| -> Result<Template, ConfigError> {
        Ok(match value {
            TemplateValue::Text(text) => Template::text(text.clone()),
            TemplateValue::Secret(secret) => Template::secret(
                secret
                    .resolve_for(&format!("{path}.{key}"), &spec.redactor)
                    .map_err(ConfigError::secret)?,
            ),
        })
    };
    let mut builder = CustomTokenRequest::builder(c.method.clone(), c.url.clone());
    for (name, value) in &c.headers {
        builder = builder.header(
            name.clone(),
            template(format!("request.headers.{name}"), value)?,
        );
    }
    for (name, value) in c.json.iter().flatten() {
        builder = builder.json_field(
            name.clone(),
            template(format!("request.json.{name}"), value)?,
        );
    }
    for (name, value) in c.form.iter().flatten() {
        builder = builder.form_field(
            name.clone(),
            template(format!("request.form.{name}"), value)?,
        );
    }
    for (name, value) in &c.values {
        builder = match value {
            TemplateValue::Text(text) => builder.value(name.clone(), text.clone()),
            TemplateValue::Secret(secret) => builder.secret_value(
                name.clone(),
                secret
                    .resolve_for(&format!("{path}.values.{name}"), &spec.redactor)
                    .map_err(ConfigError::secret)?,
            ),
        };
    }
    builder = builder.key_map(key_map_from(&c.key_map).map_err(|e| problem("key_map", e))?);
    if let Some(timeout) = spec.timeout {
        // The connection's timeout bounds its token request too.
        builder = builder.timeout(timeout);
    }
    builder = match c.location {
        Location::Header => builder.send_in_header(&c.header, &c.prefix),
        Location::Query => builder.send_in_query(&c.header),
    };
    builder.build().map_err(|e| problem("request", e))
}

/// What names a custom connection's token in the fleet cache: the request as configured, its
/// secrets resolved (only their keyed hash reaches Redis).
fn fleet_key(spec: &ConnectionSpec, c: &CustomSpec) -> Result<super::fleet::KeyParts, ConfigError> {
    let path = format!("connections.{}.auth", spec.name);
    let mut parts = super::fleet::KeyParts {
        token_url: c.url.clone(),
        client_id: format!("custom:{}", c.method),
        grant: "custom".to_owned(),
        ..Default::default()
    };
    let body = c.json.iter().chain(c.form.iter());
    let sections = [("headers", &c.headers), ("values", &c.values)];
    let all = sections.into_iter().chain(body.map(|m| ("body", m)));
    for (section, map) in all {
        for (name, value) in map {
            match value {
                TemplateValue::Text(text) => {
                    parts
                        .extra
                        .insert(format!("{section}.{name}"), text.clone());
                }
                TemplateValue::Secret(secret) => parts.secrets.push(
                    secret
                        .resolve_for(&format!("{path}.{section}.{name}"), &spec.redactor)
                        .map_err(ConfigError::secret)?,
                ),
            }
        }
    }
    Ok(parts)
}
