//! The job queue's records: job queue entries, the job queue log (one run
//! report per run) and each run's ledger (one line per message).

use super::{CompanyId, Result, Store};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A job queue entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JobQueueEntry {
    /// The company.
    pub company_id: CompanyId,
    /// The job's name.
    pub job: String,
    /// Seconds between runs.
    pub every_seconds: i64,
    /// Attempts per failed run.
    pub max_attempts: i64,
    /// Seconds between attempts.
    pub retry_delay_seconds: i64,
    /// Next run, Unix seconds.
    pub next_run: i64,
    /// Failed attempts of the current run.
    pub attempts: i64,
    /// `ready`, `in-process`, `partly-done`, `error`, `on-hold`.
    pub status: String,
    /// The last error.
    pub last_error: Option<String>,
    /// When the last run started, Unix seconds.
    pub last_run_at: Option<i64>,
}

/// A recurring job as [`ensure`] writes it.
pub struct Recurrence {
    /// Seconds between runs.
    pub every_seconds: u32,
    /// Attempts per failed run.
    pub max_attempts: u8,
    /// Seconds between attempts.
    pub retry_delay_seconds: u32,
    /// The first run, Unix seconds.
    pub next_run: i64,
}

/// Creates or updates a recurring job, ready with no attempts and no error.
pub fn ensure(db: &Store, company: CompanyId, job: &str, r: &Recurrence) -> Result<()> {
    db.lock().execute(
        "INSERT INTO job_queue_entry(company_id, job, every_seconds, max_attempts, retry_delay_seconds, next_run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(company_id, job) DO UPDATE SET every_seconds = excluded.every_seconds,
           max_attempts = excluded.max_attempts, retry_delay_seconds = excluded.retry_delay_seconds,
           next_run = excluded.next_run, attempts = 0, status = 'ready', last_error = NULL",
        params![company, job, r.every_seconds, r.max_attempts, r.retry_delay_seconds, r.next_run],
    )?;
    Ok(())
}

/// Removes a job.
pub fn remove(db: &Store, company: CompanyId, job: &str) -> Result<()> {
    db.lock().execute(
        "DELETE FROM job_queue_entry WHERE company_id = ?1 AND job = ?2",
        params![company, job],
    )?;
    Ok(())
}

/// Moves the next run to no earlier than `until`.
pub fn postpone(db: &Store, company: CompanyId, job: &str, until: i64) -> Result<()> {
    db.lock().execute(
        "UPDATE job_queue_entry SET next_run = MAX(next_run, ?3) WHERE company_id = ?1 AND job = ?2",
        params![company, job, until],
    )?;
    Ok(())
}

/// Sets the next run to `at`, earlier or later (to make a job due now).
pub fn set_next_run(db: &Store, company: CompanyId, job: &str, at: i64) -> Result<()> {
    db.lock().execute(
        "UPDATE job_queue_entry SET next_run = ?3 WHERE company_id = ?1 AND job = ?2",
        params![company, job, at],
    )?;
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobQueueEntry> {
    Ok(JobQueueEntry {
        company_id: r.get(0)?,
        job: r.get(1)?,
        every_seconds: r.get(2)?,
        max_attempts: r.get(3)?,
        retry_delay_seconds: r.get(4)?,
        next_run: r.get(5)?,
        attempts: r.get(6)?,
        status: r.get(7)?,
        last_error: r.get(8)?,
        last_run_at: r.get(9)?,
    })
}

const COLUMNS: &str = "company_id, job, every_seconds, max_attempts, retry_delay_seconds, next_run, attempts, status, last_error, last_run_at";

/// A company's job queue entries, by name.
pub fn list(db: &Store, company: CompanyId) -> Result<Vec<JobQueueEntry>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM job_queue_entry WHERE company_id = ?1 ORDER BY job"
    ))?;
    let rows = stmt.query_map(params![company], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One job.
pub fn get(db: &Store, company: CompanyId, job: &str) -> Result<Option<JobQueueEntry>> {
    Ok(db
        .lock()
        .query_row(
            &format!("SELECT {COLUMNS} FROM job_queue_entry WHERE company_id = ?1 AND job = ?2"),
            params![company, job],
            row,
        )
        .optional()?)
}

/// Jobs due at `at`, of every company, oldest due first. A job left
/// `in-process` by a crashed host is due again: its run never finished.
pub fn due(db: &Store, at: i64) -> Result<Vec<JobQueueEntry>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM job_queue_entry WHERE next_run <= ?1 AND status IN ('ready', 'error', 'partly-done', 'in-process') ORDER BY next_run"
    ))?;
    let rows = stmt.query_map(params![at], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks a job as running since `at` in the process named `owner`.
pub fn start(db: &Store, company: CompanyId, job: &str, at: i64, owner: &str) -> Result<()> {
    db.lock().execute(
        "UPDATE job_queue_entry SET status = 'in-process', last_run_at = ?3, run_owner = ?4 WHERE company_id = ?1 AND job = ?2",
        params![company, job, at, owner],
    )?;
    Ok(())
}

/// A run in process, as the job queue entry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The company.
    pub company_id: CompanyId,
    /// The job.
    pub job: String,
    /// When the run started, Unix seconds.
    pub started_at: Option<i64>,
    /// The process that runs it.
    pub owner: Option<String>,
}

