//! One job run: drain the shared mailbox's Inbox (SPEC §3).
//!
//! Order of work per message is what makes crashes safe: entries are
//! committed through the host (idempotent on the message key) before the
//! message is moved, and a message already logged is only moved. Whatever
//! point a run dies at, the next run completes the work without duplicates.

use crate::auth::AuthError;
use crate::classify::{self, Classification, Directory, Flow, NotLoggedReason, Pair};
use crate::graph::{Graph, GraphError};
use crate::host::{EntryRecord, Host, HostError, JOB_NAME, Level, MessageLink};
use crate::message::{self, InboxMessage};
use crate::report::{Failure, Report};
use crate::setup::{NotLoggedPolicy, STATUS_OK, Setup};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Why a run could not proceed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Email logging is off.
    #[error("email logging is not enabled")]
    NotEnabled,
    /// Setup values are missing.
    #[error("the setup is incomplete: {0}")]
    SetupIncomplete(String),
    /// A person must sign in again or fix the app registration.
    #[error("{0}")]
    SignInRequired(String),
    /// Throttled; retry after so many seconds.
    #[error("throttled by Microsoft Graph; retry after {0} s")]
    Throttled(u32),
    /// The mailbox cannot be used.
    #[error("{0}")]
    Mailbox(String),
    /// Transient or host failure.
    #[error("{0}")]
    Transient(String),
}

impl From<HostError> for RunError {
    fn from(e: HostError) -> Self {
        RunError::Transient(e.to_string())
    }
}

/// What handling one message did.
enum Outcome {
    Logged(u32),
    AlreadyLogged,
    NotLogged(NotLoggedReason),
    Failed(String),
}

