//! The ERP's database: one SQLite file, schema by numbered migrations.
//!
//! Every record belongs to a company, as in an ERP; the component is always
//! called in one company's context and sees only that company's rows.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The migrations, in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE company (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE salesperson (
    company_id INTEGER NOT NULL REFERENCES company(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    PRIMARY KEY (company_id, code)
);
CREATE INDEX salesperson_email ON salesperson(company_id, email);
CREATE TABLE contact (
    company_id INTEGER NOT NULL REFERENCES company(id),
    no TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('company', 'person')),
    company_no TEXT,
    email TEXT,
    email2 TEXT,
    PRIMARY KEY (company_id, no)
);
CREATE INDEX contact_email ON contact(company_id, email);
CREATE INDEX contact_email2 ON contact(company_id, email2);
CREATE TABLE contact_alt_address (
    company_id INTEGER NOT NULL,
    contact_no TEXT NOT NULL,
    code TEXT NOT NULL,
    email TEXT,
    PRIMARY KEY (company_id, contact_no, code),
    FOREIGN KEY (company_id, contact_no) REFERENCES contact(company_id, no) ON DELETE CASCADE
);
CREATE INDEX alt_address_email ON contact_alt_address(company_id, email);
CREATE TABLE interaction_template (
    company_id INTEGER NOT NULL REFERENCES company(id),
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    is_email_template INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, code)
);
-- One row per message logged: the idempotency key of the interaction log.
CREATE TABLE logged_message (
    company_id INTEGER NOT NULL REFERENCES company(id),
    message_key TEXT NOT NULL,
    logged_at TEXT NOT NULL,
    PRIMARY KEY (company_id, message_key)
);
CREATE TABLE interaction_log_entry (
    company_id INTEGER NOT NULL REFERENCES company(id),
    entry_no INTEGER NOT NULL,
    contact_no TEXT NOT NULL,
    contact_company_no TEXT,
    contact_alt_address_code TEXT,
    salesperson_code TEXT NOT NULL,
    interaction_template_code TEXT NOT NULL,
    correspondence_type TEXT NOT NULL DEFAULT 'email',
    information_flow TEXT NOT NULL CHECK (information_flow IN ('inbound', 'outbound')),
    initiated_by TEXT NOT NULL CHECK (initiated_by IN ('us', 'them')),
    description TEXT NOT NULL,
    subject TEXT NOT NULL,
    datetime TEXT NOT NULL,
    email_logged INTEGER NOT NULL DEFAULT 1,
    message_key TEXT NOT NULL,
    PRIMARY KEY (company_id, entry_no),
    UNIQUE (company_id, message_key, contact_no, salesperson_code)
);
CREATE INDEX entry_contact ON interaction_log_entry(company_id, contact_no);
-- The link record of a logged message (Business Central's attachment).
CREATE TABLE attachment (
    company_id INTEGER NOT NULL REFERENCES company(id),
    message_key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    internet_message_id TEXT,
    web_link TEXT NOT NULL,
    PRIMARY KEY (company_id, message_key)
);
CREATE TABLE activity_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id INTEGER NOT NULL REFERENCES company(id),
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    severity TEXT NOT NULL,
    description TEXT NOT NULL,
    message_key TEXT
);
CREATE TABLE job_queue_entry (
    company_id INTEGER NOT NULL REFERENCES company(id),
    job TEXT NOT NULL,
    every_seconds INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    retry_delay_seconds INTEGER NOT NULL,
    next_run INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'ready',
    last_error TEXT,
    last_run_at INTEGER,
    PRIMARY KEY (company_id, job)
);
CREATE TABLE run_report (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id INTEGER NOT NULL REFERENCES company(id),
    job TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    report_json TEXT
);
CREATE TABLE plugin_state (
    company_id INTEGER NOT NULL REFERENCES company(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (company_id, key)
);
-- Secrets: nonce and ciphertext only; the key never enters the database.
CREATE TABLE plugin_secret (
    company_id INTEGER NOT NULL REFERENCES company(id),
    name TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (company_id, name)
);
"#,
    // The run ledger: one row per message per run, so that every run's
    // "seen = logged + not logged + quarantined + deferred" can be checked.
    r#"
CREATE TABLE run_ledger (
    run_id INTEGER NOT NULL REFERENCES run_report(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    internet_message_id TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('logged', 'already-logged', 'not-logged', 'quarantined', 'deferred')),
    reason TEXT,
    entries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX run_ledger_run ON run_ledger(run_id);
"#,
    // Links that last (SPEC §4): where the message was logged from and last
    // seen, and whether `entries repair-links` could find it; opportunities
    // made from entries; indexes for the entry filters.
    r#"
ALTER TABLE attachment ADD COLUMN mailbox TEXT;
ALTER TABLE attachment ADD COLUMN folder TEXT;
ALTER TABLE attachment ADD COLUMN link_status TEXT NOT NULL DEFAULT 'ok'
    CHECK (link_status IN ('ok', 'not-found'));
ALTER TABLE attachment ADD COLUMN link_checked_at TEXT;
CREATE TABLE opportunity (
    company_id INTEGER NOT NULL REFERENCES company(id),
    no TEXT NOT NULL,
    description TEXT NOT NULL,
    contact_no TEXT NOT NULL,
    contact_company_no TEXT,
    salesperson_code TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'not-started'
        CHECK (status IN ('not-started', 'in-progress', 'won', 'lost')),
    created_at TEXT NOT NULL,
    from_entry_no INTEGER,
    PRIMARY KEY (company_id, no)
);
-- One opportunity per entry: creating it twice gives the same one back.
CREATE UNIQUE INDEX opportunity_from_entry ON opportunity(company_id, from_entry_no)
    WHERE from_entry_no IS NOT NULL;
ALTER TABLE interaction_log_entry ADD COLUMN opportunity_no TEXT;
CREATE INDEX entry_salesperson ON interaction_log_entry(company_id, salesperson_code);
CREATE INDEX entry_datetime ON interaction_log_entry(company_id, datetime);
"#,
    // Which process runs a job, so that the next start can tell a run that
    // died with its process (SIGKILL, power loss) from one still going on.
    r#"
ALTER TABLE job_queue_entry ADD COLUMN run_owner TEXT;
"#,
];

/// A shared handle to the database.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

/// A company's id in the database.
pub type CompanyId = i64;

impl Db {
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
        let done: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if done > MIGRATIONS.len() {
            anyhow::bail!(
                "the database was written by a newer version of email-logging-host (schema {done}, this one knows {})",
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Locks the connection for one unit of work.
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned lock is usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The company's id, creating the company when it does not exist.
    pub fn company(&self, name: &str) -> anyhow::Result<CompanyId> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO company(name) VALUES (?1) ON CONFLICT(name) DO NOTHING",
            params![name],
        )?;
        Ok(conn.query_row(
            "SELECT id FROM company WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )?)
    }

    /// The company's id, if it exists.
    pub fn find_company(&self, name: &str) -> anyhow::Result<Option<CompanyId>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT id FROM company WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// All companies, by name.
    pub fn companies(&self) -> anyhow::Result<Vec<(CompanyId, String)>> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT id, name FROM company ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        let db = Db::open(&path).unwrap();
        db.company("CRONUS").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("erp.db-wal")), 0o600);
        drop(db);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Db::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600, "an older, open file is closed on open");
    }

    #[test]
    fn migrates_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("erp.db");
        let db = Db::open(&path).unwrap();
        let a = db.company("CRONUS").unwrap();
        drop(db);
        let db = Db::open(&path).unwrap();
        assert_eq!(db.company("CRONUS").unwrap(), a);
        let v: usize = db
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len());
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("erp.db");
        Db::open(&path)
            .unwrap()
            .lock()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = Db::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer version"), "{err}");
    }
}
