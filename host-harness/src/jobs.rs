//! The job queue: persistent job queue entries with recurrence, next run,
//! attempts, status and last error, as an ERP keeps them. The rules (when a
//! job runs again, when a run counts as interrupted) live here; the records
//! in [`crate::store::jobs`].

use crate::store::jobs::{Claim, Closing, Failure, Pick, Recurrence, Running};
use crate::store::{self, CompanyId, Store};
use std::time::Duration;

pub use crate::store::jobs::{
    JobLogLine, JobQueueEntry, LedgerRow, RunStamp, Taken, due, get, ledger_totals, list, log,
    postpone, record_report, remove, renew, runs,
};

/// How long a worker's lease on a job holds without renewal: a worker that
/// dies is taken for dead this long after its last renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Creates or updates a recurring job.
pub fn ensure(
    db: &Store,
    company: CompanyId,
    job: &str,
    every: u32,
    first_in: u32,
    max_attempts: u8,
    retry_delay: u32,
) -> anyhow::Result<()> {
    let recurrence = Recurrence {
        every_seconds: every.max(1),
        max_attempts: max_attempts.max(1),
        retry_delay_seconds: retry_delay,
        next_run: now() + i64::from(first_in),
    };
    Ok(store::jobs::ensure(db, company, job, &recurrence)?)
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// This process, as a job's run owner: its machine, its pid and, where the
/// system tells, its start time, so that a later process with the same pid
/// is not taken for it.
pub fn this_process() -> String {
    let pid = owner_of(std::process::id()).unwrap_or_else(|| std::process::id().to_string());
    format!("{}/{pid}", this_machine())
}

/// The machine's name, as owners carry it: a process is judged alive or
/// gone only on its own machine (elsewhere its lease tells).
fn this_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .unwrap_or_else(|| "localhost".into())
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

/// Whether the process that owns a run is known to be gone: it ran on this
/// machine and is no longer alive. A process of another machine is not
/// judged here: its lease runs out when it stops renewing it.
fn owner_is_gone(owner: &str) -> bool {
    let owner = match owner.split_once('/') {
        Some((machine, _)) if machine != this_machine() => return false,
        Some((_, process)) => process,
        None => owner,
    };
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

/// What [`take`] found the job held by.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    /// Another worker runs the job now.
    #[error(
        "a run of this job is going on in another worker ({owner}, its lease holds until {until})"
    )]
    Held {
        /// The worker.
        owner: String,
        /// Until when, RFC 3339.
        until: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Takes the lease on the oldest due `job` no live worker holds, for this
/// process and `lease`; closes the run it cuts short, if any.
pub fn take_next(db: &Store, job: &str, lease: Duration) -> anyhow::Result<Option<Taken>> {
    let pick = Pick::NextDue { job, at: now() };
    Ok(take_with(db, &pick, lease)?)
}

/// Takes the lease on `company`'s `job`, due or not ("run now"); `None`
/// when the company has no such job, an error when another worker runs it.
pub fn take(
    db: &Store,
    company: CompanyId,
    job: &str,
    lease: Duration,
) -> Result<Option<Taken>, TakeError> {
    if get(db, company, job)?.is_none() {
        return Ok(None);
    }
    if let Some(taken) = take_with(db, &Pick::Company { company, job }, lease)? {
        return Ok(Some(taken));
    }
    let (owner, until) = store::jobs::lease_holder(db, company, job, now_ms())?.unwrap_or_default();
    let until = chrono::DateTime::from_timestamp_millis(until)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    Err(TakeError::Held { owner, until })
}

fn take_with(
    db: &Store,
    pick: &Pick<'_>,
    lease: Duration,
) -> Result<Option<Taken>, store::StoreError> {
    let owner = this_process();
    let now = now_ms();
    let claim = Claim {
        owner: &owner,
        now_ms: now,
        until_ms: now + lease.as_millis() as i64,
    };
    store::jobs::take(db, pick, &claim, |run| {
        let text = format!(
            "the run started at {} was interrupted: its worker ({}) stopped renewing its lease; this run takes it over and finishes its work",
            started(run),
            run.owner.as_deref().unwrap_or("unknown")
        );
        Closing {
            activity: format!("Email Logging: {text}"),
            last_error: text,
            due_by: now / 1000,
        }
    })
}

/// When a run started, as its messages tell it.
fn started(run: &Running) -> String {
    run.started_at
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "an unknown time".into())
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
pub fn close_interrupted(db: &Store) -> anyhow::Result<Vec<Interrupted>> {
    let closed = store::jobs::close_runs(db, |run| {
        if run.owner.as_deref().is_some_and(|o| !owner_is_gone(o)) {
            return None;
        }
        let text = format!(
            "the run started at {} was interrupted: the host process stopped before it finished; the next run finishes its work",
            started(run)
        );
        Some(Closing {
            activity: format!("Email Logging: {text}"),
            last_error: text,
            due_by: now(),
        })
    })?;
    Ok(closed
        .into_iter()
        .map(|r| Interrupted {
            company_id: r.company_id,
            job: r.job,
            started_at: r.started_at,
        })
        .collect())
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
pub fn finish(db: &Store, company: CompanyId, job: &str, end: RunEnd) -> anyhow::Result<()> {
    let Some(entry) = get(db, company, job)? else {
        return Ok(()); // disabled while it ran
    };
    let t = now();
    // A postponement written during the run (throttling) must survive.
    let later = |n: i64| n.max(entry.next_run);
    let partly = matches!(end, RunEnd::PartlyDone(_));
    match end {
        RunEnd::Success => {
            store::jobs::set_ready(db, company, job, later(t + entry.every_seconds))?
        }
        RunEnd::Failed(err) | RunEnd::PartlyDone(err) => {
            let status = if partly { "partly-done" } else { "error" };
            let attempts = entry.attempts + 1;
            let (attempts, next) = if attempts < entry.max_attempts {
                (attempts, t + entry.retry_delay_seconds)
            } else {
                (0, t + entry.every_seconds)
            };
            let failure = Failure {
                status,
                attempts,
                error: &err,
                next_run: later(next),
            };
            store::jobs::set_failed(db, company, job, &failure)?
        }
        RunEnd::NeedsAttention(err) => store::jobs::set_on_hold(db, company, job, &err)?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_then_waits_for_the_next_turn() {
        let db = Store::open_in_memory().unwrap();
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
        let db = Store::open_in_memory().unwrap();
        let c = db.company("C").unwrap();
        ensure(&db, c, "j", 600, 600, 3, 60).unwrap();
        take(&db, c, "j", DEFAULT_LEASE).unwrap().unwrap();
        assert!(
            close_interrupted(&db).unwrap().is_empty(),
            "a run of this live process is not interrupted"
        );
        // A process that is gone: a pid that cannot exist, then this pid
        // with another start time (a reused pid).
        for owner in ["4194305:1".to_string(), format!("{}:1", std::process::id())] {
            store::jobs::set_in_process(&db, &owner).unwrap();
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
        let db = Store::open_in_memory().unwrap();
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
        let db = Store::open_in_memory().unwrap();
        let c = db.company("C").unwrap();
        ensure(&db, c, "j", 60, 0, 3, 60).unwrap();
        postpone(&db, c, "j", now() + 3600).unwrap();
        finish(&db, c, "j", RunEnd::Success).unwrap();
        assert!(get(&db, c, "j").unwrap().unwrap().next_run >= now() + 3590);
    }
}
