//! The run report and its ledger: what one run did, message by message.

use crate::classify::NotLoggedReason;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;

/// The `log` event a run sends after each page and before each wait, for a
/// host that shows progress (see the WIT's `log` interface).
pub const PROGRESS: &str = "progress";

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Entries created, message moved.
    Logged,
    /// Entries existed; message moved.
    AlreadyLogged,
    /// Not loggable for this reason; handled by the not-logged policy.
    NotLogged(NotLoggedReason),
    /// Failed for good; moved to the quarantine folder.
    Quarantined,
    /// Failed for now; left in the Inbox.
    Deferred,
}

/// One message's line in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerLine {
    /// The message id, or `(no id)`.
    pub message_id: String,
    /// The `internetMessageId`.
    pub internet_message_id: Option<String>,
    /// What became of it.
    pub outcome: Outcome,
    /// Why (not for logged messages).
    pub reason: Option<String>,
    /// Entries created.
    pub entries: u32,
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
    pub not_logged: BTreeMap<NotLoggedReason, u32>,
    /// Messages quarantined.
    pub messages_quarantined: u32,
    /// Messages deferred to the next run.
    pub messages_deferred: u32,
    /// One line per message seen.
    pub ledger: Vec<LedgerLine>,
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
    /// What an administrator should look at (folders nearing their limit).
    pub warnings: Vec<String>,
}

impl Report {
    /// An empty report for a run starting now.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            started_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            ..Default::default()
        }
    }

    /// Records one message's outcome: the counters and the ledger together,
    /// so they can never disagree.
    pub fn record(&mut self, line: LedgerLine) {
        self.messages_seen += 1;
        self.entries_created += line.entries;
        match line.outcome {
            Outcome::Logged => self.messages_logged += 1,
            Outcome::AlreadyLogged => self.messages_already_logged += 1,
            Outcome::NotLogged(reason) => *self.not_logged.entry(reason).or_default() += 1,
            Outcome::Quarantined => self.messages_quarantined += 1,
            Outcome::Deferred => self.messages_deferred += 1,
        }
        self.ledger.push(line);
    }

    /// The `progress` event's fields: the counts so far.
    pub fn progress_fields(&self) -> Vec<(&'static str, String)> {
        let not_logged: u32 = self.not_logged.values().sum();
        vec![
            ("seen", self.messages_seen.to_string()),
            ("logged", self.messages_logged.to_string()),
            ("already_logged", self.messages_already_logged.to_string()),
            ("not_logged", not_logged.to_string()),
            ("quarantined", self.messages_quarantined.to_string()),
            ("deferred", self.messages_deferred.to_string()),
            ("pages", self.pages.to_string()),
        ]
    }

    /// Whether seen = logged + already logged + not logged + quarantined + deferred.
    pub fn balances(&self) -> bool {
        let not_logged: u32 = self.not_logged.values().sum();
        self.messages_seen as usize == self.ledger.len()
            && self.messages_seen
                == self.messages_logged
                    + self.messages_already_logged
                    + not_logged
                    + self.messages_quarantined
                    + self.messages_deferred
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(outcome: Outcome, entries: u32) -> LedgerLine {
        LedgerLine {
            message_id: "m".into(),
            internet_message_id: None,
            outcome,
            reason: Some("why".into()),
            entries,
        }
    }

    #[test]
    fn every_outcome_is_counted_once() {
        let mut r = Report::default();
        for o in [
            Outcome::Logged,
            Outcome::AlreadyLogged,
            Outcome::NotLogged(NotLoggedReason::Draft),
            Outcome::Quarantined,
            Outcome::Deferred,
        ] {
            r.record(line(o, u32::from(o == Outcome::Logged) * 2));
        }
        assert_eq!(r.messages_seen, 5);
        assert_eq!(r.entries_created, 2);
        assert!(r.balances());
        r.messages_deferred += 1;
        assert!(!r.balances());
    }
}
