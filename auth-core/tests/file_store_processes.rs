//! Several processes sharing one [`FileTokenStore`] file: every load sees a whole record that
//! some process wrote (never an empty, truncated or mixed one), no save is lost to another
//! process's read-modify-write, and the file ends up private with no temporary files left.
//!
//! The test re-runs its own binary as the writer processes: `writer_process` does the work
//! when `STORE_CHILD_PATH` is set, and returns at once otherwise (in a normal test run).
#![cfg(unix)]

use std::{
    collections::BTreeMap,
    env, fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime},
};

use auth_core::{ExposeSecret, FileTokenStore, StoredToken, TokenStore};

/// How many writer processes run at once.
const WRITERS: usize = 4;
/// How many save/load rounds each writer does.
const ROUNDS: usize = 200;
/// The key every writer saves to (rotating its refresh token each round).
const SHARED_KEY: &str = "shared";
/// How long the writers may take in all before the test fails (and kills them).
const DEADLINE: Duration = Duration::from_secs(120);
/// How long a writer waits for the start signal, so all of them run at the same time.
const START_WAIT: Duration = Duration::from_secs(30);

const PATH_VAR: &str = "STORE_CHILD_PATH";
const WRITER_VAR: &str = "STORE_CHILD_WRITER";
const GO_VAR: &str = "STORE_CHILD_GO";
const REPORT_VAR: &str = "STORE_CHILD_REPORT";
const CHILD_TEST: &str = "writer_process";

fn refresh_token(writer: usize, round: usize) -> String {
    format!("writer-{writer}-round-{round}")
}

fn own_key(writer: usize) -> String {
    format!("writer-{writer}")
}

/// The record `writer` saves in `round`: every field derives from both, so a record mixed from
/// two saves does not validate. The padding makes the file a few KiB, so a torn write would
/// show.
fn record(writer: usize, round: usize) -> StoredToken {
    let name = refresh_token(writer, round);
    let mut token = StoredToken::with_refresh_token(name.clone());
    token.access_token = Some(format!("access-{name}").into());
    token.token_type = Some("Bearer".to_owned());
    token.expires_at = Some(expiry(writer, round));
    token.scopes = vec![format!("writer-{writer}")];
    let mut metadata = BTreeMap::from([
        ("writer".to_owned(), writer.to_string()),
        ("round".to_owned(), round.to_string()),
        ("padding".to_owned(), padding(&name)),
    ]);
    if let Some(previous) = round.checked_sub(1) {
        // The refresh token this one rotated.
        metadata.insert("rotated_from".to_owned(), refresh_token(writer, previous));
    }
    token.metadata = metadata;
    token
}

