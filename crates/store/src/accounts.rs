//! People and access: users, workspace members with roles, API keys and browser sessions
//! ([`Accounts`]), workspace variables ([`Accounts::set_var`]) and sealed credentials
//! ([`Accounts::put_credential`], rows in [`crate::credentials`]).
//!
//! The store keeps what the server decides; it never sees a password or a key in clear.
//! Passwords arrive as Argon2id PHC strings, API key and session secrets as SHA-256 digests
//! (both are 256-bit random values, so a fast hash is enough; comparing digests leaks nothing
//! of the secret). Lockout and rate limits are the server's policy: the store only records the
//! counters it is given.
//!
//! Every method that reads a workspace's data takes the workspace id, and an object of another
//! workspace is not found. Lookups that *establish* who the caller is ([`Accounts::api_key`],
//! [`Accounts::session`], [`Accounts::user_by_email`]) are the exceptions, as
//! [`crate::Store::claim`] is for workers.

use serde::{Deserialize, Serialize};

use crate::{BoxFuture, Credential, CredentialInfo, Error, Result};

/// What a member may do in a workspace. Each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads flows, runs and settings.
    Viewer,
    /// Also starts runs, cancels and retries them, sends signals.
    Runner,
    /// Also creates, changes and deletes flows, variables and credentials.
    Editor,
    /// Also manages members, API keys and the workspace.
    Owner,
}

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Runner, Role::Editor, Role::Owner];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Runner => "runner",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    /// Whether this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown role `{s}` (expected owner, editor, runner or viewer)"
                ))
            })
    }
}

/// A person who can sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Opaque id (a UUIDv7 chosen by the store).
    pub id: String,
    /// Unique, stored lowercased.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When the user was created.
    pub created_ms: i64,
    /// Failed sign-ins since the last success or unlock.
    pub failed_logins: u32,
    /// Sign-in refused until then, when set.
    pub locked_until_ms: Option<i64>,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The email; the store lowercases it and refuses a duplicate with
    /// [`Error::AlreadyExists`].
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When the user is created.
    pub created_ms: i64,
}

/// A user's membership of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The workspace.
    pub workspace: String,
    /// The user.
    pub user_id: String,
    /// The user's email (joined in for display).
    pub email: String,
    /// What the member may do.
    pub role: Role,
    /// When the membership was created.
    pub added_ms: i64,
}

/// An API key as stored: the public id, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Public id (the part of the key between the prefix and the secret), unique.
    pub id: String,
    /// The workspace the key acts in.
    pub workspace: String,
    /// The user the key acts for (its creator).
    pub user_id: String,
    /// What the key may do (never more than the user's role when it was created).
    pub role: Role,
    /// A label.
    pub name: String,
    /// SHA-256 of the secret part, hex.
    pub secret_hash: String,
    /// When it was created.
    pub created_ms: i64,
    /// When it was last used (updated at most about once a minute).
    pub last_used_ms: Option<i64>,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoked_ms: Option<i64>,
}

/// A browser session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session cookie's secret, hex: the key of the row.
    pub id_hash: String,
    /// The signed-in user.
    pub user_id: String,
    /// SHA-256 of the session's CSRF token, hex.
    pub csrf_hash: String,
    /// When it was created.
    pub created_ms: i64,
    /// When it stops being valid.
    pub expires_ms: i64,
}

/// A workspace variable, readable in expressions as `vars.<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// The name: a letter or `_`, then letters, digits or `_`, at most 128 characters.
    pub name: String,
    /// Any JSON value.
    pub value: serde_json::Value,
    /// When it was last set.
    pub updated_ms: i64,
}

/// Checks a variable name: `[A-Za-z_][A-Za-z0-9_]{0,127}`.
pub fn check_var_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || name.len() > 128 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::InvalidArgument(format!(
            "variable name `{name}` must start with a letter or `_` and hold only letters, \
             digits and `_` (at most 128)"
        )));
    }
    Ok(())
}

/// Users, memberships, API keys, sessions, variables and credentials. Implemented by every backend beside
/// [`crate::Store`]; the conformance suite checks both.
pub trait Accounts: Send + Sync + std::fmt::Debug {
    // ----- users -----

    /// Creates a user; [`Error::AlreadyExists`] if the email (case-insensitively) is taken.
    fn create_user(&self, user: NewUser) -> BoxFuture<'_, Result<User>>;

    /// The user with this email (case-insensitive).
    fn user_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Result<Option<User>>>;

    /// The user with this id.
    fn user<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Option<User>>>;

