//! [`PemSource`]: where some PEM came from, for error messages.

use std::{
    borrow::Cow,
    fmt,
    path::{Path, PathBuf},
};

use secrecy::SecretSlice;

use crate::AuthError;

/// Where some PEM (or DER) came from, named in every error about it: `client certificate file
/// /etc/tls/client.pem`, `client private key PEM`, `service account file sa.json: `private_key``.
///
/// ```
/// use auth_core::pem::PemSource;
///
/// assert_eq!(PemSource::inline("CA root").to_string(), "CA root PEM");
/// assert_eq!(PemSource::file("CA root", "/etc/ca.pem").to_string(), "CA root file /etc/ca.pem");
/// assert_eq!(PemSource::named("private_key_jwt: private key PEM").to_string(),
///            "private_key_jwt: private key PEM");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemSource {
    what: Cow<'static, str>,
    form: Form,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    /// `{what} PEM`.
    Inline,
    /// `{what} file {path}`.
    File(PathBuf),
    /// `{what}`, as given.
    Named,
}

impl PemSource {
    /// PEM given in memory: shown as `{what} PEM`.
    pub fn inline(what: impl Into<Cow<'static, str>>) -> Self {
        PemSource {
            what: what.into(),
            form: Form::Inline,
        }
    }

    /// The file at `path`: shown as `{what} file {path}`; [`PemSource::read`] reads it.
    pub fn file(what: impl Into<Cow<'static, str>>, path: impl Into<PathBuf>) -> Self {
        PemSource {
            what: what.into(),
            form: Form::File(path.into()),
        }
    }

    /// Any other place, shown exactly as `description` (a field of a key file, a setting).
    pub fn named(description: impl Into<Cow<'static, str>>) -> Self {
        PemSource {
            what: description.into(),
            form: Form::Named,
        }
    }

    /// The file's path, for a [`PemSource::file`].
    pub fn path(&self) -> Option<&Path> {
        match &self.form {
            Form::File(path) => Some(path),
            Form::Inline | Form::Named => None,
        }
    }

    /// Reads the file this source names (zeroed on drop: it may hold a private key); the
    /// error names the path. A source that is not a file has nothing to read: an error too.
    pub fn read(&self) -> Result<SecretSlice<u8>, AuthError> {
        let path = self
            .path()
            .ok_or_else(|| self.error("there is no file to read"))?;
        std::fs::read(path)
            .map(SecretSlice::from)
            .map_err(|e| self.error(format_args!("cannot read it: {e}")))
    }

    /// A [`Config`](crate::ErrorKind::Config) error about this source: `{self}: {problem}`.
    pub fn error(&self, problem: impl fmt::Display) -> AuthError {
        AuthError::config(self, problem)
    }
}

impl fmt::Display for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.form {
            Form::Inline => write!(f, "{} PEM", self.what),
            Form::File(path) => write!(f, "{} file {}", self.what, path.display()),
            Form::Named => f.write_str(&self.what),
        }
    }
}
