//! The job queue's records: job queue entries with their leases, the job
//! queue log (one run report per run) and each run's ledger (one line per
//! message).

use super::sql::{Conn, Dialect, Row, params};
use super::{CompanyId, Fence, Result, Store};
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
    db.write(|c| {
        c.execute(
            "INSERT INTO job_queue_entry(company_id, job, every_seconds, max_attempts, retry_delay_seconds, next_run)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(company_id, job) DO UPDATE SET every_seconds = excluded.every_seconds,
               max_attempts = excluded.max_attempts, retry_delay_seconds = excluded.retry_delay_seconds,
               next_run = excluded.next_run, attempts = 0, status = 'ready', last_error = NULL",
            params![
                    company,
                    job,
                    i64::from(r.every_seconds),
                    i64::from(r.max_attempts),
                    i64::from(r.retry_delay_seconds),
                    r.next_run
                ],
        )
    })?;
    Ok(())
}

/// Removes a job.
pub fn remove(db: &Store, company: CompanyId, job: &str) -> Result<()> {
    db.write(|c| {
        c.execute(
            "DELETE FROM job_queue_entry WHERE company_id = ?1 AND job = ?2",
            params![company, job],
        )
    })?;
    Ok(())
}

/// Moves the next run to no earlier than `until`.
pub fn postpone(db: &Store, company: CompanyId, job: &str, until: i64) -> Result<()> {
    db.write(|c| {
        c.execute(
            "UPDATE job_queue_entry SET next_run = CASE WHEN next_run > ?3 THEN next_run ELSE ?3 END WHERE company_id = ?1 AND job = ?2",
            params![company, job, until],
        )
    })?;
    Ok(())
}

/// Sets the next run to `at`, earlier or later (to make a job due now).
pub fn set_next_run(db: &Store, company: CompanyId, job: &str, at: i64) -> Result<()> {
    db.write(|c| {
        c.execute(
            "UPDATE job_queue_entry SET next_run = ?3 WHERE company_id = ?1 AND job = ?2",
            params![company, job, at],
        )
    })?;
    Ok(())
}

fn row(r: &Row<'_>) -> Result<JobQueueEntry> {
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
    db.read(|c| {
        c.query(
            &format!("SELECT {COLUMNS} FROM job_queue_entry WHERE company_id = ?1 ORDER BY job"),
            params![company],
            row,
        )
    })
}

/// One job.
pub fn get(db: &Store, company: CompanyId, job: &str) -> Result<Option<JobQueueEntry>> {
    db.read(|c| {
        c.query_opt(
            &format!("SELECT {COLUMNS} FROM job_queue_entry WHERE company_id = ?1 AND job = ?2"),
            params![company, job],
            row,
        )
    })
}

/// The statuses of a job that may be due (`in-process`: a run that never
/// finished, whose lease ran out).
const DUE_STATUSES: &str = "status IN ('ready', 'error', 'partly-done', 'in-process')";

/// Jobs due at `at`, of every company, oldest due first, whatever their
/// leases.
pub fn due(db: &Store, at: i64) -> Result<Vec<JobQueueEntry>> {
    db.read(|c| {
        c.query(
            &format!(
                "SELECT {COLUMNS} FROM job_queue_entry WHERE next_run <= ?1 AND {DUE_STATUSES} ORDER BY next_run"
            ),
            params![at],
            row,
        )
    })
}

/// Which job to take a lease on.
pub enum Pick<'a> {
    /// The oldest due job of this name that no live worker holds.
    NextDue {
        /// The job's name.
        job: &'a str,
        /// Now, Unix seconds (what is due).
        at: i64,
    },
    /// This company's job, due or not ("run now"), unless a live worker
    /// holds it.
    Company {
        /// The company.
        company: CompanyId,
        /// The job's name.
        job: &'a str,
    },
}

