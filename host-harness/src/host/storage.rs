//! `erp:host/storage`: the component's state with compare-and-swap, and its
//! secrets, encrypted at rest with the host's key.

use super::bindings::erp::host::storage::{Host, Versioned};
use super::{PluginState, WitError, internal};
use crate::store::plugin_state;
use secrecy::{ExposeSecret as _, SecretString};

type R<T> = wasmtime::Result<Result<T, WitError>>;

/// Longest value or secret the component may store.
const MAX_VALUE: usize = 1 << 20;

impl PluginState {
    fn context(&self, name: &str) -> String {
        format!("{}/{name}", self.company)
    }

    /// Reads and decrypts a secret (also used by host code, never logged).
    pub(crate) fn read_secret(&self, name: &str) -> anyhow::Result<Option<SecretString>> {
        match plugin_state::sealed_secret(&self.db, self.company, name)? {
            None => Ok(None),
            Some((nonce, ct)) => Ok(Some(
                self.ctx
                    .secret_box
                    .open(&self.context(name), &nonce, &ct)?
                    .into(),
            )),
        }
    }
}

impl Host for PluginState {
    async fn get(&mut self, key: String) -> R<Option<Versioned>> {
        let row = plugin_state::get(&self.db, self.company, &key).map(|v| {
            v.map(|v| Versioned {
                value: v.value,
                version: v.version,
            })
        });
        Ok(row.map_err(|e| internal("cannot read plugin state", e)))
    }

    async fn put(&mut self, key: String, value: String, expected: Option<u64>) -> R<u64> {
        if value.len() > MAX_VALUE {
            return Ok(Err(WitError::Invalid(format!(
                "values are limited to {MAX_VALUE} bytes"
            ))));
        }
        let changed =
            plugin_state::compare_and_swap(&self.db, self.company, &key, &value, expected);
        Ok(match changed {
            Ok(false) => Err(WitError::Conflict(format!(
                "'{key}' was changed by someone else; read it again"
            ))),
            Ok(true) => Ok(expected.map_or(1, |v| v + 1)),
            Err(e) => Err(internal("cannot write plugin state", e)),
        })
    }

    async fn remove(&mut self, key: String) -> R<()> {
        Ok(plugin_state::remove(&self.db, self.company, &key)
            .map_err(|e| internal("cannot remove plugin state", e)))
    }

    async fn get_secret(&mut self, name: String) -> R<Option<String>> {
        // Exposed only here, where it crosses into the component.
        let secret = self.read_secret(&name);
        Ok(secret
            .map(|s| s.map(|s| s.expose_secret().to_string()))
            .map_err(|e| {
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
        Ok(
            plugin_state::put_sealed_secret(&self.db, self.company, &name, &nonce, &ct)
                .map_err(|e| internal("cannot store a secret", e)),
        )
    }

    async fn remove_secret(&mut self, name: String) -> R<()> {
        Ok(plugin_state::remove_secret(&self.db, self.company, &name)
            .map_err(|e| internal("cannot remove a secret", e)))
    }
}
