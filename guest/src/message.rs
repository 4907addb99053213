//! A Graph `message` as the job sees it, read defensively.
//!
//! Every field may be missing, null or of the wrong type; none of that may
//! stop the run. What cannot be read becomes `None` (or an entry in
//! `bad_addresses`) and the classification decides what that means.

use crate::address::Address;
use chrono::{DateTime, Timelike as _, Utc};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

/// The fields the job asks Graph for (`$select`).
pub const SELECT: &str = "id,internetMessageId,subject,sender,from,toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime,isDraft,webLink";

/// The extended property the job asks Graph for (`$expand`): PR_SENSITIVITY,
/// which marks a message private or confidential. Graph gives MAPI properties
/// only when expanded by id.
pub const EXPAND: &str = "singleValueExtendedProperties($filter=id%20eq%20'Integer%200x36')";

/// Just enough of a message to move it and name it, for a message too large
/// to be read whole.
pub const SELECT_IDENTITY: &str = "id,internetMessageId";

/// Most distinct recipients a message may have to be logged. Exchange Online
/// allows 500 per message by default and 1,000 at most, Exchange Server 5,000
/// by default; a message past this is not correspondence with a contact, and
/// reading it would cost the run's memory and the ERP's lookups.
pub const MAX_RECIPIENTS: usize = 5_000;

/// Most bytes of JSON one message may take on a page. 5,000 recipients with
/// long display names fit in well under this; a message past it is
/// quarantined unread rather than parsed, because a parsed JSON tree takes
/// several times its text in memory.
pub const MAX_MESSAGE_BYTES: usize = 2 << 20;

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
    /// How the sender marked it.
    pub sensitivity: Sensitivity,
    /// The display names the message gave its parties' addresses (the first
    /// non-empty one per address).
    pub display_names: Vec<(Address, String)>,
}

/// How the sender marked a message (Outlook's Sensitivity, MAPI PR_SENSITIVITY).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sensitivity {
    /// Not marked (also when the mark is missing or unreadable, as Exchange defaults).
    #[default]
    Normal,
    /// Personal.
    Personal,
    /// Private: kept out of the ERP.
    Private,
    /// Confidential: kept out of the ERP.
    Confidential,
}

impl Sensitivity {
    /// Whether the message must not be logged (Business Central's EWS flow
    /// skipped these too).
    pub fn keeps_it_out(self) -> bool {
        matches!(self, Self::Private | Self::Confidential)
    }

    /// From PR_SENSITIVITY's value (0 normal, 1 personal, 2 private, 3 confidential).
    pub fn from_mapi(value: &str) -> Self {
        match value.trim() {
            "1" => Self::Personal,
            "2" => Self::Private,
            "3" => Self::Confidential,
            _ => Self::Normal,
        }
    }

    /// From Graph's `singleValueExtendedProperties`, where the expansion put
    /// PR_SENSITIVITY (`Integer 0x36`, written `0x0036` by some servers).
    fn of_graph(props: Option<&Value>) -> Self {
        let is_sensitivity = |id: &str| {
            id.split_once(' ').is_some_and(|(kind, tag)| {
                kind.eq_ignore_ascii_case("integer")
                    && tag
                        .strip_prefix("0x")
                        .or_else(|| tag.strip_prefix("0X"))
                        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                        == Some(0x36)
            })
        };
        props
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| {
                p.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(is_sensitivity)
            })
            .and_then(|p| p.get("value").and_then(Value::as_str))
            .map_or(Self::Normal, Self::from_mapi)
    }
}

/// Why a page item could not be read as a message at all.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// The item is not a JSON object.
    #[error("the message is not a JSON object")]
    NotAnObject,
    /// The item has no usable id, so it cannot be moved or referred to.
    #[error("the message has no id")]
    NoId,
    /// The message is too large to log (recipients or bytes past the limits).
    #[error("{0}")]
    TooLarge(String),
    /// The mail server cannot give the item (corrupt, of an unknown kind).
    #[error("the mail server cannot give the item: {0}")]
    Corrupt(String),
    /// The mail server could not give the item just now.
    #[error("the mail server could not give the item for now: {0}")]
    Unavailable(String),
}

