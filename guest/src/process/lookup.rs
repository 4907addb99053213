//! The ERP's parties for a page's addresses: one lookup per at most
//! [`LOOKUP_CHUNK`] addresses, which messages a failed lookup fails, and
//! the ERP's `unknown-parties` answer for the addresses that matched nobody.

use super::failure::Failure;
use super::run::Run;
use crate::address::Address;
use crate::classify::{self, Directory};
use crate::host::{Host, HostError, Severity, UnknownAddress};
use crate::message::InboxMessage;
use std::collections::{HashMap, HashSet};

/// Most addresses asked of the ERP in one lookup. The WIT asks every host
/// to take at least this many in one call.
pub const LOOKUP_CHUNK: usize = 1_000;

/// The ERP's answer for a page's addresses, and the lookups that failed.
#[derive(Default)]
pub(super) struct PageDirectory {
    /// The parties of every address looked up.
    pub(super) parties: Directory,
    failed: HashMap<Address, HostError>,
}

impl PageDirectory {
    /// Looks up every address of the page's messages. A lookup the host
    /// refuses as too large (`invalid`) is split in two until it fits;
    /// addresses whose lookup failed otherwise fail only their messages.
    pub(super) fn look_up<'m>(
        host: &dyn Host,
        messages: impl Iterator<Item = &'m InboxMessage>,
    ) -> Self {
        let mut addresses = Vec::new();
        let mut known = HashSet::new();
        for m in messages {
            for a in classify::addresses_of(m) {
                if known.insert(a.clone()) {
                    addresses.push(a);
                }
            }
        }
        let mut dir = PageDirectory::default();
        let mut todo: Vec<&[Address]> = addresses.chunks(LOOKUP_CHUNK).rev().collect();
        while let Some(chunk) = todo.pop() {
            let asked: Vec<String> = chunk.iter().map(|a| a.as_str().to_string()).collect();
            match host.lookup_parties(&asked) {
                Ok(answer) if answer.len() == chunk.len() => dir.parties.extend(
                    chunk
                        .iter()
                        .cloned()
                        .zip(answer.into_iter().map(|(_, party)| party)),
                ),
                Ok(answer) => {
                    let e = HostError::Internal(format!(
                        "the ERP answered {} parties for {} addresses",
                        answer.len(),
                        chunk.len()
                    ));
                    dir.fail(chunk, e);
                }
                Err(HostError::Invalid(_)) if chunk.len() > 1 => {
                    let (a, b) = chunk.split_at(chunk.len() / 2);
                    todo.push(b);
                    todo.push(a);
                }
                Err(e) => dir.fail(chunk, e),
            }
        }
        dir
    }

    fn fail(&mut self, addresses: &[Address], e: HostError) {
        for a in addresses {
            self.failed.insert(a.clone(), e.clone());
        }
    }

    /// Why this message cannot be decided in this run, if one of its
    /// addresses could not be looked up: a transient fault defers it and ends
    /// the run (every later lookup would fail alike), an address the ERP
    /// refuses quarantines it.
    pub(super) fn failure(&self, m: &InboxMessage) -> Option<Failure> {
        let e = classify::addresses_of(m)
            .iter()
            .find_map(|a| self.failed.get(a))?;
        let what = "the ERP could not look up the message's addresses";
        Some(match e {
            HostError::Invalid(_) | HostError::Denied(_) | HostError::NotFound(_) => {
                Failure::of_host(what, e.clone())
            }
            other => Failure::StopRun(format!("{what}: {other}")),
        })
    }
}

impl PageDirectory {
    /// The page's external addresses that matched nobody where a contact
    /// would make the message loggable: a salesperson's recipients, and a
    /// sender who wrote to a salesperson. Each once, with the first message
    /// that needs it.
    fn unknown<'m>(&self, messages: impl Iterator<Item = &'m InboxMessage>) -> Vec<UnknownAddress> {
        let mut asked: Vec<UnknownAddress> = Vec::new();
        let mut known = HashSet::new();
        for m in messages {
            let Some(sender) = &m.sender else { continue };
            if m.is_draft || self.failure(m).is_some() {
                continue;
            }
            let party = |a: &Address| self.parties.get(a);
            let is_salesperson = |a: &Address| party(a).is_some_and(|p| p.salesperson.is_some());
            let is_nobody = |a: &Address| {
                party(a).is_none_or(|p| p.salesperson.is_none() && p.contacts.is_empty())
            };
            let wanted: Vec<&Address> = if is_salesperson(sender) {
                m.recipients
                    .iter()
                    .filter(|r| *r != sender && is_nobody(r))
                    .collect()
            } else if is_nobody(sender) && m.recipients.iter().any(is_salesperson) {
                vec![sender]
            } else {
                Vec::new()
            };
            for a in wanted {
                if known.insert(a.clone()) {
                    asked.push(UnknownAddress {
                        address: a.as_str().to_string(),
                        display_name: m.display_name(a).map(str::to_string),
                        key: m.dedup_key(),
                    });
                }
            }
        }
        asked
    }
}

impl Run<'_> {
    /// Asks the ERP's `unknown-parties` extension point, once per page, for
    /// contacts behind the addresses that matched nobody, and adds those it
    /// answers. A failure leaves them unknown (the messages are then not
    /// logged by the rules) and is written to the activity log.
    pub(super) fn find_unknown_parties<'m>(
        &mut self,
        dir: &mut PageDirectory,
        messages: impl Iterator<Item = &'m InboxMessage>,
    ) {
        let asked = dir.unknown(messages);
        if asked.is_empty() {
            return;
        }
        let answer = match self.host.unknown_parties(&asked) {
            Ok(a) if a.len() == asked.len() => a,
            Ok(a) => {
                let e = format!("the ERP answered {} of {} addresses", a.len(), asked.len());
                return self.unknown_parties_failed(&e);
            }
            Err(e) => return self.unknown_parties_failed(&e.to_string()),
        };
        for (a, contact) in asked.iter().zip(answer) {
            let (Some(c), Ok(address)) = (contact, Address::parse(&a.address)) else {
                continue;
            };
            if c.contact_no.trim().is_empty() {
                continue;
            }
            dir.parties.entry(address).or_default().contacts.push(c);
        }
    }

    fn unknown_parties_failed(&mut self, e: &str) {
        self.activity(
            Severity::Warning,
            &format!("the ERP could not answer for addresses that match nobody: {e}"),
            None,
        );
    }
}