fn expiry(writer: usize, round: usize) -> SystemTime {
    let secs = 1_900_000_000 + 1_000 * writer as u64 + round as u64;
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn padding(name: &str) -> String {
    name.repeat(1024 / name.len() + 1)
}

/// The (writer, round) of a loaded record, after checking that every field belongs to the
/// same save.
fn identify(loaded: &StoredToken) -> Result<(usize, usize), String> {
    let refresh = loaded
        .refresh_token
        .as_ref()
        .ok_or("no refresh token")?
        .expose_secret();
    let parsed = refresh
        .strip_prefix("writer-")
        .and_then(|rest| rest.split_once("-round-"))
        .and_then(|(w, r)| Some((w.parse::<usize>().ok()?, r.parse::<usize>().ok()?)));
    let Some((writer, round)) = parsed.filter(|&(w, r)| w < WRITERS && r < ROUNDS) else {
        return Err(format!("a refresh token nobody wrote: {refresh:?}"));
    };
    let expected = record(writer, round);
    let same = loaded.access_token.as_ref().map(|s| s.expose_secret())
        == expected.access_token.as_ref().map(|s| s.expose_secret())
        && loaded.token_type == expected.token_type
        && loaded.expires_at == expected.expires_at
        && loaded.scopes == expected.scopes
        && loaded.metadata == expected.metadata;
    if same {
        Ok((writer, round))
    } else {
        Err(format!(
            "the record of {refresh:?} is mixed or incomplete: {loaded:?}"
        ))
    }
}

/// One writer process: `ROUNDS` times, saves its rotated record under the shared key and its
/// own key, then loads both and checks them.
#[tokio::test]
async fn writer_process() {
    let Some(path) = env::var_os(PATH_VAR) else {
        return; // A normal test run: only `several_processes_share_one_file` starts writers.
    };
    let writer: usize = env::var(WRITER_VAR)
        .expect("writer id")
        .parse()
        .expect("numeric writer id");
    let go = PathBuf::from(env::var_os(GO_VAR).expect("start file"));
    let waiting = Instant::now();
    while !go.exists() {
        assert!(waiting.elapsed() < START_WAIT, "no start signal");
        thread::sleep(Duration::from_millis(5));
    }

    let store = FileTokenStore::new(path);
    let own = own_key(writer);
    let mut foreign = 0;
    for round in 0..ROUNDS {
        let mine = record(writer, round);
        store.save(SHARED_KEY, &mine).await.expect("save shared");
        store.save(&own, &mine).await.expect("save own");

        // Someone wrote the shared key (at least this process), so it is never absent.
        let shared = store
            .load(SHARED_KEY)
            .await
            .expect("load shared")
            .expect("the shared record is there");
        let (by, _) = identify(&shared).unwrap_or_else(|e| panic!("round {round}: {e}"));
        if by != writer {
            foreign += 1;
        }
        // Only this process writes its own key: a lost update would bring back an older round
        // or nothing.
        let loaded = store
            .load(&own)
            .await
            .expect("load own")
            .unwrap_or_else(|| panic!("round {round}: {own} was lost"));
        let got = identify(&loaded).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(got, (writer, round), "{own} is not the record just saved");
    }
    // Proof for the parent that this process ran every round, and how often it saw another
    // process's save.
    let report = env::var_os(REPORT_VAR).expect("report file");
    fs::write(report, foreign.to_string()).expect("write the report");
}

fn report_path(logs: &Path, writer: usize) -> PathBuf {
    logs.join(format!("writer-{writer}.report"))
}

fn spawn_writer(store: &Path, go: &Path, writer: usize, logs: &Path) -> Child {
    let log = |stream: &str| {
        let file =
            fs::File::create(logs.join(format!("writer-{writer}.{stream}"))).expect("log file");
        Stdio::from(file)
    };
    Command::new(env::current_exe().expect("test binary"))
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(PATH_VAR, store)
        .env(WRITER_VAR, writer.to_string())
        .env(GO_VAR, go)
        .env(REPORT_VAR, report_path(logs, writer))
        .stdin(Stdio::null())
        .stdout(log("stdout"))
        .stderr(log("stderr"))
        .spawn()
        .expect("start a writer process")
}

fn read_log(logs: &Path, writer: usize, stream: &str) -> String {
    fs::read_to_string(logs.join(format!("writer-{writer}.{stream}"))).unwrap_or_default()
}

#[test]
fn several_processes_share_one_file() {
    let dir = tempfile::tempdir().expect("store dir");
    let logs = tempfile::tempdir().expect("log dir");
    let path = dir.path().join("tokens.json");
    let go = logs.path().join("go");

    let mut children: Vec<(usize, Child)> = (0..WRITERS)
        .map(|writer| (writer, spawn_writer(&path, &go, writer, logs.path())))
        .collect();
    fs::write(&go, b"").expect("start signal");

    let started = Instant::now();
    let mut statuses = BTreeMap::new();
    while statuses.len() < WRITERS && started.elapsed() < DEADLINE {
        for (writer, child) in &mut children {
            if !statuses.contains_key(writer)
                && let Some(status) = child.try_wait().expect("wait for a writer")
            {
                statuses.insert(*writer, status);
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    for (writer, child) in &mut children {
        if !statuses.contains_key(writer) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    let mut foreign_seen = 0;
    for writer in 0..WRITERS {
        let (stdout, stderr) = (
            read_log(logs.path(), writer, "stdout"),
            read_log(logs.path(), writer, "stderr"),
        );
        let status = statuses.get(&writer).unwrap_or_else(|| {
            panic!("writer {writer} still running after {DEADLINE:?}:\n{stdout}\n{stderr}")
        });
        assert!(
            status.success(),
            "writer {writer} failed ({status}):\n{stdout}\n{stderr}"
        );
        // The child test really ran every round (an unknown test name would also exit 0).
        let report = fs::read_to_string(report_path(logs.path(), writer))
            .unwrap_or_else(|_| panic!("writer {writer} did not run:\n{stdout}\n{stderr}"));
        foreign_seen += report.parse::<usize>().expect("a count");
    }
    // The writers overlapped: some load saw another process's save.
    assert!(foreign_seen > 0, "the writers never ran concurrently");

    // The shared key holds one whole record: the last save of some writer, i.e. its last round.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let store = FileTokenStore::new(&path);
    let shared = runtime
        .block_on(store.load(SHARED_KEY))
        .expect("load")
        .expect("the shared record");
    let (_, round) = identify(&shared).expect("a whole record");
    assert_eq!(round, ROUNDS - 1, "the last save was not a writer's last");
    // No process lost another's record.
    for writer in 0..WRITERS {
        let own = runtime
            .block_on(store.load(&own_key(writer)))
            .expect("load")
            .unwrap_or_else(|| panic!("writer {writer}'s record was lost"));
        assert_eq!(identify(&own), Ok((writer, ROUNDS - 1)));
    }
    let file: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&fs::read(&path).expect("read")).expect("a JSON object");
    assert_eq!(file.len(), WRITERS + 1, "keys: {:?}", file.keys());

    let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The lock file stays by design (every process must lock the same file); nothing else.
    assert_eq!(names, ["tokens.json", "tokens.json.lock"]);
}
