//! What EWS acts on: the Graph mailboxes (the same state Graph serves) and the public folder
//! hierarchy, how EWS folder and item ids name them, and how folders are written as
//! `t:Folder` (messages have a module of their own).

use serde_json::Value;

use crate::ews_xml::{Element, Out, TYPES_NS};
use crate::ids;
use crate::mailbox::{Mailbox, StoredMessage};
use crate::state::{Principal, State};

/// A per-item (or per-folder) error as Exchange puts it in a response message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemError {
    pub code: &'static str,
    pub text: &'static str,
}

impl ItemError {
    pub const MALFORMED: ItemError = ItemError {
        code: "ErrorInvalidIdMalformed",
        text: "Id is malformed.",
    };
    pub const ITEM_NOT_FOUND: ItemError = ItemError {
        code: "ErrorItemNotFound",
        text: "The specified object was not found in the store., The process failed to get the correct properties.",
    };
    pub const FOLDER_NOT_FOUND: ItemError = ItemError {
        code: "ErrorFolderNotFound",
        text: "The specified folder could not be found in the store.",
    };
    pub const ACCESS_DENIED: ItemError = ItemError {
        code: "ErrorAccessDenied",
        text: "Access is denied. Check credentials and try again.",
    };
    pub const NO_MAILBOX: ItemError = ItemError {
        code: "ErrorNonExistentMailbox",
        text: "The SMTP address has no mailbox associated with it.",
    };
    pub const QUOTA: ItemError = ItemError {
        code: "ErrorQuotaExceeded",
        text: "The mailbox quota has been exceeded.",
    };
    pub const FOLDER_EXISTS: ItemError = ItemError {
        code: "ErrorFolderExists",
        text: "A folder with the specified name already exists.",
    };
    pub const INVALID_OPERATION: ItemError = ItemError {
        code: "ErrorInvalidOperation",
        text: "The requested operation is not valid for this folder.",
    };
}

/// A mailbox of [`State::mailboxes`] or the public folder hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    Mailbox(usize),
    Public,
}

pub(crate) fn store(st: &State, s: Store) -> &Mailbox {
    match s {
        Store::Mailbox(i) => &st.mailboxes[i],
        Store::Public => &st.public,
    }
}

pub(crate) fn store_mut(st: &mut State, s: Store) -> &mut Mailbox {
    match s {
        Store::Mailbox(i) => &mut st.mailboxes[i],
        Store::Public => &mut st.public,
    }
}

/// A folder found for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FolderLoc {
    pub store: Store,
    pub id: String,
}

/// Who a request acts as: the signed-in or impersonated account, whose mailbox DistinguishedFolderIds
/// without a `t:Mailbox` name.
#[derive(Debug, Clone)]
pub(crate) struct Acting {
    pub mailbox: String,
    pub outlook_base: String,
}

impl Acting {
    fn principal(&self) -> Principal {
        Principal::User(self.mailbox.clone())
    }
}

/// Whether the acting account may open mailbox `i` (its own, or one shared with it through
/// [`crate::Emulator::set_mailbox_access`]).
fn may_open(st: &State, acting: &Acting, s: Store) -> bool {
    match s {
        Store::Public => true,
        Store::Mailbox(i) => st.may_access(&acting.principal(), &st.mailboxes[i].address),
    }
}

/// Stores in the order ids are looked up: the acting mailbox, the public folders, then the rest.
fn stores(st: &State, acting: &Acting) -> Vec<Store> {
    let own = st.mailbox_index(&acting.mailbox);
    let mut out: Vec<Store> = own.map(Store::Mailbox).into_iter().collect();
    out.push(Store::Public);
    out.extend(
        (0..st.mailboxes.len())
            .filter(|i| Some(*i) != own)
            .map(Store::Mailbox),
    );
    out
}

fn has_folder(mb: &Mailbox, s: Store, id: &str) -> bool {
    // The mailbox root (EWS `root`) is a folder of its own; the public hierarchy has none above
    // publicfoldersroot.
    (s != Store::Public && mb.root_parent_id() == id) || mb.folders.iter().any(|f| f.id == id)
}

