//! How messages are written as `t:Message`: which properties a shape asks for, in the order
//! of the EWS schema, from the Graph message objects the emulator stores.

use serde_json::{Map, Value};

use crate::ews_store::{additional, write_folder_id, write_item_id};
use crate::ews_xml::{Element, Out, TYPES_NS};
use crate::mailbox::StoredMessage;

/// The message properties an answer includes.
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemProps {
    uris: Vec<&'static str>,
}

/// Every message property the emulator knows, in the order of the EWS schema.
const ITEM_URIS: &[&str] = &[
    "item:ParentFolderId",
    "item:ItemClass",
    "item:Subject",
    "item:Sensitivity",
    "item:Body",
    "item:DateTimeReceived",
    "item:Size",
    "item:IsDraft",
    "item:DateTimeSent",
    "item:HasAttachments",
    "extended:0x36",
    "item:WebClientReadFormQueryString",
    "message:Sender",
    "message:ToRecipients",
    "message:CcRecipients",
    "message:BccRecipients",
    "message:From",
    "message:InternetMessageId",
    "message:IsRead",
];

/// Default shape of FindItem (no recipient lists or body, as in Exchange).
const FIND_DEFAULT: &[&str] = &[
    "item:ParentFolderId",
    "item:ItemClass",
    "item:Subject",
    "item:Sensitivity",
    "item:DateTimeReceived",
    "item:Size",
    "item:IsDraft",
    "item:DateTimeSent",
    "item:HasAttachments",
    "message:Sender",
    "message:From",
    "message:InternetMessageId",
    "message:IsRead",
];

/// Properties FindItem cannot return (Exchange answers `ErrorInvalidPropertyRequest`).
pub(crate) const NOT_IN_FIND: &[&str] = &[
    "item:Body",
    "message:ToRecipients",
    "message:CcRecipients",
    "message:BccRecipients",
];

impl ItemProps {
    /// From an `m:ItemShape`; `find` picks FindItem's default shape. Unknown properties are
    /// left out of the answer rather than refused, as Exchange does for properties an item
    /// does not have.
    pub fn from_shape(shape: Option<&Element>, find: bool) -> ItemProps {
        let base = shape
            .and_then(|s| s.child(TYPES_NS, "BaseShape"))
            .map(Element::text)
            .unwrap_or("Default");
        let mut wanted: Vec<&'static str> = match base {
            "IdOnly" => Vec::new(),
            "AllProperties" => ITEM_URIS
                .iter()
                .copied()
                .filter(|u| !(find && NOT_IN_FIND.contains(u)) && *u != "extended:0x36")
                .collect(),
            _ if find => FIND_DEFAULT.to_vec(),
            _ => ITEM_URIS
                .iter()
                .copied()
                .filter(|u| *u != "extended:0x36" && *u != "message:BccRecipients")
                .collect(),
        };
        for uri in additional(shape) {
            if let Some(known) = ITEM_URIS.iter().find(|u| **u == uri)
                && !wanted.contains(known)
            {
                wanted.push(known);
            }
        }
        ItemProps { uris: wanted }
    }

    /// The requested properties FindItem cannot return.
    pub fn not_for_find(&self) -> Option<&'static str> {
        self.uris.iter().copied().find(|u| NOT_IN_FIND.contains(u))
    }

    fn has(&self, uri: &str) -> bool {
        self.uris.contains(&uri)
    }
}

fn text_at<'a>(data: &'a Map<String, Value>, path: &str) -> Option<&'a str> {
    crate::odata::lookup(data, path).and_then(Value::as_str)
}

/// EWS dates are UTC with a `Z`; a missing or unparseable Graph date is left out.
fn ews_date(data: &Map<String, Value>, key: &str) -> Option<String> {
    let raw = text_at(data, key)?;
    let parsed = chrono::DateTime::parse_from_rfc3339(raw).ok()?;
    Some(
        parsed
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    )
}

