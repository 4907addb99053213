//! One job run: drain the shared mailbox's Inbox (SPEC §3).
//!
//! Order of work per message is what makes crashes safe: entries are
//! committed through the host (idempotent on the message key) before the
//! message is moved, and a message already logged is only moved. Whatever
//! point a run dies at, the next run completes the work without duplicates.

use crate::address::Address;
use crate::auth::AuthError;
use crate::classify::{self, Classification, Directory, Flow, NotLoggedReason, Pair};
use crate::graph::{Graph, GraphError};
use crate::host::{EntryRecord, Host, HostError, JOB_NAME, Level, MessageLink};
use crate::message::{self, InboxMessage, MessageError, Unreadable};
use crate::report::{LedgerLine, Outcome, Report};
pub use crate::run_error::RunError;
use crate::run_error::run_error;
use crate::setup::{NotLoggedPolicy, STATUS_OK, Setup};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// What handling one message did; `left_inbox` says whether the Inbox changed.
struct Handled {
    outcome: Outcome,
    reason: Option<String>,
    entries: u32,
    left_inbox: bool,
}

impl Handled {
    fn new(outcome: Outcome, reason: Option<String>, entries: u32, left_inbox: bool) -> Self {
        Self {
            outcome,
            reason,
            entries,
            left_inbox,
        }
    }
}

/// A message whose entries are committed and whose move is still to send.
struct Pending {
    msg: InboxMessage,
    destination: String,
    kind: PendingKind,
}

/// Why a pending message moves.
enum PendingKind {
    /// Logged (or found logged): to the storage folder, then keep the link.
    Logged {
        key: String,
        link: MessageLink,
        outcome: Outcome,
        entries: u32,
        /// The storage folder's path, for the link and the limit check.
        folder: String,
    },
    /// Not loggable: to the not-logged folder.
    NotLogged(NotLoggedReason),
}

/// What deciding a message led to.
enum Step {
    /// Settled already.
    Done(InboxMessage, Handled),
    /// Entries committed; the move is still to send.
    Move(Pending),
}

/// How a failed step should be treated.
enum Failure {
    /// Try again in a later run: the fault may pass (429, 5xx, timeouts, resets).
    Transient(String),
    /// It will fail the same way every time: quarantine the message.
    Permanent(String),
    /// The message is gone from the Inbox (moved or deleted by someone else).
    Vanished,
    /// Graph throttles: defer, end the run, postpone the job by so many seconds.
    Throttled(u32, String),
    /// Nothing more can be done in this run (a full folder, a lost sign-in):
    /// defer and end the run.
    StopRun(String),
}

fn failure(e: &GraphError) -> Failure {
    match e {
        GraphError::Api { status: 404, .. } => Failure::Vanished,
        GraphError::Throttled(secs) => Failure::Throttled(*secs, e.to_string()),
        GraphError::Api { code, .. } if code == "ErrorQuotaExceeded" => {
            Failure::StopRun(format!("a folder is full: {e}"))
        }
        // A grant lost mid-run fails every later call alike: stop; the next
        // run's sign-in check records it on the setup for the administrator.
        GraphError::Auth(AuthError::SignInRequired(_) | AuthError::InvalidClient(_)) => {
            Failure::StopRun(e.to_string())
        }
        GraphError::Api { status, .. }
            if (400..500).contains(status) && !matches!(status, 401 | 408 | 409 | 429) =>
        {
            Failure::Permanent(e.to_string())
        }
        GraphError::Host(HostError::Invalid(m) | HostError::Denied(m)) => {
            Failure::Permanent(m.clone())
        }
        other => Failure::Transient(other.to_string()),
    }
}

fn host_failure(what: &str, e: HostError) -> Failure {
    match e {
        HostError::Invalid(m) | HostError::Denied(m) | HostError::NotFound(m) => {
            Failure::Permanent(format!("{what}: {m}"))
        }
        other => Failure::Transient(format!("{what}: {other}")),
    }
}

