//! What the logic needs from the ERP host, in the logic's own types.
//!
//! `lib.rs` implements [`Host`] over the generated WIT imports; unit tests
//! implement it in memory. Nothing outside `lib.rs` sees generated bindings.

use chrono::{DateTime, Utc};

/// A failure reported by the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The host refused (for example a URL outside its allow-list).
    #[error("refused by the host: {0}")]
    Denied(String),
    /// The record does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request was malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A transient fault; retrying may work.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A concurrent writer won.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else.
    #[error("host error: {0}")]
    Internal(String),
}

/// An HTTP request for the host to send.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// The method.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Option<Vec<u8>>,
    /// A timeout in milliseconds.
    pub timeout_ms: Option<u32>,
    /// Holds a secret: the host must not log it.
    pub sensitive: bool,
}

/// The host's answer to an [`HttpRequest`].
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An interaction log entry to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    /// The contact.
    pub contact_no: String,
    /// The contact's company.
    pub contact_company_no: Option<String>,
    /// The alternative address code that matched.
    pub contact_alt_address_code: Option<String>,
    /// The salesperson.
    pub salesperson_code: String,
    /// The interaction template for e-mails.
    pub interaction_template_code: String,
    /// Inbound or outbound.
    pub flow: crate::classify::Flow,
    /// The subject (the host truncates it).
    pub subject: String,
    /// RFC 3339 UTC.
    pub datetime: String,
}

/// Where a logged message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLink {
    /// The mailbox that holds the message.
    pub mailbox: String,
    /// The immutable message id.
    pub message_id: String,
    /// The RFC 5322 Message-ID.
    pub internet_message_id: Option<String>,
    /// The Outlook on the web link.
    pub web_link: String,
    /// The folder that holds it, when known.
    pub folder: Option<String>,
}

/// Whose record an address field is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A salesperson (`no` is the code).
    Salesperson,
    /// A contact (`no` is the number).
    Contact,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Salesperson => "salesperson",
            Self::Contact => "contact",
        })
    }
}

/// One e-mail field of a salesperson or contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressField {
    /// A salesperson's or a contact's.
    pub owner: Owner,
    /// Code or number.
    pub no: String,
    /// Which field.
    pub field: String,
    /// The stored value.
    pub value: Option<String>,
}

/// One message's entries and link, for [`Host::log_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEntries {
    /// The message key (`internetMessageId`, else the message id).
    pub key: String,
    /// Its entries, at least one.
    pub entries: Vec<EntryRecord>,
    /// Where the message is before its move.
    pub link: MessageLink,
}

/// A logged message's new link after its move, for [`Host::update_links`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkUpdate {
    /// The message key.
    pub key: String,
    /// The message id of the link before the move.
    pub previous_id: String,
    /// The link after the move.
    pub link: MessageLink,
}

/// An activity log line, for [`Host::log_activities`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// How much it asks of an administrator.
    pub severity: Severity,
    /// What happened.
    pub description: String,
    /// The message it is about, if any.
    pub key: Option<String>,
}

impl Activity {
    /// A line about `key` (or about the run, without one).
    pub fn new(severity: Severity, description: impl Into<String>, key: Option<&str>) -> Self {
        Self {
            severity,
            description: description.into(),
            key: key.map(str::to_string),
        }
    }
}

/// What the ERP's `decide` extension point is told of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFacts {
    /// The message key.
    pub key: String,
    /// The message's id in the mailbox or queue folder.
    pub message_id: String,
    /// The sender, if usable.
    pub sender: Option<String>,
    /// To, Cc and Bcc, without the shared mailbox.
    pub recipients: Vec<String>,
    /// The subject.
    pub subject: String,
    /// When it was sent, RFC 3339 UTC.
    pub sent: Option<String>,
    /// Marked private or confidential.
    pub sensitive: bool,
}

/// What the ERP decided for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on; with a text, the entries keep it instead of the subject.
    Log(Option<String>),
    /// Do not log it, for the ERP's reason.
    Skip(String),
}

/// An address that matched nobody, for the ERP's `unknown-parties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAddress {
    /// The address.
    pub address: String,
    /// The display name the message gave it.
    pub display_name: Option<String>,
    /// The first message of the page that needs it.
    pub key: String,
}

/// A message whose entries were inserted, for the ERP's `after-log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedMessage {
    /// The message key.
    pub key: String,
    /// The entries inserted for it.
    pub entries: Vec<EntryRecord>,
    /// Where it is now.
    pub link: MessageLink,
}

/// What `log_page` did for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutcome {
    /// The entries were inserted.
    Inserted,
    /// Entries existed already for the key.
    AlreadyLogged,
}

/// How the recurring job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrence {
    /// Seconds between runs.
    pub every_seconds: u32,
    /// Seconds until the first run.
    pub first_run_in_seconds: u32,
    /// Attempts per failed run.
    pub max_attempts: u8,
    /// Seconds between attempts.
    pub retry_delay_seconds: u32,
}

