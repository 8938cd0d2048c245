//! Tests of the file token store (unix: they check permissions).

use std::os::unix::fs::PermissionsExt;

use super::*;

const CANARY: &str = "canary-secret-7c1e";

fn full_record() -> StoredToken {
    StoredToken {
        refresh_token: Some(CANARY.into()),
        access_token: Some(format!("{CANARY}-access").into()),
        token_type: Some("Bearer".to_owned()),
        expires_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
        scopes: vec!["read".to_owned(), "write".to_owned()],
        metadata: [("client_auth".to_owned(), "basic".to_owned())].into(),
    }
}

fn secret(s: &Option<SecretString>) -> Option<&str> {
    s.as_ref().map(|s| s.expose_secret())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn store_in(dir: &tempfile::TempDir) -> FileTokenStore {
    FileTokenStore::new(dir.path().join("tokens.json"))
}

#[tokio::test]
async fn round_trips_every_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    let saved = full_record();
    store.save("api", &saved).await.expect("save");
    let loaded = store.load("api").await.expect("load").expect("record");
    assert_eq!(secret(&loaded.refresh_token), Some(CANARY));
    assert_eq!(secret(&loaded.access_token), secret(&saved.access_token));
    assert_eq!(loaded.token_type, saved.token_type);
    assert_eq!(loaded.expires_at, saved.expires_at);
    assert_eq!(loaded.scopes, saved.scopes);
    assert_eq!(loaded.metadata, saved.metadata);

    let json: Value = serde_json::from_slice(&fs::read(store.path()).expect("read")).expect("json");
    assert_eq!(json["api"]["expires_at"], 1_900_000_000);
    assert!(store.load("other").await.expect("load").is_none());
}

#[tokio::test]
async fn empty_record_round_trips_and_sub_seconds_are_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    store
        .save("empty", &StoredToken::default())
        .await
        .expect("save");
    let loaded = store.load("empty").await.expect("load").expect("record");
    assert!(loaded.refresh_token.is_none() && loaded.expires_at.is_none());

    let token = StoredToken {
        expires_at: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(5_999)),
        ..Default::default()
    };
    store.save("t", &token).await.expect("save");
    let loaded = store.load("t").await.expect("load").expect("record");
    assert_eq!(
        loaded.expires_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(5))
    );
}

#[tokio::test]
async fn missing_file_loads_as_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(store_in(&dir).load("k").await.expect("load").is_none());
    let nowhere = FileTokenStore::new(dir.path().join("no/such/dir/tokens.json"));
    assert!(nowhere.load("k").await.expect("load").is_none());
}

#[tokio::test]
async fn saving_into_a_missing_directory_is_a_clear_store_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileTokenStore::new(dir.path().join("missing/tokens.json"));
    let err = store
        .save("k", &StoredToken::default())
        .await
        .expect_err("no directory");
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[tokio::test]
async fn saved_file_and_lock_file_are_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    store.save("k", &full_record()).await.expect("save");
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(&lock_path(store.path())), 0o600);
}

#[tokio::test]
async fn group_or_world_readable_file_is_refused_on_load_and_save() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    store.save("k", &full_record()).await.expect("save");
    let before = fs::read(store.path()).expect("read");
    for loose in [0o644, 0o640, 0o604] {
        fs::set_permissions(store.path(), fs::Permissions::from_mode(loose)).expect("chmod");
        let shown = format!("{loose:04o}");
        let load = store.load("k").await.expect_err("refused");
        let save = store
            .save("k", &StoredToken::default())
            .await
            .expect_err("refused");
        for err in [load, save] {
            let text = err.to_string();
            assert_eq!(err.kind(), ErrorKind::Store);
            assert!(text.contains("chmod 600"), "{text}");
            assert!(text.contains(&store.path().display().to_string()), "{text}");
            assert!(text.contains(&shown), "{text}");
        }
    }
    assert_eq!(fs::read(store.path()).expect("read"), before);
}

#[tokio::test]
async fn failed_write_leaves_the_original_file_and_no_temp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    store.save("k", &full_record()).await.expect("save");
    let before = fs::read(store.path()).expect("read");
    let entries = dir_entries(dir.path());

    let failing = store.clone().failing_before_rename();
    let err = failing
        .save("k2", &StoredToken::with_refresh_token("new"))
        .await
        .expect_err("injected failure");
    assert_eq!(err.kind(), ErrorKind::Store);
    let err = failing.remove("k").await.expect_err("injected failure");
    assert_eq!(err.kind(), ErrorKind::Store);

    assert_eq!(fs::read(store.path()).expect("read"), before);
    assert_eq!(dir_entries(dir.path()), entries);
    assert_eq!(entries, ["tokens.json", "tokens.json.lock"]);
}

