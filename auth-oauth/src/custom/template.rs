//! [`Template`]: one value of a custom token request (header, JSON or form field, query
//! parameter), and the named values its `{{name}}` placeholders are filled from.

use std::{collections::BTreeMap, fmt};

use auth_core::{ExposeSecret, SecretString};
use serde_json::Value;

/// The value of a header, a body field or a query parameter of a
/// [`CustomTokenRequest`](super::CustomTokenRequest).
///
/// | made with | sent as | in a JSON body |
/// |---|---|---|
/// | [`Template::text`], `&str`, `String` | the text, `{{name}}` placeholders filled from the request's [values](super::CustomTokenRequestBuilder::value) | a string |
/// | [`Template::literal`] | the text exactly, braces and all | a string |
/// | [`Template::secret`], [`SecretString`] | the secret; never shown by `Debug` | a string |
/// | [`Template::json`], `bool`, integers, `f64` | its JSON text (`true`, `3`); `null` as empty text | the value with its JSON type (`true`, `3`, `null`, objects, arrays) |
///
/// A placeholder is `{{name}}` (spaces inside the braces are allowed), where `name` is made of
/// letters, digits, `_`, `-` and `.`. Values are inserted as they are: they are not templates
/// themselves. Text filled from placeholders is always a string in a JSON body, even when it
/// looks like a number; give a typed literal (`Template::json(3)`, `true`) for a number or a
/// boolean.
///
/// ```
/// use auth_oauth::custom::Template;
/// use auth_core::SecretString;
///
/// let account = Template::text("{{tenant}}/{{user}}");
/// let password = Template::secret(SecretString::from("hunter2"));
/// let remember: Template = true.into();
/// assert!(!format!("{password:?}").contains("hunter2"));
/// assert_eq!(format!("{account:?}"), r#"Template::text("{{tenant}}/{{user}}")"#);
/// # let _ = remember;
/// ```
#[derive(Clone)]
pub struct Template {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Text(String),
    Literal(String),
    Secret(SecretString),
    Json(Value),
}

impl Template {
    /// Text with `{{name}}` placeholders.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            kind: Kind::Text(text.into()),
        }
    }

    /// Text sent exactly as given: `{{` is not a placeholder here.
    pub fn literal(text: impl Into<String>) -> Self {
        Self {
            kind: Kind::Literal(text.into()),
        }
    }

    /// A secret (a password, an API key), sent as it is and never shown.
    pub fn secret(secret: impl Into<SecretString>) -> Self {
        Self {
            kind: Kind::Secret(secret.into()),
        }
    }

    /// A JSON value that keeps its type in a JSON body (numbers, booleans, `null`, objects,
    /// arrays). Elsewhere it is sent as its compact JSON text (strings without quotes, `null`
    /// as empty text). Its strings are not templates.
    pub fn json(value: impl Into<Value>) -> Self {
        Self {
            kind: Kind::Json(value.into()),
        }
    }

    /// Whether sending this value exposes a secret (a secret template, or a placeholder filled
    /// from a secret value): headers built from it are then marked sensitive.
    pub(crate) fn uses_secret(&self, values: &Values) -> bool {
        match &self.kind {
            Kind::Secret(_) => true,
            Kind::Text(text) => placeholders(text)
                .filter_map(Result::ok)
                .any(|name| matches!(values.get(name), Some(NamedValue::Secret(_)))),
            Kind::Literal(_) | Kind::Json(_) => false,
        }
    }

    /// The secret this template holds, if it is one.
    pub(crate) fn exposed_secret(&self) -> Option<&str> {
        match &self.kind {
            Kind::Secret(secret) => Some(secret.expose_secret()),
            _ => None,
        }
    }

    /// Checks every placeholder against `values`; the problem as a sentence otherwise.
    pub(crate) fn check(&self, values: &Values) -> Result<(), String> {
        let Kind::Text(text) = &self.kind else {
            return Ok(());
        };
        for name in placeholders(text) {
            let name = name?;
            if !values.contains(name) {
                return Err(format!(
                    "unknown placeholder `{{{{{name}}}}}` (values: {}; add it with `.value(\"{name}\", …)` or `.secret_value(\"{name}\", …)`)",
                    values.names()
                ));
            }
        }
        Ok(())
    }

    /// The value as text, placeholders filled. Checked by [`Template::check`] at build time, so
    /// an unknown placeholder cannot happen here; it would be left as written.
    pub(crate) fn render_text(&self, values: &Values) -> String {
        match &self.kind {
            Kind::Text(text) => fill(text, values),
            Kind::Literal(text) => text.clone(),
            Kind::Secret(secret) => secret.expose_secret().to_owned(),
            Kind::Json(Value::String(s)) => s.clone(),
            Kind::Json(Value::Null) => String::new(),
            Kind::Json(value) => value.to_string(),
        }
    }

    /// The value in a JSON body: typed literals keep their type, everything else is a string.
    pub(crate) fn render_json(&self, values: &Values) -> Value {
        match &self.kind {
            Kind::Json(value) => value.clone(),
            _ => Value::String(self.render_text(values)),
        }
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Text(text) => write!(f, "Template::text({text:?})"),
            Kind::Literal(text) => write!(f, "Template::literal({text:?})"),
            Kind::Secret(_) => f.write_str("Template::secret([redacted])"),
            Kind::Json(value) => write!(f, "Template::json({value})"),
        }
    }
}

