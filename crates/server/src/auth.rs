//! Secrets and callers: Argon2id password hashes, API keys (`aion_<id>_<secret>`) and their
//! digests, and [`Caller`], the authenticated (user, workspace, role) every handler acts for.
//!
//! API keys and session tokens carry 256 random bits, so the store keeps a SHA-256 digest of
//! the secret (fast enough to check on every request) and compares digests in constant time.
//! Passwords are low-entropy, so they get Argon2id with its default (OWASP) parameters,
//! computed on the blocking pool.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use aion_store::Role;

/// The prefix of every API key.
pub const KEY_PREFIX: &str = "aion_";

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (Argon2 would take anything; this bounds the work per attempt).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A secret could not be made or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The password breaks the length rules.
    #[error("{0}")]
    WeakPassword(String),
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Checks the password rules: at least [`MIN_PASSWORD_CHARS`] characters, at most
/// [`MAX_PASSWORD_BYTES`] bytes.
pub fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::WeakPassword(format!(
            "the password must have at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Hashes a password (after [`check_password`]) into an Argon2id PHC string. Slow on purpose:
/// call it on a blocking thread.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    check_password(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash). Slow on
/// purpose: call it on a blocking thread.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> Result<String, AuthError> {
    let mut bytes = vec![0_u8; n];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// The trace id a run belongs to: the one of a W3C `traceparent` header
/// (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`) when the request carries a valid
/// one, else a new random one.
pub fn trace_id(headers: &axum::http::HeaderMap) -> String {
    let given = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let parts: Vec<&str> = v.trim().split('-').collect();
            let hex = |s: &str, len: usize| {
                s.len() == len
                    && s.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            };
            match parts.as_slice() {
                [version, trace, parent, flags]
                    if hex(version, 2)
                        && *version != "ff"
                        && hex(trace, 32)
                        && hex(parent, 16)
                        && hex(flags, 2)
                        && trace.bytes().any(|b| b != b'0')
                        && parent.bytes().any(|b| b != b'0') =>
                {
                    Some((*trace).to_owned())
                }
                _ => None,
            }
        });
    given.unwrap_or_else(new_trace_id)
}

/// A new random W3C trace id (32 hex digits, never all zeros).
pub fn new_trace_id() -> String {
    random_hex(16).unwrap_or_else(|_| "0".repeat(31) + "1")
}

/// SHA-256 of a secret, as lowercase hex.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two digests in constant time.
pub fn digests_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A freshly made API key: the token to hand out once, and what the store keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct NewKey {
    /// The public id (12 hex characters).
    pub id: String,
    /// The whole key, `aion_<id>_<secret>`: shown once, never stored.
    pub token: String,
    /// SHA-256 of the secret part.
    pub secret_hash: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Makes a new API key: 48 random bits of public id, 256 of secret.
pub fn generate_key() -> Result<NewKey, AuthError> {
    let id = random_hex(6)?;
    let secret = random_hex(32)?;
    Ok(NewKey {
        token: format!("{KEY_PREFIX}{id}_{secret}"),
        secret_hash: digest(&secret),
        id,
    })
}

/// Splits a presented key into (id, secret), or `None` if it does not have the shape of one.
pub fn parse_key(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 12) && hex(secret, 64)).then_some((id, secret))
}

/// How a caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key, by public id.
    ApiKey(String),
    /// A browser session.
    Session,
}

/// Who is calling: a user acting in one workspace with a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: String,
    /// The workspace every call of this caller is scoped to.
    pub workspace: String,
    /// What the caller may do there.
    pub role: Role,
    /// How the caller authenticated.
    pub credential: Credential,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert!(hash_password("short").is_err());
        assert!(hash_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert!(!verify_password(&"x".repeat(MAX_PASSWORD_BYTES + 1), &hash));
    }

    #[test]
    fn trace_ids_come_from_traceparent_or_are_made() {
        let mut headers = axum::http::HeaderMap::new();
        let made = trace_id(&headers);
        assert_eq!(made.len(), 32);
        assert_ne!(trace_id(&headers), made, "a new id per call");
        headers.insert(
            "traceparent",
            axum::http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        );
        assert_eq!(trace_id(&headers), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-01",
            "garbage",
        ] {
            headers.insert("traceparent", axum::http::HeaderValue::from_static(bad));
            assert_ne!(
                trace_id(&headers),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
            assert_eq!(trace_id(&headers).len(), 32);
        }
    }

    #[test]
    fn keys_parse_back_and_digests_compare() {
        let key = generate_key().unwrap();
        let (id, secret) = parse_key(&key.token).unwrap();
        assert_eq!(id, key.id);
        assert!(digests_match(&digest(secret), &key.secret_hash));
        assert!(!digests_match(&digest("other"), &key.secret_hash));
        assert!(
            !format!("{key:?}").contains(secret),
            "the secret never shows in logs"
        );
        for bad in [
            "",
            "aion_",
            "aion_abc_def",
            "bearer aion_0123456789ab_",
            &key.token[..key.token.len() - 1],
            &format!("{}x", key.token),
            &key.token.replace("aion_", "aoin_"),
        ] {
            assert!(parse_key(bad).is_none(), "{bad}");
        }
        assert_ne!(generate_key().unwrap().token, key.token);
    }
}