impl MessageError {
    /// Whether the item can never be logged as it is (it goes to the
    /// quarantine folder when it has an id).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::TooLarge(_) | Self::Corrupt(_))
    }
}

/// A page item that cannot be logged as it is, with what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Its id, when it has one: then it can be moved to the quarantine folder.
    pub id: Option<String>,
    /// Its `internetMessageId`, when readable.
    pub internet_message_id: Option<String>,
    /// Why it cannot be logged.
    pub error: MessageError,
    /// Tells items without an id apart within a run (a digest of the item).
    pub fingerprint: String,
}

impl Unreadable {
    /// A message to quarantine: only its identity is known.
    pub fn identity(&self) -> Option<InboxMessage> {
        Some(InboxMessage {
            id: self.id.clone()?,
            internet_message_id: self.internet_message_id.clone(),
            ..Default::default()
        })
    }
}

/// The identity of an item, read without building the item's JSON tree.
#[derive(serde::Deserialize)]
struct Identity {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default, rename = "internetMessageId")]
    internet_message_id: Option<Value>,
}

impl Identity {
    fn of(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or(Identity {
            id: None,
            internet_message_id: None,
        })
    }
}

impl InboxMessage {
    /// Reads one item of a Graph message page from its JSON text, within the
    /// size limits: a message past them comes back as [`MessageError::TooLarge`]
    /// with its identity, so it can be quarantined, and costs no more memory
    /// than its text.
    pub fn from_raw(raw: &RawValue) -> Result<Self, Unreadable> {
        let text = raw.get();
        let unreadable = |error: MessageError| {
            let identity = Identity::of(text);
            let string = |v: Option<Value>| {
                v.as_ref()
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            Unreadable {
                id: string(identity.id),
                internet_message_id: string(identity.internet_message_id),
                error,
                fingerprint: format!("{:x}", Sha256::digest(text.as_bytes())),
            }
        };
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(unreadable(MessageError::TooLarge(format!(
                "the message takes {} KiB, more than the {} KiB a message may take to be logged (its recipient lists are far longer than Exchange allows)",
                text.len() / 1024,
                MAX_MESSAGE_BYTES / 1024
            ))));
        }
        let msg = match wire::read(text) {
            Some(read) => read,
            // Anything the quick reader does not take as it is (duplicate
            // keys, an item that is no object) is read as a JSON tree, so
            // both readers agree on every message.
            None => serde_json::from_str::<Value>(text)
                .map_err(|_| MessageError::NotAnObject)
                .and_then(|value| Self::from_json(&value)),
        }
        .map_err(&unreadable)?;
        msg.check_recipients().map_err(unreadable)?;
        Ok(msg)
    }

