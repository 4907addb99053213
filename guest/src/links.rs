//! Links that last: finding a logged message again after it was moved by
//! hand, or after the setup moved on to another storage folder or mailbox
//! (SPEC §4). Only reads; the host decides what to do with the answers.

use crate::host::Host;
use crate::mail_store::MailStore;
pub use crate::mail_store::{MessageRef, Resolution};
use crate::run_error::RunError;
use crate::setup::Setup;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Resolves every ref, in order. Fails as a whole only when signing in
/// fails; a mailbox that cannot be read fails its own refs.
pub fn resolve(host: &dyn Host, refs: &[MessageRef]) -> Result<Vec<Resolution>, RunError> {
    let (setup, _) = Setup::load(host)?;
    let mut stores: HashMap<String, Box<dyn MailStore + '_>> = HashMap::new();
    let mut signed_in = false;
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let store = match stores.entry(r.mailbox.to_lowercase()) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(
                crate::experience::open(host, &setup, &r.mailbox, None)
                    .map_err(|e| e.into_run_error())?,
            ),
        };
        if !signed_in {
            store.connect().map_err(|e| e.into_run_error())?;
            signed_in = true;
        }
        out.push(store.find_again(r));
    }
    Ok(out)
}

/// [`resolve`], asking `store` for the refs of its own mailbox (a run's
/// store, signed in already) and a new store for any other mailbox.
fn resolve_with(
    host: &dyn Host,
    store: &mut dyn MailStore,
    refs: &[MessageRef],
) -> Result<Vec<Resolution>, RunError> {
    let mine = |r: &MessageRef| r.mailbox.eq_ignore_ascii_case(store.mailbox());
    let others: Vec<MessageRef> = refs.iter().filter(|r| !mine(r)).cloned().collect();
    let mut elsewhere = if others.is_empty() {
        Vec::new()
    } else {
        resolve(host, &others)?
    }
    .into_iter();
    Ok(refs
        .iter()
        .map(|r| {
            if r.mailbox.eq_ignore_ascii_case(store.mailbox()) {
                store.find_again(r)
            } else {
                elsewhere
                    .next()
                    .unwrap_or_else(|| Resolution::Failed("not asked".into()))
            }
        })
        .collect())
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

/// Finds the flagged messages again (in `store` when they are in its
/// mailbox) and brings their links up to date; messages that cannot be
/// looked for now stay flagged for the next run.
pub fn repair_flagged(host: &dyn Host, store: &mut dyn MailStore) -> Result<Repaired, RunError> {
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
    let answers = resolve_with(host, store, &refs)?;
    let mut settled: Vec<String> = Vec::new();
    let mut tried: Vec<String> = Vec::new();
    let mut updates = Vec::new();
    for (f, answer) in list.iter().zip(answers) {
        match answer {
            Resolution::Found {
                message_id,
                web_link,
                folder,
            } => updates.push(crate::host::LinkUpdate {
                key: f.key.clone(),
                previous_id: f.message_id.clone(),
                link: crate::host::MessageLink {
                    mailbox: f.mailbox.clone(),
                    message_id,
                    internet_message_id: f.internet_message_id.clone(),
                    web_link,
                    folder: Some(folder),
                },
            }),
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
    if !updates.is_empty() {
        let keys = updates.iter().map(|u| u.key.clone());
        match host.update_links(&updates) {
            Ok(()) => {
                done.repaired += updates.len() as u32;
                settled.extend(keys);
            }
            Err(_) => tried.extend(keys),
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
