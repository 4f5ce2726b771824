//! The credential vault's cryptography: credential values (JSON) are sealed here before the
//! store sees them and opened here when the server needs them (a webhook's signing secret).
//!
//! - **Cipher.** ChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`), a 256-bit key, a random
//!   96-bit nonce per seal. A sealed value is `version (1) || nonce (12) || ciphertext+tag`.
//! - **Binding.** The associated data is the workspace id and the credential name
//!   (length-prefixed), so ciphertext copied to another row, name or workspace fails to open.
//! - **Master key.** Read from the configured `master_key_file`, else from `master.key` in the
//!   data directory, created on first start with mode 0600 from 32 bytes of `getrandom`. The
//!   file holds 64 hex digits (a trailing newline is allowed). A configured file that is
//!   missing, or any key file that is malformed, refuses the start with an error naming the
//!   file: silently making a new key would orphan every stored credential.
//!
//! Nothing here logs or formats a key or a plaintext; [`Vault`]'s `Debug` shows neither.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde_json::Value;

use crate::config::Config;

/// The name of the key file in the data directory.
pub const KEY_FILE_NAME: &str = "master.key";

/// The format byte that starts every sealed value.
const VERSION: u8 = 1;

/// Nonce length in bytes (96 bits).
const NONCE_LEN: usize = 12;

/// Master key length in bytes (256 bits).
const KEY_LEN: usize = 32;

/// Why the vault cannot be opened, or a value sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key file cannot be read, created or understood.
    #[error("the master key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong (never the key).
        reason: String,
    },
    /// A sealed value does not open with this key for this workspace and name (tampered,
    /// moved to another row, or sealed under another key).
    #[error("the credential does not decrypt (wrong key, or moved from another row)")]
    Undecryptable,
    /// The value cannot be serialized, or the opened bytes are not JSON.
    #[error("the credential value is not JSON: {0}")]
    NotJson(String),
    /// The system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

/// Seals and opens credential values with the server's master key.
pub struct Vault {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault { key: [hidden] }")
    }
}

impl Vault {
    /// A vault over this 256-bit key.
    pub fn from_key(key: &[u8; KEY_LEN]) -> Vault {
        Vault {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// The vault of a configuration: its `master_key_file`, else the data directory's
    /// `master.key` (created on first start).
    pub fn open(config: &Config) -> Result<Vault, VaultError> {
        let key = match &config.master_key_file {
            Some(path) => read_key_file(path)?,
            None => load_or_create(&config.data_dir.join(KEY_FILE_NAME))?,
        };
        Ok(Vault::from_key(&key))
    }

    /// Seals `value` for the credential `name` of `workspace`.
    pub fn seal(&self, workspace: &str, name: &str, value: &Value) -> Result<Vec<u8>, VaultError> {
        let plaintext =
            serde_json::to_vec(value).map_err(|e| VaultError::NotJson(e.to_string()))?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| VaultError::Random(e.to_string()))?;
        let aad = associated_data(workspace, name);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Undecryptable)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Vault::seal`] sealed for the same workspace and name.
    pub fn unseal(&self, workspace: &str, name: &str, sealed: &[u8]) -> Result<Value, VaultError> {
        let Some((&VERSION, rest)) = sealed.split_first() else {
            return Err(VaultError::Undecryptable);
        };
        if rest.len() < NONCE_LEN {
            return Err(VaultError::Undecryptable);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let aad = associated_data(workspace, name);
        let plaintext = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Undecryptable)?;
        serde_json::from_slice(&plaintext).map_err(|e| VaultError::NotJson(e.to_string()))
    }
}

/// `aion-credential\0`, then the workspace and the name, each prefixed by its length.
fn associated_data(workspace: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + workspace.len() + name.len());
    aad.extend_from_slice(b"aion-credential\0");
    for part in [workspace, name] {
        aad.extend_from_slice(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

fn key_error(path: &Path, reason: impl Into<String>) -> VaultError {
    VaultError::KeyFile {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads a key file that must exist.
fn read_key_file(path: &Path) -> Result<[u8; KEY_LEN], VaultError> {
    let text = std::fs::read(path).map_err(|e| key_error(path, format!("cannot read it: {e}")))?;
    parse_key(&text).map_err(|reason| key_error(path, reason))
}

/// Reads the data directory's key file, creating it (mode 0600) when there is none.
fn load_or_create(path: &Path) -> Result<[u8; KEY_LEN], VaultError> {
    if path.exists() {
        return read_key_file(path);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| key_error(path, format!("cannot create its directory: {e}")))?;
    }
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| VaultError::Random(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        // Another process created it meanwhile: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return read_key_file(path),
        Err(e) => return Err(key_error(path, format!("cannot create it: {e}"))),
    };
    let mut text = to_hex(&key);
    text.push('\n');
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| key_error(path, format!("cannot write it: {e}")))?;
    Ok(key)
}

/// 64 hex digits, optionally followed by a newline (or other trailing whitespace).
fn parse_key(bytes: &[u8]) -> Result<[u8; KEY_LEN], String> {
    let malformed = || {
        format!(
            "it is malformed: it must hold the {KEY_LEN}-byte key as {} hex digits \
             (refusing to start rather than lose access to the stored credentials)",
            KEY_LEN * 2
        )
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| malformed())?
        .trim_end();
    if text.len() != KEY_LEN * 2 {
        return Err(malformed());
    }
    let mut key = [0u8; KEY_LEN];
    for (slot, pair) in key.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let digits = std::str::from_utf8(pair).map_err(|_| malformed())?;
        *slot = u8::from_str_radix(digits, 16).map_err(|_| malformed())?;
    }
    Ok(key)
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The path of the key file a configuration uses (for messages).
pub fn key_path(config: &Config) -> PathBuf {
    config
        .master_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join(KEY_FILE_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_round_trip_and_stay_bound_to_their_row() {
        let vault = Vault::from_key(&[7; KEY_LEN]);
        let value = json!({ "username": "ada", "password": "s3cret" });
        let sealed = vault.seal("default", "db", &value).unwrap();
        assert_eq!(sealed[0], VERSION);
        assert!(!String::from_utf8_lossy(&sealed).contains("s3cret"));
        assert_eq!(vault.unseal("default", "db", &sealed).unwrap(), value);
        // Two seals of one value differ (random nonces).
        assert_ne!(vault.seal("default", "db", &value).unwrap(), sealed);
        for (workspace, name) in [("default", "db2"), ("other", "db"), ("defaultd", "b")] {
            assert!(matches!(
                vault.unseal(workspace, name, &sealed),
                Err(VaultError::Undecryptable)
            ));
        }
        let other_key = Vault::from_key(&[8; KEY_LEN]);
        assert!(other_key.unseal("default", "db", &sealed).is_err());
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(vault.unseal("default", "db", &tampered).is_err());
        assert!(vault.unseal("default", "db", &[]).is_err());
        assert!(vault.unseal("default", "db", &[VERSION, 1, 2]).is_err());
        assert!(format!("{vault:?}").contains("hidden"));
    }

    #[test]
    fn key_files_are_created_once_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(KEY_FILE_NAME);
        let first = load_or_create(&path).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim_end().len(), 64);
        assert_eq!(parse_key(text.as_bytes()).unwrap(), first);
        for bad in [&b""[..], b"abc", &[b'g'; 64], &[b'a'; 66], b"\xff\xfe"] {
            assert!(parse_key(bad).is_err());
        }
        std::fs::write(&path, "not a key").unwrap();
        let error = load_or_create(&path).unwrap_err().to_string();
        assert!(error.contains("malformed"), "{error}");
        let missing = read_key_file(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
    }
}
