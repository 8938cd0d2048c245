//! What a token request asks for: [`Scopes`], `audience`, `resource` and extra parameters.
//!
//! ```
//! use auth_oauth::{Scopes, TokenParams};
//!
//! // A list, or one string with spaces or commas: all the same three scopes.
//! assert_eq!(Scopes::from(["read", "write", "admin"]), Scopes::from("read write,admin"));
//!
//! let params = TokenParams::new()
//!     .scopes("read write")
//!     .audience("https://api.example.com")
//!     .resource("https://files.example.com")
//!     .resource("https://mail.example.com")
//!     .param("access_type", "offline");
//! assert_eq!(params.requested_scopes(), ["read", "write"]);
//! ```

use auth_core::AuthError;

/// Form fields a grant sets itself; extra parameters may not override them.
pub(crate) const RESERVED: [&str; 12] = [
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "audience",
    "resource",
    "username",
    "password",
    "refresh_token",
    "code",
    "code_verifier",
    "redirect_uri",
];

/// Splits a scope string on spaces and commas, dropping empties and duplicates.
pub(crate) fn split_scopes(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in text.split(|c: char| c == ',' || c.is_whitespace()) {
        if !scope.is_empty() && !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    out
}

/// A list of scopes, from a list or from one string with space or comma separators.
///
/// Items of a list are split too, so `["read write"]` is two scopes. Duplicates are dropped,
/// order is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// The scopes, in order.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn from_items<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> Self {
        let joined: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
        Scopes(split_scopes(&joined.join(" ")))
    }
}

impl From<&str> for Scopes {
    fn from(text: &str) -> Self {
        Scopes(split_scopes(text))
    }
}

impl From<String> for Scopes {
    fn from(text: String) -> Self {
        Scopes(split_scopes(&text))
    }
}

impl From<&String> for Scopes {
    fn from(text: &String) -> Self {
        Scopes(split_scopes(text))
    }
}

impl<S: AsRef<str>, const N: usize> From<[S; N]> for Scopes {
    fn from(items: [S; N]) -> Self {
        Scopes::from_items(items)
    }
}

impl<S: AsRef<str>> From<Vec<S>> for Scopes {
    fn from(items: Vec<S>) -> Self {
        Scopes::from_items(items)
    }
}

impl<S: AsRef<str>> From<&[S]> for Scopes {
    fn from(items: &[S]) -> Self {
        Scopes::from_items(items)
    }
}

/// The parameters every grant's token request can carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenParams {
    scopes: Option<Scopes>,
    scope_separator: Option<char>,
    audience: Option<String>,
    resources: Vec<String>,
    extra: Vec<(String, String)>,
}

impl TokenParams {
    /// No scopes, audience, resources or extra parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The scopes to request, as a list or a space- or comma-separated string. Unset by
    /// default (the provider's default scopes); setting an empty list is an error at build time.
    pub fn scopes(mut self, scopes: impl Into<Scopes>) -> Self {
        self.scopes = Some(scopes.into());
        self
    }

    /// The character scopes are joined with in requests. Defaults to a space (RFC 6749 §3.3);
    /// a few providers want a comma.
    pub fn scope_separator(mut self, separator: char) -> Self {
        self.scope_separator = Some(separator);
        self
    }

    /// The `audience` parameter (Auth0, Okta and others).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Adds a `resource` parameter (RFC 8707); repeat for several resources.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// Drops the resources added so far (a per-key resource replaces them).
    pub(crate) fn clear_resources(mut self) -> Self {
        self.resources.clear();
        self
    }

    /// Adds an extra form parameter, e.g. `("access_type", "offline")`. Parameters the grant
    /// sets itself (`grant_type`, `client_id`, `scope`, …) are refused at build time.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// The scopes to request (empty when unset).
    pub fn requested_scopes(&self) -> &[String] {
        self.scopes
            .as_ref()
            .map(Scopes::as_slice)
            .unwrap_or_default()
    }

    /// The audience, if set.
    pub fn requested_audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The resources, in order.
    pub fn requested_resources(&self) -> &[String] {
        &self.resources
    }

    /// The extra parameters, in order.
    pub fn extra_params(&self) -> &[(String, String)] {
        &self.extra
    }

