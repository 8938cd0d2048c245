//! Secrets read from files rotate without a restart (mounted Kubernetes and Docker secrets are
//! replaced this way).
//!
//! - A static credential (bearer token, API key, Basic password) from a `{ file = … }` reference
//!   is served by a [`FileCredential`] behind the connection's `TokenLayer`: the file's metadata
//!   (size, modification time, inode) is looked at no more than once per
//!   [`SECRET_FILE_CHECK_INTERVAL`], never read per request, and the file is read again only when that
//!   changed. A 401 re-checks the file at once and, when it changed, the layer retries the
//!   request once with the new value (the token layer's retry); an unchanged file gives no
//!   retry. Credentials from environment variables or literals stay on the static layer.
//! - A token grant whose secrets come from files (client secret, password, refresh token seed,
//!   private keys, the token endpoint's TLS key) is [`Rebuilt`] when one of them changed, before
//!   its next token request; the cache in front keeps serving the current token until then.
//!
//! A file that cannot be read at a check leaves the last good value in use (and is tried again
//! at the next check); the failure is logged with the `tracing` feature, never with the secret.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;
use auth_core::{
    AccessToken, AuthError, ErrorKind, Redactor, SecretString, TokenFuture, TokenSource,
};
use auth_layers::TokenLayer;
use base64::Engine as _;
use tokio::time::Instant;

use super::secret::SecretRef;

/// How often, at most, a secret file's metadata is looked at by default: 10 seconds (a
/// connection's `secret_check_interval` changes it).
pub const SECRET_FILE_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// What a rotation changes about a file: its size, modification time and inode (an atomic
/// rename, as Kubernetes does through its `..data` link, gives a new inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// The fingerprint of the file `path` leads to (symbolic links followed), if it can be read.
pub(crate) fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Fingerprint {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        inode,
    })
}

/// Turns a secret's value into the token the layer sends (the bearer token, the API key, or
/// the base64 of `user:password`), adding to the redactor what the server may echo.
pub(crate) type MakeToken =
    Box<dyn Fn(&SecretString, &Redactor) -> Result<AccessToken, AuthError> + Send + Sync>;

/// A static credential read from a file, re-read when the file changes; see the
/// [module docs](self).
pub(crate) struct FileCredential {
    file: PathBuf,
    key_path: String,
    redactor: Redactor,
    make: MakeToken,
    interval: Duration,
    loaded: ArcSwap<Loaded>,
    /// Held while the file is looked at, so one caller checks and the others serve the
    /// current value.
    checking: Mutex<()>,
}

struct Loaded {
    token: AccessToken,
    fingerprint: Option<Fingerprint>,
    checked_at: Instant,
}

impl FileCredential {
    /// Reads the secret now (an error names `key_path`) and builds the first token; the file is
    /// looked at again no more than once per `interval`.
    pub(crate) fn new(
        file: PathBuf,
        key_path: String,
        redactor: Redactor,
        make: MakeToken,
        interval: Duration,
    ) -> Result<Self, super::ConfigError> {
        let fingerprint = fingerprint(&file);
        let secret = SecretRef::File(file.clone())
            .resolve_for(&key_path, &redactor)
            .map_err(super::ConfigError::secret)?;
        let token = make(&secret, &redactor).map_err(|e| {
            super::ConfigError::new(
                "configuration",
                vec![super::Problem {
                    path: key_path.clone(),
                    message: e.to_string(),
                }],
            )
        })?;
        Ok(Self {
            file,
            key_path,
            redactor,
            make,
            interval,
            loaded: ArcSwap::from_pointee(Loaded {
                token,
                fingerprint,
                checked_at: Instant::now(),
            }),
            checking: Mutex::new(()),
        })
    }

