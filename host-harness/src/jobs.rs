//! The job queue: persistent job queue entries with recurrence, next run,
//! attempts, status and last error, as an ERP keeps them.

use crate::db::{CompanyId, Db};
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

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Creates or updates a recurring job.
pub fn ensure(
    db: &Db,
    company: CompanyId,
    job: &str,
    every: u32,
    first_in: u32,
    max_attempts: u8,
    retry_delay: u32,
) -> anyhow::Result<()> {
    db.lock().execute(
        "INSERT INTO job_queue_entry(company_id, job, every_seconds, max_attempts, retry_delay_seconds, next_run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(company_id, job) DO UPDATE SET every_seconds = excluded.every_seconds,
           max_attempts = excluded.max_attempts, retry_delay_seconds = excluded.retry_delay_seconds,
           next_run = excluded.next_run, attempts = 0, status = 'ready', last_error = NULL",
        params![company, job, every.max(1), max_attempts.max(1), retry_delay, now() + i64::from(first_in)],
    )?;
    Ok(())
}

/// Removes a job.
pub fn remove(db: &Db, company: CompanyId, job: &str) -> anyhow::Result<()> {
    db.lock().execute(
        "DELETE FROM job_queue_entry WHERE company_id = ?1 AND job = ?2",
        params![company, job],
    )?;
    Ok(())
}

