//! `variables = { domain = { env = "JIRA_DOMAIN" }, region = "eu" }`: named values filled in as
//! `{domain}` in a connection's `base_url`, `check.path`, `headers` values and custom token
//! request (its `url`, `headers`, `json`, `form` and `values`).
//!
//! A variable is `{name}` in single braces. Double braces are never a variable: a custom
//! request's own `{{name}}` placeholders (filled later from its `values`) pass through untouched,
//! and anywhere else `{{…}}` is sent as written. A `{` that does not start `{name}` is plain
//! text. Values are inserted as they are (a value holding `{other}` is not filled again) and
//! may not contain `{{` or `}}`, which a custom request would read as a placeholder.
//!
//! A variable read from the environment or a file may be a secret: its value is never put in a
//! problem, joins the redactor, and a header or custom request value filled from it is sent as
//! a sensitive value.

use std::collections::BTreeMap;

use auth_core::Redactor;
use serde_json::Value;

use super::{
    read::{Reader, Table, check_url},
    secret::SecretRef,
    spec::TemplateValue,
};

/// What filling does: checks names only, reads every value, or leaves the text as written.
#[derive(Clone, Debug, Default)]
pub(crate) enum Mode {
    /// Loading: names are checked and literal values filled; references are not read (an unset
    /// variable is reported when the connection is used, like a secret).
    #[default]
    Check,
    /// `Config::connection`: every variable used is read, each secret value joins the redactor.
    Resolve(Redactor),
    /// `Config::connection_as_written` (`config show`): the text as written, names checked.
    AsWritten,
}

/// The variables of the connection being read.
#[derive(Default)]
pub(crate) struct Variables {
    pub(crate) mode: Mode,
    /// `connections.NAME.variables`.
    path: String,
    defined: BTreeMap<String, TemplateValue>,
    /// Values read so far; `None` when reading failed (reported once).
    read: BTreeMap<String, Option<String>>,
}

/// Text with its variables filled in.
pub(crate) struct Filled {
    pub(crate) text: String,
    /// Some variable's value is not known yet (loading) or not filled in (as written): the
    /// text cannot be checked as a URL or header value.
    pub(crate) unresolved: bool,
    /// Some value came from the environment or a file: treat the result as a secret.
    pub(crate) from_reference: bool,
}

