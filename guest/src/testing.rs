//! An ERP host and a mailbox in memory, for native unit tests of the
//! pipeline, the setup actions and link repair. Each can be told to fail
//! the way a real one does (a busy database, a throttled mailbox, a move
//! whose answer is lost), so a test points at the stage that broke. The
//! end-to-end suite on the real host and the Graph emulator stays the proof.

use crate::classify::{ContactMatch, Party, Salesperson};
use crate::host::{
    Activity, AddressField, Decision, EntryRecord, Host, HostError, HttpRequest, HttpResponse,
    JobState, JobStatus, Level, LinkUpdate, LogOutcome, LoggedMessage, MessageEntries,
    MessageFacts, MessageLink, Recurrence, Severity, UnknownAddress,
};
use crate::mail_store::{
    AccessCheck, Cursor, FolderInfo, MailError, MailStore, MessageRef, Moved, Page, Resolution,
    Usage,
};
use crate::message::{InboxMessage, Unreadable};
use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Salesperson addresses of the in-memory ERP.
pub const JO: &str = "jim.olive@cronus.example";
pub const LT: &str = "lina.townsend@cronus.example";
/// Contacts: Andy (CT1, company CT0), Mindy (CT2, alternative address HOME).
pub const ANDY: &str = "andy@cannon.example";
pub const MINDY: &str = "mindy@selangorian.example";
pub const MINDY_HOME: &str = "mindy@home.example";
/// The shared mailbox.
pub const MAILBOX: &str = "logging@cronus.example";

/// One entry logged, with its message key and link.
#[derive(Debug, Clone)]
pub struct Logged {
    pub entries: Vec<EntryRecord>,
    pub link: MessageLink,
}

/// A host log event: its message and its fields.
pub type Event = (String, Vec<(String, String)>);

/// The ERP in memory.
pub struct MemHost {
    parties: RefCell<HashMap<String, Party>>,
    pub template: RefCell<Option<String>>,
    pub logged: RefCell<BTreeMap<String, Logged>>,
    pub activity: RefCell<Vec<(Severity, String, Option<String>)>>,
    pub events: RefCell<Vec<Event>>,
    state: RefCell<BTreeMap<String, (String, u64)>>,
    secrets: RefCell<BTreeMap<String, String>>,
    pub job: RefCell<Option<JobStatus>>,
    pub postponed_until: Cell<Option<u64>>,
    /// Most addresses one lookup takes; more is refused as `invalid`.
    pub lookup_limit: Cell<usize>,
    /// The next lookups fail with these.
    pub lookup_faults: RefCell<VecDeque<HostError>>,
    /// The next messages given to `log-page` fail with these, one each.
    pub log_faults: RefCell<VecDeque<HostError>>,
    /// The page-level ERP calls made (`log-page`, `update-links`,
    /// `log-activities`), in order.
    pub calls: RefCell<Vec<&'static str>>,
    pub lookups: Cell<usize>,
    /// The answers the next HTTP requests get, in order; none left: refused.
    pub http: RefCell<VecDeque<Result<HttpResponse, HostError>>>,
    /// The HTTP requests sent.
    pub sent: RefCell<Vec<HttpRequest>>,
    /// The waits asked for.
    pub slept: RefCell<Vec<std::time::Duration>>,
    /// The ERP's `decide`: its decision for a message (none set: log all).
    pub decide_with: RefCell<Option<DecideFn>>,
    /// The next `decide` calls fail with these.
    pub decide_faults: RefCell<VecDeque<HostError>>,
    /// Every message `decide` was asked about.
    pub decided: RefCell<Vec<MessageFacts>>,
    /// The ERP's `unknown-parties`: the contact it creates for an address
    /// (then found by later lookups, as a real ERP's would be).
    pub creates: RefCell<HashMap<String, ContactMatch>>,
    /// Every address `unknown-parties` was asked about.
    pub unknown_asked: RefCell<Vec<UnknownAddress>>,
    /// The next `after-log` calls fail with these.
    pub after_log_faults: RefCell<VecDeque<HostError>>,
    /// Every message `after-log` was told about.
    pub after_logged: RefCell<Vec<LoggedMessage>>,
}

