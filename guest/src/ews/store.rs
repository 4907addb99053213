//! Public folders over Exchange Web Services, as a [`MailStore`]: the queue
//! folder plays the Inbox, folder paths start at the public folder root, and
//! a bare folder name (the not-logged and quarantine folders) is a folder
//! beside the queue folder, where the account has its rights already.
//!
//! What is EWS's own stays here: `FindItem` paging by offset, one `GetItem`
//! per page, one `MoveItem` for many items, moves into public folders that
//! answer no new id (the item is then found again in the destination),
//! `ErrorServerBusy` and its back-off, and EWS's response codes and what they
//! mean for the pipeline.

use super::item;
use super::soap::{self, DeleteType, Fault, FolderRef, Header, Response};
use super::xml::{Element, Ns};
use crate::host::{Host, HostError, HttpRequest};
use crate::mail_store::{
    AccessCheck, Cursor, FolderInfo, MailError, MailStore, MessageRef, Moved, Page, Resolution,
    Usage,
};
use crate::message::{InboxMessage, MessageError, Unreadable};
use crate::retry::{MAX_ATTEMPTS, Patience, parse_retry_after};
use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The well-known folder at the top of every path.
const ROOT: &str = "publicfoldersroot";

/// The subject of the validation probe; a random tag makes it findable.
const PROBE_SUBJECT: &str = "Email Logging probe (safe to delete)";

/// How the requests sign in.
pub enum EwsAuth<'a> {
    /// Basic authentication (Exchange on-premises): user name and password.
    Basic {
        /// The user name (`user@contoso.com` or `CONTOSO\user`).
        user: String,
        /// The password.
        password: SecretString,
    },
    /// OAuth2 bearer tokens (Exchange Online).
    Bearer(Box<dyn BearerSource + 'a>),
}

/// Where OAuth2 access tokens for Exchange come from.
pub trait BearerSource {
    /// A valid access token.
    fn token(&mut self) -> Result<String, MailError>;
    /// Forgets the token after Exchange refused it, so the next is new.
    fn forget(&mut self);
    /// Token requests made.
    fn requests(&self) -> u32;
}

/// What the store needs to know of the setup.
#[derive(Debug, Clone)]
pub struct EwsConfig {
    /// The service URL (`https://mail.contoso.com/EWS/Exchange.asmx`).
    pub url: String,
    /// The account the requests act as; entries keep it as the mailbox.
    pub account: String,
    /// Whether to act as `account` through `ExchangeImpersonation` (app-only OAuth2).
    pub impersonate: bool,
    /// The queue folder's path under the public folder root.
    pub queue: String,
    /// Folders where logged messages may be found again (storage first).
    pub search: Vec<String>,
}

/// What the store remembers to find a moved item again when a move into a
/// public folder answers no new id.
#[derive(Debug, Clone)]
enum Trace {
    InternetMessageId(String),
    Subject(String),
}

/// A failed EWS call, before it is given its meaning for the pipeline.
#[derive(Debug)]
enum CallError {
    /// Exchange's own code.
    Code(Fault),
    /// The answer was larger than the host takes.
    TooLarge(String),
    /// Already a store failure.
    Mail(MailError),
}

/// Public folders over EWS.
pub struct EwsStore<'a> {
    host: &'a dyn Host,
    config: EwsConfig,
    auth: EwsAuth<'a>,
    owa_host: String,
    patience: Patience,
    requests: u32,
    position: usize,
    last_read: usize,
    folders: HashMap<String, FolderInfo>,
    folder_names: HashMap<String, String>,
    traces: HashMap<String, Trace>,
}

impl<'a> EwsStore<'a> {
    /// A store for this setup, signing in with `auth`.
    pub fn new(host: &'a dyn Host, config: EwsConfig, auth: EwsAuth<'a>) -> Self {
        let owa_host = url::Url::parse(&config.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        Self {
            host,
            config,
            auth,
            owa_host,
            patience: Patience::default(),
            requests: 0,
            position: 0,
            last_read: 0,
            folders: HashMap::new(),
            folder_names: HashMap::new(),
            traces: HashMap::new(),
        }
    }

    /// Waits never run past this instant.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.patience.set_deadline(deadline);
    }

