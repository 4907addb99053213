//! One mailbox: its folder tree and the messages in it.

use serde_json::{Map, Value, json};

use crate::ids;

/// Well-known folders every mailbox has, with the display names Exchange gives them in English.
/// `msgfolderroot` comes first because the others are its children.
pub(crate) const WELL_KNOWN: &[(&str, &str)] = &[
    ("msgfolderroot", "Top of Information Store"),
    ("inbox", "Inbox"),
    ("junkemail", "Junk Email"),
    ("archive", "Archive"),
    ("deleteditems", "Deleted Items"),
    ("drafts", "Drafts"),
    ("sentitems", "Sent Items"),
    ("outbox", "Outbox"),
];

/// Fields the emulator computes; a seed's own values for them are dropped so they never lie.
const COMPUTED: &[&str] = &["id", "parentFolderId", "webLink", "@odata.etag"];

#[derive(Debug, Clone)]
pub(crate) struct Folder {
    pub id: String,
    pub display_name: String,
    pub parent_id: String,
    pub well_known: Option<&'static str>,
    pub hidden: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredMessage {
    pub immutable_id: String,
    pub serial: u64,
    /// Bumped on every move so that the REST id changes like Exchange's does.
    pub generation: u32,
    pub folder_id: String,
    pub data: Map<String, Value>,
    /// The mailbox's change number when the message last arrived, moved or changed (delta).
    pub changed: u64,
}

impl StoredMessage {
    pub fn rest_id(&self) -> String {
        ids::rest_id(self.serial, self.generation)
    }

    pub fn web_link(&self, outlook_base: &str) -> String {
        let ews = ids::rest_to_ews(&self.rest_id());
        let encoded: String = url::form_urlencoded::byte_serialize(ews.as_bytes()).collect();
        format!("{outlook_base}/owa/?ItemID={encoded}&exvsurl=1&viewmodel=ReadMessageItem")
    }

    /// The message as Graph returns it, with all fields.
    pub fn to_json(&self, immutable: bool, outlook_base: &str) -> Map<String, Value> {
        let mut out = self.data.clone();
        let id = if immutable {
            self.immutable_id.clone()
        } else {
            self.rest_id()
        };
        out.insert(
            "@odata.etag".into(),
            ids::etag(self.serial, self.generation).into(),
        );
        out.insert("id".into(), id.into());
        out.insert("parentFolderId".into(), self.folder_id.clone().into());
        out.insert("webLink".into(), self.web_link(outlook_base).into());
        out
    }
}

/// Returned when a folder name is already taken under the same parent.
#[derive(Debug)]
pub(crate) struct FolderExists;

#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    pub address: String,
    pub folders: Vec<Folder>,
    pub messages: Vec<StoredMessage>,
    /// Parent id of msgfolderroot: a folder that exists in Exchange but is not exposed.
    root_parent_id: String,
    /// Counts every change to a message, for delta queries.
    pub change_seq: u64,
    /// The delta tokens handed out for this mailbox's folders.
    pub delta: crate::delta_state::DeltaStore,
}

impl Mailbox {
    pub fn new(address: &str, serial: &mut u64) -> Mailbox {
        let root_parent_id = ids::folder_id(next(serial));
        let root_id = ids::folder_id(next(serial));
        let folders = WELL_KNOWN
            .iter()
            .map(|(wk, name)| {
                let root = *wk == "msgfolderroot";
                Folder {
                    id: if root {
                        root_id.clone()
                    } else {
                        ids::folder_id(next(serial))
                    },
                    display_name: (*name).to_string(),
                    parent_id: if root {
                        root_parent_id.clone()
                    } else {
                        root_id.clone()
                    },
                    well_known: Some(wk),
                    hidden: false,
                }
            })
            .collect();
        Mailbox {
            address: address.to_string(),
            folders,
            messages: Vec::new(),
            root_parent_id,
            change_seq: 0,
            delta: crate::delta_state::DeltaStore::default(),
        }
    }