/// The state of one run.
struct Run<'a> {
    host: &'a dyn Host,
    mailbox: String,
    setup: &'a Setup,
    graph: Graph<'a>,
    template: String,
    storage_folder: String,
    /// Monthly subfolders of the storage folder met in this run, by month.
    months: HashMap<String, String>,
    /// Storage folders that received messages in this run: id → path.
    filled: BTreeMap<String, String>,
    not_logged_folder: Option<String>,
    quarantine_folder: Option<String>,
    report: Report,
}

/// Runs the job once within `budget_ms`.
pub fn run(host: &dyn Host, budget_ms: u32) -> Result<Report, RunError> {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(u64::from(budget_ms));
    let (mut setup, version) = Setup::load(host)?;
    if !setup.enabled {
        return Err(RunError::NotEnabled);
    }
    let mailbox = setup
        .mailbox()
        .map_err(RunError::SetupIncomplete)?
        .to_string();
    let template = host.email_template()?.ok_or_else(|| {
        RunError::SetupIncomplete(
            "no interaction template for e-mails is set up in the ERP; set one (for example EMAIL) in the interaction template setup".into(),
        )
    })?;

    // Sign in first so that a lost grant is reported as such, and recorded
    // on the setup for the administrator, before any mail is touched.
    let signed_in = {
        let mut graph = Graph::new(host, &setup, &mailbox);
        graph.sign_in()
    };
    match signed_in {
        Err(AuthError::SignInRequired(m) | AuthError::InvalidClient(m)) => {
            setup.status = format!("sign-in required: {m}");
            setup.save(host, version)?;
            return Err(RunError::SignInRequired(m));
        }
        Err(AuthError::Incomplete(m)) => return Err(RunError::SetupIncomplete(m)),
        Err(AuthError::Transient(m) | AuthError::Failed(m)) => return Err(RunError::Transient(m)),
        Ok(()) if setup.status != STATUS_OK => {
            setup.status = STATUS_OK.into();
            setup.save(host, version)?;
        }
        Ok(()) => {}
    }

    let repaired = repair_links(host);
    let result = drain_inbox(host, &setup, &mailbox, template, started, deadline).map(|mut r| {
        r.warnings.extend(repaired);
        r
    });
    // A grant lost mid-run is recorded on the setup like one lost at the start.
    if let Err(RunError::SignInRequired(m)) = &result {
        setup.status = format!("sign-in required: {m}");
        let (_, version) = Setup::load(host)?;
        setup.save(host, version)?;
    }
    result
}

/// Repairs the links earlier runs flagged; returns warnings for the report.
/// A failure here never stops the run: the links stay flagged.
fn repair_links(host: &dyn Host) -> Vec<String> {
    let activity = |severity: &str, text: &str, key: Option<&str>| {
        if let Err(e) = host.log_activity(severity, text, key) {
            host.log(
                Level::Warn,
                "could not write the activity log",
                &[("error", &e.to_string())],
            );
        }
    };
    match crate::links::repair_flagged(host) {
        Ok(done) => {
            if done.repaired > 0 {
                activity(
                    "info",
                    &format!(
                        "repaired the links of {} logged messages whose move was not confirmed",
                        done.repaired
                    ),
                    None,
                );
            }
            let mut warnings = Vec::new();
            for key in &done.lost {
                let text = "a logged message whose move was not confirmed cannot be found in the mailbox any more; its entries keep the old link";
                activity("warning", text, Some(key));
                warnings.push(format!("{text} ({key})"));
            }
            warnings
        }
        Err(e) => {
            host.log(
                Level::Warn,
                "could not repair flagged links; they stay flagged",
                &[("error", &e.to_string())],
            );
            Vec::new()
        }
    }
}

