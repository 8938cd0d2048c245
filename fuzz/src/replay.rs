//! Reading a committed seed corpus and replaying it through a target's check, shared by the
//! workspace tests that include this file with `#[path]` (no dependency on the fuzz crate).

use std::{
    fs,
    panic::{RefUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
};

/// `fuzz/corpus/<target>`, from a workspace crate's `CARGO_MANIFEST_DIR` (`fuzz` is its sibling,
/// or its child for the root package).
pub fn corpus_dir(manifest_dir: &str, target: &str) -> PathBuf {
    let manifest_dir = Path::new(manifest_dir);
    let child = manifest_dir.join("fuzz/corpus").join(target);
    if child.is_dir() {
        return child;
    }
    manifest_dir.join("../fuzz/corpus").join(target)
}

/// Every file of the corpus, sorted; panics when the directory is missing or empty, so a moved
/// corpus cannot turn a replay test into a silent no-op.
pub fn corpus(manifest_dir: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(manifest_dir, target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|error| {
        panic!(
            "the fuzz corpus {} cannot be read ({error}); it is committed with the repository",
            dir.display()
        )
    });
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let data = fs::read(&path)
                .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
            (path, data)
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "the fuzz corpus {} is empty",
        dir.display()
    );
    files
}

/// Runs `check` on every corpus file and fails naming each input that panicked.
pub fn replay(manifest_dir: &str, target: &str, check: impl Fn(&[u8]) + RefUnwindSafe) {
    let failed: Vec<String> = corpus(manifest_dir, target)
        .into_iter()
        .filter(|(_, data)| catch_unwind(|| check(data)).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "inputs failing the fuzz checks: {failed:?}"
    );
}
