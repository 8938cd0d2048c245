//! Reading one secret from a file (a mounted Kubernetes secret, a projected service-account
//! token), safely: regular files only, bounded in size, never quoted in errors.
//!
//! ```
//! # fn main() -> Result<(), String> {
//! # let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
//! # let path = dir.path().join("token");
//! # std::fs::write(&path, "eyJhbGciOi…\n").map_err(|e| e.to_string())?;
//! use auth_core::{ExposeSecret, secret_file};
//!
//! let token = secret_file::read_trimmed(&path)?;
//! assert_eq!(token.expose_secret(), "eyJhbGciOi…");
//! # Ok(()) }
//! ```

use std::path::Path;

use secrecy::SecretString;

/// The largest secret file read: 1 MiB. A secret file holds one secret (a key, a token), never
/// more.
pub const MAX_SECRET_FILE_BYTES: u64 = 1024 * 1024;

/// Reads a secret file: a regular file of at most [`MAX_SECRET_FILE_BYTES`], in UTF-8. It is
/// opened without blocking (a FIFO would wait for a writer) and checked through the open handle,
/// so a device (`/dev/zero`), a FIFO or a terminal (`/dev/stdin`) is refused rather than read
/// forever. The error says why, never what the file holds.
pub fn read(file: &Path) -> Result<String, String> {
    use std::io::Read;

    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let handle = options.open(file).map_err(|e| e.to_string())?;
    let metadata = handle.metadata().map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err(
            "not a regular file (a device, FIFO, socket or directory): secrets are read from \
             regular files only"
                .to_owned(),
        );
    }
    let mut text = String::new();
    handle
        .take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => "not valid UTF-8".to_owned(),
            _ => e.to_string(),
        })?;
    if text.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "larger than {} KiB: a secret file holds one secret",
            MAX_SECRET_FILE_BYTES / 1024
        ));
    }
    Ok(text)
}

/// [`read`], without the trailing newline files written by `echo` or editors end in; an empty
/// secret is an error.
pub fn read_trimmed(file: &Path) -> Result<SecretString, String> {
    let mut text = read(file)?;
    while text.ends_with('\n') || text.ends_with('\r') {
        text.pop();
    }
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    Ok(SecretString::from(text))
}
