//! The EWS operations on the shared state: GetFolder, FindFolder, CreateFolder, FindItem,
//! GetItem, CreateItem, MoveItem, CopyItem and DeleteItem. Each writes one response message per folder or
//! item id it was given, in request order; a bad id fails only its own message.

use std::cmp::Ordering;

use crate::ews_items::{ItemProps, write_message};
use crate::ews_soap::Fault;
use crate::ews_store::{
    Acting, FolderLoc, FolderProps, ItemError, Store, folder_view, resolve_folder, resolve_item,
    store, store_mut, write_folder, write_folder_id, write_item_id,
};
use crate::ews_xml::{Element, MESSAGES_NS, Out, TYPES_NS};
use crate::mailbox::StoredMessage;
use crate::state::State;

/// The operations the emulator implements.
pub(crate) const OPERATIONS: &[&str] = &[
    "GetFolder",
    "FindFolder",
    "CreateFolder",
    "FindItem",
    "GetItem",
    "CreateItem",
    "MoveItem",
    "CopyItem",
    "DeleteItem",
];

/// Runs `op` (one of [`OPERATIONS`]) and writes its response messages. A request-level
/// problem is returned before anything is written.
pub(crate) fn run(
    st: &mut State,
    acting: &Acting,
    op: &str,
    req: &Element,
    out: &mut Out,
) -> Result<(), Fault> {
    match op {
        "GetFolder" => get_folder(st, acting, req, out),
        "FindFolder" => find_folder(st, acting, req, out),
        "CreateFolder" => create_folder(st, acting, req, out),
        "FindItem" => find_item(st, acting, req, out),
        "GetItem" => get_item(st, acting, req, out),
        "CreateItem" => create_item(st, acting, req, out),
        "MoveItem" => move_or_copy(st, acting, req, out, false),
        "CopyItem" => move_or_copy(st, acting, req, out, true),
        "DeleteItem" => delete_item(st, acting, req, out),
        _ => Err(Fault::invalid_request()),
    }
}

/// The one restriction the emulator evaluates is equality on a message's Message-ID or
/// subject (what finding a moved item again needs); any other is refused.
const UNSUPPORTED_FILTER: ItemError = ItemError {
    code: "ErrorUnsupportedQueryFilter",
    text: "The restriction or sort order is too complex for this operation.",
};

fn required<'a>(req: &'a Element, name: &str) -> Result<&'a Element, Fault> {
    req.child(MESSAGES_NS, name).ok_or_else(|| {
        Fault::schema(format!(
            "The element '{}' in namespace '{MESSAGES_NS}' has incomplete content. List of possible elements expected: '{name}' in namespace '{MESSAGES_NS}'.",
            req.name
        ))
    })
}

fn success(out: &mut Out, op: &str) {
    out.start(
        &format!("m:{op}ResponseMessage"),
        &[("ResponseClass", "Success")],
    );
    out.leaf("m:ResponseCode", "NoError");
}

fn finish(out: &mut Out, op: &str) {
    out.end(&format!("m:{op}ResponseMessage"));
}

/// A failed response message; `container` is the empty element Exchange adds after the error
/// (`m:Items`, `m:Folders`), when the operation has one.
fn error(out: &mut Out, op: &str, e: &ItemError, container: Option<&str>) {
    out.start(
        &format!("m:{op}ResponseMessage"),
        &[("ResponseClass", "Error")],
    );
    out.leaf("m:MessageText", e.text);
    out.leaf("m:ResponseCode", e.code);
    out.leaf("m:DescriptiveLinkKey", "0");
    if let Some(c) = container {
        out.empty(c, &[]);
    }
    finish(out, op);
}

/// `IndexedPageFolderView` / `IndexedPageItemView`: which slice of `total` entries to return.
struct Page {
    start: usize,
    end: usize,
    offset: usize,
    total: usize,
    last: bool,
}

fn page(view: Option<&Element>, total: usize) -> Result<Page, Fault> {
    let number = |name: &str, default: usize| -> Result<usize, Fault> {
        match view.and_then(|v| v.attr(name)) {
            None => Ok(default),
            Some(v) => v.trim().parse::<usize>().map_err(|_| {
                Fault::schema(format!(
                    "The '{name}' attribute is invalid - The value '{v}' is invalid according to its datatype."
                ))
            }),
        }
    };
    let max = number("MaxEntriesReturned", usize::MAX)?;
    let offset = number("Offset", 0)?;
    if max == 0 {
        return Err(Fault::schema(
            "The 'MaxEntriesReturned' attribute is invalid - The value '0' is invalid according to its datatype.",
        ));
    }
    let from_end = view
        .and_then(|v| v.attr("BasePoint"))
        .is_some_and(|b| b.trim() == "End");
    let (start, end, last) = if from_end {
        let end = total.saturating_sub(offset);
        let start = end.saturating_sub(max);
        (start, end, start == 0)
    } else {
        let start = offset.min(total);
        let end = start.saturating_add(max).min(total);
        (start, end, end >= total)
    };
    Ok(Page {
        start,
        end,
        offset: offset.saturating_add(end - start),
        total,
        last,
    })
}

