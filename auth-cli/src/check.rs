//! `tower-auth check`: obtain credentials and send each connection's check request.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use tower::ServiceExt;
use tower_auth::{
    AuthError,
    config::{AuthSpec, Config, ConnectionLayer, ConnectionSpec, Location},
};

use crate::{
    OutputFormat,
    client::{self, HttpClient},
    diagnose::{self, Failure, Stage},
};

mod expiry;

pub(crate) use expiry::{parse_max_wait, run_through_expiry};

/// The result of checking one connection.
struct Outcome {
    connection: String,
    elapsed: Duration,
    result: Result<Success, Failure>,
}

struct Success {
    line: String,
    status: u16,
}

pub(crate) async fn run(
    config: &Config,
    env: Option<&str>,
    names: &[String],
    format: OutputFormat,
    who: diagnose::Who<'_>,
) -> u8 {
    let names: Vec<String> = if names.is_empty() {
        config.connection_names().map(str::to_owned).collect()
    } else {
        names.to_vec()
    };
    let client = client::http_client();
    let mut outcomes = Vec::with_capacity(names.len());
    for name in &names {
        let started = Instant::now();
        let result = check_one(config, env, name, who, client.clone()).await;
        outcomes.push(Outcome {
            connection: name.clone(),
            elapsed: started.elapsed(),
            result,
        });
    }
    match format {
        OutputFormat::Text => print_text(&outcomes),
        OutputFormat::Json => print_json(&outcomes),
    }
    if outcomes.iter().all(|o| o.result.is_ok()) {
        0
    } else {
        1
    }
}

async fn check_one(
    config: &Config,
    env: Option<&str>,
    name: &str,
    who: diagnose::Who<'_>,
    client: HttpClient,
) -> Result<Success, Failure> {
    let spec = diagnose::connection_as(config, env, name, who).await?;
    let layer = spec.layer().map_err(|e| diagnose::build_failure(&e))?;
    check_with(&spec, layer, client).await
}

/// Sends the check request of `spec` through `layer` (whose token cache may be reused).
async fn check_with(
    spec: &ConnectionSpec,
    layer: ConnectionLayer,
    client: HttpClient,
) -> Result<Success, Failure> {
    let mut method = describe(spec);
    if let Some(source) = layer.token_source() {
        let token = client::token(spec, source).await?;
        if let Some(at) = token.expires_at() {
            let left = at.saturating_duration_since(tokio::time::Instant::now());
            method.push_str(&format!(", token expires in {}", human(left)));
        }
    }
    let url = client::join(&spec.base_url, &spec.check.path)
        .map_err(|e| Failure::new(Stage::Config, e, "fix check.path"))?;
    let request = Request::builder()
        .method(spec.check.method.clone())
        .uri(&url)
        .body(Full::<Bytes>::default())
        .map_err(|e| {
            Failure::new(
                Stage::Config,
                format!("{}: {e}", spec.redactor().redact(&url)),
                "fix base_url and check.path",
            )
        })?;
    let client = client::client_for(spec, &client).map_err(|e| {
        Failure::new(
            Stage::Config,
            e,
            "check the tls cert, key and ca files of the connection",
        )
    })?;
    let response = client::stack(spec, layer, client)
        .oneshot(request)
        .await
        .map_err(|e| Failure::from_request_error(&e, spec.redactor()).in_connection(spec))?;
    let status = response.status();
    let expected = if spec.check.expect_status.is_empty() {
        status.is_success()
    } else {
        spec.check.expect_status.contains(&status.as_u16())
    };
    let target = format!("{} {}", spec.check.method, display_path(spec));
    if !expected {
        return Err(unexpected_status(
            spec,
            status,
            response.extensions().get::<AuthError>(),
            &target,
        ));
    }
    Ok(Success {
        line: format!("{target} → {}  ({method})", status.as_u16()),
        status: status.as_u16(),
    })
}

