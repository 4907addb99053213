//! Folders under the public folder root by path, found level by level
//! (`FindFolder`, names compared case-insensitively) and made on demand
//! (`CreateFolder`), remembered for the store's life.

use super::client::Client;
use super::soap::{self, FolderRef};
use super::xml::{Element, Ns};
use crate::mail_store::{FolderInfo, MailError};
use std::collections::HashMap;

/// The well-known folder at the top of every path.
pub const ROOT: &str = "publicfoldersroot";

/// The folders of one store.
pub struct Folders {
    queue_path: String,
    by_path: HashMap<String, FolderInfo>,
    /// Folder names by id, for where a message is.
    pub names: HashMap<String, String>,
}

impl Folders {
    /// Folders around the queue folder at `queue_path`.
    pub fn new(queue_path: &str) -> Self {
        Self {
            queue_path: queue_path.to_string(),
            by_path: HashMap::new(),
            names: HashMap::new(),
        }
    }

    /// The queue folder's path.
    pub fn queue_path(&self) -> &str {
        &self.queue_path
    }

    /// A folder under `parent` by display name (names compare case-insensitively).
    pub fn find_child(
        &mut self,
        c: &mut Client<'_>,
        parent: FolderRef<'_>,
        name: &str,
    ) -> Result<Option<FolderInfo>, MailError> {
        let mut offset = 0u32;
        loop {
            let r = c.call_one(soap::find_folder(c.header(), parent, offset))?;
            let mut seen = 0u32;
            for f in r.folders() {
                seen += 1;
                if let Some(info) = folder_info(f)
                    && info.name.to_lowercase() == name.to_lowercase()
                {
                    return Ok(Some(info));
                }
            }
            if r.includes_last() || seen == 0 {
                return Ok(None);
            }
            offset += seen;
        }
    }

    /// The folder at `path` under the public folder root; with `create`,
    /// missing levels are made.
    pub fn resolve(
        &mut self,
        c: &mut Client<'_>,
        path: &str,
        create: bool,
    ) -> Result<Option<FolderInfo>, MailError> {
        let path = &self.full_path(path);
        let key = path.trim().trim_matches('/').to_lowercase();
        if let Some(f) = self.by_path.get(&key) {
            return Ok(Some(f.clone()));
        }
        let mut at: Option<FolderInfo> = None;
        for name in path.split('/').map(str::trim).filter(|n| !n.is_empty()) {
            let parent_id = at.as_ref().map(|f| f.id.clone());
            let parent = match &parent_id {
                Some(id) => FolderRef::Id(id),
                None => FolderRef::Distinguished {
                    id: ROOT,
                    mailbox: None,
                },
            };
            let found = match self.find_child(c, parent, name)? {
                Some(f) => f,
                None if create => {
                    let id = Self::create(c, parent, name)?;
                    FolderInfo {
                        id,
                        name: name.to_string(),
                        item_count: 0,
                    }
                }
                None => return Ok(None),
            };
            at = Some(found);
        }
        if let Some(f) = &at {
            self.by_path.insert(key, f.clone());
            self.names.insert(f.id.clone(), f.name.clone());
        }
        Ok(at)
    }

    /// A path from the public folder root: a bare name is beside the queue.
    pub fn full_path(&self, path: &str) -> String {
        let path = path.trim().trim_matches('/');
        match self.queue_path.trim().trim_matches('/').rsplit_once('/') {
            Some((parent, _)) if !path.contains('/') => format!("{parent}/{path}"),
            _ => path.to_string(),
        }
    }

    /// The queue folder, which must exist.
    pub fn queue(&mut self, c: &mut Client<'_>) -> Result<FolderInfo, MailError> {
        let path = self.queue_path.clone();
        self.resolve(c, &path, false)?.ok_or_else(|| {
            MailError::Unusable(format!(
                "the queue folder '{path}' does not exist under the public folders: create it and mail-enable it (see the README)"
            ))
        })
    }

    /// A folder's direct children.
    pub fn children(&mut self, c: &mut Client<'_>, id: &str) -> Result<Vec<FolderInfo>, MailError> {
        let mut all = Vec::new();
        let mut offset = 0u32;
        loop {
            let r = c.call_one(soap::find_folder(c.header(), FolderRef::Id(id), offset))?;
            let page: Vec<FolderInfo> = r.folders().filter_map(folder_info).collect();
            let done = r.includes_last() || page.is_empty();
            offset += page.len() as u32;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// A folder's item count by id.
    pub fn count(c: &mut Client<'_>, id: &str) -> Result<u64, MailError> {
        let r = c.call_one(soap::get_folder(c.header(), FolderRef::Id(id)))?;
        Ok(r.folders()
            .find_map(folder_info)
            .map_or(0, |f| f.item_count))
    }

    /// Creates folder `name` under `parent`; its id.
    pub fn create(
        c: &mut Client<'_>,
        parent: FolderRef<'_>,
        name: &str,
    ) -> Result<String, MailError> {
        let r = c.call_one(soap::create_folder(c.header(), parent, name))?;
        r.folders()
            .find_map(|f| soap::id_of(f, "FolderId"))
            .ok_or_else(|| MailError::Unavailable("Exchange created a folder without an id".into()))
    }
}

/// A folder element (`t:Folder`, or any folder kind): id, name, count.
pub fn folder_info(f: &Element) -> Option<FolderInfo> {
    Some(FolderInfo {
        id: soap::id_of(f, "FolderId")?,
        name: f
            .text_of(Ns::Types, "DisplayName")
            .unwrap_or_default()
            .to_string(),
        item_count: f
            .text_of(Ns::Types, "TotalCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
    })
}