fn root_folder_attrs(p: &Page) -> [(String, String); 3] {
    [
        ("IndexedPagingOffset".into(), p.offset.to_string()),
        ("TotalItemsInView".into(), p.total.to_string()),
        (
            "IncludesLastItemInRange".into(),
            if p.last { "true" } else { "false" }.into(),
        ),
    ]
}

fn open_root_folder(out: &mut Out, p: &Page) {
    let attrs = root_folder_attrs(p);
    let attrs: Vec<(&str, &str)> = attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    out.start("m:RootFolder", &attrs);
}

fn get_folder(st: &State, acting: &Acting, req: &Element, out: &mut Out) -> Result<(), Fault> {
    let props = FolderProps::from_shape(req.child(MESSAGES_NS, "FolderShape"));
    let ids = required(req, "FolderIds")?;
    for id in &ids.children {
        let found = resolve_folder(st, acting, id).and_then(|loc| {
            folder_view(store(st, loc.store), loc.store, &loc.id).ok_or(ItemError::FOLDER_NOT_FOUND)
        });
        match found {
            Ok(view) => {
                success(out, "GetFolder");
                out.start("m:Folders", &[]);
                write_folder(out, &view, props);
                out.end("m:Folders");
                finish(out, "GetFolder");
            }
            Err(e) => error(out, "GetFolder", &e, Some("m:Folders")),
        }
    }
    Ok(())
}

/// Folder ids below `parent`: its children, or with `deep` every descendant (pre-order).
fn descendants(st: &State, loc: &FolderLoc, deep: bool) -> Vec<String> {
    let mb = store(st, loc.store);
    let mut out = Vec::new();
    let mut stack: Vec<String> = mb
        .children(&loc.id)
        .map(|f| f.id.clone())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    while let Some(id) = stack.pop() {
        if deep {
            let kids: Vec<String> = mb.children(&id).map(|f| f.id.clone()).collect();
            stack.extend(kids.into_iter().rev());
        }
        out.push(id);
    }
    out
}

fn find_folder(st: &State, acting: &Acting, req: &Element, out: &mut Out) -> Result<(), Fault> {
    let props = FolderProps::from_shape(req.child(MESSAGES_NS, "FolderShape"));
    let deep = match req.attr("Traversal").map(str::trim) {
        Some("Shallow") => false,
        Some("Deep") => true,
        Some("SoftDeleted") => false,
        _ => {
            return Err(Fault::schema(
                "The 'Traversal' attribute is invalid or missing (Shallow, Deep or SoftDeleted).",
            ));
        }
    };
    let soft_deleted = req.attr("Traversal").map(str::trim) == Some("SoftDeleted");
    let view = req.child(MESSAGES_NS, "IndexedPageFolderView");
    let parents = required(req, "ParentFolderIds")?;
    // Validate the view once, before anything is written.
    page(view, 0)?;
    for parent in &parents.children {
        let loc = match resolve_folder(st, acting, parent) {
            Ok(loc) => loc,
            Err(e) => {
                error(out, "FindFolder", &e, None);
                continue;
            }
        };
        // As in FindItem: saying restrictions are not evaluated beats ignoring them.
        if req.child(MESSAGES_NS, "Restriction").is_some() {
            error(out, "FindFolder", &UNSUPPORTED_FILTER, None);
            continue;
        }
        // Exchange does not walk public folders deeply.
        if deep && loc.store == Store::Public {
            error(out, "FindFolder", &ItemError::INVALID_OPERATION, None);
            continue;
        }
        let ids = if soft_deleted {
            Vec::new()
        } else {
            descendants(st, &loc, deep)
        };
        let p = page(view, ids.len())?;
        success(out, "FindFolder");
        open_root_folder(out, &p);
        out.start("t:Folders", &[]);
        let mb = store(st, loc.store);
        for id in &ids[p.start..p.end] {
            if let Some(v) = folder_view(mb, loc.store, id) {
                write_folder(out, &v, props);
            }
        }
        out.end("t:Folders");
        out.end("m:RootFolder");
        finish(out, "FindFolder");
    }
    Ok(())
}

