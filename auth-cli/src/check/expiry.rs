//! `tower-auth check --through-expiry`: check, wait until the token has been refreshed, check
//! again, proving that refresh works as configured.
//!
//! How the token was replaced is observed, not guessed: the connection's cache hands out its
//! token (`current()`) until the token's skew, so a new token seen while the old one was still
//! handed out came from the background refresh, and a token fetched after `current()` gave
//! none was fetched on demand (a request would have waited). Which grant obtained it is the
//! token's own [`AccessToken::grant_type`].

use std::time::Duration;

use tokio::time::Instant;
use tower_auth::{AccessToken, config::Config};

use super::{Success, check_with};
use crate::{
    client::{self, HttpClient},
    diagnose::{self, Failure, Stage},
};

/// How often the waiting loop looks at the cache (each look is what a request would do).
const POLL: Duration = Duration::from_millis(50);

/// How the first token was replaced.
enum Replaced {
    /// The cache refreshed it in the background while it was still handed out.
    Background,
    /// It went stale first and the next request fetched a new one, waiting for it.
    OnDemand,
}

/// What one connection's run found after its first check passed.
struct Report {
    first: Success,
    /// The lines about the first token and its refresh.
    notes: Vec<String>,
    /// The second check, or why the token was not refreshed.
    second: Result<Success, Failure>,
    /// Whether `second` is the second check's (rather than the refresh's) outcome.
    checked_again: bool,
}

/// Runs `--through-expiry` for each connection; 0 when every second check passed.
pub(crate) async fn run_through_expiry(
    config: &Config,
    env: Option<&str>,
    names: &[String],
    max_wait: Duration,
) -> u8 {
    let names: Vec<String> = if names.is_empty() {
        config.connection_names().map(str::to_owned).collect()
    } else {
        names.to_vec()
    };
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let client = client::http_client();
    let mut code = 0;
    for name in &names {
        match through_expiry(config, env, name, client.clone(), max_wait).await {
            Ok(report) => {
                println!("✓ {name:width$}  {}", report.first.line);
                for note in &report.notes {
                    println!("  {note}");
                }
                let label = if report.checked_again {
                    "after refresh: "
                } else {
                    ""
                };
                match report.second {
                    Ok(second) => println!("✓ {name:width$}  {label}{}", second.line),
                    Err(failure) => {
                        code = 1;
                        println!("✗ {name:width$}  {label}{failure}");
                        println!("  hint: {}", failure.hint);
                    }
                }
            }
            Err(failure) => {
                code = 1;
                println!("✗ {name:width$}  {failure}");
                println!("  hint: {}", failure.hint);
            }
        }
    }
    code
}

/// Checks `name`, waits for its token to be replaced, checks again; `Err` when the first
/// check failed.
async fn through_expiry(
    config: &Config,
    env: Option<&str>,
    name: &str,
    client: HttpClient,
    max_wait: Duration,
) -> Result<Report, Failure> {
    let spec = diagnose::connection(config, env, name)?;
    let layer = spec.layer().map_err(|e| diagnose::build_failure(&e))?;
    let first = check_with(&spec, layer.clone(), client.clone()).await?;
    let failed = |first, notes, failure| Report {
        first,
        notes,
        second: Err(failure),
        checked_again: false,
    };
    let Some(source) = layer.token_source() else {
        let failure = Failure::new(
            Stage::Config,
            format!(
                "`{}` uses a fixed credential, which never expires",
                spec.auth.type_name()
            ),
            "--through-expiry checks token-based connections (oauth2, jwt_bearer, custom)",
        );
        return Ok(failed(first, Vec::new(), failure));
    };
    let Some(old) = source.current() else {
        let failure = Failure::new(
            Stage::Token,
            "the token of the first check is no longer handed out",
            "the token lives less than the cache's skew: lower `refresh_before` or the skew",
        );
        return Ok(failed(first, Vec::new(), failure));
    };
    let deadline = Instant::now() + max_wait;
    let (new, how) = loop {
        match source.current() {
            Some(token) if !token.same_as(&old) => break (token, Replaced::Background),
            Some(_) => {}
            None => match client::token(&spec, source).await {
                Ok(token) => break (token, Replaced::OnDemand),
                Err(failure) => return Ok(failed(first, Vec::new(), failure)),
            },
        }
        if Instant::now() >= deadline {
            return Ok(failed(first, Vec::new(), not_refreshed(&old, max_wait)));
        }
        tokio::time::sleep(POLL).await;
    };
    let replaced_at = Instant::now();
    spec.redactor().add_token(&new);
    let notes = describe_refresh(&old, &new, &how, replaced_at);
    let second = check_with(&spec, layer, client).await;
    Ok(Report {
        first,
        notes,
        second,
        checked_again: true,
    })
}