    /// Looks at the file (when `force`, or when the interval has passed) and, if it changed,
    /// reads it and replaces the token. A token whose value did not change is kept as it is,
    /// so the token layer does not retry with the same credential.
    fn check(&self, now: Instant, force: bool) {
        let Ok(_checking) = self.checking.try_lock() else {
            return;
        };
        let loaded = self.loaded.load();
        if !force && now.saturating_duration_since(loaded.checked_at) < self.interval {
            return;
        }
        let fingerprint = fingerprint(&self.file);
        let mut token = loaded.token.clone();
        if fingerprint != loaded.fingerprint {
            match self.reread() {
                Ok(new) if same_credential(&new, &token) => {}
                Ok(new) => token = new,
                Err(error) => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(
                        target: "tower_auth::config",
                        key = %self.key_path,
                        error = %error,
                        "a rotated secret file could not be read; keeping the previous value"
                    );
                    let _ = error;
                }
            }
        }
        self.loaded.store(Arc::new(Loaded {
            token,
            fingerprint,
            checked_at: now,
        }));
    }

    fn reread(&self) -> Result<AccessToken, AuthError> {
        let secret = SecretRef::File(self.file.clone())
            .resolve_for(&self.key_path, &self.redactor)
            .map_err(|p| AuthError::new(ErrorKind::Config, p.to_string()))?;
        (self.make)(&secret, &self.redactor)
    }
}

/// Whether two tokens carry the same credential.
fn same_credential(a: &AccessToken, b: &AccessToken) -> bool {
    a.header_value() == b.header_value()
        && auth_core::ExposeSecret::expose_secret(a.secret())
            == auth_core::ExposeSecret::expose_secret(b.secret())
}

impl TokenSource for FileCredential {
    fn token(&self) -> TokenFuture<'_> {
        let token = self.current();
        Box::pin(async move {
            token.ok_or_else(|| AuthError::new(ErrorKind::Config, "no credential was read"))
        })
    }

    fn current(&self) -> Option<AccessToken> {
        let now = Instant::now();
        let loaded = self.loaded.load();
        if now.saturating_duration_since(loaded.checked_at) < self.interval {
            return Some(loaded.token.clone());
        }
        drop(loaded);
        self.check(now, false);
        Some(self.loaded.load().token.clone())
    }

    fn invalidate(&self, _rejected: &AccessToken) {
        // The server refused the credential: look at the file now, not at the next interval.
        self.check(Instant::now(), true);
    }
}

impl fmt::Debug for FileCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileCredential")
            .field("file", &self.file)
            .field("key_path", &self.key_path)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// The token layer of a static credential (bearer token, API key, Basic password) read from a
/// file, served by a [`FileCredential`]; `None` when the credential is not in a file (it stays
/// on the static layer). The first read and every rotation are checked as the static layers
/// check them, with errors at the credential's key path.
pub(crate) fn static_layer(
    spec: &super::ConnectionSpec,
) -> Result<Option<TokenLayer<Arc<dyn TokenSource>>>, super::ConfigError> {
    use super::{AuthSpec, Location};

    let path = format!("connections.{}.auth", spec.name);
    let config_error = |key: &str, message: String| {
        super::ConfigError::new(
            "configuration",
            vec![super::Problem {
                path: format!("{path}.{key}"),
                message,
            }],
        )
    };
    let source = |key: &str, file: &Path, make: MakeToken| {
        FileCredential::new(
            file.to_path_buf(),
            format!("{path}.{key}"),
            spec.redactor.clone(),
            make,
            spec.secret_check_interval
                .unwrap_or(SECRET_FILE_CHECK_INTERVAL),
        )
        .map(|c| Arc::new(c) as Arc<dyn TokenSource>)
    };
    let layer = match &spec.auth {
        AuthSpec::Bearer {
            token: SecretRef::File(file),
            header,
            prefix,
        } => {
            let (name, prefix) = (header.clone(), prefix.clone());
            let make: MakeToken = Box::new(move |token, _| {
                // The static layer's checks, so a rotated value is refused as a first one is.
                auth_layers::BearerLayer::builder(token.clone())
                    .header_name(name.clone())
                    .prefix(prefix.clone())
                    .build()?;
                AccessToken::builder(token.clone())
                    .header_prefix(prefix.clone())
                    .build()
            });
            let source = source("token", file, make)?;
            TokenLayer::header(header, source)
                .map_err(|e| config_error("header", e.to_string()))?
                .credential_description("a bearer token")
        }
        AuthSpec::ApiKey {
            key_name,
            key_value: SecretRef::File(file),
            location,
            prefix,
        } => {
            let (name, prefix, location) = (key_name.clone(), prefix.clone(), *location);
            let make: MakeToken = Box::new(move |key, _| {
                let builder = match location {
                    Location::Header => auth_layers::ApiKeyLayer::header(name.clone(), key.clone()),
                    Location::Query => auth_layers::ApiKeyLayer::query(name.clone(), key.clone()),
                };
                match &prefix {
                    Some(prefix) => builder.prefix(prefix.clone()).build()?,
                    None => builder.build()?,
                };
                let prefix = prefix.as_deref().unwrap_or("");
                match location {
                    Location::Header => AccessToken::builder(key.clone()).header_prefix(prefix),
                    // The query carries the token itself: the prefix is part of it.
                    Location::Query if prefix.is_empty() => AccessToken::builder(key.clone()),
                    Location::Query => AccessToken::builder(SecretString::from(format!(
                        "{prefix} {}",
                        auth_core::ExposeSecret::expose_secret(key)
                    )))
                    .header_prefix(""),
                }
                .build()
            });
            let source = source("key_value", file, make)?;
            match location {
                Location::Header => TokenLayer::header(key_name, source),
                Location::Query => TokenLayer::query(key_name, source),
            }
            .map_err(|e| config_error("key_name", e.to_string()))?
            .credential_description("an API key")
        }
        AuthSpec::Basic {
            username,
            password: SecretRef::File(file),
        } => {
            let username = username.clone();
            let make: MakeToken = Box::new(move |password, redactor| {
                auth_layers::BasicAuthLayer::new(&username, password.clone())?;
                let password = auth_core::ExposeSecret::expose_secret(password);
                redactor.add_basic(&username, password);
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                AccessToken::builder(encoded).header_prefix("Basic").build()
            });
            TokenLayer::new(source("password", file, make)?)
                .credential_description("HTTP Basic credentials")
        }
        _ => return Ok(None),
    };
    Ok(Some(layer))
}

