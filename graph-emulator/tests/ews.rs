//! The EWS endpoint over real HTTP: sign-in, folders, items, paging, sorting, moves, per-item
//! errors, faults and throttling, checked on the XML Exchange would send.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use graph_emulator::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, EmulatorConfig, FaultKind, Seed, Throttling,
};
use quick_xml::events::Event;
use serde_json::{Value, json};

const AGENT: &str = "agent@cronus.example";
const PASSWORD: &str = "P@ss w0rd:with colon";
const OTHER: &str = "other@cronus.example";
const QUEUE: &str = "Email Logging/Queue";
const STORAGE: &str = "Email Logging/Storage";
const QUEUE_COUNT: usize = 7;

fn message(i: usize, sensitivity: Option<&str>) -> Value {
    let mut m = json!({
        "internetMessageId": format!("<q{i}@test.example>"),
        "subject": format!("Queued {i:02} <&>"),
        "receivedDateTime": format!("2026-11-02T10:{:02}:00Z", (i * 7) % 60),
        "sentDateTime": format!("2026-11-02T09:{:02}:00Z", (i * 7) % 60),
        "isDraft": false,
        "sender": {"emailAddress": {"name": "Andy Teal", "address": "andy@teal.example"}},
        "from": {"emailAddress": {"name": "Andy Teal", "address": "andy@teal.example"}},
        "toRecipients": [{"emailAddress": {"name": "Jim Olive", "address": "jim@cronus.example"}}],
        "ccRecipients": [],
        "bccRecipients": [{"emailAddress": {"address": "email-logging@cronus.example"}}],
    });
    if let Some(v) = sensitivity {
        m["singleValueExtendedProperties"] = json!([{"id": "Integer 0x36", "value": v}]);
    }
    m
}

fn seed() -> Seed {
    let queue: Vec<Value> = (0..QUEUE_COUNT)
        .map(|i| match i {
            1 => message(i, Some("2")),
            2 => message(i, Some("3")),
            _ => message(i, None),
        })
        .collect();
    let text = json!({
        "mailboxes": {
            AGENT: {"folders": {"inbox": [message(100, None), message(101, None)]}},
        },
        "public_folders": {QUEUE: queue, STORAGE: []},
        "accounts": {AGENT: {"password": PASSWORD}, OTHER: {"password": "other"}},
    });
    Seed::from_json(&text.to_string()).unwrap()
}

struct Env {
    emu: Emulator,
    base: String,
    http: reqwest::Client,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.emu.shutdown();
    }
}

async fn start(config: EmulatorConfig) -> Env {
    let emu = Emulator::new(seed(), config);
    emu.start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = emu.base_url().unwrap();
    Env {
        emu,
        base,
        http: reqwest::Client::new(),
    }
}

enum Auth<'a> {
    Basic(&'a str, &'a str),
    Bearer(&'a str),
    None,
}

fn envelope(header: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<s:Header><t:RequestServerVersion Version="Exchange2016"/>{header}</s:Header>
<s:Body>{body}</s:Body></s:Envelope>"#
    )
}

