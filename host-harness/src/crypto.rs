//! Secrets at rest: ChaCha20-Poly1305 with a key that never enters the database.
//!
//! The key comes from `EMAIL_LOGGING_KEY` (32 bytes, base64) or from a key
//! file created on first use with owner-only permissions. Each secret is
//! bound to its company and name as associated data, so a ciphertext copied
//! to another row does not decrypt.

use crate::store::{Store, plugin_state};
use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use secrecy::{ExposeSecret as _, SecretSlice};
use std::path::Path;

/// The environment variable that may hold the key.
pub const KEY_ENV: &str = "EMAIL_LOGGING_KEY";

/// Encrypts and decrypts secrets.
#[derive(Debug, Clone)]
pub struct SecretBox {
    /// The key (its `Debug` shows `[REDACTED]`, and it is zeroed on drop).
    key: SecretSlice<u8>,
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
            key: Vec::from(key).into(),
        }
    }

    /// The cipher for one operation (ChaCha20 has no key schedule to keep).
    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.key.expose_secret()))
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

    /// The key for the secrets in `db`, as [`Self::load`] finds it, with two
    /// refusals that keep secrets from ending up under two keys: no new key
    /// file is made while the database holds secrets (the old key file was
    /// lost or moved), and a key that does not open them is not used.
    pub fn for_database(db: &Store, key_file: &Path) -> anyhow::Result<Self> {
        let stored = secret_count(db)?;
        let from_env = std::env::var_os(KEY_ENV).is_some();
        let how_to = format!(
            "restore the key they were stored with ({} from a backup, or {KEY_ENV}), or forget them with `email-logging-host key reset`, then enter the client secret and sign in again",
            key_file.display()
        );
        if !from_env && !key_file.exists() && stored > 0 {
            anyhow::bail!(
                "the key file {} is missing, but the database holds {stored} secrets encrypted with it; no new key was made: {how_to}",
                key_file.display()
            );
        }
        let key = Self::load(key_file)?;
        if !opens_secrets(db, &key)? {
            anyhow::bail!(
                "the key {} does not open the {stored} secrets stored in the database: {how_to}",
                if from_env {
                    format!("in {KEY_ENV}")
                } else {
                    format!("in {}", key_file.display())
                }
            );
        }
        Ok(key)
    }

    /// Encrypts `plain` bound to `context`; returns (nonce, ciphertext).
    pub fn seal(&self, context: &str, plain: &str) -> (Vec<u8>, Vec<u8>) {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher()
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
            .cipher()
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

/// Where a new key waits while a rotation is under way.
pub fn pending_key_file(key_file: &Path) -> std::path::PathBuf {
    key_file.with_extension("key.new")
}

/// Re-encrypts every secret of every company from `old` to `new` in one
/// transaction; returns how many were re-encrypted.
pub fn reencrypt(db: &Store, old: &SecretBox, new: &SecretBox) -> anyhow::Result<usize> {
    plugin_state::reseal_all(db, |s| {
        let context = format!("{}/{}", s.company_id, s.name);
        let plain = old
            .open(&context, &s.nonce, &s.ciphertext)
            .with_context(|| format!("secret '{}' of company {}", s.name, s.company_id))?;
        Ok::<_, anyhow::Error>(new.seal(&context, &plain))
    })
}

/// Whether `key` opens the secrets in the database (true when there are none).
pub fn opens_secrets(db: &Store, key: &SecretBox) -> anyhow::Result<bool> {
    Ok(match plugin_state::any_sealed_secret(db)? {
        None => true,
        Some(s) => key
            .open(
                &format!("{}/{}", s.company_id, s.name),
                &s.nonce,
                &s.ciphertext,
            )
            .is_ok(),
    })
}

/// How many secrets the database holds, of every company.
pub fn secret_count(db: &Store) -> anyhow::Result<usize> {
    Ok(plugin_state::secret_count(db)?)
}

/// Forgets every stored secret of every company (client secrets, tokens)
/// and, with the key in a file, starts a new key file: for a key that is
/// lost for good. Returns how many secrets were forgotten.
pub fn reset_key(db: &Store, key_file: &Path) -> anyhow::Result<usize> {
    let n = plugin_state::remove_all_secrets(db)?;
    if std::env::var_os(KEY_ENV).is_none() {
        if key_file.exists() {
            let mut aside = key_file.as_os_str().to_owned();
            aside.push(format!(
                ".replaced-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ));
            std::fs::rename(key_file, &aside)
                .with_context(|| format!("cannot move {} aside", key_file.display()))?;
        }
        SecretBox::load(key_file)?;
    }
    Ok(n)
}

/// Finishes a key rotation interrupted between the database commit and the
/// key file's replacement: the pending key wins if it opens the secrets.
pub fn recover_rotation(db: &Store, key_file: &Path) -> anyhow::Result<()> {
    let pending = pending_key_file(key_file);
    if !pending.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&pending)?;
    let new = SecretBox::new(decode_key(&text)?);
    if opens_secrets(db, &new)? {
        std::fs::rename(&pending, key_file)?;
    } else {
        std::fs::remove_file(&pending)?;
    }
    Ok(())
}

/// Rotates the key file's key: writes the new key beside the old one,
/// re-encrypts every secret, then replaces the key file.
pub fn rotate_key_file(db: &Store, key_file: &Path) -> anyhow::Result<usize> {
    let old = SecretBox::load(key_file)?;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let pending = pending_key_file(key_file);
    let _ = std::fs::remove_file(&pending);
    write_private(&pending, STANDARD.encode(key).as_bytes())
        .with_context(|| format!("cannot write {}", pending.display()))?;
    let n = reencrypt(db, &old, &SecretBox::new(key))?;
    std::fs::rename(&pending, key_file)?;
    Ok(n)
}

/// The environment variable holding the new key when the key comes from
/// [`KEY_ENV`] (the host cannot rewrite its own environment).
pub const NEW_KEY_ENV: &str = "EMAIL_LOGGING_NEW_KEY";

/// Rotates a key kept in the environment: re-encrypts every secret from
/// [`KEY_ENV`]'s key to [`NEW_KEY_ENV`]'s; the administrator then swaps them.
pub fn rotate_env_key(db: &Store) -> anyhow::Result<usize> {
    let old = std::env::var(KEY_ENV).with_context(|| format!("{KEY_ENV} is not set"))?;
    let new = std::env::var(NEW_KEY_ENV).with_context(|| {
        format!("the key comes from {KEY_ENV}: put the new key (32 random bytes, base64) in {NEW_KEY_ENV} and run this again")
    })?;
    let old = SecretBox::new(decode_key(&old).with_context(|| format!("{KEY_ENV} is not a key"))?);
    let new =
        SecretBox::new(decode_key(&new).with_context(|| format!("{NEW_KEY_ENV} is not a key"))?);
    reencrypt(db, &old, &new)
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
    fn the_key_is_never_in_debug_output() {
        let shown = format!("{:?}", SecretBox::new([42; 32]));
        assert!(!shown.contains("42"), "{shown}");
    }

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

    /// Stores one secret the way the host's storage capability does.
    fn store(db: &Store, company: i64, key: &SecretBox, name: &str, value: &str) {
        let (nonce, ct) = key.seal(&format!("{company}/{name}"), value);
        plugin_state::put_sealed_secret(db, company, name, &nonce, &ct).unwrap();
    }

    #[test]
    fn rotation_reencrypts_and_replaces_the_key_file() {
        if std::env::var(KEY_ENV).is_ok() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("secret.key");
        let db = Store::open_in_memory().unwrap();
        let c = db.company("C").unwrap();
        let old = SecretBox::load(&key_file).unwrap();
        store(&db, c, &old, "client-secret", "hush");
        assert_eq!(rotate_key_file(&db, &key_file).unwrap(), 1);
        let new = SecretBox::load(&key_file).unwrap();
        assert!(opens_secrets(&db, &new).unwrap());
        assert!(
            !opens_secrets(&db, &old).unwrap(),
            "the old key no longer opens anything"
        );
        assert!(!pending_key_file(&key_file).exists());
    }

    #[test]
    fn an_interrupted_rotation_is_finished_on_open() {
        if std::env::var(KEY_ENV).is_ok() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("secret.key");
        let db = Store::open_in_memory().unwrap();
        let c = db.company("C").unwrap();
        let old = SecretBox::load(&key_file).unwrap();
        let new_key = [9u8; 32];
        let new = SecretBox::new(new_key);
        store(&db, c, &old, "x", "v");
        // Crash after the commit, before the rename.
        write_private(
            &pending_key_file(&key_file),
            STANDARD.encode(new_key).as_bytes(),
        )
        .unwrap();
        reencrypt(&db, &old, &new).unwrap();
        recover_rotation(&db, &key_file).unwrap();
        assert!(opens_secrets(&db, &SecretBox::load(&key_file).unwrap()).unwrap());
    }

    #[test]
    fn a_lost_key_file_is_not_replaced_while_secrets_exist() {
        if std::env::var(KEY_ENV).is_ok() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("secret.key");
        let db = Store::open_in_memory().unwrap();
        let c = db.company("C").unwrap();
        let key = SecretBox::for_database(&db, &key_file).expect("no secrets: a new key is fine");
        store(&db, c, &key, "client-secret", "hush");
        let saved = std::fs::read(&key_file).unwrap();
        std::fs::remove_file(&key_file).unwrap();
        let err = SecretBox::for_database(&db, &key_file)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is missing") && err.contains("key reset"),
            "{err}"
        );
        assert!(!key_file.exists(), "no new key was made");
        // Another key is refused too, and restoring the old one works.
        std::fs::write(&key_file, STANDARD.encode([3u8; 32])).unwrap();
        let err = SecretBox::for_database(&db, &key_file)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not open the 1 secrets"), "{err}");
        std::fs::write(&key_file, &saved).unwrap();
        SecretBox::for_database(&db, &key_file).expect("the restored key opens them");
        // Forgetting them starts over with a new key.
        std::fs::remove_file(&key_file).unwrap();
        assert_eq!(reset_key(&db, &key_file).unwrap(), 1);
        assert_eq!(secret_count(&db).unwrap(), 0);
        SecretBox::for_database(&db, &key_file).unwrap();
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
