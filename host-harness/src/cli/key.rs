//! `key`: the key that encrypts secrets at rest.

use crate::erp::Erp;
use anyhow::Context as _;
use clap::Subcommand;
use std::path::Path;

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Re-encrypt every stored secret with a new key. With the key in a file,
    /// a new key file replaces it; with the key in EMAIL_LOGGING_KEY, the new
    /// key is taken from EMAIL_LOGGING_NEW_KEY.
    Rotate,
    /// Forget every stored secret (client secrets, sign-in tokens) of every
    /// company and start a new key: for a key that is lost for good. Enter
    /// the client secret and sign in again afterwards.
    Reset {
        /// Confirms that the stored secrets are to be forgotten.
        #[arg(long)]
        forget_secrets: bool,
    },
}

/// `key reset`: forgets every stored secret and starts a new key. It works
/// on the database alone, since the ERP does not open with a lost key.
pub(super) fn reset(
    data_dir: &Path,
    database: &crate::store::Location,
    forget_secrets: bool,
) -> anyhow::Result<()> {
    let db = crate::store::Store::open_at(database, &data_dir.join("email-logging.db"))
        .context("cannot open the database")?;
    let n = crate::crypto::secret_count(&db)?;
    anyhow::ensure!(
        forget_secrets,
        "this forgets the {n} stored secrets (client secrets and sign-in tokens) of every company; run it again with --forget-secrets to go ahead"
    );
    let n = crate::crypto::reset_key(&db, &data_dir.join("secret.key"))?;
    println!(
        "Forgot {n} stored secrets and started a new key. Enter the client secret again (setup set --client-secret-stdin) and sign in again (setup sign-in)."
    );
    Ok(())
}

/// `key rotate`: re-encrypts every stored secret with a new key.
pub(super) fn rotate(erp: &Erp, data_dir: &Path) -> anyhow::Result<()> {
    let key_file = data_dir.join("secret.key");
    let n = if std::env::var(crate::crypto::KEY_ENV).is_ok() {
        let n = crate::crypto::rotate_env_key(&erp.db)?;
        println!(
            "Re-encrypted {n} secrets. Now set EMAIL_LOGGING_KEY to the value of EMAIL_LOGGING_NEW_KEY."
        );
        n
    } else {
        let n = crate::crypto::rotate_key_file(&erp.db, &key_file)?;
        println!(
            "Re-encrypted {n} secrets with a new key in {}.",
            key_file.display()
        );
        n
    };
    tracing::info!(secrets = n, "key rotated");
    Ok(())
}
