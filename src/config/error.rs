//! Configuration problems, each naming the key path it is about, reported all at once.

use std::fmt;

use auth_core::{AuthError, ErrorKind};

/// One problem with a configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a dotted key path such as `connections.billing.auth.token_url`.
    pub path: String,
    /// What is wrong, e.g. `not a URL`. Never contains a secret value.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a configuration (at least one).
///
/// `Display` lists them one per line:
///
/// ```text
/// 2 problems in tower-auth.toml:
///   connections.billing.auth.token_url: not a URL (relative URL without a base)
///   connections.billing.auth.clent_id: unknown key (did you mean `client_id`?)
/// ```
#[derive(Debug, Clone)]
pub struct ConfigError {
    source_name: String,
    problems: Vec<Problem>,
    secret: bool,
}

impl ConfigError {
    pub(crate) fn new(source_name: impl Into<String>, problems: Vec<Problem>) -> Self {
        let problems = problems
            .into_iter()
            .map(|p| Problem {
                path: p.path,
                message: one_line(p.message),
            })
            .collect();
        Self {
            source_name: source_name.into(),
            problems,
            secret: false,
        }
    }

    /// A problem at `path` described by `error`'s sentence (a builder error naming the bad
    /// setting); the generic hint is left out, the path says what to fix.
    #[cfg_attr(not(any(feature = "oauth2", feature = "tls")), allow(dead_code))]
    pub(crate) fn from_auth(path: impl Into<String>, error: &AuthError) -> Self {
        Self::new(
            "configuration",
            vec![Problem {
                path: path.into(),
                message: error.message(),
            }],
        )
    }

    /// A secret reference that could not be resolved (unset variable, unreadable file).
    pub(crate) fn secret(problem: Problem) -> Self {
        Self {
            source_name: "configuration".to_owned(),
            problems: vec![problem],
            secret: true,
        }
    }

    /// Whether the error is a secret that could not be read, rather than an invalid value.
    pub fn is_secret(&self) -> bool {
        self.secret
    }

    pub(crate) fn single(
        source_name: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            source_name,
            vec![Problem {
                path: path.into(),
                message: message.into(),
            }],
        )
    }

    /// The problems, in the order they were found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The file (or `<string>`) the configuration came from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "{}: {one}", self.source_name),
            many => {
                write!(f, "{} problems in {}:", many.len(), self.source_name)?;
                for problem in many {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for AuthError {
    fn from(error: ConfigError) -> Self {
        AuthError::new(ErrorKind::Config, error.to_string())
    }
}

/// Collects problems while a configuration is checked.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    pub(crate) errors: Vec<Problem>,
    pub(crate) warnings: Vec<Problem>,
}

impl Problems {
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(Problem {
            path: path.to_owned(),
            message: one_line(message.into()),
        });
    }

    pub(crate) fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(Problem {
            path: path.to_owned(),
            message: one_line(message.into()),
        });
    }
}

/// Messages quote values from the file (`unknown value `…``); control characters in them (a
/// newline in a YAML or JSON string) are escaped so every problem stays on one line.
fn one_line(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    let mut line = String::with_capacity(message.len() + 8);
    for c in message.chars() {
        if c.is_control() {
            line.extend(c.escape_debug());
        } else {
            line.push(c);
        }
    }
    line
}

/// The closest of `candidates` to `key`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(key: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(key, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(key.len()) / 3).max(1) + usize::from(c.len() > 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j] + 1).min(row[j + 1] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["client_id", "client_secret", "token_url", "scopes"];
        assert_eq!(did_you_mean("clent_id", &keys), Some("client_id"));
        assert_eq!(did_you_mean("token_uri", &keys), Some("token_url"));
        assert_eq!(did_you_mean("scope", &keys), Some("scopes"));
        assert_eq!(did_you_mean("zzz", &keys), None);
    }

    #[test]
    fn lists_every_problem_on_its_own_line() {
        let error = ConfigError::new(
            "tower-auth.toml",
            vec![
                Problem {
                    path: "a.b".into(),
                    message: "not a URL".into(),
                },
                Problem {
                    path: "a.c".into(),
                    message: "missing".into(),
                },
            ],
        );
        assert_eq!(
            error.to_string(),
            "2 problems in tower-auth.toml:\n  a.b: not a URL\n  a.c: missing"
        );
        assert_eq!(AuthError::from(error).kind(), ErrorKind::Config);
    }
}
