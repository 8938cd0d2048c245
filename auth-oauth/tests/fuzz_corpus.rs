//! Replays the committed `token_response` fuzz seed corpus through the same check the fuzz
//! target runs, so a plain `cargo test` catches a regression on any input that once mattered
//! (see `fuzz/README.md`).

// The fuzz crate is outside the workspace; its check is a plain function over auth-oauth,
// http and serde_json, compiled here as a module of this test.
#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/token_response.rs"]
mod token_response;

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/replay.rs"]
mod replay;

#[test]
fn token_response_corpus_passes_the_fuzz_checks() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "token_response",
        token_response::check,
    );
}