/// The state of one run.
struct Run<'a> {
    host: &'a dyn Host,
    setup: &'a Setup,
    graph: Graph<'a>,
    template: String,
    storage_folder: String,
    not_logged_folder: Option<String>,
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

    let result = drain_inbox(host, &setup, &mailbox, template, started, deadline);
    // A grant lost mid-run is recorded on the setup like one lost at the start.
    if let Err(RunError::SignInRequired(m)) = &result {
        setup.status = format!("sign-in required: {m}");
        let (_, version) = Setup::load(host)?;
        setup.save(host, version)?;
    }
    result
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
    let storage_folder = graph
        .ensure_folder(&setup.storage_folder)
        .map_err(|e| run_error(e, mailbox))?;
    let mut run = Run {
        host,
        setup,
        graph,
        template,
        storage_folder,
        not_logged_folder: None,
        report: Report::new(host.now()),
    };
    run.drain(deadline, mailbox)?;
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
            ("failed", &report.failed.len().to_string()),
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
    /// pages it left untouched (messages that failed or are left by policy).
    fn drain(&mut self, deadline: Instant, mailbox: &str) -> Result<(), RunError> {
        let first = self
            .graph
            .first_page_url("inbox", message::SELECT, self.setup.batch_size);
        let mut url = first.clone();
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            if Instant::now() >= deadline {
                self.report.budget_exhausted = true;
                return Ok(());
            }
            let page = match self.graph.page(&url) {
                Ok(p) => p,
                Err(e) => return self.stop_early(e, mailbox),
            };
            self.report.pages += 1;
            let fresh: Vec<(String, Value)> = page
                .items
                .into_iter()
                .map(|item| (seen_key(&item), item))
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect();
            // The shared mailbox is on every message as the BCC target of the
            // mail flow rules; it is nobody's party.
            let parsed: Vec<Result<InboxMessage, String>> = fresh
                .iter()
                .map(|(_, item)| {
                    let mut m = InboxMessage::from_json(item).map_err(|e| e.to_string())?;
                    m.recipients.retain(|r| r.as_str() != mailbox);
                    Ok(m)
                })
                .collect();
            let directory = match self.directory(&parsed) {
                Ok(d) => d,
                Err(e) => {
                    self.report.stopped_early =
                        Some(format!("the ERP could not look up addresses: {e}"));
                    return Ok(());
                }
            };
            let mut inbox_changed = false;
            for msg in parsed {
                if Instant::now() >= deadline {
                    self.report.budget_exhausted = true;
                    return Ok(());
                }
                self.report.messages_seen += 1;
                let msg = match msg {
                    Ok(m) => m,
                    Err(reason) => {
                        self.fail(None, reason);
                        continue;
                    }
                };
                let (outcome, left_inbox) = self.handle(&msg, &directory);
                inbox_changed |= left_inbox;
                match outcome {
                    Outcome::Logged(n) => {
                        self.report.messages_logged += 1;
                        self.report.entries_created += n;
                    }
                    Outcome::AlreadyLogged => self.report.messages_already_logged += 1,
                    Outcome::NotLogged(r) => self.report.count_not_logged(r.as_str()),
                    Outcome::Failed(reason) => self.fail(Some(&msg), reason),
                }
                if let Some(stop) = self.report.stopped_early.as_ref() {
                    self.host
                        .log(Level::Warn, "run stopped early", &[("reason", stop)]);
                    return Ok(());
                }
            }
            url = match (inbox_changed, page.next_link) {
                (true, _) => first.clone(),
                (false, Some(next)) => next,
                (false, None) => {
                    self.report.inbox_drained = true;
                    return Ok(());
                }
            };
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

    /// One batched ERP lookup for every address on a page.
    fn directory(&self, parsed: &[Result<InboxMessage, String>]) -> Result<Directory, HostError> {
        let mut addresses = Vec::new();
        for m in parsed.iter().flatten() {
            for a in classify::addresses_of(m) {
                if !addresses.contains(&a) {
                    addresses.push(a);
                }
            }
        }
        if addresses.is_empty() {
            return Ok(Directory::new());
        }
        let asked: Vec<String> = addresses.iter().map(|a| a.as_str().to_string()).collect();
        let answer = self.host.lookup_parties(&asked)?;
        Ok(addresses
            .into_iter()
            .zip(answer)
            .map(|(a, (_, party))| (a, party))
            .collect())
    }

    /// Handles one message; says whether it left the Inbox.
    fn handle(&mut self, msg: &InboxMessage, dir: &Directory) -> (Outcome, bool) {
        match classify::classify(msg, dir) {
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
        msg: &InboxMessage,
        flow: Flow,
        datetime: Option<DateTime<Utc>>,
        pairs: &[Pair],
    ) -> (Outcome, bool) {
        let key = msg.dedup_key();
        let link = MessageLink {
            message_id: msg.id.clone(),
            internet_message_id: msg.internet_message_id.clone(),
            web_link: msg.web_link.clone().unwrap_or_default(),
        };
        let already = match self.host.is_logged(&key) {
            Ok(a) => a,
            Err(e) => {
                return (
                    Outcome::Failed(format!("the ERP could not check for earlier entries: {e}")),
                    false,
                );
            }
        };
        let mut outcome = Outcome::AlreadyLogged;
        if !already {
            let when = datetime.unwrap_or_else(|| self.host.now());
            let entries: Vec<EntryRecord> = pairs
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
            outcome = match self.host.log_message(&key, &entries, &link) {
                Ok(crate::host::LogOutcome::Inserted) => Outcome::Logged(entries.len() as u32),
                Ok(crate::host::LogOutcome::AlreadyLogged) => Outcome::AlreadyLogged,
                Err(e) => {
                    return (
                        Outcome::Failed(format!("the ERP could not save the entries: {e}")),
                        false,
                    );
                }
            };
        }
        // Only now, with the entries committed, may the message leave the Inbox.
        let destination = self.storage_folder.clone();
        match self.graph.move_message(&msg.id, &destination) {
            Ok(moved) => {
                let link = MessageLink {
                    message_id: moved
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or(&msg.id)
                        .to_string(),
                    web_link: moved
                        .get("webLink")
                        .and_then(Value::as_str)
                        .unwrap_or(&link.web_link)
                        .to_string(),
                    ..link
                };
                if let Err(e) = self.host.update_link(&key, &link) {
                    self.activity(
                        "warning",
                        &format!("logged and moved, but the link could not be updated: {e}"),
                        Some(&key),
                    );
                }
                (outcome, true)
            }
            Err(e) => self.move_failed(e, outcome),
        }
    }

    fn not_logged(&mut self, msg: &InboxMessage, reason: NotLoggedReason) -> (Outcome, bool) {
        let outcome = Outcome::NotLogged(reason);
        let result = match self.setup.not_logged_policy {
            NotLoggedPolicy::Leave => return (outcome, false),
            NotLoggedPolicy::Delete => self.graph.delete_message(&msg.id).map(|_| ()),
            NotLoggedPolicy::MoveToFolder => {
                let folder = match &self.not_logged_folder {
                    Some(f) => Ok(f.clone()),
                    None => self.graph.ensure_folder(&self.setup.not_logged_folder),
                };
                folder.and_then(|f| {
                    self.not_logged_folder = Some(f.clone());
                    self.graph.move_message(&msg.id, &f).map(|_| ())
                })
            }
        };
        match result {
            Ok(()) => {
                let what = format!(
                    "not logged ({}): '{}'",
                    reason.as_str(),
                    msg.subject.chars().take(120).collect::<String>()
                );
                self.activity("info", &what, Some(&msg.dedup_key()));
                (outcome, true)
            }
            Err(e) => self.move_failed(e, outcome),
        }
    }

    /// A move or delete failed: transient faults leave the message for the
    /// next run; a vanished message is reported; throttling ends the run.
    fn move_failed(&mut self, e: GraphError, done: Outcome) -> (Outcome, bool) {
        match e {
            GraphError::Api { status: 404, .. } => (
                Outcome::Failed(format!(
                    "{}; the message is no longer in the Inbox (moved by someone else?)",
                    describe(&done)
                )),
                true,
            ),
            GraphError::Throttled(secs) => {
                self.postpone(secs);
                self.report.stopped_early = Some(e.to_string());
                (
                    Outcome::Failed(format!("{}; not moved yet: {e}", describe(&done))),
                    false,
                )
            }
            other => (
                Outcome::Failed(format!("{}; not moved yet: {other}", describe(&done))),
                false,
            ),
        }
    }

    fn fail(&mut self, msg: Option<&InboxMessage>, reason: String) {
        let key = msg.map(InboxMessage::dedup_key);
        self.activity("error", &reason, key.as_deref());
        self.report.failed.push(Failure {
            message_id: msg
                .map(|m| m.id.clone())
                .unwrap_or_else(|| "(no id)".into()),
            internet_message_id: msg.and_then(|m| m.internet_message_id.clone()),
            reason,
        });
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

fn describe(done: &Outcome) -> &'static str {
    match done {
        Outcome::Logged(_) => "entries saved",
        Outcome::AlreadyLogged => "already logged",
        Outcome::NotLogged(_) => "not loggable",
        Outcome::Failed(_) => "failed",
    }
}

/// Identifies a page item within a run, even one without an id.
fn seen_key(item: &Value) -> String {
    match item.get("id").and_then(Value::as_str) {
        Some(id) => format!("id:{id}"),
        None => format!("raw:{item}"),
    }
}

/// Maps a failure before any message was handled to what the job reports.
fn run_error(e: GraphError, mailbox: &str) -> RunError {
    match e {
        GraphError::Throttled(s) => RunError::Throttled(s),
        GraphError::Auth(AuthError::SignInRequired(m) | AuthError::InvalidClient(m)) => {
            RunError::SignInRequired(m)
        }
        GraphError::Auth(AuthError::Incomplete(m)) => RunError::SetupIncomplete(m),
        GraphError::Api {
            status: 404, code, ..
        } if code == "MailboxNotEnabledForRESTAPI" => RunError::Mailbox(format!(
            "the mailbox {mailbox} is inactive, soft-deleted or on-premises ({code}): it must be an Exchange Online mailbox with a licence"
        )),
        GraphError::Api {
            status: 404, code, ..
        } if code == "ErrorInvalidUser" => RunError::Mailbox(format!(
            "there is no mailbox {mailbox} ({code}): check the shared mailbox address in the setup"
        )),
        GraphError::Api {
            status: 403, code, ..
        } => RunError::Mailbox(format!(
            "access to {mailbox} was denied ({code}): give the job account Full Access to the shared mailbox, and the app Mail.ReadWrite.Shared"
        )),
        other => RunError::Transient(other.to_string()),
    }
}
