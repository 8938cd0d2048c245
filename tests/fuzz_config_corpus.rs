//! Replays the committed `config` fuzz seed corpus through the same check the fuzz target runs,
//! so a plain `cargo test` catches a regression on any input that once mattered (see
//! `fuzz/README.md`).
#![cfg(feature = "yaml")]

// The fuzz crate is outside the workspace; its check is a plain function over this crate,
// compiled here as a module of this test.
#[allow(unreachable_pub, dead_code)]
#[path = "../fuzz/src/config.rs"]
mod config;

#[allow(unreachable_pub, dead_code)]
#[path = "../fuzz/src/replay.rs"]
mod replay;

#[test]
fn config_corpus_passes_the_fuzz_checks() {
    replay::replay(env!("CARGO_MANIFEST_DIR"), "config", config::check);
}

#[test]
fn config_example_seeds_still_load() {
    use tower_auth::config::Config;
    for (path, data) in replay::corpus(env!("CARGO_MANIFEST_DIR"), "config") {
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