    fn header(&self) -> Header<'_> {
        Header {
            impersonate: self
                .config
                .impersonate
                .then_some(self.config.account.as_str()),
        }
    }

    fn authorization(&mut self) -> Result<String, MailError> {
        match &mut self.auth {
            EwsAuth::Basic { user, password } => {
                let pair = format!("{user}:{}", password.expose_secret());
                Ok(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            EwsAuth::Bearer(source) => Ok(format!("Bearer {}", source.token()?)),
        }
    }

    /// Sends one operation until it is answered, retrying what may pass.
    fn call(&mut self, body: Vec<u8>) -> Result<Vec<Response>, CallError> {
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut headers = vec![
                (
                    "authorization".to_string(),
                    self.authorization().map_err(CallError::Mail)?,
                ),
                ("content-type".into(), "text/xml; charset=utf-8".into()),
                ("accept".into(), "text/xml".into()),
            ];
            if self.config.impersonate {
                headers.push(("x-anchormailbox".into(), self.config.account.clone()));
            }
            self.requests += 1;
            let result = self.host.http_send(HttpRequest {
                method: "POST".into(),
                url: self.config.url.clone(),
                headers,
                body: Some(body.clone()),
                timeout_ms: Some(60_000),
                // Every request carries the password or a token.
                sensitive: true,
            });
            let (wait, why, throttled) = match result {
                Ok(resp) => match resp.status {
                    200 | 500 => match soap::read(&resp.body) {
                        Ok(messages) => {
                            match messages.iter().find(|m| m.code == "ErrorServerBusy") {
                                // One busy answer stands for the whole call.
                                Some(busy) => busy_wait(busy.back_off_ms),
                                None => return Ok(messages),
                            }
                        }
                        Err(Fault::Code {
                            code, back_off_ms, ..
                        }) if code == "ErrorServerBusy" => busy_wait(back_off_ms),
                        Err(f @ Fault::Code { .. }) => return Err(CallError::Code(f)),
                        Err(Fault::NotEws(m)) if resp.status == 200 => {
                            return Err(CallError::Mail(MailError::Unusable(format!(
                                "{} does not answer as Exchange Web Services ({m}): check the service URL, which ends in /EWS/Exchange.asmx",
                                self.config.url
                            ))));
                        }
                        Err(Fault::NotEws(m)) => (None, format!("HTTP 500 ({m})"), false),
                    },
                    401 if !renewed && matches!(self.auth, EwsAuth::Bearer(_)) => {
                        renewed = true;
                        if let EwsAuth::Bearer(source) = &mut self.auth {
                            source.forget();
                        }
                        continue;
                    }
                    401 => return Err(CallError::Mail(self.refused_sign_in(&resp.headers))),
                    403 => {
                        return Err(CallError::Mail(MailError::Unusable(format!(
                            "Exchange refused {} (HTTP 403): the account may not use EWS",
                            self.config.account
                        ))));
                    }
                    429 | 502 | 503 | 504 => (
                        resp.header("retry-after").and_then(parse_retry_after),
                        format!("HTTP {}", resp.status),
                        matches!(resp.status, 429 | 503),
                    ),
                    status => {
                        return Err(CallError::Mail(MailError::Unusable(format!(
                            "{} answered HTTP {status}: check the service URL",
                            self.config.url
                        ))));
                    }
                },
                Err(HostError::Unavailable(m)) => (None, m, false),
                Err(HostError::Invalid(m)) if m.contains("larger than") => {
                    return Err(CallError::TooLarge(m));
                }
                Err(HostError::Denied(m)) => {
                    return Err(CallError::Mail(MailError::Unusable(format!(
                        "the ERP host does not let the component reach the Exchange server ({m})"
                    ))));
                }
                Err(e) => return Err(CallError::Mail(MailError::Unavailable(e.to_string()))),
            };
            let wait = wait.unwrap_or_else(|| Patience::backoff(self.host, attempt));
            if throttled {
                self.patience.throttled_waits += 1;
            }
            if throttled && !self.patience.can_wait(wait) {
                return Err(CallError::Mail(MailError::Throttled {
                    retry_after_secs: wait.as_secs().max(1) as u32,
                    text: format!("Exchange is busy ({why})"),
                }));
            }
            if attempt >= MAX_ATTEMPTS || !self.patience.can_wait(wait) {
                return Err(CallError::Mail(MailError::Unavailable(format!(
                    "Exchange did not answer after {attempt} attempts ({why})"
                ))));
            }
            let reason = if throttled {
                format!("Exchange is busy ({why})")
            } else {
                format!("retrying after {why}")
            };
            Patience::wait(self.host, wait, &reason);
        }
    }

    fn refused_sign_in(&self, headers: &[(String, String)]) -> MailError {
        let offers_basic = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("www-authenticate")
                && v.to_ascii_lowercase().starts_with("basic")
        });
        MailError::SignInLost(match &self.auth {
            EwsAuth::Basic { .. } if !offers_basic && self.owa_host.ends_with("office365.com") => {
                "Exchange Online refused Basic authentication (HTTP 401): it takes OAuth2 only; set the authentication to oauth2".into()
            }
            EwsAuth::Basic { .. } => format!(
                "Exchange refused the user name and password of {} (HTTP 401): check them in the setup",
                self.config.account
            ),
            EwsAuth::Bearer(_) => "Exchange refused the access token (HTTP 401): check the app's EWS permission (full_access_as_app) and consent".into(),
        })
    }

    /// An operation that must answer exactly one response message.
    fn call_one(&mut self, body: Vec<u8>) -> Result<Response, MailError> {
        let mut messages = self.call(body).map_err(|e| self.mail_error(e))?;
        let first = messages.drain(..).next().ok_or_else(|| {
            MailError::Unavailable("Exchange answered no response message".into())
        })?;
        match first.fault() {
            Some(f) => Err(code_error(f)),
            None => Ok(first),
        }
    }

    fn mail_error(&self, e: CallError) -> MailError {
        match e {
            CallError::Code(f) => code_error(f),
            CallError::TooLarge(m) => MailError::Refused(m),
            CallError::Mail(m) => m,
        }
    }

    /// A folder under `parent` by display name (names compare case-insensitively).
    fn find_child(
        &mut self,
        parent: FolderRef<'_>,
        name: &str,
    ) -> Result<Option<FolderInfo>, MailError> {
        let mut offset = 0u32;
        loop {
            let r = self.call_one(soap::find_folder(self.header(), parent, offset))?;
            let mut seen = 0u32;
            for f in r.folders() {
                seen += 1;
                if let Some(info) = folder_info(f)
                    && info.name.to_lowercase() == name.to_lowercase()
                {
                    return Ok(Some(info));
                }
            }
            if r.includes_last() || seen == 0 {
                return Ok(None);
            }
            offset += seen;
        }
    }

    /// The folder at `path` under the public folder root; with `create`,
    /// missing levels are made.
    fn resolve(&mut self, path: &str, create: bool) -> Result<Option<FolderInfo>, MailError> {
        let path = &self.full_path(path);
        let key = path.trim().trim_matches('/').to_lowercase();
        if let Some(f) = self.folders.get(&key) {
            return Ok(Some(f.clone()));
        }
        let mut at: Option<FolderInfo> = None;
        for name in path.split('/').map(str::trim).filter(|n| !n.is_empty()) {
            let parent_id = at.as_ref().map(|f| f.id.clone());
            let parent = match &parent_id {
                Some(id) => FolderRef::Id(id),
                None => FolderRef::Distinguished {
                    id: ROOT,
                    mailbox: None,
                },
            };
            let found = match self.find_child(parent, name)? {
                Some(f) => f,
                None if create => {
                    let r = self.call_one(soap::create_folder(self.header(), parent, name))?;
                    let id = r
                        .folders()
                        .find_map(|f| soap::id_of(f, "FolderId"))
                        .ok_or_else(|| {
                            MailError::Unavailable("Exchange created a folder without an id".into())
                        })?;
                    FolderInfo {
                        id,
                        name: name.to_string(),
                        item_count: 0,
                    }
                }
                None => return Ok(None),
            };
            at = Some(found);
        }
        if let Some(f) = &at {
            self.folders.insert(key, f.clone());
            self.folder_names.insert(f.id.clone(), f.name.clone());
        }
        Ok(at)
    }

    /// A path from the public folder root: a bare name is beside the queue.
    fn full_path(&self, path: &str) -> String {
        let path = path.trim().trim_matches('/');
        match self.config.queue.trim().trim_matches('/').rsplit_once('/') {
            Some((parent, _)) if !path.contains('/') => format!("{parent}/{path}"),
            _ => path.to_string(),
        }
    }

    /// The queue folder, which must exist.
    fn queue(&mut self) -> Result<FolderInfo, MailError> {
        let path = self.config.queue.clone();
        self.resolve(&path, false)?.ok_or_else(|| {
            MailError::Unusable(format!(
                "the queue folder '{path}' does not exist under the public folders: create it and mail-enable it (see the README)"
            ))
        })
    }

    /// The items of the queue at the current position: ids from one
    /// `FindItem`, fields from one `GetItem` (one per item when the page's
    /// answer is larger than the host takes).
    fn read_page(&mut self, batch: u32) -> Result<Page, MailError> {
        let queue = self.queue()?;
        let found = self.call_one(soap::find_item(
            self.header(),
            FolderRef::Id(&queue.id),
            self.position,
            batch,
            None,
        ))?;
        let more = !found.includes_last();
        let ids: Vec<Identity> = found
            .items()
            .filter_map(|el| {
                Some(Identity {
                    id: soap::id_of(el, "ItemId")?,
                    internet_message_id: el
                        .text_of(Ns::Types, "InternetMessageId")
                        .map(str::to_string),
                })
            })
            .collect();
        self.last_read = found.items().count();
        let items = match self.get_items(&ids) {
            Ok(items) => items,
            Err(CallError::TooLarge(_)) => {
                let mut items = Vec::with_capacity(ids.len());
                for one in &ids {
                    match self.get_items(std::slice::from_ref(one)) {
                        Ok(mut got) => items.append(&mut got),
                        Err(CallError::TooLarge(m)) => items.push(Err(one.unreadable(
                            MessageError::TooLarge(format!(
                                "the message is too large to be read: its answer is larger than the ERP host accepts ({m})"
                            )),
                        ))),
                        Err(e) => return Err(self.mail_error(e)),
                    }
                }
                items
            }
            Err(e) => return Err(self.mail_error(e)),
        };
        for m in items.iter().flatten() {
            if let Some(imid) = &m.internet_message_id {
                self.traces
                    .insert(m.id.clone(), Trace::InternetMessageId(imid.clone()));
            }
        }
        Ok(Page { items, more })
    }

    /// One `GetItem` for these items; an item gone since `FindItem` is left out.
    fn get_items(
        &mut self,
        ids: &[Identity],
    ) -> Result<Vec<Result<InboxMessage, Unreadable>>, CallError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let refs: Vec<&str> = ids.iter().map(|i| i.id.as_str()).collect();
        let answers = self.call(soap::get_item(self.header(), &refs))?;
        let mut out = Vec::with_capacity(ids.len());
        for (i, one) in ids.iter().enumerate() {
            let Some(r) = answers.get(i) else {
                out.push(Err(one.unreadable(MessageError::Unavailable(
                    "Exchange answered fewer items than asked".into(),
                ))));
                continue;
            };
            match r.fault() {
                None => {
                    out.push(match r.items().next() {
                        Some(el) => item::message(el),
                        None => Err(one
                            .unreadable(MessageError::Corrupt("Exchange answered no item".into()))),
                    })
                }
                Some(f) => match code_error(f) {
                    MailError::Gone(_) => {}
                    e @ (MailError::Unavailable(_) | MailError::Throttled { .. }) => {
                        out.push(Err(one.unreadable(MessageError::Unavailable(e.to_string()))))
                    }
                    e => out.push(Err(one.unreadable(MessageError::Corrupt(e.to_string())))),
                },
            }
        }
        Ok(out)
    }

    /// Finds an item again in `folder` by what the store remembers of it.
    fn find_in(&mut self, folder: &str, trace: &Trace) -> Result<Option<Element>, MailError> {
        let matching = match trace {
            Trace::InternetMessageId(v) => ("message:InternetMessageId", v.as_str()),
            Trace::Subject(v) => ("item:Subject", v.as_str()),
        };
        let r = self.call_one(soap::find_item(
            self.header(),
            FolderRef::Id(folder),
            0,
            10,
            Some(matching),
        ))?;
        Ok(r.items().next().cloned())
    }

    /// The item's id and link now, by id.
    fn locate(&mut self, id: &str) -> Result<Resolution, MailError> {
        let r = self.call_one(soap::get_item(self.header(), &[id]))?;
        let Some(el) = r.items().next() else {
            return Ok(Resolution::NotFound);
        };
        let message_id = soap::id_of(el, "ItemId").unwrap_or_else(|| id.to_string());
        let folder = soap::id_of(el, "ParentFolderId")
            .map(|f| self.folder_names.get(&f).cloned().unwrap_or(f))
            .unwrap_or_default();
        Ok(Resolution::Found {
            web_link: self.link(
                el.text_of(Ns::Types, "WebClientReadFormQueryString"),
                &message_id,
            ),
            message_id,
            folder,
        })
    }

    fn link(&self, given: Option<&str>, id: &str) -> String {
        crate::web_link::owa_link(&self.owa_host, given, id)
    }

    fn check_folder_root(&mut self) -> AccessCheck {
        let root = FolderRef::Distinguished {
            id: ROOT,
            mailbox: None,
        };
        match self.call_one(soap::get_folder(self.header(), root)) {
            Ok(_) => AccessCheck::pass(
                "token",
                format!("{} signed in to {}", self.config.account, self.config.url),
            ),
            Err(e @ MailError::SignInLost(_)) => AccessCheck::fail(
                "token",
                e.to_string(),
                match self.auth {
                    EwsAuth::Basic { .. } => {
                        "check the user name and password in the setup; Exchange Online takes OAuth2 only"
                    }
                    EwsAuth::Bearer(_) => {
                        "check the app registration: Exchange's full_access_as_app permission with admin consent"
                    }
                },
            ),
            Err(e) => AccessCheck::fail(
                "token",
                e.to_string(),
                "check the service URL (https://…/EWS/Exchange.asmx) and that the account may open the public folders",
            ),
        }
    }
}