#[tokio::test]
async fn removing_a_missing_key_is_ok() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    store.remove("k").await.expect("no file");
    store.save("a", &full_record()).await.expect("save");
    store.remove("k").await.expect("no such key");
    store.remove("a").await.expect("remove");
    assert!(store.load("a").await.expect("load").is_none());
    FileTokenStore::new(dir.path().join("missing/tokens.json"))
        .remove("k")
        .await
        .expect("no directory");
}

#[tokio::test]
async fn corrupt_file_is_a_store_error_that_does_not_quote_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    let corrupt_files = [
        format!("{{\"k\": {{\"refresh_token\": \"{CANARY}\""),
        format!("{{\"k\": {{\"refresh_token\": {CANARY}}}}}"),
        format!("[\"{CANARY}\"]"),
    ];
    let corrupt_records = [
        format!("{{\"k\": \"{CANARY}\"}}"),
        format!("{{\"k\": {{\"expires_at\": \"{CANARY}\"}}}}"),
    ];
    let check = |err: AuthError| {
        let text = format!("{err} {err:?}");
        assert_eq!(err.kind(), ErrorKind::Store);
        assert!(!text.contains(CANARY), "{text}");
        assert!(text.contains(&store.path().display().to_string()), "{text}");
    };
    for content in corrupt_files.iter().chain(&corrupt_records) {
        fs::write(store.path(), content).expect("write");
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o600)).expect("chmod");
        check(store.load("k").await.expect_err("corrupt"));
    }
    for content in &corrupt_files {
        fs::write(store.path(), content).expect("write");
        check(store.save("x", &full_record()).await.expect_err("corrupt"));
        // Saving must not overwrite the other records of a file it cannot read.
        assert_eq!(&fs::read_to_string(store.path()).expect("read"), content);
    }
    fs::write(store.path(), "{\n  \"k\": [\n}").expect("write");
    let err = store.load("k").await.expect_err("corrupt");
    assert!(err.to_string().contains("line 3, column 1"), "{err}");
}

#[tokio::test]
async fn empty_file_is_an_empty_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    fs::write(store.path(), "").expect("write");
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(store.load("k").await.expect("load").is_none());
    store.save("k", &full_record()).await.expect("save");
    assert!(store.load("k").await.expect("load").is_some());
}

#[tokio::test]
async fn saving_keeps_other_records_and_fields_it_does_not_know() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    fs::write(
        store.path(),
        r#"{"old": {"refresh_token": "r", "future_field": [1, 2]}}"#,
    )
    .expect("write");
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o600)).expect("chmod");
    store.save("new", &full_record()).await.expect("save");
    let json: Value = serde_json::from_slice(&fs::read(store.path()).expect("read")).expect("json");
    assert_eq!(json["old"]["future_field"], serde_json::json!([1, 2]));
    let old = store.load("old").await.expect("load").expect("record");
    assert_eq!(secret(&old.refresh_token), Some("r"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_saves_from_two_instances_keep_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = [store_in(&dir), store_in(&dir)];
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                let token = StoredToken::with_refresh_token(format!("refresh-{i}"));
                store.save(&format!("key-{i}"), &token).await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("save");
    }
    for i in 0..50 {
        let loaded = stores[0]
            .load(&format!("key-{i}"))
            .await
            .expect("load")
            .expect("every record survived");
        assert_eq!(
            secret(&loaded.refresh_token),
            Some(format!("refresh-{i}").as_str())
        );
    }
    assert_eq!(dir_entries(dir.path()), ["tokens.json", "tokens.json.lock"]);
}

#[tokio::test]
async fn debug_never_shows_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir);
    store.save("k", &full_record()).await.expect("save");
    let text = format!("{store:?}");
    assert!(text.starts_with("FileTokenStore { path: "), "{text}");
    assert!(text.contains("tokens.json"), "{text}");
    assert!(!text.contains(CANARY), "{text}");
    let record = store.load("k").await.expect("load").expect("record");
    let text = format!("{record:?}");
    assert!(!text.contains(CANARY), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
}

#[tokio::test]
async fn a_symlinked_lock_file_is_refused_and_its_target_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("victim");
    fs::write(&target, "keep me").expect("write");
    std::os::unix::fs::symlink(&target, dir.path().join("tokens.json.lock")).expect("symlink");
    let store = store_in(&dir);
    for error in [
        store.save("api", &full_record()).await.expect_err("save"),
        store.load("api").await.expect_err("load"),
        store.remove("api").await.expect_err("remove"),
    ] {
        assert_eq!(error.kind(), ErrorKind::Store);
        let text = format!("{error} {:?}", std::error::Error::source(&error));
        assert!(text.contains("tokens.json.lock"), "{text}");
        assert!(text.contains("symbolic link"), "{text}");
        assert!(!text.contains(CANARY), "{text}");
    }
    assert_eq!(fs::read_to_string(&target).expect("target"), "keep me");
    assert!(!dir.path().join("tokens.json").exists());
}