fn drain_inbox(
    host: &dyn Host,
    setup: &Setup,
    mailbox: &str,
    template: String,
    started: Instant,
    deadline: Instant,
) -> Result<Report, RunError> {
    let mut graph = Graph::new(host, setup, mailbox);
    graph.set_deadline(deadline);
    graph.set_limits(crate::graph::pacing::GraphLimits::load(host));
    let storage_folder = graph
        .ensure_folder(&setup.storage_folder)
        .map_err(|e| run_error(e, mailbox))?;
    let mut run = Run {
        host,
        mailbox: mailbox.to_string(),
        setup,
        graph,
        template,
        storage_folder,
        months: HashMap::new(),
        filled: BTreeMap::new(),
        not_logged_folder: None,
        quarantine_folder: None,
        report: Report::new(host.now()),
    };
    run.drain(deadline, mailbox)?;
    run.check_folder_limits();
    let mut report = run.report;
    report.requests = run.graph.requests + run.graph.token_requests();
    report.throttled_waits = run.graph.throttled_waits;
    report.duration_ms = started.elapsed().as_millis() as u64;
    host.log(
        Level::Info,
        "email logging run finished",
        &[
            ("seen", &report.messages_seen.to_string()),
            ("logged", &report.messages_logged.to_string()),
            ("entries", &report.entries_created.to_string()),
            ("quarantined", &report.messages_quarantined.to_string()),
            ("deferred", &report.messages_deferred.to_string()),
        ],
    );
    Ok(report)
}

