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
    /// `public_folders` is not an object of paths to message arrays.
    #[error("\"public_folders\" must be an object mapping folder paths to arrays of messages")]
    InvalidPublicFolders,
    /// A public folder path is empty, has an empty level, or repeats another path.
    #[error("public folder {path:?}: {reason}")]
    InvalidPublicFolderPath {
        /// The path as written in the seed.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A public folder's message is not a JSON object or has an unusable `id`.
    #[error("public folder {path:?}, message #{index}: {reason}")]
    InvalidPublicMessage {
        /// The folder path as written in the seed.
        path: String,
        /// Zero-based position of the message in the folder's array.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// `accounts` is not an object of addresses to `{"password": "..."}`.
    #[error("\"accounts\" must be an object mapping addresses to {{\"password\": \"...\"}}")]
    InvalidAccounts,
    /// One account's entry is unusable (bad address, duplicate, password not a string).
    #[error("account {address:?}: {reason}")]
    InvalidAccount {
        /// The address as written in the seed.
        address: String,
        /// What is wrong.
        reason: String,
    },
}

/// One mailbox of a seed.
#[derive(Debug, Clone)]
pub(crate) struct SeedMailbox {
    pub address: String,
    /// Folder key as written (well-known name or display name) and its messages.
    pub folders: Vec<(String, Vec<Map<String, Value>>)>,
}

/// One public folder of a seed: its path levels (intermediate folders are implied) and messages.
#[derive(Debug, Clone)]
pub(crate) struct SeedPublicFolder {
    pub levels: Vec<String>,
    pub messages: Vec<Map<String, Value>>,
}

/// An account that may sign in to EWS with Basic authentication.
#[derive(Debug, Clone)]
pub(crate) struct SeedAccount {
    pub address: String,
    pub password: secrecy::SecretString,
}

/// A parsed, validated mailbox seed.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub(crate) mailboxes: Vec<SeedMailbox>,
    pub(crate) public_folders: Vec<SeedPublicFolder>,
    pub(crate) accounts: Vec<SeedAccount>,
}

impl Seed {
    /// Parses and validates a seed in the SPEC §7 format.
    ///
    /// Message objects are kept as given (missing, null or malformed fields are served back
    /// unchanged); only the structure around them and the optional `id` are checked.
    pub fn from_json(text: &str) -> Result<Seed, SeedError> {
        let root: Value = serde_json::from_str(text)?;
        // A seed for the EWS experience alone may leave the Graph mailboxes out.
        let ews_only = root.get("public_folders").is_some() || root.get("accounts").is_some();
        let empty = Map::new();
        let mailboxes = match root.get("mailboxes").and_then(Value::as_object) {
            Some(m) => m,
            None if ews_only && root.is_object() && root.get("mailboxes").is_none() => &empty,
            None => return Err(SeedError::MissingMailboxes),
        };
        let mut seed = Seed {
            public_folders: public_folders(root.get("public_folders"))?,
            accounts: accounts(root.get("accounts"))?,
            ..Seed::default()
        };
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
                let list = message_list(
                    messages,
                    &mut seen_ids,
                    "another message of this mailbox",
                    |index, reason| SeedError::InvalidMessage {
                        mailbox: address.to_string(),
                        folder: folder.clone(),
                        index,
                        reason,
                    },
                )?;
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

    /// Paths of the seeded public folders (trimmed levels joined by `/`), in the order of the
    /// seed's keys as written (JSON objects are read sorted by key).
    pub fn public_folder_paths(&self) -> Vec<String> {
        self.public_folders
            .iter()
            .map(|f| f.levels.join("/"))
            .collect()
    }

    /// Addresses of the accounts that may sign in to EWS with Basic authentication.
    pub fn account_addresses(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.address.clone()).collect()
    }
}

