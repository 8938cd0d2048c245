//! [`FileTokenStore`]: a [`TokenStore`] in one JSON file that is replaced atomically, readable
//! only by its owner, and safe to share between processes.
//!
//! ```
//! use auth_core::{FileTokenStore, StoredToken, TokenStore};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = FileTokenStore::new(dir.path().join("tokens.json"));
//! store.save("billing", &StoredToken::with_refresh_token("r1")).await?;
//! assert!(store.load("billing").await?.is_some());
//! # Ok(()) }
//! ```
//!
//! The file maps each key to its record; `expires_at` is in unix seconds and absent fields are
//! omitted. Fields this version does not know are kept when another key is saved.
//!
//! ```json
//! {
//!   "billing": {
//!     "refresh_token": "…",
//!     "access_token": "…",
//!     "token_type": "Bearer",
//!     "expires_at": 1767225600,
//!     "scopes": ["read"],
//!     "metadata": { "client_auth": "basic" }
//!   }
//! }
//! ```

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fmt,
    fs::{self, File, Metadata, OpenOptions},
    io::{
        self,
        ErrorKind::{NotFound, PermissionDenied, ReadOnlyFilesystem},
        Read, Write,
    },
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use secrecy::{
    ExposeSecret, SecretString,
    zeroize::{Zeroize, Zeroizing},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, error::Category};

use super::{StoreFuture, StoredToken, TokenStore};
use crate::{AuthError, ErrorKind};

/// A [`TokenStore`] backed by one JSON file.
///
/// - **Atomic**: a save writes the whole file to a temporary file in the same directory, syncs
///   it, renames it over the target and syncs the directory. A crash or error leaves either the
///   old file or the new one, never a truncated one.
/// - **Private**: on unix the file is created with mode `0600`. An existing file that group or
///   others can access is refused (with a `chmod 600` hint) rather than used, because its
///   secrets may already have leaked.
/// - **Shared**: saves and removes hold an exclusive lock, loads a shared one, on the sidecar
///   `<path>.lock` (never deleted, so every process locks the same file), so several processes
///   can read-modify-write the same store without losing each other's records.
///
/// File I/O runs on Tokio's blocking pool when a Tokio runtime is present (and inline
/// otherwise). Once polled, an operation runs to completion even if its future is then dropped.
///
/// `Debug` shows the path only.
#[derive(Clone)]
pub struct FileTokenStore {
    path: Arc<Path>,
    faults: Faults,
}

impl FileTokenStore {
    /// A store in the file at `path`. Nothing is touched until the first operation; the
    /// directory must exist by the first save.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Arc::from(path.into()),
            faults: Faults::default(),
        }
    }

    /// The path of the store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every write fail after the temporary file is written, before the rename.
    #[cfg(all(test, unix))]
    fn failing_before_rename(mut self) -> Self {
        self.faults.fail_before_rename = true;
        self
    }
}

impl fmt::Debug for FileTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileTokenStore")
            .field("path", &self.path)
            .finish()
    }
}

impl TokenStore for FileTokenStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredToken>> {
        let (path, key) = (self.path.clone(), key.to_owned());
        Box::pin(blocking(move || load_blocking(&path, &key)))
    }

    fn save<'a>(&'a self, key: &'a str, token: &'a StoredToken) -> StoreFuture<'a, ()> {
        let (path, key, faults) = (self.path.clone(), key.to_owned(), self.faults);
        // A clone, not the serialized form, crosses to the blocking thread: its secrets are
        // zeroized on drop.
        let token = token.clone();
        Box::pin(blocking(move || save_blocking(&path, &key, &token, faults)))
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        let (path, key, faults) = (self.path.clone(), key.to_owned(), self.faults);
        Box::pin(blocking(move || remove_blocking(&path, &key, faults)))
    }
}

/// Test-only failure switches; a zero-sized no-op in other builds.
#[derive(Clone, Copy, Default)]
struct Faults {
    #[cfg(test)]
    fail_before_rename: bool,
}

impl Faults {
    fn before_rename(self) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_before_rename {
            return Err(io::Error::other("injected failure before rename"));
        }
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    task: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    // Outside a Tokio runtime there is no blocking pool: do the (short) file I/O inline rather
    // than panic.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return task();
    };
    match runtime.spawn_blocking(task).await {
        Ok(result) => result,
        Err(err) => match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => Err(store_error(
                "the file store task was cancelled by runtime shutdown",
            )),
        },
    }
}

fn store_error(detail: impl Into<String>) -> AuthError {
    AuthError::new(ErrorKind::Store, detail)
}

/// Maps an I/O error to "cannot `doing` `path`", keeping the I/O error as the source.
fn io_error<'a>(doing: &'static str, path: &'a Path) -> impl Fn(io::Error) -> AuthError + 'a {
    move |e| store_error(format!("cannot {doing} {}", path.display())).with_source(e)
}

