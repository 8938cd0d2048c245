//! Replays the committed fuzz seed corpus through the same checks the fuzz targets run, so a
//! plain `cargo test` catches a regression on any input that once mattered (see `fuzz/README.md`).

use std::{fs, path::PathBuf};

// The fuzz crate is outside the workspace; its checks are plain functions over auth-core and
// http, compiled here as a module of this test.
#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/www_authenticate.rs"]
mod www_authenticate;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
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
fn www_authenticate_corpus_passes_the_fuzz_checks() {
    let mut failed = Vec::new();
    for (path, data) in corpus("www_authenticate") {
        if std::panic::catch_unwind(|| www_authenticate::check(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "inputs failing the fuzz checks: {failed:?}"
    );
}

#[test]
fn www_authenticate_seeds_parse_as_diagnosis_needs() {
    use auth_core::WwwAuthenticate;
    let seed = |name: &str| {
        let path = corpus_dir("www_authenticate").join(name);
        String::from_utf8(fs::read(&path).expect("a seed file")).expect("a UTF-8 seed")
    };
    let c = WwwAuthenticate::parse(&seed("rfc6750-insufficient-scope")).expect("parsed");
    assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
    assert_eq!(c.scope.as_deref(), Some("read write"));
    let c = WwwAuthenticate::parse(&seed("basic-then-bearer")).expect("parsed");
    assert_eq!(c.scheme, "Bearer", "a Bearer challenge is preferred");
}
