//! `dpop = true` or `dpop = { key = { file = "dpop.pem" }, alg = "ES256", required = true }` on
//! an `oauth2` auth table: DPoP (RFC 9449) sender-constrained tokens, see
//! [`auth_oauth::dpop`].

use serde_json::Value;

use super::{
    read::{Reader, Table},
    spec::DpopSpec,
};

/// The algorithms a `dpop` key may sign with; without `key`, a new key of this kind is
/// generated when the connection is built (ES256 unless `alg` says EdDSA).
pub(crate) const ALGORITHMS: [&str; 6] = ["ES256", "ES384", "EdDSA", "RS256", "PS256", "PS384"];

/// Reads `dpop` of `t` (`None` when absent or `false`).
pub(crate) fn read(r: &mut Reader<'_>, t: &Table<'_>) -> Option<DpopSpec> {
    match t.get("dpop")? {
        Value::Bool(true) => Some(DpopSpec::default()),
        Value::Bool(false) => None,
        Value::Object(_) => {
            let table = r.sub_table(t, "dpop")?;
            r.known_keys(&table, &["key", "alg", "required"]);
            let key = r.private_key(&table, "key");
            let alg = match table.get("alg") {
                None => None,
                Some(Value::String(alg)) => {
                    match ALGORITHMS.iter().find(|a| a.eq_ignore_ascii_case(alg)) {
                        Some(known) => Some((*known).to_owned()),
                        None => {
                            r.problems.error(
                                &table.key_path("alg"),
                                format!(
                                    "unknown algorithm `{}` (one of: {})",
                                    alg.escape_debug(),
                                    ALGORITHMS.join(", ")
                                ),
                            );
                            None
                        }
                    }
                }
                Some(_) => {
                    r.problems
                        .error(&table.key_path("alg"), "expected a string, e.g. \"ES256\"");
                    None
                }
            };
            if key.is_none()
                && table.get("key").is_none()
                && let Some(alg) = alg.as_deref().filter(|a| !matches!(*a, "ES256" | "EdDSA"))
            {
                r.problems.error(
                    &table.key_path("alg"),
                    format!(
                        "`{alg}` needs a `key` (a generated key is ES256 or EdDSA; give an RSA \
                         or P-384 key as `key = {{ file = \"dpop.pem\" }}`)"
                    ),
                );
            }
            Some(DpopSpec {
                key,
                alg,
                required: r.bool(&table, "required", false),
            })
        }
        _ => {
            r.problems.error(
                &t.key_path("dpop"),
                "expected `true` or a table `{ key = { file = \"dpop.pem\" }, alg = \"ES256\", \
                 required = true }`",
            );
            None
        }
    }
}