    /// Refuses a message with more recipients than [`MAX_RECIPIENTS`].
    pub fn check_recipients(&self) -> Result<(), MessageError> {
        let recipients = self.recipients.len() + self.bad_addresses.len();
        if recipients > MAX_RECIPIENTS {
            return Err(MessageError::TooLarge(format!(
                "the message has {recipients} recipients, more than the {MAX_RECIPIENTS} a message may have to be logged"
            )));
        }
        Ok(())
    }

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
            sensitivity: Sensitivity::of_graph(obj.get("singleValueExtendedProperties")),
            ..Default::default()
        };
        let mut recipients = Vec::new();
        for field in ["toRecipients", "ccRecipients", "bccRecipients"] {
            if let Some(list) = obj.get(field).and_then(Value::as_array) {
                recipients.extend(
                    list.iter()
                        .map(|item| party(Some(item)).unwrap_or_else(|| Err(NO_ADDRESS.into()))),
                );
            }
        }
        msg.set_parties(party(obj.get("sender")), party(obj.get("from")), recipients);
        Ok(msg)
    }

    /// Fills the sender and the recipients from what a store read, the same
    /// way for every store: `sender` (the person who sent it) wins over `from`
    /// (the mailbox it was sent from; they differ for delegates) when usable;
    /// recipients keep their order without repeats; whatever cannot be used is
    /// kept in `bad_addresses` for the report, never matched.
    pub fn set_parties(
        &mut self,
        sender: RawParty,
        from: RawParty,
        recipients: impl IntoIterator<Item = Result<Named, String>>,
    ) {
        let mut names: Vec<(Address, String)> = Vec::new();
        let mut keep = |n: Named| {
            if let Some(name) = n.name
                && !names.iter().any(|(a, _)| *a == n.address)
            {
                names.push((n.address.clone(), name));
            }
            n.address
        };
        let mut bad = Vec::new();
        let mut usable = |p: RawParty| match p {
            Some(Ok(n)) => Some(n),
            Some(Err(b)) => {
                bad.push(b);
                None
            }
            None => None,
        };
        let sender = usable(sender).or_else(|| usable(from));
        self.sender = sender.map(&mut keep);
        let mut known = std::collections::HashSet::new();
        for r in recipients {
            self.had_recipient_entries = true;
            match r {
                Ok(n) => {
                    let a = keep(n);
                    if known.insert(a.clone()) {
                        self.recipients.push(a);
                    }
                }
                Err(b) => bad.push(b),
            }
        }
        self.bad_addresses.extend(bad);
        self.display_names = names;
    }

    /// The display name the message gave this address, if any.
    pub fn display_name(&self, a: &Address) -> Option<&str> {
        self.display_names
            .iter()
            .find(|(x, _)| x == a)
            .map(|(_, n)| n.as_str())
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

/// Graph's message JSON read straight into an [`InboxMessage`], without
/// building a JSON tree: a tree costs an allocation per field, and reading
/// the page was most of the component's time per message.
mod wire {
    use super::{InboxMessage, MessageError, NO_ADDRESS, Named, RawParty, Sensitivity};
    use serde::Deserialize;
    use serde_json::Value;
    use serde_json::value::RawValue;

    /// The fields the job reads, each kept as its JSON text.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Message<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
        #[serde(borrow)]
        internet_message_id: Option<&'a RawValue>,
        #[serde(borrow)]
        subject: Option<&'a RawValue>,
        #[serde(borrow)]
        sender: Option<&'a RawValue>,
        #[serde(borrow)]
        from: Option<&'a RawValue>,
        #[serde(borrow)]
        to_recipients: Option<&'a RawValue>,
        #[serde(borrow)]
        cc_recipients: Option<&'a RawValue>,
        #[serde(borrow)]
        bcc_recipients: Option<&'a RawValue>,
        #[serde(borrow)]
        sent_date_time: Option<&'a RawValue>,
        #[serde(borrow)]
        received_date_time: Option<&'a RawValue>,
        #[serde(borrow)]
        is_draft: Option<&'a RawValue>,
        #[serde(borrow)]
        web_link: Option<&'a RawValue>,
        #[serde(borrow)]
        single_value_extended_properties: Option<&'a RawValue>,
    }

    /// A recipient object; `emailAddress` kept as its text.
    #[derive(Deserialize)]
    struct Recipient<'a> {
        #[serde(borrow, rename = "emailAddress")]
        email_address: Option<&'a RawValue>,
    }

    /// An `emailAddress` object.
    #[derive(Deserialize)]
    struct EmailAddress<'a> {
        #[serde(borrow)]
        address: Option<&'a RawValue>,
        #[serde(borrow)]
        name: Option<&'a RawValue>,
    }

    /// A JSON object's text can only be read as a struct here when it is an
    /// object: serde would also take an array, field by position.
    fn is_object(text: &str) -> bool {
        text.trim_start().starts_with('{')
    }

    /// The message as [`InboxMessage::from_json`] reads it, or `None` when
    /// only the tree reader can say (then it decides).
    pub(super) fn read(text: &str) -> Option<Result<InboxMessage, MessageError>> {
        if !is_object(text) {
            return None;
        }
        let m: Message<'_> = serde_json::from_str(text).ok()?;
        let Some(id) = string(m.id).filter(|s| !s.trim().is_empty()) else {
            return Some(Err(MessageError::NoId));
        };
        let mut msg = InboxMessage {
            id,
            internet_message_id: trimmed(m.internet_message_id),
            subject: trimmed(m.subject).unwrap_or_default(),
            sent: trimmed(m.sent_date_time).and_then(|d| super::parse_date(&d)),
            received: trimmed(m.received_date_time).and_then(|d| super::parse_date(&d)),
            is_draft: m
                .is_draft
                .and_then(|v| serde_json::from_str::<bool>(v.get()).ok())
                .unwrap_or(false),
            web_link: trimmed(m.web_link),
            // A handful of bytes, when present at all: the tree reader's rule.
            sensitivity: Sensitivity::of_graph(
                m.single_value_extended_properties
                    .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
                    .as_ref(),
            ),
            ..Default::default()
        };
        let mut recipients = Vec::new();
        for list in [m.to_recipients, m.cc_recipients, m.bcc_recipients] {
            if let Some(items) =
                list.and_then(|l| serde_json::from_str::<Vec<&RawValue>>(l.get()).ok())
            {
                recipients.extend(
                    items
                        .into_iter()
                        .map(|item| party(Some(item)).unwrap_or_else(|| Err(NO_ADDRESS.into()))),
                );
            }
        }
        msg.set_parties(party(m.sender), party(m.from), recipients);
        Some(Ok(msg))
    }

    /// A JSON string's value.
    fn string(v: Option<&RawValue>) -> Option<String> {
        serde_json::from_str::<String>(v?.get()).ok()
    }

    /// A non-empty, trimmed string field.
    fn trimmed(v: Option<&RawValue>) -> Option<String> {
        let s = string(v)?;
        let t = s.trim();
        if t.is_empty() {
            None
        } else if t.len() == s.len() {
            Some(s)
        } else {
            Some(t.to_string())
        }
    }

    /// A recipient as [`super::party`] reads it (absent or null: `None`).
    fn party(v: Option<&RawValue>) -> RawParty {
        let text = v?.get();
        if text == "null" {
            return None;
        }
        let tree = || {
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            super::party(Some(&v)).unwrap_or_else(|| Err(NO_ADDRESS.into()))
        };
        if !is_object(text) {
            return Some(tree());
        }
        let Ok(r) = serde_json::from_str::<Recipient<'_>>(text) else {
            return Some(tree());
        };
        let Some(email) = r.email_address.map(RawValue::get) else {
            return Some(Err(NO_ADDRESS.into()));
        };
        if !is_object(email) {
            return Some(Err(NO_ADDRESS.into()));
        }
        let Ok(e) = serde_json::from_str::<EmailAddress<'_>>(email) else {
            return Some(tree());
        };
        Some(match string(e.address) {
            Some(a) => Named::parse(&a, string(e.name).as_deref()),
            None => Err(NO_ADDRESS.into()),
        })
    }
}