fn load_blocking(path: &Path, key: &str) -> Result<Option<StoredToken>, AuthError> {
    let lock_path = lock_path(path);
    let _lock = match open_lock_file(&lock_path) {
        Ok(lock) => lock.lock_shared().map(|()| lock).map(Some),
        // Writers replace the file by rename, so a reader without the lock still never sees a
        // partial file: a read-only directory (a mounted secret) stays loadable, and a missing
        // directory simply holds no file.
        Err(e) if matches!(e.kind(), NotFound | PermissionDenied | ReadOnlyFilesystem) => Ok(None),
        Err(e) => Err(e),
    }
    .map_err(lock_error(&lock_path))?;
    let Some(doc) = read_document(path)? else {
        return Ok(None);
    };
    doc.0
        .get(key)
        .map(|record| decode(path, key, record))
        .transpose()
}

fn save_blocking(
    path: &Path,
    key: &str,
    token: &StoredToken,
    faults: Faults,
) -> Result<(), AuthError> {
    let Some(_lock) = lock_exclusive(path)? else {
        let dir = parent_dir(path).display();
        return Err(store_error(format!(
            "cannot save to {}: the directory {dir} does not exist",
            path.display()
        )));
    };
    let mut doc = read_document(path)?.unwrap_or_default();
    doc.insert(key, encode(path, token)?);
    write_atomically(path, &doc.to_bytes(path)?, faults)
}

fn remove_blocking(path: &Path, key: &str, faults: Faults) -> Result<(), AuthError> {
    let Some(_lock) = lock_exclusive(path)? else {
        return Ok(());
    };
    let Some(mut doc) = read_document(path)? else {
        return Ok(());
    };
    if !doc.remove(key) {
        return Ok(());
    }
    write_atomically(path, &doc.to_bytes(path)?, faults)
}

/// The exclusive lock for a read-modify-write, or `None` when the directory does not exist.
fn lock_exclusive(path: &Path) -> Result<Option<File>, AuthError> {
    let lock_path = lock_path(path);
    match open_lock_file(&lock_path) {
        Ok(lock) => lock.lock().map(|()| Some(lock)),
        Err(e) if e.kind() == NotFound && !parent_dir(path).is_dir() => Ok(None),
        Err(e) => Err(e),
    }
    .map_err(lock_error(&lock_path))
}

fn lock_path(path: &Path) -> PathBuf {
    let mut lock = path.as_os_str().to_owned();
    lock.push(".lock");
    PathBuf::from(lock)
}

/// Opens (creating it) the lock file. A symbolic link there is refused, not followed: whoever
/// can write the directory could otherwise point it at any file the process may write.
fn open_lock_file(lock_path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(lock_path)
}

/// Maps a failure to open or take the lock: "cannot lock `path`", saying so when the lock file
/// is a symbolic link (refused by `O_NOFOLLOW`).
fn lock_error(lock_path: &Path) -> impl Fn(io::Error) -> AuthError + '_ {
    move |e| {
        if fs::symlink_metadata(lock_path).is_ok_and(|m| m.file_type().is_symlink()) {
            store_error(format!(
                "cannot lock {}: it is a symbolic link, which the token store refuses to follow \
                 (remove it; the store creates its own lock file)",
                lock_path.display()
            ))
            .with_source(e)
        } else {
            io_error("lock", lock_path)(e)
        }
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The records of the file, as JSON values so that fields unknown to this version survive a
/// rewrite. Its strings (the secrets among them) are zeroized on drop.
#[derive(Default)]
struct Document(Map<String, Value>);

impl Document {
    fn insert(&mut self, key: &str, record: Value) {
        if let Some(mut old) = self.0.insert(key.to_owned(), record) {
            scrub(&mut old);
        }
    }

    /// Whether there was a record to remove.
    fn remove(&mut self, key: &str) -> bool {
        self.0.remove(key).map(|mut old| scrub(&mut old)).is_some()
    }

    fn to_bytes(&self, path: &Path) -> Result<Zeroizing<Vec<u8>>, AuthError> {
        let encode_error = |_| store_error(format!("cannot encode {}", path.display()));
        // Measured first so the buffer never grows, which would free unscrubbed copies.
        let mut len = ByteCount(0);
        serde_json::to_writer_pretty(&mut len, &self.0).map_err(encode_error)?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(len.0 + 1));
        serde_json::to_writer_pretty(&mut *bytes, &self.0).map_err(encode_error)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

impl Drop for Document {
    fn drop(&mut self) {
        self.0.values_mut().for_each(scrub);
    }
}

fn scrub(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => map.values_mut().for_each(scrub),
        _ => {}
    }
}

struct ByteCount(usize);

impl Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The parsed file, or `None` when there is no file.
fn read_document(path: &Path) -> Result<Option<Document>, AuthError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", path)(e)),
    };
    let metadata = file.metadata().map_err(io_error("read", path))?;
    check_private(path, &metadata)?;
    // Sized to the file so the buffer never grows, which would free unscrubbed copies.
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        usize::try_from(metadata.len()).unwrap_or(0),
    ));
    file.read_to_end(&mut bytes)
        .map_err(io_error("read", path))?;
    // An empty file is what `touch` leaves behind when someone pre-creates the store.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Document::default()));
    }
    let records = serde_json::from_slice(&bytes).map_err(|e| unparsable(path, &e))?;
    Ok(Some(Document(records)))
}

