//! `profile = { url, id_path, email_path }` of an `authorization_code` or `device_code`
//! connection: who signed in, read from a profile endpoint with the new access token, or from
//! the `id_token`'s claims.

use super::{
    read::{Reader, Table},
    spec::ProfileSpec,
};

/// Reads `profile` of the `oauth2` table `t` for `grant`; on another grant than
/// `authorization_code` or `device_code` it is an error naming its key path (nobody signs in
/// there).
pub(crate) fn read(r: &mut Reader<'_>, t: &Table<'_>, grant: Option<&str>) -> Option<ProfileSpec> {
    t.get("profile")?;
    if let Some(other) = grant.filter(|g| !matches!(*g, "authorization_code" | "device_code")) {
        r.problems.error(
            &t.key_path("profile"),
            format!(
                "only the authorization_code and device_code grants sign a user in (this \
                 connection's grant is `{other}`); remove it"
            ),
        );
        return None;
    }
    let p = r.sub_table(t, "profile")?;
    r.known_keys(&p, &["url", "id_path", "email_path"]);
    let mut path = |key: &str, default: &str| {
        let text = r.string(&p, key).unwrap_or_else(|| default.to_owned());
        if text.trim().is_empty() || text.trim().split('.').any(str::is_empty) {
            r.problems.error(
                &p.key_path(key),
                "is not a field path (names separated by single dots, e.g. `data.user.id`)",
            );
        }
        text.trim().to_owned()
    };
    let id_path = path("id_path", "id");
    let email_path = path("email_path", "email");
    let url = match p.get("url") {
        Some(_) => Some(r.filled_url(&p, "url", false)?),
        None => None,
    };
    Some(ProfileSpec {
        url,
        id_path,
        email_path,
    })
}

#[cfg(feature = "oauth2")]
mod fetch {
    use auth_core::{AccessToken, AuthError, ErrorKind, SecretString};
    use auth_oauth::{
        TokenHttpClient,
        profile::{Profile, ProfileEndpoint, from_id_token},
    };

    use crate::config::spec::{AuthSpec, ConnectionSpec, ProfileSpec};

    impl ConnectionSpec {
        /// The connection's `profile` settings, if it has them (`authorization_code` only).
        pub fn profile(&self) -> Option<&ProfileSpec> {
            match &self.auth {
                AuthSpec::OAuth2(o) => o.profile.as_ref(),
                _ => None,
            }
        }

        /// The profile endpoint of `profile.url`, with the connection's redactor and timeout
        /// (on the default client; pass your own with
        /// [`ProfileEndpoint::http_client`]); `None` without a `profile.url`.
        pub fn profile_endpoint(&self) -> Result<Option<ProfileEndpoint>, AuthError> {
            let Some(url) = self.profile().and_then(|p| p.url.as_deref()) else {
                return Ok(None);
            };
            let Some(spec) = self.profile() else {
                return Ok(None);
            };
            ProfileEndpoint::new(url)?
                .id_path(&spec.id_path)?
                .email_path(&spec.email_path)
                .map(|endpoint| Some(endpoint.redactor(self.redactor.clone())))
        }

        /// Who signed in with `token`, as `profile` says: `GET profile.url` with the token
        /// (through `http`, else the default client, within the connection's `timeout`), or
        /// without a URL the claims of `id_token`, the OpenID Connect ID token of the sign-in
        /// (decoded **without verifying its signature**: for display, never for authorization).
        ///
        /// ```no_run
        /// # async fn run(config: tower_auth::config::Config) -> Result<(), Box<dyn std::error::Error>> {
        /// let spec = config.connection("github", None)?;
        /// let layer = spec.authorization_code_layer().await?;
        /// let token = layer.login(|url| println!("open {url}"), std::time::Duration::from_secs(300)).await?;
        /// let profile = spec.fetch_profile(&token, layer.id_token().as_ref(), None).await?;
        /// println!("signed in as {profile}");
        /// # Ok(()) }
        /// ```
        pub async fn fetch_profile(
            &self,
            token: &AccessToken,
            id_token: Option<&SecretString>,
            http: Option<TokenHttpClient>,
        ) -> Result<Profile, AuthError> {
            let no_profile = || {
                AuthError::new(
                    ErrorKind::Config,
                    format!("connections.{}.auth.profile is not set", self.name),
                )
            };
            self.profile().ok_or_else(no_profile)?;
            match self.profile_endpoint()? {
                Some(endpoint) => {
                    let http = match http {
                        Some(http) => http,
                        None => TokenHttpClient::new()?,
                    };
                    let http = match self.timeout {
                        Some(timeout) => http.timeout(timeout),
                        None => http,
                    };
                    endpoint.http_client(http).fetch(token).await
                }
                None => match id_token {
                    Some(id_token) => from_id_token(id_token),
                    None => Err(AuthError::new(
                        ErrorKind::MalformedResponse,
                        format!(
                            "profile: the sign-in returned no id_token, and \
                             connections.{}.auth.profile has no `url` to ask",
                            self.name
                        ),
                    )),
                },
            }
        }
    }
}
