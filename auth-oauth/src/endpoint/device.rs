//! The device authorization request (RFC 8628 §3.1): a form POST to another endpoint than the
//! token endpoint, authenticated exactly as token requests are (the same [`ClientAuth`]
//! method, `Auto`'s fallback and what it learnt included).
//!
//! [`ClientAuth`]: crate::ClientAuth

use auth_core::{AuthError, Redactor};
use oauth2::{HttpResponse, url::Url};

use super::{TokenEndpoint, event};
use crate::{
    TokenParams,
    client_auth::{Method, rejected_client},
    http_client::Peer,
};

impl TokenEndpoint {
    /// POSTs `params` (scope, audience, resources, extras) to the device authorization
    /// endpoint `url` with the client's authentication, and hands the answer to `read` with a
    /// redactor holding every secret the request sent. With [`ClientAuth::Auto`] a rejected
    /// Basic attempt is retried once in the body, as for token requests.
    ///
    /// [`ClientAuth::Auto`]: crate::ClientAuth::Auto
    pub(crate) async fn device_authorization<T>(
        &self,
        url: &Url,
        params: &TokenParams,
        read: impl Fn(&HttpResponse, &Redactor) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let (method, may_fall_back) = self.inner.client.method();
        match self.post_device(method, url, params, &read).await {
            Ok(answer) => {
                self.inner.client.remember(method);
                Ok(answer)
            }
            Err(error) if may_fall_back && rejected_client(&error) => {
                event!(
                    info,
                    "client_secret_basic was rejected; retrying with client_secret_post"
                );
                let answer = self.post_device(Method::Body, url, params, &read).await;
                // The body method got past client authentication unless rejected too: keep it.
                if !matches!(&answer, Err(e) if rejected_client(e)) {
                    self.inner.client.remember(Method::Body);
                }
                answer
            }
            Err(error) => Err(error),
        }
    }

    async fn post_device<T>(
        &self,
        method: Method,
        url: &Url,
        params: &TokenParams,
        read: &impl Fn(&HttpResponse, &Redactor) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let (request, redactor) =
            self.form_post(url, "device authorization request", |form, headers| {
                params.append_to(form);
                self.inner.client.apply(method, headers, form)
            })?;
        event!(
            debug,
            host = url.host_str().unwrap_or_default(),
            client_auth = ?method,
            "requesting a device code"
        );
        let response = self
            .inner
            .http
            .send_to(request, Peer::DEVICE_AUTHORIZATION)
            .await
            .map_err(|e| e.redact(&redactor))?;
        read(&response, &redactor).map_err(|e| e.redact(&redactor))
    }
}
