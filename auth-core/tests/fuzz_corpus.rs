//! Replays the committed fuzz seed corpus through the same checks the fuzz targets run, so a
//! plain `cargo test` catches a regression on any input that once mattered (see `fuzz/README.md`).

use std::fs;

// The fuzz crate is outside the workspace; its checks are plain functions over auth-core and
// http, compiled here as a module of this test.
#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/www_authenticate.rs"]
mod www_authenticate;

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/replay.rs"]
mod replay;

#[test]
fn www_authenticate_corpus_passes_the_fuzz_checks() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "www_authenticate",
        www_authenticate::check,
    );
}

#[test]
fn www_authenticate_seeds_parse_as_diagnosis_needs() {
    use auth_core::WwwAuthenticate;
    let seed = |name: &str| {
        let path = replay::corpus_dir(env!("CARGO_MANIFEST_DIR"), "www_authenticate").join(name);
        String::from_utf8(fs::read(&path).expect("a seed file")).expect("a UTF-8 seed")
    };
    let c = WwwAuthenticate::parse(&seed("rfc6750-insufficient-scope")).expect("parsed");
    assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
    assert_eq!(c.scope.as_deref(), Some("read write"));
    let c = WwwAuthenticate::parse(&seed("basic-then-bearer")).expect("parsed");
    assert_eq!(c.scheme, "Bearer", "a Bearer challenge is preferred");
}
