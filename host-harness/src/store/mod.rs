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
pub mod sql;

use rusqlite::Connection;
use sql::{Conn, PgManager, Tx};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A shared handle to the database: the embedded SQLite file, or a
/// PostgreSQL database that many hosts share.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    fence: Option<Arc<Fence>>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(r2d2::Pool<PgManager>),
}

/// A job's lease as one run holds it: every transaction of a store fenced
/// with it first checks that the job's lease token is still this one, so a
/// worker whose lease was taken over commits nothing more for the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The job's company.
    pub company: CompanyId,
    /// The job.
    pub job: String,
    /// The lease token the run was given.
    pub token: i64,
}

/// A company's id in the database.
pub type CompanyId = i64;

/// Why the database could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (its own words: they name the table or constraint).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (its own words: the server's message when it gave one).
    #[error("PostgreSQL: {}", .0.as_db_error().map_or_else(|| .0.to_string(), |d| d.to_string()))]
    Postgres(#[from] postgres::Error),
    /// No connection of the pool could be had in time.
    #[error("cannot reach the PostgreSQL database: {0}")]
    Pool(#[from] r2d2::Error),
    /// A query that must answer with a row answered with none.
    #[error("the database has no such row")]
    NoRow,
    /// The run's lease on its job was taken over (this worker was too slow
    /// to renew it, or was taken for dead): nothing of this transaction was
    /// committed, and the worker that holds the lease now finishes the work.
    #[error(
        "the lease on the job {job:?} was taken over by another worker; nothing more is committed for it here"
    )]
    LeaseLost {
        /// The job.
        job: String,
    },
}

impl StoreError {
    /// Whether this is a lost lease (the run must stop, not retry).
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, StoreError::LeaseLost { .. })
    }
}

/// A store call's result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where the database is, as `--database` and `EMAIL_LOGGING_DATABASE` give it.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Location {
    /// The SQLite file in the data directory (the default).
    #[default]
    Embedded,
    /// A PostgreSQL database, `postgres://user:password@host:port/name`.
    Postgres(String),
}

impl std::fmt::Debug for Location {
    // The URL may hold the database password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Embedded => f.write_str("Embedded"),
            Location::Postgres(url) => write!(f, "Postgres({})", redacted(url)),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s == "sqlite" {
            return Ok(Location::Embedded);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            // Checked now, so that a typo is told before anything starts.
            s.parse::<postgres::Config>()
                .map_err(|e| format!("{} is not a PostgreSQL URL: {e}", redacted(s)))?;
            return Ok(Location::Postgres(s.to_string()));
        }
        Err(format!(
            "{} is not a database: give `sqlite` (the embedded file, the default) or postgres://user:password@host:port/database",
            redacted(s)
        ))
    }
}

/// A database URL as it may be shown: without its password.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) if url.contains('@') => "(a database URL)".into(),
        Err(_) => url.to_string(),
    }
}

/// How many connections one host keeps to PostgreSQL: a run holds one at a
/// time, the web page and the lease renewal one each.
const POOL_SIZE: u32 = 8;

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

    /// Connects to a PostgreSQL database and brings its schema up to date
    /// (hosts starting together migrate it once: the migration holds a lock).
    pub fn open_postgres(url: &str) -> anyhow::Result<Self> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("{} is not a PostgreSQL URL: {e}", redacted(url)))?;
        // Once by hand first: a wrong address or password is told at once,
        // with the server's reason, where the pool would retry for its timeout.
        off_runtime(|| config.connect(postgres::NoTls).map(drop)).map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to {}: {:#}",
                redacted(url),
                anyhow::Error::from(e)
            )
        })?;
        let pool = off_runtime(|| {
            r2d2::Pool::builder()
                .max_size(POOL_SIZE)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(30))
                .build(PgManager::new(config))
        })
        .map_err(|e| anyhow::anyhow!("cannot connect to {}: {e}", redacted(url)))?;
        let store = Self {
            backend: Backend::Postgres(pool),
            fence: None,
        };
        store.with_conn(|c| schema::migrate(&c))??;
        Ok(store)
    }

    /// Opens the database at `location`, the embedded one being the SQLite
    /// file `embedded`.
    pub fn open_at(location: &Location, embedded: &Path) -> anyhow::Result<Self> {
        match location {
            Location::Embedded => Self::open(embedded),
            Location::Postgres(url) => Self::open_postgres(url),
        }
    }

    fn init(conn: Connection) -> anyhow::Result<Self> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // WAL lets `entries` read while `serve` writes; in-memory ignores it.
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.set_prepared_statement_cache_capacity(128);
        let store = Self {
            backend: Backend::Sqlite(Arc::new(Mutex::new(conn))),
            fence: None,
        };
        store.with_conn(|c| schema::migrate(&c))??;
        Ok(store)
    }

    /// Which database this is.
    pub fn dialect(&self) -> sql::Dialect {
        match self.backend {
            Backend::Sqlite(_) => sql::Dialect::Sqlite,
            Backend::Postgres(_) => sql::Dialect::Postgres,
        }
    }

    /// This store, with every transaction fenced by `fence`.
    pub fn fenced(&self, fence: Fence) -> Self {
        Self {
            backend: self.backend.clone(),
            fence: Some(Arc::new(fence)),
        }
    }

    /// Runs `f` on a connection. PostgreSQL's client blocks on a runtime of
    /// its own, so its work is done off the caller's async runtime.
    pub(crate) fn with_conn<T: Send>(&self, f: impl FnOnce(Conn<'_>) -> T + Send) -> Result<T> {
        let fence = self.fence.as_deref();
        match &self.backend {
            Backend::Sqlite(c) => Ok(f(Conn::sqlite(lock(c), fence))),
            Backend::Postgres(pool) => off_runtime(|| Ok(f(Conn::postgres(pool.get()?, fence)))),
        }
    }

    /// Runs `f` on a connection outside any transaction (reads, and single
    /// statements of unfenced stores).
    pub(crate) fn read<T: Send>(&self, f: impl FnOnce(&Conn<'_>) -> Result<T> + Send) -> Result<T> {
        self.with_conn(|c| f(&c))?
    }

    /// Runs `f` in one transaction, committed when it answers `Ok`.
    pub(crate) fn write<T: Send, E: From<StoreError> + Send>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        self.with_conn(|c| {
            let tx = c.begin()?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        })?
    }

    /// Writes the WAL back into the database file and empties it, so that
    /// what is stored can be read from the one file (tests look there for
    /// plain secrets). PostgreSQL has no such file: nothing to do.
    pub fn checkpoint(&self) -> Result<()> {
        self.read(|c| {
            if let Some(c) = c.as_sqlite() {
                // The pragma answers with a row (busy, log and checkpointed pages).
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            Ok(())
        })
    }
}

/// Locks the SQLite connection for one unit of work.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave SQLite half-written
    // (transactions roll back on drop), so a poisoned lock is usable.
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs blocking database work where blocking is allowed: at once outside
/// an async runtime, and on a thread of its own inside one (the PostgreSQL
/// client would otherwise start its runtime within the caller's).
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
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
        let v = db.read(|c| Ok(schema::version(c).unwrap())).unwrap();
        assert_eq!(v, schema::MIGRATIONS.len());
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("erp.db");
        Store::open(&path)
            .unwrap()
            .read(|c| c.batch("PRAGMA user_version = 99"))
            .unwrap();
        let err = Store::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer version"), "{err}");
    }
}
