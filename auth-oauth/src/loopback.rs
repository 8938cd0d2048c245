//! [`LoopbackListener`]: catches the authorization redirect for a command-line program
//! (RFC 8252 §7.3).
//!
//! It listens on the redirect URI's loopback address and port, answers requests to other paths
//! (a browser's `/favicon.ico`) with 404, and ends at the first request to the redirect path:
//! with the [`Callback`] when its `state` matches, with an error when it does not or when the
//! provider sent an error, or with [`ErrorKind::Timeout`]. The browser gets a small page saying
//! it can be closed; the page never shows the code or the state.
//!
//! ```no_run
//! use auth_oauth::{AuthorizationCode, LoopbackListener, TokenEndpoint};
//! use std::time::Duration;
//! # async fn run(grant: AuthorizationCode) -> Result<(), auth_core::AuthError> {
//! let listener = LoopbackListener::bind(grant.redirect_uri()).await?;
//! let request = grant.authorize_with_redirect_uri(listener.redirect_uri())?;
//! eprintln!("Open this URL to sign in: {}", request.url());
//! let callback = listener.wait_for_callback(&request, Duration::from_secs(300)).await?;
//! let token = grant.exchange(request, &callback).await?;
//! # Ok(()) }
//! ```

use std::{
    convert::Infallible,
    fmt,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use auth_core::{AuthError, ErrorKind};
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use oauth2::url::{Host, Url};
use tokio::{net::TcpListener, sync::mpsc};

use crate::{AuthorizationRequest, Callback};

type Outcome = Result<Callback, AuthError>;

/// Listens on a loopback redirect URI for one authorization callback; see the
/// [module docs](self).
pub struct LoopbackListener {
    listener: TcpListener,
    redirect_uri: Url,
}

impl LoopbackListener {
    /// Binds the redirect URI's address and port. The URI must be `http` on `127.0.0.1`,
    /// `[::1]` or `localhost` (bound as `127.0.0.1`); port `0` picks a free port, reflected in
    /// [`redirect_uri`](Self::redirect_uri). Errors are [`ErrorKind::Config`] naming
    /// `redirect_uri`.
    pub async fn bind(redirect_uri: &Url) -> Result<Self, AuthError> {
        if redirect_uri.scheme() != "http" {
            return Err(AuthError::config(
                "redirect_uri",
                "a loopback listener needs an `http://127.0.0.1:PORT/…` redirect URI",
            ));
        }
        let ip = match redirect_uri.host() {
            Some(Host::Ipv4(ip)) if ip.is_loopback() => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) if ip.is_loopback() => IpAddr::V6(ip),
            Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
            _ => {
                return Err(AuthError::config(
                    "redirect_uri",
                    "the host must be loopback (127.0.0.1, [::1] or localhost) for a loopback \
                     listener",
                ));
            }
        };
        let port = redirect_uri.port().unwrap_or(80);
        let listener = TcpListener::bind(SocketAddr::new(ip, port))
            .await
            .map_err(|e| {
                AuthError::config(
                    "redirect_uri",
                    format!("cannot listen on {ip}:{port} ({e}); is the port in use?"),
                )
            })?;
        let mut redirect_uri = redirect_uri.clone();
        if port == 0 {
            let actual = listener
                .local_addr()
                .map_err(|e| AuthError::config("redirect_uri", e.to_string()))?
                .port();
            // Setting a port fails only for URLs without a host, excluded above.
            let _ = redirect_uri.set_port(Some(actual));
        }
        Ok(Self {
            listener,
            redirect_uri,
        })
    }

    /// The redirect URI being listened on (with the actual port when bound to port 0).
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Waits up to `timeout` for the callback of `request`; see the [module docs](self).
    pub async fn wait_for_callback(
        self,
        request: &AuthorizationRequest,
        timeout: Duration,
    ) -> Result<Callback, AuthError> {
        let (tx, mut rx) = mpsc::channel::<Outcome>(1);
        let expected = Arc::new(Expected {
            path: self.redirect_uri.path().to_owned(),
            request_state: request.state().clone(),
        });
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                outcome = rx.recv() => {
                    if let Some(outcome) = outcome {
                        return outcome;
                    }
                }
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    tokio::spawn(serve(stream, expected.clone(), tx.clone()));
                }
                () = &mut deadline => {
                    return Err(AuthError::new(
                        ErrorKind::Timeout,
                        format!(
                            "no sign-in callback arrived at {} within {timeout:?}",
                            self.redirect_uri
                        ),
                    ));
                }
            }
        }
    }
}

impl fmt::Debug for LoopbackListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackListener")
            .field("redirect_uri", &self.redirect_uri.as_str())
            .finish()
    }
}

struct Expected {
    path: String,
    request_state: auth_core::SecretString,
}

/// Serves one connection (closed after each response), then reports its callback, if any.
async fn serve(stream: tokio::net::TcpStream, expected: Arc<Expected>, tx: mpsc::Sender<Outcome>) {
    let slot: Arc<Mutex<Option<Outcome>>> = Arc::default();
    let service = {
        let slot = slot.clone();
        service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let (status, page, outcome) = answer(request.uri(), &expected);
            if let Some(outcome) = outcome {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
            }
            let response = Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                .header(header::CACHE_CONTROL, "no-store")
                .header(header::CONNECTION, "close")
                .body(Full::new(Bytes::from(page)));
            async move { Ok::<_, Infallible>(response.unwrap_or_default()) }
        })
    };
    let _ = http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    // Reported only once the page is written, so the browser sees it even if the program
    // exits right after.
    let outcome = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(outcome) = outcome {
        let _ = tx.send(outcome).await;
    }
}

/// The status, page and outcome for one request.
fn answer(uri: &http::Uri, expected: &Expected) -> (StatusCode, String, Option<Outcome>) {
    if uri.path() != expected.path {
        return (
            StatusCode::NOT_FOUND,
            page("Not found", "Nothing here."),
            None,
        );
    }
    let outcome = Callback::from_query(uri.query().unwrap_or_default()).and_then(|callback| {
        callback
            .check_state(&expected.request_state)
            .map(|()| callback)
    });
    match &outcome {
        Ok(_) => (
            StatusCode::OK,
            page("Signed in", "You are signed in. You can close this window."),
            Some(outcome),
        ),
        Err(error) => {
            let reason = match error.provider() {
                Some(p) => format!("the server answered `{}`", p.code),
                None if error.kind() == ErrorKind::InvalidGrant => {
                    "the sign-in response did not match this sign-in attempt".to_owned()
                }
                None => "the sign-in response was incomplete".to_owned(),
            };
            (
                StatusCode::BAD_REQUEST,
                page(
                    "Sign-in failed",
                    &format!(
                        "Sign-in failed: {}. You can close this window.",
                        escape(&reason)
                    ),
                ),
                Some(outcome),
            )
        }
    }
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{message}</p>\
         </body></html>"
    )
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}