/// Builds a grant from the configuration, secrets resolved anew.
#[cfg(feature = "oauth2")]
type BuildSource = Box<dyn Fn() -> Result<Arc<dyn TokenSource>, AuthError> + Send + Sync>;

/// A token grant rebuilt from the configuration when one of its secret files changed; see the
/// [module docs](self). It sits inside the connection's cache, so the files are looked at only
/// before a token request.
#[cfg(feature = "oauth2")]
struct Rebuilt {
    files: Vec<(PathBuf, Mutex<Option<Fingerprint>>)>,
    build: BuildSource,
    grant: Mutex<Arc<dyn TokenSource>>,
}

#[cfg(feature = "oauth2")]
impl Rebuilt {
    /// `grant`, built from the current files; `build` builds it again.
    pub(crate) fn new(
        files: Vec<PathBuf>,
        grant: Arc<dyn TokenSource>,
        build: BuildSource,
    ) -> Self {
        Self {
            files: files
                .into_iter()
                .map(|file| {
                    let print = fingerprint(&file);
                    (file, Mutex::new(print))
                })
                .collect(),
            build,
            grant: Mutex::new(grant),
        }
    }

    /// The grant to ask, rebuilt first when a secret file changed.
    fn grant(&self) -> Result<Arc<dyn TokenSource>, AuthError> {
        let mut changed = false;
        for (file, seen) in &self.files {
            let now = fingerprint(file);
            let mut seen = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *seen != now {
                *seen = now;
                changed = true;
            }
        }
        let mut grant = self
            .grant
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if changed {
            #[cfg(feature = "tracing")]
            tracing::info!(
                target: "tower_auth::config",
                "a secret file changed; rebuilding the grant with the new value"
            );
            *grant = (self.build)()?;
        }
        Ok(grant.clone())
    }
}

#[cfg(feature = "oauth2")]
impl TokenSource for Rebuilt {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move { self.grant()?.token().await })
    }

    fn invalidate(&self, token: &AccessToken) {
        self.grant
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .invalidate(token);
    }
}

#[cfg(feature = "oauth2")]
impl fmt::Debug for Rebuilt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: Vec<&PathBuf> = self.files.iter().map(|(f, _)| f).collect();
        f.debug_struct("Rebuilt")
            .field("files", &files)
            .finish_non_exhaustive()
    }
}