/// A test ERP's decision for one message.
pub type DecideFn = Box<dyn Fn(&MessageFacts) -> Decision>;

impl Default for MemHost {
    fn default() -> Self {
        Self::new()
    }
}

impl MemHost {
    /// An ERP with salespeople JO and LT and contacts Andy and Mindy.
    pub fn new() -> Self {
        let h = Self {
            parties: RefCell::default(),
            template: RefCell::new(Some("EMAIL".into())),
            logged: RefCell::default(),
            activity: RefCell::default(),
            events: RefCell::default(),
            state: RefCell::default(),
            secrets: RefCell::default(),
            job: RefCell::default(),
            postponed_until: Cell::new(None),
            lookup_limit: Cell::new(usize::MAX),
            lookup_faults: RefCell::default(),
            log_faults: RefCell::default(),
            calls: RefCell::default(),
            lookups: Cell::new(0),
            http: RefCell::default(),
            sent: RefCell::default(),
            slept: RefCell::default(),
            decide_with: RefCell::default(),
            decide_faults: RefCell::default(),
            decided: RefCell::default(),
            creates: RefCell::default(),
            unknown_asked: RefCell::default(),
            after_log_faults: RefCell::default(),
            after_logged: RefCell::default(),
        };
        h.salesperson(JO, "JO");
        h.salesperson(LT, "LT");
        h.contact(ANDY, "CT1", Some("CT0"), None);
        h.contact(MINDY, "CT2", None, None);
        h.contact(MINDY_HOME, "CT2", None, Some("HOME"));
        h
    }

    /// Adds a salesperson with this address.
    pub fn salesperson(&self, address: &str, code: &str) {
        self.parties
            .borrow_mut()
            .entry(address.to_string())
            .or_default()
            .salesperson = Some(Salesperson { code: code.into() });
    }

    /// Adds a contact match for this address.
    pub fn contact(&self, address: &str, no: &str, company: Option<&str>, alt: Option<&str>) {
        self.parties
            .borrow_mut()
            .entry(address.to_string())
            .or_default()
            .contacts
            .push(ContactMatch {
                contact_no: no.into(),
                company_no: company.map(str::to_string),
                alt_address_code: alt.map(str::to_string),
            });
    }

    /// Every entry logged, as (contact, salesperson) pairs, by message key.
    pub fn pairs(&self) -> Vec<(String, String, String)> {
        self.logged
            .borrow()
            .iter()
            .flat_map(|(key, l)| {
                l.entries.iter().map(|e| {
                    (
                        key.clone(),
                        e.contact_no.clone(),
                        e.salesperson_code.clone(),
                    )
                })
            })
            .collect()
    }

    /// Whether an activity line mentions `text`.
    pub fn saw_activity(&self, text: &str) -> bool {
        self.activity
            .borrow()
            .iter()
            .any(|(_, d, _)| d.contains(text))
    }

    /// The severity of the first activity line that mentions `text`.
    pub fn severity_of(&self, text: &str) -> Option<Severity> {
        self.activity
            .borrow()
            .iter()
            .find(|(_, d, _)| d.contains(text))
            .map(|(s, _, _)| *s)
    }
}

