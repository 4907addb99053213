//! `erp:host/storage`: the component's state with compare-and-swap, and its
//! secrets, encrypted at rest with the host's key.

use super::bindings::erp::host::storage::{Host, Versioned};
use super::{PluginState, WitError, internal};
use rusqlite::{OptionalExtension, params};

type R<T> = wasmtime::Result<Result<T, WitError>>;

/// Longest value or secret the component may store.
const MAX_VALUE: usize = 1 << 20;

impl PluginState {
    fn context(&self, name: &str) -> String {
        format!("{}/{name}", self.company)
    }

    /// Reads and decrypts a secret (also used by host code, never logged).
    pub(crate) fn read_secret(&self, name: &str) -> anyhow::Result<Option<String>> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .ctx
            .db
            .lock()
            .query_row(
                "SELECT nonce, ciphertext FROM plugin_secret WHERE company_id = ?1 AND name = ?2",
                params![self.company, name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((nonce, ct)) => Ok(Some(self.ctx.secret_box.open(
                &self.context(name),
                &nonce,
                &ct,
            )?)),
        }
    }
}

impl Host for PluginState {
    async fn get(&mut self, key: String) -> R<Option<Versioned>> {
        let row = self
            .ctx
            .db
            .lock()
            .query_row(
                "SELECT value, version FROM plugin_state WHERE company_id = ?1 AND key = ?2",
                params![self.company, key],
                |r| {
                    Ok(Versioned {
                        value: r.get(0)?,
                        version: r.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .optional();
        Ok(row.map_err(|e| internal("cannot read plugin state", e.into())))
    }

    async fn put(&mut self, key: String, value: String, expected: Option<u64>) -> R<u64> {
        if value.len() > MAX_VALUE {
            return Ok(Err(WitError::Invalid(format!(
                "values are limited to {MAX_VALUE} bytes"
            ))));
        }
        let conn = self.ctx.db.lock();
        let changed = match expected {
            None => conn.execute(
                "INSERT INTO plugin_state(company_id, key, value, version) VALUES (?1, ?2, ?3, 1) ON CONFLICT DO NOTHING",
                params![self.company, key, value],
            ),
            Some(v) => conn.execute(
                "UPDATE plugin_state SET value = ?3, version = version + 1 WHERE company_id = ?1 AND key = ?2 AND version = ?4",
                params![self.company, key, value, v as i64],
            ),
        };
        Ok(match changed {
            Ok(0) => Err(WitError::Conflict(format!(
                "'{key}' was changed by someone else; read it again"
            ))),
            Ok(_) => Ok(expected.map_or(1, |v| v + 1)),
            Err(e) => Err(internal("cannot write plugin state", e.into())),
        })
    }

    async fn remove(&mut self, key: String) -> R<()> {
        Ok(self
            .ctx
            .db
            .lock()
            .execute(
                "DELETE FROM plugin_state WHERE company_id = ?1 AND key = ?2",
                params![self.company, key],
            )
            .map(|_| ())
            .map_err(|e| internal("cannot remove plugin state", e.into())))
    }

    async fn get_secret(&mut self, name: String) -> R<Option<String>> {
        Ok(self.read_secret(&name).map_err(|e| {
            // The error names the secret, never its value.
            tracing::error!(secret = %name, error = %e, "cannot read a secret");
            WitError::Internal(format!("the stored secret '{name}' cannot be read: {e}"))
        }))
    }

    async fn put_secret(&mut self, name: String, value: String) -> R<()> {
        if value.len() > MAX_VALUE {
            return Ok(Err(WitError::Invalid(format!(
                "secrets are limited to {MAX_VALUE} bytes"
            ))));
        }
        let (nonce, ct) = self.ctx.secret_box.seal(&self.context(&name), &value);
        Ok(self
            .ctx
            .db
            .lock()
            .execute(
                "INSERT INTO plugin_secret(company_id, name, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(company_id, name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext",
                params![self.company, name, nonce, ct],
            )
            .map(|_| ())
            .map_err(|e| internal("cannot store a secret", e.into())))
    }

    async fn remove_secret(&mut self, name: String) -> R<()> {
        Ok(self
            .ctx
            .db
            .lock()
            .execute(
                "DELETE FROM plugin_secret WHERE company_id = ?1 AND name = ?2",
                params![self.company, name],
            )
            .map(|_| ())
            .map_err(|e| internal("cannot remove a secret", e.into())))
    }
}