    /// Records the outcome of sign-in attempts: the failure counter and the lock, as the
    /// server's policy computed them. [`Error::NotFound`] for an unknown user.
    fn set_login_state<'a>(
        &'a self,
        user_id: &'a str,
        failed_logins: u32,
        locked_until_ms: Option<i64>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Replaces a user's password hash. [`Error::NotFound`] for an unknown user.
    fn set_password<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: &'a str,
    ) -> BoxFuture<'a, Result<()>>;

    /// How many users exist (the server offers first-run setup while there are none).
    fn count_users(&self) -> BoxFuture<'_, Result<u64>>;

    // ----- members -----

    /// Makes a user a member of a workspace with `role`, or changes the role of a member.
    /// [`Error::NotFound`] if the workspace or the user does not exist.
    fn set_member<'a>(
        &'a self,
        workspace: &'a str,
        user_id: &'a str,
        role: Role,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Member>>;

    /// Removes a membership, also revoking the member's API keys in that workspace (at
    /// `now_ms`) and ending nothing else. [`Error::NotFound`] if there is no such membership.
    fn remove_member<'a>(
        &'a self,
        workspace: &'a str,
        user_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>>;

    /// The members of a workspace, by email.
    fn list_members<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<Member>>>;

    /// A user's membership of a workspace.
    fn member<'a>(
        &'a self,
        workspace: &'a str,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Member>>>;

    /// The workspaces a user belongs to, by workspace id.
    fn memberships<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Member>>>;

    // ----- API keys -----

    /// Stores a new API key; [`Error::AlreadyExists`] if the id is taken,
    /// [`Error::NotFound`] if the workspace or the user does not exist.
    fn create_api_key(&self, key: ApiKey) -> BoxFuture<'_, Result<ApiKey>>;

    /// The key with this public id, revoked or not (authentication checks the hash and the
    /// revocation itself).
    fn api_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ApiKey>>>;

    /// The keys of a workspace, newest first.
    fn list_api_keys<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<ApiKey>>>;

    /// Revokes a key of a workspace at `now_ms` (revoking twice keeps the first instant).
    /// [`Error::NotFound`] if the workspace has no such key.
    fn revoke_api_key<'a>(
        &'a self,
        workspace: &'a str,
        id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<ApiKey>>;

    /// Records that a key was used at `now_ms` (an unknown id is ignored).
    fn touch_api_key<'a>(&'a self, id: &'a str, now_ms: i64) -> BoxFuture<'a, Result<()>>;

    // ----- sessions -----

    /// Stores a session; [`Error::NotFound`] if the user does not exist.
    fn create_session(&self, session: Session) -> BoxFuture<'_, Result<()>>;

    /// The session with this id hash, if it has not expired at `now_ms`.
    fn session<'a>(
        &'a self,
        id_hash: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Session>>>;

    /// Ends a session (an unknown one is ignored).
    fn delete_session<'a>(&'a self, id_hash: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Deletes the sessions expired at `now_ms`; returns how many.
    fn delete_expired_sessions(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>>;

    // ----- variables -----

    /// Sets a variable (creating or replacing it). [`Error::InvalidArgument`] for a bad name
    /// (see [`check_var_name`]), [`Error::NotFound`] for an unknown workspace.
    fn set_var<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
        value: serde_json::Value,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Variable>>;

    /// Deletes a variable; [`Error::NotFound`] if there is none.
    fn delete_var<'a>(&'a self, workspace: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>>;

    /// The variables of a workspace, by name.
    fn list_vars<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<Variable>>>;

    // ----- credentials -----

    /// Creates or replaces a credential with a value the server sealed. Returns it without its
    /// value and whether it was created (`true`) or replaced (`false`; `created_ms` is kept).
    /// [`Error::InvalidArgument`] for a bad name or kind (see
    /// [`crate::check_credential_name`], [`crate::check_credential_kind`]),
    /// [`Error::NotFound`] for an unknown workspace.
    fn put_credential<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
        kind: &'a str,
        ciphertext: Vec<u8>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(CredentialInfo, bool)>>;

    /// A credential of a workspace, with its sealed value.
    fn credential<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Credential>>>;

    /// The credentials of a workspace, by name, without their values.
    fn list_credentials<'a>(
        &'a self,
        workspace: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CredentialInfo>>>;

    /// Deletes a credential; [`Error::NotFound`] if the workspace has none of that name.
    fn delete_credential<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<()>>;

    // ----- webhook deliveries -----

    /// Records that the signed webhook call `delivery_id` reached the trigger `path` of a
    /// workspace, keeping it until `expires_ms`. Returns `false` (recording nothing) when the
    /// id is already recorded for that trigger and not expired at `now_ms`: a replay. Expired
    /// records may be dropped on the way.
    fn remember_webhook_delivery<'a>(
        &'a self,
        workspace: &'a str,
        path: &'a str,
        delivery_id: &'a str,
        now_ms: i64,
        expires_ms: i64,
    ) -> BoxFuture<'a, Result<bool>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Owner.allows(Role::Viewer));
        assert!(Role::Editor.allows(Role::Runner));
        assert!(!Role::Runner.allows(Role::Editor));
        assert!(!Role::Viewer.allows(Role::Runner));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn variable_names_are_identifiers() {
        for good in ["a", "_x", "API_BASE", "v2"] {
            check_var_name(good).unwrap();
        }
        for bad in ["", "2x", "a-b", "a b", "é", &"a".repeat(129)] {
            assert!(check_var_name(bad).is_err(), "{bad}");
        }
    }
}
