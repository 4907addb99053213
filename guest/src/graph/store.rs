//! The shared mailbox over Microsoft Graph, as a [`MailStore`].
//!
//! What is Graph's own stays here: `$skip` paging with opaque next links,
//! page sizes that fit the host's response cap, Graph's error codes and what
//! they mean for the pipeline, the checks and hints of the mailbox access.

use super::{Graph, GraphError, MoveAnswer, enc, pacing};
use crate::auth::AuthError;
use crate::host::{Host, HostError};
use crate::mail_store::{
    AccessCheck, Cursor, FolderInfo, MailError, MailStore, MessageRef, Moved, Page, Resolution,
    Usage,
};
use crate::message::{self, InboxMessage, MessageError, Unreadable};
use crate::setup::{AuthMode, Setup};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Instant;

/// An answer past this many bytes makes the next pages smaller, so that a
/// page and its parsed messages stay well inside the component's memory.
const PAGE_BYTES: usize = 4 << 20;

/// Graph's largest `$top` for messages.
const MAX_TOP: u32 = 1000;

/// What link repair asks of a message.
const FIND_SELECT: &str = "$select=id,webLink,parentFolderId,internetMessageId";

/// The shared mailbox over Graph.
pub struct GraphStore<'a> {
    graph: Graph<'a>,
    setup: &'a Setup,
    /// The batch size the pipeline asks for.
    batch: u32,
    /// The page size asked for now: the batch size, less after large answers.
    top: u32,
    /// Where the last page started, as `$skip` counts.
    position: usize,
    /// Items on the last page.
    last_read: usize,
    /// The last page's next link, while the page size stays as it was.
    next_link: Option<String>,
    /// The first page of the Inbox, read with the last moves, for the next
    /// `page(Cursor::First, …)`; any other read drops it.
    read_ahead: Option<super::Page>,
    /// The page size the read-ahead page was asked with.
    read_ahead_top: u32,
    /// The size of the last page's answer.
    last_bytes: usize,
    folder_names: HashMap<String, String>,
}

impl<'a> GraphStore<'a> {
    /// The setup's mailbox.
    pub fn new(host: &'a dyn Host, setup: &'a Setup, mailbox: &str) -> Self {
        Self {
            graph: Graph::new(host, setup, mailbox),
            setup,
            batch: 0,
            top: 0,
            position: 0,
            last_read: 0,
            next_link: None,
            read_ahead: None,
            read_ahead_top: 0,
            last_bytes: 0,
            folder_names: HashMap::new(),
        }
    }

    /// A store for a run: waits never pass `deadline`, and requests are paced
    /// under the mailbox's throttling window as the host's limits say.
    pub fn for_run(host: &'a dyn Host, setup: &'a Setup, mailbox: &str, deadline: Instant) -> Self {
        let mut store = Self::new(host, setup, mailbox);
        store.graph.set_deadline(deadline);
        store.graph.set_limits(pacing::GraphLimits::load(host));
        store.graph.restore_window();
        store
    }

    /// Turns a Graph failure into what it means for the pipeline.
    fn mail_error(&self, e: GraphError) -> MailError {
        let mailbox = self.graph.mailbox();
        let text = e.to_string();
        match e {
            GraphError::Throttled(secs) => MailError::Throttled {
                retry_after_secs: secs,
                text,
            },
            GraphError::Auth(a) => auth_error(a),
            GraphError::Api {
                status: 404, code, ..
            } if code == "MailboxNotEnabledForRESTAPI" => MailError::Unusable(format!(
                "the mailbox {mailbox} is inactive, soft-deleted or on-premises ({code}): it must be an Exchange Online mailbox with a licence"
            )),
            GraphError::Api {
                status: 404, code, ..
            } if code == "ErrorInvalidUser" => MailError::Unusable(format!(
                "there is no mailbox {mailbox} ({code}): check the shared mailbox address in the setup"
            )),
            GraphError::Api {
                status: 403, code, ..
            } => MailError::Unusable(format!(
                "access to {mailbox} was denied ({code}): give the job account Full Access to the shared mailbox, and the app Mail.ReadWrite.Shared"
            )),
            GraphError::Api { status: 404, .. } => MailError::Gone(text),
            GraphError::Api { code, .. } if code == "ErrorQuotaExceeded" => MailError::Full(text),
            GraphError::Api { status, .. }
                if (400..500).contains(&status) && !matches!(status, 401 | 408 | 409 | 429) =>
            {
                MailError::Refused(text)
            }
            GraphError::Host(HostError::Invalid(m) | HostError::Denied(m)) => MailError::Refused(m),
            _ => MailError::Unavailable(text),
        }
    }

