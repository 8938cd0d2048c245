//! `tower-auth request NAME METHOD PATH [-H 'K: V']... [-d BODY] [-i]`.

use std::io::Write;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;
use tower::ServiceExt;
use tower_auth::{AuthError, config::Config};

use crate::{
    body, client,
    diagnose::{self, Failure, Stage},
};

/// The request to send.
pub(crate) struct Args {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<String>,
    pub(crate) data: Option<String>,
    pub(crate) include: bool,
    /// `--max-body`: the most response body bytes to write.
    pub(crate) max_body: u64,
    /// `--user`: whose sign-in to use.
    pub(crate) user: Option<String>,
    /// `--tenant`: which tenant's token to use.
    pub(crate) tenant: Option<String>,
}

pub(crate) async fn run(config: &Config, env: Option<&str>, name: &str, args: Args) -> u8 {
    diagnose::exit_code(send(config, env, name, args).await)
}

async fn send(config: &Config, env: Option<&str>, name: &str, args: Args) -> Result<u8, Failure> {
    let usage = |message: String| Failure::new(Stage::Config, message, "fix the command line");
    let spec = diagnose::connection_as(
        config,
        env,
        name,
        diagnose::Who::of(&args.user, &args.tenant),
    )
    .await?;
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| usage(format!("`{}` is not an HTTP method", args.method)))?;
    let url = client::join(&spec.base_url, &args.path).map_err(usage)?;
    let mut builder = Request::builder().method(method).uri(&url);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| usage(format!("header `{header}` is not `Name: value`")))?;
        let name = HeaderName::try_from(name.trim())
            .map_err(|_| usage(format!("`{}` is not a header name", name.trim())))?;
        let value = HeaderValue::try_from(value.trim())
            .map_err(|_| usage(format!("the value of header `{name}` is not valid")))?;
        builder = builder.header(name, value);
    }
    let body = args.data.map(Bytes::from).unwrap_or_default();
    let request = builder
        .body(Full::new(body))
        .map_err(|e| usage(format!("{}: {e}", spec.redactor().redact(&url))))?;
    let layer = spec.layer().map_err(|e| diagnose::build_failure(&e))?;
    let client = client::client_for(&spec, &client::http_client()).map_err(|e| {
        Failure::new(
            Stage::Config,
            e,
            "check the tls cert, key and ca files of the connection",
        )
    })?;
    let timeout = client::timeout(&spec);
    let limits = body::Limits {
        max_body: args.max_body,
        deadline: tokio::time::Instant::now() + timeout,
        timeout,
    };
    let source = layer.token_source().cloned();
    let response = client::stack(&spec, layer, client)
        .oneshot(request)
        .await
        .map_err(|e| Failure::from_request_error(&e, spec.redactor()).in_connection(&spec))?;
    // The API may echo the token it was sent (in a challenge, a body): never shown.
    let redactor = spec.redactor();
    if let Some(token) = source.as_ref().and_then(|s| s.current()) {
        redactor.add_token(&token);
    }
    let status = response.status();
    let auth_error = response.extensions().get::<AuthError>().cloned();
    let mut stdout = std::io::stdout();
    if args.include {
        let mut head = format!("{:?} {status}\n", response.version());
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes());
            head.push_str(&format!("{name}: {}\n", redactor.redact(&value)));
        }
        head.push('\n');
        let _ = stdout.write_all(head.as_bytes());
    }
    let mut out = LastByte::new(&mut stdout);
    body::copy(response.into_body(), &mut out, limits, redactor).await?;
    if out.last.is_some_and(|last| last != b'\n') {
        let _ = writeln!(stdout);
    }
    if status.is_success() {
        return Ok(0);
    }
    match auth_error {
        Some(error) => {
            let failure = Failure::from_auth(Stage::Check, &error, redactor);
            eprintln!("error: {}", failure.error);
            eprintln!("hint: {}", failure.hint);
        }
        None => eprintln!("error: the server answered {status}"),
    }
    Ok(1)
}

/// A writer that remembers the last byte written through it, to end the output with a newline.
struct LastByte<'a, W> {
    inner: &'a mut W,
    last: Option<u8>,
}

impl<'a, W: Write> LastByte<'a, W> {
    fn new(inner: &'a mut W) -> Self {
        Self { inner, last: None }
    }
}

impl<W: Write> Write for LastByte<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(&last) = buf[..n].last() {
            self.last = Some(last);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
