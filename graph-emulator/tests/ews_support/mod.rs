//! Shared by the EWS tests: a seed with public folders and accounts, an emulator on an
//! ephemeral port, SOAP requests, and answers read by element name.
#![allow(dead_code)]

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use graph_emulator::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, EmulatorConfig, Seed};
use quick_xml::events::Event;
use serde_json::{Value, json};

pub const AGENT: &str = "agent@cronus.example";
pub const PASSWORD: &str = "P@ss w0rd:with colon";
pub const OTHER: &str = "other@cronus.example";
pub const QUEUE: &str = "Email Logging/Queue";
pub const STORAGE: &str = "Email Logging/Storage";
pub const QUEUE_COUNT: usize = 7;

pub fn message(i: usize, sensitivity: Option<&str>) -> Value {
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

pub fn seed() -> Seed {
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

pub struct Env {
    pub emu: Emulator,
    pub base: String,
    pub http: reqwest::Client,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.emu.shutdown();
    }
}

pub async fn start(config: EmulatorConfig) -> Env {
    let emu = Emulator::new(seed(), config);
    emu.start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = emu.base_url().unwrap();
    Env {
        emu,
        base,
        http: reqwest::Client::new(),
    }
}

pub enum Auth<'a> {
    Basic(&'a str, &'a str),
    Bearer(&'a str),
    None,
}

pub fn envelope(header: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<s:Header><t:RequestServerVersion Version="Exchange2016"/>{header}</s:Header>
<s:Body>{body}</s:Body></s:Envelope>"#
    )
}

impl Env {
    pub async fn raw(&self, path: &str, auth: Auth<'_>, body: String) -> (u16, String) {
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

    pub async fn agent(&self, body: &str) -> (u16, String) {
        self.raw(
            "/EWS/Exchange.asmx",
            Auth::Basic(AGENT, PASSWORD),
            envelope("", body),
        )
        .await
    }

    pub async fn ok(&self, body: &str) -> Xml {
        let (status, text) = self.agent(body).await;
        assert_eq!(status, 200, "{text}");
        Xml(text)
    }

    pub async fn app_token(&self, scope: &str) -> String {
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
    pub async fn public_folder_id(&self, path: &str) -> String {
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
pub fn unknown_folder_id() -> String {
    let mut bytes = 999_999u64.to_be_bytes().to_vec();
    bytes.push(0x46);
    format!("AQMkAD{}", STANDARD.encode(bytes))
}

/// An item id in the emulator's format that names no item.
pub fn unknown_item_id() -> String {
    let mut bytes = 999_999u64.to_be_bytes().to_vec();
    bytes.extend_from_slice(&0u32.to_be_bytes());
    bytes.push(0x52);
    format!("AAMkAG{}", STANDARD.encode(bytes))
}

pub fn folder_id_xml(id: &str) -> String {
    format!(r#"<t:FolderId Id="{id}"/>"#)
}

pub fn find_folder(parent: &str) -> String {
    format!(
        r#"<m:FindFolder Traversal="Shallow"><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:IndexedPageFolderView MaxEntriesReturned="100" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds>{parent}</m:ParentFolderIds></m:FindFolder>"#
    )
}

pub fn find_item(parent: &str, max: usize, offset: usize, order: &str) -> String {
    format!(
        r#"<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="{max}" Offset="{offset}" BasePoint="Beginning"/><m:SortOrder><t:FieldOrder Order="{order}"><t:FieldURI FieldURI="item:DateTimeReceived"/></t:FieldOrder></m:SortOrder><m:ParentFolderIds>{parent}</m:ParentFolderIds></m:FindItem>"#
    )
}

pub fn item_ids(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!(r#"<t:ItemId Id="{id}"/>"#))
        .collect()
}

pub fn get_item(ids: &[&str]) -> String {
    format!(
        r#"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="message:Sender"/><t:FieldURI FieldURI="message:From"/><t:FieldURI FieldURI="message:ToRecipients"/><t:FieldURI FieldURI="message:CcRecipients"/><t:FieldURI FieldURI="message:BccRecipients"/><t:FieldURI FieldURI="message:InternetMessageId"/><t:FieldURI FieldURI="item:DateTimeSent"/><t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURI FieldURI="message:IsRead"/><t:FieldURI FieldURI="item:Sensitivity"/><t:FieldURI FieldURI="item:WebClientReadFormQueryString"/><t:FieldURI FieldURI="item:IsDraft"/></t:AdditionalProperties></m:ItemShape><m:ItemIds>{}</m:ItemIds></m:GetItem>"#,
        item_ids(ids)
    )
}

pub fn move_item(op: &str, to: &str, ids: &[&str]) -> String {
    format!(
        r#"<m:{op} ReturnNewItemIds="true"><m:ToFolderId>{to}</m:ToFolderId><m:ItemIds>{}</m:ItemIds></m:{op}>"#,
        item_ids(ids)
    )
}

/// An answer, with helpers that find elements by local name.
pub struct Xml(pub String);

impl Xml {
    pub fn walk(&self, mut f: impl FnMut(&str, HashMap<String, String>, Option<String>)) {
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

    pub fn attrs(&self, local: &str) -> Vec<HashMap<String, String>> {
        let mut out = Vec::new();
        self.walk(|n, a, _| {
            if n == local {
                out.push(a);
            }
        });
        out
    }

    pub fn texts(&self, local: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(|n, _, t| {
            if n == local {
                out.push(t.unwrap_or_default());
            }
        });
        out
    }

    pub fn item_ids(&self) -> Vec<String> {
        self.attrs("ItemId")
            .into_iter()
            .map(|a| a["Id"].clone())
            .collect()
    }

    pub fn classes(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(|n, a, _| {
            if n.ends_with("ResponseMessage") {
                out.push(a["ResponseClass"].clone());
            }
        });
        out
    }
}

pub fn attrs_of(e: &quick_xml::events::BytesStart<'_>) -> HashMap<String, String> {
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
