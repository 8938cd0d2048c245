//! Where a connection's refresh tokens live (`token_store`), and the directory made for them.

use std::{path::Path, sync::Arc};

use auth_core::{FileTokenStore, MemoryTokenStore, TokenStore};

use super::{ConfigError, OAuth2Spec, Resolver};

/// Where refresh tokens live: the configured file; for the authorization code and device code
/// grants (whose sign-in must outlive the process) `tower-auth/NAME.json` under the user's configuration
/// directory; else memory.
pub(super) fn store(
    r: &Resolver,
    name: &str,
    o: &OAuth2Spec,
) -> Result<Arc<dyn TokenStore>, ConfigError> {
    let path = match &o.token_store {
        Some(path) => expand_home(path),
        None if matches!(o.grant.as_str(), "authorization_code" | "device_code") => {
            match user_config_dir() {
                Some(dir) => dir.join("tower-auth").join(format!("{name}.json")),
                None => {
                    return Err(r.problem(
                    "token_store",
                    "missing, and no user configuration directory ($XDG_CONFIG_HOME or $HOME) to default to",
                ));
                }
            }
        }
        None => return Ok(Arc::new(MemoryTokenStore::new())),
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        create_private_dir(dir).map_err(|e| {
            r.problem(
                "token_store",
                format!("cannot create the directory {}: {e}", dir.display()),
            )
        })?;
    }
    Ok(Arc::new(FileTokenStore::new(path)))
}

/// How the token store of `o` is named in messages: its file, or `memory`.
pub(super) fn describe(name: &str, o: &OAuth2Spec) -> String {
    match &o.token_store {
        Some(path) => expand_home(path).display().to_string(),
        None if matches!(o.grant.as_str(), "authorization_code" | "device_code") => {
            match user_config_dir() {
                Some(dir) => dir
                    .join("tower-auth")
                    .join(format!("{name}.json"))
                    .display()
                    .to_string(),
                None => "the default token store".to_owned(),
            }
        }
        None => "memory".to_owned(),
    }
}

fn user_config_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
}

/// Creates `dir` (and parents), owner-only on unix: it will hold refresh tokens.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// `~/x` → `$HOME/x`, so configs can name a per-user store portably.
pub(crate) fn expand_home(path: &Path) -> std::path::PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => path.to_path_buf(),
    }
}