impl Host for MemHost {
    fn http_send(&self, req: HttpRequest) -> Result<HttpResponse, HostError> {
        self.sent.borrow_mut().push(req);
        self.http
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| Err(HostError::Denied("no network in unit tests".into())))
    }

    fn lookup_parties(&self, addresses: &[String]) -> Result<Vec<(String, Party)>, HostError> {
        self.lookups.set(self.lookups.get() + 1);
        if let Some(e) = self.lookup_faults.borrow_mut().pop_front() {
            return Err(e);
        }
        if addresses.len() > self.lookup_limit.get() {
            return Err(HostError::Invalid("too many addresses".into()));
        }
        let parties = self.parties.borrow();
        Ok(addresses
            .iter()
            .map(|a| (a.clone(), parties.get(a).cloned().unwrap_or_default()))
            .collect())
    }

    fn address_fields(&self) -> Result<Vec<AddressField>, HostError> {
        Ok(Vec::new())
    }

    fn email_template(&self) -> Result<Option<String>, HostError> {
        Ok(self.template.borrow().clone())
    }

    fn log_page(
        &self,
        messages: &[MessageEntries],
    ) -> Result<Vec<Result<LogOutcome, HostError>>, HostError> {
        self.calls.borrow_mut().push("log-page");
        let mut logged = self.logged.borrow_mut();
        Ok(messages
            .iter()
            .map(|m| {
                if let Some(e) = self.log_faults.borrow_mut().pop_front() {
                    return Err(e);
                }
                if logged.contains_key(&m.key) {
                    return Ok(LogOutcome::AlreadyLogged);
                }
                logged.insert(
                    m.key.clone(),
                    Logged {
                        entries: m.entries.clone(),
                        link: m.link.clone(),
                    },
                );
                Ok(LogOutcome::Inserted)
            })
            .collect())
    }

    fn update_links(&self, updates: &[LinkUpdate]) -> Result<(), HostError> {
        self.calls.borrow_mut().push("update-links");
        let mut logged = self.logged.borrow_mut();
        for u in updates {
            if let Some(l) = logged.get_mut(&u.key)
                && l.link.message_id == u.previous_id
            {
                l.link = u.link.clone();
            }
        }
        Ok(())
    }

    fn log_activities(&self, lines: &[Activity]) -> Result<(), HostError> {
        self.calls.borrow_mut().push("log-activities");
        self.activity.borrow_mut().extend(
            lines
                .iter()
                .map(|a| (a.severity, a.description.clone(), a.key.clone())),
        );
        Ok(())
    }

    fn decide(&self, messages: &[MessageFacts]) -> Result<Vec<Decision>, HostError> {
        self.calls.borrow_mut().push("decide");
        if let Some(e) = self.decide_faults.borrow_mut().pop_front() {
            return Err(e);
        }
        self.decided.borrow_mut().extend(messages.iter().cloned());
        let decide = self.decide_with.borrow();
        Ok(messages
            .iter()
            .map(|m| match decide.as_ref() {
                Some(f) => f(m),
                None => Decision::Log(None),
            })
            .collect())
    }

    fn unknown_parties(
        &self,
        addresses: &[UnknownAddress],
    ) -> Result<Vec<Option<ContactMatch>>, HostError> {
        self.calls.borrow_mut().push("unknown-parties");
        self.unknown_asked
            .borrow_mut()
            .extend(addresses.iter().cloned());
        Ok(addresses
            .iter()
            .map(|a| {
                let c = self.creates.borrow().get(&a.address).cloned()?;
                self.contact(
                    &a.address,
                    &c.contact_no,
                    c.company_no.as_deref(),
                    c.alt_address_code.as_deref(),
                );
                Some(c)
            })
            .collect())
    }

    fn after_log(&self, messages: &[LoggedMessage]) -> Result<(), HostError> {
        self.calls.borrow_mut().push("after-log");
        if let Some(e) = self.after_log_faults.borrow_mut().pop_front() {
            return Err(e);
        }
        self.after_logged
            .borrow_mut()
            .extend(messages.iter().cloned());
        Ok(())
    }

    fn storage_get(&self, key: &str) -> Result<Option<(String, u64)>, HostError> {
        Ok(self.state.borrow().get(key).cloned())
    }

    fn storage_put(&self, key: &str, value: &str, expected: Option<u64>) -> Result<u64, HostError> {
        let mut state = self.state.borrow_mut();
        let now = state.get(key).map(|(_, v)| *v);
        if now != expected {
            return Err(HostError::Conflict(format!("{key} was written meanwhile")));
        }
        let version = now.unwrap_or(0) + 1;
        state.insert(key.to_string(), (value.to_string(), version));
        Ok(version)
    }

    fn storage_remove(&self, key: &str) -> Result<(), HostError> {
        self.state.borrow_mut().remove(key);
        Ok(())
    }

    fn secret_get(&self, name: &str) -> Result<Option<String>, HostError> {
        Ok(self.secrets.borrow().get(name).cloned())
    }

    fn secret_put(&self, name: &str, value: &str) -> Result<(), HostError> {
        self.secrets
            .borrow_mut()
            .insert(name.to_string(), value.to_string());
        Ok(())
    }

    fn secret_remove(&self, name: &str) -> Result<(), HostError> {
        self.secrets.borrow_mut().remove(name);
        Ok(())
    }

    fn job_ensure(&self, _job: &str, _recurrence: Recurrence) -> Result<(), HostError> {
        *self.job.borrow_mut() = Some(JobStatus {
            status: JobState::Ready,
            next_run: None,
            last_error: None,
        });
        Ok(())
    }

    fn job_remove(&self, _job: &str) -> Result<(), HostError> {
        *self.job.borrow_mut() = None;
        Ok(())
    }

    fn job_postpone(&self, _job: &str, until: u64) -> Result<(), HostError> {
        self.postponed_until.set(Some(until));
        Ok(())
    }

    fn job_status(&self, _job: &str) -> Result<Option<JobStatus>, HostError> {
        Ok(self.job.borrow().clone())
    }

    fn host_client_id(&self) -> Option<String> {
        None
    }

    fn host_client_secret(&self) -> Option<String> {
        None
    }

    fn host_ews_password(&self) -> Option<String> {
        None
    }

    fn host_redirect_url(&self) -> Option<String> {
        None
    }

    fn log(&self, _level: Level, message: &str, fields: &[(&str, &str)]) {
        self.events.borrow_mut().push((
            message.to_string(),
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
    }

    fn now(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    fn sleep(&self, duration: std::time::Duration) {
        self.slept.borrow_mut().push(duration);
    }

    fn random(&self, buf: &mut [u8]) -> Result<(), HostError> {
        buf.fill(7);
        Ok(())
    }
}

/// A message in a folder of the in-memory mailbox.
#[derive(Debug, Clone)]
struct Item {
    folder: String,
    item: Result<InboxMessage, Unreadable>,
}

/// A mailbox in memory: folders by path (which is also their id), the
/// Inbox in order of arrival, and faults to meet.
pub struct MemStore {
    items: Vec<Item>,
    folders: BTreeMap<String, String>,
    position: usize,
    last_read: usize,
    /// The next page reads: `None` reads, `Some` fails with it.
    pub page_faults: VecDeque<Option<MailError>>,
    /// The next moves fail with these (in the order the moves are sent).
    pub move_faults: VecDeque<MailError>,
    /// Moves of these ids are made, but their answer is lost.
    pub answers_lost: Vec<String>,
    /// Moves of these ids are made, but the store cannot tell where to.
    pub untraced: Vec<String>,
    /// Folders that are full: moves there fail.
    pub full: Vec<String>,
    /// The store cannot sign in.
    pub sign_in: Result<(), MailError>,
    requests: u32,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl MemStore {
    /// A mailbox whose Inbox holds these Graph-shaped messages, in order.
    pub fn new(inbox: Vec<Value>) -> Self {
        let mut store = Self {
            items: Vec::new(),
            folders: ["inbox", "archive", "drafts", "deleteditems"]
                .iter()
                .map(|f| (f.to_string(), f.to_string()))
                .collect(),
            position: 0,
            last_read: 0,
            page_faults: VecDeque::new(),
            move_faults: VecDeque::new(),
            answers_lost: Vec::new(),
            untraced: Vec::new(),
            full: Vec::new(),
            sign_in: Ok(()),
            requests: 0,
        };
        for m in inbox {
            store.deliver(m);
        }
        store
    }

    /// A message arrives in the Inbox; it gets an id when it has none.
    pub fn deliver(&mut self, mut m: Value) {
        if m.get("id").is_none() && m.is_object() {
            m["id"] = Value::String(format!("MSG{}", self.items.len() + 1));
        }
        let raw =
            serde_json::value::RawValue::from_string(m.to_string()).expect("a message is JSON");
        self.items.push(Item {
            folder: "inbox".into(),
            item: InboxMessage::from_raw(&raw),
        });
    }

    /// How many messages a folder holds.
    pub fn count(&self, folder: &str) -> usize {
        self.items.iter().filter(|i| i.folder == folder).count()
    }

    fn inbox(&self) -> Vec<&Item> {
        self.items.iter().filter(|i| i.folder == "inbox").collect()
    }

    fn id_of(item: &Item) -> Option<&str> {
        match &item.item {
            Ok(m) => Some(&m.id),
            Err(u) => u.id.as_deref(),
        }
    }

    fn find(&mut self, id: &str) -> Option<&mut Item> {
        self.items.iter_mut().find(|i| Self::id_of(i) == Some(id))
    }

    fn move_one(&mut self, id: &str, destination: &str) -> Result<Moved, MailError> {
        self.requests += 1;
        if let Some(e) = self.move_faults.pop_front() {
            return Err(e);
        }
        if !self.folders.contains_key(destination) {
            return Err(MailError::Refused(format!(
                "there is no folder {destination}"
            )));
        }
        if self.full.iter().any(|f| f == destination) {
            return Err(MailError::Full(format!(
                "{destination} is at its item limit"
            )));
        }
        let lost = self.answers_lost.iter().any(|l| l == id);
        let Some(item) = self.find(id) else {
            return Err(MailError::Gone(format!("no message {id}")));
        };
        item.folder = destination.to_string();
        if lost {
            return Err(MailError::Unavailable("the connection broke off".into()));
        }
        Ok(Moved {
            id: id.to_string(),
            web_link: format!(
                "https://outlook.office365.com/owa/?ItemID={id}&exvsurl=1&viewmodel=ReadMessageItem"
            ),
        })
    }
}

impl MailStore for MemStore {
    fn mailbox(&self) -> &str {
        MAILBOX
    }

    fn connect(&mut self) -> Result<(), MailError> {
        self.sign_in.clone()
    }

    fn check_access(&mut self) -> Vec<AccessCheck> {
        match self.sign_in.clone() {
            Ok(()) => vec![
                AccessCheck::pass("token", "a token was obtained"),
                AccessCheck::pass("mailbox", "the Inbox is readable"),
            ],
            Err(e) => vec![AccessCheck::fail("token", e.to_string(), "sign in again")],
        }
    }

    fn page(&mut self, cursor: Cursor, batch: u32) -> Result<Page, MailError> {
        self.requests += 1;
        if let Some(Some(e)) = self.page_faults.pop_front() {
            return Err(e);
        }
        match cursor {
            Cursor::First => self.position = 0,
            Cursor::Next => self.position += self.last_read,
        }
        let inbox = self.inbox();
        let items: Vec<_> = inbox
            .iter()
            .skip(self.position)
            .take(batch as usize)
            .map(|i| i.item.clone())
            .collect();
        let more = self.position + items.len() < inbox.len();
        self.last_read = items.len();
        Ok(Page { items, more })
    }

    fn rights_hint(&self) -> &'static str {
        "give the job account its rights"
    }

    fn folder_limit_source(&self) -> &'static str {
        "the store's limit"
    }

    fn move_many(&mut self, moves: &[(String, String)]) -> Vec<Result<Option<Moved>, MailError>> {
        moves
            .iter()
            .map(|(id, d)| {
                let untraced = self.untraced.iter().any(|u| u == id);
                self.move_one(id, d).map(|m| (!untraced).then_some(m))
            })
            .collect()
    }

    fn delete(&mut self, id: &str) -> Result<(), MailError> {
        self.move_one(id, "deleteditems").map(|_| ())
    }

    fn ensure_folder(&mut self, path: &str) -> Result<String, MailError> {
        let id = path.to_lowercase();
        self.folders
            .entry(id.clone())
            .or_insert_with(|| path.to_string());
        Ok(id)
    }

    fn ensure_child_folder(&mut self, parent: &str, name: &str) -> Result<String, MailError> {
        self.ensure_folder(&format!("{parent}/{name}"))
    }

    fn folder_info(&mut self, path: &str) -> Result<Option<FolderInfo>, MailError> {
        let id = path.to_lowercase();
        Ok(self.folders.get(&id).map(|name| FolderInfo {
            id: id.clone(),
            name: name.clone(),
            item_count: self.count(&id) as u64,
        }))
    }

    fn child_folders(&mut self, id: &str) -> Result<Vec<FolderInfo>, MailError> {
        let prefix = format!("{id}/");
        Ok(self
            .folders
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .map(|k| FolderInfo {
                id: k.clone(),
                name: k[prefix.len()..].to_string(),
                item_count: self.count(k) as u64,
            })
            .collect())
    }

    fn folder_count(&mut self, id: &str) -> Result<u64, MailError> {
        Ok(self.count(id) as u64)
    }

    fn create_probe(&mut self) -> Result<String, MailError> {
        let id = format!("PROBE{}", self.items.len() + 1);
        self.deliver(serde_json::json!({"id": id, "subject": "probe"}));
        if let Some(i) = self.find(&id) {
            i.folder = "drafts".into();
        }
        Ok(id)
    }

    fn delete_for_good(&mut self, id: &str) -> Result<(), MailError> {
        let before = self.items.len();
        self.items.retain(|i| Self::id_of(i) != Some(id));
        if self.items.len() == before {
            return Err(MailError::Gone(format!("no message {id}")));
        }
        Ok(())
    }

    fn find_again(&mut self, r: &MessageRef) -> Resolution {
        let by_imid = |i: &&Item| {
            r.internet_message_id.is_some()
                && matches!(&i.item, Ok(m) if m.internet_message_id == r.internet_message_id)
        };
        let found = self
            .items
            .iter()
            .find(|i| Self::id_of(i) == Some(r.message_id.as_str()))
            .or_else(|| self.items.iter().find(by_imid));
        match found {
            Some(i) => {
                let id = Self::id_of(i).unwrap_or_default().to_string();
                Resolution::Found {
                    web_link: crate::web_link::outlook_link(None, &id),
                    message_id: id,
                    folder: self.folders.get(&i.folder).cloned().unwrap_or_default(),
                }
            }
            None => Resolution::NotFound,
        }
    }

    fn web_link(&self, id: &str, given: Option<&str>) -> String {
        crate::web_link::outlook_link(given, id)
    }

    fn usage(&self) -> Usage {
        Usage {
            requests: self.requests,
            throttled_waits: 0,
        }
    }
}

/// A message as the mail flow rules deliver it: `from`, To and Cc, BCC to
/// the shared mailbox.
pub fn message(imid: &str, from: &str, to: &[&str], cc: &[&str]) -> Value {
    let r = |a: &&str| serde_json::json!({"emailAddress": {"name": a, "address": a}});
    serde_json::json!({
        "internetMessageId": imid,
        "subject": format!("About {imid}"),
        "sender": {"emailAddress": {"address": from}},
        "from": {"emailAddress": {"address": from}},
        "toRecipients": to.iter().map(r).collect::<Vec<_>>(),
        "ccRecipients": cc.iter().map(r).collect::<Vec<_>>(),
        "bccRecipients": [{"emailAddress": {"address": MAILBOX}}],
        "sentDateTime": "2026-11-10T09:00:00Z",
        "receivedDateTime": "2026-11-10T09:00:05Z",
        "isDraft": false,
    })
}
