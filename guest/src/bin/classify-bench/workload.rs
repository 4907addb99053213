//! Generated messages and a directory, and the timed loop over them: parse
//! each Graph message from its JSON text (as a page gives it), collect its
//! addresses, classify it against the directory. Shared by the wasm command (`main.rs`) and the host's native
//! run (`host-harness/src/bench/wasm_native.rs`), which both provide
//! `address`, `classify` and `message` modules next to this one.

use super::address::Address;
use super::classify::{self, Classification, ContactMatch, Directory, Party, Salesperson};
use super::message::InboxMessage;
use serde_json::json;
use serde_json::value::RawValue;
use std::time::Instant;

const SALESPEOPLE: usize = 50;
const CONTACTS: usize = 2_000;

fn salesperson(i: usize) -> String {
    format!("sales.{}@cronus.example", i % SALESPEOPLE)
}

fn contact(i: usize) -> String {
    format!("Contact.{}@Customer-{}.example", i % CONTACTS, i % 97)
}

/// `n` messages and the directory that knows their parties.
pub fn inputs(n: usize) -> (Vec<Box<RawValue>>, Directory) {
    let mut directory = Directory::new();
    for i in 0..SALESPEOPLE {
        if let Ok(a) = Address::parse(&salesperson(i)) {
            directory.insert(
                a,
                Party {
                    salesperson: Some(Salesperson {
                        code: format!("SP{i:03}"),
                    }),
                    contacts: Vec::new(),
                },
            );
        }
    }
    for i in 0..CONTACTS {
        if let Ok(a) = Address::parse(&contact(i)) {
            directory.insert(
                a,
                Party {
                    salesperson: None,
                    contacts: vec![ContactMatch {
                        contact_no: format!("CT{i:06}"),
                        company_no: (i % 3 == 0).then(|| format!("CT{:06}", i / 3)),
                        alt_address_code: None,
                    }],
                },
            );
        }
    }
    let r = |a: String| json!({"emailAddress": {"name": "Someone", "address": a}});
    let messages = (0..n)
        .map(|i| {
            let (from, to, cc) = match i % 4 {
                0 => (contact(i * 7), vec![salesperson(i)], vec![salesperson(i + 1)]),
                1 => (
                    salesperson(i),
                    vec![contact(i * 3), contact(i * 5)],
                    vec![format!(" {} ", contact(i * 11).to_uppercase())],
                ),
                2 => (salesperson(i), vec![salesperson(i + 2)], vec![]),
                _ => (format!("x{i}@unknown.example"), vec![salesperson(i)], vec![]),
            };
            json!({
                "id": format!("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A{i:08}"),
                "internetMessageId": format!("<m{i}@bench.example>"),
                "subject": format!("Quote Q-{i} for the framework agreement"),
                "sender": r(from.clone()),
                "from": r(from),
                "toRecipients": to.into_iter().map(r).collect::<Vec<_>>(),
                "ccRecipients": cc.into_iter().map(r).collect::<Vec<_>>(),
                "bccRecipients": [r("email-logging@cronus.example".into())],
                "sentDateTime": "2026-11-10T09:00:00Z",
                "receivedDateTime": "2026-11-10T09:00:05Z",
                "isDraft": false,
                "webLink": format!("https://outlook.office365.com/owa/?ItemID=AAk{i}&exvsurl=1&viewmodel=ReadMessageItem"),
            })
        })
        .filter_map(|v| RawValue::from_string(v.to_string()).ok())
        .collect();
    (messages, directory)
}

/// One pass over the messages; a checksum of what was decided.
pub fn once(messages: &[Box<RawValue>], directory: &Directory) -> u64 {
    let mut sum = 0u64;
    for v in messages {
        let Ok(m) = InboxMessage::from_raw(v) else {
            continue;
        };
        sum += classify::addresses_of(&m).len() as u64;
        sum += match classify::classify(&m, directory) {
            Classification::Log { pairs, .. } => 100 * pairs.len() as u64,
            Classification::NotLogged(reason) => 1 + reason as u64,
        };
    }
    sum
}

/// `rounds` passes after one warm-up pass: nanoseconds and checksum.
pub fn timed(messages: &[Box<RawValue>], directory: &Directory, rounds: usize) -> (u128, u64) {
    let mut checksum = once(messages, directory);
    let started = Instant::now();
    for _ in 0..rounds {
        checksum = checksum.wrapping_add(once(messages, directory));
    }
    (started.elapsed().as_nanos(), checksum)
}
