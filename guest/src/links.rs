//! Links that last: finding a logged message again after it was moved by
//! hand, or after the setup moved on to another storage folder or mailbox
//! (SPEC §4). Only reads; the host decides what to do with the answers.

use crate::graph::{Graph, GraphError, enc};
use crate::host::Host;
use crate::run_error::{RunError, run_error};
use crate::setup::Setup;
use serde_json::Value;
use std::collections::HashMap;

/// A logged message, as its attachment record knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    /// The mailbox it was logged from.
    pub mailbox: String,
    /// Its immutable id.
    pub message_id: String,
    /// Its `internetMessageId`.
    pub internet_message_id: Option<String>,
}

/// Where a message is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Found: its immutable id, web link and folder name now.
    Found {
        /// Immutable id.
        message_id: String,
        /// Outlook on the web link.
        web_link: String,
        /// Display name of its folder.
        folder: String,
    },
    /// Neither the id nor the `internetMessageId` is in the mailbox.
    NotFound,
    /// The mailbox could not be asked about this message.
    Failed(String),
}

const SELECT: &str = "$select=id,webLink,parentFolderId,internetMessageId";

/// Resolves every ref, in order. Fails as a whole only when signing in
/// fails; a mailbox that cannot be read fails its own refs.
pub fn resolve(host: &dyn Host, refs: &[MessageRef]) -> Result<Vec<Resolution>, RunError> {
    let (setup, _) = Setup::load(host)?;
    let mut mailboxes: HashMap<String, Mailbox<'_>> = HashMap::new();
    let mut signed_in = false;
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let mb = mailboxes
            .entry(r.mailbox.to_lowercase())
            .or_insert_with(|| Mailbox {
                graph: Graph::new(host, &setup, &r.mailbox),
                folder_names: HashMap::new(),
            });
        if !signed_in {
            mb.graph
                .sign_in()
                .map_err(|e| run_error(GraphError::Auth(e), &r.mailbox))?;
            signed_in = true;
        }
        out.push(mb.resolve(r));
    }
    Ok(out)
}

/// One mailbox's client and the folder names it looked up.
struct Mailbox<'a> {
    graph: Graph<'a>,
    folder_names: HashMap<String, String>,
}

impl Mailbox<'_> {
    fn resolve(&mut self, r: &MessageRef) -> Resolution {
        let by_id = format!(
            "{}/messages/{}?{SELECT}",
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
            "{}/messages?$filter={}&{SELECT}&$top=10",
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

/// Where the messages wait whose links a run could not bring up to date (a
/// move whose answer was lost, a message that left the Inbox before its
/// move): the next run finds them again and repairs their links itself.
const TO_REPAIR: &str = "links-to-repair";

/// Attempts at finding a flagged message before the run gives up on it and
/// leaves it to `entries repair-links`.
const REPAIR_ATTEMPTS: u32 = 5;

/// A logged message whose link may be stale.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Flagged {
    key: String,
    mailbox: String,
    message_id: String,
    internet_message_id: Option<String>,
    #[serde(default)]
    attempts: u32,
}

fn load_flagged(host: &dyn Host) -> Result<(Vec<Flagged>, Option<u64>), crate::host::HostError> {
    Ok(match host.storage_get(TO_REPAIR)? {
        // An unreadable list is dropped: it only holds work link repair can redo.
        Some((text, version)) => (
            serde_json::from_str(&text).unwrap_or_default(),
            Some(version),
        ),
        None => (Vec::new(), None),
    })
}

/// Changes the list with compare-and-swap, trying again when another writer won.
fn change_flagged(
    host: &dyn Host,
    change: &dyn Fn(&mut Vec<Flagged>),
) -> Result<(), crate::host::HostError> {
    for _ in 0..3 {
        let (mut list, version) = load_flagged(host)?;
        change(&mut list);
        let text = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
        match host.storage_put(TO_REPAIR, &text, version) {
            Err(crate::host::HostError::Conflict(_)) => continue,
            other => return other.map(|_| ()),
        }
    }
    Err(crate::host::HostError::Conflict(
        "the list of links to repair keeps changing".into(),
    ))
}

/// Flags a logged message whose link may be stale, for the next run.
pub fn flag(
    host: &dyn Host,
    key: &str,
    mailbox: &str,
    message_id: &str,
    internet_message_id: Option<&str>,
) -> Result<(), crate::host::HostError> {
    let item = Flagged {
        key: key.to_string(),
        mailbox: mailbox.to_string(),
        message_id: message_id.to_string(),
        internet_message_id: internet_message_id.map(str::to_string),
        attempts: 0,
    };
    change_flagged(host, &|list| {
        if !list.iter().any(|f| f.key == item.key) {
            list.push(item.clone());
        }
    })
}

/// What [`repair_flagged`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Links brought up to date.
    pub repaired: u32,
    /// Messages not found any more; their links stay as they were.
    pub lost: Vec<String>,
}

/// Finds the flagged messages again and brings their links up to date;
/// messages that cannot be looked for now stay flagged for the next run.
pub fn repair_flagged(host: &dyn Host) -> Result<Repaired, RunError> {
    let (list, _) = load_flagged(host)?;
    let mut done = Repaired::default();
    if list.is_empty() {
        return Ok(done);
    }
    let refs: Vec<MessageRef> = list
        .iter()
        .map(|f| MessageRef {
            mailbox: f.mailbox.clone(),
            message_id: f.message_id.clone(),
            internet_message_id: f.internet_message_id.clone(),
        })
        .collect();
    let answers = resolve(host, &refs)?;
    let mut settled: Vec<String> = Vec::new();
    let mut tried: Vec<String> = Vec::new();
    for (f, answer) in list.iter().zip(answers) {
        match answer {
            Resolution::Found {
                message_id,
                web_link,
                folder,
            } => {
                let link = crate::host::MessageLink {
                    mailbox: f.mailbox.clone(),
                    message_id,
                    internet_message_id: f.internet_message_id.clone(),
                    web_link,
                    folder: Some(folder),
                };
                match host.update_link(&f.key, &link) {
                    Ok(()) => {
                        done.repaired += 1;
                        settled.push(f.key.clone());
                    }
                    Err(_) => tried.push(f.key.clone()),
                }
            }
            Resolution::NotFound => {
                done.lost.push(f.key.clone());
                settled.push(f.key.clone());
            }
            Resolution::Failed(_) if f.attempts + 1 >= REPAIR_ATTEMPTS => {
                done.lost.push(f.key.clone());
                settled.push(f.key.clone());
            }
            Resolution::Failed(_) => tried.push(f.key.clone()),
        }
    }
    change_flagged(host, &|list| {
        list.retain(|f| !settled.contains(&f.key));
        for f in list.iter_mut().filter(|f| tried.contains(&f.key)) {
            f.attempts += 1;
        }
    })?;
    Ok(done)
}