/// Resolves a `t:FolderId` or `t:DistinguishedFolderId` element.
pub(crate) fn resolve_folder(
    st: &State,
    acting: &Acting,
    e: &Element,
) -> Result<FolderLoc, ItemError> {
    if e.is(TYPES_NS, "DistinguishedFolderId") {
        let name = e.attr("Id").unwrap_or("").trim().to_ascii_lowercase();
        if name == "publicfoldersroot" {
            return Ok(FolderLoc {
                store: Store::Public,
                id: st.public.root_id().to_string(),
            });
        }
        let address = e
            .path(TYPES_NS, &["Mailbox", "EmailAddress"])
            .map(Element::text)
            .filter(|a| !a.is_empty())
            .unwrap_or(&acting.mailbox);
        let i = st.mailbox_index(address).ok_or(ItemError::NO_MAILBOX)?;
        if !may_open(st, acting, Store::Mailbox(i)) {
            return Err(ItemError::ACCESS_DENIED);
        }
        let mb = &st.mailboxes[i];
        let id = if name == "root" {
            mb.root_parent_id().to_string()
        } else {
            mb.folder(&name)
                .filter(|f| f.well_known.is_some())
                .map(|f| f.id.clone())
                .ok_or(ItemError::FOLDER_NOT_FOUND)?
        };
        return Ok(FolderLoc {
            store: Store::Mailbox(i),
            id,
        });
    }
    let id = ids::ews_to_rest(e.attr("Id").unwrap_or("").trim());
    if !ids::is_folder_id(&id) {
        return Err(ItemError::MALFORMED);
    }
    for s in stores(st, acting) {
        if has_folder(store(st, s), s, &id) {
            if !may_open(st, acting, s) {
                return Err(ItemError::ACCESS_DENIED);
            }
            return Ok(FolderLoc { store: s, id });
        }
    }
    Err(ItemError::FOLDER_NOT_FOUND)
}

/// Resolves a `t:ItemId`: the store and the message's index in it.
pub(crate) fn resolve_item(
    st: &State,
    acting: &Acting,
    e: &Element,
) -> Result<(Store, usize), ItemError> {
    if !e.is(TYPES_NS, "ItemId") {
        return Err(ItemError::MALFORMED);
    }
    let rest = ids::ews_to_rest(e.attr("Id").unwrap_or("").trim());
    let (serial, generation) = ids::parse_rest_id(&rest).ok_or(ItemError::MALFORMED)?;
    for s in stores(st, acting) {
        let mb = store(st, s);
        if let Some(i) = mb.messages.iter().position(|m| m.serial == serial) {
            // An id from before a move names a version of the item that no longer exists.
            if mb.messages[i].generation != generation {
                return Err(ItemError::ITEM_NOT_FOUND);
            }
            if !may_open(st, acting, s) {
                return Err(ItemError::ACCESS_DENIED);
            }
            return Ok((s, i));
        }
    }
    Err(ItemError::ITEM_NOT_FOUND)
}

pub(crate) fn folder_id_attrs(id: &str) -> (String, String) {
    (ids::rest_to_ews(id), ids::folder_change_key(id))
}

pub(crate) fn write_folder_id(out: &mut Out, tag: &str, id: &str) {
    let (id, ck) = folder_id_attrs(id);
    out.empty(tag, &[("Id", &id), ("ChangeKey", &ck)]);
}

pub(crate) fn write_item_id(out: &mut Out, m: &StoredMessage) {
    let id = ids::rest_to_ews(&m.rest_id());
    let ck = ids::change_key(m.serial, m.generation);
    out.empty("t:ItemId", &[("Id", &id), ("ChangeKey", &ck)]);
}

/// A folder as EWS shows it.
#[derive(Debug, Clone)]
pub(crate) struct FolderView {
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub class: Option<&'static str>,
    pub total: usize,
    pub unread: usize,
    pub children: usize,
}

