//! The two halves of a browser round trip: the [`AuthorizationRequest`] we sent the user to,
//! and the [`Callback`] the provider redirected back with.

use std::fmt;

use auth_core::{AuthError, ErrorKind, ExposeSecret, SecretString};
use oauth2::url::Url;

use super::state_mismatch;

/// An authorization URL and the secrets that go with it: the `state` to expect back and the
/// PKCE verifier to send with the code. Use it once, for one [`exchange`].
///
/// Its `Debug` shows the endpoint but neither the state nor the verifier.
///
/// [`exchange`]: super::AuthorizationCode::exchange
pub struct AuthorizationRequest {
    url: Url,
    state: SecretString,
    verifier: Option<SecretString>,
    redirect_uri: Url,
}

impl AuthorizationRequest {
    pub(super) fn new(
        url: Url,
        state: SecretString,
        verifier: Option<SecretString>,
        redirect_uri: Url,
    ) -> Self {
        Self {
            url,
            state,
            verifier,
            redirect_uri,
        }
    }

    /// The URL to open in the user's browser. It carries the `state`: show it to the user,
    /// do not log it.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The redirect URI this request uses (the code exchange repeats it exactly).
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// The `state` the callback must carry.
    pub fn state(&self) -> &SecretString {
        &self.state
    }

    /// The PKCE verifier, when PKCE is on.
    pub fn verifier(&self) -> Option<&SecretString> {
        self.verifier.as_ref()
    }

    /// The callback's code, if its `state` is this request's.
    pub fn verify(&self, callback: &Callback) -> Result<SecretString, AuthError> {
        callback.check_state(&self.state)?;
        Ok(callback.code.clone())
    }
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut endpoint = self.url.clone();
        endpoint.set_query(None);
        f.debug_struct("AuthorizationRequest")
            .field("endpoint", &endpoint.as_str())
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("state", &"[redacted]")
            .field("verifier", &self.verifier.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// What the provider sent back to the redirect URI: a `code` and the `state`.
///
/// ```
/// use auth_oauth::Callback;
///
/// let cb = Callback::parse("http://127.0.0.1:8400/callback?code=abc&state=xyz")?;
/// assert!(!format!("{cb:?}").contains("abc"));
///
/// // An error redirect becomes the provider's error.
/// let err = Callback::parse("?error=access_denied&error_description=User+said+no").unwrap_err();
/// assert!(err.to_string().contains("access_denied"));
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Clone)]
pub struct Callback {
    code: SecretString,
    state: Option<SecretString>,
}

impl Callback {
    /// Parses a redirect: a full URL, or just its query (with or without `?`). An `error`
    /// parameter becomes the provider's error (`access_denied`, …); a missing `code` is an
    /// [`ErrorKind::MalformedResponse`].
    pub fn parse(redirect: &str) -> Result<Self, AuthError> {
        let redirect = redirect.trim();
        let query = match Url::parse(redirect) {
            Ok(url) => url.query().unwrap_or_default().to_owned(),
            Err(_) => redirect.trim_start_matches('?').to_owned(),
        };
        Self::from_query(&query)
    }

    /// Parses the query string of a redirect (without `?`).
    pub fn from_query(query: &str) -> Result<Self, AuthError> {
        let mut code = None;
        let mut state = None;
        let mut error = None;
        let mut description = None;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "code" => code = Some(SecretString::from(value.into_owned())),
                "state" => state = Some(SecretString::from(value.into_owned())),
                "error" => error = Some(value.into_owned()),
                "error_description" => description = Some(value.into_owned()),
                _ => {}
            }
        }
        if let Some(error) = error {
            let error: String = error.chars().filter(|c| !c.is_control()).take(64).collect();
            return Err(AuthError::from_oauth(&error, description.as_deref(), None)
                .with_detail("the authorization server redirected back with an error"));
        }
        let code = code
            .filter(|c| !c.expose_secret().is_empty())
            .ok_or_else(|| {
                AuthError::new(
                    ErrorKind::MalformedResponse,
                    "the redirect has no `code` parameter",
                )
            })?;
        Ok(Self { code, state })
    }

    /// The authorization code.
    pub fn code(&self) -> &SecretString {
        &self.code
    }

    /// Whether this callback carries `expected` as its `state`.
    pub(crate) fn check_state(&self, expected: &SecretString) -> Result<(), AuthError> {
        let got = self.state.as_ref().map(|s| s.expose_secret().as_bytes());
        match got {
            Some(got) if constant_time_eq(expected.expose_secret().as_bytes(), got) => Ok(()),
            _ => Err(state_mismatch()),
        }
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("code", &"[redacted]")
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the state.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(state: &str) -> AuthorizationRequest {
        let url = Url::parse("https://auth.example/authorize?state=s").expect("url");
        let redirect = Url::parse("http://127.0.0.1:1/cb").expect("url");
        AuthorizationRequest::new(
            url,
            state.to_owned().into(),
            Some("v".to_owned().into()),
            redirect,
        )
    }

    #[test]
    fn the_code_comes_back_only_with_the_right_state() {
        let cb = Callback::parse("http://127.0.0.1:1/cb?code=c0de&state=s1").expect("callback");
        assert_eq!(
            request("s1").verify(&cb).expect("state ok").expose_secret(),
            "c0de"
        );
        let err = request("s2").verify(&cb).expect_err("mismatch");
        assert_eq!(err.kind(), ErrorKind::InvalidGrant);
        assert!(err.to_string().contains("`state` does not match"), "{err}");
        let no_state = Callback::parse("code=c0de").expect("callback");
        assert!(request("s1").verify(&no_state).is_err());
    }

    #[test]
    fn a_redirect_without_code_or_with_an_error_is_an_error() {
        let err = Callback::parse("?state=s").expect_err("no code");
        assert_eq!(err.kind(), ErrorKind::MalformedResponse);
        let err = Callback::parse("?error=invalid_scope&state=s").expect_err("error");
        assert_eq!(err.kind(), ErrorKind::InvalidScope);
    }

    #[test]
    fn debug_hides_state_verifier_and_code() {
        let req = request("st4te");
        let text = format!("{req:?}");
        assert!(
            !text.contains("st4te") && !text.contains("state=s"),
            "{text}"
        );
        let cb = Callback::parse("?code=c0de&state=st4te").expect("callback");
        let text = format!("{cb:?}");
        assert!(!text.contains("c0de") && !text.contains("st4te"), "{text}");
    }
}
