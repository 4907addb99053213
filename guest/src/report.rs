//! The run report: what one run did, for the job queue and the administrator.

use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;

/// A message whose handling failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The message id, or `(no id)`.
    pub message_id: String,
    /// The `internetMessageId`.
    pub internet_message_id: Option<String>,
    /// What went wrong.
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// RFC 3339 UTC start.
    pub started_at: String,
    /// Duration.
    pub duration_ms: u64,
    /// Messages looked at.
    pub messages_seen: u32,
    /// Messages with new entries.
    pub messages_logged: u32,
    /// Messages logged before, moved without new entries.
    pub messages_already_logged: u32,
    /// Not logged, by reason.
    pub not_logged: BTreeMap<String, u32>,
    /// Failures.
    pub failed: Vec<Failure>,
    /// Entries created.
    pub entries_created: u32,
    /// Requests made.
    pub requests: u32,
    /// Throttling waits.
    pub throttled_waits: u32,
    /// Pages read.
    pub pages: u32,
    /// Stopped for the time budget.
    pub budget_exhausted: bool,
    /// Nothing unprocessed is left.
    pub inbox_drained: bool,
    /// Why the run ended before the Inbox was drained, if it did.
    pub stopped_early: Option<String>,
}

impl Report {
    /// An empty report for a run starting now.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            started_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            ..Default::default()
        }
    }

    /// Counts one message not logged for `reason`.
    pub fn count_not_logged(&mut self, reason: &str) {
        *self.not_logged.entry(reason.to_string()).or_default() += 1;
    }
}
