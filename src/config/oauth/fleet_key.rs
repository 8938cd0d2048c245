//! What names a connection's token in the fleet cache (`cache = { redis = … }`): every setting
//! that makes its tokens differ, and its secrets (hashed, never stored).

use super::{
    super::fleet::KeyParts, ConfigError, ConnectionSpec, JwtBearerSpec, OAuth2Spec, Resolver,
};

/// What names an oauth2 connection's token in the fleet cache.
pub(super) fn oauth2_key(spec: &ConnectionSpec, o: &OAuth2Spec) -> Result<KeyParts, ConfigError> {
    let r = Resolver::new(spec);
    let mut secrets = Vec::new();
    for (key, secret) in [
        ("client_secret", &o.client_secret),
        ("private_key", &o.private_key),
        ("password", &o.password),
    ] {
        if let Some(secret) = secret {
            secrets.push(r.secret(key, secret)?);
        }
    }
    // Delegated grants: one user's tokens (the connection's stored grant, the password user).
    let subject = match o.grant.as_str() {
        "refresh_token" | "authorization_code" | "device_code" => {
            Some(format!("connection:{}", spec.name))
        }
        "password" => o.username.clone(),
        // A subject token file rotates: its path names it. Other subject tokens are secrets,
        // hashed with the others.
        "token_exchange" => match &o.exchange {
            Some(x) => {
                for (key, secret) in [
                    ("subject_token", Some(&x.subject_token)),
                    ("actor_token", x.actor_token.as_ref()),
                ] {
                    match secret {
                        Some(crate::config::SecretRef::File(path)) => {
                            secrets.push(auth_core::SecretString::from(format!(
                                "{key}:file:{}",
                                path.display()
                            )));
                        }
                        Some(secret) => secrets.push(r.secret(key, secret)?),
                        None => {}
                    }
                }
                Some(format!("token_exchange:{}", x.subject_token_type))
            }
            None => None,
        },
        _ => None,
    };
    Ok(KeyParts {
        token_url: o
            .token_url
            .clone()
            .or_else(|| o.issuer.clone())
            .unwrap_or_default(),
        client_id: o.client_id.clone(),
        grant: o.grant.clone(),
        scopes: o.scopes.clone(),
        audience: o.audience.clone(),
        resources: o.resource.clone(),
        subject,
        extra: o.extra_params.clone(),
        secrets,
    })
}

/// What names a jwt_bearer connection's token in the fleet cache.
pub(super) fn jwt_bearer_key(
    spec: &ConnectionSpec,
    j: &JwtBearerSpec,
) -> Result<KeyParts, ConfigError> {
    let r = Resolver::new(spec);
    let mut secrets = Vec::new();
    if let Some(key) = &j.private_key {
        secrets.push(r.secret("private_key", key)?);
    }
    Ok(KeyParts {
        token_url: j.token_url.clone().unwrap_or_default(),
        client_id: j.issuer.clone().unwrap_or_default(),
        grant: auth_oauth::grant::JWT_BEARER_GRANT_TYPE.to_owned(),
        scopes: j.scopes.clone(),
        audience: j.audience.clone(),
        subject: j.subject.clone(),
        extra: j
            .service_account_file
            .iter()
            .map(|f| ("service_account_file".to_owned(), f.display().to_string()))
            .collect(),
        secrets,
        ..Default::default()
    })
}
