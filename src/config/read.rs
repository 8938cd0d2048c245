//! Typed reads from the parsed configuration tree, each recording a [`Problem`] with its key
//! path instead of stopping at the first one.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use serde_json::{Map, Value};

use super::{
    error::{Problems, did_you_mean},
    secret::SecretRef,
    spec::TemplateValue,
    variables::Variables,
};

/// One table of the tree and its key path.
pub(crate) struct Table<'v> {
    pub(crate) path: String,
    pub(crate) map: &'v Map<String, Value>,
}

impl<'v> Table<'v> {
    pub(crate) fn key_path(&self, key: &str) -> String {
        let key = printable_key(key);
        if self.path.is_empty() {
            key.into_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }
}

/// Reads values, recording problems.
pub(crate) struct Reader<'p> {
    pub(crate) problems: &'p mut Problems,
    pub(crate) strict_secrets: bool,
    /// The variables of the connection being read, and how to fill them in.
    pub(crate) vars: Variables,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

impl Reader<'_> {
    pub(crate) fn table<'v>(&mut self, path: String, value: &'v Value) -> Option<Table<'v>> {
        match value {
            Value::Object(map) => Some(Table { path, map }),
            other => {
                self.problems.error(
                    &path,
                    format!("expected a table, found {}", type_name(other)),
                );
                None
            }
        }
    }

    pub(crate) fn sub_table<'v>(&mut self, t: &Table<'v>, key: &str) -> Option<Table<'v>> {
        let value = t.get(key)?;
        self.table(t.key_path(key), value)
    }

    /// Reports every key of `t` that is not in `allowed`, with a suggestion.
    pub(crate) fn known_keys(&mut self, t: &Table<'_>, allowed: &[&str]) {
        for key in t.map.keys() {
            if !allowed.contains(&key.as_str()) {
                let message = match did_you_mean(key, allowed) {
                    Some(suggestion) => format!("unknown key (did you mean `{suggestion}`?)"),
                    None => format!("unknown key (expected one of: {})", allowed.join(", ")),
                };
                self.problems.error(&t.key_path(key), message);
            }
        }
    }

    pub(crate) fn string(&mut self, t: &Table<'_>, key: &str) -> Option<String> {
        match t.get(key)? {
            Value::String(s) => Some(s.clone()),
            // Numbers and booleans are accepted where text is expected (e.g. `expires_in = 3600`
            // in a key map would be a mistake, but `audience = 123` is merely unusual).
            Value::Number(n) => Some(n.to_string()),
            other => {
                self.problems.error(
                    &t.key_path(key),
                    format!("expected a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    pub(crate) fn required_string(&mut self, t: &Table<'_>, key: &str) -> Option<String> {
        let value = self.string(t, key);
        match value {
            Some(s) if s.trim().is_empty() => {
                self.problems.error(&t.key_path(key), "must not be empty");
                None
            }
            Some(s) => Some(s),
            None => {
                if t.get(key).is_none() {
                    self.problems.error(&t.key_path(key), "missing");
                }
                None
            }
        }
    }

    /// An absolute `http://` or `https://` URL.
    pub(crate) fn url(&mut self, t: &Table<'_>, key: &str, required: bool) -> Option<String> {
        let text = if required {
            self.required_string(t, key)?
        } else {
            self.string(t, key)?
        };
        match check_url(&text) {
            Ok(()) => Some(text),
            Err(why) => {
                self.problems
                    .error(&t.key_path(key), format!("not a URL ({why})"));
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, t: &Table<'_>, key: &str, default: bool) -> bool {
        match t.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.problems.error(
                    &t.key_path(key),
                    format!("expected true or false, found {}", type_name(other)),
                );
                default
            }
        }
    }

    pub(crate) fn path(&mut self, t: &Table<'_>, key: &str) -> Option<PathBuf> {
        self.string(t, key).map(PathBuf::from)
    }

    /// A private key: a [secret](Self::secret) whose file, when it exists, must not be readable
    /// by group or others (a warning; an error with `strict_secrets = true`).
    pub(crate) fn private_key(&mut self, t: &Table<'_>, key: &str) -> Option<SecretRef> {
        let secret = self.secret(t, key, false);
        if let Some(SecretRef::File(file)) = &secret {
            self.key_file_mode(&t.key_path(key), file);
        }
        secret
    }

    /// A file that holds a private key (a service-account key file), checked like
    /// [`private_key`](Self::private_key).
    pub(crate) fn key_file(&mut self, t: &Table<'_>, key: &str) -> Option<PathBuf> {
        let file = self.path(t, key);
        if let Some(file) = &file {
            self.key_file_mode(&t.key_path(key), file);
        }
        file
    }

    /// Warns (or, with `strict_secrets`, refuses) when the key file at `file` is readable by
    /// group or others. A file that does not exist yet is left to the read that needs it.
    fn key_file_mode(&mut self, path: &str, file: &std::path::Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let Ok(metadata) = std::fs::metadata(file) else {
                return;
            };
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 == 0 {
                return;
            }
            let message = format!(
                "private key file `{}` is readable by group or others (mode {mode:04o}): run \
                 `chmod 600 {}`",
                file.display(),
                file.display()
            );
            if self.strict_secrets {
                self.problems.error(
                    path,
                    format!("{message} (`strict_secrets = true` refuses it)"),
                );
            } else {
                self.problems.warn(path, message);
            }
        }
        #[cfg(not(unix))]
        let _ = (path, file);
    }

    /// `{ env = "NAME" }`, `{ file = "path" }` or a literal string.
    pub(crate) fn secret(&mut self, t: &Table<'_>, key: &str, required: bool) -> Option<SecretRef> {
        let path = t.key_path(key);
        let Some(value) = t.get(key) else {
            if required {
                self.problems.error(&path, "missing");
            }
            return None;
        };
        self.secret_value(&path, value)
    }

    pub(crate) fn secret_value(&mut self, path: &str, value: &Value) -> Option<SecretRef> {
        match value {
            Value::String(s) => {
                if s.is_empty() {
                    self.problems.error(path, "must not be empty");
                    return None;
                }
                if self.strict_secrets {
                    self.problems.error(
                        path,
                        "a literal secret is not allowed with `strict_secrets = true`: use \
                         { env = \"NAME\" } or { file = \"path\" }",
                    );
                } else {
                    self.problems.warn(
                        path,
                        "literal secret in the configuration: prefer { env = \"NAME\" } or \
                         { file = \"path\" }",
                    );
                }
                Some(SecretRef::Literal(s.clone().into()))
            }
            Value::Object(map) => {
                let table = Table {
                    path: path.to_owned(),
                    map,
                };
                self.known_keys(&table, &["env", "file"]);
                match (map.get("env"), map.get("file")) {
                    (Some(Value::String(name)), None) if !name.is_empty() => {
                        Some(SecretRef::Env(name.clone()))
                    }
                    (None, Some(Value::String(file))) if !file.is_empty() => {
                        Some(SecretRef::File(PathBuf::from(file)))
                    }
                    (Some(_), Some(_)) => {
                        self.problems
                            .error(path, "give either `env` or `file`, not both");
                        None
                    }
                    _ => {
                        self.problems.error(
                            path,
                            "expected { env = \"NAME\" } or { file = \"path\" } with a non-empty string",
                        );
                        None
                    }
                }
            }
            other => {
                self.problems.error(
                    path,
                    format!(
                        "expected a secret (a string, {{ env = \"NAME\" }} or {{ file = \"path\" }}), found {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// A list of strings, or one string separated by commas and/or spaces (scopes).
    pub(crate) fn string_list(&mut self, t: &Table<'_>, key: &str) -> Vec<String> {
        match t.get(key) {
            None => Vec::new(),
            Some(Value::String(s)) => split_list(s),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
                        other => self.problems.error(
                            &format!("{}[{i}]", t.key_path(key)),
                            format!("expected a non-empty string, found {}", type_name(other)),
                        ),
                    }
                }
                out
            }
            Some(other) => {
                self.problems.error(
                    &t.key_path(key),
                    format!("expected a list or a string, found {}", type_name(other)),
                );
                Vec::new()
            }
        }
    }

    /// A table of plain strings (numbers and booleans are turned into text).
    pub(crate) fn string_map(&mut self, t: &Table<'_>, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(table) = self.sub_table(t, key) else {
            return out;
        };
        for (k, v) in table.map {
            match v {
                Value::String(s) => {
                    out.insert(k.clone(), s.clone());
                }
                Value::Number(_) | Value::Bool(_) => {
                    out.insert(k.clone(), v.to_string());
                }
                other => self.problems.error(
                    &table.key_path(k),
                    format!("expected a string, found {}", type_name(other)),
                ),
            }
        }
        out
    }

    /// A table whose values are text (with `{{name}}` placeholders) or secret references.
    pub(crate) fn template_map(
        &mut self,
        t: &Table<'_>,
        key: &str,
    ) -> Option<BTreeMap<String, TemplateValue>> {
        let table = self.sub_table(t, key)?;
        let mut out = BTreeMap::new();
        for (k, v) in table.map {
            let path = table.key_path(k);
            let value = match v {
                // Text here is not a secret: values that are secrets use env/file references.
                Value::String(s) => Some(TemplateValue::Text(s.clone())),
                Value::Number(_) | Value::Bool(_) => Some(TemplateValue::Text(v.to_string())),
                Value::Object(_) => self.secret_value(&path, v).map(TemplateValue::Secret),
                other => {
                    self.problems.error(
                        &path,
                        format!("expected a string, found {}", type_name(other)),
                    );
                    None
                }
            };
            if let Some(value) = value {
                out.insert(k.clone(), value);
            }
        }
        Some(out)
    }

    /// Seconds as a number, or text such as `30s`, `500ms`, `2m`.
    pub(crate) fn duration(&mut self, t: &Table<'_>, key: &str) -> Option<Duration> {
        let path = t.key_path(key);
        let parsed = match t.get(key)? {
            Value::Number(n) => n
                .as_f64()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                .map(Duration::from_secs_f64),
            Value::String(s) => parse_duration(s),
            _ => None,
        };
        if parsed.is_none() {
            self.problems.error(
                &path,
                "expected a duration such as 30, \"30s\", \"500ms\" or \"2m\" (at most a day)",
            );
        }
        parsed
    }
}

/// A key as it appears in a problem's path: control characters (a newline in a YAML or JSON
/// key) are escaped, so every problem stays on one line.
pub(crate) fn printable_key(key: &str) -> std::borrow::Cow<'_, str> {
    if key.chars().any(char::is_control) {
        std::borrow::Cow::Owned(key.escape_debug().to_string())
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split([',', ' ', '\t', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    (seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0)
        .then(|| Duration::from_secs_f64(seconds))
}

pub(crate) fn check_url(text: &str) -> Result<(), &'static str> {
    let uri: http::Uri = text.parse().map_err(|_| "cannot be parsed")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err("the scheme must be http or https"),
        None => return Err("relative URL: give the scheme and host, e.g. https://host/path"),
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(
            "it contains user information (`user:password@`): credentials do not belong in a \
             URL, where they are shown and not sent; give them to an auth method, e.g. \
             `type = \"basic\"`",
        );
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err("no host"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_numbers_and_units() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("3 weeks"), None);
        assert_eq!(parse_duration("0s"), None);
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(check_url("https://api.example.com/v2").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("api.example.com/v2").is_err());
        assert!(check_url("ftp://example.com").is_err());
        assert!(check_url("not a url").is_err());
        let why = check_url("https://user:hunter2secret@api.example.com").expect_err("userinfo");
        assert!(
            why.contains("user information") && !why.contains("hunter2"),
            "{why}"
        );
        assert!(check_url("https://user@api.example.com").is_err());
    }

    #[test]
    fn lists_split_on_commas_and_spaces() {
        assert_eq!(split_list("read,write"), ["read", "write"]);
        assert_eq!(split_list("read write , admin"), ["read", "write", "admin"]);
        assert!(split_list(" , ").is_empty());
    }
}
