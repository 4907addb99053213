//! `erp:host/scheduler`: the component's recurring job in the job queue.

use super::bindings::erp::host::scheduler::{Host, JobState, JobStatus, Recurrence};
use super::{PluginState, WitError, internal};
use crate::jobs;

type R<T> = wasmtime::Result<Result<T, WitError>>;

impl Host for PluginState {
    async fn ensure_recurring(&mut self, job: String, r: Recurrence) -> R<()> {
        Ok(jobs::ensure(
            &self.db,
            self.company,
            &job,
            r.every_seconds,
            r.first_run_in_seconds,
            r.max_attempts,
            r.retry_delay_seconds,
        )
        .map_err(|e| internal("cannot create the job queue entry", e)))
    }

    async fn remove(&mut self, job: String) -> R<()> {
        Ok(jobs::remove(&self.db, self.company, &job)
            .map_err(|e| internal("cannot remove the job queue entry", e)))
    }

    async fn postpone(&mut self, job: String, until: u64) -> R<()> {
        let until = i64::try_from(until).unwrap_or(i64::MAX);
        Ok(jobs::postpone(&self.db, self.company, &job, until)
            .map_err(|e| internal("cannot postpone the job", e)))
    }

    async fn status(&mut self, job: String) -> R<Option<JobStatus>> {
        Ok(jobs::get(&self.db, self.company, &job)
            .map(|o| {
                o.map(|e| JobStatus {
                    // An unknown status in the store is a job that should
                    // not run until a person looks at it.
                    status: JobState::from_name(&e.status).unwrap_or(JobState::OnHold),
                    next_run: chrono::DateTime::from_timestamp(e.next_run, 0)
                        .map(|d| d.to_rfc3339()),
                    last_error: e.last_error,
                })
            })
            .map_err(|e| internal("cannot read the job queue entry", e)))
    }
}