    /// The public folder hierarchy: only its root (`publicfoldersroot`, named `IPM_SUBTREE` as
    /// in Exchange); the folders below it come from the seed or from CreateFolder.
    pub fn public_store(serial: &mut u64) -> Mailbox {
        let root_parent_id = ids::folder_id(next(serial));
        let root = Folder {
            id: ids::folder_id(next(serial)),
            display_name: "IPM_SUBTREE".to_string(),
            parent_id: root_parent_id.clone(),
            well_known: Some("publicfoldersroot"),
            hidden: false,
        };
        Mailbox {
            address: String::new(),
            folders: vec![root],
            messages: Vec::new(),
            root_parent_id,
            change_seq: 0,
            delta: crate::delta_state::DeltaStore::default(),
        }
    }

    /// Id of the folder above msgfolderroot (EWS's `root`), which Graph never shows.
    pub fn root_parent_id(&self) -> &str {
        &self.root_parent_id
    }

    /// The folder at these path levels below the root (names compare case-insensitively).
    pub fn folder_at(&self, levels: &[String]) -> Option<&Folder> {
        let mut current = self.folders.first()?;
        for level in levels {
            current = self
                .children(&current.id)
                .find(|f| f.display_name.eq_ignore_ascii_case(level))?;
        }
        Some(current)
    }

    /// Id of the folder at these path levels, creating missing levels on the way.
    pub fn ensure_path(&mut self, levels: &[String], serial: &mut u64) -> String {
        let mut current = self.root_id().to_string();
        for level in levels {
            let existing = self
                .children(&current)
                .find(|f| f.display_name.eq_ignore_ascii_case(level))
                .map(|f| f.id.clone());
            current = match existing {
                Some(id) => id,
                None => match self.create_folder(&current, level, false, serial) {
                    Ok(f) => f.id,
                    // Unreachable: no child of that name exists, as just checked.
                    Err(FolderExists) => current,
                },
            };
        }
        current
    }

    pub fn root_id(&self) -> &str {
        // WELL_KNOWN starts with msgfolderroot, created in `new`.
        &self.folders[0].id
    }

    /// Looks a folder up the way Graph paths do: by id or well-known name.
    pub fn folder(&self, key: &str) -> Option<&Folder> {
        self.folders.iter().find(|f| {
            f.id == key
                || f.well_known
                    .is_some_and(|wk| wk.eq_ignore_ascii_case(key.trim()))
        })
    }

    /// Looks a folder up for the test API: well-known name, display name or id.
    pub fn folder_by_name(&self, key: &str) -> Option<&Folder> {
        self.folder(key).or_else(|| {
            self.folders
                .iter()
                .find(|f| f.display_name.eq_ignore_ascii_case(key.trim()))
        })
    }

    pub fn children(&self, parent_id: &str) -> impl Iterator<Item = &Folder> {
        self.folders
            .iter()
            .filter(move |f| f.parent_id == parent_id)
    }

    pub fn create_folder(
        &mut self,
        parent_id: &str,
        name: &str,
        hidden: bool,
        serial: &mut u64,
    ) -> Result<Folder, FolderExists> {
        if self
            .children(parent_id)
            .any(|f| f.display_name.eq_ignore_ascii_case(name))
        {
            return Err(FolderExists);
        }
        let folder = Folder {
            id: ids::folder_id(next(serial)),
            display_name: name.to_string(),
            parent_id: parent_id.to_string(),
            well_known: None,
            hidden,
        };
        self.folders.push(folder.clone());
        Ok(folder)
    }

    /// Removes a folder (well-known name, display name or id), its descendants and their
    /// messages. The root cannot be removed.
    pub fn remove_folder(&mut self, key: &str) -> bool {
        let Some(target) = self.folder_by_name(key) else {
            return false;
        };
        if target.well_known == Some("msgfolderroot") {
            return false;
        }
        let mut doomed = vec![target.id.clone()];
        let mut i = 0;
        while let Some(parent) = doomed.get(i).cloned() {
            doomed.extend(self.children(&parent).map(|f| f.id.clone()));
            i += 1;
        }
        self.folders.retain(|f| !doomed.contains(&f.id));
        self.messages.retain(|m| !doomed.contains(&m.folder_id));
        true
    }

    /// Folder for a seed key: a well-known name, else a custom folder under msgfolderroot.
    pub fn seed_folder(&mut self, key: &str, serial: &mut u64) -> String {
        if let Some(f) = self.folder_by_name(key) {
            return f.id.clone();
        }
        let root = self.root_id().to_string();
        match self.create_folder(&root, key, false, serial) {
            Ok(f) => f.id,
            // Unreachable in practice: folder_by_name found no folder with this name.
            Err(FolderExists) => root,
        }
    }

