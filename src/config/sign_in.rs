//! The authorization request of an `authorization_code` connection: `auth_params`, `prompt`
//! and `offline_access`, and the check that neither they nor `extra_params` (which that
//! request carries too) override or repeat what tower-auth sets.

use std::collections::BTreeMap;

use super::read::{Reader, Table};

/// The keys of an `oauth2` auth table that shape the authorization request.
pub(crate) const KEYS: [&str; 3] = ["auth_params", "prompt", "offline_access"];

/// What tower-auth writes into every authorization URL itself, with where it comes from; the
/// names equal auth-oauth's `AuthorizationCode::SET_BY_GRANT` (a test checks it).
pub(crate) const SET_BY_TOWER_AUTH: [(&str, &str); 7] = [
    ("response_type", "`code` for this grant"),
    ("client_id", "from `client_id`"),
    ("redirect_uri", "from `redirect_uri`"),
    (
        "state",
        "a fresh value for every sign-in, which protects it",
    ),
    ("scope", "from `scopes`; list the scope there"),
    ("code_challenge", "PKCE, see `pkce`"),
    ("code_challenge_method", "PKCE, see `pkce`"),
];

/// The authorization request's settings, read.
#[derive(Debug, Default)]
pub(crate) struct SignIn {
    pub(crate) auth_params: BTreeMap<String, String>,
    pub(crate) prompt: Option<String>,
    pub(crate) offline_access: bool,
}

/// Reads the authorization-request keys of `t` for `grant` (`None` when the grant is missing
/// or unknown: its own problem is reported already). On another grant than
/// `authorization_code` they are errors: nothing would send them. `extra_params` are checked
/// too for an `authorization_code` connection, because its authorization request carries them.
pub(crate) fn read(
    r: &mut Reader<'_>,
    t: &Table<'_>,
    grant: Option<&str>,
    extra_params: &BTreeMap<String, String>,
) -> SignIn {
    let sign_in = SignIn {
        auth_params: r.string_map(t, "auth_params"),
        prompt: r.string(t, "prompt"),
        offline_access: r.bool(t, "offline_access", false),
    };
    match grant {
        Some("authorization_code") => {}
        Some(other) => {
            for key in KEYS.into_iter().filter(|key| t.get(key).is_some()) {
                r.problems.error(
                    &t.key_path(key),
                    format!(
                        "only the authorization_code grant sends an authorization request (this \
                         connection's grant is `{other}`); remove it"
                    ),
                );
            }
            return sign_in;
        }
        None => return sign_in,
    }
    if sign_in
        .prompt
        .as_deref()
        .is_some_and(|p| p.trim().is_empty())
    {
        r.problems.error(
            &t.key_path("prompt"),
            "is empty (e.g. `consent`, `login`, `select_account`)",
        );
    }
    let extra = extra_params.keys().map(|name| ("extra_params", name));
    let added = sign_in.auth_params.keys().map(|name| ("auth_params", name));
    for (table, name) in extra.chain(added) {
        let path = format!("{}.{}", t.key_path(table), super::read::printable_key(name));
        if let Some((_, from)) = SET_BY_TOWER_AUTH.iter().find(|(n, _)| n == name) {
            r.problems
                .error(&path, format!("is set by tower-auth ({from}); remove it"));
            continue;
        }
        let dedicated = match name.as_str() {
            "prompt" if sign_in.prompt.is_some() => Some("prompt"),
            "access_type" if sign_in.offline_access => Some("offline_access"),
            "audience" | "resource" if t.get(name).is_some() => Some(name.as_str()),
            _ => None,
        };
        if let Some(key) = dedicated {
            r.problems.error(
                &path,
                format!("repeats `{key}`, which sends this parameter already; give it once"),
            );
        } else if table == "auth_params" && extra_params.contains_key(name) {
            r.problems.error(
                &path,
                "is in `extra_params` too, which the authorization request carries as well; \
                 give it once",
            );
        }
    }
    sign_in
}