/// The MAPI sensitivity (PR_SENSITIVITY, 0x36) Graph keeps as an extended property.
pub(crate) fn sensitivity(data: &Map<String, Value>) -> u8 {
    let from_property = data
        .get("singleValueExtendedProperties")
        .and_then(Value::as_array)
        .and_then(|props| {
            props.iter().find_map(|p| {
                let id = p.get("id")?.as_str()?;
                let is_0x36 = id
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .as_slice()
                    .last()
                    .is_some_and(|tag| tag.eq_ignore_ascii_case("0x36") || *tag == "0x0036");
                if !is_0x36 {
                    return None;
                }
                match p.get("value")? {
                    Value::String(s) => s.trim().parse::<u8>().ok(),
                    Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
                    _ => None,
                }
            })
        });
    from_property.filter(|v| *v <= 3).unwrap_or(0)
}

fn sensitivity_name(v: u8) -> &'static str {
    match v {
        1 => "Personal",
        2 => "Private",
        3 => "Confidential",
        _ => "Normal",
    }
}

/// One `t:Mailbox`. FindItem gives only the display name (the address when there is none):
/// Microsoft documents that it leaves EmailAddress and RoutingType out, so a client that needs
/// the address must use GetItem.
fn write_mailbox(out: &mut Out, v: &Value, name_only: bool) -> bool {
    let Some(address) = v
        .get("emailAddress")
        .and_then(|e| e.get("address"))
        .and_then(Value::as_str)
    else {
        return false;
    };
    let name = v
        .get("emailAddress")
        .and_then(|e| e.get("name"))
        .and_then(Value::as_str);
    out.start("t:Mailbox", &[]);
    if name_only {
        out.leaf("t:Name", name.unwrap_or(address));
        out.end("t:Mailbox");
        return true;
    }
    if let Some(name) = name {
        out.leaf("t:Name", name);
    }
    out.leaf("t:EmailAddress", address);
    out.leaf("t:RoutingType", "SMTP");
    out.leaf("t:MailboxType", "OneOff");
    out.end("t:Mailbox");
    true
}

fn write_single(out: &mut Out, tag: &str, v: Option<&Value>, name_only: bool) {
    let Some(v) = v.filter(|v| v.get("emailAddress").is_some()) else {
        return;
    };
    if v.get("emailAddress")
        .and_then(|e| e.get("address"))
        .and_then(Value::as_str)
        .is_none()
    {
        return;
    }
    out.start(tag, &[]);
    write_mailbox(out, v, name_only);
    out.end(tag);
}

fn write_list(out: &mut Out, tag: &str, v: Option<&Value>) {
    let list: Vec<&Value> = v
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|r| {
                    r.get("emailAddress")
                        .and_then(|e| e.get("address"))
                        .and_then(Value::as_str)
                        .is_some()
                })
                .collect()
        })
        .unwrap_or_default();
    // Exchange leaves an empty recipient list out altogether.
    if list.is_empty() {
        return;
    }
    out.start(tag, &[]);
    for r in list {
        write_mailbox(out, r, false);
    }
    out.end(tag);
}

