//! The drain loop: pages of the Inbox, oldest first, until it is drained,
//! the budget is spent or the run must stop; each message decided on its
//! own and each page's moves sent together.

use super::failure::Failure;
use super::gate::Gated;
use super::lookup::PageDirectory;
use super::report::{self, LedgerLine, Outcome};
use super::run::{Run, Step};
use crate::host::{Level, Severity};
use crate::mail_store::{Cursor, MailError};
use crate::message::{InboxMessage, Unreadable};
use crate::run_error::RunError;
use std::collections::HashSet;
use std::time::Instant;

impl Run<'_> {
    /// Reads the Inbox oldest first until it is drained or `deadline` passes.
    ///
    /// A page that changed the Inbox (moved anything out) makes the next read
    /// start over from the oldest messages, which the store may page by
    /// position; pages left untouched (messages deferred or left by policy)
    /// are followed by the next one.
    pub(super) fn drain(&mut self, deadline: Instant) -> Result<(), RunError> {
        let batch = self.setup.batch_size.max(1);
        let mailbox = self.store.mailbox().to_string();
        let mut cursor = Cursor::First;
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            if Instant::now() >= deadline {
                self.report.budget_exhausted = true;
                return Ok(());
            }
            let page = match self.store.page(cursor, batch) {
                Ok(p) => p,
                Err(e) => return self.stop_early(e),
            };
            self.report.pages += 1;
            let parsed: Vec<Result<InboxMessage, Unreadable>> = page
                .items
                .into_iter()
                .filter(|item| seen.insert(seen_key(item)))
                .map(|item| {
                    // The shared mailbox is on every message as the BCC
                    // target of the mail flow rules; it is nobody's party.
                    item.map(|mut m| {
                        m.recipients.retain(|r| r.as_str() != mailbox);
                        m
                    })
                })
                .collect();
            let gated = self.gate(parsed);
            let mut directory =
                PageDirectory::look_up(self.host, gated.iter().filter_map(Gated::passed));
            self.find_unknown_parties(&mut directory, gated.iter().filter_map(Gated::passed));
            let mut inbox_changed = false;
            let mut to_log = Vec::new();
            let mut pending = Vec::new();
            for item in gated {
                if Instant::now() >= deadline {
                    self.report.budget_exhausted = true;
                    break;
                }
                let step = match item {
                    Gated::Pass(m) => match directory.failure(&m) {
                        Some(f) => {
                            let h = self.failed(&m, f);
                            Step::Done(m, h)
                        }
                        None => self.prepare(m, &directory.parties),
                    },
                    Gated::Out(m, why) => self.not_logged(m, why),
                    Gated::Failed(m, f) => {
                        let h = self.failed(&m, f);
                        Step::Done(m, h)
                    }
                    Gated::Unreadable(u) => {
                        inbox_changed |= self.unreadable(u);
                        continue;
                    }
                };
                match step {
                    Step::Done(m, h) => inbox_changed |= self.finish(&m, h),
                    Step::Log(t) => to_log.push(t),
                    Step::Move(p) => pending.push(p),
                }
                if self.report.stopped_early.is_some() {
                    break;
                }
            }
            // Commit the page's entries, then move its messages, even when
            // the budget or a throttled step ends the run.
            for (m, h) in self.flush(to_log, pending) {
                inbox_changed |= self.finish(&m, h);
            }
            self.write_activities();
            let fields = self.report.progress_fields();
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            self.host.log(Level::Info, report::PROGRESS, &fields);
            if let Some(stop) = self.report.stopped_early.as_ref() {
                self.host
                    .log(Level::Warn, "run stopped early", &[("reason", stop)]);
                return Ok(());
            }
            if self.report.budget_exhausted {
                return Ok(());
            }
            cursor = match (inbox_changed, page.more) {
                (true, _) => Cursor::First,
                (false, true) => Cursor::Next,
                (false, false) => {
                    self.report.inbox_drained = true;
                    return Ok(());
                }
            };
        }
    }

    /// Settles an item that cannot be logged as it is: quarantined when it has
    /// an id and can never be read, else deferred (it cannot be moved anywhere,
    /// or the server may give it next time).
    /// Says whether it left the Inbox.
    fn unreadable(&mut self, u: Unreadable) -> bool {
        let reason = u.error.to_string();
        match u.identity() {
            Some(m) if u.error.is_permanent() => {
                let h = self.failed(&m, Failure::Permanent(reason));
                self.finish(&m, h)
            }
            _ => {
                self.activity(
                    Severity::Error,
                    &format!("an Inbox item cannot be read: {reason}"),
                    None,
                );
                self.report.record(LedgerLine {
                    message_id: u.id.unwrap_or_else(|| "(no id)".into()),
                    internet_message_id: u.internet_message_id,
                    outcome: Outcome::Deferred,
                    reason: Some(reason),
                    entries: 0,
                });
                false
            }
        }
    }

    /// Ends the run after a page could not be read: an error when nothing was
    /// read yet, else a partial report (and a postponed job when throttled).
    fn stop_early(&mut self, e: MailError) -> Result<(), RunError> {
        if self.report.pages == 0 {
            return Err(e.into_run_error());
        }
        if let MailError::Throttled {
            retry_after_secs, ..
        } = e
        {
            self.postpone(retry_after_secs);
        }
        self.report.stopped_early = Some(e.to_string());
        Ok(())
    }
}

/// Identifies a page item within a run, even one without an id.
fn seen_key(item: &Result<InboxMessage, Unreadable>) -> String {
    match item {
        Ok(m) => format!("id:{}", m.id),
        Err(Unreadable { id: Some(id), .. }) => format!("id:{id}"),
        Err(u) => format!("raw:{}", u.fingerprint),
    }
}
