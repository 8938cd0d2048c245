//! The token source of a `type = "jwt_bearer"` connection (RFC 7523): a signing key or a
//! service-account file, rebuilt when one of its secret files changes.

use std::sync::Arc;

use auth_core::{AuthError, CachedTokenSource, ExposeSecret, TokenSource};
use auth_oauth::{
    OAuth2Layer,
    assertion::{Algorithm, SigningKey},
};

use super::{Resolver, cache_config, expand_home, fleet_key, tls_http_client};
use crate::config::{
    error::ConfigError,
    spec::{ConnectionSpec, JwtBearerSpec},
};

/// The token source of a `type = "jwt_bearer"` connection (RFC 7523), cached.
pub(crate) fn jwt_bearer_source(
    spec: &ConnectionSpec,
    j: &JwtBearerSpec,
) -> Result<Arc<dyn TokenSource>, ConfigError> {
    let grant = rotating_jwt_bearer(spec, j)?;
    let grant = crate::config::fleet::shared(spec, j.cache.as_ref(), grant, || {
        fleet_key::jwt_bearer_key(spec, j)
    })?;
    let cache = cache_config(j.refresh_before).name(spec.name.clone());
    Ok(Arc::new(CachedTokenSource::with_config(grant, cache)))
}

/// The JWT bearer grant, without the cache; secret files (the key, the service-account file)
/// rotate: it is built again when one changed.
pub(crate) fn rotating_jwt_bearer(
    spec: &ConnectionSpec,
    j: &JwtBearerSpec,
) -> Result<Arc<dyn TokenSource>, ConfigError> {
    Ok(crate::config::rotation::rebuilt_on_change(
        spec,
        jwt_bearer_grant(spec, j)?,
        {
            let (spec, j) = (spec.clone(), j.clone());
            move || jwt_bearer_grant(&spec, &j)
        },
    ))
}

/// The JWT bearer grant, without the cache.
fn jwt_bearer_grant(
    spec: &ConnectionSpec,
    j: &JwtBearerSpec,
) -> Result<Arc<dyn TokenSource>, ConfigError> {
    let r = Resolver::new(spec);
    let mut builder = match &j.service_account_file {
        Some(file) => OAuth2Layer::service_account(expand_home(file)),
        None => {
            let pem = r.required(
                "private_key",
                j.private_key.as_ref(),
                "it signs the assertion",
            )?;
            let mut key = SigningKey::from_pem(pem.expose_secret().as_bytes())
                .map_err(|e| r.build_error(e))?;
            if let Some(algorithm) = &j.algorithm {
                let algorithm: Algorithm =
                    algorithm.parse().map_err(|e: AuthError| r.build_error(e))?;
                key = key
                    .with_algorithm(algorithm)
                    .map_err(|e| r.build_error(e))?;
            }
            if let Some(kid) = &j.key_id {
                key = key.with_key_id(kid.clone());
            }
            let token_url = j
                .token_url
                .clone()
                .ok_or_else(|| r.problem("token_url", "missing"))?;
            let issuer = j
                .issuer
                .clone()
                .ok_or_else(|| r.problem("issuer", "missing"))?;
            OAuth2Layer::jwt_bearer(token_url, issuer, key)
        }
    };
    // The cache (with `refresh_before`) is built around the grant by `jwt_bearer_source`.
    builder = builder.redactor(r.redactor.clone());
    if let Some(timeout) = r.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(subject) = &j.subject {
        builder = builder.subject(subject.clone());
    }
    if let Some(audience) = &j.audience {
        builder = builder.assertion_audience(audience.clone());
    }
    if !j.scopes.is_empty() {
        builder = builder.scopes(j.scopes.clone());
    }
    if let Some(http) = tls_http_client(&r, j.tls.as_ref())? {
        builder = builder.http_client(http);
    }
    let grant = builder.build_grant().map_err(|e| r.build_error(e))?;
    Ok(Arc::new(grant))
}