/// A non-empty, trimmed string field.
fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// An RFC 3339 date in UTC. A leap second (`23:59:60`) is read as the
/// second before it: no ERP stores a 61st second.
fn date(v: Option<&Value>) -> Option<DateTime<Utc>> {
    text(v).and_then(parse_date)
}

/// An RFC 3339 date (Graph's and EWS's `xs:dateTime`) in UTC, a leap second
/// read as the second before it.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let d = DateTime::parse_from_rfc3339(s.trim()).ok()?;
    let d = d.with_timezone(&Utc);
    d.with_nanosecond(d.nanosecond() % 1_000_000_000)
}

/// An address field as a store read it: `None` when absent, `Err` with the
/// offending text when unusable.
pub type RawParty = Option<Result<Named, String>>;

/// An address and the display name the message gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The address.
    pub address: Address,
    /// The display name, trimmed, if it had a non-empty one.
    pub name: Option<String>,
}

impl Named {
    /// A parsed address with the name the message gave it.
    pub fn parse(address: &str, name: Option<&str>) -> Result<Self, String> {
        Ok(Self {
            address: Address::parse(address).map_err(|e| e.to_string())?,
            name: name
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        })
    }
}

/// What an address field without an address is reported as.
pub const NO_ADDRESS: &str = "(recipient without address)";

