//! A small Microsoft Graph mail client over the host's `http` import.
//!
//! Every call carries `Prefer: IdType="ImmutableId"` so ids survive moves,
//! retries transient failures with `Retry-After` honoured, and renews the
//! access token once on a 401.

mod batch;
pub mod pacing;
pub mod store;

pub use batch::MoveAnswer;

use crate::retry::{MAX_ATTEMPTS, MAX_WAIT, Patience, Verdict, parse_retry_after, verdict};

use crate::auth::{AuthError, TokenSource};
use crate::host::{Host, HostError, HttpRequest, HttpResponse};
use crate::setup::Setup;
use serde_json::Value;
use serde_json::value::RawValue;
use std::time::{Duration, Instant};

/// Graph's v1.0 base URL.
pub const GRAPH_BASE: &str = "https://graph.microsoft.com/v1.0";
/// Graph's limit of requests in one `$batch`.
pub(crate) const BATCH_LIMIT: usize = 20;

/// Well-known folder names, usable directly in paths and as `destinationId`.
pub const WELL_KNOWN_FOLDERS: &[&str] = &[
    "archive",
    "clutter",
    "conflicts",
    "conversationhistory",
    "deleteditems",
    "drafts",
    "inbox",
    "junkemail",
    "localfailures",
    "msgfolderroot",
    "outbox",
    "recoverableitemsdeletions",
    "scheduled",
    "searchfolders",
    "sentitems",
    "serverfailures",
    "syncissues",
];

/// Why a Graph call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Throttled for longer than this client waits.
    #[error("Microsoft Graph is throttling requests; retry after {0} s")]
    Throttled(u32),
    /// No token could be had.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The transient failure persisted through all attempts.
    #[error("Microsoft Graph is unavailable: {0}")]
    Transient(String),
    /// Graph answered with an error.
    #[error("Microsoft Graph answered HTTP {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Graph's error code.
        code: String,
        /// Graph's message.
        message: String,
    },
    /// The host refused or failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// Graph answered, but its answer was larger than the host takes; what
    /// the request did is not known from it.
    #[error("Microsoft Graph's answer could not be read: {0}")]
    AnswerTooLarge(String),
    /// Graph's answer was not what the API documents.
    #[error("Microsoft Graph sent an unreadable answer: {0}")]
    Malformed(String),
}

impl GraphError {
    /// The Graph error code, if Graph answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// One page of a collection.
///
/// Items stay JSON text until a caller reads them one by one: a page of
/// messages with long recipient lists takes several times its size as a
/// parsed tree, and only one message at a time needs to be one.
pub struct Page {
    /// The items, as JSON text.
    pub items: Vec<Box<RawValue>>,
    /// The opaque link to the next page.
    pub next_link: Option<String>,
    /// The size of the answer's body in bytes.
    pub bytes: usize,
}

impl Page {
    /// The items parsed, one by one (for small items such as folders).
    pub fn values(&self) -> impl Iterator<Item = Value> + '_ {
        self.items
            .iter()
            .map(|raw| serde_json::from_str(raw.get()).unwrap_or(Value::Null))
    }
}

/// A collection page as Graph sends it, read without parsing its items.
#[derive(serde::Deserialize)]
struct RawPage {
    value: Option<Vec<Box<RawValue>>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<Value>,
}

/// A Graph client bound to one mailbox for one call.
pub struct Graph<'a> {
    host: &'a dyn Host,
    setup: &'a Setup,
    tokens: TokenSource,
    mailbox: String,
    /// Graph requests made.
    pub requests: u32,
    /// Waits between attempts, and how many were for throttling.
    pub patience: Patience,
    /// Keeps the request rate under the mailbox's throttling window.
    pacer: pacing::Pacer,
}

impl<'a> Graph<'a> {
    /// A client for the setup's mailbox.
    pub fn new(host: &'a dyn Host, setup: &'a Setup, mailbox: &str) -> Self {
        Self {
            host,
            setup,
            tokens: TokenSource::default(),
            mailbox: mailbox.to_string(),
            requests: 0,
            patience: Patience::default(),
            pacer: pacing::Pacer::new(pacing::GraphLimits::default()),
        }
    }