    /// A page of the Inbox at the current position, read again smaller while
    /// it is larger than the host takes; a message too large even alone comes
    /// back as its identity.
    fn read_page(&mut self, use_next_link: bool) -> Result<Page, MailError> {
        let mut url = match self.next_link.take() {
            Some(link) if use_next_link => link,
            _ => self.graph.page_url(
                "inbox",
                message::SELECT,
                Some(message::EXPAND),
                self.top,
                self.position,
            ),
        };
        loop {
            match self.graph.page(&url) {
                Ok(page) => return Ok(self.accept(page)),
                Err(GraphError::Host(HostError::Invalid(m))) if m.contains("larger than") => {
                    if self.top > 1 {
                        self.top = (self.top / 2).max(1);
                        url = self.graph.page_url(
                            "inbox",
                            message::SELECT,
                            Some(message::EXPAND),
                            self.top,
                            self.position,
                        );
                        continue;
                    }
                    return self.identity_page();
                }
                Err(e) => return Err(self.mail_error(e)),
            }
        }
    }

    /// Graph's answers to moves, as the pipeline takes them. A move whose
    /// answer was too large to read is looked for in its destination.
    fn moved(
        &mut self,
        moves: &[(String, String)],
        results: Vec<Result<MoveAnswer, GraphError>>,
    ) -> Vec<Result<Option<Moved>, MailError>> {
        moves
            .iter()
            .zip(results)
            .map(|((id, destination), r)| match r {
                Err(GraphError::AnswerTooLarge(m)) => match self.moved_yet(id, destination) {
                    Ok(Some(v)) => Ok(MoveAnswer::of_value(&v)),
                    Ok(None) => Err(GraphError::Transient(format!(
                        "the move's answer could not be read ({m}) and the message is not in the destination"
                    ))),
                    Err(e) => Err(e),
                },
                other => other,
            })
            .collect::<Vec<_>>()
            .into_iter()
            .zip(moves)
            .map(|(r, (id, _))| match r {
                Ok(answer) => {
                    let id = answer
                        .id
                        .filter(|i| !i.trim().is_empty())
                        .unwrap_or_else(|| id.clone());
                    // Immutable ids: Graph always knows where it went.
                    Ok(Some(Moved {
                        web_link: self.web_link(&id, answer.web_link.as_deref()),
                        id,
                    }))
                }
                Err(e) => Err(self.mail_error(e)),
            })
            .collect()
    }

    /// Takes a page read at the current position: the next page's size and
    /// link follow from it, and its items are parsed one at a time, their
    /// text dropped as they go, so a page costs little more than its answer.
    fn accept(&mut self, page: super::Page) -> Page {
        let read = page.items.len();
        self.last_read = read;
        self.last_bytes = page.bytes;
        let sized = page_size(self.top, self.batch, read, page.bytes);
        let more = page.next_link.is_some();
        self.next_link = page.next_link.filter(|_| sized == self.top);
        self.top = sized;
        let items = page
            .items
            .into_iter()
            .map(|raw| InboxMessage::from_raw(&raw))
            .collect();
        Page { items, more }
    }

    /// The message at the current position by its identity only, as an item
    /// too large to be read.
    fn identity_page(&mut self) -> Result<Page, MailError> {
        let url = self
            .graph
            .page_url("inbox", message::SELECT_IDENTITY, None, 1, self.position);
        let page = self.graph.page(&url).map_err(|e| self.mail_error(e))?;
        self.last_read = page.items.len();
        self.next_link = None;
        let more = page.next_link.is_some();
        let items = page
            .items
            .iter()
            .map(|raw| {
                let (id, internet_message_id) = match InboxMessage::from_raw(raw) {
                    Ok(m) => (Some(m.id), m.internet_message_id),
                    Err(u) => (u.id, u.internet_message_id),
                };
                Err(Unreadable {
                    fingerprint: id.clone().unwrap_or_default(),
                    id,
                    internet_message_id,
                    error: MessageError::TooLarge(
                        "the message is too large to be read: its headers and recipient lists are larger than the ERP host accepts in one answer".into(),
                    ),
                })
            })
            .collect();
        Ok(Page { items, more })
    }

