//! The processing rules: who talked to whom (SPEC §3).
//!
//! Pure functions over a parsed message and the ERP's answer for its
//! addresses, so every rule is unit-tested without a host.

use crate::address::Address;
use crate::message::InboxMessage;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A salesperson known to the ERP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salesperson {
    /// The salesperson code.
    pub code: String,
}

/// A contact known to the ERP and how its address matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMatch {
    /// The contact number.
    pub contact_no: String,
    /// The contact's company, if any.
    pub company_no: Option<String>,
    /// The alternative address code, when the match was on one.
    pub alt_address_code: Option<String>,
}

/// What the ERP knows about one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    /// The salesperson with this address.
    pub salesperson: Option<Salesperson>,
    /// Contacts with this address, best match first.
    pub contacts: Vec<ContactMatch>,
}

/// The ERP's answer for a set of addresses.
pub type Directory = HashMap<Address, Party>;

/// Inbound or outbound, from the ERP's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A contact wrote to salespeople; initiated by them.
    Inbound,
    /// A salesperson wrote to contacts; initiated by us.
    Outbound,
}

/// One salesperson–contact pair to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The salesperson code.
    pub salesperson_code: String,
    /// The contact.
    pub contact: ContactMatch,
}

/// Why a message is not logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotLoggedReason {
    /// A draft, not a sent message.
    Draft,
    /// Marked private or confidential by its sender.
    Sensitive,
    /// No usable sender or from address.
    NoSender,
    /// No usable To, Cc or Bcc address.
    NoRecipients,
    /// Only salespeople took part.
    InternalOnly,
    /// A salesperson wrote only to addresses that are no contacts.
    NoContact,
    /// A contact wrote, but to no salesperson.
    ExternalOnly,
    /// The sender is neither a salesperson nor a contact.
    UnknownSender,
    /// The ERP's `decide` extension point skipped it, for its own reason.
    SkippedByErp,
}

impl NotLoggedReason {
    /// The stable name used in reports and the activity log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Sensitive => "sensitive",
            Self::NoSender => "no-sender",
            Self::NoRecipients => "no-recipients",
            Self::InternalOnly => "internal-only",
            Self::NoContact => "no-contact-among-recipients",
            Self::ExternalOnly => "external-only",
            Self::UnknownSender => "unknown-sender",
            Self::SkippedByErp => "skipped-by-erp",
        }
    }
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// Log one entry per pair.
    Log {
        /// Inbound or outbound.
        flow: Flow,
        /// Sent (outbound) or received (inbound) time, with the other as fallback.
        datetime: Option<DateTime<Utc>>,
        /// The pairs, one per distinct contact (outbound) or salesperson (inbound).
        pairs: Vec<Pair>,
    },
    /// Do not log, for this reason.
    NotLogged(NotLoggedReason),
}