    /// Paces requests against these limits instead of the documented ones.
    pub fn set_limits(&mut self, limits: pacing::GraphLimits) {
        self.pacer = pacing::Pacer::new(limits);
    }

    /// Takes in the requests earlier runs sent to this mailbox within the
    /// throttling window (kept by [`Self::keep_window`]).
    pub fn restore_window(&mut self) {
        let Ok(Some((text, _))) = self.host.storage_get(pacing::WINDOW_KEY) else {
            return;
        };
        match serde_json::from_str::<pacing::Window>(&text) {
            Ok(w) => {
                let now_ms = self.host.now().timestamp_millis().max(0) as u64;
                self.pacer
                    .restore(&w, &self.mailbox, Instant::now(), now_ms);
            }
            // Only a courtesy to the next run: an unreadable log paces as none.
            Err(_) => self.host.log(
                crate::host::Level::Warn,
                "the kept Graph pacing log is unreadable; pacing without it",
                &[("key", pacing::WINDOW_KEY)],
            ),
        }
    }

    /// Keeps this run's requests within the throttling window for the next
    /// run. A failure is logged, never fatal: the next run may then meet a
    /// 429, which it waits out.
    pub fn keep_window(&self) {
        let now_ms = self.host.now().timestamp_millis().max(0) as u64;
        let w = self.pacer.window(&self.mailbox, Instant::now(), now_ms);
        let Ok(text) = serde_json::to_string(&w) else {
            return;
        };
        let kept = self.host.storage_get(pacing::WINDOW_KEY).and_then(|old| {
            let version = old.map(|(_, v)| v);
            self.host.storage_put(pacing::WINDOW_KEY, &text, version)
        });
        if let Err(e) = kept {
            self.host.log(
                crate::host::Level::Warn,
                "could not keep the Graph pacing log for the next run",
                &[("error", &e.to_string())],
            );
        }
    }

    /// Waits until `cost` more requests fit the throttling window. A wait
    /// longer than this client waits, or past the deadline, ends the run like
    /// a long `Retry-After` would, but without spending a request on a 429.
    fn pace(&mut self, cost: usize) -> Result<(), GraphError> {
        let wait = self.pacer.delay(cost, Instant::now());
        if wait.is_zero() {
            return Ok(());
        }
        if wait > MAX_WAIT || self.past_deadline(wait) {
            return Err(GraphError::Throttled(wait.as_secs().max(1) as u32));
        }
        self.wait(wait, "pacing under the mailbox's throttling window");
        Ok(())
    }

    fn wait(&self, wait: Duration, reason: &str) {
        Patience::wait(self.host, wait, reason);
    }