/// An item as `FindItem` names it.
#[derive(Debug, Clone)]
struct Identity {
    id: String,
    internet_message_id: Option<String>,
}

impl Identity {
    fn unreadable(&self, error: MessageError) -> Unreadable {
        Unreadable {
            fingerprint: self.id.clone(),
            id: Some(self.id.clone()),
            internet_message_id: self.internet_message_id.clone(),
            error,
        }
    }
}

/// A folder element (`t:Folder`, or any folder kind): id, name, count.
fn folder_info(f: &Element) -> Option<FolderInfo> {
    Some(FolderInfo {
        id: soap::id_of(f, "FolderId")?,
        name: f
            .text_of(Ns::Types, "DisplayName")
            .unwrap_or_default()
            .to_string(),
        item_count: f
            .text_of(Ns::Types, "TotalCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
    })
}

/// What an `ErrorServerBusy` asks: its back-off, at least a second.
fn busy_wait(back_off_ms: Option<u64>) -> (Option<Duration>, String, bool) {
    let wait = Duration::from_millis(back_off_ms.unwrap_or(30_000).max(1_000));
    (
        Some(wait),
        format!("ErrorServerBusy, back off {} ms", wait.as_millis()),
        true,
    )
}

/// What an EWS response code means for the pipeline.
fn code_error(f: Fault) -> MailError {
    let Fault::Code {
        code,
        text,
        back_off_ms,
    } = f
    else {
        return MailError::Unavailable(f.to_string());
    };
    let said = format!("{code}: {text}");
    match code.as_str() {
        "ErrorServerBusy" => MailError::Throttled {
            retry_after_secs: back_off_ms.unwrap_or(30_000).div_ceil(1000).max(1) as u32,
            text: said,
        },
        "ErrorItemNotFound" => MailError::Gone(said),
        "ErrorQuotaExceeded" | "ErrorFolderSizeLimitExceeded" => MailError::Full(said),
        "ErrorAccessDenied"
        | "ErrorNonExistentMailbox"
        | "ErrorImpersonateUserDenied"
        | "ErrorImpersonationDenied"
        | "ErrorFolderNotFound"
        | "ErrorNoPublicFolderReplicaAvailable"
        | "ErrorInvalidServerVersion"
        | "ErrorIncorrectSchemaVersion"
        | "ErrorInvalidSchemaVersionForMailboxVersion" => MailError::Unusable(said),
        "ErrorTimeoutExpired"
        | "ErrorInternalServerTransientError"
        | "ErrorMailboxStoreUnavailable"
        | "ErrorConnectionFailed"
        | "ErrorMailboxMoveInProgress"
        | "ErrorInternalServerError"
        | "ErrorBatchProcessingStopped" => MailError::Unavailable(said),
        _ => MailError::Refused(said),
    }
}

impl MailStore for EwsStore<'_> {
    fn mailbox(&self) -> &str {
        &self.config.account
    }

    fn connect(&mut self) -> Result<(), MailError> {
        if let EwsAuth::Bearer(source) = &mut self.auth {
            source.token()?;
        }
        self.queue().map(|_| ())
    }

    fn check_access(&mut self) -> Vec<AccessCheck> {
        if let EwsAuth::Bearer(source) = &mut self.auth {
            source.forget();
        }
        let signed_in = self.check_folder_root();
        if !signed_in.passed {
            return vec![signed_in];
        }
        let queue = match self.queue() {
            Ok(q) => AccessCheck::pass(
                "mailbox",
                format!(
                    "the queue folder '{}' holds {} items",
                    self.config.queue, q.item_count
                ),
            ),
            Err(e) => AccessCheck::fail(
                "mailbox",
                e.to_string(),
                "create the queue folder under the public folders, mail-enable it, and give the account at least Reviewer rights on it",
            ),
        };
        vec![signed_in, queue]
    }

    fn page(&mut self, cursor: Cursor, batch: u32) -> Result<Page, MailError> {
        match cursor {
            Cursor::First => self.position = 0,
            Cursor::Next => self.position += self.last_read,
        }
        self.read_page(batch.clamp(1, 1000))
    }

    fn move_many(&mut self, moves: &[(String, String)]) -> Vec<Result<Moved, MailError>> {
        let mut out: Vec<Option<Result<Moved, MailError>>> = vec![None; moves.len()];
        // One MoveItem per destination, in the order the moves came.
        let mut destinations: Vec<&str> = Vec::new();
        for (_, to) in moves {
            if !destinations.contains(&to.as_str()) {
                destinations.push(to);
            }
        }
        for to in destinations {
            let at: Vec<usize> = (0..moves.len()).filter(|&i| moves[i].1 == to).collect();
            let ids: Vec<&str> = at.iter().map(|&i| moves[i].0.as_str()).collect();
            match self.call(soap::move_item(self.header(), &ids, to)) {
                Ok(answers) => {
                    for (n, &i) in at.iter().enumerate() {
                        let id = &moves[i].0;
                        out[i] = Some(match answers.get(n) {
                            None => Err(MailError::Unavailable(
                                "Exchange answered fewer moves than asked".into(),
                            )),
                            Some(r) => match r.fault() {
                                Some(f) => Err(code_error(f)),
                                None => self.moved(id, to, r),
                            },
                        });
                    }
                }
                Err(e) => {
                    let e = self.mail_error(e);
                    for &i in &at {
                        out[i] = Some(Err(e.clone()));
                    }
                }
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(MailError::Unavailable("no answer".into()))))
            .collect()
    }

    fn delete(&mut self, id: &str) -> Result<(), MailError> {
        self.call_one(soap::delete_item(
            self.header(),
            &[id],
            DeleteType::MoveToDeletedItems,
        ))
        .map(|_| ())
    }

    fn ensure_folder(&mut self, path: &str) -> Result<String, MailError> {
        let queue = self.queue()?;
        let folder = self
            .resolve(path, true)?
            .ok_or_else(|| MailError::Incomplete(format!("'{path}' is no folder path")))?;
        if folder.id == queue.id {
            return Err(MailError::Incomplete(format!(
                "'{path}' is the queue folder itself: the storage folders must differ from it"
            )));
        }
        Ok(folder.id)
    }

    fn ensure_child_folder(&mut self, parent: &str, name: &str) -> Result<String, MailError> {
        if let Some(f) = self.find_child(FolderRef::Id(parent), name)? {
            return Ok(f.id);
        }
        let r = self.call_one(soap::create_folder(
            self.header(),
            FolderRef::Id(parent),
            name,
        ))?;
        r.folders()
            .find_map(|f| soap::id_of(f, "FolderId"))
            .ok_or_else(|| MailError::Unavailable("Exchange created a folder without an id".into()))
    }

    fn folder_info(&mut self, path: &str) -> Result<Option<FolderInfo>, MailError> {
        // The pipeline's Inbox is the queue.
        let path = if path.eq_ignore_ascii_case("inbox") {
            self.config.queue.clone()
        } else {
            path.to_string()
        };
        let Some(f) = self.resolve(&path, false)? else {
            return Ok(None);
        };
        let item_count = self.folder_count(&f.id)?;
        Ok(Some(FolderInfo { item_count, ..f }))
    }

    fn child_folders(&mut self, id: &str) -> Result<Vec<FolderInfo>, MailError> {
        let mut all = Vec::new();
        let mut offset = 0u32;
        loop {
            let r = self.call_one(soap::find_folder(self.header(), FolderRef::Id(id), offset))?;
            let page: Vec<FolderInfo> = r.folders().filter_map(folder_info).collect();
            let done = r.includes_last() || page.is_empty();
            offset += page.len() as u32;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    fn folder_count(&mut self, id: &str) -> Result<u64, MailError> {
        let r = self.call_one(soap::get_folder(self.header(), FolderRef::Id(id)))?;
        Ok(r.folders()
            .find_map(folder_info)
            .map_or(0, |f| f.item_count))
    }

    fn create_probe(&mut self) -> Result<String, MailError> {
        let queue = self.queue()?;
        let mut tag = [0u8; 6];
        self.host
            .random(&mut tag)
            .map_err(|e| MailError::Unavailable(e.to_string()))?;
        let subject = format!(
            "{PROBE_SUBJECT} {}",
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let r = self.call_one(soap::create_item(
            self.header(),
            &queue.id,
            &subject,
            "Created by Email Logging's setup validation to check that messages can be moved to the storage folder. It is deleted at once.",
        ))?;
        let id = r
            .items()
            .find_map(|el| soap::id_of(el, "ItemId"))
            .ok_or_else(|| {
                MailError::Unavailable("Exchange created an item without an id".into())
            })?;
        self.traces.insert(id.clone(), Trace::Subject(subject));
        Ok(id)
    }

    fn delete_for_good(&mut self, id: &str) -> Result<(), MailError> {
        self.call_one(soap::delete_item(
            self.header(),
            &[id],
            DeleteType::HardDelete,
        ))
        .map(|_| ())
    }

    fn find_again(&mut self, r: &MessageRef) -> Resolution {
        match self.locate(&r.message_id) {
            Ok(found @ Resolution::Found { .. }) => return found,
            Ok(_) | Err(MailError::Gone(_) | MailError::Refused(_)) => {}
            Err(e) => return Resolution::Failed(e.to_string()),
        }
        let Some(imid) = r.internet_message_id.clone() else {
            return Resolution::NotFound;
        };
        let trace = Trace::InternetMessageId(imid);
        for path in self.config.search.clone() {
            let folder = match self.resolve(&path, false) {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(e) => return Resolution::Failed(e.to_string()),
            };
            // Monthly subfolders too: the message may be in any of them.
            let mut folders = vec![folder.clone()];
            match self.child_folders(&folder.id) {
                Ok(children) => folders.extend(children),
                Err(e) => return Resolution::Failed(e.to_string()),
            }
            for f in folders {
                self.folder_names.insert(f.id.clone(), f.name.clone());
                match self.find_in(&f.id, &trace) {
                    Ok(Some(el)) => {
                        let Some(id) = soap::id_of(&el, "ItemId") else {
                            continue;
                        };
                        return match self.locate(&id) {
                            Ok(Resolution::Found {
                                message_id,
                                web_link,
                                ..
                            }) => Resolution::Found {
                                message_id,
                                web_link,
                                folder: f.name.clone(),
                            },
                            Ok(other) => other,
                            Err(e) => Resolution::Failed(e.to_string()),
                        };
                    }
                    Ok(None) => {}
                    Err(e) => return Resolution::Failed(e.to_string()),
                }
            }
        }
        Resolution::NotFound
    }

    fn usage(&self) -> Usage {
        let tokens = match &self.auth {
            EwsAuth::Bearer(source) => source.requests(),
            EwsAuth::Basic { .. } => 0,
        };
        Usage {
            requests: self.requests + tokens,
            throttled_waits: self.patience.throttled_waits,
        }
    }
}

impl EwsStore<'_> {
    /// A successful move: the new id, or, where Exchange answered none (as
    /// it may for public folders), the item found again in the destination.
    fn moved(&mut self, id: &str, to: &str, r: &Response) -> Result<Moved, MailError> {
        let trace = self.traces.remove(id);
        if let Some(new) = r.items().find_map(|el| soap::id_of(el, "ItemId")) {
            return Ok(Moved {
                web_link: Some(self.link(None, &new)),
                id: new,
            });
        }
        let found = match &trace {
            Some(t) => self.find_in(to, t)?,
            None => None,
        };
        match found.and_then(|el| soap::id_of(&el, "ItemId")) {
            Some(new) => Ok(Moved {
                web_link: Some(self.link(None, &new)),
                id: new,
            }),
            // Moved, but not to be found by anything it carries: the entry
            // keeps a link that link repair can refresh.
            None => Err(MailError::Unavailable(
                "the item was moved, but Exchange gave no new id and it cannot be found in the destination by its Message-ID".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ews::xml::{MESSAGES, SOAP, TYPES};
    use crate::host::HttpResponse;
    use crate::testing::MemHost;

    const URL: &str = "https://mail.contoso.com/EWS/Exchange.asmx";

    fn store(host: &MemHost) -> EwsStore<'_> {
        EwsStore::new(
            host,
            EwsConfig {
                url: URL.into(),
                account: "logging@contoso.com".into(),
                impersonate: false,
                queue: "Email Logging/Queue".into(),
                search: vec!["Email Logging/Storage".into()],
            },
            EwsAuth::Basic {
                user: "logging@contoso.com".into(),
                password: SecretString::from("pa55word!"),
            },
        )
    }

    fn ok(body: String) -> Result<HttpResponse, HostError> {
        Ok(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/xml; charset=utf-8".into())],
            body: body.into_bytes(),
        })
    }

    fn envelope(op: &str, messages: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}"><s:Header><h:ServerVersionInfo xmlns:h="{TYPES}" MajorVersion="15" MinorVersion="1"/></s:Header><s:Body><m:{op}Response xmlns:m="{MESSAGES}" xmlns:t="{TYPES}"><m:ResponseMessages>{messages}</m:ResponseMessages></m:{op}Response></s:Body></s:Envelope>"#
        )
    }

    fn success(op: &str, inner: &str) -> String {
        format!(
            r#"<m:{op}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{op}ResponseMessage>"#
        )
    }

    fn find_folder(names: &[(&str, &str)]) -> Result<HttpResponse, HostError> {
        let folders: String = names
            .iter()
            .map(|(id, name)| {
                format!(r#"<t:Folder><t:FolderId Id="{id}"/><t:DisplayName>{name}</t:DisplayName><t:TotalCount>3</t:TotalCount></t:Folder>"#)
            })
            .collect();
        ok(envelope(
            "FindFolder",
            &success(
                "FindFolder",
                &format!(
                    r#"<m:RootFolder IncludesLastItemInRange="true" TotalItemsInView="{}"><t:Folders>{folders}</t:Folders></m:RootFolder>"#,
                    names.len()
                ),
            ),
        ))
    }

    fn find_item(ids: &[(&str, &str)], last: bool) -> Result<HttpResponse, HostError> {
        let items: String = ids
            .iter()
            .map(|(id, imid)| {
                format!(r#"<t:Message><t:ItemId Id="{id}"/><t:InternetMessageId>{imid}</t:InternetMessageId></t:Message>"#)
            })
            .collect();
        ok(envelope(
            "FindItem",
            &success(
                "FindItem",
                &format!(
                    r#"<m:RootFolder IncludesLastItemInRange="{last}"><t:Items>{items}</t:Items></m:RootFolder>"#
                ),
            ),
        ))
    }

    fn message(id: &str, imid: &str) -> String {
        success(
            "GetItem",
            &format!(
                r#"<m:Items><t:Message><t:ItemId Id="{id}"/><t:Subject>Hello</t:Subject><t:InternetMessageId>{imid}</t:InternetMessageId>
                <t:Sender><t:Mailbox><t:EmailAddress>jo@cronus.example</t:EmailAddress></t:Mailbox></t:Sender>
                <t:ToRecipients><t:Mailbox><t:EmailAddress>andy@adatum.example</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items>"#
            ),
        )
    }

    /// The queue's path walked from the public folder root.
    fn queue_found(host: &MemHost) {
        let mut http = host.http.borrow_mut();
        http.push_back(find_folder(&[("F-EL", "Email Logging")]));
        http.push_back(find_folder(&[("F-S", "Storage"), ("F-Q", "queue")]));
    }

    #[test]
    fn a_page_is_one_find_item_and_one_get_item_with_credentials_kept_secret() {
        let host = MemHost::new();
        queue_found(&host);
        host.http.borrow_mut().extend([
            find_item(&[("I1", "&lt;1@x&gt;"), ("I2", "&lt;2@x&gt;")], true),
            ok(envelope(
                "GetItem",
                &(message("I1", "&lt;1@x&gt;")
                    + r#"<m:GetItemResponseMessage ResponseClass="Error"><m:MessageText>gone</m:MessageText><m:ResponseCode>ErrorItemNotFound</m:ResponseCode></m:GetItemResponseMessage>"#),
            )),
        ]);
        let mut s = store(&host);
        let page = s.page(Cursor::First, 50).unwrap();
        assert!(!page.more);
        let items: Vec<_> = page.items.into_iter().map(Result::unwrap).collect();
        assert_eq!(items.len(), 1, "the item gone since FindItem is left out");
        assert_eq!(items[0].internet_message_id.as_deref(), Some("<1@x>"));
        let sent = host.sent.borrow();
        assert_eq!(sent.len(), 4);
        for r in sent.iter() {
            assert!(r.sensitive, "the password is in every request");
            assert_eq!(r.url, URL);
            let auth = &r
                .headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .unwrap()
                .1;
            assert!(auth.starts_with("Basic "));
            assert!(!String::from_utf8_lossy(r.body.as_deref().unwrap()).contains("pa55word"));
        }
        let get = String::from_utf8_lossy(sent[3].body.as_deref().unwrap()).into_owned();
        assert!(
            get.contains(r#"<t:ItemId Id="I1"/><t:ItemId Id="I2"/>"#),
            "{get}"
        );
    }

    #[test]
    fn a_move_that_answers_no_new_id_is_found_in_the_destination() {
        let host = MemHost::new();
        queue_found(&host);
        host.http.borrow_mut().extend([
            find_item(&[("I1", "&lt;1@x&gt;")], true),
            ok(envelope("GetItem", &message("I1", "&lt;1@x&gt;"))),
            ok(envelope("MoveItem", &success("MoveItem", "<m:Items/>"))),
            find_item(&[("S1", "&lt;1@x&gt;")], true),
        ]);
        let mut s = store(&host);
        s.page(Cursor::First, 50).unwrap();
        let moved = s.move_many(&[("I1".into(), "F-S".into())]);
        let moved = moved.into_iter().next().unwrap().unwrap();
        assert_eq!(moved.id, "S1");
        assert_eq!(
            moved.web_link.as_deref(),
            Some("https://mail.contoso.com/owa/?ItemID=S1&exvsurl=1&viewmodel=ReadMessageItem")
        );
        let find =
            String::from_utf8_lossy(host.sent.borrow()[5].body.as_deref().unwrap()).into_owned();
        assert!(
            find.contains(r#"<t:Constant Value="&lt;1@x&gt;"/>"#),
            "{find}"
        );
        assert!(find.contains(r#"<t:FolderId Id="F-S"/>"#), "{find}");
    }

    fn busy(ms: u64) -> Result<HttpResponse, HostError> {
        Ok(HttpResponse {
            status: 500,
            headers: Vec::new(),
            body: format!(
                r#"<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault><faultcode>a:ErrorServerBusy</faultcode><faultstring>busy</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode><t:MessageXml xmlns:t="{TYPES}"><t:Value Name="BackOffMilliseconds">{ms}</t:Value></t:MessageXml></detail></s:Fault></s:Body></s:Envelope>"#
            )
            .into_bytes(),
        })
    }

    #[test]
    fn a_busy_server_is_waited_for_and_a_long_back_off_ends_the_run() {
        let host = MemHost::new();
        host.http.borrow_mut().extend([
            busy(2_500),
            find_folder(&[("F-EL", "Email Logging")]),
            find_folder(&[("F-Q", "Queue")]),
        ]);
        let mut s = store(&host);
        s.connect().unwrap();
        assert_eq!(*host.slept.borrow(), [Duration::from_millis(2_500)]);
        assert_eq!(s.usage().throttled_waits, 1);

        host.http.borrow_mut().push_back(busy(300_000));
        let err = s.child_folders("F-Q").unwrap_err();
        assert!(
            matches!(
                err,
                MailError::Throttled {
                    retry_after_secs: 300,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(host.slept.borrow().len(), 1, "no wait past the longest one");
    }

    #[test]
    fn a_refused_password_says_what_to_do_and_the_queue_must_exist() {
        let host = MemHost::new();
        host.http.borrow_mut().push_back(Ok(HttpResponse {
            status: 401,
            headers: vec![(
                "www-authenticate".into(),
                "Basic realm=\"mail.contoso.com\"".into(),
            )],
            body: Vec::new(),
        }));
        let mut s = store(&host);
        let err = s.connect().unwrap_err();
        assert!(
            matches!(&err, MailError::SignInLost(m) if m.contains("user name and password")),
            "{err:?}"
        );
        assert!(!format!("{err:?}").contains("pa55word"));

        host.http.borrow_mut().extend([
            find_folder(&[("F-EL", "Email Logging")]),
            find_folder(&[("F-S", "Storage")]),
        ]);
        let err = s.connect().unwrap_err();
        assert!(
            matches!(&err, MailError::Unusable(m) if m.contains("'Email Logging/Queue' does not exist")),
            "{err:?}"
        );
    }

    #[test]
    fn response_codes_mean_what_the_pipeline_needs() {
        let code = |c: &str| {
            code_error(Fault::Code {
                code: c.into(),
                text: "t".into(),
                back_off_ms: Some(1_500),
            })
        };
        assert!(matches!(
            code("ErrorServerBusy"),
            MailError::Throttled {
                retry_after_secs: 2,
                ..
            }
        ));
        assert!(matches!(code("ErrorItemNotFound"), MailError::Gone(_)));
        assert!(matches!(code("ErrorQuotaExceeded"), MailError::Full(_)));
        assert!(matches!(code("ErrorAccessDenied"), MailError::Unusable(_)));
        assert!(matches!(
            code("ErrorTimeoutExpired"),
            MailError::Unavailable(_)
        ));
        assert!(matches!(
            code("ErrorInvalidIdMalformed"),
            MailError::Refused(_)
        ));
    }
}
