//! The mailbox seed (SPEC §7): which mailboxes exist and which messages each folder holds.

use serde_json::{Map, Value};

/// Errors in a mailbox seed or in a message handed to [`crate::Emulator::add_message`].
///
/// Messages say which mailbox, folder and message index is wrong, since seeds are written by hand.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The text is not JSON at all.
    #[error("mailbox seed is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The top level is not `{"mailboxes": {...}}`.
    #[error("mailbox seed must be an object with a \"mailboxes\" object at the top level")]
    MissingMailboxes,
    /// A mailbox address is empty or not plausible.
    #[error("mailbox address {0:?} is not valid (expected something like name@domain)")]
    InvalidAddress(String),
    /// Two mailbox keys differ only by case.
    #[error("mailbox {0:?} appears more than once (addresses are case-insensitive)")]
    DuplicateMailbox(String),
    /// A mailbox entry is not `{"folders": {...}}`.
    #[error("mailbox {mailbox:?}: expected an object with a \"folders\" object")]
    InvalidMailbox {
        /// The mailbox address.
        mailbox: String,
    },
    /// A folder's value is not an array of messages, or its name is empty.
    #[error("mailbox {mailbox:?}, folder {folder:?}: {reason}")]
    InvalidFolder {
        /// The mailbox address.
        mailbox: String,
        /// The folder key as written in the seed.
        folder: String,
        /// What is wrong.
        reason: String,
    },
    /// A message is not a JSON object or has an unusable `id`.
    #[error("mailbox {mailbox:?}, folder {folder:?}, message #{index}: {reason}")]
    InvalidMessage {
        /// The mailbox address.
        mailbox: String,
        /// The folder key as written in the seed.
        folder: String,
        /// Zero-based position of the message in the folder's array.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// [`crate::Emulator::add_message`] named a mailbox that does not exist.
    #[error("mailbox {0:?} does not exist in the emulator")]
    UnknownMailbox(String),
}

/// One mailbox of a seed.
#[derive(Debug, Clone)]
pub(crate) struct SeedMailbox {
    pub address: String,
    /// Folder key as written (well-known name or display name) and its messages.
    pub folders: Vec<(String, Vec<Map<String, Value>>)>,
}

/// A parsed, validated mailbox seed.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub(crate) mailboxes: Vec<SeedMailbox>,
}

impl Seed {
    /// Parses and validates a seed in the SPEC §7 format.
    ///
    /// Message objects are kept as given (missing, null or malformed fields are served back
    /// unchanged); only the structure around them and the optional `id` are checked.
    pub fn from_json(text: &str) -> Result<Seed, SeedError> {
        let root: Value = serde_json::from_str(text)?;
        let mailboxes = root
            .get("mailboxes")
            .and_then(Value::as_object)
            .ok_or(SeedError::MissingMailboxes)?;
        let mut seed = Seed::default();
        for (address, mailbox) in mailboxes {
            let address = address.trim();
            validate_address(address)?;
            if seed
                .mailboxes
                .iter()
                .any(|m| m.address.eq_ignore_ascii_case(address))
            {
                return Err(SeedError::DuplicateMailbox(address.to_string()));
            }
            let invalid = || SeedError::InvalidMailbox {
                mailbox: address.to_string(),
            };
            let mailbox = mailbox.as_object().ok_or_else(invalid)?;
            let folders = match mailbox.get("folders") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(f)) => f.clone(),
                Some(_) => return Err(invalid()),
            };
            let mut parsed = SeedMailbox {
                address: address.to_string(),
                folders: Vec::new(),
            };
            let mut seen_ids: Vec<String> = Vec::new();
            for (folder, messages) in &folders {
                let folder_err = |reason: &str| SeedError::InvalidFolder {
                    mailbox: address.to_string(),
                    folder: folder.clone(),
                    reason: reason.to_string(),
                };
                if folder.trim().is_empty() {
                    return Err(folder_err("folder name is empty"));
                }
                let messages = messages
                    .as_array()
                    .ok_or_else(|| folder_err("expected an array of message objects"))?;
                let mut list = Vec::with_capacity(messages.len());
                for (index, message) in messages.iter().enumerate() {
                    let message_err = |reason: String| SeedError::InvalidMessage {
                        mailbox: address.to_string(),
                        folder: folder.clone(),
                        index,
                        reason,
                    };
                    let object = message.as_object().ok_or_else(|| {
                        message_err(format!("expected a JSON object, found {}", kind(message)))
                    })?;
                    if let Some(id) = object.get("id").filter(|v| !v.is_null()) {
                        let id = id
                            .as_str()
                            .ok_or_else(|| message_err("\"id\" must be a string".into()))?;
                        check_message_id(id).map_err(|r| message_err(r.to_string()))?;
                        if seen_ids.iter().any(|s| s == id) {
                            return Err(message_err(format!(
                                "id {id:?} is used by another message of this mailbox"
                            )));
                        }
                        seen_ids.push(id.to_string());
                    }
                    list.push(object.clone());
                }
                parsed.folders.push((folder.trim().to_string(), list));
            }
            seed.mailboxes.push(parsed);
        }
        Ok(seed)
    }

    /// The built-in sample mailbox ([`crate::SAMPLE_SEED`]).
    pub fn sample() -> Seed {
        // The sample is embedded and covered by a test, so failing here would be a build defect.
        Seed::from_json(crate::SAMPLE_SEED).unwrap_or_default()
    }

    /// Addresses of the seeded mailboxes, in seed order.
    pub fn mailbox_addresses(&self) -> Vec<String> {
        self.mailboxes.iter().map(|m| m.address.clone()).collect()
    }
}

/// Checks that a caller-provided message id can be used in a URL path.
pub(crate) fn check_message_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        Err("\"id\" is empty")
    } else if id.contains('/') || id.chars().any(char::is_control) {
        Err("\"id\" must not contain '/' or control characters")
    } else {
        Ok(())
    }
}

pub(crate) fn validate_address(address: &str) -> Result<(), SeedError> {
    let ok = !address.is_empty()
        && !address.contains('/')
        && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(SeedError::InvalidAddress(address.to_string()))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
