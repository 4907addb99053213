//! Secrets at rest: ChaCha20-Poly1305 with a key that never enters the database.
//!
//! The key comes from `EMAIL_LOGGING_KEY` (32 bytes, base64) or from a key
//! file created on first use with owner-only permissions. Each secret is
//! bound to its company and name as associated data, so a ciphertext copied
//! to another row does not decrypt.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use std::path::Path;

/// The environment variable that may hold the key.
pub const KEY_ENV: &str = "EMAIL_LOGGING_KEY";

/// Encrypts and decrypts secrets.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key>)")
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Wrong key, or the row was tampered with.
    #[error("a stored secret cannot be decrypted: the key is not the one it was stored with")]
    Decrypt,
}

impl SecretBox {
    /// A box with this key.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// The key from the environment, else from `key_file` (created when missing).
    pub fn load(key_file: &Path) -> anyhow::Result<Self> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return Ok(Self::new(decode_key(&text).with_context(|| {
                format!("{KEY_ENV} must be 32 random bytes in base64 (for example: openssl rand -base64 32)")
            })?));
        }
        if key_file.exists() {
            let text = std::fs::read_to_string(key_file)
                .with_context(|| format!("cannot read the key file {}", key_file.display()))?;
            return Ok(Self::new(decode_key(&text).with_context(|| {
                format!("the key file {} is damaged", key_file.display())
            })?));
        }
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        write_private(key_file, STANDARD.encode(key).as_bytes())
            .with_context(|| format!("cannot create the key file {}", key_file.display()))?;
        Ok(Self::new(key))
    }

    /// Encrypts `plain` bound to `context`; returns (nonce, ciphertext).
    pub fn seal(&self, context: &str, plain: &str) -> (Vec<u8>, Vec<u8>) {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory data");
        (nonce.to_vec(), ct)
    }

    /// Decrypts what `seal` produced for the same `context`.
    pub fn open(
        &self,
        context: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<String, CryptoError> {
        if nonce.len() != 12 {
            return Err(CryptoError::Decrypt);
        }
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }
}

fn decode_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = STANDARD.decode(text.trim()).context("not base64")?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{} bytes instead of 32", b.len()))
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_context_binding() {
        let b = SecretBox::new([7; 32]);
        let (n, c) = b.seal("1/refresh-token", "top secret");
        assert!(!String::from_utf8_lossy(&c).contains("top secret"));
        assert_eq!(b.open("1/refresh-token", &n, &c).unwrap(), "top secret");
        assert!(b.open("2/refresh-token", &n, &c).is_err());
        assert!(
            SecretBox::new([8; 32])
                .open("1/refresh-token", &n, &c)
                .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_owner_only_and_stable() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        // SAFETY-free: tests in this module do not set the variable.
        if std::env::var(KEY_ENV).is_ok() {
            return;
        }
        let a = SecretBox::load(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (n, c) = a.seal("x", "v");
        let b = SecretBox::load(&path).unwrap();
        assert_eq!(b.open("x", &n, &c).unwrap(), "v");
    }
}