/// A worker's claim on a job, as [`take`] writes it.
pub struct Claim<'a> {
    /// The worker (its host, process id and start time).
    pub owner: &'a str,
    /// Now, Unix milliseconds (when other leases run out).
    pub now_ms: i64,
    /// Until when the lease holds unless renewed, Unix milliseconds.
    pub until_ms: i64,
}

/// A job whose lease a worker took.
#[derive(Debug, Clone)]
pub struct Taken {
    /// The job as it was when taken.
    pub entry: JobQueueEntry,
    /// The fence for the run's writes.
    pub fence: Fence,
    /// The worker whose run was cut short, when the job was still in
    /// process under an expired lease (that run is closed as interrupted).
    pub interrupted: Option<Running>,
}

/// Takes the lease on a job, in one transaction: the job goes in process
/// under `claim`'s owner with a new lease token. On PostgreSQL the row is
/// picked `FOR UPDATE SKIP LOCKED`, so that workers taking jobs at the same
/// moment pass each other by instead of queueing on one row; SQLite's one
/// writer at a time does the same. A job still in process under a lease
/// that ran out is taken over: `interrupted` writes what closing that run
/// leaves behind. `None` when there is nothing to take.
pub fn take(
    db: &Store,
    pick: &Pick<'_>,
    claim: &Claim<'_>,
    interrupted: impl Fn(&Running) -> Closing + Send + Sync,
) -> Result<Option<Taken>> {
    db.write(|tx| {
        let skip_locked = match tx.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let free = "(lease_until IS NULL OR lease_until < ?1)";
        let cols = "company_id, job, last_run_at, run_owner, status";
        let found = match pick {
            Pick::NextDue { job, at } => tx.query_opt(
                &format!(
                    "SELECT {cols} FROM job_queue_entry
                     WHERE job = ?2 AND next_run <= ?3 AND {DUE_STATUSES} AND {free}
                     ORDER BY next_run LIMIT 1{skip_locked}"
                ),
                params![claim.now_ms, job, at],
                |r| Ok((running(r)?, r.get::<String>(4)?)),
            )?,
            Pick::Company { company, job } => tx.query_opt(
                &format!(
                    "SELECT {cols} FROM job_queue_entry
                     WHERE company_id = ?2 AND job = ?3 AND {free}{skip_locked}"
                ),
                params![claim.now_ms, company, job],
                |r| Ok((running(r)?, r.get::<String>(4)?)),
            )?,
        };
        let Some((was, status)) = found else {
            return Ok(None);
        };
        let cut_short = (status == "in-process").then_some(was.clone());
        if let Some(run) = &cut_short {
            close_run(tx, run, &interrupted(run))?;
        }
        let at = claim.now_ms / 1000;
        let (entry, token) = tx.query_one(
            &format!(
                "UPDATE job_queue_entry SET status = 'in-process', last_run_at = ?3, run_owner = ?4,
                   lease_owner = ?4, lease_until = ?5, lease_token = lease_token + 1
                 WHERE company_id = ?1 AND job = ?2
                 RETURNING {COLUMNS}, lease_token"
            ),
            params![was.company_id, was.job, at, claim.owner, claim.until_ms],
            |r| Ok((row(r)?, r.get::<i64>(10)?)),
        )?;
        Ok(Some(Taken {
            fence: Fence {
                company: entry.company_id,
                job: entry.job.clone(),
                token,
            },
            entry,
            interrupted: cut_short,
        }))
    })
}

/// Who holds a job's lease and until when, if anybody does.
pub fn lease_holder(
    db: &Store,
    company: CompanyId,
    job: &str,
    now_ms: i64,
) -> Result<Option<(String, i64)>> {
    db.read(|c| {
        c.query_opt(
            "SELECT lease_owner, lease_until FROM job_queue_entry
             WHERE company_id = ?1 AND job = ?2 AND lease_until >= ?3",
            params![company, job, now_ms],
            |r| Ok((r.get::<Option<String>>(0)?.unwrap_or_default(), r.get(1)?)),
        )
    })
}

