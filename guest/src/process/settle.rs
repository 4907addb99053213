//! Settling a message: its move (only after its entries are committed), the
//! link it keeps, the not-logged policy's outcome, quarantine, and the
//! ledger line every message seen ends with.

use super::failure::Failure;
use super::report::{LedgerLine, Outcome};
use super::run::{FolderRole, Handled, NotLogged, Pending, PendingKind, Run, ToLog};
use crate::classify::NotLoggedReason;
use crate::host::{Level, LinkUpdate, LoggedMessage, MessageLink, Severity};
use crate::mail_store::{MailError, Moved};
use crate::message::InboxMessage;
use chrono::{DateTime, Utc};

impl Run<'_> {
    /// Records a handled message in the ledger; says whether it left the Inbox.
    pub(super) fn finish(&mut self, m: &InboxMessage, h: Handled) -> bool {
        if h.outcome == Outcome::Deferred
            && let Some(reason) = h.reason.as_deref()
        {
            self.activity(
                Severity::Warning,
                &format!("deferred to the next run: {reason}"),
                Some(&m.dedup_key()),
            );
        }
        self.report.record(LedgerLine {
            message_id: m.id.clone(),
            internet_message_id: m.internet_message_id.clone(),
            outcome: h.outcome,
            reason: h.reason,
            entries: h.entries,
        });
        h.left_inbox
    }

    /// Commits the entries of a page's messages to log, then sends the
    /// page's moves together, settles each message by its own answer and
    /// keeps the moved messages' links, in one ERP call each.
    pub(super) fn flush(
        &mut self,
        to_log: Vec<ToLog>,
        mut moves: Vec<Pending>,
    ) -> Vec<(InboxMessage, Handled)> {
        let (logged, mut settled) = self.commit(to_log);
        moves.extend(logged);
        settled.extend(self.move_committed(moves));
        self.write_links();
        self.tell_logged();
        settled
    }

    /// Hands the page's newly logged messages to the ERP's `after-log`
    /// extension point. Its failure changes nothing of the run: the entries
    /// and the moves stand; it is written to the activity log.
    fn tell_logged(&mut self) {
        let logged = std::mem::take(&mut self.logged);
        if logged.is_empty() {
            return;
        }
        if let Err(e) = self.host.after_log(&logged) {
            self.host.log(
                Level::Warn,
                "the ERP's after-log failed",
                &[
                    ("error", &e.to_string()),
                    ("messages", &logged.len().to_string()),
                ],
            );
            self.activity(
                Severity::Warning,
                &format!(
                    "the ERP's follow-up work after logging {} message(s) failed ({e}); the entries and the moves stand",
                    logged.len()
                ),
                None,
            );
        }
    }

    /// Sends the moves of messages not to log, or whose entries are committed.
    fn move_committed(&mut self, pending: Vec<Pending>) -> Vec<(InboxMessage, Handled)> {
        let moves: Vec<(String, String)> = pending
            .iter()
            .map(|p| (p.msg.id.clone(), p.destination.clone()))
            .collect();
        // While the run goes on, the next page is read with these moves.
        let results = if self.report.budget_exhausted || self.report.stopped_early.is_some() {
            self.store.move_many(&moves)
        } else {
            let batch = self.setup.batch_size.max(1);
            self.store.move_many_and_read_ahead(&moves, batch)
        };
        pending
            .into_iter()
            .zip(results)
            .map(|(p, result)| {
                let h = match p.kind {
                    PendingKind::Logged {
                        key,
                        link,
                        outcome,
                        entries,
                        records,
                        folder,
                    } => {
                        if result.is_ok() {
                            self.filled.insert(p.destination.clone(), folder.clone());
                        }
                        let link = MessageLink {
                            folder: Some(folder),
                            ..link
                        };
                        if !records.is_empty() {
                            // Where the message is now: moved, or still
                            // waiting in the queue when the move failed.
                            let now = match &result {
                                Ok(Some(moved)) => MessageLink {
                                    message_id: moved.id.clone(),
                                    web_link: moved.web_link.clone(),
                                    ..link.clone()
                                },
                                _ => link.clone(),
                            };
                            self.logged.push(LoggedMessage {
                                key: key.clone(),
                                entries: records,
                                link: now,
                            });
                        }
                        self.after_log(&p.msg, &key, link, outcome, entries, result)
                    }
                    PendingKind::NotLogged(why) => {
                        self.after_not_logged(&p.msg, why, result.map(|_| ()))
                    }
                };
                (p.msg, h)
            })
            .collect()
    }

    fn after_log(
        &mut self,
        msg: &InboxMessage,
        key: &str,
        link: MessageLink,
        outcome: Outcome,
        entries: u32,
        moved: Result<Option<Moved>, MailError>,
    ) -> Handled {
        match moved {
            Ok(None) => {
                // Where it went is not known: link repair finds it later.
                self.flag_link(msg, key, &link, "logged and moved");
                Handled::new(outcome, None, entries, true)
            }
            Ok(Some(moved)) => {
                let previous_id = link.message_id.clone();
                self.link_updates.push(LinkUpdate {
                    key: key.to_string(),
                    previous_id,
                    link: MessageLink {
                        message_id: moved.id,
                        web_link: moved.web_link,
                        ..link
                    },
                });
                Handled::new(outcome, None, entries, true)
            }
            Err(e) => {
                // The entries are committed with the Inbox link, and where the
                // message is now is not known: the next run finds it and
                // repairs the link (a message still in the Inbox is moved then
                // anyway).
                self.flag_link(msg, key, &link, "logged");
                self.after_failed_move(msg, key, outcome, entries, &e)
            }
        }
    }

    /// Keeps the links of the messages moved in this page, in one ERP call;
    /// when it fails, the links are flagged for the next run's repair.
    fn write_links(&mut self) {
        let updates = std::mem::take(&mut self.link_updates);
        if updates.is_empty() {
            return;
        }
        if let Err(e) = self.host.update_links(&updates) {
            for u in &updates {
                let done = format!("logged and moved, but the link could not be updated ({e})");
                if let Err(e) = crate::links::flag(
                    self.host,
                    &u.key,
                    &u.link.mailbox,
                    &u.previous_id,
                    u.link.internet_message_id.as_deref(),
                ) {
                    self.activity(
                        Severity::Warning,
                        &format!("{done}, nor flagged for repair ({e}); run entries repair-links"),
                        Some(&u.key),
                    );
                } else {
                    self.activity(
                        Severity::Warning,
                        &format!("{done}; the next run repairs it"),
                        Some(&u.key),
                    );
                }
            }
        }
    }

    /// Flags a logged message's link for the next run's repair; `done` says
    /// what did happen, should the flag fail.
    fn flag_link(&mut self, msg: &InboxMessage, key: &str, link: &MessageLink, done: &str) {
        if let Err(e) = crate::links::flag(
            self.host,
            key,
            &link.mailbox,
            &msg.id,
            msg.internet_message_id.as_deref(),
        ) {
            self.activity(
                Severity::Warning,
                &format!("{done}, but the message's link cannot be flagged for repair ({e}); run entries repair-links"),
                Some(key),
            );
        }
    }

    fn after_failed_move(
        &mut self,
        msg: &InboxMessage,
        key: &str,
        outcome: Outcome,
        entries: u32,
        e: &MailError,
    ) -> Handled {
        match Failure::of_mail(e) {
            Failure::Vanished => {
                self.activity(
                    Severity::Warning,
                    "logged, but the message left the Inbox before it could be moved; the next run repairs its link",
                    Some(key),
                );
                Handled::new(outcome, None, entries, true)
            }
            f => {
                let mut h = self.failed(msg, f);
                // The entries are committed whatever became of the move:
                // a later run finds them and only moves the message.
                h.entries = entries;
                h
            }
        }
    }

    pub(super) fn after_not_logged(
        &mut self,
        msg: &InboxMessage,
        why: NotLogged,
        result: Result<(), MailError>,
    ) -> Handled {
        match result.map_err(|e| Failure::of_mail(&e)) {
            Ok(()) | Err(Failure::Vanished) => {
                // Mail kept out for privacy leaves no subject behind.
                let what = match why.reason {
                    NotLoggedReason::Sensitive | NotLoggedReason::SkippedByErp => {
                        format!("not logged ({})", why.text)
                    }
                    _ => format!(
                        "not logged ({}): '{}'",
                        why.text,
                        msg.subject.chars().take(120).collect::<String>()
                    ),
                };
                self.activity(Severity::Info, &what, Some(&msg.dedup_key()));
                Handled::new(Outcome::NotLogged(why.reason), Some(why.text), 0, true)
            }
            Err(f) => self.failed(msg, f),
        }
    }

    /// A step failed: transient faults defer the message to the next run
    /// (never deleting or moving it), permanent ones quarantine it so it
    /// never blocks later messages; throttling also ends the run.
    pub(super) fn failed(&mut self, msg: &InboxMessage, f: Failure) -> Handled {
        match f {
            Failure::Vanished => Handled::new(
                Outcome::Deferred,
                Some("the message left the Inbox".into()),
                0,
                true,
            ),
            Failure::Transient(reason) => Handled::new(Outcome::Deferred, Some(reason), 0, false),
            Failure::Throttled(secs, reason) => {
                self.postpone(secs);
                self.report
                    .stopped_early
                    .get_or_insert_with(|| reason.clone());
                Handled::new(Outcome::Deferred, Some(reason), 0, false)
            }
            Failure::StopRun(reason) => {
                self.report
                    .stopped_early
                    .get_or_insert_with(|| reason.clone());
                Handled::new(Outcome::Deferred, Some(reason), 0, false)
            }
            Failure::Permanent(reason) => {
                let moved = self.folder(FolderRole::Quarantine).and_then(|f| {
                    self.store
                        .move_many(&[(msg.id.clone(), f)])
                        .pop()
                        .unwrap_or_else(|| Err(MailError::Unavailable("no answer".into())))
                });
                match moved {
                    Ok(_) => {
                        self.activity(
                            Severity::Error,
                            &format!("quarantined: {reason}"),
                            Some(&msg.dedup_key()),
                        );
                        Handled::new(Outcome::Quarantined, Some(reason), 0, true)
                    }
                    Err(e) => Handled::new(
                        Outcome::Deferred,
                        Some(format!("{reason}; and it could not be quarantined: {e}")),
                        0,
                        false,
                    ),
                }
            }
        }
    }

    /// Where a logged message goes: the storage folder, or its subfolder for
    /// the message's month (created on first use); id and path.
    pub(super) fn storage_destination(
        &mut self,
        datetime: Option<DateTime<Utc>>,
    ) -> Result<(String, String), MailError> {
        if !self.setup.monthly_subfolders {
            return Ok((
                self.storage_folder.clone(),
                self.setup.storage().to_string(),
            ));
        }
        let month = datetime
            .unwrap_or_else(|| self.host.now())
            .format("%Y-%m")
            .to_string();
        let path = format!("{}/{month}", self.setup.storage());
        if let Some(id) = self.months.get(&month) {
            return Ok((id.clone(), path));
        }
        let id = self
            .store
            .ensure_child_folder(&self.storage_folder, &month)?;
        self.months.insert(month, id.clone());
        Ok((id, path))
    }

    /// Warns (report and activity log) about storage folders that passed the
    /// warning share of their item limit in this run, long before moves fail.
    pub(super) fn check_folder_limits(&mut self) {
        let filled = std::mem::take(&mut self.filled);
        for (id, path) in filled {
            match self.store.folder_count(&id) {
                Ok(n) if self.setup.folder_warns(n) => {
                    let text = format!(
                        "the storage folder '{path}' holds {n} items, {}% of the limit of {}; choose a new storage folder or turn on monthly subfolders (old entries keep their links)",
                        n * 100 / u64::from(self.setup.folder_item_limit.max(1)),
                        self.setup.folder_item_limit
                    );
                    self.activity(Severity::Warning, &text, None);
                    self.report.warnings.push(text);
                }
                Ok(_) => {}
                Err(e) => self.host.log(
                    Level::Warn,
                    "could not count the storage folder's items",
                    &[("folder", &path), ("error", &e.to_string())],
                ),
            }
        }
    }

    /// The id of the not-logged or quarantine folder, created on first use.
    pub(super) fn folder(&mut self, role: FolderRole) -> Result<String, MailError> {
        let (slot, name) = match role {
            FolderRole::NotLogged => (&self.not_logged_folder, &self.setup.not_logged_folder),
            FolderRole::Quarantine => (&self.quarantine_folder, &self.setup.quarantine_folder),
        };
        if let Some(id) = slot {
            return Ok(id.clone());
        }
        let id = self.store.ensure_folder(name)?;
        match role {
            FolderRole::NotLogged => self.not_logged_folder = Some(id.clone()),
            FolderRole::Quarantine => self.quarantine_folder = Some(id.clone()),
        }
        Ok(id)
    }
}