/// The addresses whose parties the classification needs.
pub fn addresses_of(msg: &InboxMessage) -> Vec<Address> {
    let mut out: Vec<Address> = msg.sender.iter().cloned().collect();
    for r in &msg.recipients {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// Applies the processing rules to one message.
pub fn classify(msg: &InboxMessage, dir: &Directory) -> Classification {
    use NotLoggedReason::*;
    if msg.is_draft {
        return Classification::NotLogged(Draft);
    }
    let Some(sender) = &msg.sender else {
        return Classification::NotLogged(NoSender);
    };
    if msg.recipients.is_empty() {
        return Classification::NotLogged(NoRecipients);
    }
    let party = |a: &Address| dir.get(a).cloned().unwrap_or_default();
    let sender_party = party(sender);
    // An address that is both a salesperson's and a contact's is the
    // salesperson's: a colleague is never logged as a customer.
    if let Some(sp) = &sender_party.salesperson {
        let mut pairs: Vec<Pair> = Vec::new();
        let mut all_salespeople = true;
        for r in msg.recipients.iter().filter(|r| *r != sender) {
            let p = party(r);
            if p.salesperson.is_some() {
                continue;
            }
            all_salespeople = false;
            if let Some(c) = p.contacts.into_iter().next()
                && !pairs.iter().any(|x| x.contact.contact_no == c.contact_no)
            {
                pairs.push(Pair {
                    salesperson_code: sp.code.clone(),
                    contact: c,
                });
            }
        }
        return if !pairs.is_empty() {
            Classification::Log {
                flow: Flow::Outbound,
                datetime: msg.sent.or(msg.received),
                pairs,
            }
        } else if all_salespeople {
            Classification::NotLogged(InternalOnly)
        } else {
            Classification::NotLogged(NoContact)
        };
    }
    let Some(contact) = sender_party.contacts.into_iter().next() else {
        return Classification::NotLogged(UnknownSender);
    };
    let mut pairs: Vec<Pair> = Vec::new();
    for r in &msg.recipients {
        if let Some(sp) = party(r).salesperson
            && !pairs.iter().any(|x| x.salesperson_code == sp.code)
        {
            pairs.push(Pair {
                salesperson_code: sp.code,
                contact: contact.clone(),
            });
        }
    }
    if pairs.is_empty() {
        Classification::NotLogged(ExternalOnly)
    } else {
        Classification::Log {
            flow: Flow::Inbound,
            datetime: msg.received.or(msg.sent),
            pairs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn rcpts(list: &[&str]) -> Value {
        Value::Array(
            list.iter()
                .map(|x| json!({"emailAddress": {"address": x}}))
                .collect(),
        )
    }

    fn msg(sender: &str, to: &[&str], cc: &[&str]) -> InboxMessage {
        InboxMessage::from_json(&json!({
            "id": "m1", "sender": {"emailAddress": {"address": sender}},
            "toRecipients": rcpts(to), "ccRecipients": rcpts(cc),
            "sentDateTime": "2026-11-02T09:00:00Z", "receivedDateTime": "2026-11-02T09:01:00Z"
        }))
        .unwrap()
    }

    fn dir() -> Directory {
        let sp = |c: &str| Party {
            salesperson: Some(Salesperson { code: c.into() }),
            contacts: vec![],
        };
        let ct = |no: &str, company: Option<&str>, alt: Option<&str>| Party {
            salesperson: None,
            contacts: vec![ContactMatch {
                contact_no: no.into(),
                company_no: company.map(Into::into),
                alt_address_code: alt.map(Into::into),
            }],
        };
        let mut d = Directory::new();
        d.insert(a("jo@us.example"), sp("JO"));
        d.insert(a("lt@us.example"), sp("LT"));
        d.insert(a("andy@them.example"), ct("CT11", Some("CT10"), None));
        d.insert(
            a("mindy@home.example"),
            ct("CT21", Some("CT20"), Some("HOME")),
        );
        d.insert(a("info@them.example"), ct("CT10", None, None));
        // Both a salesperson and a contact: the salesperson wins.
        let mut both = sp("BC");
        both.contacts = ct("CT99", None, None).contacts;
        d.insert(a("both@us.example"), both);
        d
    }

    fn pairs(c: &Classification) -> Vec<(String, String)> {
        match c {
            Classification::Log { pairs, .. } => pairs
                .iter()
                .map(|p| (p.salesperson_code.clone(), p.contact.contact_no.clone()))
                .collect(),
            Classification::NotLogged(r) => panic!("not logged: {r:?}"),
        }
    }

    #[test]
    fn outbound_to_and_cc_contacts() {
        let c = classify(
            &msg(
                "jo@us.example",
                &["andy@them.example"],
                &["info@them.example"],
            ),
            &dir(),
        );
        assert_eq!(
            pairs(&c),
            vec![("JO".into(), "CT11".into()), ("JO".into(), "CT10".into())]
        );
        assert!(
            matches!(c, Classification::Log { flow: Flow::Outbound, datetime: Some(d), .. } if d.to_rfc3339().starts_with("2026-11-02T09:00:00"))
        );
    }

    #[test]
    fn inbound_to_two_salespeople_uses_received_time() {
        let c = classify(
            &msg(
                "andy@them.example",
                &["jo@us.example", "lt@us.example"],
                &[],
            ),
            &dir(),
        );
        assert_eq!(
            pairs(&c),
            vec![("JO".into(), "CT11".into()), ("LT".into(), "CT11".into())]
        );
        assert!(
            matches!(c, Classification::Log { flow: Flow::Inbound, datetime: Some(d), .. } if d.to_rfc3339().starts_with("2026-11-02T09:01:00"))
        );
    }

    #[test]
    fn alt_address_match_keeps_code_and_company() {
        let c = classify(&msg("jo@us.example", &["mindy@home.example"], &[]), &dir());
        let Classification::Log { pairs, .. } = c else {
            panic!()
        };
        assert_eq!(pairs[0].contact.alt_address_code.as_deref(), Some("HOME"));
        assert_eq!(pairs[0].contact.company_no.as_deref(), Some("CT20"));
    }

    #[test]
    fn a_contact_in_to_and_cc_counts_once() {
        let c = classify(
            &msg(
                "jo@us.example",
                &["andy@them.example"],
                &["ANDY@them.example "],
            ),
            &dir(),
        );
        assert_eq!(pairs(&c).len(), 1);
    }

    #[test]
    fn not_logged_reasons() {
        use NotLoggedReason::*;
        let d = dir();
        let cases = [
            (msg("jo@us.example", &["lt@us.example"], &[]), InternalOnly),
            (
                msg("jo@us.example", &["someone@else.example"], &[]),
                NoContact,
            ),
            (
                msg("andy@them.example", &["info@them.example"], &[]),
                ExternalOnly,
            ),
            (
                msg("who@unknown.example", &["jo@us.example"], &[]),
                UnknownSender,
            ),
            (msg("jo@us.example", &[], &[]), NoRecipients),
        ];
        for (m, want) in cases {
            assert_eq!(classify(&m, &d), Classification::NotLogged(want));
        }
        let mut draft = msg("jo@us.example", &["andy@them.example"], &[]);
        draft.is_draft = true;
        assert_eq!(classify(&draft, &d), Classification::NotLogged(Draft));
        let mut nobody = msg("jo@us.example", &["andy@them.example"], &[]);
        nobody.sender = None;
        assert_eq!(classify(&nobody, &d), Classification::NotLogged(NoSender));
    }

    #[test]
    fn salesperson_wins_over_contact() {
        let d = dir();
        // As sender: outbound from BC, not inbound from contact CT99.
        let c = classify(&msg("both@us.example", &["andy@them.example"], &[]), &d);
        assert_eq!(pairs(&c), vec![("BC".into(), "CT11".into())]);
        // As recipient of a salesperson: a colleague, so internal.
        let c = classify(&msg("jo@us.example", &["both@us.example"], &[]), &d);
        assert_eq!(c, Classification::NotLogged(NotLoggedReason::InternalOnly));
    }

    #[test]
    fn sender_copying_itself_is_ignored() {
        let c = classify(
            &msg(
                "jo@us.example",
                &["jo@us.example", "andy@them.example"],
                &[],
            ),
            &dir(),
        );
        assert_eq!(pairs(&c), vec![("JO".into(), "CT11".into())]);
    }

    #[test]
    fn addresses_of_lists_sender_then_recipients_once() {
        let m = msg("jo@us.example", &["andy@them.example"], &["jo@us.example"]);
        assert_eq!(
            addresses_of(&m),
            vec![a("jo@us.example"), a("andy@them.example")]
        );
    }
}