/// Whether `name` can be a variable: letters, digits, `_` and `-`, not starting with a digit
/// or `-`.
fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// One piece of a text: as written, or a variable's name.
enum Piece<'t> {
    Text(&'t str),
    Variable(&'t str),
}

/// Splits `text` into plain pieces and `{name}` variables; `{{…}}` is kept whole as text.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'{') {
            // A custom request placeholder (or literal double braces): skip to its end.
            i = match text[i + 2..].find("}}") {
                Some(end) => i + 2 + end + 2,
                None => bytes.len(),
            };
            continue;
        }
        let after = &text[i + 1..];
        match after.find('}') {
            Some(end) if is_variable_name(&after[..end]) => {
                out.push(Piece::Text(&text[start..i]));
                out.push(Piece::Variable(&after[..end]));
                i += 1 + end + 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    out.push(Piece::Text(&text[start..]));
    out
}

impl Variables {
    /// The names of the variables defined, for messages.
    fn names(&self) -> String {
        if self.defined.is_empty() {
            "none are defined: add it under `variables`".to_owned()
        } else {
            let names: Vec<&str> = self.defined.keys().map(String::as_str).collect();
            format!("defined: {}", names.join(", "))
        }
    }

    /// The variables as written, for [`ConnectionSpec::variables`](super::ConnectionSpec).
    pub(crate) fn defined(&self) -> BTreeMap<String, TemplateValue> {
        self.defined.clone()
    }
}

impl Reader<'_> {
    /// Reads `variables` of the connection table `t`, replacing those of the previous one.
    pub(crate) fn read_variables(&mut self, t: &Table<'_>) {
        let vars = &mut self.vars;
        vars.path = t.key_path("variables");
        vars.defined.clear();
        vars.read.clear();
        let Some(table) = self.sub_table(t, "variables") else {
            return;
        };
        let mut defined = BTreeMap::new();
        for (name, value) in table.map {
            let path = table.key_path(name);
            if !is_variable_name(name) {
                self.problems.error(
                    &path,
                    "not a variable name (letters, digits, `_` and `-`, starting with a letter \
                     or `_`)",
                );
                continue;
            }
            let value = match value {
                Value::String(s) => Some(TemplateValue::Text(s.clone())),
                Value::Number(_) | Value::Bool(_) => Some(TemplateValue::Text(value.to_string())),
                Value::Object(_) => self.secret_value(&path, value).map(TemplateValue::Secret),
                _ => {
                    self.problems.error(
                        &path,
                        "expected a string, { env = \"NAME\" } or { file = \"path\" }",
                    );
                    None
                }
            };
            if let Some(TemplateValue::Text(text)) = &value
                && (text.contains("{{") || text.contains("}}"))
            {
                self.problems.error(&path, BRACES);
                continue;
            }
            if let Some(value) = value {
                defined.insert(name.clone(), value);
            }
        }
        self.vars.defined = defined;
    }

    /// `text` (the value at `path`) with its variables filled in; `None` after reporting an
    /// unknown variable or one that cannot be read. Problems never contain a value.
    pub(crate) fn fill(&mut self, path: &str, text: &str) -> Option<Filled> {
        let pieces = pieces(text);
        let mut filled = Filled {
            text: String::with_capacity(text.len()),
            unresolved: false,
            from_reference: false,
        };
        let mut ok = true;
        for piece in pieces {
            let name = match piece {
                Piece::Text(t) => {
                    filled.text.push_str(t);
                    continue;
                }
                Piece::Variable(name) => name,
            };
            let Some(value) = self.vars.defined.get(name).cloned() else {
                let names = self.vars.names();
                self.problems
                    .error(path, format!("unknown variable `{name}` ({names})"));
                ok = false;
                continue;
            };
            match (&self.vars.mode, value) {
                (Mode::AsWritten, _) => {
                    filled.unresolved = true;
                    filled.text.push_str(&format!("{{{name}}}"));
                }
                (_, TemplateValue::Text(text)) => filled.text.push_str(&text),
                (Mode::Check, TemplateValue::Secret(_)) => {
                    filled.unresolved = true;
                    filled.text.push_str(&format!("{{{name}}}"));
                }
                (Mode::Resolve(redactor), TemplateValue::Secret(secret)) => {
                    let redactor = redactor.clone();
                    filled.from_reference = true;
                    match self.read_variable(path, name, &secret, &redactor) {
                        Some(value) => filled.text.push_str(&value),
                        None => ok = false,
                    }
                }
            }
        }
        ok.then_some(filled)
    }

    /// Reads a reference variable once; a failure is reported at its first use.
    fn read_variable(
        &mut self,
        path: &str,
        name: &str,
        secret: &SecretRef,
        redactor: &Redactor,
    ) -> Option<String> {
        if let Some(done) = self.vars.read.get(name) {
            return done.clone();
        }
        let at = format!("{}.{name}", self.vars.path);
        let value = match secret.resolve_for(&at, redactor) {
            Ok(value) => {
                let value = auth_core::ExposeSecret::expose_secret(&value).to_owned();
                if value.contains("{{") || value.contains("}}") {
                    self.problems
                        .error(path, format!("variable `{name}` ({at}): {BRACES}"));
                    None
                } else {
                    Some(value)
                }
            }
            Err(problem) => {
                self.problems.error(
                    path,
                    format!("variable `{name}` ({}): {}", problem.path, problem.message),
                );
                None
            }
        };
        self.vars.read.insert(name.to_owned(), value.clone());
        value
    }

    /// The string at `key` of `t`, variables filled in.
    pub(crate) fn filled_string(&mut self, t: &Table<'_>, key: &str) -> Option<Filled> {
        let text = self.string(t, key)?;
        self.fill(&t.key_path(key), &text)
    }

    /// Like [`Reader::url`], variables filled in first; the URL is checked once every value
    /// is known, and the problem never quotes it.
    pub(crate) fn filled_url(
        &mut self,
        t: &Table<'_>,
        key: &str,
        required: bool,
    ) -> Option<String> {
        let text = if required {
            self.required_string(t, key)?
        } else {
            self.string(t, key)?
        };
        let path = t.key_path(key);
        let filled = self.fill(&path, &text)?;
        if !filled.unresolved
            && let Err(why) = check_url(&filled.text)
        {
            let with = if filled.text == text {
                ""
            } else {
                " after filling in its variables"
            };
            self.problems
                .error(&path, format!("not a URL{with} ({why})"));
            return None;
        }
        Some(filled.text)
    }

    /// Like [`Reader::template_map`], variables filled into each text value. A text filled
    /// from a reference variable, without `{{name}}` placeholders of its own, becomes a secret
    /// value (sent as it is, never shown).
    pub(crate) fn filled_template_map(
        &mut self,
        t: &Table<'_>,
        key: &str,
    ) -> Option<BTreeMap<String, TemplateValue>> {
        let table = self.sub_table(t, key)?;
        let mut out = self.template_map(t, key)?;
        for (name, value) in &mut out {
            let TemplateValue::Text(text) = value else {
                continue;
            };
            let Some(filled) = self.fill(&table.key_path(name), text) else {
                continue;
            };
            *value = if filled.from_reference && !filled.text.contains("{{") {
                TemplateValue::Secret(SecretRef::Literal(filled.text.into()))
            } else {
                TemplateValue::Text(filled.text)
            };
        }
        Some(out)
    }
}

const BRACES: &str = "a variable's value cannot contain `{{` or `}}` (a custom request would read \
                      them as a placeholder)";

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        pieces(text)
            .into_iter()
            .filter_map(|p| match p {
                Piece::Variable(name) => Some(name),
                Piece::Text(_) => None,
            })
            .collect()
    }

    #[test]
    fn single_braces_are_variables_and_double_braces_never() {
        assert_eq!(
            names("https://{domain}.atlassian.net/{region}"),
            ["domain", "region"]
        );
        assert_eq!(names("{{account}}-{suffix}"), ["suffix"]);
        assert_eq!(names("{{ account }} {{account}"), Vec::<&str>::new());
        assert_eq!(
            names(r#"{"json": 1} {1x} {a b} { x } {"#),
            Vec::<&str>::new()
        );
        assert_eq!(names("{a}}"), ["a"]);
        assert_eq!(names("{_x-1}"), ["_x-1"]);
    }

    #[test]
    fn variable_names_are_identifiers() {
        for good in ["domain", "_x", "api-version", "v2"] {
            assert!(is_variable_name(good), "{good}");
        }
        for bad in ["", "2fa", "-x", "a.b", "a b", "ü"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }
}
