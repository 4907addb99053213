//! A Graph `message` as the job sees it, read defensively.
//!
//! Every field may be missing, null or of the wrong type; none of that may
//! stop the run. What cannot be read becomes `None` (or an entry in
//! `bad_addresses`) and the classification decides what that means.

use crate::address::Address;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The fields the job asks Graph for (`$select`).
pub const SELECT: &str = "id,internetMessageId,subject,sender,from,toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime,isDraft,webLink";

/// One Inbox message, parsed.
#[derive(Debug, Clone, Default)]
pub struct InboxMessage {
    /// Graph's id (immutable: the job asks for immutable ids).
    pub id: String,
    /// The RFC 5322 Message-ID, trimmed, if present and non-empty.
    pub internet_message_id: Option<String>,
    /// The subject; empty when missing.
    pub subject: String,
    /// `sender`, or `from` when `sender` is missing or unusable.
    pub sender: Option<Address>,
    /// To, Cc and Bcc recipients that parsed, in order, without repeats.
    pub recipients: Vec<Address>,
    /// Addresses that did not parse (kept for the report, never matched).
    pub bad_addresses: Vec<String>,
    /// Whether any To/Cc/Bcc entry was present at all, usable or not.
    pub had_recipient_entries: bool,
    /// `sentDateTime`.
    pub sent: Option<DateTime<Utc>>,
    /// `receivedDateTime`.
    pub received: Option<DateTime<Utc>>,
    /// `isDraft` (a missing flag counts as not a draft).
    pub is_draft: bool,
    /// `webLink`, if present.
    pub web_link: Option<String>,
}

/// Why a page item could not be read as a message at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// The item is not a JSON object.
    #[error("the message is not a JSON object")]
    NotAnObject,
    /// The item has no usable id, so it cannot be moved or referred to.
    #[error("the message has no id")]
    NoId,
}

impl InboxMessage {
    /// Reads one item of a Graph message page.
    pub fn from_json(value: &Value) -> Result<Self, MessageError> {
        let obj = value.as_object().ok_or(MessageError::NotAnObject)?;
        let id = obj
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or(MessageError::NoId)?
            .to_string();
        let mut msg = InboxMessage {
            id,
            internet_message_id: text(obj.get("internetMessageId")).map(str::to_string),
            subject: text(obj.get("subject")).unwrap_or_default().to_string(),
            sent: date(obj.get("sentDateTime")),
            received: date(obj.get("receivedDateTime")),
            is_draft: obj.get("isDraft").and_then(Value::as_bool).unwrap_or(false),
            web_link: text(obj.get("webLink")).map(str::to_string),
            ..Default::default()
        };
        // `from` is the mailbox the message was sent from, `sender` the person
        // who sent it; they differ for delegates. `sender` wins when usable.
        msg.sender = match party(obj.get("sender")) {
            Some(Ok(a)) => Some(a),
            other => {
                if let Some(Err(bad)) = other {
                    msg.bad_addresses.push(bad);
                }
                match party(obj.get("from")) {
                    Some(Ok(a)) => Some(a),
                    Some(Err(bad)) => {
                        msg.bad_addresses.push(bad);
                        None
                    }
                    None => None,
                }
            }
        };
        let mut known = std::collections::HashSet::new();
        for field in ["toRecipients", "ccRecipients", "bccRecipients"] {
            let Some(list) = obj.get(field).and_then(Value::as_array) else {
                continue;
            };
            for item in list {
                msg.had_recipient_entries = true;
                match party(Some(item)) {
                    Some(Ok(a)) => {
                        if known.insert(a.clone()) {
                            msg.recipients.push(a);
                        }
                    }
                    Some(Err(bad)) => msg.bad_addresses.push(bad),
                    None => msg.bad_addresses.push("(recipient without address)".into()),
                }
            }
        }
        Ok(msg)
    }

    /// The key that makes logging idempotent: the `internetMessageId`, or
    /// Graph's id for a message without one.
    pub fn dedup_key(&self) -> String {
        match &self.internet_message_id {
            Some(imid) => imid.clone(),
            None => format!("graph-id:{}", self.id),
        }
    }
}

/// A non-empty, trimmed string field.
fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn date(v: Option<&Value>) -> Option<DateTime<Utc>> {
    text(v)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// A `recipient` object (`{"emailAddress": {"address": ..}}`): `None` when
/// absent or null, `Err` with the offending text when unusable.
fn party(v: Option<&Value>) -> Option<Result<Address, String>> {
    let v = v.filter(|v| !v.is_null())?;
    let addr = v
        .get("emailAddress")
        .and_then(|e| e.get("address"))
        .and_then(Value::as_str);
    match addr {
        Some(a) => Some(Address::parse(a).map_err(|e| e.to_string())),
        None => Some(Err("(recipient without address)".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rcpt(a: &str) -> Value {
        json!({"emailAddress": {"name": "x", "address": a}})
    }

    #[test]
    fn reads_a_normal_message() {
        let m = InboxMessage::from_json(&json!({
            "id": "AAkALgAA1", "internetMessageId": " <a@b> ", "subject": "Hello",
            "sender": rcpt("Jim.Olive@cronus.example"), "from": rcpt("x@y.example"),
            "toRecipients": [rcpt("a@c.example"), rcpt("A@C.example ")], "ccRecipients": [rcpt("d@e.example")],
            "sentDateTime": "2026-11-02T09:00:00Z", "receivedDateTime": "2026-11-02T09:00:05+01:00",
            "isDraft": false, "webLink": "https://outlook.office365.com/owa/?ItemID=x"
        }))
        .unwrap();
        assert_eq!(m.internet_message_id.as_deref(), Some("<a@b>"));
        assert_eq!(m.sender.unwrap().as_str(), "jim.olive@cronus.example");
        assert_eq!(m.recipients.len(), 2, "duplicates across fields collapse");
        assert_eq!(
            m.received.unwrap().to_rfc3339(),
            "2026-11-02T08:00:05+00:00"
        );
    }

    #[test]
    fn null_sender_falls_back_to_from() {
        let m = InboxMessage::from_json(
            &json!({"id": "1", "sender": null, "from": rcpt("a@b.example")}),
        )
        .unwrap();
        assert_eq!(m.sender.unwrap().as_str(), "a@b.example");
    }

    #[test]
    fn malformed_fields_do_not_fail() {
        let m = InboxMessage::from_json(&json!({
            "id": "1", "subject": 42, "sender": "not an object", "toRecipients": "nope",
            "ccRecipients": [null, {"emailAddress": null}, rcpt("/o=Org/cn=X500"), rcpt("ok@fine.example")],
            "sentDateTime": "yesterday", "isDraft": "yes"
        }))
        .unwrap();
        assert_eq!(m.subject, "");
        assert!(m.sender.is_none());
        assert_eq!(m.recipients.len(), 1);
        assert_eq!(m.bad_addresses.len(), 4);
        assert!(m.sent.is_none());
        assert!(!m.is_draft);
    }

    #[test]
    fn needs_an_object_with_an_id() {
        assert_eq!(
            InboxMessage::from_json(&json!("x")).unwrap_err(),
            MessageError::NotAnObject
        );
        assert_eq!(
            InboxMessage::from_json(&json!({"id": " "})).unwrap_err(),
            MessageError::NoId
        );
    }

    #[test]
    fn dedup_key_falls_back_to_id() {
        let m = InboxMessage::from_json(&json!({"id": "X1"})).unwrap();
        assert_eq!(m.dedup_key(), "graph-id:X1");
    }
}