    /// Waits never run past this instant.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.patience.set_deadline(deadline);
    }

    /// Token requests made.
    pub fn token_requests(&self) -> u32 {
        self.tokens.requests
    }

    /// Gets a token now, so sign-in failures surface before any mail work.
    pub fn sign_in(&mut self) -> Result<(), AuthError> {
        self.tokens.access_token(self.host, self.setup).map(|_| ())
    }

    /// Obtains a new token from Entra ID, ignoring any cached one: proves the
    /// app registration and the grant work now.
    pub fn sign_in_fresh(&mut self) -> Result<(), AuthError> {
        self.tokens.invalidate(self.host);
        self.sign_in()
    }

    /// The mailbox this client works on.
    pub fn mailbox(&self) -> &str {
        &self.mailbox
    }

    /// `https://graph.microsoft.com/v1.0/users/{mailbox}`.
    pub fn mailbox_url(&self) -> String {
        format!("{GRAPH_BASE}/users/{}", enc(&self.mailbox))
    }

    /// The first page of a folder's messages, oldest first.
    pub fn first_page_url(&self, folder: &str, select: &str, top: u32) -> String {
        self.page_url(folder, select, None, top, 0)
    }

    /// A page of a folder's messages, oldest first, after skipping `skip`,
    /// with the `$expand` given.
    pub fn page_url(
        &self,
        folder: &str,
        select: &str,
        expand: Option<&str>,
        top: u32,
        skip: usize,
    ) -> String {
        let skip = if skip > 0 {
            format!("&$skip={skip}")
        } else {
            String::new()
        };
        let expand = expand.map(|e| format!("&$expand={e}")).unwrap_or_default();
        format!(
            "{}/mailFolders/{}/messages?$select={select}{expand}&$top={top}{skip}&$orderby=receivedDateTime%20asc",
            self.mailbox_url(),
            enc(folder)
        )
    }

    /// Reads a page of a collection (a first-page URL or an opaque next link).
    pub fn page(&mut self, url: &str) -> Result<Page, GraphError> {
        let body = self.send_costing("GET", url, None, 1)?;
        let raw: RawPage = serde_json::from_slice(&body)
            .map_err(|e| GraphError::Malformed(format!("a page that is not a collection: {e}")))?;
        let items = raw
            .value
            .ok_or_else(|| GraphError::Malformed("a page without 'value'".into()))?;
        let next_link = raw
            .next_link
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Page {
            items,
            next_link,
            bytes: body.len(),
        })
    }

    /// Moves a message; returns the moved message (with its new `webLink`).
    pub fn move_message(&mut self, id: &str, destination: &str) -> Result<Value, GraphError> {
        let url = format!("{}/messages/{}/move", self.mailbox_url(), enc(id));
        let body = serde_json::json!({ "destinationId": destination });
        self.call("POST", &url, Some(body))
    }

    /// Creates a draft in Drafts that says what it is, for the move check of
    /// validation; returns its id.
    pub fn create_probe(&mut self) -> Result<String, GraphError> {
        let url = format!("{}/messages", self.mailbox_url());
        let body = serde_json::json!({
            "subject": "Email Logging probe (safe to delete)",
            "body": {"contentType": "text", "content": "Created by Email Logging's setup validation to check that messages can be moved to the storage folder. It is deleted at once."},
        });
        let v = self.call("POST", &url, Some(body))?;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| GraphError::Malformed("a created message without an id".into()))
    }

    /// Deletes a message for good, without a copy in Deleted Items.
    pub fn permanently_delete(&mut self, id: &str) -> Result<(), GraphError> {
        let url = format!(
            "{}/messages/{}/permanentDelete",
            self.mailbox_url(),
            enc(id)
        );
        self.call("POST", &url, None).map(|_| ())
    }

    /// Deletes a message (Exchange moves it to Deleted Items).
    pub fn delete_message(&mut self, id: &str) -> Result<(), GraphError> {
        let url = format!("{}/messages/{}", self.mailbox_url(), enc(id));
        self.call("DELETE", &url, None).map(|_| ())
    }

    /// The folder id for a folder path, creating missing levels.
    ///
    /// A path is `/`-separated display names; its first level may be a
    /// well-known name (`archive/2026-11`). A single well-known name needs no
    /// request at all.
    pub fn ensure_folder(&mut self, path: &str) -> Result<String, GraphError> {
        if WELL_KNOWN_FOLDERS.contains(&path.to_lowercase().as_str()) {
            return Ok(path.to_lowercase());
        }
        let mut parent: Option<String> = None;
        for name in path.split('/') {
            let id = match self.child_folder(parent.as_deref(), name)? {
                Some((id, _)) => id,
                None => self.create_folder(parent.as_deref(), name)?,
            };
            parent = Some(id);
        }
        parent.ok_or_else(|| GraphError::Malformed("an empty folder path".into()))
    }

    /// A folder's id and item count by path, if every level exists.
    pub fn folder_info(&mut self, path: &str) -> Result<Option<(String, u64)>, GraphError> {
        let mut found: Option<(String, u64)> = None;
        for name in path.split('/') {
            let parent = found.as_ref().map(|(id, _)| id.clone());
            match self.child_folder(parent.as_deref(), name)? {
                Some(f) => found = Some(f),
                None => return Ok(None),
            }
        }
        Ok(found)
    }

    /// The child folders of a folder: id, display name and item count.
    pub fn child_folders(&mut self, id: &str) -> Result<Vec<(String, String, u64)>, GraphError> {
        let mut url = format!(
            "{}/mailFolders/{}/childFolders?$select=id,displayName,totalItemCount&$top=100",
            self.mailbox_url(),
            enc(id)
        );
        let mut out = Vec::new();
        loop {
            let page = self.page(&url)?;
            for f in &page.values().collect::<Vec<_>>() {
                out.push((
                    folder_id(f)?,
                    f.get("displayName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    f.get("totalItemCount").and_then(Value::as_u64).unwrap_or(0),
                ));
            }
            match page.next_link {
                Some(next) => url = next,
                None => return Ok(out),
            }
        }
    }

    /// The id of the child folder `name` of folder `parent`, created when missing.
    pub fn ensure_child_folder(&mut self, parent: &str, name: &str) -> Result<String, GraphError> {
        match self.child_folder(Some(parent), name)? {
            Some((id, _)) => Ok(id),
            None => self.create_folder(Some(parent), name),
        }
    }

    /// A folder's item count by id.
    pub fn folder_count(&mut self, id: &str) -> Result<u64, GraphError> {
        let url = format!(
            "{}/mailFolders/{}?$select=id,totalItemCount",
            self.mailbox_url(),
            enc(id)
        );
        let v = self.call("GET", &url, None)?;
        Ok(v.get("totalItemCount").and_then(Value::as_u64).unwrap_or(0))
    }

    /// A folder's display name by id (for saying where a message is).
    pub fn folder_name(&mut self, id: &str) -> Result<String, GraphError> {
        let url = format!(
            "{}/mailFolders/{}?$select=id,displayName",
            self.mailbox_url(),
            enc(id)
        );
        let v = self.call("GET", &url, None)?;
        Ok(v.get("displayName")
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_string())
    }

    /// One folder by name under `parent` (the mailbox root when `None`,
    /// where well-known names also count): id and item count.
    fn child_folder(
        &mut self,
        parent: Option<&str>,
        name: &str,
    ) -> Result<Option<(String, u64)>, GraphError> {
        let select = "$select=id,displayName,totalItemCount";
        let base = self.mailbox_url();
        let url = match parent {
            None if WELL_KNOWN_FOLDERS.contains(&name.to_lowercase().as_str()) => {
                format!("{base}/mailFolders/{}?{select}", name.to_lowercase())
            }
            _ => {
                let filter = format!("displayName eq '{}'", name.replace('\'', "''"));
                let collection = match parent {
                    None => format!("{base}/mailFolders"),
                    Some(p) => format!("{base}/mailFolders/{}/childFolders", enc(p)),
                };
                format!("{collection}?$filter={}&{select}", enc(&filter))
            }
        };
        let v = match self.call("GET", &url, None) {
            Ok(v) => v,
            Err(e) if e.code() == Some("ErrorItemNotFound") => return Ok(None),
            Err(e) => return Err(e),
        };
        let folder = match v.get("value").and_then(Value::as_array) {
            Some(list) => match list.first() {
                Some(f) => f,
                None => return Ok(None),
            },
            None => &v,
        };
        Ok(Some((
            folder_id(folder)?,
            folder
                .get("totalItemCount")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        )))
    }

    fn create_folder(&mut self, parent: Option<&str>, name: &str) -> Result<String, GraphError> {
        let url = match parent {
            None => format!("{}/mailFolders", self.mailbox_url()),
            Some(p) => format!("{}/mailFolders/{}/childFolders", self.mailbox_url(), enc(p)),
        };
        match self.call(
            "POST",
            &url,
            Some(serde_json::json!({ "displayName": name })),
        ) {
            Ok(v) => folder_id(&v),
            // Someone created it between our look and our create.
            Err(e) if e.code() == Some("ErrorFolderExists") => self
                .child_folder(parent, name)?
                .map(|(id, _)| id)
                .ok_or_else(|| {
                    GraphError::Malformed(format!("folder '{name}' exists but cannot be found"))
                }),
            Err(e) => Err(e),
        }
    }

    /// One Graph call with retries; returns the JSON body (`Null` for 204).
    pub fn call(
        &mut self,
        method: &str,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, GraphError> {
        self.call_costing(method, url, body, 1)
    }

    /// [`Self::call`] for a request that Graph counts as `cost` requests
    /// against the mailbox's window (a `$batch` counts its inner requests).
    fn call_costing(
        &mut self,
        method: &str,
        url: &str,
        body: Option<Value>,
        cost: usize,
    ) -> Result<Value, GraphError> {
        let body = body.map(|b| b.to_string().into_bytes());
        let body = self.send_costing(method, url, body, cost)?;
        parse_body(&body)
    }

    /// Sends a request with retries; returns the body of its 2xx answer.
    fn send_costing(
        &mut self,
        method: &str,
        url: &str,
        body: Option<Vec<u8>>,
        cost: usize,
    ) -> Result<Vec<u8>, GraphError> {
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.tokens.access_token(self.host, self.setup)?;
            let mut headers = vec![
                ("authorization".to_string(), format!("Bearer {token}")),
                ("prefer".to_string(), "IdType=\"ImmutableId\"".to_string()),
                ("accept".to_string(), "application/json".to_string()),
            ];
            if body.is_some() {
                headers.push(("content-type".into(), "application/json".into()));
            }
            self.pace(cost)?;
            self.requests += 1;
            let result = self.host.http_send(HttpRequest {
                method: method.into(),
                url: url.into(),
                headers,
                body: body.clone(),
                timeout_ms: Some(60_000),
                sensitive: false,
            });
            // Graph counts every request, throttled or not.
            self.pacer.record(cost, Instant::now());
            let (wait, why, throttled) = match result {
                Ok(resp) => match verdict(resp.status, renewed) {
                    Verdict::Done => return Ok(resp.body),
                    Verdict::Renew => {
                        // An access token can expire or be revoked mid-run.
                        renewed = true;
                        self.tokens.invalidate(self.host);
                        continue;
                    }
                    Verdict::Retry { throttled } => {
                        let retry_after = resp.header("retry-after").and_then(parse_retry_after);
                        if throttled || retry_after.is_some() {
                            self.patience.throttled_waits += 1;
                        }
                        (retry_after, format!("HTTP {}", resp.status), throttled)
                    }
                    Verdict::Fail => return Err(api_error(&resp)),
                },
                Err(HostError::Unavailable(m)) => (None, m, false),
                Err(e) => return Err(e.into()),
            };
            let wait = wait.unwrap_or_else(|| self.backoff(attempt));
            if wait > MAX_WAIT {
                return Err(GraphError::Throttled(wait.as_secs().max(1) as u32));
            }
            if attempt >= MAX_ATTEMPTS || self.past_deadline(wait) {
                return Err(if throttled {
                    GraphError::Throttled(wait.as_secs().max(1) as u32)
                } else {
                    GraphError::Transient(why)
                });
            }
            let reason = if throttled {
                format!("Microsoft Graph is throttling ({why})")
            } else {
                format!("retrying after {why}")
            };
            self.wait(wait, &reason);
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        Patience::backoff(self.host, attempt)
    }

    fn past_deadline(&self, wait: Duration) -> bool {
        self.patience.past_deadline(wait)
    }
}

fn parse_body(body: &[u8]) -> Result<Value, GraphError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| GraphError::Malformed(format!("a body that is not JSON: {e}")))
}

