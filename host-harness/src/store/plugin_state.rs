//! The component's own records: plugin state (values with a version for
//! compare-and-swap) and plugin secrets (nonce and ciphertext only; the key
//! never enters the database: the host's crypto module holds it).

use super::sql::{Row, params};
use super::{CompanyId, Result, Store};

/// A stored value and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The value.
    pub value: String,
    /// Its version: 1 when first written, one more on every change.
    pub version: u64,
}

/// A plugin state value.
pub fn get(db: &Store, company: CompanyId, key: &str) -> Result<Option<Versioned>> {
    db.read(|c| {
        c.query_opt(
            "SELECT value, version FROM plugin_state WHERE company_id = ?1 AND key = ?2",
            params![company, key],
            |r| {
                Ok(Versioned {
                    value: r.get(0)?,
                    version: r.get::<i64>(1)? as u64,
                })
            },
        )
    })
}

/// Writes a value if its version is still `expected` (`None`: if it does
/// not exist yet); `false` when someone else changed it first.
pub fn compare_and_swap(
    db: &Store,
    company: CompanyId,
    key: &str,
    value: &str,
    expected: Option<u64>,
) -> Result<bool> {
    let changed = db.write(|conn| match expected {
        None => conn.execute(
            "INSERT INTO plugin_state(company_id, key, value, version) VALUES (?1, ?2, ?3, 1) ON CONFLICT DO NOTHING",
            params![company, key, value],
        ),
        Some(v) => conn.execute(
            "UPDATE plugin_state SET value = ?3, version = version + 1 WHERE company_id = ?1 AND key = ?2 AND version = ?4",
            params![company, key, value, v as i64],
        ),
    })?;
    Ok(changed > 0)
}

/// Writes a value whatever its version (the host's own settings for the
/// component, such as the bench's Graph limits).
pub fn set(db: &Store, company: CompanyId, key: &str, value: &str) -> Result<()> {
    db.write(|c| {
        c.execute(
            "INSERT INTO plugin_state (company_id, key, value, version) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (company_id, key) DO UPDATE SET value = excluded.value, version = plugin_state.version + 1",
            params![company, key, value],
        )
    })?;
    Ok(())
}

/// Removes a value.
pub fn remove(db: &Store, company: CompanyId, key: &str) -> Result<()> {
    db.write(|c| {
        c.execute(
            "DELETE FROM plugin_state WHERE company_id = ?1 AND key = ?2",
            params![company, key],
        )
    })?;
    Ok(())
}

/// A secret as stored: encrypted, bound to its company and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The company.
    pub company_id: CompanyId,
    /// The secret's name.
    pub name: String,
    /// The nonce.
    pub nonce: Vec<u8>,
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
}

/// A secret's nonce and ciphertext.
pub fn sealed_secret(
    db: &Store,
    company: CompanyId,
    name: &str,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    db.read(|c| {
        c.query_opt(
            "SELECT nonce, ciphertext FROM plugin_secret WHERE company_id = ?1 AND name = ?2",
            params![company, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })
}

/// Stores (or replaces) a secret's nonce and ciphertext.
pub fn put_sealed_secret(
    db: &Store,
    company: CompanyId,
    name: &str,
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<()> {
    db.write(|c| {
        c.execute(
            "INSERT INTO plugin_secret(company_id, name, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(company_id, name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext",
            params![company, name, nonce, ciphertext],
        )
    })?;
    Ok(())
}

/// Removes a secret.
pub fn remove_secret(db: &Store, company: CompanyId, name: &str) -> Result<()> {
    db.write(|c| {
        c.execute(
            "DELETE FROM plugin_secret WHERE company_id = ?1 AND name = ?2",
            params![company, name],
        )
    })?;
    Ok(())
}

fn sealed_row(r: &Row<'_>) -> Result<SealedSecret> {
    Ok(SealedSecret {
        company_id: r.get(0)?,
        name: r.get(1)?,
        nonce: r.get(2)?,
        ciphertext: r.get(3)?,
    })
}

/// Every stored secret of every company, encrypted.
pub fn sealed_secrets(db: &Store) -> Result<Vec<SealedSecret>> {
    db.read(|c| {
        c.query(
            "SELECT company_id, name, nonce, ciphertext FROM plugin_secret",
            params![],
            sealed_row,
        )
    })
}

/// One stored secret of any company, to try a key on.
pub fn any_sealed_secret(db: &Store) -> Result<Option<SealedSecret>> {
    db.read(|c| {
        c.query_opt(
            "SELECT company_id, name, nonce, ciphertext FROM plugin_secret LIMIT 1",
            params![],
            sealed_row,
        )
    })
}

/// Replaces every secret with what `reseal` makes of it, in one
/// transaction: all of them or, when `reseal` fails for one, none.
/// Returns how many were rewritten.
pub fn reseal_all<E: From<super::StoreError> + Send>(
    db: &Store,
    reseal: impl Fn(&SealedSecret) -> Result<(Vec<u8>, Vec<u8>), E> + Send + Sync,
) -> Result<usize, E> {
    db.write(|tx| {
        let rows = tx.query(
            "SELECT company_id, name, nonce, ciphertext FROM plugin_secret",
            params![],
            sealed_row,
        )?;
        for row in &rows {
            let (nonce, ct) = reseal(row)?;
            tx.execute(
                "UPDATE plugin_secret SET nonce = ?3, ciphertext = ?4 WHERE company_id = ?1 AND name = ?2",
                params![row.company_id, row.name, nonce, ct],
            )?;
        }
        Ok(rows.len())
    })
}

/// How many secrets the database holds, of every company.
pub fn secret_count(db: &Store) -> Result<usize> {
    let n: i64 = db.read(|c| {
        c.query_one("SELECT COUNT(*) FROM plugin_secret", params![], |r| {
            r.get(0)
        })
    })?;
    Ok(n as usize)
}

/// Forgets every secret of every company; returns how many there were.
pub fn remove_all_secrets(db: &Store) -> Result<usize> {
    db.write(|c| c.execute("DELETE FROM plugin_secret", params![]))
}