/// Where a job queue entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for its next run.
    Ready,
    /// Running now.
    InProcess,
    /// The last run did part of its work; it runs again soon.
    PartlyDone,
    /// The last run failed after all its attempts.
    Error,
    /// Stopped by a person.
    OnHold,
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ready => "ready",
            Self::InProcess => "in-process",
            Self::PartlyDone => "partly-done",
            Self::Error => "error",
            Self::OnHold => "on-hold",
        })
    }
}

/// The job queue entry's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// Where it is in its life.
    pub status: JobState,
    /// Next run, RFC 3339.
    pub next_run: Option<String>,
    /// The last error.
    pub last_error: Option<String>,
}

/// How much an activity log line asks of an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// As it should be.
    Info,
    /// Worth a look; the run went on.
    Warning,
    /// A failure that needs an administrator.
    Error,
}

/// Log levels for host events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail.
    Debug,
    /// Progress.
    Info,
    /// Worth a look.
    Warn,
    /// A failure.
    Error,
}

/// Everything the logic asks of the host.
pub trait Host {
    /// Sends one HTTP request.
    fn http_send(&self, req: HttpRequest) -> Result<HttpResponse, HostError>;
    /// Looks up the parties behind addresses (one call per batch).
    fn lookup_parties(
        &self,
        addresses: &[String],
    ) -> Result<Vec<(String, crate::classify::Party)>, HostError>;
    /// Every e-mail field of salespeople and person contacts.
    fn address_fields(&self) -> Result<Vec<AddressField>, HostError>;
    /// The interaction template for e-mails.
    fn email_template(&self) -> Result<Option<String>, HostError>;
    /// Records the entries of a page's loggable messages in one
    /// transaction, idempotently per key; one outcome per message, in order.
    fn log_page(
        &self,
        messages: &[MessageEntries],
    ) -> Result<Vec<Result<LogOutcome, HostError>>, HostError>;
    /// Replaces the links of logged messages after their moves.
    fn update_links(&self, updates: &[LinkUpdate]) -> Result<(), HostError>;
    /// Appends activity log lines.
    fn log_activities(&self, lines: &[Activity]) -> Result<(), HostError>;
    /// The ERP's `decide` extension point: one decision per message.
    fn decide(&self, messages: &[MessageFacts]) -> Result<Vec<Decision>, HostError> {
        Ok(vec![Decision::Log(None); messages.len()])
    }
    /// The ERP's `unknown-parties` extension point: a contact per address, or none.
    fn unknown_parties(
        &self,
        addresses: &[UnknownAddress],
    ) -> Result<Vec<Option<crate::classify::ContactMatch>>, HostError> {
        Ok(vec![None; addresses.len()])
    }
    /// The ERP's `after-log` extension point.
    fn after_log(&self, _messages: &[LoggedMessage]) -> Result<(), HostError> {
        Ok(())
    }
    /// Reads a stored value and its version.
    fn storage_get(&self, key: &str) -> Result<Option<(String, u64)>, HostError>;
    /// Writes a stored value with compare-and-swap.
    fn storage_put(&self, key: &str, value: &str, expected: Option<u64>) -> Result<u64, HostError>;
    /// Removes a stored value.
    fn storage_remove(&self, key: &str) -> Result<(), HostError>;
    /// Reads a secret.
    fn secret_get(&self, name: &str) -> Result<Option<String>, HostError>;
    /// Stores a secret.
    fn secret_put(&self, name: &str, value: &str) -> Result<(), HostError>;
    /// Removes a secret.
    fn secret_remove(&self, name: &str) -> Result<(), HostError>;
    /// Creates or updates the recurring job.
    fn job_ensure(&self, job: &str, recurrence: Recurrence) -> Result<(), HostError>;
    /// Removes the job.
    fn job_remove(&self, job: &str) -> Result<(), HostError>;
    /// Postpones the job.
    fn job_postpone(&self, job: &str, until_unix_seconds: u64) -> Result<(), HostError>;
    /// The job's state.
    fn job_status(&self, job: &str) -> Result<Option<JobStatus>, HostError>;
    /// The host's client id callback.
    fn host_client_id(&self) -> Option<String>;
    /// The host's client secret callback.
    fn host_client_secret(&self) -> Option<String>;
    /// The host's redirect URL callback.
    fn host_redirect_url(&self) -> Option<String>;
    /// The host's EWS password callback.
    fn host_ews_password(&self) -> Option<String>;
    /// Logs an event (never a secret).
    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]);
    /// The current time.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    /// Waits (for `Retry-After` and backoff).
    fn sleep(&self, duration: std::time::Duration) {
        std::thread::sleep(duration);
    }
    /// Fills a buffer with secure random bytes.
    fn random(&self, buf: &mut [u8]) -> Result<(), HostError> {
        getrandom::fill(buf).map_err(|e| HostError::Internal(format!("no randomness: {e}")))
    }
}

/// The job queue entry's name.
pub const JOB_NAME: &str = "email-logging";
