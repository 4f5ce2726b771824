//! Operator tasks shared by `aion admin ...` and the API: creating a user who owns a
//! workspace, and creating an API key. They work on the store directly, so they also work
//! while a server runs on the same data directory.

use aion_store::{Accounts, ApiKey, DEFAULT_WORKSPACE, NewUser, Role, Store, User};

use crate::auth;

/// An admin task failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request itself is wrong (a weak password, an unknown user, ...).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] aion_store::Error),
}

/// Checks an email's shape: one `@` with something on both sides, no spaces, at most 254
/// characters. (Delivery is never attempted.)
pub fn check_email(email: &str) -> Result<(), AdminError> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "`{email}` is not an email address"
        )))
    }
}

/// Creates a user and makes them owner of `workspace` (created if missing).
pub async fn create_user(
    store: &dyn Store,
    accounts: &dyn Accounts,
    email: &str,
    password: &str,
    workspace: &str,
    now_ms: i64,
) -> Result<User, AdminError> {
    check_email(email)?;
    aion_store::check_id("workspace", workspace)?;
    let password = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AdminError::Invalid(format!("password hashing failed: {e}")))?
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    ensure_workspace(store, workspace, now_ms).await?;
    let user = accounts
        .create_user(NewUser {
            email: email.to_owned(),
            password_hash,
            created_ms: now_ms,
        })
        .await?;
    accounts
        .set_member(workspace, &user.id, Role::Owner, now_ms)
        .await?;
    Ok(user)
}

/// Creates `workspace` unless it exists.
pub async fn ensure_workspace(
    store: &dyn Store,
    workspace: &str,
    now_ms: i64,
) -> Result<(), AdminError> {
    if workspace == DEFAULT_WORKSPACE {
        // Every store starts with it.
        return Ok(());
    }
    match store.create_workspace(workspace, now_ms).await {
        Ok(_) => Ok(()),
        Err(aion_store::Error::AlreadyExists { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Creates an API key for the user with `email` in `workspace`, with `role` (at most the
/// user's own role there). Returns the key as stored and the token to hand out once.
pub async fn create_api_key(
    accounts: &dyn Accounts,
    email: &str,
    workspace: &str,
    role: Role,
    name: &str,
    now_ms: i64,
) -> Result<(ApiKey, String), AdminError> {
    let user = accounts
        .user_by_email(email)
        .await?
        .ok_or_else(|| AdminError::Invalid(format!("there is no user `{email}`")))?;
    let member = accounts.member(workspace, &user.id).await?.ok_or_else(|| {
        AdminError::Invalid(format!(
            "`{email}` is not a member of workspace `{workspace}`"
        ))
    })?;
    if !member.role.allows(role) {
        return Err(AdminError::Invalid(format!(
            "`{email}` is {} in `{workspace}` and cannot create a key with role {role}",
            member.role
        )));
    }
    let key = auth::generate_key().map_err(|e| AdminError::Invalid(e.to_string()))?;
    let stored = accounts
        .create_api_key(ApiKey {
            id: key.id.clone(),
            workspace: workspace.to_owned(),
            user_id: user.id,
            role,
            name: name.to_owned(),
            secret_hash: key.secret_hash.clone(),
            created_ms: now_ms,
            last_used_ms: None,
            revoked_ms: None,
        })
        .await?;
    Ok((stored, key.token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_a_local_part_and_a_domain() {
        for good in ["a@b", "ada@example.com", "first.last+tag@sub.example.org"] {
            check_email(good).unwrap();
        }
        for bad in [
            "",
            "a",
            "@b",
            "a@",
            "a b@c",
            "a@b@c",
            &format!("{}@b", "a".repeat(260)),
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
