//! The harness shared by the CLI's end-to-end tests: run the binary, and a fixture holding the
//! in-process demo provider and a temp dir for configs and secret files.
#![allow(dead_code, unreachable_pub)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use auth_test_support::demo::DemoProvider;

pub use auth_test_support::canary::CANARY;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Writes `body` as `tower-auth.toml` in `dir`; returns the path for `-c`.
pub fn write_config(dir: &Path, body: &str) -> String {
    let path = dir.join("tower-auth.toml");
    std::fs::write(&path, body).expect("write config");
    path.display().to_string()
}

/// Runs the binary with `args` and extra environment variables, off the async runtime.
pub async fn tower_auth(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_tower-auth"))
            .args(&args)
            .env_remove("TOWER_AUTH_ENV")
            .env_remove("TOWER_AUTH_CONFIG")
            .envs(envs)
            .output()
            .expect("the binary runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

pub struct Fixture {
    pub provider: DemoProvider,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn new() -> Self {
        Self {
            provider: DemoProvider::start(Duration::from_secs(3600))
                .await
                .expect("provider"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes `body` (with `{base}` replaced by the provider's URL) as `name`.
    pub fn config(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, body.replace("{base}", &self.provider.url("/api"))).expect("write");
        path
    }

    pub fn secret_file(&self, name: &str, value: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).expect("write");
        path.display().to_string()
    }
}