impl Run<'_> {
    /// Reads the Inbox oldest first until it is drained or the budget is spent.
    ///
    /// Graph pages messages with `$skip` over the folder's current content, so
    /// after this run moved anything out, a next link would skip unseen
    /// messages. The loop therefore starts over from the first page whenever a
    /// page changed the Inbox, and follows the opaque next link only across
    /// pages it left untouched (messages deferred or left by policy).
    ///
    /// Pages are sized to fit: a page whose answer is large (long recipient
    /// lists) makes the next ones smaller, one too large for the host is read
    /// again smaller, and a message too large to be read even alone is
    /// quarantined by its identity, so it never blocks the messages after it.
    fn drain(&mut self, deadline: Instant, mailbox: &str) -> Result<(), RunError> {
        let batch = self.setup.batch_size.max(1);
        let mut top = batch;
        let mut url = self.graph.first_page_url("inbox", message::SELECT, top);
        // Messages passed since the first page: where the next page starts.
        let mut position = 0usize;
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            if Instant::now() >= deadline {
                self.report.budget_exhausted = true;
                return Ok(());
            }
            let page = match self.graph.page(&url) {
                Ok(p) => p,
                Err(GraphError::Host(HostError::Invalid(m))) if m.contains("larger than") => {
                    if top > 1 {
                        // Read the same messages again in smaller pages.
                        top = (top / 2).max(1);
                        url = self.graph.page_url("inbox", message::SELECT, top, position);
                        continue;
                    }
                    match self.quarantine_unreadable(position, &mut seen) {
                        Ok(true) => position = 0,
                        Ok(false) => position += 1,
                        Err(e) => return self.stop_early(e, mailbox),
                    }
                    if self.report.stopped_early.is_some() {
                        return Ok(());
                    }
                    url = self.graph.page_url("inbox", message::SELECT, top, position);
                    continue;
                }
                Err(e) => return self.stop_early(e, mailbox),
            };
            self.report.pages += 1;
            let (read, bytes) = (page.items.len(), page.bytes);
            let next_link = page.next_link;
            // Items are parsed one at a time and their text dropped as they
            // go, so a page costs little more than its answer's size.
            let parsed: Vec<Result<InboxMessage, Unreadable>> = page
                .items
                .into_iter()
                .filter_map(|raw| {
                    let item = InboxMessage::from_raw(&raw);
                    let key = match &item {
                        Ok(m) => format!("id:{}", m.id),
                        Err(Unreadable { id: Some(id), .. }) => format!("id:{id}"),
                        Err(_) => format!("raw:{:x}", Sha256::digest(raw.get().as_bytes())),
                    };
                    seen.insert(key).then_some(item)
                })
                .map(|item| {
                    // The shared mailbox is on every message as the BCC
                    // target of the mail flow rules; it is nobody's party.
                    item.map(|mut m| {
                        m.recipients.retain(|r| r.as_str() != mailbox);
                        m
                    })
                })
                .collect();
            let directory = self.directory(&parsed);
            let mut inbox_changed = false;
            let mut pending: Vec<Pending> = Vec::new();
            for msg in parsed {
                if Instant::now() >= deadline {
                    self.report.budget_exhausted = true;
                    break;
                }
                match msg {
                    Ok(m) => match directory.failure(&m) {
                        Some(f) => {
                            let h = self.failed(&m, f);
                            inbox_changed |= self.finish(&m, h);
                        }
                        None => match self.prepare(m, &directory.parties) {
                            Step::Done(m, h) => inbox_changed |= self.finish(&m, h),
                            Step::Move(p) => pending.push(p),
                        },
                    },
                    Err(u) => inbox_changed |= self.unreadable(u),
                }
                if self.report.stopped_early.is_some() {
                    break;
                }
            }
            // The entries of these messages are committed: move them now,
            // even when the budget or a throttled step ends the run.
            for (m, h) in self.flush(pending) {
                inbox_changed |= self.finish(&m, h);
            }
            let fields = self.report.progress_fields();
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            self.host.log(Level::Info, crate::report::PROGRESS, &fields);
            if let Some(stop) = self.report.stopped_early.as_ref() {
                self.host
                    .log(Level::Warn, "run stopped early", &[("reason", stop)]);
                return Ok(());
            }
            if self.report.budget_exhausted {
                return Ok(());
            }
            let sized = page_size(top, batch, read, bytes);
            if inbox_changed {
                position = 0;
            } else if next_link.is_some() {
                position += read;
            }
            url = match (inbox_changed, next_link) {
                (false, None) => {
                    self.report.inbox_drained = true;
                    return Ok(());
                }
                (false, Some(next)) if sized == top => next,
                _ => {
                    top = sized;
                    self.graph.page_url("inbox", message::SELECT, top, position)
                }
            };
        }
    }

    /// A message too large for the host to send even alone, at `position` in
    /// the Inbox: read its identity only, and quarantine it. Says whether it
    /// left the Inbox.
    fn quarantine_unreadable(
        &mut self,
        position: usize,
        seen: &mut HashSet<String>,
    ) -> Result<bool, GraphError> {
        let url = self
            .graph
            .page_url("inbox", message::SELECT_IDENTITY, 1, position);
        let page = self.graph.page(&url)?;
        let Some(raw) = page.items.first() else {
            // The Inbox changed under the run; start over.
            return Ok(true);
        };
        let mut u = match InboxMessage::from_raw(raw) {
            Ok(m) => Unreadable {
                id: Some(m.id),
                internet_message_id: m.internet_message_id,
                error: MessageError::NoId,
            },
            Err(u) => u,
        };
        if let Some(id) = &u.id
            && !seen.insert(format!("id:{id}"))
        {
            // Handled in this run already (its quarantine failed): skip it.
            return Ok(false);
        }
        u.error = MessageError::TooLarge(
            "the message is too large to be read: its headers and recipient lists are larger than the ERP host accepts in one answer".into(),
        );
        Ok(self.unreadable(u))
    }

    /// Settles an item that cannot be logged as it is: quarantined when it has
    /// an id, else deferred (it cannot be moved anywhere). Says whether it
    /// left the Inbox.
    fn unreadable(&mut self, u: Unreadable) -> bool {
        let reason = u.error.to_string();
        match u.identity() {
            Some(m) if matches!(u.error, MessageError::TooLarge(_)) => {
                let h = self.failed(&m, Failure::Permanent(reason));
                self.finish(&m, h)
            }
            _ => {
                self.activity(
                    "error",
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
    fn stop_early(&mut self, e: GraphError, mailbox: &str) -> Result<(), RunError> {
        if self.report.pages == 0 {
            return Err(run_error(e, mailbox));
        }
        if let GraphError::Throttled(secs) = e {
            self.postpone(secs);
        }
        self.report.stopped_early = Some(e.to_string());
        Ok(())
    }

    fn postpone(&self, secs: u32) {
        let until = self.host.now().timestamp().max(0) as u64 + u64::from(secs);
        if let Err(e) = self.host.job_postpone(JOB_NAME, until) {
            self.host.log(
                Level::Warn,
                "could not postpone the job",
                &[("error", &e.to_string())],
            );
        }
    }

    /// The ERP's parties for every address on a page, asked in lookups of at
    /// most [`LOOKUP_CHUNK`] addresses. A lookup the host refuses as too
    /// large is split; addresses whose lookup failed fail only the messages
    /// that have them.
    fn directory(&self, parsed: &[Result<InboxMessage, Unreadable>]) -> PageDirectory {
        let mut addresses = Vec::new();
        let mut known = HashSet::new();
        for m in parsed.iter().flatten() {
            for a in classify::addresses_of(m) {
                if known.insert(a.clone()) {
                    addresses.push(a);
                }
            }
        }
        let mut dir = PageDirectory::default();
        let mut todo: Vec<&[Address]> = addresses.chunks(LOOKUP_CHUNK).rev().collect();
        while let Some(chunk) = todo.pop() {
            let asked: Vec<String> = chunk.iter().map(|a| a.as_str().to_string()).collect();
            match self.host.lookup_parties(&asked) {
                Ok(answer) if answer.len() == chunk.len() => dir.parties.extend(
                    chunk
                        .iter()
                        .cloned()
                        .zip(answer.into_iter().map(|(_, party)| party)),
                ),
                Ok(answer) => {
                    let e = HostError::Internal(format!(
                        "the ERP answered {} parties for {} addresses",
                        answer.len(),
                        chunk.len()
                    ));
                    dir.fail(chunk, e);
                }
                Err(HostError::Invalid(_)) if chunk.len() > 1 => {
                    let (a, b) = chunk.split_at(chunk.len() / 2);
                    todo.push(b);
                    todo.push(a);
                }
                Err(e) => dir.fail(chunk, e),
            }
        }
        dir
    }

    /// Records a handled message in the ledger; says whether it left the Inbox.
    fn finish(&mut self, m: &InboxMessage, h: Handled) -> bool {
        if h.outcome == Outcome::Deferred
            && let Some(reason) = h.reason.as_deref()
        {
            self.activity(
                "warning",
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

    /// Decides a message and commits its entries; the move, if any, is left
    /// for [`Self::flush`] to send with the page's other moves.
    fn prepare(&mut self, msg: InboxMessage, dir: &Directory) -> Step {
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
                let h = self.failed(&msg, failure(&e));
                return Step::Done(msg, h);
            }
        };
        let key = msg.dedup_key();
        let link = MessageLink {
            mailbox: self.mailbox.clone(),
            message_id: msg.id.clone(),
            internet_message_id: msg.internet_message_id.clone(),
            web_link: crate::web_link::outlook_link(msg.web_link.as_deref(), &msg.id),
            folder: Some("Inbox".into()),
        };
        let already = match self.host.is_logged(&key) {
            Ok(a) => a,
            Err(e) => {
                let h = self.failed(
                    &msg,
                    host_failure("the ERP could not check for earlier entries", e),
                );
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
                Ok(crate::host::LogOutcome::Inserted) => {
                    outcome = Outcome::Logged;
                    entries = records.len() as u32;
                }
                Ok(crate::host::LogOutcome::AlreadyLogged) => {}
                Err(e) => {
                    let h =
                        self.failed(&msg, host_failure("the ERP could not save the entries", e));
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
                Step::Done(msg, Handled::new(Outcome::NotLogged, why, 0, false))
            }
            NotLoggedPolicy::Delete => {
                let result = self.graph.delete_message(&msg.id).map(|_| Value::Null);
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
                    let h = self.failed(&msg, failure(&e));
                    Step::Done(msg, h)
                }
            },
        }
    }

    /// Sends a page's moves (one request, or `$batch`es for several) and
    /// settles each message by its own answer.
    fn flush(&mut self, pending: Vec<Pending>) -> Vec<(InboxMessage, Handled)> {
        let results = match pending.as_slice() {
            [] => return Vec::new(),
            [one] => vec![self.graph.move_message(&one.msg.id, &one.destination)],
            many => {
                let moves: Vec<(String, String)> = many
                    .iter()
                    .map(|p| (p.msg.id.clone(), p.destination.clone()))
                    .collect();
                self.graph.move_many(&moves)
            }
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
                        folder,
                    } => {
                        if result.is_ok() {
                            self.filled.insert(p.destination.clone(), folder.clone());
                        }
                        let link = MessageLink {
                            folder: Some(folder),
                            ..link
                        };
                        self.after_log(&p.msg, &key, link, outcome, entries, result)
                    }
                    PendingKind::NotLogged(reason) => self.after_not_logged(&p.msg, reason, result),
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
        moved: Result<Value, GraphError>,
    ) -> Handled {
        match moved {
            Ok(moved) => {
                let message_id = moved
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.trim().is_empty())
                    .unwrap_or(&msg.id)
                    .to_string();
                let web_link = match moved.get("webLink").and_then(Value::as_str) {
                    Some(l) => crate::web_link::outlook_link(Some(l), &message_id),
                    None => link.web_link.clone(),
                };
                let link = MessageLink {
                    message_id,
                    web_link,
                    ..link
                };
                if let Err(e) = self.host.update_link(key, &link) {
                    self.activity(
                        "warning",
                        &format!("logged and moved, but the link could not be updated: {e}"),
                        Some(key),
                    );
                }
                Handled::new(outcome, None, entries, true)
            }
            Err(e) => {
                // The entries are committed with the Inbox link, and where the
                // message is now is not known: the next run finds it and
                // repairs the link (a message still in the Inbox is moved then
                // anyway).
                if let Err(e) = crate::links::flag(
                    self.host,
                    key,
                    &link.mailbox,
                    &msg.id,
                    msg.internet_message_id.as_deref(),
                ) {
                    self.activity(
                        "warning",
                        &format!("logged, but the message's link cannot be flagged for repair ({e}); run entries repair-links"),
                        Some(key),
                    );
                }
                self.after_failed_move(msg, key, outcome, entries, e)
            }
        }
    }

    fn after_failed_move(
        &mut self,
        msg: &InboxMessage,
        key: &str,
        outcome: Outcome,
        entries: u32,
        e: GraphError,
    ) -> Handled {
        match failure(&e) {
            Failure::Vanished => {
                self.activity(
                    "warning",
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

    fn after_not_logged(
        &mut self,
        msg: &InboxMessage,
        reason: NotLoggedReason,
        result: Result<Value, GraphError>,
    ) -> Handled {
        match result.map_err(|e| failure(&e)) {
            Ok(_) | Err(Failure::Vanished) => {
                let what = format!(
                    "not logged ({}): '{}'",
                    reason.as_str(),
                    msg.subject.chars().take(120).collect::<String>()
                );
                self.activity("info", &what, Some(&msg.dedup_key()));
                Handled::new(
                    Outcome::NotLogged,
                    Some(reason.as_str().to_string()),
                    0,
                    true,
                )
            }
            Err(f) => self.failed(msg, f),
        }
    }

    /// A step failed: transient faults defer the message to the next run
    /// (never deleting or moving it), permanent ones quarantine it so it
    /// never blocks later messages; throttling also ends the run.
    fn failed(&mut self, msg: &InboxMessage, f: Failure) -> Handled {
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
                let moved = self
                    .folder(FolderRole::Quarantine)
                    .and_then(|f| self.graph.move_message(&msg.id, &f));
                match moved {
                    Ok(_) => {
                        self.activity(
                            "error",
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
    fn storage_destination(
        &mut self,
        datetime: Option<DateTime<Utc>>,
    ) -> Result<(String, String), GraphError> {
        if !self.setup.monthly_subfolders {
            return Ok((
                self.storage_folder.clone(),
                self.setup.storage_folder.clone(),
            ));
        }
        let month = datetime
            .unwrap_or_else(|| self.host.now())
            .format("%Y-%m")
            .to_string();
        let path = format!("{}/{month}", self.setup.storage_folder);
        if let Some(id) = self.months.get(&month) {
            return Ok((id.clone(), path));
        }
        let id = self
            .graph
            .ensure_child_folder(&self.storage_folder, &month)?;
        self.months.insert(month, id.clone());
        Ok((id, path))
    }

    /// Warns (report and activity log) about storage folders that passed the
    /// warning share of their item limit in this run, long before moves fail.
    fn check_folder_limits(&mut self) {
        let filled = std::mem::take(&mut self.filled);
        for (id, path) in filled {
            match self.graph.folder_count(&id) {
                Ok(n) if self.setup.folder_warns(n) => {
                    let text = format!(
                        "the storage folder '{path}' holds {n} items, {}% of the limit of {}; choose a new storage folder or turn on monthly subfolders (old entries keep their links)",
                        n * 100 / u64::from(self.setup.folder_item_limit.max(1)),
                        self.setup.folder_item_limit
                    );
                    self.activity("warning", &text, None);
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
    fn folder(&mut self, role: FolderRole) -> Result<String, GraphError> {
        let (slot, name) = match role {
            FolderRole::NotLogged => (&self.not_logged_folder, &self.setup.not_logged_folder),
            FolderRole::Quarantine => (&self.quarantine_folder, &self.setup.quarantine_folder),
        };
        if let Some(id) = slot {
            return Ok(id.clone());
        }
        let id = self.graph.ensure_folder(name)?;
        match role {
            FolderRole::NotLogged => self.not_logged_folder = Some(id.clone()),
            FolderRole::Quarantine => self.quarantine_folder = Some(id.clone()),
        }
        Ok(id)
    }

    fn activity(&self, severity: &str, description: &str, key: Option<&str>) {
        if let Err(e) = self.host.log_activity(severity, description, key) {
            self.host.log(
                Level::Warn,
                "could not write the activity log",
                &[("error", &e.to_string())],
            );
        }
    }
}

/// The two folders a run creates on first use.
#[derive(Clone, Copy)]
enum FolderRole {
    NotLogged,
    Quarantine,
}

/// Most addresses asked of the ERP in one lookup. The WIT asks every host
/// to take at least this many in one call.
pub const LOOKUP_CHUNK: usize = 1_000;

/// An answer past this many bytes makes the next pages smaller, so that a
/// page and its parsed messages stay well inside the component's memory.
const PAGE_BYTES: usize = 4 << 20;

/// The page size to ask for next: smaller after an answer past
/// [`PAGE_BYTES`], back towards the setup's batch size after small ones.
fn page_size(top: u32, batch: u32, read: usize, bytes: usize) -> u32 {
    if bytes > PAGE_BYTES && read > 1 {
        let fits = (read * PAGE_BYTES / bytes).max(1);
        (fits as u32).min(top)
    } else if bytes < PAGE_BYTES / 4 && top < batch {
        top.saturating_mul(2).min(batch)
    } else {
        top
    }
}

/// The ERP's answer for a page's addresses, and the lookups that failed.
#[derive(Default)]
struct PageDirectory {
    parties: Directory,
    failed: HashMap<Address, HostError>,
}

impl PageDirectory {
    fn fail(&mut self, addresses: &[Address], e: HostError) {
        for a in addresses {
            self.failed.insert(a.clone(), e.clone());
        }
    }

    /// Why this message cannot be decided in this run, if one of its
    /// addresses could not be looked up: a transient fault defers it and ends
    /// the run (every later lookup would fail alike), an address the ERP
    /// refuses quarantines it.
    fn failure(&self, m: &InboxMessage) -> Option<Failure> {
        let e = classify::addresses_of(m)
            .iter()
            .find_map(|a| self.failed.get(a))?;
        let what = "the ERP could not look up the message's addresses";
        Some(match e {
            HostError::Invalid(_) | HostError::Denied(_) | HostError::NotFound(_) => {
                host_failure(what, e.clone())
            }
            other => Failure::StopRun(format!("{what}: {other}")),
        })
    }
}