pub(crate) fn folder_view(mb: &Mailbox, s: Store, id: &str) -> Option<FolderView> {
    let count = |id: &str| {
        let total = mb.messages_in(id).count();
        let unread = mb
            .messages_in(id)
            .filter(|m| m.data.get("isRead").and_then(Value::as_bool) != Some(true))
            .count();
        (total, unread)
    };
    if s != Store::Public && id == mb.root_parent_id() {
        return Some(FolderView {
            id: id.to_string(),
            parent_id: None,
            name: "Root".to_string(),
            class: None,
            total: 0,
            unread: 0,
            children: mb.children(id).count(),
        });
    }
    let f = mb.folders.iter().find(|f| f.id == id)?;
    let (total, unread) = count(id);
    let top = matches!(f.well_known, Some("msgfolderroot" | "publicfoldersroot"));
    Some(FolderView {
        id: f.id.clone(),
        parent_id: (f.well_known != Some("publicfoldersroot")).then(|| f.parent_id.clone()),
        name: f.display_name.clone(),
        class: (!top).then_some("IPF.Note"),
        total,
        unread,
        children: mb.children(id).count(),
    })
}

/// The folder properties an answer includes, from the shape and its additional properties.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FolderProps {
    pub parent: bool,
    pub class: bool,
    pub name: bool,
    pub total: bool,
    pub children: bool,
    pub unread: bool,
}

impl FolderProps {
    /// From an `m:FolderShape` element.
    pub fn from_shape(shape: Option<&Element>) -> FolderProps {
        let base = shape
            .and_then(|s| s.child(TYPES_NS, "BaseShape"))
            .map(Element::text)
            .unwrap_or("Default");
        let mut p = match base {
            "IdOnly" => FolderProps::default(),
            "AllProperties" => FolderProps {
                parent: true,
                class: true,
                name: true,
                total: true,
                children: true,
                unread: true,
            },
            _ => FolderProps {
                name: true,
                total: true,
                children: true,
                unread: true,
                ..FolderProps::default()
            },
        };
        for uri in additional(shape) {
            match uri.as_str() {
                "folder:ParentFolderId" => p.parent = true,
                "folder:FolderClass" => p.class = true,
                "folder:DisplayName" => p.name = true,
                "folder:TotalCount" => p.total = true,
                "folder:ChildFolderCount" => p.children = true,
                "folder:UnreadCount" => p.unread = true,
                _ => {}
            }
        }
        p
    }
}

/// The `FieldURI`s of a shape's `t:AdditionalProperties`.
pub(crate) fn additional(shape: Option<&Element>) -> Vec<String> {
    shape
        .and_then(|s| s.child(TYPES_NS, "AdditionalProperties"))
        .map(|a| {
            a.children
                .iter()
                .filter_map(|c| match c.name.as_str() {
                    "FieldURI" => c.attr("FieldURI").map(str::to_string),
                    // Sensitivity is MAPI property 0x36; asked for by tag it answers the same.
                    "ExtendedFieldURI"
                        if c.attr("PropertyTag")
                            .is_some_and(|t| t.eq_ignore_ascii_case("0x36")) =>
                    {
                        Some("extended:0x36".to_string())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn write_folder(out: &mut Out, v: &FolderView, p: FolderProps) {
    out.start("t:Folder", &[]);
    write_folder_id(out, "t:FolderId", &v.id);
    if p.parent
        && let Some(parent) = &v.parent_id
    {
        write_folder_id(out, "t:ParentFolderId", parent);
    }
    if p.class
        && let Some(class) = v.class
    {
        out.leaf("t:FolderClass", class);
    }
    if p.name {
        out.leaf("t:DisplayName", &v.name);
    }
    if p.total {
        out.leaf("t:TotalCount", &v.total.to_string());
    }
    if p.children {
        out.leaf("t:ChildFolderCount", &v.children.to_string());
    }
    if p.unread {
        out.leaf("t:UnreadCount", &v.unread.to_string());
    }
    out.end("t:Folder");
}