/// What closing an interrupted run writes.
pub struct Closing {
    /// The job's last error.
    pub last_error: String,
    /// The activity log line.
    pub activity: String,
    /// The job is due again no later than this, Unix seconds.
    pub due_by: i64,
}

/// Closes, in one transaction, the runs in process that `close` gives a
/// [`Closing`] for: each job goes to `error`, and gets a job log line
/// `interrupted` and an activity log warning. Returns the runs closed.
pub fn close_runs(db: &Store, close: impl Fn(&Running) -> Option<Closing>) -> Result<Vec<Running>> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let running: Vec<Running> = {
        let mut stmt = tx.prepare(
            "SELECT company_id, job, last_run_at, run_owner FROM job_queue_entry WHERE status = 'in-process'",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Running {
                company_id: r.get(0)?,
                job: r.get(1)?,
                started_at: r.get(2)?,
                owner: r.get(3)?,
            })
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut closed = Vec::new();
    for run in running {
        let Some(c) = close(&run) else {
            continue;
        };
        tx.execute(
            "UPDATE job_queue_entry SET status = 'error', last_error = ?3, next_run = MIN(next_run, ?4), run_owner = NULL
             WHERE company_id = ?1 AND job = ?2",
            params![run.company_id, run.job, c.last_error, c.due_by],
        )?;
        tx.execute(
            "INSERT INTO run_report(company_id, job, at, outcome, report_json) VALUES (?1, ?2, ?3, 'interrupted', NULL)",
            params![run.company_id, run.job, chrono::Utc::now().to_rfc3339()],
        )?;
        tx.execute(
            "INSERT INTO activity_log(company_id, at, source, severity, description, message_key)
             VALUES (?1, ?2, 'job-queue', 'warning', ?3, NULL)",
            params![run.company_id, chrono::Utc::now().to_rfc3339(), c.activity],
        )?;
        closed.push(run);
    }
    tx.commit()?;
    Ok(closed)
}

/// Records a run that worked: ready, no attempts, no error, next run at `next_run`.
pub fn set_ready(db: &Store, company: CompanyId, job: &str, next_run: i64) -> Result<()> {
    db.lock().execute(
        "UPDATE job_queue_entry SET status = 'ready', attempts = 0, last_error = NULL, run_owner = NULL, next_run = ?3 WHERE company_id = ?1 AND job = ?2",
        params![company, job, next_run],
    )?;
    Ok(())
}

/// A run that failed (or was partly done), as the job queue records it.
pub struct Failure<'a> {
    /// `error` or `partly-done`.
    pub status: &'static str,
    /// Failed attempts of the current run.
    pub attempts: i64,
    /// What went wrong.
    pub error: &'a str,
    /// Next run, Unix seconds.
    pub next_run: i64,
}

