//! Several users signed in to one `authorization_code` connection: whose refresh token lives
//! under which token-store key.
//!
//! The first user to sign in (and a sign-in from before profiles) stays under the
//! connection's name, so a single-user store keeps working unchanged; every other user lives
//! under `NAME#user:ID`. The entry under the name lists every user in its metadata
//! ([`USERS`]), and each entry names its own user ([`ID`], [`EMAIL`]): non-secret, so `check`
//! can say who is signed in without a request.

use std::sync::Arc;

use auth_core::{AuthError, ErrorKind, StoredToken, TokenStore};
use auth_oauth::profile::Profile;

use super::spec::{AuthSpec, ConnectionSpec};

/// Metadata key of the user's id in a stored sign-in.
pub(crate) const ID: &str = "profile.id";
/// Metadata key of the user's email in a stored sign-in.
pub(crate) const EMAIL: &str = "profile.email";
/// Metadata key, on the entry under the connection's name, of every signed-in user's id (a
/// JSON array).
pub(crate) const USERS: &str = "profile.users";

impl ConnectionSpec {
    /// The token-store key of this connection's grant: the connection's name unless
    /// [`with_store_key`](Self::with_store_key) or [`for_user`](Self::for_user) chose another.
    pub fn store_key(&self) -> &str {
        self.store_key.as_deref().unwrap_or(&self.name)
    }

    /// The connection with its refresh token under `key` in the token store instead of under
    /// its name (the token store file stays the same).
    pub fn with_store_key(mut self, key: impl Into<String>) -> Self {
        self.store_key = Some(key.into());
        self
    }

    /// The users signed in to this connection, the default one (under the connection's name)
    /// first; empty when nobody signed in, or only before profiles were configured.
    pub async fn signed_in_users(&self) -> Result<Vec<Profile>, AuthError> {
        let store = self.user_store()?;
        let Some(default) = store.load(&self.name).await? else {
            return Ok(Vec::new());
        };
        let Some(first) = profile_of(&default) else {
            return Ok(Vec::new());
        };
        let mut users = vec![first];
        for id in user_ids(&default) {
            if users.iter().any(|u| u.id == id) {
                continue;
            }
            let entry = store.load(&user_key(&self.name, &id)).await?;
            users.push(
                entry
                    .as_ref()
                    .and_then(profile_of)
                    .unwrap_or_else(|| Profile::new(id, None)),
            );
        }
        Ok(users)
    }

    /// The connection as user `id` signed in to it: its grant spends that user's refresh
    /// token. Fails with [`ErrorKind::NotSignedIn`], listing who did sign in, when `id` did not.
    pub async fn for_user(&self, id: &str) -> Result<ConnectionSpec, AuthError> {
        let users = self.signed_in_users().await?;
        match users.iter().position(|u| u.id == id) {
            Some(0) => Ok(self.clone().with_store_key(self.name.clone())),
            Some(_) => Ok(self.clone().with_store_key(user_key(&self.name, id))),
            None => Err(AuthError::new(
                ErrorKind::NotSignedIn,
                format!(
                    "`{id}` has not signed in to `{}` ({}); run `tower-auth login {} --user {id}`",
                    self.name,
                    signed_in_list(&users),
                    self.name
                ),
            )),
        }
    }

    /// Files the sign-in stored under `from` (by a grant built
    /// [`with_store_key`](Self::with_store_key)`(from)`) as `profile`'s: under the
    /// connection's name when nobody, a user from before profiles, or this same user was
    /// there; else under `NAME#user:ID`. Returns the key it went to, or `None` when `from`
    /// holds nothing (the provider returned no refresh token).
    pub async fn save_sign_in(
        &self,
        from: &str,
        profile: &Profile,
    ) -> Result<Option<String>, AuthError> {
        let store = self.user_store()?;
        let Some(mut entry) = store.load(from).await? else {
            return Ok(None);
        };
        entry.metadata.insert(ID.to_owned(), profile.id.clone());
        match &profile.email {
            Some(email) => entry.metadata.insert(EMAIL.to_owned(), email.clone()),
            None => entry.metadata.remove(EMAIL),
        };
        let default = store.load(&self.name).await?;
        let default_id = default.as_ref().and_then(|d| d.metadata.get(ID)).cloned();
        let mut ids = default.as_ref().map(user_ids).unwrap_or_default();
        let key = match &default_id {
            Some(id) if *id != profile.id => user_key(&self.name, &profile.id),
            _ => self.name.clone(),
        };
        if !ids.contains(&profile.id) {
            ids.push(profile.id.clone());
        }
        let ids = serde_json::Value::from(ids).to_string();
        if key == self.name {
            entry.metadata.insert(USERS.to_owned(), ids);
            store.save(&key, &entry).await?;
        } else {
            entry.metadata.remove(USERS);
            store.save(&key, &entry).await?;
            if let Some(mut default) = default {
                default.metadata.insert(USERS.to_owned(), ids);
                store.save(&self.name, &default).await?;
            }
        }
        if from != key {
            store.remove(from).await?;
        }
        Ok(Some(key))
    }

    /// Removes whatever a sign-in stored under `key` (one that could not be filed under a
    /// user).
    pub async fn forget_sign_in(&self, key: &str) -> Result<(), AuthError> {
        self.user_store()?.remove(key).await
    }

    fn user_store(&self) -> Result<Arc<dyn TokenStore>, AuthError> {
        match &self.auth {
            AuthSpec::OAuth2(o)
                if matches!(o.grant.as_str(), "authorization_code" | "device_code") =>
            {
                super::oauth::token_store(self, o)
                    .map_err(|e| AuthError::new(ErrorKind::Config, e.to_string()))
            }
            _ => Err(AuthError::new(
                ErrorKind::Config,
                format!(
                    "`{}` is no authorization_code or device_code connection: nobody signs in \
                     to it",
                    self.name
                ),
            )),
        }
    }
}

/// `NAME#user:ID`: where a user other than the first keeps their sign-in.
pub fn user_key(name: &str, id: &str) -> String {
    format!("{name}#user:{id}")
}

/// `signed in: a (a@example.com), b`, or `nobody signed in with a profile`.
pub fn signed_in_list(users: &[Profile]) -> String {
    if users.is_empty() {
        return "nobody signed in with a profile".to_owned();
    }
    let names: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    format!("signed in: {}", names.join(", "))
}

fn profile_of(entry: &StoredToken) -> Option<Profile> {
    let id = entry.metadata.get(ID)?;
    Some(Profile::new(id.clone(), entry.metadata.get(EMAIL).cloned()))
}

fn user_ids(entry: &StoredToken) -> Vec<String> {
    entry
        .metadata
        .get(USERS)
        .and_then(|list| serde_json::from_str::<Vec<String>>(list).ok())
        .unwrap_or_default()
}
