//! The ERP's database, and the only place that speaks SQL: one SQLite
//! file, one module per kind of record, each behind a small typed API.
//!
//! Every record belongs to a company, as in an ERP; the component is always
//! called in one company's context and sees only that company's rows.

pub mod activity;
pub mod company_domains;
pub mod entries;
pub mod jobs;
pub mod opportunities;
pub mod plugin_state;
pub mod policy;
pub mod records;
mod schema;

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A shared handle to the database.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

/// A company's id in the database.
pub type CompanyId = i64;

/// Why the database could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (its own words: they name the table or constraint).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// A store call's result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl Store {
    /// Opens (creating if needed) and migrates the database file. The file
    /// and its WAL are readable by their owner only: they hold contact data.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        owner_only(path)?;
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory database, for tests of host modules.
    pub fn open_in_memory() -> anyhow::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> anyhow::Result<Self> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // WAL lets `entries` read while `serve` writes; in-memory ignores it.
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Locks the connection for one unit of work.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned lock is usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the WAL back into the database file and empties it, so that
    /// what is stored can be read from the one file (tests look there for
    /// plain secrets).
    pub fn checkpoint(&self) -> Result<()> {
        // The pragma answers with a row (busy, log and checkpointed pages).
        self.lock()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// Creates the database file owner-only when it is new, and takes read
/// and write access from everybody else when an older version left it open
/// (SQLite gives its `-wal` and `-shm` files the database file's mode).
fn owner_only(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        let mut names = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            names.push(name.into());
        }
        for file in names {
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                    |e| anyhow::anyhow!("cannot make {} owner-only: {e}", file.display()),
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_wal_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("erp.db");
        let db = Store::open(&path).unwrap();
        db.company("CRONUS").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("erp.db-wal")), 0o600);
        drop(db);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Store::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600, "an older, open file is closed on open");
    }

    #[test]
    fn migrates_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("erp.db");
        let db = Store::open(&path).unwrap();
        let a = db.company("CRONUS").unwrap();
        drop(db);
        let db = Store::open(&path).unwrap();
        assert_eq!(db.company("CRONUS").unwrap(), a);
        let v = schema::version(&db.lock()).unwrap();
        assert_eq!(v, schema::MIGRATIONS.len());
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("erp.db");
        Store::open(&path)
            .unwrap()
            .lock()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = Store::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer version"), "{err}");
    }
}