/// Moves the next run to no earlier than `until`.
pub fn postpone(db: &Db, company: CompanyId, job: &str, until: i64) -> anyhow::Result<()> {
    db.lock().execute(
        "UPDATE job_queue_entry SET next_run = MAX(next_run, ?3) WHERE company_id = ?1 AND job = ?2",
        params![company, job, until],
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
pub fn list(db: &Db, company: CompanyId) -> anyhow::Result<Vec<JobQueueEntry>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM job_queue_entry WHERE company_id = ?1 ORDER BY job"
    ))?;
    let rows = stmt.query_map(params![company], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
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
pub fn log(db: &Db, company: CompanyId, limit: usize) -> anyhow::Result<Vec<JobLogLine>> {
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

/// One job.
pub fn get(db: &Db, company: CompanyId, job: &str) -> anyhow::Result<Option<JobQueueEntry>> {
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
pub fn due(db: &Db, at: i64) -> anyhow::Result<Vec<JobQueueEntry>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM job_queue_entry WHERE next_run <= ?1 AND status IN ('ready', 'error', 'partly-done', 'in-process') ORDER BY next_run"
    ))?;
    let rows = stmt.query_map(params![at], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// This process, as a job's run owner: its pid and, where the system tells,
/// its start time, so that a later process with the same pid is not taken
/// for it.
pub fn this_process() -> String {
    owner_of(std::process::id()).unwrap_or_else(|| std::process::id().to_string())
}

/// The owner name of a live process, if it is alive.
fn owner_of(pid: u32) -> Option<String> {
    // Field 22 of /proc/PID/stat is the start time; the command name before
    // it is in parentheses and may hold spaces.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let start = after_name.split_whitespace().nth(19)?;
    Some(format!("{pid}:{start}"))
}

/// Whether the process that owns a run is gone.
fn owner_is_gone(owner: &str) -> bool {
    let Some(pid) = owner.split(':').next().and_then(|p| p.parse::<u32>().ok()) else {
        return true;
    };
    if owner.contains(':') {
        return owner_of(pid).as_deref() != Some(owner);
    }
    // Without a start time, ask the system whether the pid is alive.
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    !alive
}

/// Marks a job as running in this process.
pub fn start(db: &Db, company: CompanyId, job: &str) -> anyhow::Result<()> {
    db.lock().execute(
        "UPDATE job_queue_entry SET status = 'in-process', last_run_at = ?3, run_owner = ?4 WHERE company_id = ?1 AND job = ?2",
        params![company, job, now(), this_process()],
    )?;
    Ok(())
}

/// A run that died with its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The company.
    pub company_id: CompanyId,
    /// The job.
    pub job: String,
    /// When the run started, Unix seconds.
    pub started_at: Option<i64>,
}

/// Closes the runs whose process died while they ran: each gets a job log
/// line `interrupted` and its job is due again at once, in `error` with
/// what happened as its last error (the next run finishes the work).
/// Runs of live processes are left alone.
pub fn close_interrupted(db: &Db) -> anyhow::Result<Vec<Interrupted>> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let running: Vec<(CompanyId, String, Option<i64>, Option<String>)> = {
        let mut stmt = tx.prepare(
            "SELECT company_id, job, last_run_at, run_owner FROM job_queue_entry WHERE status = 'in-process'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut closed = Vec::new();
    for (company, job, started, owner) in running {
        if owner.as_deref().is_some_and(|o| !owner_is_gone(o)) {
            continue;
        }
        let when = started
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "an unknown time".into());
        let text = format!(
            "the run started at {when} was interrupted: the host process stopped before it finished; the next run finishes its work"
        );
        tx.execute(
            "UPDATE job_queue_entry SET status = 'error', last_error = ?3, next_run = MIN(next_run, ?4), run_owner = NULL
             WHERE company_id = ?1 AND job = ?2",
            params![company, job, text, now()],
        )?;
        tx.execute(
            "INSERT INTO run_report(company_id, job, at, outcome, report_json) VALUES (?1, ?2, ?3, 'interrupted', NULL)",
            params![company, job, chrono::Utc::now().to_rfc3339()],
        )?;
        tx.execute(
            "INSERT INTO activity_log(company_id, at, source, severity, description, message_key)
             VALUES (?1, ?2, 'job-queue', 'warning', ?3, NULL)",
            params![
                company,
                chrono::Utc::now().to_rfc3339(),
                format!("Email Logging: {text}")
            ],
        )?;
        closed.push(Interrupted {
            company_id: company,
            job,
            started_at: started,
        });
    }
    tx.commit()?;
    Ok(closed)
}

/// How a run ended, for the job queue.
pub enum RunEnd {
    /// It worked; next run after the recurrence.
    Success,
    /// It settled part of what it saw and deferred the rest (the text says
    /// how many and why); retried like a failure, so that monitoring sees it.
    PartlyDone(String),
    /// It failed and may work on a retry.
    Failed(String),
    /// It needs a person (sign-in); the job stops until fixed.
    NeedsAttention(String),
}

/// Records the end of a run: success schedules the next one; a failure is
/// retried after the retry delay up to `max_attempts`, then waits for the
/// next regular run; a run needing a person puts the job on hold.
pub fn finish(db: &Db, company: CompanyId, job: &str, end: RunEnd) -> anyhow::Result<()> {
    let Some(entry) = get(db, company, job)? else {
        return Ok(()); // disabled while it ran
    };
    let t = now();
    // A postponement written during the run (throttling) must survive.
    let later = |n: i64| n.max(entry.next_run);
    let conn = db.lock();
    let partly = matches!(end, RunEnd::PartlyDone(_));
    match end {
        RunEnd::Success => conn.execute(
            "UPDATE job_queue_entry SET status = 'ready', attempts = 0, last_error = NULL, run_owner = NULL, next_run = ?3 WHERE company_id = ?1 AND job = ?2",
            params![company, job, later(t + entry.every_seconds)],
        )?,
        RunEnd::Failed(err) | RunEnd::PartlyDone(err) => {
            let status = if partly {
                "partly-done"
            } else {
                "error"
            };
            let attempts = entry.attempts + 1;
            let (attempts, next) = if attempts < entry.max_attempts {
                (attempts, t + entry.retry_delay_seconds)
            } else {
                (0, t + entry.every_seconds)
            };
            conn.execute(
                "UPDATE job_queue_entry SET status = ?6, attempts = ?3, last_error = ?4, next_run = ?5 WHERE company_id = ?1 AND job = ?2",
                params![company, job, attempts, err, later(next), status],
            )?
        }
        RunEnd::NeedsAttention(err) => conn.execute(
            "UPDATE job_queue_entry SET status = 'on-hold', last_error = ?3, run_owner = NULL WHERE company_id = ?1 AND job = ?2",
            params![company, job, err],
        )?,
    };
    Ok(())
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
    db: &Db,
    company: CompanyId,
    job: &str,
    outcome: &str,
    report_json: Option<&str>,
    ledger: &[LedgerRow<'_>],
) -> anyhow::Result<i64> {
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
pub fn ledger_totals(db: &Db, run: i64) -> anyhow::Result<std::collections::BTreeMap<String, i64>> {
    let conn = db.lock();
    let mut stmt = conn
        .prepare("SELECT outcome, COUNT(*) FROM run_ledger WHERE run_id = ?1 GROUP BY outcome")?;
    let rows = stmt.query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The ids of a company's recorded runs, oldest first.
pub fn runs(db: &Db, company: CompanyId) -> anyhow::Result<Vec<i64>> {
    let conn = db.lock();
    let mut stmt = conn.prepare("SELECT id FROM run_report WHERE company_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map(params![company], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_then_waits_for_the_next_turn() {
        let db = Db::open_in_memory().unwrap();
        let c = db.company("C").unwrap();
        ensure(&db, c, "j", 600, 0, 3, 60).unwrap();
        assert_eq!(due(&db, now()).unwrap().len(), 1);
        for expected in [1, 2, 0] {
            finish(&db, c, "j", RunEnd::Failed("boom".into())).unwrap();
            let e = get(&db, c, "j").unwrap().unwrap();
            assert_eq!(e.attempts, expected);
            assert_eq!(e.status, "error");
        }
        let e = get(&db, c, "j").unwrap().unwrap();
        assert!(
            e.next_run >= now() + 590,
            "after the last attempt the job waits a full period"
        );
        finish(&db, c, "j", RunEnd::NeedsAttention("sign in".into())).unwrap();
        assert!(
            due(&db, now() + 10_000).unwrap().is_empty(),
            "on hold is never due"
        );
    }

    #[test]
    fn a_run_whose_process_died_is_closed_as_interrupted() {
        let db = Db::open_in_memory().unwrap();
        let c = db.company("C").unwrap();
        ensure(&db, c, "j", 600, 600, 3, 60).unwrap();
        start(&db, c, "j").unwrap();
        assert!(
            close_interrupted(&db).unwrap().is_empty(),
            "a run of this live process is not interrupted"
        );
        // A process that is gone: a pid that cannot exist, then this pid
        // with another start time (a reused pid).
        for owner in ["4194305:1".to_string(), format!("{}:1", std::process::id())] {
            db.lock()
                .execute(
                    "UPDATE job_queue_entry SET status = 'in-process', run_owner = ?1",
                    [&owner],
                )
                .unwrap();
            let closed = close_interrupted(&db).unwrap();
            assert_eq!(closed.len(), 1, "{owner}");
            let e = get(&db, c, "j").unwrap().unwrap();
            assert_eq!(e.status, "error");
            assert!(e.last_error.unwrap().contains("interrupted"));
            assert!(e.next_run <= now(), "due again at once");
        }
        let log = log(&db, c, 10).unwrap();
        assert_eq!(log.len(), 2);
        assert!(log.iter().all(|l| l.outcome == "interrupted"));
        assert!(close_interrupted(&db).unwrap().is_empty(), "closed once");
    }

    #[test]
    fn a_partly_done_run_is_its_own_status_and_retried() {
        let db = Db::open_in_memory().unwrap();
        let c = db.company("C").unwrap();
        ensure(&db, c, "j", 600, 0, 3, 60).unwrap();
        finish(&db, c, "j", RunEnd::PartlyDone("30 deferred".into())).unwrap();
        let e = get(&db, c, "j").unwrap().unwrap();
        assert_eq!(e.status, "partly-done");
        assert_eq!(e.last_error.as_deref(), Some("30 deferred"));
        assert!(e.next_run <= now() + 60, "retried after the retry delay");
        assert_eq!(due(&db, now() + 61).unwrap().len(), 1);
    }

    #[test]
    fn postponement_survives_success() {
        let db = Db::open_in_memory().unwrap();
        let c = db.company("C").unwrap();
        ensure(&db, c, "j", 60, 0, 3, 60).unwrap();
        postpone(&db, c, "j", now() + 3600).unwrap();
        finish(&db, c, "j", RunEnd::Success).unwrap();
        assert!(get(&db, c, "j").unwrap().unwrap().next_run >= now() + 3590);
    }
}
