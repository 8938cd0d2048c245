//! What counts as a leak in a run's output: a secret in any encoding a server could echo it in
//! (as is, form-urlencoded, percent-encoded, JSON-escaped, Base64), or any 8 characters of it
//! (what a cut excerpt leaves of a secret redacted too late).

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};

use crate::common::Run;

/// The shortest fragment of a secret that counts as a leak.
const FRAGMENT: usize = 8;

/// `application/x-www-form-urlencoded`, as a grant's body and the Basic header's parts encode.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Every form of `secret` a server might echo.
fn encodings(secret: &str) -> Vec<String> {
    let form = form_encode(secret);
    let json = serde_json::to_string(secret).expect("a string serializes");
    let mut all = vec![
        secret.to_owned(),
        form.clone(),
        form.replace('+', "%20"),
        json.trim_matches('"').to_owned(),
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ];
    all.sort();
    all.dedup();
    all
}

/// Every [`FRAGMENT`]-character window of `secret` (none if it is shorter).
fn fragments(secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(FRAGMENT)
        .map(|w| w.iter().collect())
        .collect()
}

/// Every string in `json`, depth first.
fn strings(json: &serde_json::Value) -> Vec<String> {
    match json {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items.iter().flat_map(strings).collect(),
        serde_json::Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// What of `secrets` the run's output shows, one line per finding; empty when nothing leaked.
/// Give a Basic credential as `id:secret` too: its Base64 is checked as a whole.
pub(crate) fn leaks(run: &Run, secrets: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    // JSON output is also read as its strings decoded, where JSON escapes are undone once.
    let decoded = serde_json::from_str::<serde_json::Value>(&run.stdout)
        .map(|json| strings(&json).join("\n"))
        .unwrap_or_default();
    for (stream, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("stdout's JSON strings", &decoded),
    ] {
        for secret in secrets {
            if let Some(shown) = encodings(secret).into_iter().find(|e| text.contains(e)) {
                found.push(format!("{stream} shows {shown:?} (the secret {secret:?})"));
            } else if let Some(part) = fragments(secret).into_iter().find(|f| text.contains(f)) {
                found.push(format!("{stream} shows {part:?}, a fragment of {secret:?}"));
            }
        }
    }
    found
}

/// Asserts that the run's output shows none of `secrets` in any encoding, nor any 8 characters
/// of one; prints what leaked and the whole output otherwise.
#[track_caller]
pub(crate) fn assert_no_secret(run: &Run, secrets: &[&str]) {
    let found = leaks(run, secrets);
    assert!(
        found.is_empty(),
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        found.join("\n"),
        run.stdout.trim_end(),
        run.stderr.trim_end()
    );
}

/// What of `needles` the run's output does not say: the failure must still be explained.
pub(crate) fn unsaid(run: &Run, needles: &[&str]) -> Vec<String> {
    let all = run.all();
    needles
        .iter()
        .filter(|n| !all.contains(**n))
        .map(|n| format!("the output does not say {n:?}"))
        .collect()
}

/// Findings over several runs, reported together: one leaking command does not hide the
/// others.
#[derive(Default)]
pub(crate) struct Findings(Vec<String>);

impl Findings {
    /// Checks one run of `args`: its exit code, no secret, and every one of `says`.
    pub(crate) fn run(
        &mut self,
        args: &[&str],
        run: &Run,
        code: i32,
        secrets: &[&str],
        says: &[&str],
    ) {
        let mut problems = leaks(run, secrets);
        problems.extend(unsaid(run, says));
        if run.code != code {
            problems.push(format!("exit code {} instead of {code}", run.code));
        }
        if !problems.is_empty() {
            self.0.push(format!(
                "`tower-auth {}`:\n  {}\n--- stdout\n{}\n--- stderr\n{}",
                args.join(" "),
                problems.join("\n  "),
                run.stdout.trim_end(),
                run.stderr.trim_end()
            ));
        }
    }

    /// Panics with every finding.
    #[track_caller]
    pub(crate) fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} run(s) failed:\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_cover_form_json_and_base64() {
        let all = encodings("open sesame&more");
        for shown in [
            "open sesame&more",
            "open+sesame%26more",
            "open%20sesame%26more",
            "b3BlbiBzZXNhbWUmbW9yZQ==",
        ] {
            assert!(all.iter().any(|e| e == shown), "{shown} in {all:?}");
        }
        assert_eq!(STANDARD.encode("c1:hunter2pass"), "YzE6aHVudGVyMnBhc3M=");
        assert_eq!(fragments("hunter2pass").len(), 4);
    }
}