    /// The message `id` (id, folder and link only) if it is in `destination`.
    fn moved_yet(&mut self, id: &str, destination: &str) -> Result<Option<Value>, GraphError> {
        let base = self.graph.mailbox_url();
        let folder = self.graph.call(
            "GET",
            &format!("{base}/mailFolders/{}?$select=id", enc(destination)),
            None,
        )?;
        let found = self.graph.call(
            "GET",
            &format!(
                "{base}/messages/{}?$select=id,parentFolderId,webLink",
                enc(id)
            ),
            None,
        )?;
        let same = folder.get("id").and_then(Value::as_str).is_some()
            && folder.get("id") == found.get("parentFolderId");
        Ok(same.then_some(found))
    }

    /// One move; Graph answers with the whole message, which for a message
    /// too large for the host cannot be read although the move was made:
    /// then where the message is now says whether it was.
    fn move_one(&mut self, id: &str, destination: &str) -> Result<Value, GraphError> {
        match self.graph.move_message(id, destination) {
            Err(GraphError::Host(HostError::Invalid(m))) if m.contains("larger than") => {
                self.moved_yet(id, destination)?.ok_or_else(|| {
                    GraphError::Transient(format!(
                        "the move's answer could not be read ({m}) and the message is not in the destination"
                    ))
                })
            }
            other => other,
        }
    }

    fn found(&mut self, v: &Value) -> Resolution {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let Some(message_id) = text("id") else {
            return Resolution::Failed("Graph answered a message without an id".into());
        };
        let web_link = crate::web_link::outlook_link(text("webLink").as_deref(), &message_id);
        let folder = match text("parentFolderId") {
            Some(id) => self.folder_name(&id),
            None => String::new(),
        };
        Resolution::Found {
            message_id,
            web_link,
            folder,
        }
    }

    fn folder_name(&mut self, id: &str) -> String {
        if let Some(name) = self.folder_names.get(id) {
            return name.clone();
        }
        // The folder is a courtesy for the reader; its id will do without it.
        let name = self
            .graph
            .folder_name(id)
            .unwrap_or_else(|_| id.to_string());
        self.folder_names.insert(id.to_string(), name.clone());
        name
    }

    fn check_token(&mut self) -> AccessCheck {
        match self.graph.sign_in_fresh() {
            Ok(()) => {
                let who = match self.setup.auth_mode {
                    AuthMode::Delegated => self
                        .setup
                        .signed_in_account
                        .as_deref()
                        .map_or("a token for the job account was obtained".into(), |a| {
                            format!("a token for {a} was obtained")
                        }),
                    AuthMode::Application => "an application token was obtained".into(),
                };
                AccessCheck::pass("token", who)
            }
            Err(e) => {
                let hint = match &e {
                    AuthError::Incomplete(_) => "complete the app registration fields of the setup",
                    AuthError::SignInRequired(_) => {
                        "sign in again with the job account (setup sign-in)"
                    }
                    AuthError::InvalidClient(_) => {
                        "enter the client secret's Value (not its ID) from the app registration, and renew it if it expired"
                    }
                    AuthError::Transient(_) => "Entra ID could not be reached; try again",
                    AuthError::Failed(_) => {
                        "check the app registration (client id, tenant, permissions)"
                    }
                };
                AccessCheck::fail("token", e.to_string(), hint)
            }
        }
    }

