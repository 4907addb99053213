//! The state of one run and the steps a message goes through: what the
//! drain loop, deciding and settling share.

use super::report::{Outcome, Report};
use crate::classify::NotLoggedReason;
use crate::host::{
    Activity, EntryRecord, Host, JOB_NAME, Level, LinkUpdate, LoggedMessage, MessageLink, Severity,
};
use crate::mail_store::{MailError, MailStore};
use crate::message::InboxMessage;
use crate::run_error::RunError;
use crate::setup::Setup;
use std::collections::{BTreeMap, HashMap};

/// The state of one run over one mailbox.
pub(super) struct Run<'a> {
    pub(super) host: &'a dyn Host,
    pub(super) store: &'a mut dyn MailStore,
    pub(super) setup: &'a Setup,
    /// The interaction template for e-mails.
    pub(super) template: String,
    /// The storage folder's id.
    pub(super) storage_folder: String,
    /// Monthly subfolders of the storage folder met in this run, by month.
    pub(super) months: HashMap<String, String>,
    /// Storage folders that received messages in this run: id → path.
    pub(super) filled: BTreeMap<String, String>,
    pub(super) not_logged_folder: Option<String>,
    pub(super) quarantine_folder: Option<String>,
    pub(super) report: Report,
    /// Activity log lines not yet written: the ERP gets them in one call
    /// per page.
    activities: Vec<Activity>,
    /// Links of messages moved in this page, for one call after the moves.
    pub(super) link_updates: Vec<LinkUpdate>,
    /// Messages of this page whose entries were inserted, for the ERP's
    /// `after-log` once the page is settled.
    pub(super) logged: Vec<LoggedMessage>,
}

impl<'a> Run<'a> {
    /// A run over `store`; the storage folder is had first, since without it
    /// no message can be logged.
    pub(super) fn start(
        host: &'a dyn Host,
        store: &'a mut dyn MailStore,
        setup: &'a Setup,
        template: String,
    ) -> Result<Self, RunError> {
        let storage_folder = store
            .ensure_folder(setup.storage())
            .map_err(MailError::into_run_error)?;
        Ok(Self {
            host,
            store,
            setup,
            template,
            storage_folder,
            months: HashMap::new(),
            filled: BTreeMap::new(),
            not_logged_folder: None,
            quarantine_folder: None,
            report: Report::new(host.now()),
            activities: Vec::new(),
            link_updates: Vec::new(),
            logged: Vec::new(),
        })
    }

    /// Moves the job's next run past a throttling wait.
    pub(super) fn postpone(&self, secs: u32) {
        let until = self.host.now().timestamp().max(0) as u64 + u64::from(secs);
        if let Err(e) = self.host.job_postpone(JOB_NAME, until) {
            self.host.log(
                Level::Warn,
                "could not postpone the job",
                &[("error", &e.to_string())],
            );
        }
    }

    /// Adds an activity log line; the page's lines are written together by
    /// [`Self::write_activities`].
    pub(super) fn activity(&mut self, severity: Severity, description: &str, key: Option<&str>) {
        self.activities
            .push(Activity::new(severity, description, key));
    }

    /// Writes the activity lines gathered so far in one call; a failure to
    /// write is logged, never fatal.
    pub(super) fn write_activities(&mut self) {
        let lines = std::mem::take(&mut self.activities);
        write_activities(self.host, &lines);
    }
}

/// Writes activity lines in one call; a failure is logged, never fatal.
pub(super) fn write_activities(host: &dyn Host, lines: &[Activity]) {
    if lines.is_empty() {
        return;
    }
    if let Err(e) = host.log_activities(lines) {
        host.log(
            Level::Warn,
            "could not write the activity log",
            &[
                ("error", &e.to_string()),
                ("lines", &lines.len().to_string()),
            ],
        );
    }
}

/// A message to log: its entries are committed with the page's others
/// before any move is sent; it then becomes a [`Pending`] move.
pub(super) struct ToLog {
    pub(super) msg: InboxMessage,
    pub(super) destination: String,
    pub(super) key: String,
    pub(super) link: MessageLink,
    pub(super) records: Vec<EntryRecord>,
    /// The storage folder's path, for the link and the limit check.
    pub(super) folder: String,
}

/// A message whose move is still to send: not loggable, or logged (its
/// entries committed).
pub(super) struct Pending {
    pub(super) msg: InboxMessage,
    pub(super) destination: String,
    pub(super) kind: PendingKind,
}

/// Why a pending message moves.
pub(super) enum PendingKind {
    /// Logged (or found logged): to the storage folder, then keep the link.
    Logged {
        key: String,
        link: MessageLink,
        outcome: Outcome,
        entries: u32,
        /// The entries inserted for it (none when it was logged already),
        /// for the ERP's `after-log`.
        records: Vec<EntryRecord>,
        /// The storage folder's path, for the link and the limit check.
        folder: String,
    },
    /// Not loggable: to the not-logged folder.
    NotLogged(NotLogged),
}

/// Why a message is not logged: the reason it is counted by, and the text
/// its ledger and activity lines carry (the ERP's own for a skip by the ERP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NotLogged {
    pub(super) reason: NotLoggedReason,
    pub(super) text: String,
}

impl NotLogged {
    /// One of the component's own reasons, by its name.
    pub(super) fn of(reason: NotLoggedReason) -> Self {
        Self {
            reason,
            text: reason.as_str().to_string(),
        }
    }
}

/// What deciding a message led to.
pub(super) enum Step {
    /// Settled already.
    Done(InboxMessage, Handled),
    /// To log, then move.
    Log(ToLog),
    /// To move.
    Move(Pending),
}

/// What handling one message did; `left_inbox` says whether the Inbox changed.
pub(super) struct Handled {
    pub(super) outcome: Outcome,
    pub(super) reason: Option<String>,
    pub(super) entries: u32,
    pub(super) left_inbox: bool,
}

impl Handled {
    pub(super) fn new(
        outcome: Outcome,
        reason: Option<String>,
        entries: u32,
        left_inbox: bool,
    ) -> Self {
        Self {
            outcome,
            reason,
            entries,
            left_inbox,
        }
    }
}

/// The two folders a run creates on first use.
#[derive(Clone, Copy)]
pub(super) enum FolderRole {
    NotLogged,
    Quarantine,
}