fn create_folder(
    st: &mut State,
    acting: &Acting,
    req: &Element,
    out: &mut Out,
) -> Result<(), Fault> {
    let parent = required(req, "ParentFolderId")?;
    let folders = required(req, "Folders")?;
    let parent = parent
        .children
        .first()
        .ok_or_else(|| Fault::schema("ParentFolderId names no folder."))?;
    let mut names = Vec::new();
    for f in &folders.children {
        let name = f
            .child(TYPES_NS, "DisplayName")
            .map(|n| n.text().to_string())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Fault::schema("A folder to create has no DisplayName."))?;
        names.push(name);
    }
    let loc = resolve_folder(st, acting, parent);
    for name in names {
        let loc = match &loc {
            Ok(loc) => loc.clone(),
            Err(e) => {
                error(out, "CreateFolder", e, Some("m:Folders"));
                continue;
            }
        };
        let mut serial = st.serial;
        let created = store_mut(st, loc.store).create_folder(&loc.id, &name, false, &mut serial);
        st.serial = serial;
        match created {
            Ok(folder) => {
                success(out, "CreateFolder");
                out.start("m:Folders", &[]);
                out.start("t:Folder", &[]);
                write_folder_id(out, "t:FolderId", &folder.id);
                out.end("t:Folder");
                out.end("m:Folders");
                finish(out, "CreateFolder");
            }
            Err(_) => error(
                out,
                "CreateFolder",
                &ItemError::FOLDER_EXISTS,
                Some("m:Folders"),
            ),
        }
    }
    Ok(())
}

/// A value to sort messages by; a missing or unparseable one sorts first ascending.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Missing,
    Date(i64),
    Text(String),
}

fn sort_key(m: &StoredMessage, uri: &str) -> SortKey {
    let text = |key: &str| m.data.get(key).and_then(serde_json::Value::as_str);
    let date = |key: &str| {
        text(key)
            .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
            .map_or(SortKey::Missing, |d| SortKey::Date(d.timestamp_millis()))
    };
    match uri {
        "item:DateTimeReceived" => date("receivedDateTime"),
        "item:DateTimeSent" => date("sentDateTime"),
        "item:Subject" => {
            text("subject").map_or(SortKey::Missing, |s| SortKey::Text(s.to_lowercase()))
        }
        _ => SortKey::Missing,
    }
}

/// `m:SortOrder`'s field orders as (FieldURI, descending); newest received first without one.
fn sort_order(req: &Element) -> Result<Vec<(String, bool)>, Fault> {
    let Some(order) = req.child(MESSAGES_NS, "SortOrder") else {
        return Ok(vec![("item:DateTimeReceived".into(), true)]);
    };
    let mut fields = Vec::new();
    for f in &order.children {
        let descending = match f.attr("Order").map(str::trim) {
            Some("Ascending") => false,
            Some("Descending") => true,
            _ => {
                return Err(Fault::schema(
                    "The 'Order' attribute must be Ascending or Descending.",
                ));
            }
        };
        let uri = f
            .child(TYPES_NS, "FieldURI")
            .and_then(|u| u.attr("FieldURI"))
            .ok_or_else(|| Fault::schema("A FieldOrder names no FieldURI."))?;
        fields.push((uri.to_string(), descending));
    }
    Ok(fields)
}