/// Extends a held lease to `until_ms`; `false` when the lease is no longer
/// `fence`'s (taken over: the run must stop writing, and cannot).
pub fn renew(db: &Store, fence: &Fence, until_ms: i64) -> Result<bool> {
    let changed = db.read(|c| {
        c.execute(
            "UPDATE job_queue_entry SET lease_until = ?4
             WHERE company_id = ?1 AND job = ?2 AND lease_token = ?3",
            params![fence.company, fence.job, fence.token, until_ms],
        )
    })?;
    Ok(changed > 0)
}

fn running(r: &Row<'_>) -> Result<Running> {
    Ok(Running {
        company_id: r.get(0)?,
        job: r.get(1)?,
        started_at: r.get(2)?,
        owner: r.get(3)?,
    })
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
pub fn close_runs(
    db: &Store,
    close: impl Fn(&Running) -> Option<Closing> + Send + Sync,
) -> Result<Vec<Running>> {
    db.write(|tx| {
        let runs = tx.query(
            "SELECT company_id, job, last_run_at, run_owner FROM job_queue_entry WHERE status = 'in-process'",
            params![],
            running,
        )?;
        let mut closed = Vec::new();
        for run in runs {
            let Some(c) = close(&run) else {
                continue;
            };
            close_run(tx, &run, &c)?;
            tx.execute(
                "UPDATE job_queue_entry SET run_owner = NULL, lease_owner = NULL, lease_until = NULL,
                   lease_token = lease_token + 1
                 WHERE company_id = ?1 AND job = ?2",
                params![run.company_id, run.job],
            )?;
            closed.push(run);
        }
        Ok(closed)
    })
}

/// Closes one interrupted run: the job to `error`, due again by `due_by`,
/// a job log line `interrupted`, an activity log warning.
fn close_run(tx: &Conn<'_>, run: &Running, c: &Closing) -> Result<()> {
    tx.execute(
        "UPDATE job_queue_entry SET status = 'error', last_error = ?3,
           next_run = CASE WHEN next_run < ?4 THEN next_run ELSE ?4 END
         WHERE company_id = ?1 AND job = ?2",
        params![run.company_id, run.job, c.last_error, c.due_by],
    )?;
    let now = chrono::Utc::now().to_rfc3339();
    tx.execute(
        "INSERT INTO run_report(company_id, job, at, outcome, report_json) VALUES (?1, ?2, ?3, 'interrupted', NULL)",
        params![run.company_id, run.job, now],
    )?;
    tx.execute(
        "INSERT INTO activity_log(company_id, at, source, severity, description, message_key)
         VALUES (?1, ?2, 'job-queue', 'warning', ?3, NULL)",
        params![run.company_id, now, c.activity],
    )?;
    Ok(())
}

/// Records a run that worked: ready, no attempts, no error, next run at `next_run`.
pub fn set_ready(db: &Store, company: CompanyId, job: &str, next_run: i64) -> Result<()> {
    db.write(|c| {
        c.execute(
            "UPDATE job_queue_entry SET status = 'ready', attempts = 0, last_error = NULL, run_owner = NULL, next_run = ?3, lease_owner = NULL, lease_until = NULL WHERE company_id = ?1 AND job = ?2",
            params![company, job, next_run],
        )
    })?;
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
    db.write(|c| {
        c.execute(
            "UPDATE job_queue_entry SET status = ?6, attempts = ?3, last_error = ?4, next_run = ?5, run_owner = NULL, lease_owner = NULL, lease_until = NULL WHERE company_id = ?1 AND job = ?2",
            params![company, job, f.attempts, f.error, f.next_run, f.status],
        )
    })?;
    Ok(())
}

/// Puts a job on hold, with why.
pub fn set_on_hold(db: &Store, company: CompanyId, job: &str, error: &str) -> Result<()> {
    db.write(|c| {
        c.execute(
            "UPDATE job_queue_entry SET status = 'on-hold', last_error = ?3, run_owner = NULL, lease_owner = NULL, lease_until = NULL WHERE company_id = ?1 AND job = ?2",
            params![company, job, error],
        )
    })?;
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
    /// The worker that ran it (its machine, process id and start time).
    pub worker: Option<String>,
    /// When the run started and ended, Unix milliseconds.
    pub started_at_ms: Option<i64>,
    /// When the run's outcome was recorded, Unix milliseconds.
    pub ended_at_ms: Option<i64>,
    /// The lease token the run held.
    pub lease_token: Option<i64>,
}

/// Who ran a run, and when, as [`record_report`] stores it.
#[derive(Debug, Clone)]
pub struct RunStamp {
    /// The worker.
    pub worker: String,
    /// When the run started, Unix milliseconds.
    pub started_at_ms: i64,
    /// The lease token the run held, if it ran under a lease.
    pub lease_token: Option<i64>,
}

/// The company's job queue log, newest first, at most `limit` lines.
pub fn log(db: &Store, company: CompanyId, limit: usize) -> Result<Vec<JobLogLine>> {
    db.read(|c| {
        c.query(
        "SELECT id, job, at, outcome, report_json, worker, started_at_ms, ended_at_ms, lease_token
         FROM run_report WHERE company_id = ?1 ORDER BY id DESC LIMIT ?2",
        params![company, limit as i64], |r| {
        let json: Option<String> = r.get(4)?;
        Ok(JobLogLine {
            id: r.get(0)?,
            job: r.get(1)?,
            at: r.get(2)?,
            outcome: r.get(3)?,
            report: json.and_then(|j| serde_json::from_str(&j).ok()),
            worker: r.get(5)?,
            started_at_ms: r.get(6)?,
            ended_at_ms: r.get(7)?,
            lease_token: r.get(8)?,
        })
    })
    })
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
    stamp: &RunStamp,
) -> Result<i64> {
    db.write(|tx| {
        let now = chrono::Utc::now();
        let run: i64 = tx.query_one(
            "INSERT INTO run_report(company_id, job, at, outcome, report_json, worker, started_at_ms, ended_at_ms, lease_token)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             RETURNING id",
            params![
                company,
                job,
                now.to_rfc3339(),
                outcome,
                report_json,
                stamp.worker,
                stamp.started_at_ms,
                now.timestamp_millis(),
                stamp.lease_token
            ],
            |r| r.get(0),
        )?;
        for l in ledger {
            tx.execute(
                "INSERT INTO run_ledger(run_id, message_id, internet_message_id, outcome, reason, entries) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run, l.message_id, l.internet_message_id, l.outcome, l.reason, i64::from(l.entries)],
            )?;
        }
        Ok(run)
    })
}

/// How many messages of one run ended with each outcome, as the host recorded them.
pub fn ledger_totals(db: &Store, run: i64) -> Result<std::collections::BTreeMap<String, i64>> {
    let rows = db.read(|c| {
        c.query(
            "SELECT outcome, COUNT(*) FROM run_ledger WHERE run_id = ?1 GROUP BY outcome",
            params![run],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })?;
    Ok(rows.into_iter().collect())
}

/// The ids of a company's recorded runs, oldest first.
pub fn runs(db: &Store, company: CompanyId) -> Result<Vec<i64>> {
    db.read(|c| {
        c.query(
            "SELECT id FROM run_report WHERE company_id = ?1 ORDER BY id",
            params![company],
            |r| r.get(0),
        )
    })
}

/// Marks every job as in process in `owner` (a test stands
/// in for a process that died mid-run).
#[cfg(test)]
pub(crate) fn set_in_process(db: &Store, owner: &str) -> Result<()> {
    db.write(|c| {
        c.execute(
            "UPDATE job_queue_entry SET status = 'in-process', run_owner = ?1",
            params![owner],
        )
    })?;
    Ok(())
}
