//! The parameters an authorization request carries besides the grant's own, and the check
//! that they neither override nor repeat what the grant sets.

use auth_core::AuthError;

use crate::TokenParams;

/// What the grant writes into every authorization URL itself (RFC 6749 §4.1.1, RFC 7636 §4.3);
/// `scope` comes from the scopes of [`TokenParams`].
pub(super) const SET_BY_GRANT: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

/// Checks the parameters added to the authorization URL: the extra parameters of `params`
/// (named `params.NAME` in errors) and `auth_params` (named `auth_params.NAME`). A name the
/// grant sets itself, one a dedicated setting already sets (`prompt`, `access_type` with
/// offline access, `audience`, `resource`), or an `auth_params` name that is also an extra
/// parameter would send the parameter twice or replace the grant's own: refused.
pub(super) fn check(
    params: &TokenParams,
    prompt: bool,
    offline: bool,
    auth_params: &[(String, String)],
) -> Result<(), AuthError> {
    let extra = params.extra_params().iter().map(|(n, _)| ("params", n));
    let added = auth_params.iter().map(|(n, _)| ("auth_params", n));
    for (setting, name) in extra.chain(added) {
        if name.trim().is_empty() {
            return Err(AuthError::config(setting, "a parameter has an empty name"));
        }
        let path = format!("{setting}.{name}");
        if name == "scope" {
            return Err(AuthError::config(
                path,
                "is set by the grant from its scopes; set the scopes instead",
            ));
        }
        if SET_BY_GRANT.contains(&name.as_str()) {
            return Err(AuthError::config(
                path,
                "is set by the grant itself and cannot be overridden",
            ));
        }
        let dedicated = match name.as_str() {
            "prompt" if prompt => Some("prompt"),
            "access_type" if offline => Some("offline_access"),
            "audience" if params.requested_audience().is_some() => Some("audience"),
            "resource" if !params.requested_resources().is_empty() => Some("resource"),
            _ => None,
        };
        if let Some(dedicated) = dedicated {
            return Err(AuthError::config(
                path,
                format!("repeats the `{dedicated}` setting; give it once"),
            ));
        }
        if setting == "auth_params" && params.extra_params().iter().any(|(n, _)| n == name) {
            return Err(AuthError::config(
                path,
                "is also an extra parameter, which the authorization request carries too; give \
                 it once",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::ErrorKind;

    fn refused(params: &TokenParams, prompt: bool, offline: bool, auth: &[(&str, &str)]) -> String {
        let auth: Vec<(String, String)> = auth
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let err = check(params, prompt, offline, &auth).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Config);
        err.detail().unwrap_or_default().to_owned()
    }

    #[test]
    fn the_grants_own_parameters_are_refused_by_name() {
        for name in SET_BY_GRANT {
            let message = refused(&TokenParams::new(), false, false, &[(name, "x")]);
            assert!(
                message.starts_with(&format!("auth_params.{name}: ")),
                "{message}"
            );
            let extra = TokenParams::new().param(name, "x");
            let message = refused(&extra, false, false, &[]);
            assert!(
                message.starts_with(&format!("params.{name}: ")),
                "{message}"
            );
        }
        let message = refused(&TokenParams::new(), false, false, &[("scope", "a")]);
        assert!(message.contains("set the scopes instead"), "{message}");
    }

    #[test]
    fn a_parameter_a_setting_already_sends_is_refused() {
        let message = refused(&TokenParams::new(), true, false, &[("prompt", "login")]);
        assert!(message.starts_with("auth_params.prompt: repeats the `prompt` setting"));
        let extra = TokenParams::new().param("access_type", "offline");
        let message = refused(&extra, false, true, &[]);
        assert!(message.starts_with("params.access_type: repeats the `offline_access`"));
        let audience = TokenParams::new().audience("https://api.example.com");
        let message = refused(&audience, false, false, &[("audience", "x")]);
        assert!(
            message.starts_with("auth_params.audience: repeats"),
            "{message}"
        );
        let extra = TokenParams::new().param("login_hint", "a@example.com");
        let message = refused(&extra, false, false, &[("login_hint", "b@example.com")]);
        assert!(message.starts_with("auth_params.login_hint: is also an extra parameter"));
        let message = refused(&TokenParams::new(), false, false, &[(" ", "x")]);
        assert!(message.starts_with("auth_params: a parameter has an empty name"));
    }

    #[test]
    fn other_parameters_pass_even_without_the_dedicated_setting() {
        let extra = TokenParams::new().param("prompt", "consent");
        let auth = [
            ("login_hint".to_owned(), "alice@example.com".to_owned()),
            ("access_type".to_owned(), "offline".to_owned()),
            ("nonce".to_owned(), "n-1".to_owned()),
        ];
        assert!(check(&extra, false, false, &auth).is_ok());
    }
}
