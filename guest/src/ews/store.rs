//! Public folders over Exchange Web Services, as a [`MailStore`]: the queue
//! folder plays the Inbox, folder paths start at the public folder root, and
//! a bare folder name (the not-logged and quarantine folders) is a folder
//! beside the queue folder, where the account has its rights already.
//!
//! What is EWS's own stays here: `FindItem` paging by offset, one `GetItem`
//! per page (one per item when the page is too large for the host), one
//! `MoveItem` for many items, and moves into public folders that answer no
//! new id (the item is then found again in the destination). The wire and
//! its retries are `client`'s, folder paths `folders`'.

pub use super::client::{BearerSource, EwsAuth};
use super::client::{CallError, Client, code_error};
use super::folders::{Folders, ROOT};
use super::item;
use super::soap::{self, DeleteType, FolderRef, Header, Request, Response};
use super::xml::Ns;
use crate::host::Host;
use crate::mail_store::{
    AccessCheck, Cursor, FolderInfo, MailError, MailStore, MessageRef, Moved, Page, Resolution,
    Usage,
};
use crate::message::{InboxMessage, MessageError, Unreadable};
use std::collections::HashMap;
use std::time::Instant;

/// The subject of the validation probe; a random tag makes it findable.
const PROBE_SUBJECT: &str = "Email Logging probe (safe to delete)";

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

/// Public folders over EWS.
pub struct EwsStore<'a> {
    host: &'a dyn Host,
    client: Client<'a>,
    folders: Folders,
    /// Where logged messages may be found again.
    search: Vec<String>,
    position: usize,
    last_read: usize,
    traces: HashMap<String, Trace>,
}

impl<'a> EwsStore<'a> {
    /// A store for this setup, signing in with `auth`.
    pub fn new(host: &'a dyn Host, config: EwsConfig, auth: EwsAuth<'a>) -> Self {
        Self {
            host,
            client: Client::new(host, &config.url, &config.account, config.impersonate, auth),
            folders: Folders::new(&config.queue),
            search: config.search,
            position: 0,
            last_read: 0,
            traces: HashMap::new(),
        }
    }

