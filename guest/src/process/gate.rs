//! The gate a page's messages pass before anything is looked up or stored:
//! mail its sender marked private or confidential (unless the setup logs
//! it), then the ERP's `decide` extension point, in one call per page.

use super::failure::Failure;
use super::run::{NotLogged, Run};
use crate::classify::NotLoggedReason;
use crate::host::{Decision, MessageFacts};
use crate::message::{InboxMessage, Unreadable};
use chrono::SecondsFormat;

/// Longest reason the ERP may give for a skip; a longer one is cut.
const MAX_REASON_CHARS: usize = 200;

/// Where a page item goes after the gate.
pub(super) enum Gated {
    /// On to lookup and classification.
    Pass(InboxMessage),
    /// Not logged, for this reason; nothing of it reaches the ERP's records.
    Out(InboxMessage, NotLogged),
    /// The ERP could not decide: the message waits for the next run.
    Failed(InboxMessage, Failure),
    /// An item that could not be read.
    Unreadable(Unreadable),
}

impl Gated {
    /// The message, while it is on its way to be logged.
    pub(super) fn passed(&self) -> Option<&InboxMessage> {
        match self {
            Gated::Pass(m) => Some(m),
            _ => None,
        }
    }
}

impl Run<'_> {
    /// Passes a page's items through the gate, asking the ERP once for all
    /// the messages that reach its decision.
    pub(super) fn gate(&mut self, items: Vec<Result<InboxMessage, Unreadable>>) -> Vec<Gated> {
        let mut gated: Vec<Gated> = items
            .into_iter()
            .map(|item| match item {
                Ok(m) if m.sensitivity.keeps_it_out() && !self.setup.log_sensitive => {
                    Gated::Out(m, NotLogged::of(NotLoggedReason::Sensitive))
                }
                Ok(m) => Gated::Pass(m),
                Err(u) => Gated::Unreadable(u),
            })
            .collect();
        let facts: Vec<MessageFacts> = gated
            .iter()
            .filter_map(|g| match g {
                Gated::Pass(m) => Some(facts_of(m)),
                _ => None,
            })
            .collect();
        if facts.is_empty() {
            return gated;
        }
        let decisions = match self.host.decide(&facts) {
            Ok(d) if d.len() == facts.len() => Ok(d),
            Ok(d) => Err(format!(
                "the ERP decided {} of {} messages",
                d.len(),
                facts.len()
            )),
            Err(e) => Err(e.to_string()),
        };
        let mut decisions = match decisions {
            Ok(d) => d.into_iter(),
            // Nothing is logged without the ERP's word: the page waits.
            Err(e) => {
                let why = format!("the ERP could not decide whether to log the message: {e}");
                return gated
                    .into_iter()
                    .map(|g| match g {
                        // As for a failed lookup: every later page would fail alike.
                        Gated::Pass(m) => Gated::Failed(m, Failure::StopRun(why.clone())),
                        other => other,
                    })
                    .collect();
            }
        };
        for g in &mut gated {
            let Gated::Pass(m) = g else { continue };
            match decisions.next() {
                Some(Decision::Log(None)) | None => {}
                Some(Decision::Log(Some(subject))) => m.subject = subject,
                Some(Decision::Skip(reason)) => {
                    let m = std::mem::take(m);
                    *g = Gated::Out(m, NotLogged::by_erp(&reason));
                }
            }
        }
        gated
    }
}

/// What the ERP is told of a message.
fn facts_of(m: &InboxMessage) -> MessageFacts {
    MessageFacts {
        key: m.dedup_key(),
        message_id: m.id.clone(),
        sender: m.sender.as_ref().map(|a| a.as_str().to_string()),
        recipients: m
            .recipients
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        subject: m.subject.clone(),
        sent: m.sent.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true)),
        sensitive: m.sensitivity.keeps_it_out(),
    }
}

impl NotLogged {
    /// A skip by the ERP: its reason, made one short line.
    fn by_erp(reason: &str) -> Self {
        let line: String = reason
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_REASON_CHARS)
            .collect();
        let text = if line.is_empty() {
            NotLoggedReason::SkippedByErp.as_str().to_string()
        } else {
            line
        };
        Self {
            reason: NotLoggedReason::SkippedByErp,
            text,
        }
    }
}