/// Records a run that failed or was partly done.
pub fn set_failed(db: &Store, company: CompanyId, job: &str, f: &Failure<'_>) -> Result<()> {
    db.lock().execute(
        "UPDATE job_queue_entry SET status = ?6, attempts = ?3, last_error = ?4, next_run = ?5 WHERE company_id = ?1 AND job = ?2",
        params![company, job, f.attempts, f.error, f.next_run, f.status],
    )?;
    Ok(())
}

/// Puts a job on hold, with why.
pub fn set_on_hold(db: &Store, company: CompanyId, job: &str, error: &str) -> Result<()> {
    db.lock().execute(
        "UPDATE job_queue_entry SET status = 'on-hold', last_error = ?3, run_owner = NULL WHERE company_id = ?1 AND job = ?2",
        params![company, job, error],
    )?;
    Ok(())
}

/// One line of the job queue log: a run and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct JobLogLine {
    /// The run's id.
    pub id: i64,
    /// The job.
    pub job: String,
    /// When it ended, RFC 3339.
    pub at: String,
    /// `success`, `partly-done`, `throttled`, `not-enabled`,
    /// `needs-attention`, `failed`, `fault` or `interrupted`.
    pub outcome: String,
    /// The run report, for runs that finished.
    pub report: Option<serde_json::Value>,
}

/// The company's job queue log, newest first, at most `limit` lines.
pub fn log(db: &Store, company: CompanyId, limit: usize) -> Result<Vec<JobLogLine>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(
        "SELECT id, job, at, outcome, report_json FROM run_report WHERE company_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![company, limit as i64], |r| {
        let json: Option<String> = r.get(4)?;
        Ok(JobLogLine {
            id: r.get(0)?,
            job: r.get(1)?,
            at: r.get(2)?,
            outcome: r.get(3)?,
            report: json.and_then(|j| serde_json::from_str(&j).ok()),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One message's line in a run's ledger.
pub struct LedgerRow<'a> {
    /// The message id.
    pub message_id: &'a str,
    /// The `internetMessageId`.
    pub internet_message_id: Option<&'a str>,
    /// `logged`, `already-logged`, `not-logged`, `quarantined` or `deferred`.
    pub outcome: &'static str,
    /// Why.
    pub reason: Option<&'a str>,
    /// Entries created.
    pub entries: u32,
}

/// Stores a run's report and its ledger in one transaction; returns the run's id.
pub fn record_report(
    db: &Store,
    company: CompanyId,
    job: &str,
    outcome: &str,
    report_json: Option<&str>,
    ledger: &[LedgerRow<'_>],
) -> Result<i64> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO run_report(company_id, job, at, outcome, report_json) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![company, job, chrono::Utc::now().to_rfc3339(), outcome, report_json],
    )?;
    let run = tx.last_insert_rowid();
    for l in ledger {
        tx.execute(
            "INSERT INTO run_ledger(run_id, message_id, internet_message_id, outcome, reason, entries) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run, l.message_id, l.internet_message_id, l.outcome, l.reason, l.entries],
        )?;
    }
    tx.commit()?;
    Ok(run)
}

/// How many messages of one run ended with each outcome, as the host recorded them.
pub fn ledger_totals(db: &Store, run: i64) -> Result<std::collections::BTreeMap<String, i64>> {
    let conn = db.lock();
    let mut stmt = conn
        .prepare("SELECT outcome, COUNT(*) FROM run_ledger WHERE run_id = ?1 GROUP BY outcome")?;
    let rows = stmt.query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The ids of a company's recorded runs, oldest first.
pub fn runs(db: &Store, company: CompanyId) -> Result<Vec<i64>> {
    let conn = db.lock();
    let mut stmt = conn.prepare("SELECT id FROM run_report WHERE company_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map(params![company], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks every job as in process in `owner` (a test stands
/// in for a process that died mid-run).
#[cfg(test)]
pub(crate) fn set_in_process(db: &Store, owner: &str) -> Result<()> {
    db.lock().execute(
        "UPDATE job_queue_entry SET status = 'in-process', run_owner = ?1",
        [owner],
    )?;
    Ok(())
}
