//! The sign-in connections (`tower-auth login`): `authorization_code` and `device_code`, their
//! endpoints (configured, or discovered from the issuer) and their builders.

use auth_oauth::{
    OAuth2Layer, OAuth2LayerBuilder,
    grant::{AuthorizationCode, DeviceCode},
};

use super::{Endpoints, Resolver, common, discovery, missing_token_url, store};
use crate::config::{
    error::ConfigError,
    spec::{ConnectionSpec, OAuth2Spec},
};

/// The endpoints of a sign-in (`tower-auth login`): as configured when `token_url` and the
/// sign-in's own endpoint (`start`: `auth_url`, `device_authorization_url`) are both given,
/// or `token_url` without an issuer; otherwise what the issuer's metadata does not leave to the
/// configuration is discovered now.
async fn sign_in_endpoints(
    r: &Resolver,
    o: &OAuth2Spec,
    start: Option<&String>,
) -> Result<Endpoints, ConfigError> {
    match (&o.token_url, start, &o.issuer) {
        (Some(token_url), Some(_), _) | (Some(token_url), None, None) => {
            Ok(Endpoints::given(token_url, o))
        }
        (_, _, Some(issuer)) => {
            let metadata = discovery(r, o)?
                .discover(issuer)
                .await
                .map_err(|e| r.problem("issuer", e.message()))?;
            Ok(Endpoints::discovered(&metadata, o))
        }
        (None, _, None) => Err(missing_token_url(r)),
    }
}

/// The `OAuth2Layer` of an authorization-code connection, for `tower-auth login`; with
/// `issuer`, the endpoints the configuration does not name are discovered first.
pub(crate) async fn authorization_code(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
) -> Result<OAuth2Layer<AuthorizationCode>, ConfigError> {
    let r = Resolver::new(spec);
    let endpoints = sign_in_endpoints(&r, o, o.auth_url.as_ref()).await?;
    authorization_code_builder(spec, o, &r, &endpoints)?
        .build()
        .map_err(|e| r.build_error(e))
}

pub(super) fn authorization_code_builder(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
    r: &Resolver,
    endpoints: &Endpoints,
) -> Result<OAuth2LayerBuilder<AuthorizationCode>, ConfigError> {
    let auth_url = endpoints.auth_url.clone().ok_or_else(|| {
        r.problem(
            "auth_url",
            "missing (give `auth_url`, or `issuer` to discover it)",
        )
    })?;
    let redirect_uri = o
        .redirect_uri
        .clone()
        .ok_or_else(|| r.problem("redirect_uri", "missing"))?;
    let mut builder = OAuth2Layer::authorization_code(
        endpoints.token_url.clone(),
        o.client_id.clone(),
        auth_url,
        redirect_uri,
    )
    .pkce(o.pkce)
    .offline_access(o.offline_access)
    .store(store(r, &spec.name, o)?, spec.store_key().to_owned());
    if let Some(prompt) = &o.prompt {
        builder = builder.prompt(prompt.clone());
    }
    for (name, value) in &o.auth_params {
        builder = builder.auth_param(name.clone(), value.clone());
    }
    common(r, o, endpoints, builder)
}

/// The `OAuth2Layer` of a device-code connection, for `tower-auth login`; with `issuer`, the
/// endpoints the configuration does not name are discovered first.
pub(crate) async fn device_code(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
) -> Result<OAuth2Layer<DeviceCode>, ConfigError> {
    let r = Resolver::new(spec);
    let endpoints = sign_in_endpoints(&r, o, o.device_authorization_url.as_ref()).await?;
    device_code_builder(spec, o, &r, &endpoints)?
        .build()
        .map_err(|e| r.build_error(e))
}

pub(super) fn device_code_builder(
    spec: &ConnectionSpec,
    o: &OAuth2Spec,
    r: &Resolver,
    endpoints: &Endpoints,
) -> Result<OAuth2LayerBuilder<DeviceCode>, ConfigError> {
    let url = endpoints.device_authorization_url.clone().ok_or_else(|| {
        r.problem(
            "device_authorization_url",
            "missing (give `device_authorization_url`, or an `issuer` whose metadata has a \
             `device_authorization_endpoint`)",
        )
    })?;
    let builder = OAuth2Layer::device_code(endpoints.token_url.clone(), o.client_id.clone(), url)
        .store(store(r, &spec.name, o)?, spec.store_key().to_owned());
    common(r, o, endpoints, builder)
}
