//! The activity log: what the component and the job queue say happened.

use super::sql::{Conn, params};
use super::{CompanyId, Result, Store};
use serde::Serialize;

/// An activity line to append: severity, description and message key.
pub type NewActivity<'a> = (&'a str, &'a str, Option<&'a str>);

/// Appends activity log lines in one transaction, in order.
pub fn log_activities(
    db: &Store,
    company: CompanyId,
    source: &str,
    lines: &[NewActivity<'_>],
) -> Result<()> {
    db.write(|tx| append(tx, company, source, lines))
}

/// Appends lines on a connection already held, as part of its transaction
/// (a host write that must be logged together with what it did).
pub(super) fn append(
    conn: &Conn<'_>,
    company: CompanyId,
    source: &str,
    lines: &[NewActivity<'_>],
) -> Result<()> {
    let at = chrono::Utc::now().to_rfc3339();
    for (severity, description, key) in lines {
        conn.execute(
            "INSERT INTO activity_log(company_id, at, source, severity, description, message_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![company, at, source, severity, description, key],
        )?;
    }
    Ok(())
}

/// Appends an activity log line.
pub fn log_activity(
    db: &Store,
    company: CompanyId,
    source: &str,
    severity: &str,
    description: &str,
    key: Option<&str>,
) -> Result<()> {
    log_activities(db, company, source, &[(severity, description, key)])
}

/// An activity log line.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityView {
    /// When.
    pub at: String,
    /// Who wrote it.
    pub source: String,
    /// `info`, `warning` or `error`.
    pub severity: String,
    /// What happened.
    pub description: String,
    /// The message key.
    pub message_key: Option<String>,
}

/// The activity log, newest last.
pub fn activities(db: &Store, company: CompanyId) -> Result<Vec<ActivityView>> {
    db.read(|c| {
        c.query(
            "SELECT at, source, severity, description, message_key FROM activity_log WHERE company_id = ?1 ORDER BY id",
            params![company],
            |r| {
                Ok(ActivityView {
                    at: r.get(0)?,
                    source: r.get(1)?,
                    severity: r.get(2)?,
                    description: r.get(3)?,
                    message_key: r.get(4)?,
                })
            },
        )
    })
}

/// The activity log, newest first, at most `limit` lines.
pub fn recent_activities(
    db: &Store,
    company: CompanyId,
    limit: usize,
) -> Result<Vec<ActivityView>> {
    let mut all = activities(db, company)?;
    all.reverse();
    all.truncate(limit);
    Ok(all)
}