/// A `recipient` object (`{"emailAddress": {"address": ..}}`): `None` when
/// absent or null, `Err` with the offending text when unusable.
fn party(v: Option<&Value>) -> RawParty {
    let v = v.filter(|v| !v.is_null())?;
    let email = v.get("emailAddress");
    let addr = email.and_then(|e| e.get("address")).and_then(Value::as_str);
    let name = email.and_then(|e| e.get("name")).and_then(Value::as_str);
    match addr {
        Some(a) => Some(Named::parse(a, name)),
        None => Some(Err(NO_ADDRESS.into())),
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
    fn private_and_confidential_marks_are_read_from_the_expanded_property() {
        let with = |props: Value| {
            let mut m = json!({"id": "m1", "subject": "s"});
            m["singleValueExtendedProperties"] = props;
            InboxMessage::from_json(&m).unwrap().sensitivity
        };
        let prop = |id: &str, value: Value| json!([{"id": id, "value": value}]);
        assert_eq!(with(prop("Integer 0x36", json!("2"))), Sensitivity::Private);
        assert_eq!(
            with(prop("integer 0x0036", json!("3"))),
            Sensitivity::Confidential
        );
        assert_eq!(
            with(prop("Integer 0x36", json!("1"))),
            Sensitivity::Personal
        );
        assert_eq!(with(prop("Integer 0x36", json!("0"))), Sensitivity::Normal);
        // Another property, a wrong type or garbage is no mark at all.
        assert_eq!(with(prop("Integer 0x37", json!("2"))), Sensitivity::Normal);
        assert_eq!(with(prop("Integer 0x36", json!(2))), Sensitivity::Normal);
        assert_eq!(with(json!("private")), Sensitivity::Normal);
        assert_eq!(with(json!([{"value": "2"}, 7, null])), Sensitivity::Normal);
        assert!(Sensitivity::Private.keeps_it_out() && Sensitivity::Confidential.keeps_it_out());
        assert!(!Sensitivity::Personal.keeps_it_out());
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
    fn a_leap_second_is_the_second_before() {
        let m =
            InboxMessage::from_json(&json!({"id": "1", "sentDateTime": "2026-12-31T23:59:60Z"}))
                .unwrap();
        assert_eq!(
            m.sent
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "2026-12-31T23:59:59Z"
        );
    }

    fn raw(v: &Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    #[test]
    fn too_many_recipients_is_too_large_with_its_identity() {
        let to: Vec<Value> = (0..MAX_RECIPIENTS + 1)
            .map(|i| rcpt(&format!("p{i}@x.example")))
            .collect();
        let e = InboxMessage::from_raw(&raw(
            &json!({"id": "big", "internetMessageId": "<b@x>", "toRecipients": to}),
        ))
        .unwrap_err();
        assert_eq!(e.id.as_deref(), Some("big"));
        assert_eq!(e.internet_message_id.as_deref(), Some("<b@x>"));
        assert!(
            matches!(&e.error, MessageError::TooLarge(m) if m.contains("5001 recipients")),
            "{e:?}"
        );
        let ok: Vec<Value> = (0..MAX_RECIPIENTS)
            .map(|i| rcpt(&format!("p{i}@x.example")))
            .collect();
        assert!(InboxMessage::from_raw(&raw(&json!({"id": "fits", "toRecipients": ok}))).is_ok());
    }

    #[test]
    fn a_huge_item_is_not_parsed_but_keeps_its_identity() {
        let e = InboxMessage::from_raw(&raw(&json!({
            "id": "huge", "subject": "x".repeat(MAX_MESSAGE_BYTES)
        })))
        .unwrap_err();
        assert_eq!(e.id.as_deref(), Some("huge"));
        assert!(matches!(e.error, MessageError::TooLarge(_)));
        assert!(e.identity().is_some());
        let no_id = InboxMessage::from_raw(&raw(&json!([1, 2]))).unwrap_err();
        assert_eq!(no_id.id, None);
        assert_eq!(no_id.error, MessageError::NotAnObject);
        assert!(no_id.identity().is_none());
    }

    #[test]
    fn display_names_are_kept_per_address_by_both_readers() {
        let v = json!({
            "id": "M",
            "sender": {"emailAddress": {"name": " Jim Olive ", "address": "Jim@Cronus.example"}},
            "toRecipients": [
                {"emailAddress": {"name": "", "address": "a@x.example"}},
                {"emailAddress": {"name": "Ann", "address": "b@x.example"}},
                {"emailAddress": {"name": "Other name", "address": "B@x.example"}},
            ],
        });
        let quick = InboxMessage::from_raw(&raw(&v)).unwrap();
        let tree = InboxMessage::from_json(&v).unwrap();
        assert_eq!(quick.display_names, tree.display_names);
        let name = |a: &str| {
            quick
                .display_name(&Address::parse(a).unwrap())
                .map(str::to_string)
        };
        assert_eq!(name("jim@cronus.example").as_deref(), Some("Jim Olive"));
        assert_eq!(name("a@x.example"), None, "an empty name is none");
        assert_eq!(name("b@x.example").as_deref(), Some("Ann"), "the first one");
    }

    #[test]
    fn dedup_key_falls_back_to_id() {
        let m = InboxMessage::from_json(&json!({"id": "X1"})).unwrap();
        assert_eq!(m.dedup_key(), "graph-id:X1");
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;
    use serde_json::json;

    /// The quick reader and the tree reader agree on every shape of message,
    /// well-formed or not, or the quick one steps aside.
    #[test]
    fn the_quick_reader_reads_as_the_tree_reader() {
        let r = |a: Value| json!({"emailAddress": {"name": "n", "address": a}});
        let texts = [
            json!({"id": "m1", "internetMessageId": " <a@b> ", "subject": "  Hi  ",
                   "sender": r(json!("Jim.Olive@Cronus.example ")), "from": r(json!("x@y.example")),
                   "toRecipients": [r(json!("a@c.example")), r(json!("A@C.example")), null, 7, [], {}],
                   "ccRecipients": [{"emailAddress": null}, {"emailAddress": []}, {"emailAddress": {"address": 5}}],
                   "bccRecipients": "nobody",
                   "sentDateTime": " 2026-11-02T09:00:00Z", "receivedDateTime": "2026-12-31T23:59:60Z",
                   "isDraft": "yes", "webLink": "  ",
                   "singleValueExtendedProperties": [{"id": "Integer 0x36", "value": "3"}]})
            .to_string(),
            json!({"id": "  "}).to_string(),
            json!({"id": 5, "subject": "x"}).to_string(),
            json!({"id": "m2", "sender": null, "from": r(json!("not an address")), "isDraft": true,
                   "toRecipients": [r(json!("b@c.example"))], "subject": "Caf\u{e9} \u{1F600}"})
            .to_string(),
            r#"{"id":"m3","subject":"a\"b\\c\u0000","toRecipients":[{"emailAddress":{"address":"a@b.example","address":"c@d.example"}}]}"#.into(),
            r#"{"id":"m4","id":"m5"}"#.into(),
            r#"["id","m6"]"#.into(),
            r#"{"id":"m7","sender":["a@b.example"],"from":{"emailAddress":{"address":"f@g.example"}}}"#.into(),
            "null".into(),
        ];
        for (n, text) in texts.into_iter().enumerate() {
            if n < 4 {
                assert!(wire::read(&text).is_some(), "read quickly: {text}");
            }
            let tree = serde_json::from_str::<Value>(&text)
                .map_err(|_| MessageError::NotAnObject)
                .and_then(|v| InboxMessage::from_json(&v));
            if let Some(quick) = wire::read(&text) {
                assert_eq!(format!("{quick:?}"), format!("{tree:?}"), "{text}");
            }
            let raw = RawValue::from_string(text.clone()).unwrap();
            assert_eq!(
                format!("{:?}", InboxMessage::from_raw(&raw).map_err(|u| u.error)),
                format!("{tree:?}"),
                "{text}"
            );
        }
    }
}