impl From<&str> for Template {
    fn from(text: &str) -> Self {
        Template::text(text)
    }
}

impl From<String> for Template {
    fn from(text: String) -> Self {
        Template::text(text)
    }
}

impl From<SecretString> for Template {
    fn from(secret: SecretString) -> Self {
        Template::secret(secret)
    }
}

impl From<Value> for Template {
    fn from(value: Value) -> Self {
        Template::json(value)
    }
}

macro_rules! json_literals {
    ($($t:ty),*) => {$(
        impl From<$t> for Template {
            fn from(value: $t) -> Self {
                Template::json(value)
            }
        }
    )*};
}
json_literals!(bool, i32, i64, u32, u64, f64);

/// A named value for placeholders: plain text or a secret.
#[derive(Clone)]
pub(crate) enum NamedValue {
    Text(String),
    Secret(SecretString),
}

impl NamedValue {
    fn expose(&self) -> &str {
        match self {
            NamedValue::Text(text) => text,
            NamedValue::Secret(secret) => secret.expose_secret(),
        }
    }
}

/// The named values of a request, sorted by name (for stable error messages).
#[derive(Clone, Default)]
pub(crate) struct Values {
    map: BTreeMap<String, NamedValue>,
}

impl Values {
    pub(crate) fn insert(&mut self, name: String, value: NamedValue) {
        self.map.insert(name, value);
    }

    fn get(&self, name: &str) -> Option<&NamedValue> {
        self.map.get(name)
    }

    fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The names, for error messages (`none` when there are none).
    fn names(&self) -> String {
        if self.map.is_empty() {
            return "none".to_owned();
        }
        self.map
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The secret values.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &str> {
        self.map.values().filter_map(|value| match value {
            NamedValue::Secret(secret) => Some(secret.expose_secret()),
            NamedValue::Text(_) => None,
        })
    }

    /// Checks the value names themselves (they must be usable in a placeholder).
    pub(crate) fn check_names(&self) -> Result<(), String> {
        match self.map.keys().find(|name| !is_name(name)) {
            Some(bad) => Err(format!(
                "`{}` cannot be a placeholder name (letters, digits, `_`, `-` and `.` only)",
                bad.escape_debug()
            )),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Values {
    /// Text values are shown; secret values are not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.map {
            match value {
                NamedValue::Text(text) => map.entry(name, text),
                NamedValue::Secret(_) => map.entry(name, &"[redacted]"),
            };
        }
        map.finish()
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The placeholder names in `text`, in order; an error sentence for a `{{` that starts no
/// valid placeholder.
fn placeholders(text: &str) -> impl Iterator<Item = Result<&str, String>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find("{{")?;
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            rest = "";
            return Some(Err(
                "`{{` without a closing `}}` (for literal braces use `Template::literal`)"
                    .to_owned(),
            ));
        };
        let name = after[..end].trim();
        rest = &after[end + 2..];
        if is_name(name) {
            Some(Ok(name))
        } else {
            let shown: String = name.chars().take(40).collect();
            Some(Err(format!(
                "`{{{{{}}}}}` is not a placeholder (names are letters, digits, `_`, `-` and `.`; for literal braces use `Template::literal`)",
                shown.escape_debug()
            )))
        }
    })
}

/// `text` with its placeholders filled from `values`.
fn fill(text: &str, values: &Values) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        match values.get(after[..end].trim()) {
            Some(value) => out.push_str(value.expose()),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        let mut values = Values::default();
        values.insert("user".into(), NamedValue::Text("alice".into()));
        values.insert("pw".into(), NamedValue::Secret("hunter2".into()));
        values
    }

    #[test]
    fn placeholders_are_filled_with_or_without_inner_spaces() {
        let t = Template::text("{{user}}:{{ pw }} {single} }}");
        assert!(t.check(&values()).is_ok());
        assert_eq!(t.render_text(&values()), "alice:hunter2 {single} }}");
        assert!(t.uses_secret(&values()));
        assert!(!Template::text("{{user}}").uses_secret(&values()));
    }

    #[test]
    fn literals_keep_their_braces_and_typed_values_their_type() {
        let t = Template::literal("{{user}}");
        assert_eq!(t.render_text(&values()), "{{user}}");
        assert_eq!(Template::from(3).render_json(&values()), Value::from(3));
        assert_eq!(Template::from(true).render_text(&values()), "true");
        assert_eq!(Template::json(Value::Null).render_text(&values()), "");
        assert_eq!(
            Template::text("3").render_json(&values()),
            Value::from("3"),
            "text stays a string"
        );
    }

    #[test]
    fn unknown_and_malformed_placeholders_are_described() {
        let err = Template::text("x {{usr}}")
            .check(&values())
            .expect_err("unknown");
        assert!(
            err.starts_with("unknown placeholder `{{usr}}` (values: pw, user"),
            "{err}"
        );
        let err = Template::text("{{user").check(&values()).expect_err("open");
        assert!(err.contains("without a closing"), "{err}");
        let err = Template::text("{{a b}}")
            .check(&values())
            .expect_err("bad name");
        assert!(err.contains("`{{a b}}` is not a placeholder"), "{err}");
    }

    #[test]
    fn debug_shows_text_but_never_secrets() {
        let text = format!("{:?} {:?}", Template::secret("hunter2"), values());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("alice"));
    }
}