impl Env {
    async fn raw(&self, path: &str, auth: Auth<'_>, body: String) -> (u16, String) {
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body);
        r = match auth {
            Auth::Basic(u, p) => r.header(
                "Authorization",
                format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))),
            ),
            Auth::Bearer(t) => r.bearer_auth(t),
            Auth::None => r,
        };
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    async fn agent(&self, body: &str) -> (u16, String) {
        self.raw(
            "/EWS/Exchange.asmx",
            Auth::Basic(AGENT, PASSWORD),
            envelope("", body),
        )
        .await
    }

    async fn ok(&self, body: &str) -> Xml {
        let (status, text) = self.agent(body).await;
        assert_eq!(status, 200, "{text}");
        Xml(text)
    }

    async fn app_token(&self, scope: &str) -> String {
        let r = self
            .http
            .post(format!("{}/common/oauth2/v2.0/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["scope"], scope);
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Folder id of a public folder path, walked with FindFolder from publicfoldersroot.
    async fn public_folder_id(&self, path: &str) -> String {
        let mut parent = r#"<t:DistinguishedFolderId Id="publicfoldersroot"/>"#.to_string();
        for level in path.split('/') {
            let x = self.ok(&find_folder(&parent)).await;
            let names = x.texts("DisplayName");
            let ids = x.attrs("FolderId");
            let i = names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(level))
                .unwrap_or_else(|| panic!("no {level} in {names:?}"));
            parent = folder_id_xml(&ids[i]["Id"]);
        }
        parent
    }
}

/// A folder id in the emulator's format that names no folder.
fn unknown_folder_id() -> String {
    let mut bytes = 999_999u64.to_be_bytes().to_vec();
    bytes.push(0x46);
    format!("AQMkAD{}", STANDARD.encode(bytes))
}

/// An item id in the emulator's format that names no item.
fn unknown_item_id() -> String {
    let mut bytes = 999_999u64.to_be_bytes().to_vec();
    bytes.extend_from_slice(&0u32.to_be_bytes());
    bytes.push(0x52);
    format!("AAMkAG{}", STANDARD.encode(bytes))
}

fn folder_id_xml(id: &str) -> String {
    format!(r#"<t:FolderId Id="{id}"/>"#)
}

fn find_folder(parent: &str) -> String {
    format!(
        r#"<m:FindFolder Traversal="Shallow"><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:IndexedPageFolderView MaxEntriesReturned="100" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds>{parent}</m:ParentFolderIds></m:FindFolder>"#
    )
}

fn find_item(parent: &str, max: usize, offset: usize, order: &str) -> String {
    format!(
        r#"<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="{max}" Offset="{offset}" BasePoint="Beginning"/><m:SortOrder><t:FieldOrder Order="{order}"><t:FieldURI FieldURI="item:DateTimeReceived"/></t:FieldOrder></m:SortOrder><m:ParentFolderIds>{parent}</m:ParentFolderIds></m:FindItem>"#
    )
}

fn item_ids(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!(r#"<t:ItemId Id="{id}"/>"#))
        .collect()
}

fn get_item(ids: &[&str]) -> String {
    format!(
        r#"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="message:Sender"/><t:FieldURI FieldURI="message:From"/><t:FieldURI FieldURI="message:ToRecipients"/><t:FieldURI FieldURI="message:CcRecipients"/><t:FieldURI FieldURI="message:BccRecipients"/><t:FieldURI FieldURI="message:InternetMessageId"/><t:FieldURI FieldURI="item:DateTimeSent"/><t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURI FieldURI="message:IsRead"/><t:FieldURI FieldURI="item:Sensitivity"/><t:FieldURI FieldURI="item:WebClientReadFormQueryString"/><t:FieldURI FieldURI="item:IsDraft"/></t:AdditionalProperties></m:ItemShape><m:ItemIds>{}</m:ItemIds></m:GetItem>"#,
        item_ids(ids)
    )
}

fn move_item(op: &str, to: &str, ids: &[&str]) -> String {
    format!(
        r#"<m:{op} ReturnNewItemIds="true"><m:ToFolderId>{to}</m:ToFolderId><m:ItemIds>{}</m:ItemIds></m:{op}>"#,
        item_ids(ids)
    )
}

/// An answer, with helpers that find elements by local name.
struct Xml(String);

impl Xml {
    fn walk(&self, mut f: impl FnMut(&str, HashMap<String, String>, Option<String>)) {
        let mut reader = quick_xml::Reader::from_str(&self.0);
        let mut open: Vec<(String, HashMap<String, String>, String)> = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    open.push((name, attrs_of(&e), String::new()));
                }
                Event::Empty(e) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    f(&name, attrs_of(&e), None);
                }
                Event::Text(t) => {
                    if let Some(o) = open.last_mut() {
                        o.2.push_str(&t.decode().unwrap());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(o) = open.last_mut() {
                        let name = r.decode().unwrap();
                        let c = quick_xml::escape::resolve_predefined_entity(&name)
                            .map(str::to_string)
                            .or_else(|| r.resolve_char_ref().unwrap().map(String::from))
                            .unwrap();
                        o.2.push_str(&c);
                    }
                }
                Event::End(_) => {
                    let (name, attrs, text) = open.pop().unwrap();
                    f(&name, attrs, Some(text));
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }

    fn attrs(&self, local: &str) -> Vec<HashMap<String, String>> {
        let mut out = Vec::new();
        self.walk(|n, a, _| {
            if n == local {
                out.push(a);
            }
        });
        out
    }

    fn texts(&self, local: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(|n, _, t| {
            if n == local {
                out.push(t.unwrap_or_default());
            }
        });
        out
    }

    fn item_ids(&self) -> Vec<String> {
        self.attrs("ItemId")
            .into_iter()
            .map(|a| a["Id"].clone())
            .collect()
    }

    fn classes(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(|n, a, _| {
            if n.ends_with("ResponseMessage") {
                out.push(a["ResponseClass"].clone());
            }
        });
        out
    }
}

fn attrs_of(e: &quick_xml::events::BytesStart<'_>) -> HashMap<String, String> {
    e.attributes()
        .map(|a| {
            let a = a.unwrap();
            (
                String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
                a.unescape_value().unwrap().into_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn basic_authentication_against_the_seed_accounts() {
    let env = start(EmulatorConfig::default()).await;
    let body = r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>"#;
    let (status, text) = env.agent(body).await;
    assert_eq!(status, 200, "{text}");
    let version = &Xml(text.clone()).attrs("ServerVersionInfo")[0];
    assert_eq!(version["MajorVersion"], "15");
    assert_eq!(version["Version"], "Exchange2016");
    assert!(text.contains("text") || !text.is_empty());
    // The path is case-insensitive, as IIS makes it.
    let (status, _) = env
        .raw(
            "/ews/exchange.asmx",
            Auth::Basic("AGENT@cronus.example", PASSWORD),
            envelope("", body),
        )
        .await;
    assert_eq!(status, 200);
    for auth in [
        Auth::Basic(AGENT, "wrong"),
        Auth::Basic("nobody@cronus.example", PASSWORD),
        Auth::None,
        Auth::Bearer("not-a-token"),
    ] {
        let resp = env
            .http
            .post(format!("{}/EWS/Exchange.asmx", env.base))
            .body(envelope("", body));
        let resp = match auth {
            Auth::Basic(u, p) => resp.basic_auth(u, Some(p)),
            Auth::Bearer(t) => resp.bearer_auth(t),
            Auth::None => resp,
        };
        let resp = resp.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let challenges: Vec<_> = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(
            challenges.iter().any(|c| c.starts_with("Basic realm=")),
            "{challenges:?}"
        );
    }
    // An account of the seed without a mailbox of its own gets an empty one.
    let (status, text) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Basic(OTHER, "other"),
            envelope("", &body.replace("IdOnly", "Default")),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(Xml(text).texts("TotalCount"), ["0"]);
}

#[tokio::test]
async fn public_folders_are_walked_created_and_counted() {
    let env = start(EmulatorConfig::default()).await;
    let root = env
        .ok(r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="folder:DisplayName"/><t:FieldURI FieldURI="folder:ChildFolderCount"/></t:AdditionalProperties></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="publicfoldersroot"/></m:FolderIds></m:GetFolder>"#)
        .await;
    assert_eq!(root.texts("DisplayName"), ["IPM_SUBTREE"]);
    assert_eq!(root.texts("ChildFolderCount"), ["1"]);
    assert!(
        root.texts("TotalCount").is_empty(),
        "IdOnly plus two properties"
    );

    let top = env
        .ok(&find_folder(
            r#"<t:DistinguishedFolderId Id="publicfoldersroot"/>"#,
        ))
        .await;
    assert_eq!(top.texts("DisplayName"), ["Email Logging"]);
    let paging = &top.attrs("RootFolder")[0];
    assert_eq!(paging["TotalItemsInView"], "1");
    assert_eq!(paging["IncludesLastItemInRange"], "true");

    let queue = env.public_folder_id(QUEUE).await;
    let got = env
        .ok(&format!(r#"<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds>{queue}</m:FolderIds></m:GetFolder>"#))
        .await;
    assert_eq!(got.texts("TotalCount"), [QUEUE_COUNT.to_string()]);
    assert_eq!(got.texts("FolderClass"), ["IPF.Note"]);
    assert_eq!(got.attrs("ParentFolderId").len(), 1);

    // CreateFolder under "Email Logging": a new name works, an existing one in any case fails.
    let parent_xml = {
        let x = env
            .ok(&find_folder(
                r#"<t:DistinguishedFolderId Id="publicfoldersroot"/>"#,
            ))
            .await;
        folder_id_xml(&x.attrs("FolderId")[0]["Id"])
    };
    let created = env
        .ok(&format!(r#"<m:CreateFolder><m:ParentFolderId>{parent_xml}</m:ParentFolderId><m:Folders><t:Folder><t:DisplayName>Quarantine</t:DisplayName></t:Folder><t:Folder><t:DisplayName>qUEUE</t:DisplayName></t:Folder></m:Folders></m:CreateFolder>"#))
        .await;
    assert_eq!(created.classes(), ["Success", "Error"]);
    assert_eq!(
        created.texts("ResponseCode"),
        ["NoError", "ErrorFolderExists"]
    );
    assert_eq!(
        env.emu.public_folder_count("email logging/quarantine"),
        Some(0)
    );
    assert_eq!(env.emu.public_folder_count("Email Logging/Nope"), None);
}

#[tokio::test]
async fn mailbox_folders_and_folder_errors() {
    let env = start(EmulatorConfig::default()).await;
    let x = env
        .ok(&format!(
            r#"<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>{AGENT}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId><t:DistinguishedFolderId Id="msgfolderroot"/><t:DistinguishedFolderId Id="root"/><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>ghost@cronus.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId><t:FolderId Id="not base64 !"/><t:FolderId Id="{}"/><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>"#,
            unknown_folder_id()
        ))
        .await;
    assert_eq!(
        x.texts("ResponseCode"),
        [
            "NoError",
            "NoError",
            "NoError",
            "ErrorNonExistentMailbox",
            "ErrorInvalidIdMalformed",
            "ErrorFolderNotFound",
            "ErrorFolderNotFound"
        ]
    );
    assert_eq!(
        x.texts("DisplayName"),
        ["Inbox", "Top of Information Store", "Root"]
    );
    assert_eq!(x.texts("TotalCount")[0], "2");
    assert_eq!(x.texts("DescriptiveLinkKey"), ["0", "0", "0", "0"]);
    assert!(x.texts("MessageText").iter().all(|t| !t.is_empty()));

    // Deep traversal below root reaches the well-known folders.
    let deep = env
        .ok(&find_folder(r#"<t:DistinguishedFolderId Id="root"/>"#).replace("Shallow", "Deep"))
        .await;
    let names = deep.texts("DisplayName");
    assert!(names.contains(&"Inbox".to_string()), "{names:?}");
    assert!(names.contains(&"Top of Information Store".to_string()));

    // Another user's mailbox, closed to the agent.
    env.emu.add_mailbox("boss@cronus.example");
    env.emu.set_mailbox_access("boss@cronus.example", &[]);
    let denied = env
        .ok(r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>boss@cronus.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>"#)
        .await;
    assert_eq!(denied.texts("ResponseCode"), ["ErrorAccessDenied"]);
}

#[tokio::test]
async fn find_item_pages_and_sorts_by_received_date() {
    let env = start(EmulatorConfig::default()).await;
    let queue = env.public_folder_id(QUEUE).await;
    let all = env.ok(&find_item(&queue, 50, 0, "Ascending")).await;
    let ids = all.item_ids();
    assert_eq!(ids.len(), QUEUE_COUNT);
    let paging = &all.attrs("RootFolder")[0];
    assert_eq!(paging["IndexedPagingOffset"], QUEUE_COUNT.to_string());
    assert_eq!(paging["TotalItemsInView"], QUEUE_COUNT.to_string());
    assert_eq!(paging["IncludesLastItemInRange"], "true");
    // Received minutes are (i * 7) % 60: 0, 7, 14, ... 42, so ascending is seed order.
    let subjects = env
        .ok(&get_item(
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
        .await
        .texts("Subject");
    let expected: Vec<String> = (0..QUEUE_COUNT)
        .map(|i| format!("Queued {i:02} <&>"))
        .collect();
    assert_eq!(subjects, expected);

    let first = env.ok(&find_item(&queue, 3, 0, "Ascending")).await;
    assert_eq!(first.item_ids(), ids[..3]);
    let paging = &first.attrs("RootFolder")[0];
    assert_eq!(paging["IndexedPagingOffset"], "3");
    assert_eq!(paging["IncludesLastItemInRange"], "false");
    let last = env.ok(&find_item(&queue, 3, 6, "Ascending")).await;
    assert_eq!(last.item_ids(), ids[6..]);
    assert_eq!(
        last.attrs("RootFolder")[0]["IncludesLastItemInRange"],
        "true"
    );
    let beyond = env.ok(&find_item(&queue, 3, 50, "Ascending")).await;
    assert!(beyond.item_ids().is_empty());

    let desc = env.ok(&find_item(&queue, 50, 0, "Descending")).await;
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_eq!(desc.item_ids(), reversed);

    // Ids are stable: the same item has the same id on every look.
    let again = env.ok(&find_item(&queue, 50, 0, "Ascending")).await;
    assert_eq!(again.item_ids(), ids);
    assert!(
        all.attrs("ItemId")
            .iter()
            .all(|a| !a["ChangeKey"].is_empty()),
        "ChangeKeys"
    );
}

#[tokio::test]
async fn get_item_answers_in_request_order_with_per_item_errors() {
    let env = start(EmulatorConfig::default()).await;
    let queue = env.public_folder_id(QUEUE).await;
    let ids = env
        .ok(&find_item(&queue, 50, 0, "Ascending"))
        .await
        .item_ids();
    // A stale id: the message moved since, so the id names nothing.
    let inbox = r#"<t:DistinguishedFolderId Id="inbox"/>"#;
    let inbox_ids = env
        .ok(&find_item(inbox, 50, 0, "Ascending"))
        .await
        .item_ids();
    let moved = env
        .ok(&move_item(
            "MoveItem",
            r#"<t:DistinguishedFolderId Id="junkemail"/>"#,
            &[&inbox_ids[0]],
        ))
        .await;
    assert_eq!(moved.item_ids().len(), 1);
    assert_ne!(moved.item_ids()[0], inbox_ids[0]);

    let x = env
        .ok(&get_item(&[
            &ids[1],
            "%%%",
            &inbox_ids[0],
            &ids[2],
            &unknown_item_id(),
            &ids[0],
        ]))
        .await;
    assert_eq!(
        x.classes(),
        ["Success", "Error", "Error", "Success", "Error", "Success"]
    );
    assert_eq!(
        x.texts("ResponseCode"),
        [
            "NoError",
            "ErrorInvalidIdMalformed",
            "ErrorItemNotFound",
            "NoError",
            "ErrorItemNotFound",
            "NoError"
        ]
    );
    assert_eq!(
        x.texts("Sensitivity"),
        ["Private", "Confidential", "Normal"]
    );
    assert_eq!(
        x.texts("InternetMessageId"),
        [
            "<q1@test.example>",
            "<q2@test.example>",
            "<q0@test.example>"
        ]
    );
    assert_eq!(x.texts("Subject")[0], "Queued 01 <&>");
    // Schema order: Sender, To, Cc, Bcc, From.
    assert_eq!(
        x.texts("EmailAddress")[..4],
        [
            "andy@teal.example",
            "jim@cronus.example",
            "email-logging@cronus.example",
            "andy@teal.example"
        ]
    );
    assert_eq!(x.texts("DateTimeReceived")[0], "2026-11-02T10:07:00Z");
    assert_eq!(x.texts("IsRead")[0], "false");
    assert_eq!(x.texts("IsDraft")[0], "false");
    // Empty Cc lists are left out; Bcc is there.
    assert!(x.texts("CcRecipients").is_empty());
    assert_eq!(x.texts("BccRecipients").len(), 3);
    // The OWA link opens the message.
    let link = &x.texts("WebClientReadFormQueryString")[0];
    assert!(link.contains("/owa/?ItemID="), "{link}");
    let opened = env.emu.resolve_web_link(link).expect("the link resolves");
    assert_eq!(opened["internetMessageId"], "<q1@test.example>");
    let path = &link[link.find("/owa/").unwrap()..];
    let page = env
        .http
        .get(format!("{}{path}", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Queued 01"));
}

#[tokio::test]
async fn moves_copies_and_deletes() {
    let env = start(EmulatorConfig::default()).await;
    let queue = env.public_folder_id(QUEUE).await;
    let storage = env.public_folder_id(STORAGE).await;
    let ids = env
        .ok(&find_item(&queue, 50, 0, "Ascending"))
        .await
        .item_ids();

    // Into a public folder: success, but no new id.
    let moved = env
        .ok(&move_item("MoveItem", &storage, &[&ids[0], &ids[1]]))
        .await;
    assert_eq!(moved.classes(), ["Success", "Success"]);
    assert!(moved.item_ids().is_empty());
    assert_eq!(moved.texts("Items").len(), 2);
    assert_eq!(env.emu.public_folder_count(QUEUE), Some(QUEUE_COUNT - 2));
    assert_eq!(env.emu.public_folder_count(STORAGE), Some(2));
    // The old id is gone with the move.
    let stale = env.ok(&get_item(&[&ids[0]])).await;
    assert_eq!(stale.texts("ResponseCode"), ["ErrorItemNotFound"]);

    // From a public folder into the mailbox: a new id, and Graph sees the message there.
    let to_inbox = env
        .ok(&move_item(
            "MoveItem",
            r#"<t:DistinguishedFolderId Id="inbox"/>"#,
            &[&ids[2], "bogus"],
        ))
        .await;
    assert_eq!(to_inbox.classes(), ["Success", "Error"]);
    assert_eq!(to_inbox.item_ids().len(), 1);
    assert_eq!(env.emu.folder_counts(AGENT)["inbox"], 3);
    let graph_ids: Vec<Value> = env.emu.messages(AGENT, "inbox");
    assert!(
        graph_ids
            .iter()
            .any(|m| m["internetMessageId"] == "<q2@test.example>")
    );

    // Copy keeps the original.
    let copied = env
        .ok(&move_item(
            "CopyItem",
            r#"<t:DistinguishedFolderId Id="drafts"/>"#,
            &[&ids[3]],
        ))
        .await;
    assert_eq!(copied.item_ids().len(), 1);
    assert_eq!(env.emu.public_folder_count(QUEUE), Some(QUEUE_COUNT - 3));
    assert_eq!(env.emu.folder_counts(AGENT)["drafts"], 1);

    // A full destination folder: ErrorQuotaExceeded for that item only.
    env.emu.set_folder_item_limit(3);
    let full = env
        .ok(&move_item(
            "MoveItem",
            r#"<t:DistinguishedFolderId Id="inbox"/>"#,
            &[&ids[4]],
        ))
        .await;
    assert_eq!(full.texts("ResponseCode"), ["ErrorQuotaExceeded"]);
    env.emu.set_folder_item_limit(1000);

    // Unknown destination: every item fails with ErrorFolderNotFound.
    let nowhere = env
        .ok(&move_item(
            "MoveItem",
            &folder_id_xml(&unknown_folder_id()),
            &[&ids[4], &ids[5]],
        ))
        .await;
    assert_eq!(
        nowhere.texts("ResponseCode"),
        ["ErrorFolderNotFound", "ErrorFolderNotFound"]
    );

    // Deletes: hard from the public folder, to Deleted Items in the mailbox.
    let inbox_ids = env
        .ok(&find_item(
            r#"<t:DistinguishedFolderId Id="inbox"/>"#,
            50,
            0,
            "Ascending",
        ))
        .await
        .item_ids();
    let hard = env
        .ok(&format!(
            r#"<m:DeleteItem DeleteType="HardDelete"><m:ItemIds>{}</m:ItemIds></m:DeleteItem>"#,
            item_ids(&[&ids[4], &ids[4]])
        ))
        .await;
    assert_eq!(hard.texts("ResponseCode"), ["NoError", "ErrorItemNotFound"]);
    let soft = env
        .ok(&format!(r#"<m:DeleteItem DeleteType="MoveToDeletedItems"><m:ItemIds>{}</m:ItemIds></m:DeleteItem>"#, item_ids(&[&inbox_ids[0]])))
        .await;
    assert_eq!(soft.classes(), ["Success"]);
    assert_eq!(env.emu.folder_counts(AGENT)["deleteditems"], 1);
    assert_eq!(env.emu.public_folder_count(QUEUE), Some(QUEUE_COUNT - 4));
    let calls = env.emu.requests();
    assert!(
        calls
            .iter()
            .any(|r| r.path_and_query == "EWS DeleteItem" && r.status == 200)
    );
}

#[tokio::test]
async fn bearer_tokens_with_impersonation() {
    let env = start(EmulatorConfig::default()).await;
    let token = env
        .app_token("https://outlook.office365.com/.default")
        .await;
    let body = find_item(
        r#"<t:DistinguishedFolderId Id="inbox"/>"#,
        50,
        0,
        "Ascending",
    );
    let impersonate = format!(
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{AGENT}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
    );
    let (status, text) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Bearer(&token),
            envelope(&impersonate, &body),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(Xml(text).item_ids().len(), 2);
    // App-only without impersonation is refused, as Exchange Online does.
    let (status, text) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Bearer(&token),
            envelope("", &body),
        )
        .await;
    assert_eq!(status, 500);
    assert!(
        text.contains("ErrorInvalidExchangeImpersonationHeaderData"),
        "{text}"
    );
    // Impersonating a mailbox that does not exist.
    let (status, text) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Bearer(&token),
            envelope(&impersonate.replace(AGENT, "ghost@cronus.example"), &body),
        )
        .await;
    assert_eq!(status, 500);
    assert!(text.contains("ErrorNonExistentMailbox"), "{text}");
    // Tokens are for one resource: a Graph token does not open EWS, nor an Outlook one Graph.
    let graph = env.app_token("https://graph.microsoft.com/.default").await;
    let (status, _) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Bearer(&graph),
            envelope(&impersonate, &body),
        )
        .await;
    assert_eq!(status, 401);
    let r = env
        .http
        .get(format!("{}/v1.0/users/{AGENT}/messages", env.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn throttling_answers_server_busy_with_a_back_off() {
    let env = start(EmulatorConfig {
        throttling: Some(Throttling {
            max_requests: 2,
            window: Duration::from_secs(30),
            ..Throttling::default()
        }),
        ..EmulatorConfig::default()
    })
    .await;
    let body = find_item(
        r#"<t:DistinguishedFolderId Id="inbox"/>"#,
        50,
        0,
        "Ascending",
    );
    assert_eq!(env.agent(&body).await.0, 200);
    assert_eq!(env.agent(&body).await.0, 200);
    let (status, text) = env.agent(&body).await;
    assert_eq!(status, 500);
    let x = Xml(text);
    assert_eq!(x.texts("ResponseCode"), ["ErrorServerBusy"]);
    assert_eq!(x.texts("faultcode"), ["a:ErrorServerBusy"]);
    let values = x.attrs("Value");
    assert_eq!(values[0]["Name"], "BackOffMilliseconds");
    let ms: u64 = x.texts("Value")[0].parse().unwrap();
    assert!(ms > 20_000 && ms <= 30_000, "{ms}");
    assert_eq!(x.attrs("ServerVersionInfo").len(), 1);
}

#[tokio::test]
async fn injected_faults_and_recorded_requests() {
    let env = start(EmulatorConfig::default()).await;
    let body = find_item(
        r#"<t:DistinguishedFolderId Id="inbox"/>"#,
        50,
        0,
        "Ascending",
    );
    env.emu.push_fault_script(&[
        Some(FaultKind::InternalError),
        Some(FaultKind::Unavailable),
        Some(FaultKind::TooManyRequests),
        None,
    ]);
    let (status, text) = env.agent(&body).await;
    assert_eq!(status, 500);
    assert!(text.contains("ErrorInternalServerError"), "{text}");
    assert_eq!(env.agent(&body).await.0, 503);
    let (status, text) = env.agent(&body).await;
    assert_eq!(status, 500);
    assert!(text.contains("BackOffMilliseconds"), "{text}");
    assert_eq!(env.agent(&body).await.0, 200);
    env.emu.push_fault_script(&[Some(FaultKind::Reset)]);
    assert!(
        env.http
            .post(format!("{}/EWS/Exchange.asmx", env.base))
            .basic_auth(AGENT, Some(PASSWORD))
            .body(envelope("", &body))
            .send()
            .await
            .is_err()
    );
    assert_eq!(env.emu.fault_count(), 4);
    let finds = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.path_and_query == "EWS FindItem")
        .count();
    assert_eq!(finds, 5);
}

#[tokio::test]
async fn bad_requests_are_soap_faults() {
    let env = start(EmulatorConfig::default()).await;
    let basic = || Auth::Basic(AGENT, PASSWORD);
    for (body, code) in [
        (
            "<s:Envelope><unclosed>".to_string(),
            "ErrorSchemaValidation",
        ),
        ("not xml at all".to_string(), "ErrorSchemaValidation"),
        (String::new(), "ErrorSchemaValidation"),
        ("<a>&bogus;</a>".to_string(), "ErrorSchemaValidation"),
        ("<root/>".to_string(), "ErrorInvalidRequest"),
        (envelope("", "<m:ResolveNames/>"), "ErrorInvalidRequest"),
        (envelope("", "<m:GetItem/>"), "ErrorSchemaValidation"),
        (
            envelope(
                "",
                r#"<m:FindItem Traversal="Shallow"><m:ParentFolderIds/></m:FindItem>"#,
            )
            .replace(r#"Version="Exchange2016""#, r#"Version="Exchange2003""#),
            "ErrorInvalidServerVersion",
        ),
        (
            envelope(
                "",
                r#"<m:FindItem Traversal="Shallow"><m:IndexedPageItemView MaxEntriesReturned="x"/><m:ParentFolderIds/></m:FindItem>"#,
            ),
            "ErrorSchemaValidation",
        ),
    ] {
        let (status, text) = env.raw("/EWS/Exchange.asmx", basic(), body.clone()).await;
        assert_eq!(status, 500, "{body}: {text}");
        let x = Xml(text.clone());
        assert_eq!(x.texts("ResponseCode"), [code], "{body}: {text}");
        assert_eq!(x.texts("faultcode"), [format!("a:{code}")]);
        assert_eq!(x.attrs("ServerVersionInfo").len(), 1);
    }
    let (_, text) = env
        .raw("/EWS/Exchange.asmx", basic(), "<s:Envelope\n  <oops".into())
        .await;
    assert_eq!(Xml(text).texts("LineNumber"), ["2"]);
    // Every other version Exchange accepts works.
    for v in [
        "Exchange2010",
        "Exchange2010_SP2",
        "Exchange2013",
        "Exchange2013_SP1",
        "Exchange2016",
    ] {
        let body = envelope(
            "",
            &find_item(
                r#"<t:DistinguishedFolderId Id="inbox"/>"#,
                5,
                0,
                "Ascending",
            ),
        )
        .replace(r#"Version="Exchange2016""#, &format!(r#"Version="{v}""#));
        assert_eq!(
            env.raw("/EWS/Exchange.asmx", basic(), body).await.0,
            200,
            "{v}"
        );
    }
}

#[tokio::test]
async fn the_test_api_for_public_folders() {
    let env = start(EmulatorConfig::default()).await;
    let id = env
        .emu
        .add_public_message("Email Logging/Queue/Sub", json!({"subject": "Added"}))
        .unwrap();
    assert_eq!(
        env.emu.public_folder_count("Email Logging/Queue/Sub"),
        Some(1)
    );
    let messages = env.emu.public_folder_messages("Email Logging/Queue/Sub");
    assert_eq!(messages[0]["id"], id);
    assert!(env.emu.add_public_message("a//b", json!({})).is_err());
    assert!(env.emu.add_public_message("a", json!([])).is_err());
    assert_eq!(env.emu.public_folder_messages(QUEUE).len(), QUEUE_COUNT);
}

#[tokio::test]
async fn delegated_outlook_tokens_act_on_the_users_own_mailbox() {
    let env = common::start(seed(), EmulatorConfig::default()).await;
    env.emu.add_mailbox(graph_emulator::DEMO_USER);
    let (code, _) = env
        .authorize(&[(
            "scope",
            "openid offline_access https://outlook.office365.com/EWS.AccessAsUser.All",
        )])
        .await;
    let r = env.redeem(&code, &common::pkce().0).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let post = |header: String| {
        env.http
            .post(env.url("/EWS/Exchange.asmx"))
            .bearer_auth(token)
            .body(envelope(
                &header,
                r#"<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>"#,
            ))
            .send()
    };
    let r = post(String::new()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(Xml(r.text().await.unwrap()).texts("TotalCount"), ["0"]);
    // A user may not impersonate someone else.
    let r = post(format!(
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{AGENT}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.text().await.unwrap().contains("ErrorImpersonationDenied"));
    // The user's Graph token is for Graph only.
    let graph = env.user_tokens().await;
    let r = env
        .http
        .post(env.url("/EWS/Exchange.asmx"))
        .bearer_auth(graph["access_token"].as_str().unwrap())
        .body(envelope("", "<m:GetFolder/>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn find_item_gives_names_only_and_refuses_what_only_get_item_has() {
    let env = start(EmulatorConfig::default()).await;
    let queue = env.public_folder_id(QUEUE).await;
    let with = |props: &str| {
        find_item(&queue, 2, 0, "Ascending").replace(
            "<t:BaseShape>IdOnly</t:BaseShape>",
            &format!("<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>{props}</t:AdditionalProperties>"),
        )
    };
    let x = env
        .ok(&with(
            r#"<t:FieldURI FieldURI="message:Sender"/><t:FieldURI FieldURI="item:Subject"/>"#,
        ))
        .await;
    assert_eq!(x.texts("Name"), ["Andy Teal", "Andy Teal"]);
    assert!(
        x.texts("EmailAddress").is_empty(),
        "FindItem leaves addresses out"
    );
    let x = env
        .ok(&with(r#"<t:FieldURI FieldURI="message:ToRecipients"/>"#))
        .await;
    assert_eq!(x.texts("ResponseCode"), ["ErrorInvalidPropertyRequest"]);
    assert_eq!(x.attrs("FieldURI")[0]["FieldURI"], "message:ToRecipients");
    // Restrictions are refused rather than ignored.
    let filtered = find_item(&queue, 2, 0, "Ascending").replace(
        "<m:SortOrder>",
        r#"<m:Restriction><t:Exists><t:FieldURI FieldURI="item:Subject"/></t:Exists></m:Restriction><m:SortOrder>"#,
    );
    let x = env.ok(&filtered).await;
    assert_eq!(x.texts("ResponseCode"), ["ErrorUnsupportedQueryFilter"]);
    // Sensitivity asked for as MAPI property 0x36 comes back as an extended property.
    let x = env
        .ok(&with(
            r#"<t:ExtendedFieldURI PropertyTag="0x36" PropertyType="Integer"/>"#,
        ))
        .await;
    assert_eq!(x.texts("Value"), ["0", "2"]);
    // The Default shape of FindItem has no recipient lists, so it is fine.
    let x = env
        .ok(&find_item(&queue, 2, 0, "Ascending").replace("IdOnly", "Default"))
        .await;
    assert_eq!(x.texts("ResponseCode"), ["NoError"]);
    assert_eq!(x.texts("ItemClass"), ["IPM.Note", "IPM.Note"]);
    assert!(x.texts("ToRecipients").is_empty());
}

#[tokio::test]
async fn latency_timeouts_and_resets_after_commit() {
    let env = start(EmulatorConfig {
        latency: graph_emulator::Latency::parse("list=300ms").unwrap(),
        faults: graph_emulator::Faults {
            timeout_hold: Duration::from_millis(200),
            ..graph_emulator::Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let inbox = r#"<t:DistinguishedFolderId Id="inbox"/>"#;
    let started = std::time::Instant::now();
    let ids = env
        .ok(&find_item(inbox, 50, 0, "Ascending"))
        .await
        .item_ids();
    assert!(started.elapsed() >= Duration::from_millis(300));
    // GetItem is not a listing: no latency.
    let started = std::time::Instant::now();
    env.ok(&get_item(&[&ids[0]])).await;
    assert!(started.elapsed() < Duration::from_millis(300));

    // A timeout holds the request, then drops the connection without an answer.
    env.emu.push_fault_script(&[Some(FaultKind::Timeout)]);
    let started = std::time::Instant::now();
    let held = env
        .http
        .post(format!("{}/EWS/Exchange.asmx", env.base))
        .basic_auth(AGENT, Some(PASSWORD))
        .body(envelope("", &get_item(&[&ids[0]])))
        .send()
        .await;
    assert!(held.is_err());
    assert!(started.elapsed() >= Duration::from_millis(200));

    // The move happens, then the connection drops: the client never sees the new id.
    env.emu
        .push_fault_script(&[Some(FaultKind::ResetAfterCommit)]);
    let sent = env
        .http
        .post(format!("{}/EWS/Exchange.asmx", env.base))
        .basic_auth(AGENT, Some(PASSWORD))
        .body(envelope(
            "",
            &move_item(
                "MoveItem",
                r#"<t:DistinguishedFolderId Id="archive"/>"#,
                &[&ids[0]],
            ),
        ))
        .send()
        .await;
    assert!(sent.is_err());
    assert_eq!(env.emu.folder_counts(AGENT)["archive"], 1);
}
