//! Turns failures into a stage, a one-line error and a hint from the troubleshooting matrix.

use std::{error::Error as StdError, fmt};

use tower::BoxError;
use tower_auth::{
    AuthError, ErrorKind, Redactor,
    config::{AuthSpec, Config, ConfigError, ConnectionSpec},
    redact,
};

/// Where a check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The connection's configuration is invalid.
    Config,
    /// A secret reference could not be read.
    Secret,
    /// The token could not be obtained.
    Token,
    /// Nobody signed in to the connection yet (`tower-auth login`).
    SignIn,
    /// The request could not be sent or answered.
    Request,
    /// The response was not the expected one.
    Check,
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::Config => "config",
            Stage::Secret => "secret",
            Stage::Token => "token",
            Stage::SignIn => "sign_in",
            Stage::Request => "request",
            Stage::Check => "check",
        }
    }

    /// How the text output names the stage.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Stage::Config => "config",
            Stage::Secret => "secret",
            Stage::Token => "token endpoint",
            Stage::SignIn => "sign-in",
            Stage::Request => "request",
            Stage::Check => "check",
        }
    }
}

/// A diagnosed failure.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) stage: Stage,
    pub(crate) kind: Option<ErrorKind>,
    pub(crate) error: String,
    pub(crate) hint: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stage {
            // The error says it all: `not signed in: run …`.
            Stage::SignIn => f.write_str(&self.error),
            stage => write!(f, "{}: {}", stage.label(), self.error),
        }
    }
}

impl Failure {
    pub(crate) fn new(stage: Stage, error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            stage,
            kind: None,
            error: error.into(),
            hint: hint.into(),
        }
    }

    /// From an [`AuthError`]: its sentence (without the hint) and its hint. Every secret
    /// `redactor` holds is cut out of the server's text first, before anything is shortened.
    pub(crate) fn from_auth(stage: Stage, error: &AuthError, redactor: &Redactor) -> Self {
        let error = error.clone().redact(redactor);
        let sentence = error.message();
        let sentence = match error.provider() {
            // `invalid_client (client authentication failed)`: the code first, as providers
            // document it.
            Some(p) if stage == Stage::Token => {
                let code = redact::shown(&p.code, 64);
                match &p.description {
                    Some(d) => format!("{code} ({})", redact::shown(d, 200)),
                    None => format!("{code} ({sentence})"),
                }
            }
            _ => sentence,
        };
        Self {
            stage,
            kind: Some(error.kind()),
            error: redactor.redact(&sentence).into_owned(),
            hint: error.hint().to_owned(),
        }
    }

    /// The failure in `spec`'s words: an `authorization_code` or `device_code` connection nobody
    /// signed in to ([`ErrorKind::NotSignedIn`]) says which `login` to run; anything else is unchanged.
    pub(crate) fn in_connection(self, spec: &ConnectionSpec) -> Self {
        let (code_grant, device_grant) = match &spec.auth {
            AuthSpec::OAuth2(o) => (o.grant == "authorization_code", o.grant == "device_code"),
            _ => (false, false),
        };
        if self.kind != Some(ErrorKind::NotSignedIn) || !(code_grant || device_grant) {
            return self;
        }
        let name = &spec.name;
        let how = if device_grant {
            "shows a code to enter at the provider's verification page"
        } else {
            "signs in through the browser"
        };
        Self {
            stage: Stage::SignIn,
            kind: self.kind,
            error: format!("not signed in: run `tower-auth login {name}`"),
            hint: format!(
                "the token store holds no refresh token for `{name}` yet: `tower-auth login \
                 {name}` (with this command's `-c` and `--env`) {how} and stores one"
            ),
        }
    }

    /// From an error of the request stack: an [`AuthError`] inside it, a timeout, or a
    /// transport error (connection refused, TLS, DNS).
    pub(crate) fn from_request_error(error: &BoxError, redactor: &Redactor) -> Self {
        if let Some(auth) = error.downcast_ref::<AuthError>() {
            let stage = if is_token_kind(auth.kind()) {
                Stage::Token
            } else {
                Stage::Request
            };
            return Self::from_auth(stage, auth, redactor);
        }
        if error.is::<tower::timeout::error::Elapsed>() {
            let mut failure = Self::new(
                Stage::Request,
                "no answer within the connection's timeout",
                ErrorKind::Timeout.hint(),
            );
            failure.kind = Some(ErrorKind::Timeout);
            return failure;
        }
        let chain = redactor.redact(&error_chain(&**error)).into_owned();
        let lower = chain.to_ascii_lowercase();
        let hint = if lower.contains("connection refused") {
            "nothing is listening there: check the URL's host and port, and that the server is running"
        } else if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
            // A TLS 1.3 server rejects a client certificate after the client's side of the
            // handshake is done: the error is only "received fatal alert: UnknownCA".
            || lower.contains("alert")
        {
            "TLS failed: check the server's certificate is trusted (CA roots), and the client \
             certificate and key if the server requires one"
        } else if lower.contains("dns") || lower.contains("resolve") || lower.contains("lookup") {
            "the host name could not be resolved: check the URL"
        } else {
            ErrorKind::Transport.hint()
        };
        let mut failure = Self::new(Stage::Request, chain, hint);
        failure.kind = Some(ErrorKind::Transport);
        failure
    }
}

