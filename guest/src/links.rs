//! Links that last: finding a logged message again after it was moved by
//! hand, or after the setup moved on to another storage folder or mailbox
//! (SPEC §4). Only reads; the host decides what to do with the answers.

use crate::graph::{Graph, GraphError, enc};
use crate::host::Host;
use crate::process::{RunError, run_error};
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
            Ok(page) => match page.items.first() {
                Some(v) => self.found(v),
                None => Resolution::NotFound,
            },
            Err(e) => Resolution::Failed(e.to_string()),
        }
    }

    fn found(&mut self, v: &Value) -> Resolution {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(message_id), Some(web_link)) = (text("id"), text("webLink")) else {
            return Resolution::Failed("Graph answered a message without id or webLink".into());
        };
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
