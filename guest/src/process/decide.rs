//! Deciding a message: who talked to whom (see `classify`), and for a
//! message to log, its entries committed through the ERP before anything
//! moves; for one not to log, what the not-logged policy does with it.

use super::failure::Failure;
use super::report::Outcome;
use super::run::{FolderRole, Handled, NotLogged, Pending, PendingKind, Run, Step, ToLog};
use crate::classify::{self, Classification, Directory, Flow, Pair};
use crate::host::{EntryRecord, HostError, LogOutcome, MessageEntries, MessageLink};
use crate::message::InboxMessage;
use crate::setup::NotLoggedPolicy;
use chrono::{DateTime, SecondsFormat, Utc};

impl Run<'_> {
    /// Decides a message; its entries, if any, are left for [`Self::commit`]
    /// and its move for [`Self::flush`], with the page's others.
    pub(super) fn prepare(&mut self, msg: InboxMessage, dir: &Directory) -> Step {
        match classify::classify(&msg, dir) {
            Classification::Log {
                flow,
                datetime,
                pairs,
            } => self.log(msg, flow, datetime, &pairs),
            Classification::NotLogged(reason) => self.not_logged(msg, NotLogged::of(reason)),
        }
    }

    fn log(
        &mut self,
        msg: InboxMessage,
        flow: Flow,
        datetime: Option<DateTime<Utc>>,
        pairs: &[Pair],
    ) -> Step {
        // The destination first: when it cannot be had, nothing is committed.
        let (destination, folder) = match self.storage_destination(datetime) {
            Ok(d) => d,
            Err(e) => {
                let h = self.failed(&msg, Failure::of_mail(&e));
                return Step::Done(msg, h);
            }
        };
        let key = msg.dedup_key();
        let link = MessageLink {
            mailbox: self.store.mailbox().to_string(),
            message_id: msg.id.clone(),
            internet_message_id: msg.internet_message_id.clone(),
            web_link: self.store.web_link(&msg.id, msg.web_link.as_deref()),
            folder: Some(self.setup.queue().to_string()),
        };
        let when = datetime.unwrap_or_else(|| self.host.now());
        let records: Vec<EntryRecord> = pairs
            .iter()
            .map(|p| EntryRecord {
                contact_no: p.contact.contact_no.clone(),
                contact_company_no: p.contact.company_no.clone(),
                contact_alt_address_code: p.contact.alt_address_code.clone(),
                salesperson_code: p.salesperson_code.clone(),
                interaction_template_code: self.template.clone(),
                flow,
                subject: msg.subject.clone(),
                datetime: when.to_rfc3339_opts(SecondsFormat::Secs, true),
            })
            .collect();
        // Committed with the page's others (`commit`) before any move.
        Step::Log(ToLog {
            msg,
            destination,
            key,
            link,
            records,
            folder,
        })
    }

    /// Commits the entries of the page's messages to log in one ERP call,
    /// before any move is sent. Answers the moves of the messages now
    /// logged, in order, and the messages the ERP could not log, settled as
    /// failed.
    pub(super) fn commit(
        &mut self,
        mut to_log: Vec<ToLog>,
    ) -> (Vec<Pending>, Vec<(InboxMessage, Handled)>) {
        if to_log.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let page: Vec<MessageEntries> = to_log
            .iter_mut()
            .map(|t| MessageEntries {
                key: t.key.clone(),
                entries: std::mem::take(&mut t.records),
                link: t.link.clone(),
            })
            .collect();
        let outcomes = match self.host.log_page(&page) {
            Ok(o) if o.len() == page.len() => o,
            Ok(o) => {
                let e = format!("the ERP answered {} of {} messages", o.len(), page.len());
                vec![Err(HostError::Unavailable(e)); page.len()]
            }
            // Nothing of the page was recorded: whatever the ERP said, the
            // messages wait for the next run (never quarantined for it).
            Err(e) => vec![Err(HostError::Unavailable(e.to_string())); page.len()],
        };
        let mut logged = Vec::with_capacity(to_log.len());
        let mut failed = Vec::new();
        for ((t, sent), outcome) in to_log.into_iter().zip(page).zip(outcomes) {
            let (outcome, entries, records) = match outcome {
                Ok(LogOutcome::Inserted) => {
                    (Outcome::Logged, sent.entries.len() as u32, sent.entries)
                }
                Ok(LogOutcome::AlreadyLogged) => (Outcome::AlreadyLogged, 0, Vec::new()),
                Err(e) => {
                    let f = Failure::of_host("the ERP could not save the entries", e);
                    let h = self.failed(&t.msg, f);
                    failed.push((t.msg, h));
                    continue;
                }
            };
            // Only now, with the entries committed, may the message leave the Inbox.
            logged.push(Pending {
                msg: t.msg,
                destination: t.destination,
                kind: PendingKind::Logged {
                    key: t.key,
                    link: t.link,
                    outcome,
                    entries,
                    records,
                    folder: t.folder,
                },
            });
        }
        (logged, failed)
    }

    /// A message not to log goes by the not-logged policy.
    pub(super) fn not_logged(&mut self, msg: InboxMessage, why: NotLogged) -> Step {
        match self.setup.not_logged_policy {
            NotLoggedPolicy::Leave => {
                let h = Handled::new(Outcome::NotLogged(why.reason), Some(why.text), 0, false);
                Step::Done(msg, h)
            }
            NotLoggedPolicy::Delete => {
                let result = self.store.delete(&msg.id);
                let h = self.after_not_logged(&msg, why, result);
                Step::Done(msg, h)
            }
            NotLoggedPolicy::MoveToFolder => match self.folder(FolderRole::NotLogged) {
                Ok(destination) => Step::Move(Pending {
                    msg,
                    destination,
                    kind: PendingKind::NotLogged(why),
                }),
                Err(e) => {
                    let h = self.failed(&msg, Failure::of_mail(&e));
                    Step::Done(msg, h)
                }
            },
        }
    }
}
