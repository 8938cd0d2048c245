//! Secret references: `{ env = "NAME" }`, `{ file = "path" }`, or a literal string.

use std::{fmt, path::PathBuf};

use auth_core::{ExposeSecret, Redactor, SecretString};

use super::error::Problem;

/// Where a secret comes from. Literals are allowed but warned about by `config validate`, and
/// rejected with `strict_secrets = true`.
#[derive(Clone)]
pub enum SecretRef {
    /// Read from this environment variable when the connection is built.
    Env(String),
    /// Read from this file (trailing newline trimmed) when the connection is built.
    File(PathBuf),
    /// Written in the configuration itself.
    Literal(SecretString),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => f.debug_tuple("Env").field(name).finish(),
            SecretRef::File(path) => f.debug_tuple("File").field(path).finish(),
            SecretRef::Literal(_) => f.write_str("Literal([redacted])"),
        }
    }
}

impl fmt::Display for SecretRef {
    /// How `config show` prints it: the reference, never the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "{{ env = \"{name}\" }}"),
            SecretRef::File(path) => write!(f, "{{ file = \"{}\" }}", path.display()),
            SecretRef::Literal(_) => f.write_str("\"[redacted]\""),
        }
    }
}

impl SecretRef {
    /// Reads the secret. `path` is the key path used in the error, which never holds the value.
    pub fn resolve(&self, path: &str) -> Result<SecretString, Problem> {
        let problem = |message: String| Problem {
            path: path.to_owned(),
            message,
        };
        let value = match self {
            SecretRef::Literal(secret) => secret.clone(),
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(value) => SecretString::from(value),
                Err(std::env::VarError::NotPresent) => {
                    return Err(problem(format!("environment variable `{name}` is not set")));
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(problem(format!(
                        "environment variable `{name}` is not valid UTF-8"
                    )));
                }
            },
            SecretRef::File(file) => match read_secret_file(file) {
                Ok(mut text) => {
                    // Files written by `echo` or editors end in a newline; the secret does not.
                    while text.ends_with('\n') || text.ends_with('\r') {
                        text.pop();
                    }
                    SecretString::from(text)
                }
                Err(why) => {
                    return Err(problem(format!(
                        "cannot read secret file `{}`: {why}",
                        file.display()
                    )));
                }
            },
        };
        if value.expose_secret().is_empty() {
            let source = match self {
                SecretRef::Env(name) => format!("environment variable `{name}`"),
                SecretRef::File(file) => format!("secret file `{}`", file.display()),
                SecretRef::Literal(_) => "the literal value".to_owned(),
            };
            return Err(problem(format!("{source} is empty")));
        }
        Ok(value)
    }

    /// [`SecretRef::resolve`], adding the value to `redactor` (a PEM document with each line of
    /// its body), so that a server echoing it is never shown.
    pub fn resolve_for(&self, path: &str, redactor: &Redactor) -> Result<SecretString, Problem> {
        let value = self.resolve(path)?;
        let text = value.expose_secret();
        if text.trim_start().starts_with("-----BEGIN") {
            redactor.add_pem(text);
        } else {
            redactor.add(text);
        }
        Ok(value)
    }

    /// Whether the secret is written in the configuration itself.
    pub fn is_literal(&self) -> bool {
        matches!(self, SecretRef::Literal(_))
    }
}

/// Reads a secret file with [`auth_core::secret_file::read`]: regular files of at most
/// [`MAX_SECRET_FILE_BYTES`](auth_core::secret_file::MAX_SECRET_FILE_BYTES) only; the error
/// says why, never what the file holds.
fn read_secret_file(file: &std::path::Path) -> Result<String, String> {
    auth_core::secret_file::read(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::secret_file::MAX_SECRET_FILE_BYTES;

    #[test]
    fn devices_fifos_and_oversized_files_are_refused_with_the_key_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; MAX_SECRET_FILE_BYTES as usize + 1]).expect("write");
        let exact = dir.path().join("exact");
        std::fs::write(&exact, vec![b'a'; MAX_SECRET_FILE_BYTES as usize]).expect("write");
        let cases = [
            ("/dev/zero".into(), "not a regular file"),
            (fifo, "not a regular file"),
            (dir.path().to_path_buf(), "not a regular file"),
            (big, "larger than 1024 KiB"),
        ];
        for (path, why) in cases {
            let err = SecretRef::File(path.clone())
                .resolve("connections.api.auth.token")
                .expect_err("refused");
            let text = err.to_string();
            assert!(text.starts_with("connections.api.auth.token: "), "{text}");
            assert!(text.contains(why), "{path:?}: {text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
        let secret = SecretRef::File(exact)
            .resolve("a.b")
            .expect("1 MiB is allowed");
        assert_eq!(secret.expose_secret().len(), MAX_SECRET_FILE_BYTES as usize);
    }

    #[test]
    fn file_secrets_lose_their_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cr3t\n").expect("write");
        let secret = SecretRef::File(path).resolve("a.b").expect("resolves");
        assert_eq!(secret.expose_secret(), "s3cr3t");
    }

    #[test]
    fn missing_env_vars_and_files_name_the_reference_and_path() {
        let err = SecretRef::Env("TOWER_AUTH_TEST_SURELY_UNSET_VAR".into())
            .resolve("connections.x.auth.token")
            .expect_err("unset");
        assert_eq!(err.path, "connections.x.auth.token");
        assert!(err.message.contains("TOWER_AUTH_TEST_SURELY_UNSET_VAR"));
        let err = SecretRef::File("/nonexistent/secret".into())
            .resolve("p")
            .expect_err("missing");
        assert!(err.message.contains("/nonexistent/secret"));
    }

    #[test]
    fn resolved_secrets_join_the_redactor_and_pem_keys_line_by_line() {
        let redactor = Redactor::new();
        SecretRef::Literal("hunter2pass".into())
            .resolve_for("a.b", &redactor)
            .expect("resolves");
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAbcdefghijklmnop\nqrstuvwx\n-----END PRIVATE KEY-----\n";
        SecretRef::Literal(pem.into())
            .resolve_for("a.key", &redactor)
            .expect("resolves");
        assert_eq!(
            redactor.redact("hunter2pass / MC4CAQAwBQYDK2VwBCIEIAbcdefghijklmnop / qrstuvwx"),
            "[redacted] / [redacted] / [redacted]"
        );
    }

    #[test]
    fn empty_secrets_are_refused_and_literals_never_print() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty");
        std::fs::write(&path, "\n").expect("write");
        let err = SecretRef::File(path).resolve("p").expect_err("empty");
        assert!(err.message.contains("is empty"));
        let literal = SecretRef::Literal("hunter2".into());
        assert!(!format!("{literal:?} {literal}").contains("hunter2"));
    }
}
