//! One way to speak SQL to either database: the record modules write each
//! statement once, in the SQL both SQLite and PostgreSQL understand (`?N`
//! parameters, `ON CONFLICT`, `RETURNING`, `string_agg`, `CASE`), and ask
//! [`Conn::dialect`] for the few places where the two differ.
//!
//! Transactions and savepoints are plain SQL (`BEGIN`, `SAVEPOINT`), the same
//! on both; a [`Tx`] rolls back when it is dropped uncommitted.

use super::{Fence, Result, StoreError};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::MutexGuard;

/// Which database a connection speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A value a statement can bind on both databases.
///
/// Integers are bound as `i64` (PostgreSQL's `BIGINT`, the only integer
/// type of its schema), never as `u32`, which the PostgreSQL client would
/// send as an `oid`.
pub trait Param: rusqlite::ToSql + postgres::types::ToSql + Sync {}
impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Param for T {}

/// A value a row can give on both databases.
pub trait Value: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a> {}
impl<T: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a>> Value for T {}

/// A statement's parameters, as `rusqlite::params!` makes them.
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::sql::Param] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::sql::Param),+] as &[&dyn $crate::store::sql::Param] };
}
pub(crate) use params;

/// One result row.
pub enum Row<'r> {
    /// From SQLite.
    Sqlite(&'r rusqlite::Row<'r>),
    /// From PostgreSQL.
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `i` (from 0) as a `T`.
    pub fn get<T: Value>(&self, i: usize) -> Result<T> {
        Ok(match self {
            Row::Sqlite(r) => r.get(i)?,
            Row::Postgres(r) => r.try_get(i)?,
        })
    }
}

/// A PostgreSQL connection of the pool, with the statements it has prepared
/// (each statement is parsed once per connection, not once per call).
pub struct PgConn {
    /// Always there but while the connection is dropped.
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
}

impl PgConn {
    fn client(&mut self) -> &mut postgres::Client {
        self.client
            .as_mut()
            .expect("a pooled connection has its client until it is dropped")
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime, which must not happen
        // on a thread of the caller's (a pool dropped in an async task).
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            std::thread::spawn(move || drop(client));
        }
    }
}

/// Makes and checks the pool's PostgreSQL connections.
pub struct PgManager {
    config: postgres::Config,
}

impl PgManager {
    /// A manager connecting with `config`, without TLS (see the README).
    pub fn new(config: postgres::Config) -> Self {
        Self { config }
    }
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: Some(self.config.connect(postgres::NoTls)?),
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        conn.client().simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.as_ref().is_none_or(postgres::Client::is_closed)
    }
}

/// A connection for one unit of work.
pub struct Conn<'a> {
    inner: Inner<'a>,
    fence: Option<&'a Fence>,
}

enum Inner<'a> {
    Sqlite(MutexGuard<'a, rusqlite::Connection>),
    // Boxed: a pooled connection is large, a guard is a pointer.
    Postgres(RefCell<Box<r2d2::PooledConnection<PgManager>>>),
}

impl<'a> Conn<'a> {
    pub(super) fn sqlite(
        c: MutexGuard<'a, rusqlite::Connection>,
        fence: Option<&'a Fence>,
    ) -> Self {
        Self {
            inner: Inner::Sqlite(c),
            fence,
        }
    }

    pub(super) fn postgres(c: r2d2::PooledConnection<PgManager>, fence: Option<&'a Fence>) -> Self {
        Self {
            inner: Inner::Postgres(RefCell::new(Box::new(c))),
            fence,
        }
    }

