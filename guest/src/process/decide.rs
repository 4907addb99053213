//! Deciding a message: who talked to whom (see `classify`), and for a
//! message to log, its entries committed through the ERP before anything
//! moves; for one not to log, what the not-logged policy does with it.

use super::failure::Failure;
use super::report::Outcome;
use super::run::{FolderRole, Handled, Pending, PendingKind, Run, Step};
use crate::classify::{self, Classification, Directory, Flow, NotLoggedReason, Pair};
use crate::host::{EntryRecord, LogOutcome, MessageLink};
use crate::message::InboxMessage;
use crate::setup::NotLoggedPolicy;
use chrono::{DateTime, SecondsFormat, Utc};

impl Run<'_> {
    /// Decides a message and commits its entries; the move, if any, is left
    /// for [`Self::flush`] to send with the page's other moves.
    pub(super) fn prepare(&mut self, msg: InboxMessage, dir: &Directory) -> Step {
        match classify::classify(&msg, dir) {
            Classification::Log {
                flow,
                datetime,
                pairs,
            } => self.log(msg, flow, datetime, &pairs),
            Classification::NotLogged(reason) => self.not_logged(msg, reason),
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
        let already = match self.host.is_logged(&key) {
            Ok(a) => a,
            Err(e) => {
                let f = Failure::of_host("the ERP could not check for earlier entries", e);
                let h = self.failed(&msg, f);
                return Step::Done(msg, h);
            }
        };
        let (mut outcome, mut entries) = (Outcome::AlreadyLogged, 0);
        if !already {
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
            match self.host.log_message(&key, &records, &link) {
                Ok(LogOutcome::Inserted) => {
                    outcome = Outcome::Logged;
                    entries = records.len() as u32;
                }
                Ok(LogOutcome::AlreadyLogged) => {}
                Err(e) => {
                    let f = Failure::of_host("the ERP could not save the entries", e);
                    let h = self.failed(&msg, f);
                    return Step::Done(msg, h);
                }
            }
        }
        // Only now, with the entries committed, may the message leave the Inbox.
        Step::Move(Pending {
            destination,
            msg,
            kind: PendingKind::Logged {
                key,
                link,
                outcome,
                entries,
                folder,
            },
        })
    }

    fn not_logged(&mut self, msg: InboxMessage, reason: NotLoggedReason) -> Step {
        let why = Some(reason.as_str().to_string());
        match self.setup.not_logged_policy {
            NotLoggedPolicy::Leave => {
                Step::Done(msg, Handled::new(Outcome::NotLogged(reason), why, 0, false))
            }
            NotLoggedPolicy::Delete => {
                let result = self.store.delete(&msg.id);
                let h = self.after_not_logged(&msg, reason, result);
                Step::Done(msg, h)
            }
            NotLoggedPolicy::MoveToFolder => match self.folder(FolderRole::NotLogged) {
                Ok(destination) => Step::Move(Pending {
                    msg,
                    destination,
                    kind: PendingKind::NotLogged(reason),
                }),
                Err(e) => {
                    let h = self.failed(&msg, Failure::of_mail(&e));
                    Step::Done(msg, h)
                }
            },
        }
    }
}
