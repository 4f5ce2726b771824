//! The credential vault's rows ([`Credential`], [`CredentialInfo`]) and the name rule
//! ([`check_credential_name`]); the methods are on [`crate::Accounts`] beside variables.
//!
//! The store never sees a secret in clear: a credential's value arrives as ciphertext sealed by
//! the server (an AEAD whose associated data binds it to its workspace and name), and the store
//! only keeps, lists and deletes it. Listing never returns ciphertext.
//!
//! Webhook deliveries ([`crate::Accounts::remember_webhook_delivery`]) live here too: the ids of
//! signed webhook calls already accepted, kept until they expire, so a replayed call is refused
//! across restarts.

use crate::{Error, Result};

/// The longest credential name.
pub const MAX_CREDENTIAL_NAME_LEN: usize = 64;

/// The longest credential kind.
pub const MAX_CREDENTIAL_KIND_LEN: usize = 64;

/// A credential as stored: its sealed value and when it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The name, unique in its workspace (see [`check_credential_name`]).
    pub name: String,
    /// What it holds (`webhook_secret`, `bearer_token`, `basic_auth`, `api_key`, ...).
    pub kind: String,
    /// The sealed value; only the server can open it.
    pub ciphertext: Vec<u8>,
    /// When it was first created.
    pub created_ms: i64,
    /// When it was last set.
    pub updated_ms: i64,
}

/// A credential without its value: what listings show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// The name.
    pub name: String,
    /// What it holds.
    pub kind: String,
    /// When it was first created.
    pub created_ms: i64,
    /// When it was last set.
    pub updated_ms: i64,
}

impl From<&Credential> for CredentialInfo {
    fn from(c: &Credential) -> Self {
        CredentialInfo {
            name: c.name.clone(),
            kind: c.kind.clone(),
            created_ms: c.created_ms,
            updated_ms: c.updated_ms,
        }
    }
}

/// Checks a credential name: `[a-z0-9_-]{1,64}`.
pub fn check_credential_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CREDENTIAL_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "credential name `{name}` must be 1 to {MAX_CREDENTIAL_NAME_LEN} lowercase letters, \
             digits, `-` or `_`"
        )))
    }
}

/// Checks a credential kind: 1 to 64 characters, none of them a control character.
pub fn check_credential_kind(kind: &str) -> Result<()> {
    let count = kind.chars().count();
    if count == 0 || count > MAX_CREDENTIAL_KIND_LEN || kind.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "credential kind `{}` must be 1 to {MAX_CREDENTIAL_KIND_LEN} characters without \
             control characters",
            kind.escape_debug()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_and_kinds() {
        for good in ["a", "slack-alerts", "hook_secret", "0", &"x".repeat(64)] {
            check_credential_name(good).unwrap();
        }
        for bad in ["", "A", "a b", "a.b", "é", &"x".repeat(65)] {
            assert!(check_credential_name(bad).is_err(), "{bad}");
        }
        check_credential_kind("webhook_secret").unwrap();
        for bad in ["", "a\nb", &"k".repeat(65)] {
            assert!(check_credential_kind(bad).is_err(), "{bad}");
        }
    }
}