    /// The database this connection speaks to.
    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas).
    pub(super) fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// Runs statements without parameters or results (transaction control,
    /// migrations).
    pub fn batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => c.execute_batch(sql)?,
            Inner::Postgres(c) => c.borrow_mut().client().batch_execute(sql)?,
        }
        Ok(())
    }

    /// Runs one statement; answers how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize> {
        match &self.inner {
            Inner::Sqlite(c) => {
                let params: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| *p as _).collect();
                Ok(c.prepare_cached(sql)?.execute(params.as_slice())?)
            }
            Inner::Postgres(c) => {
                let mut c = c.borrow_mut();
                let stmt = prepared(&mut c, sql)?;
                let params = pg_params(params);
                Ok(c.client().execute(&stmt, &params)? as usize)
            }
        }
    }

    /// Every row of a query, each made into a `T` by `f`.
    pub fn query<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match &self.inner {
            Inner::Sqlite(c) => {
                let params: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| *p as _).collect();
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(params.as_slice())?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Sqlite(r))?);
                }
                Ok(out)
            }
            Inner::Postgres(c) => {
                let mut c = c.borrow_mut();
                let stmt = prepared(&mut c, sql)?;
                let params = pg_params(params);
                let rows = c.client().query(&stmt, &params)?;
                rows.iter().map(|r| f(&Row::Postgres(r))).collect()
            }
        }
    }

    /// The first row of a query, if there is one.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut f = Some(f);
        let mut first = None;
        // Only the first row is made into a `T`.
        self.query(sql, params, |r| {
            if let Some(f) = f.take() {
                first = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(first)
    }

    /// The one row a query must answer with.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, params, f)?.ok_or(StoreError::NoRow)
    }

    /// Starts a transaction: the write lock at once on SQLite (a writer that
    /// reads first must not find its snapshot stale), and, when this
    /// connection is fenced, the check that its job's lease is still held,
    /// which on PostgreSQL also keeps the job row locked until the commit so
    /// that no other worker can take the lease over in between.
    pub fn begin<'c>(&'c self) -> Result<Tx<'c>> {
        self.batch(match self.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        })?;
        let tx = Tx {
            conn: self,
            open: true,
        };
        if let Some(fence) = tx.conn.fence {
            let lock = match tx.dialect() {
                Dialect::Sqlite => "",
                Dialect::Postgres => " FOR UPDATE",
            };
            let token: Option<i64> = tx.query_opt(
                &format!(
                    "SELECT lease_token FROM job_queue_entry WHERE company_id = ?1 AND job = ?2{lock}"
                ),
                params![fence.company, fence.job],
                |r| r.get(0),
            )?;
            if token != Some(fence.token) {
                return Err(StoreError::LeaseLost {
                    job: fence.job.clone(),
                });
            }
        }
        Ok(tx)
    }
}

/// The statement for `sql` on this connection, prepared on first use.
fn prepared(c: &mut PgConn, sql: &str) -> Result<postgres::Statement> {
    if let Some(s) = c.statements.get(sql) {
        return Ok(s.clone());
    }
    let stmt = c.client().prepare(&postgres_sql(sql))?;
    c.statements.insert(sql.to_string(), stmt.clone());
    Ok(stmt)
}

fn pg_params<'p>(params: &'p [&'p dyn Param]) -> Vec<&'p (dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|p| *p as _).collect()
}

/// The statement in PostgreSQL's spelling: `?N` parameters become `$N`
/// (outside quoted text, where a `?` is a question mark).
pub(super) fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// A transaction: [`Tx::commit`] makes its writes last; dropping it first
/// rolls them back (and leaves its connection usable for another).
pub struct Tx<'c> {
    conn: &'c Conn<'c>,
    open: bool,
}

impl<'c> std::ops::Deref for Tx<'c> {
    type Target = Conn<'c>;
    fn deref(&self) -> &Conn<'c> {
        self.conn
    }
}

impl Tx<'_> {
    /// Commits.
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        self.conn.batch("COMMIT")
    }

    /// Runs `f` on a savepoint: its writes stay when it answers `Ok`, and
    /// are rolled back, leaving the rest of the transaction usable, when it
    /// fails (on PostgreSQL a failed statement otherwise aborts the whole
    /// transaction).
    pub fn savepoint<T>(&self, f: impl FnOnce(&Conn<'_>) -> Result<T>) -> Result<T> {
        self.conn.batch("SAVEPOINT page_item")?;
        match f(self.conn) {
            Ok(v) => {
                self.conn.batch("RELEASE SAVEPOINT page_item")?;
                Ok(v)
            }
            Err(e) => {
                self.conn
                    .batch("ROLLBACK TO SAVEPOINT page_item; RELEASE SAVEPOINT page_item")?;
                Err(e)
            }
        }
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A connection that cannot roll back is broken; SQLite rolls
            // back on its next BEGIN's failure, the pool drops a closed one.
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::postgres_sql;

    #[test]
    fn parameters_become_dollars_outside_quotes() {
        assert_eq!(
            postgres_sql("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12 OR c = '?' AND d = ?"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12 OR c = '?' AND d = ?"
        );
    }
}