    /// Index of the live message with this immutable or current REST id.
    ///
    /// Immutable ids are compared first, newest message first, because a
    /// REST id has to be computed for each message: a mailbox of 100,000
    /// messages would otherwise spend a string allocation per message on
    /// every move.
    pub fn find_message(&self, id: &str) -> Option<usize> {
        self.messages
            .iter()
            .rposition(|m| m.immutable_id == id)
            .or_else(|| self.messages.iter().rposition(|m| m.rest_id() == id))
    }

    /// Stores a message and returns its immutable id; a caller-given `id` becomes the immutable
    /// id unless it is already taken.
    pub fn add_message(
        &mut self,
        folder_id: &str,
        mut data: Map<String, Value>,
        serial: &mut u64,
    ) -> Result<String, String> {
        let s = next(serial);
        let immutable_id = match data.get("id").and_then(Value::as_str) {
            Some(given) => {
                crate::seed::check_message_id(given)?;
                if self.find_message(given).is_some() {
                    return Err(format!("id {given:?} is already used in this mailbox"));
                }
                given.to_string()
            }
            None => ids::immutable_id(s),
        };
        for key in COMPUTED {
            data.remove(*key);
        }
        self.change_seq += 1;
        self.messages.push(StoredMessage {
            immutable_id: immutable_id.clone(),
            serial: s,
            generation: 0,
            folder_id: folder_id.to_string(),
            data,
            changed: self.change_seq,
        });
        Ok(immutable_id)
    }

    /// Moves a message; like Exchange this makes a new REST id even within the same folder.
    pub fn move_message(&mut self, index: usize, dest_id: &str) {
        if let Some(m) = self.messages.get_mut(index) {
            m.folder_id = dest_id.to_string();
            m.generation = m.generation.wrapping_add(1);
            self.change_seq += 1;
            m.changed = self.change_seq;
        }
    }

    /// Records that the message at `index` changed (a PATCH), for delta queries.
    pub fn touch(&mut self, index: usize) {
        if let Some(m) = self.messages.get_mut(index) {
            self.change_seq += 1;
            m.changed = self.change_seq;
        }
    }

    /// Where DELETE puts the message at `index`: `Some(deleted items id)` when it moves there,
    /// `None` when it is removed for good (it is in Deleted Items, or that folder is gone).
    pub fn delete_target(&self, index: usize) -> Option<String> {
        let deleted = self.folder("deleteditems")?.id.clone();
        let in_deleted = self.messages.get(index)?.folder_id == deleted;
        (!in_deleted).then_some(deleted)
    }

    /// DELETE in Exchange moves to Deleted Items; deleting from there removes the message.
    pub fn delete_message(&mut self, index: usize) {
        match self.delete_target(index) {
            Some(deleted) => self.move_message(index, &deleted),
            None if index < self.messages.len() => {
                self.messages.remove(index);
            }
            None => {}
        }
    }

    /// `permanentDelete`: removes the message for good, wherever it is.
    pub fn remove_message(&mut self, index: usize) {
        if index < self.messages.len() {
            self.messages.remove(index);
        }
    }

    pub fn messages_in<'a>(
        &'a self,
        folder_id: &'a str,
    ) -> impl Iterator<Item = &'a StoredMessage> {
        self.messages
            .iter()
            .filter(move |m| m.folder_id == folder_id)
    }

    pub fn folder_json(&self, f: &Folder) -> Value {
        let total = self.messages_in(&f.id).count();
        let unread = self
            .messages_in(&f.id)
            .filter(|m| m.data.get("isRead").and_then(Value::as_bool) != Some(true))
            .count();
        json!({
            "id": f.id,
            "displayName": f.display_name,
            "parentFolderId": if f.well_known == Some("msgfolderroot") { &self.root_parent_id } else { &f.parent_id },
            "childFolderCount": self.children(&f.id).count(),
            "unreadItemCount": unread,
            "totalItemCount": total,
            "isHidden": f.hidden,
        })
    }
}

fn next(serial: &mut u64) -> u64 {
    *serial += 1;
    *serial
}