/// Reads Graph's error envelope (`innerError`/`innererror` alike).
fn api_error(resp: &HttpResponse) -> GraphError {
    let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    api_error_of(resp.status, &v)
}

/// The error of a status and an error envelope (also inside `$batch` answers).
fn api_error_of(status: u16, v: &Value) -> GraphError {
    let err = v.get("error");
    let text = |k: &str| {
        err.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(300)
            .collect::<String>()
    };
    GraphError::Api {
        status,
        code: text("code"),
        message: text("message"),
    }
}

fn folder_id(v: &Value) -> Result<String, GraphError> {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| GraphError::Malformed("a folder without an id".into()))
}

/// Percent-encodes one path segment or query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_is_read() {
        let resp = HttpResponse {
            status: 404,
            headers: vec![],
            body: br#"{"error":{"code":"ErrorItemNotFound","message":"gone"}}"#.to_vec(),
        };
        assert_eq!(api_error(&resp).code(), Some("ErrorItemNotFound"));
        let junk = HttpResponse {
            status: 500,
            headers: vec![],
            body: b"<html>".to_vec(),
        };
        assert!(matches!(
            api_error(&junk),
            GraphError::Api { status: 500, .. }
        ));
    }

    #[test]
    fn ids_are_encoded_in_paths() {
        assert_eq!(enc("AAk/x+y=="), "AAk%2Fx%2By%3D%3D");
        assert_eq!(enc("a b"), "a%20b");
    }
}