fn unparsable(path: &Path, err: &serde_json::Error) -> AuthError {
    let problem = match err.classify() {
        Category::Eof => "is truncated",
        Category::Syntax => "is not valid json",
        Category::Data => "is not a json object of token records",
        Category::Io => "could not be read",
    };
    // Only the position is kept: the parser's message can quote the file, which holds secrets.
    let (line, column) = (err.line(), err.column());
    store_error(format!(
        "{} {problem} (line {line}, column {column}); repair it or move it aside",
        path.display()
    ))
}

#[cfg(unix)]
fn check_private(path: &Path, metadata: &Metadata) -> Result<(), AuthError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    Err(store_error(format!(
        "{path} is accessible by group or others (mode {mode:04o}) and holds secrets; \
         run `chmod 600 {path}` after checking who could read it",
        path = path.display()
    )))
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &Metadata) -> Result<(), AuthError> {
    Ok(())
}

/// One record as written to the file; secrets are exposed only for the write.
#[derive(Serialize)]
struct RecordOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    scopes: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: &'a BTreeMap<String, String>,
}

/// One record as read from the file; absent fields are empty and unknown ones ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RecordIn {
    refresh_token: Option<SecretString>,
    access_token: Option<SecretString>,
    token_type: Option<String>,
    expires_at: Option<u64>,
    scopes: Vec<String>,
    metadata: BTreeMap<String, String>,
}

fn encode(path: &Path, token: &StoredToken) -> Result<Value, AuthError> {
    // Truncated, so a restored token seems to expire a little early, never late; a time
    // before 1970 is long expired either way.
    let expires_at = token.expires_at.map(|at| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    });
    let record = RecordOut {
        refresh_token: token.refresh_token.as_ref().map(|s| s.expose_secret()),
        access_token: token.access_token.as_ref().map(|s| s.expose_secret()),
        token_type: token.token_type.as_deref(),
        expires_at,
        scopes: &token.scopes,
        metadata: &token.metadata,
    };
    serde_json::to_value(record)
        .map_err(|_| store_error(format!("cannot encode a record for {}", path.display())))
}

fn decode(path: &Path, key: &str, record: &Value) -> Result<StoredToken, AuthError> {
    // No serde message in the error: it can quote a value, and values are secrets.
    let invalid = || {
        let path = path.display();
        store_error(format!(
            "the record for key {key:?} in {path} is not a valid token record"
        ))
    };
    let record = RecordIn::deserialize(record).map_err(|_| invalid())?;
    let expires_at = record
        .expires_at
        .map(|secs| {
            SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_secs(secs))
                .ok_or_else(invalid)
        })
        .transpose()?;
    Ok(StoredToken {
        refresh_token: record.refresh_token,
        access_token: record.access_token,
        token_type: record.token_type,
        expires_at,
        scopes: record.scopes,
        metadata: record.metadata,
    })
}

/// Replaces `path` with `bytes` so that readers and crashes see the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8], faults: Faults) -> Result<(), AuthError> {
    let write_error = io_error("write", path);
    let Some(name) = path.file_name() else {
        return Err(store_error(format!(
            "{} does not name a file",
            path.display()
        )));
    };
    let dir = parent_dir(path);
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".tmp-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    // Declared before the file so that on an early return the file is closed before removal.
    let mut temp = TempFile {
        path: dir.join(temp_name),
        remove_on_drop: false,
    };

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp.path).map_err(&write_error)?;
    temp.remove_on_drop = true;
    file.write_all(bytes).map_err(&write_error)?;
    file.sync_all().map_err(&write_error)?;
    drop(file);
    faults.before_rename().map_err(&write_error)?;
    fs::rename(&temp.path, path).map_err(&write_error)?;
    temp.remove_on_drop = false;

    // Without this the rename itself may not survive a power loss.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| {
            let path = path.display();
            store_error(format!(
                "{path} was replaced but its directory could not be synced, so the change may not \
             survive a crash"
            ))
            .with_source(e)
        })?;
    Ok(())
}

/// A temporary file, removed on drop once created unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    remove_on_drop: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.remove_on_drop {
            // Best effort: the error being returned matters more than a leftover temp file.
            let _ = fs::remove_file(&self.path);
        }
    }
}

// The tests check unix modes throughout.
#[cfg(all(test, unix))]
mod tests;