    fn check_mailbox(&mut self) -> AccessCheck {
        let probe = self.graph.first_page_url("inbox", "id", 1);
        match self.graph.page(&probe) {
            Ok(_) => AccessCheck::pass(
                "mailbox",
                format!("the Inbox of {} is readable", self.graph.mailbox()),
            ),
            Err(e) => {
                let hint = match (&e, e.code()) {
                    (_, Some("MailboxNotEnabledForRESTAPI")) => {
                        "the mailbox is inactive, soft-deleted or on-premises: it must be an Exchange Online mailbox with a licence (a shared mailbox under 50 GB needs none)"
                    }
                    (_, Some("ErrorInvalidUser")) => {
                        "there is no such mailbox: check the shared mailbox address"
                    }
                    (GraphError::Api { status: 403, .. }, _) => {
                        "give the job account Full Access to the shared mailbox (Exchange admin center → the mailbox → Delegation), and the app the Mail.ReadWrite.Shared permission"
                    }
                    _ => "check the mailbox address and the app's Graph permissions",
                };
                AccessCheck::fail("mailbox", e.to_string(), hint)
            }
        }
    }
}

fn auth_error(a: AuthError) -> MailError {
    a.into()
}

/// The page size to ask for next: smaller after an answer past
/// [`PAGE_BYTES`], back towards the batch size after small ones.
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

/// Whether an error says the id no longer names a message here.
fn is_gone(e: &GraphError) -> bool {
    match e {
        GraphError::Api { status: 404, .. } => true,
        GraphError::Api {
            status: 400, code, ..
        } => code.starts_with("ErrorInvalidId"),
        _ => false,
    }
}