fn not_refreshed(old: &AccessToken, max_wait: Duration) -> Failure {
    let lifetime = match old.expires_at() {
        Some(at) => format!("lifetime {}", precise(at - old.issued_at())),
        None => "no expiry given".to_owned(),
    };
    let mut failure = Failure::new(
        Stage::Token,
        format!(
            "the token was not refreshed within --max-wait {} (the first token, {lifetime}, is \
             still in use)",
            precise(max_wait)
        ),
        "raise --max-wait above the token's lifetime, or start the refresh earlier with \
         `refresh_before`",
    );
    failure.kind = Some(tower_auth::ErrorKind::Timeout);
    failure
}

/// The lines that say how long the first token lived and how it was replaced.
fn describe_refresh(
    old: &AccessToken,
    new: &AccessToken,
    how: &Replaced,
    replaced_at: Instant,
) -> Vec<String> {
    let used = replaced_at.saturating_duration_since(old.issued_at());
    let lived = match old.expires_at() {
        Some(at) => format!(
            "first token lived {} of its {} lifetime",
            precise(used),
            precise(at - old.issued_at())
        ),
        None => format!("first token lived {} (no expiry given)", precise(used)),
    };
    let when = match old.expires_at() {
        Some(at) if replaced_at <= at => format!(
            "refreshed {} after issue, {} before expiry",
            precise(used),
            precise(at - replaced_at)
        ),
        Some(at) => format!(
            "refreshed {} after issue, {} after expiry",
            precise(used),
            precise(replaced_at - at)
        ),
        None => format!("refreshed {} after issue", precise(used)),
    };
    let trigger = match how {
        Replaced::Background => "background refresh (no request waited)",
        Replaced::OnDemand => {
            "on demand after the token went stale (requests waited for the token endpoint)"
        }
    };
    let grant = if new.from_refresh_token() {
        " with the refresh token (refresh_token grant)".to_owned()
    } else {
        match new.grant_type() {
            Some(grant) => format!(" ({grant} grant)"),
            None => String::new(),
        }
    };
    vec![lived, format!("{when}: {trigger}{grant}")]
}

/// `0.8s`, `12.3s`, `5m 0s`: tenths of a second for the short lifetimes tests use.
fn precise(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m {}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Parses `--max-wait`: `90`, `30s`, `500ms`, `5m`, `1h`.
pub(crate) fn parse_max_wait(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 30s, 500ms, 5m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("unknown unit `{other}` (use ms, s, m or h)")),
    };
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "`{text}` is out of range (more than 0, at most a day)"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_wait_reads_like_people_write_it() {
        assert_eq!(parse_max_wait("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_max_wait("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_max_wait("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_max_wait("90"), Ok(Duration::from_secs(90)));
        assert!(parse_max_wait("soon").is_err());
        assert!(parse_max_wait("0s").is_err());
        assert!(parse_max_wait("3 weeks").is_err());
    }

    #[test]
    fn short_durations_keep_tenths() {
        assert_eq!(precise(Duration::from_millis(800)), "0.8s");
        assert_eq!(precise(Duration::from_secs(2)), "2.0s");
        assert_eq!(precise(Duration::from_secs(300)), "5m 0s");
    }
}
