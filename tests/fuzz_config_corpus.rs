//! Replays the committed `config` fuzz seed corpus through the same check the fuzz target runs,
//! so a plain `cargo test` catches a regression on any input that once mattered (see
//! `fuzz/README.md`).
#![cfg(feature = "yaml")]

use std::{fs, path::PathBuf};

// The fuzz crate is outside the workspace; its check is a plain function over this crate,
// compiled here as a module of this test.
#[allow(unreachable_pub, dead_code)]
#[path = "../fuzz/src/config.rs"]
mod config;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Every file of `fuzz/corpus/<target>`, sorted; panics when the directory is missing or empty,
/// so a moved corpus cannot turn this test into a silent no-op.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
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

#[test]
fn config_corpus_passes_the_fuzz_checks() {
    let mut failed = Vec::new();
    for (path, data) in corpus("config") {
        if std::panic::catch_unwind(|| config::check(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "inputs failing the fuzz checks: {failed:?}"
    );
}

#[test]
fn config_example_seeds_still_load() {
    use tower_auth::config::Config;
    for (path, data) in corpus("config") {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.starts_with("example-") {
            continue;
        }
        let text = std::str::from_utf8(&data[1..]).expect("a UTF-8 seed");
        let config = Config::from_str(text, config::format_for(data[0]))
            .unwrap_or_else(|error| panic!("{name} does not load: {error}"));
        assert!(config.connection_names().next().is_some(), "{name}");
    }
}