    /// Checks the parameters: scopes, when set, are not empty; extra parameters do not override
    /// the grant's own; nothing is blank.
    pub fn validate(&self) -> Result<(), AuthError> {
        if self.scopes.as_ref().is_some_and(Scopes::is_empty) {
            return Err(AuthError::config(
                "scopes",
                "the list is empty; leave scopes unset to get the provider's default scopes",
            ));
        }
        if self
            .audience
            .as_deref()
            .is_some_and(|a| a.trim().is_empty())
        {
            return Err(AuthError::config("audience", "is empty"));
        }
        if self.resources.iter().any(|r| r.trim().is_empty()) {
            return Err(AuthError::config("resource", "is empty"));
        }
        for (name, _) in &self.extra {
            if name.trim().is_empty() {
                return Err(AuthError::config("params", "a parameter has an empty name"));
            }
            if RESERVED.contains(&name.as_str()) {
                return Err(AuthError::config(
                    format!("params.{name}"),
                    "is set by the grant itself; use the dedicated setting",
                ));
            }
        }
        Ok(())
    }

    /// The `scope` value as sent, if scopes are set.
    pub(crate) fn scope_value(&self) -> Option<String> {
        let scopes = self.scopes.as_ref().filter(|s| !s.is_empty())?;
        let separator = self.scope_separator.unwrap_or(' ').to_string();
        Some(scopes.as_slice().join(&separator))
    }

    /// Appends `scope`, `audience`, `resource` and the extra parameters to a form.
    pub(crate) fn append_to(&self, form: &mut form_urlencoded::Serializer<'_, String>) {
        if let Some(scope) = self.scope_value() {
            form.append_pair("scope", &scope);
        }
        self.append_targets(form);
    }

    /// Appends `audience`, `resource` and the extra parameters (not `scope`) to a form.
    pub(crate) fn append_targets(&self, form: &mut form_urlencoded::Serializer<'_, String>) {
        if let Some(audience) = &self.audience {
            form.append_pair("audience", audience);
        }
        for resource in &self.resources {
            form.append_pair("resource", resource);
        }
        for (name, value) in &self.extra {
            form.append_pair(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::ErrorKind;

    #[test]
    fn scopes_split_on_spaces_and_commas_and_drop_duplicates() {
        let expected = ["read", "write", "admin"].map(String::from);
        assert_eq!(Scopes::from("read write admin").as_slice(), expected);
        assert_eq!(Scopes::from("read,write, admin").as_slice(), expected);
        assert_eq!(
            Scopes::from(" read\twrite read,,admin ").as_slice(),
            expected
        );
        assert_eq!(
            Scopes::from(vec!["read write", "admin"]).as_slice(),
            expected
        );
        assert_eq!(
            Scopes::from(&["read", "write", "admin"][..]).as_slice(),
            expected
        );
    }

    #[test]
    fn an_explicitly_empty_scope_list_is_a_config_error() {
        for params in [
            TokenParams::new().scopes(""),
            TokenParams::new().scopes(Vec::<String>::new()),
        ] {
            let err = params.validate().expect_err("empty scopes");
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(
                err.to_string().contains("scopes: the list is empty"),
                "{err}"
            );
        }
        assert!(TokenParams::new().validate().is_ok());
    }

    #[test]
    fn extra_params_cannot_override_the_grant() {
        let err = TokenParams::new()
            .param("grant_type", "password")
            .validate()
            .expect_err("reserved");
        assert!(err.to_string().contains("params.grant_type"), "{err}");
    }

    #[test]
    fn the_form_carries_scope_audience_resources_and_extras_in_order() {
        let params = TokenParams::new()
            .scopes(["a", "b"])
            .scope_separator(',')
            .audience("aud")
            .resource("https://r1")
            .resource("https://r2")
            .param("access_type", "offline");
        let mut form = form_urlencoded::Serializer::new(String::new());
        params.append_to(&mut form);
        assert_eq!(
            form.finish(),
            "scope=a%2Cb&audience=aud&resource=https%3A%2F%2Fr1&resource=https%3A%2F%2Fr2\
             &access_type=offline"
        );
    }
}
