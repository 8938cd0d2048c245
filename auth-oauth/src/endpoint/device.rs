//! The device authorization request (RFC 8628 §3.1): a form POST to another endpoint than the
//! token endpoint, authenticated exactly as token requests are (the same [`ClientAuth`]
//! method, `Auto`'s fallback and what it learnt included).
//!
//! [`ClientAuth`]: crate::ClientAuth

use auth_core::{AuthError, ErrorKind, Redactor};
use http::{Method as HttpMethod, Request, header};
use oauth2::{HttpResponse, url::Url};

use super::{PUBLIC_FIELDS, TokenEndpoint, event};
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
        let mut request = Request::builder()
            .method(HttpMethod::POST)
            .uri(url.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| {
                AuthError::new(
                    ErrorKind::Request,
                    "building the device authorization request",
                )
                .with_source(e)
            })?;
        // The serializer is not `Send`; it must be gone before the first await.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            params.append_to(&mut form);
            self.inner
                .client
                .apply(method, request.headers_mut(), &mut form)?;
            form.finish()
        };
        let redactor = self.inner.redactor.child();
        for (name, value) in form_urlencoded::parse(body.as_bytes()) {
            if !PUBLIC_FIELDS.contains(&name.as_ref()) {
                redactor.add(&value);
            }
        }
        *request.body_mut() = body.into_bytes();
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
