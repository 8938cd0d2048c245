//! Every file in `examples/config/` loads and validates, and builds a connection spec for each
//! of its connections and environments.
#![cfg(feature = "yaml")]

use tower_auth::config::Config;

#[test]
fn every_example_config_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/config exists") {
        let path = entry.expect("entry").path();
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = config.connection_names().map(str::to_owned).collect();
        assert!(!names.is_empty(), "{}", path.display());
        for name in names {
            for env in [None, Some("dev"), Some("prod")] {
                config
                    .connection(&name, env)
                    .unwrap_or_else(|e| panic!("{} {name} {env:?}: {e}", path.display()));
            }
        }
        assert!(
            config.warnings().is_empty(),
            "{} has warnings: {:?}",
            path.display(),
            config.warnings()
        );
        files += 1;
    }
    assert!(files >= 8, "found only {files} example configs");
}