impl MailStore for GraphStore<'_> {
    fn mailbox(&self) -> &str {
        self.graph.mailbox()
    }

    fn connect(&mut self) -> Result<(), MailError> {
        self.graph.sign_in().map_err(auth_error)
    }

    fn check_access(&mut self) -> Vec<AccessCheck> {
        let token = self.check_token();
        if !token.passed {
            return vec![token];
        }
        vec![token, self.check_mailbox()]
    }

    fn page(&mut self, cursor: Cursor, batch: u32) -> Result<Page, MailError> {
        let batch = batch.max(1);
        let read_ahead = self.read_ahead.take();
        match cursor {
            Cursor::First => {
                // The run changed the Inbox: a next link would skip unseen
                // messages, since Graph's paging counts `$skip` over the
                // folder as it is now.
                self.position = 0;
                self.next_link = None;
                if self.top == 0 {
                    self.top = batch;
                }
            }
            Cursor::Next => self.position += self.last_read,
        }
        self.batch = batch;
        if self.top > batch {
            self.top = batch;
            self.next_link = None;
        }
        match read_ahead {
            // Read from the start with this very page size: as if read now.
            Some(page) if cursor == Cursor::First && self.top == self.read_ahead_top => {
                Ok(self.accept(page))
            }
            _ => self.read_page(cursor == Cursor::Next),
        }
    }

    fn rights_hint(&self) -> &'static str {
        "give the job account Full Access to the shared mailbox, and the app Mail.ReadWrite.Shared (application mode: Mail.ReadWrite)"
    }

    fn folder_limit_source(&self) -> &'static str {
        "Exchange Online's limit per mail folder"
    }

    fn move_many(&mut self, moves: &[(String, String)]) -> Vec<Result<Option<Moved>, MailError>> {
        let results = match moves {
            [] => return Vec::new(),
            [(id, destination)] => vec![
                self.move_one(id, destination)
                    .map(|v| MoveAnswer::of_value(&v)),
            ],
            many => self.graph.move_many(many, None).0,
        };
        self.moved(moves, results)
    }

    fn move_many_and_read_ahead(
        &mut self,
        moves: &[(String, String)],
        batch: u32,
    ) -> Vec<Result<Option<Moved>, MailError>> {
        self.read_ahead = None;
        // A page rides in the moves' answer only while pages are small: an
        // answer past the host's cap would hide where the moves went.
        // One move goes alone, as it always did (its retries are a move's).
        if moves.len() < 2 || self.last_bytes > PAGE_BYTES / 4 {
            return self.move_many(moves);
        }
        // The page `page(Cursor::First, batch)` would read next, and as many
        // more as moves may still be in flight with it (the last batch's):
        // those the drain has seen already, and the page would come short.
        let top = match self.top {
            0 => batch.max(1),
            top => top.min(batch.max(1)),
        };
        let in_flight = (moves.len() % super::BATCH_LIMIT) as u32;
        let url = self.graph.page_url(
            "inbox",
            message::SELECT,
            Some(message::EXPAND),
            (top + in_flight).min(MAX_TOP),
            0,
        );
        let (results, page) = self.graph.move_many(moves, Some(&url));
        self.read_ahead = page;
        self.read_ahead_top = top;
        self.moved(moves, results)
    }

    fn delete(&mut self, id: &str) -> Result<(), MailError> {
        self.graph
            .delete_message(id)
            .map_err(|e| self.mail_error(e))
    }

    fn ensure_folder(&mut self, path: &str) -> Result<String, MailError> {
        self.graph
            .ensure_folder(path)
            .map_err(|e| self.mail_error(e))
    }

    fn ensure_child_folder(&mut self, parent: &str, name: &str) -> Result<String, MailError> {
        self.graph
            .ensure_child_folder(parent, name)
            .map_err(|e| self.mail_error(e))
    }

    fn folder_info(&mut self, path: &str) -> Result<Option<FolderInfo>, MailError> {
        let found = self
            .graph
            .folder_info(path)
            .map_err(|e| self.mail_error(e))?;
        Ok(found.map(|(id, item_count)| FolderInfo {
            id,
            name: path.rsplit('/').next().unwrap_or(path).to_string(),
            item_count,
        }))
    }

    fn child_folders(&mut self, id: &str) -> Result<Vec<FolderInfo>, MailError> {
        let list = self
            .graph
            .child_folders(id)
            .map_err(|e| self.mail_error(e))?;
        Ok(list
            .into_iter()
            .map(|(id, name, item_count)| FolderInfo {
                id,
                name,
                item_count,
            })
            .collect())
    }

    fn folder_count(&mut self, id: &str) -> Result<u64, MailError> {
        self.graph.folder_count(id).map_err(|e| self.mail_error(e))
    }

    fn create_probe(&mut self) -> Result<String, MailError> {
        self.graph.create_probe().map_err(|e| self.mail_error(e))
    }

    fn delete_for_good(&mut self, id: &str) -> Result<(), MailError> {
        self.graph
            .permanently_delete(id)
            .map_err(|e| self.mail_error(e))
    }

    fn find_again(&mut self, r: &MessageRef) -> Resolution {
        let by_id = format!(
            "{}/messages/{}?{FIND_SELECT}",
            self.graph.mailbox_url(),
            enc(&r.message_id)
        );
        match self.graph.call("GET", &by_id, None) {
            Ok(v) => return self.found(&v),
            Err(e) if !is_gone(&e) => return Resolution::Failed(e.to_string()),
            Err(_) => {}
        }
        let Some(imid) = r.internet_message_id.as_deref() else {
            return Resolution::NotFound;
        };
        let filter = format!("internetMessageId eq '{}'", imid.replace('\'', "''"));
        let url = format!(
            "{}/messages?$filter={}&{FIND_SELECT}&$top=10",
            self.graph.mailbox_url(),
            enc(&filter)
        );
        match self.graph.page(&url) {
            // Several copies (a BCC twice): any of them shows the message.
            Ok(page) => match page.values().next() {
                Some(v) => self.found(&v),
                None => Resolution::NotFound,
            },
            Err(e) => Resolution::Failed(e.to_string()),
        }
    }

    fn web_link(&self, id: &str, given: Option<&str>) -> String {
        crate::web_link::outlook_link(given, id)
    }

    fn finish(&mut self) {
        self.graph.keep_window();
    }

    fn usage(&self) -> Usage {
        Usage {
            requests: self.graph.requests + self.graph.token_requests(),
            throttled_waits: self.graph.patience.throttled_waits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_shrink_after_large_answers_and_grow_back() {
        assert_eq!(
            page_size(50, 50, 50, 10 << 20),
            20,
            "4 MiB of a 10 MiB page"
        );
        assert_eq!(
            page_size(50, 50, 1, 10 << 20),
            50,
            "one message cannot be split"
        );
        assert_eq!(page_size(20, 50, 20, 1 << 10), 40);
        assert_eq!(page_size(40, 50, 40, 1 << 10), 50);
        assert_eq!(page_size(50, 50, 50, 2 << 20), 50);
    }
}