/// Writes a message as `t:Message` with the requested properties, in schema order; `find`
/// writes it as FindItem does (mailboxes by name only).
pub(crate) fn write_message(
    out: &mut Out,
    m: &StoredMessage,
    p: &ItemProps,
    outlook_base: &str,
    find: bool,
) {
    let d = &m.data;
    out.start("t:Message", &[]);
    write_item_id(out, m);
    for uri in ITEM_URIS {
        if !p.has(uri) {
            continue;
        }
        match *uri {
            "item:ParentFolderId" => write_folder_id(out, "t:ParentFolderId", &m.folder_id),
            "item:ItemClass" => {
                out.leaf("t:ItemClass", "IPM.Note");
            }
            "item:Subject" => {
                if let Some(s) = text_at(d, "subject") {
                    out.leaf("t:Subject", s);
                }
            }
            "item:Sensitivity" => {
                out.leaf("t:Sensitivity", sensitivity_name(sensitivity(d)));
            }
            "item:Body" => {
                let content = text_at(d, "body/content").or_else(|| text_at(d, "bodyPreview"));
                let html =
                    text_at(d, "body/contentType").is_some_and(|t| t.eq_ignore_ascii_case("html"));
                let kind = if html { "HTML" } else { "Text" };
                out.leaf_with("t:Body", &[("BodyType", kind)], content.unwrap_or(""));
            }
            "item:DateTimeReceived" => {
                if let Some(v) = ews_date(d, "receivedDateTime") {
                    out.leaf("t:DateTimeReceived", &v);
                }
            }
            "item:Size" => {
                let size = serde_json::to_string(d).map_or(0, |s| s.len());
                out.leaf("t:Size", &size.to_string());
            }
            "item:IsDraft" => {
                let draft = d.get("isDraft").and_then(Value::as_bool).unwrap_or(false);
                out.leaf("t:IsDraft", if draft { "true" } else { "false" });
            }
            "item:DateTimeSent" => {
                if let Some(v) = ews_date(d, "sentDateTime") {
                    out.leaf("t:DateTimeSent", &v);
                }
            }
            "item:HasAttachments" => {
                let has = d
                    .get("hasAttachments")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                out.leaf("t:HasAttachments", if has { "true" } else { "false" });
            }
            "extended:0x36" => {
                out.start("t:ExtendedProperty", &[]);
                out.empty(
                    "t:ExtendedFieldURI",
                    &[("PropertyTag", "0x36"), ("PropertyType", "Integer")],
                );
                out.leaf("t:Value", &sensitivity(d).to_string());
                out.end("t:ExtendedProperty");
            }
            "item:WebClientReadFormQueryString" => {
                out.leaf("t:WebClientReadFormQueryString", &m.web_link(outlook_base));
            }
            "message:Sender" => write_single(out, "t:Sender", d.get("sender"), find),
            "message:ToRecipients" => write_list(out, "t:ToRecipients", d.get("toRecipients")),
            "message:CcRecipients" => write_list(out, "t:CcRecipients", d.get("ccRecipients")),
            "message:BccRecipients" => {
                write_list(out, "t:BccRecipients", d.get("bccRecipients"));
            }
            "message:From" => write_single(out, "t:From", d.get("from"), find),
            "message:InternetMessageId" => {
                if let Some(v) = text_at(d, "internetMessageId") {
                    out.leaf("t:InternetMessageId", v);
                }
            }
            "message:IsRead" => {
                let read = d.get("isRead").and_then(Value::as_bool).unwrap_or(false);
                out.leaf("t:IsRead", if read { "true" } else { "false" });
            }
            _ => {}
        }
    }
    out.end("t:Message");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::sensitivity;

    #[test]
    fn sensitivity_comes_from_mapi_property_0x36() {
        let with = |props: serde_json::Value| {
            let mut m = serde_json::Map::new();
            m.insert("singleValueExtendedProperties".into(), props);
            sensitivity(&m)
        };
        assert_eq!(with(json!([{"id": "Integer 0x36", "value": "2"}])), 2);
        assert_eq!(with(json!([{"id": "integer 0x0036", "value": 3}])), 3);
        assert_eq!(with(json!([{"id": "String 0x37", "value": "2"}])), 0);
        // Malformed or out-of-range values read as Normal, as a missing property does.
        assert_eq!(with(json!([{"id": "Integer 0x36", "value": "9"}])), 0);
        assert_eq!(with(json!([{"id": "Integer 0x36", "value": "x"}])), 0);
        assert_eq!(with(json!("nonsense")), 0);
        assert_eq!(sensitivity(&serde_json::Map::new()), 0);
    }
}
