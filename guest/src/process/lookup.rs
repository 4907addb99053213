//! The ERP's parties for a page's addresses: one lookup per at most
//! [`LOOKUP_CHUNK`] addresses, and which messages a failed lookup fails.

use super::failure::Failure;
use crate::address::Address;
use crate::classify::{self, Directory};
use crate::host::{Host, HostError};
use crate::message::{InboxMessage, Unreadable};
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
    pub(super) fn look_up(host: &dyn Host, parsed: &[Result<InboxMessage, Unreadable>]) -> Self {
        let mut addresses = Vec::new();
        let mut known = HashSet::new();
        for m in parsed.iter().flatten() {
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