fn unexpected_status(
    spec: &ConnectionSpec,
    status: StatusCode,
    auth_error: Option<&AuthError>,
    target: &str,
) -> Failure {
    if let Some(error) = auth_error {
        let mut failure = Failure::from_auth(Stage::Check, error, spec.redactor());
        failure.error = format!("{target} → {}: {}", status.as_u16(), failure.error);
        return failure;
    }
    let wanted = if spec.check.expect_status.is_empty() {
        "a 2xx status".to_owned()
    } else {
        format!("{:?}", spec.check.expect_status)
    };
    let hint = match status.as_u16() {
        404 => "check base_url and check.path: the path does not exist on this server",
        500..=599 => "the server failed: retry later, or check the server's logs",
        300..=399 => "the server redirects: point base_url at the final location",
        _ => "check the check request (method, path) and expect_status",
    };
    Failure::new(
        Stage::Check,
        format!("{target} → {status}, expected {wanted}"),
        hint,
    )
}

/// The check's URL or path, without the values of variables read from the environment or a
/// file (they may be secrets: a token in a path).
fn display_path(spec: &ConnectionSpec) -> String {
    let shown = if spec.check.path.is_empty() {
        &spec.base_url
    } else {
        &spec.check.path
    };
    spec.redactor().redact(shown).into_owned()
}

/// The auth method in a few words, e.g. `oauth2 client_credentials` or `api key in query parameter key`.
pub(crate) fn describe(spec: &ConnectionSpec) -> String {
    match &spec.auth {
        AuthSpec::None => "no auth".to_owned(),
        AuthSpec::Bearer { header, .. } => format!("bearer token in {header}"),
        AuthSpec::ApiKey {
            key_name, location, ..
        } => match location {
            Location::Header => format!("api key in header {key_name}"),
            Location::Query => format!("api key in query parameter {key_name}"),
        },
        AuthSpec::Basic { .. } => "basic".to_owned(),
        AuthSpec::OAuth2(o) => format!("oauth2 {}", o.grant),
        AuthSpec::JwtBearer(_) => "jwt bearer assertion".to_owned(),
        AuthSpec::Custom(_) => "custom token request".to_owned(),
        other => other.type_name().to_owned(),
    }
}

/// `59m`, `1h 5m`, `42s`.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        _ if s % 3600 / 60 == 0 => format!("{}h", s / 3600),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

fn print_text(outcomes: &[Outcome]) {
    let width = outcomes
        .iter()
        .map(|o| o.connection.len())
        .max()
        .unwrap_or(0);
    for outcome in outcomes {
        match &outcome.result {
            Ok(success) => println!("✓ {:width$}  {}", outcome.connection, success.line),
            Err(failure) => {
                println!("✗ {:width$}  {failure}", outcome.connection);
                println!("  hint: {}", failure.hint);
            }
        }
    }
}

fn print_json(outcomes: &[Outcome]) {
    let items: Vec<_> = outcomes
        .iter()
        .map(|o| {
            let elapsed_ms = u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX);
            match &o.result {
                Ok(s) => json!({
                    "connection": o.connection, "ok": true, "stage": null, "status": s.status,
                    "error_kind": null, "error": null, "hint": null, "elapsed_ms": elapsed_ms,
                }),
                Err(f) => json!({
                    "connection": o.connection, "ok": false, "stage": f.stage.as_str(),
                    "status": status_of(f), "error_kind": f.kind.map(|k| format!("{k:?}")),
                    "error": f.error, "hint": f.hint, "elapsed_ms": elapsed_ms,
                }),
            }
        })
        .collect();
    println!("{}", serde_json::Value::Array(items));
}

/// The HTTP status named in a check failure (`… → 401: …`), if any.
fn status_of(failure: &Failure) -> Option<u16> {
    let (_, rest) = failure.error.split_once("→ ")?;
    rest.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::human;
    use std::time::Duration;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(Duration::from_secs(42)), "42s");
        assert_eq!(human(Duration::from_secs(3599)), "59m");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
        assert_eq!(human(Duration::from_secs(3900)), "1h 5m");
    }
}