fn is_token_kind(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::Request
    )
}

/// `outer: inner: innermost`, without repeating a message its source already says.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// The connection `name` with `env`'s overlay, or a `config`-stage failure.
pub(crate) fn connection(
    config: &Config,
    env: Option<&str>,
    name: &str,
) -> Result<ConnectionSpec, Failure> {
    config.connection(name, env).map_err(|e| {
        Failure::new(
            Stage::Config,
            e.to_string(),
            "fix the configuration values named above",
        )
    })
}

/// Whose connection: `--user` (whose sign-in) and `--tenant` (which tenant's credentials).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Who<'a> {
    pub(crate) user: Option<&'a str>,
    pub(crate) tenant: Option<&'a str>,
}

impl<'a> Who<'a> {
    /// From the `--user` and `--tenant` arguments.
    pub(crate) fn of(user: &'a Option<String>, tenant: &'a Option<String>) -> Self {
        Self {
            user: user.as_deref(),
            tenant: tenant.as_deref(),
        }
    }
}

/// Connection `name` for `who.tenant` (`--tenant`, required by a connection with `tenants`), as
/// `who.user` signed in to it (`--user`); without `--user`, the only (or first) user, and a
/// `sign-in` failure listing the users when several signed in.
pub(crate) async fn connection_as(
    config: &Config,
    env: Option<&str>,
    name: &str,
    who: Who<'_>,
) -> Result<ConnectionSpec, Failure> {
    let user = who.user;
    let spec = connection(config, env, name)?;
    let spec = match (spec.tenants.is_some(), who.tenant) {
        (true, Some(tenant)) => spec.for_tenant(tenant).map_err(|e| {
            Failure::new(
                Stage::Config,
                e.to_string(),
                "fix the configuration values named above",
            )
        })?,
        (true, None) => {
            return Err(Failure::new(
                Stage::Config,
                format!("`{name}` has one token per tenant (`connections.{name}.tenants`)"),
                "name the tenant with `--tenant ID`",
            ));
        }
        (false, Some(_)) => {
            return Err(Failure::new(
                Stage::Config,
                format!("`--tenant` needs `connections.{name}.tenants`"),
                "add `tenants = true` and `{tenant}` in the auth table's values, or drop `--tenant`",
            ));
        }
        (false, None) => spec,
    };
    let failure = |e: &tower_auth::AuthError| Failure::from_auth(Stage::SignIn, e, spec.redactor());
    if spec.profile().is_none() {
        return match user {
            Some(_) => Err(Failure::new(
                Stage::Config,
                format!(
                    "`--user` needs `connections.{name}.auth.profile`, which names who signed in"
                ),
                "add `profile = { url = \"…/me\" }` (or `profile = {}` for an OpenID provider's id_token), then sign in again",
            )),
            None => Ok(spec),
        };
    }
    match user {
        Some(user) => spec.for_user(user).await.map_err(|e| failure(&e)),
        None => {
            let users = spec.signed_in_users().await.map_err(|e| failure(&e))?;
            if users.len() > 1 {
                let mut failure = Failure::new(
                    Stage::SignIn,
                    format!(
                        "several users signed in to `{name}` ({}): pick one with `--user ID`",
                        tower_auth::config::signed_in_list(&users)
                    ),
                    format!("e.g. `--user {}`", users[0].id),
                );
                failure.kind = Some(tower_auth::ErrorKind::NotSignedIn);
                return Err(failure);
            }
            Ok(spec)
        }
    }
}

/// A failure to build a connection's layer: a `secret` stage when a secret reference could not
/// be read, else `config`.
pub(crate) fn build_failure(error: &ConfigError) -> Failure {
    let problems: Vec<String> = error.problems().iter().map(ToString::to_string).collect();
    if error.is_secret() {
        Failure::new(
            Stage::Secret,
            problems.join("; "),
            "set the environment variable or create the file the configuration refers to",
        )
    } else {
        Failure::new(
            Stage::Config,
            problems.join("; "),
            "fix the configuration values named above",
        )
    }
}

/// Prints a command's failure as `error: …` and `hint: …`; the exit code is 2 for an unusable
/// configuration or command line, 1 otherwise.
pub(crate) fn exit_code(result: Result<u8, Failure>) -> u8 {
    match result {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {failure}");
            eprintln!("hint: {}", failure.hint);
            if failure.stage == Stage::Config { 2 } else { 1 }
        }
    }
}