    /// Waits never run past this instant.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.client.set_deadline(deadline);
    }

    fn queue(&mut self) -> Result<FolderInfo, MailError> {
        self.folders.queue(&mut self.client)
    }

    fn resolve(&mut self, path: &str, create: bool) -> Result<Option<FolderInfo>, MailError> {
        self.folders.resolve(&mut self.client, path, create)
    }

    fn call_one(&mut self, request: Request) -> Result<Response, MailError> {
        self.client.call_one(request)
    }

    fn header(&self) -> Header<'_> {
        self.client.header()
    }

    /// The items of the queue at the current position: ids from one
    /// `FindItem`, fields from one `GetItem` (one per item when the page's
    /// answer is larger than the host takes).
    fn read_page(&mut self, batch: u32) -> Result<Page, MailError> {
        let queue = self.queue()?;
        let page = |store: &Self, ids_only| {
            soap::find_item(
                store.header(),
                FolderRef::Id(&queue.id),
                store.position,
                batch,
                None,
                ids_only,
            )
        };
        let found = match self.client.call(page(self, false)) {
            // An item's Message-ID spoiled the answer: ask for ids alone, and
            // the item's own GetItem tells which one it is.
            Err(CallError::Malformed(_)) => self.call_one(page(self, true))?,
            answer => self.client.only(answer)?,
        };
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
            // One item spoils the page's answer: read them one by one.
            Err(CallError::TooLarge(_) | CallError::Malformed(_)) => {
                let mut items = Vec::with_capacity(ids.len());
                for one in &ids {
                    match self.get_items(std::slice::from_ref(one)) {
                        Ok(mut got) => items.append(&mut got),
                        Err(CallError::TooLarge(m)) => items.push(Err(one.unreadable(
                            MessageError::TooLarge(format!(
                                "the message is too large to be read: its answer is larger than the ERP host accepts ({m})"
                            )),
                        ))),
                        Err(CallError::Malformed(m)) => items.push(Err(one.unreadable(
                            MessageError::Corrupt(format!(
                                "Exchange's answer for this item is not well-formed XML ({m})"
                            )),
                        ))),
                        Err(e) => return Err(self.client.mail_error(e)),
                    }
                }
                items
            }
            Err(e) => return Err(self.client.mail_error(e)),
        };
        for m in items.iter().flatten() {
            // Without a Message-ID, a subject no other item in the
            // destination has still finds the item after its move.
            let trace = match &m.internet_message_id {
                Some(imid) => Trace::InternetMessageId(imid.clone()),
                None if !m.subject.is_empty() => Trace::Subject(m.subject.clone()),
                None => continue,
            };
            self.traces.insert(m.id.clone(), trace);
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
        let answers = self
            .client
            .call(soap::get_item(self.client.header(), &refs))?;
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
    /// Its id there: copies of one Message-ID are one message to its
    /// entries, but a subject must name a single item.
    fn find_in(&mut self, folder: &str, trace: &Trace) -> Result<Option<String>, MailError> {
        let matching = match trace {
            Trace::InternetMessageId(v) => ("message:InternetMessageId", v.as_str()),
            Trace::Subject(v) => ("item:Subject", v.as_str()),
        };
        let r = self.call_one(soap::find_item(
            self.header(),
            FolderRef::Id(folder),
            0,
            2,
            Some(matching),
            false,
        ))?;
        let mut found = r.items().filter_map(|el| soap::id_of(el, "ItemId"));
        let first = found.next();
        Ok(match trace {
            Trace::Subject(_) if found.next().is_some() => None,
            _ => first,
        })
    }

    /// The item's id and link now, by id.
    fn locate(&mut self, id: &str) -> Result<Resolution, MailError> {
        let r = self.call_one(soap::get_item(self.header(), &[id]))?;
        let Some(el) = r.items().next() else {
            return Ok(Resolution::NotFound);
        };
        let message_id = soap::id_of(el, "ItemId").unwrap_or_else(|| id.to_string());
        let folder = soap::id_of(el, "ParentFolderId")
            .map(|f| self.folders.names.get(&f).cloned().unwrap_or(f))
            .unwrap_or_default();
        Ok(Resolution::Found {
            web_link: self.client.link(
                el.text_of(Ns::Types, "WebClientReadFormQueryString"),
                &message_id,
            ),
            message_id,
            folder,
        })
    }

    fn check_folder_root(&mut self) -> AccessCheck {
        let root = FolderRef::Distinguished {
            id: ROOT,
            mailbox: None,
        };
        match self.call_one(soap::get_folder(self.header(), root)) {
            Ok(_) => AccessCheck::pass(
                "token",
                format!("{} signed in to {}", self.client.account, self.client.url()),
            ),
            Err(e @ MailError::SignInLost(_)) => {
                AccessCheck::fail("token", e.to_string(), self.client.sign_in_hint())
            }
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

impl MailStore for EwsStore<'_> {
    fn mailbox(&self) -> &str {
        &self.client.account
    }

    fn connect(&mut self) -> Result<(), MailError> {
        self.client.sign_in()?;
        self.queue().map(|_| ())
    }

    fn check_access(&mut self) -> Vec<AccessCheck> {
        self.client.forget_token();
        let signed_in = self.check_folder_root();
        if !signed_in.passed {
            return vec![signed_in];
        }
        let queue = match self.queue() {
            Ok(q) => AccessCheck::pass(
                "mailbox",
                format!(
                    "the queue folder '{}' holds {} items",
                    self.folders.queue_path(),
                    q.item_count
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

    fn rights_hint(&self) -> &'static str {
        "in the public folders' permissions, give the account Editor on the queue folder and Publishing Author on the storage folder and on the folder above the queue; with OAuth2, the app also needs full_access_as_app"
    }

    fn folder_limit_source(&self) -> &'static str {
        "Exchange's limit of messages per public folder, MailboxMessagesPerFolderCountReceiveQuota"
    }

    fn move_many(&mut self, moves: &[(String, String)]) -> Vec<Result<Option<Moved>, MailError>> {
        let mut out: Vec<Option<Result<Option<Moved>, MailError>>> = vec![None; moves.len()];
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
            match self
                .client
                .call(soap::move_item(self.client.header(), &ids, to))
            {
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
                    let e = self.client.mail_error(e);
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
        let c = &mut self.client;
        match self.folders.find_child(c, FolderRef::Id(parent), name)? {
            Some(f) => Ok(f.id),
            None => Folders::create(c, FolderRef::Id(parent), name),
        }
    }

    fn folder_info(&mut self, path: &str) -> Result<Option<FolderInfo>, MailError> {
        // The pipeline's Inbox is the queue.
        let path = if path.eq_ignore_ascii_case("inbox") {
            self.folders.queue_path().to_string()
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
        self.folders.children(&mut self.client, id)
    }

    fn folder_count(&mut self, id: &str) -> Result<u64, MailError> {
        Folders::count(&mut self.client, id)
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
        for path in self.search.clone() {
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
                self.folders.names.insert(f.id.clone(), f.name.clone());
                match self.find_in(&f.id, &trace) {
                    Ok(Some(id)) => {
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

    fn web_link(&self, id: &str, given: Option<&str>) -> String {
        self.client.link(given, id)
    }

    fn usage(&self) -> Usage {
        Usage {
            requests: self.client.requests + self.client.token_requests(),
            throttled_waits: self.client.patience.throttled_waits,
        }
    }
}

impl EwsStore<'_> {
    /// A successful move: the new id, or, where Exchange answered none (as
    /// it may for public folders), the item found again in the destination.
    fn moved(&mut self, id: &str, to: &str, r: &Response) -> Result<Option<Moved>, MailError> {
        let trace = self.traces.remove(id);
        let new = match r.items().find_map(|el| soap::id_of(el, "ItemId")) {
            Some(new) => Some(new),
            None => match &trace {
                Some(t) => self.find_in(to, t)?,
                None => None,
            },
        };
        // Moved, but not to be found by anything it carries: the entry keeps
        // a link that link repair can refresh.
        Ok(new.map(|new| Moved {
            web_link: self.client.link(None, &new),
            id: new,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ews::xml::{MESSAGES, SOAP, TYPES};
    use crate::host::{HostError, HttpResponse};
    use crate::testing::MemHost;
    use secrecy::SecretString;
    use std::time::Duration;

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
    fn a_page_that_is_not_ews_after_ews_answered_is_retried_not_a_wrong_url() {
        let host = MemHost::new();
        queue_found(&host);
        host.http.borrow_mut().extend([
            ok("<html><title>502 Bad Gateway</title></html>".into()),
            find_item(&[], true),
        ]);
        let mut s = store(&host);
        let page = s.page(Cursor::First, 50).expect("retried");
        assert!(page.items.is_empty());
        assert_eq!(host.slept.borrow().len(), 1, "one wait before the retry");
    }

    #[test]
    fn an_item_exchange_writes_as_malformed_xml_spoils_only_itself() {
        let host = MemHost::new();
        queue_found(&host);
        // Exchange writes a NUL in the Message-ID as `&#x0;`, which no XML
        // parser takes: the page is asked again for ids alone, and each item
        // is read on its own.
        let nul = "&lt;bad&#x0;@x&gt;";
        host.http.borrow_mut().extend([
            find_item(&[("I1", "&lt;1@x&gt;"), ("I2", nul)], true),
            find_item(&[("I1", "&lt;1@x&gt;"), ("I2", "")], true),
            ok(envelope(
                "GetItem",
                &(message("I1", "&lt;1@x&gt;") + &message("I2", nul)),
            )),
            ok(envelope("GetItem", &message("I1", "&lt;1@x&gt;"))),
            ok(envelope("GetItem", &message("I2", nul))),
        ]);
        let mut s = store(&host);
        let page = s.page(Cursor::First, 50).unwrap();
        assert_eq!(page.items.len(), 2);
        let good = page.items[0].as_ref().unwrap();
        assert_eq!(good.internet_message_id.as_deref(), Some("<1@x>"));
        let bad = page.items[1].as_ref().unwrap_err();
        assert_eq!(bad.id.as_deref(), Some("I2"));
        assert!(
            matches!(&bad.error, MessageError::Corrupt(m) if m.contains("not well-formed")),
            "{bad:?}"
        );
        let sent = host.sent.borrow();
        let retried = String::from_utf8_lossy(sent[3].body.as_deref().unwrap()).into_owned();
        assert!(!retried.contains("AdditionalProperties"), "{retried}");
        assert_eq!(sent.len(), 7);
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
        let moved = moved.into_iter().next().unwrap().unwrap().unwrap();
        assert_eq!(moved.id, "S1");
        assert_eq!(
            moved.web_link,
            "https://mail.contoso.com/owa/?ItemID=S1&exvsurl=1&viewmodel=ReadMessageItem"
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
}