fn find_item(st: &State, acting: &Acting, req: &Element, out: &mut Out) -> Result<(), Fault> {
    let props = ItemProps::from_shape(req.child(MESSAGES_NS, "ItemShape"), true);
    let traversal = req.attr("Traversal").map(str::trim);
    if !matches!(traversal, Some("Shallow" | "SoftDeleted" | "Associated")) {
        return Err(Fault::schema(
            "The 'Traversal' attribute is invalid or missing (Shallow, SoftDeleted or Associated).",
        ));
    }
    let view = req.child(MESSAGES_NS, "IndexedPageItemView");
    if req.child(MESSAGES_NS, "FractionalPageItemView").is_some()
        || req.child(MESSAGES_NS, "CalendarView").is_some()
        || req.child(MESSAGES_NS, "ContactsView").is_some()
    {
        return Err(Fault::invalid_request());
    }
    page(view, 0)?;
    let order = sort_order(req)?;
    let matching = req.child(MESSAGES_NS, "Restriction").map(equality);
    let parents = required(req, "ParentFolderIds")?;
    for parent in &parents.children {
        let loc = match resolve_folder(st, acting, parent) {
            Ok(loc) => loc,
            Err(e) => {
                error(out, "FindItem", &e, None);
                continue;
            }
        };
        if let Some(uri) = props.not_for_find() {
            // Exchange names the offending property in MessageXml.
            out.start("m:FindItemResponseMessage", &[("ResponseClass", "Error")]);
            out.leaf(
                "m:MessageText",
                "The property can't be used in FindItem requests.",
            );
            out.leaf("m:ResponseCode", "ErrorInvalidPropertyRequest");
            out.leaf("m:DescriptiveLinkKey", "0");
            out.start("m:MessageXml", &[]);
            out.empty("t:FieldURI", &[("FieldURI", uri)]);
            out.end("m:MessageXml");
            finish(out, "FindItem");
            continue;
        }
        // An unevaluated restriction is refused: saying so beats returning unfiltered items.
        let wanted = match &matching {
            Some(None) => {
                error(out, "FindItem", &UNSUPPORTED_FILTER, None);
                continue;
            }
            Some(Some(eq)) => Some(eq),
            None => None,
        };
        let mb = store(st, loc.store);
        let mut items: Vec<&StoredMessage> = if traversal == Some("Shallow") {
            mb.messages_in(&loc.id)
                .filter(|m| {
                    wanted.is_none_or(|(key, value)| {
                        m.data.get(*key).and_then(serde_json::Value::as_str) == Some(value.as_str())
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        items.sort_by(|a, b| {
            order
                .iter()
                .map(|(uri, desc)| {
                    let o = sort_key(a, uri).cmp(&sort_key(b, uri));
                    if *desc { o.reverse() } else { o }
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
                .then(a.serial.cmp(&b.serial))
        });
        let p = page(view, items.len())?;
        success(out, "FindItem");
        open_root_folder(out, &p);
        out.start("t:Items", &[]);
        for m in &items[p.start..p.end] {
            write_message(out, m, &props, &acting.outlook_base, true);
        }
        out.end("t:Items");
        out.end("m:RootFolder");
        finish(out, "FindItem");
    }
    Ok(())
}

/// `t:IsEqualTo` of `message:InternetMessageId` or `item:Subject` and a constant: the
/// message field and the value; `None` for any other restriction.
fn equality(restriction: &Element) -> Option<(&'static str, String)> {
    let eq = restriction.child(TYPES_NS, "IsEqualTo")?;
    if restriction.children.len() != 1 {
        return None;
    }
    let key = match eq.child(TYPES_NS, "FieldURI")?.attr("FieldURI")? {
        "message:InternetMessageId" => "internetMessageId",
        "item:Subject" => "subject",
        _ => return None,
    };
    let value = eq
        .path(TYPES_NS, &["FieldURIOrConstant", "Constant"])?
        .attr("Value")?;
    Some((key, value.to_string()))
}

/// `CreateItem` with `MessageDisposition="SaveOnly"`: messages saved, unsent, in the
/// folder named (Exchange marks them drafts).
fn create_item(st: &mut State, acting: &Acting, req: &Element, out: &mut Out) -> Result<(), Fault> {
    if req.attr("MessageDisposition").map(str::trim) != Some("SaveOnly") {
        return Err(Fault::invalid_request());
    }
    let folder = required(req, "SavedItemFolderId")?
        .children
        .first()
        .ok_or_else(|| Fault::schema("SavedItemFolderId names no folder."))?;
    let items = required(req, "Items")?;
    let loc = resolve_folder(st, acting, folder);
    for item in &items.children {
        let loc = match &loc {
            Ok(loc) => loc.clone(),
            Err(e) => {
                error(out, "CreateItem", e, Some("m:Items"));
                continue;
            }
        };
        let mut data = serde_json::Map::new();
        if let Some(subject) = item.child(TYPES_NS, "Subject") {
            data.insert("subject".into(), subject.text().into());
        }
        if let Some(body) = item.child(TYPES_NS, "Body") {
            let kind = if body.attr("BodyType") == Some("HTML") {
                "html"
            } else {
                "text"
            };
            data.insert(
                "body".into(),
                serde_json::json!({"contentType": kind, "content": body.text()}),
            );
        }
        data.insert("isDraft".into(), true.into());
        let mut serial = st.serial;
        let created = store_mut(st, loc.store).add_message(&loc.id, data, &mut serial);
        st.serial = serial;
        let mb = store(st, loc.store);
        match created.ok().and_then(|id| mb.find_message(&id)) {
            Some(i) => {
                success(out, "CreateItem");
                out.start("m:Items", &[]);
                out.start("t:Message", &[]);
                write_item_id(out, &mb.messages[i]);
                out.end("t:Message");
                out.end("m:Items");
                finish(out, "CreateItem");
            }
            None => error(
                out,
                "CreateItem",
                &ItemError::INVALID_OPERATION,
                Some("m:Items"),
            ),
        }
    }
    Ok(())
}

fn get_item(st: &State, acting: &Acting, req: &Element, out: &mut Out) -> Result<(), Fault> {
    let props = ItemProps::from_shape(req.child(MESSAGES_NS, "ItemShape"), false);
    let ids = required(req, "ItemIds")?;
    for id in &ids.children {
        match resolve_item(st, acting, id) {
            Ok((s, i)) => {
                success(out, "GetItem");
                out.start("m:Items", &[]);
                write_message(
                    out,
                    &store(st, s).messages[i],
                    &props,
                    &acting.outlook_base,
                    false,
                );
                out.end("m:Items");
                finish(out, "GetItem");
            }
            Err(e) => error(out, "GetItem", &e, Some("m:Items")),
        }
    }
    Ok(())
}

/// Moves or copies one message; the new message's (store, index).
fn transfer(
    st: &mut State,
    from: (Store, usize),
    dest: &FolderLoc,
    copy: bool,
) -> Result<(Store, usize), ItemError> {
    let limit = st.folder_item_limit;
    if store(st, dest.store).messages_in(&dest.id).count() >= limit {
        return Err(ItemError::QUOTA);
    }
    let (s, i) = from;
    if s == dest.store && !copy {
        store_mut(st, s).move_message(i, &dest.id);
        return Ok((s, i));
    }
    let data = store(st, s).messages[i].data.clone();
    if !copy {
        store_mut(st, s).remove_message(i);
    }
    let mut serial = st.serial;
    let target = store_mut(st, dest.store);
    let added = target.add_message(&dest.id, data, &mut serial);
    let index = target.messages.len().checked_sub(1);
    st.serial = serial;
    // The data came from a stored message, whose id was dropped, so adding cannot fail.
    match (added, index) {
        (Ok(_), Some(index)) => Ok((dest.store, index)),
        _ => Err(ItemError::ITEM_NOT_FOUND),
    }
}

/// MoveItem and CopyItem. Into a public folder neither returns the new item's id: Microsoft
/// documents that moves and copies to a public folder (another store) may come back without
/// one, and the emulator always does so, so clients must cope.
fn move_or_copy(
    st: &mut State,
    acting: &Acting,
    req: &Element,
    out: &mut Out,
    copy: bool,
) -> Result<(), Fault> {
    let op = if copy { "CopyItem" } else { "MoveItem" };
    let to = required(req, "ToFolderId")?;
    let ids = required(req, "ItemIds")?;
    let return_ids = req
        .attr("ReturnNewItemIds")
        .is_none_or(|v| v.trim() != "false" && v.trim() != "0");
    let to = to
        .children
        .first()
        .ok_or_else(|| Fault::schema("ToFolderId names no folder."))?;
    let dest = resolve_folder(st, acting, to);
    for id in &ids.children {
        let result = dest.clone().and_then(|dest| {
            let from = resolve_item(st, acting, id)?;
            transfer(st, from, &dest, copy).map(|new| (dest, new))
        });
        match result {
            Ok((dest, (s, i))) => {
                success(out, op);
                if return_ids && dest.store != Store::Public {
                    out.start("m:Items", &[]);
                    out.start("t:Message", &[]);
                    write_item_id(out, &store(st, s).messages[i]);
                    out.end("t:Message");
                    out.end("m:Items");
                } else {
                    out.empty("m:Items", &[]);
                }
                finish(out, op);
            }
            Err(e) => error(out, op, &e, Some("m:Items")),
        }
    }
    Ok(())
}

fn delete_item(st: &mut State, acting: &Acting, req: &Element, out: &mut Out) -> Result<(), Fault> {
    let kind = req.attr("DeleteType").map(str::trim);
    let to_deleted_items = match kind {
        Some("HardDelete" | "SoftDelete") => false,
        Some("MoveToDeletedItems") => true,
        _ => {
            return Err(Fault::schema(
                "The 'DeleteType' attribute is invalid or missing (HardDelete, SoftDelete or MoveToDeletedItems).",
            ));
        }
    };
    let ids = required(req, "ItemIds")?;
    for id in &ids.children {
        match resolve_item(st, acting, id) {
            Ok((s, i)) => {
                let mb = store_mut(st, s);
                // Public folders have no Deleted Items of their own; the item goes to the dumpster.
                if to_deleted_items && s != Store::Public {
                    mb.delete_message(i);
                } else {
                    mb.remove_message(i);
                }
                success(out, "DeleteItem");
                finish(out, "DeleteItem");
            }
            Err(e) => error(out, "DeleteItem", &e, None),
        }
    }
    Ok(())
}