/// `first`, rebuilt by `build` before its next token request once one of the connection's
/// secret files changed; `first` itself when its auth method reads no secret file. A rebuild's
/// configuration problem becomes an [`ErrorKind::Config`] error of that request.
#[cfg(feature = "oauth2")]
pub(crate) fn rebuilt_on_change(
    spec: &super::ConnectionSpec,
    first: Arc<dyn TokenSource>,
    build: impl Fn() -> Result<Arc<dyn TokenSource>, super::ConfigError> + Send + Sync + 'static,
) -> Arc<dyn TokenSource> {
    let files = secret_files(&spec.auth);
    if files.is_empty() {
        return first;
    }
    let build: BuildSource =
        Box::new(move || build().map_err(|e| AuthError::new(ErrorKind::Config, e.to_string())));
    Arc::new(Rebuilt::new(files, first, build))
}

/// Every secret file an auth method reads (and the service-account file), for [`Rebuilt`].
#[cfg(feature = "oauth2")]
fn secret_files(auth: &super::AuthSpec) -> Vec<PathBuf> {
    use super::AuthSpec;

    let mut files = Vec::new();
    let mut add = |secret: Option<&SecretRef>| {
        if let Some(SecretRef::File(path)) = secret {
            files.push(path.clone());
        }
    };
    match auth {
        AuthSpec::OAuth2(o) => {
            add(o.client_secret.as_ref());
            add(o.password.as_ref());
            add(o.refresh_token.as_ref());
            add(o.private_key.as_ref());
            add(o.tls.as_ref().and_then(|t| t.key.as_ref()));
        }
        AuthSpec::JwtBearer(j) => {
            add(j.private_key.as_ref());
            add(j.tls.as_ref().and_then(|t| t.key.as_ref()));
            if let Some(file) = &j.service_account_file {
                files.push(super::oauth::expand_home(file));
            }
        }
        AuthSpec::Custom(c) => {
            let templates = c
                .headers
                .values()
                .chain(c.json.iter().flat_map(|m| m.values()))
                .chain(c.form.iter().flat_map(|m| m.values()))
                .chain(c.values.values());
            for template in templates {
                if let super::TemplateValue::Secret(secret) = template {
                    add(Some(secret));
                }
            }
        }
        _ => {}
    }
    files
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use auth_core::ExposeSecret;

    use super::*;

    fn rotate(path: &Path, value: &str) {
        let next = path.with_extension("next");
        std::fs::write(&next, value).expect("write");
        std::fs::rename(&next, path).expect("rename");
    }

    #[tokio::test(start_paused = true)]
    async fn the_file_is_looked_at_once_per_interval_and_read_only_when_it_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        rotate(&file, "first");
        let reads = Arc::new(AtomicUsize::new(0));
        let counter = reads.clone();
        let make: MakeToken = Box::new(move |secret, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            AccessToken::builder(secret.clone()).build()
        });
        let credential = FileCredential::new(
            file.clone(),
            "a.b".into(),
            Redactor::new(),
            make,
            SECRET_FILE_CHECK_INTERVAL,
        )
        .expect("read");
        let value = |c: &FileCredential| {
            c.current()
                .map(|t| t.secret().expose_secret().to_owned())
                .expect("always a value")
        };
        assert_eq!(value(&credential), "first");
        rotate(&file, "second");
        for _ in 0..1000 {
            assert_eq!(value(&credential), "first", "not before the interval");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1, "never a read per request");

        tokio::time::advance(SECRET_FILE_CHECK_INTERVAL).await;
        assert_eq!(value(&credential), "second");
        assert_eq!(reads.load(Ordering::SeqCst), 2);

        // An unchanged file is not read again; the token stays the very same one.
        let before = credential.current().expect("token");
        tokio::time::advance(SECRET_FILE_CHECK_INTERVAL).await;
        assert!(credential.current().expect("token").same_as(&before));
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_rotation_keeps_the_last_good_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        rotate(&file, "good");
        let make: MakeToken = Box::new(|secret, _| AccessToken::builder(secret.clone()).build());
        let credential = FileCredential::new(
            file.clone(),
            "a.b".into(),
            Redactor::new(),
            make,
            SECRET_FILE_CHECK_INTERVAL,
        )
        .expect("read");
        std::fs::remove_file(&file).expect("remove");
        credential.invalidate(&credential.current().expect("token"));
        let token = credential.current().expect("still a token");
        assert_eq!(token.secret().expose_secret(), "good");
        rotate(&file, "");
        tokio::time::advance(SECRET_FILE_CHECK_INTERVAL).await;
        let token = credential.current().expect("still a token");
        assert_eq!(
            token.secret().expose_secret(),
            "good",
            "an empty file is refused"
        );
    }
}