/// Splits a public folder path into its trimmed levels, or says why it is unusable.
pub(crate) fn path_levels(path: &str) -> Result<Vec<String>, &'static str> {
    if path.trim().is_empty() {
        return Err("the path is empty");
    }
    let levels: Vec<String> = path.split('/').map(|l| l.trim().to_string()).collect();
    if levels.iter().any(String::is_empty) {
        return Err(
            "a level of the path is empty (levels are separated by a single '/', with no '/' at either end)",
        );
    }
    if levels.iter().any(|l| l.chars().any(char::is_control)) {
        return Err("the path contains control characters");
    }
    Ok(levels)
}

/// A folder's messages: JSON objects, each `id` (when given) usable and not used
/// by another message seen so far (`ids`, shared across one store's folders).
fn message_list(
    messages: &[Value],
    ids: &mut Vec<String>,
    other: &str,
    error: impl Fn(usize, String) -> SeedError,
) -> Result<Vec<Map<String, Value>>, SeedError> {
    let mut list = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        let message_err = |reason: String| error(index, reason);
        let object = message.as_object().ok_or_else(|| {
            message_err(format!("expected a JSON object, found {}", kind(message)))
        })?;
        if let Some(id) = object.get("id").filter(|v| !v.is_null()) {
            let id = id
                .as_str()
                .ok_or_else(|| message_err("\"id\" must be a string".into()))?;
            check_message_id(id).map_err(|r| message_err(r.to_string()))?;
            if ids.iter().any(|s| s == id) {
                return Err(message_err(format!("id {id:?} is used by {other}")));
            }
            ids.push(id.to_string());
        }
        list.push(object.clone());
    }
    Ok(list)
}

fn public_folders(value: Option<&Value>) -> Result<Vec<SeedPublicFolder>, SeedError> {
    let folders = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(f)) => f,
        Some(_) => return Err(SeedError::InvalidPublicFolders),
    };
    let mut out: Vec<SeedPublicFolder> = Vec::new();
    let mut seen_ids: Vec<String> = Vec::new();
    for (path, messages) in folders {
        let path_err = |reason: &str| SeedError::InvalidPublicFolderPath {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let levels = path_levels(path).map_err(path_err)?;
        let same = |f: &SeedPublicFolder| {
            f.levels.len() == levels.len()
                && f.levels
                    .iter()
                    .zip(&levels)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
        };
        if out.iter().any(same) {
            return Err(path_err(
                "the path appears more than once (folder names are case-insensitive)",
            ));
        }
        let messages = messages
            .as_array()
            .ok_or_else(|| path_err("expected an array of message objects"))?;
        let list = message_list(
            messages,
            &mut seen_ids,
            "another public folder message",
            |index, reason| SeedError::InvalidPublicMessage {
                path: path.clone(),
                index,
                reason,
            },
        )?;
        out.push(SeedPublicFolder {
            levels,
            messages: list,
        });
    }
    Ok(out)
}

fn accounts(value: Option<&Value>) -> Result<Vec<SeedAccount>, SeedError> {
    let accounts = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(a)) => a,
        Some(_) => return Err(SeedError::InvalidAccounts),
    };
    let mut out: Vec<SeedAccount> = Vec::new();
    for (address, entry) in accounts {
        let err = |reason: &str| SeedError::InvalidAccount {
            address: address.clone(),
            reason: reason.to_string(),
        };
        let trimmed = address.trim();
        if validate_address(trimmed).is_err() || !trimmed.contains('@') {
            return Err(err(
                "not a valid address (expected something like name@domain)",
            ));
        }
        if out.iter().any(|a| a.address.eq_ignore_ascii_case(trimmed)) {
            return Err(err(
                "appears more than once (addresses are case-insensitive)",
            ));
        }
        let password = match entry.get("password") {
            Some(Value::String(p)) => p.clone(),
            Some(other) => {
                return Err(err(&format!(
                    "\"password\" must be a string, found {}",
                    kind(other)
                )));
            }
            None if entry.is_object() => return Err(err("\"password\" is missing")),
            None => return Err(err("expected an object {\"password\": \"...\"}")),
        };
        out.push(SeedAccount {
            address: trimmed.to_string(),
            password: password.into(),
        });
    }
    Ok(out)
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
