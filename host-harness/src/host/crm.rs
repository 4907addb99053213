//! `erp:host/crm`: party lookup, idempotent entry insert, links, activity log.

use super::bindings::erp::host::crm::{
    Activity, AddressField, ContactMatch, Host, InformationFlow, InitiatedBy, LinkUpdate,
    LogOutcome, MessageEntries, MessageLink, Owner, Party, Salesperson,
};
use super::{CrashPoint, PluginState, WitError, internal, unavailable};
use crate::crm;

type R<T> = wasmtime::Result<Result<T, WitError>>;

/// Most addresses one lookup may ask for (a page of 1,000 messages with a
/// few recipients each fits; a runaway guest does not).
pub(super) const MAX_LOOKUP: usize = 20_000;

/// Most messages (or link updates) one page call may carry: the setup's
/// largest batch size is 1,000.
pub(super) const MAX_PAGE: usize = 1_000;

/// Most activity lines in one call (a page's worth, and then some).
const MAX_ACTIVITIES: usize = 10_000;

fn link(l: MessageLink) -> crm::Link {
    crm::Link {
        mailbox: l.mailbox,
        message_id: l.message_id,
        internet_message_id: l.internet_message_id,
        web_link: l.web_link,
        folder: l.folder,
    }
}

/// An entry's date as the ERP stores it: RFC 3339 in UTC to the second.
/// A leap second (`23:59:60`) is refused: no ERP date field holds one.
pub(super) fn entry_datetime(text: &str) -> Result<String, String> {
    use chrono::Timelike as _;
    let d = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("the entry date {text:?} is not an RFC 3339 date: {e}"))?;
    if d.nanosecond() >= 1_000_000_000 {
        return Err(format!("the entry date {text:?} is a leap second"));
    }
    Ok(d.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl Host for PluginState {
    async fn lookup_parties(&mut self, addresses: Vec<String>) -> R<Vec<Party>> {
        if addresses.len() > MAX_LOOKUP {
            return Ok(Err(WitError::Invalid(format!(
                "at most {MAX_LOOKUP} addresses per lookup"
            ))));
        }
        let found = match crm::lookup_many(&self.db, self.company, &addresses) {
            Ok(found) => found,
            Err(e) => return Ok(Err(internal("cannot look up addresses", e))),
        };
        Ok(Ok(addresses
            .into_iter()
            .zip(found)
            .map(|(address, (sp, contacts))| Party {
                address,
                salesperson: sp.map(|(code, name)| Salesperson { code, name }),
                contacts: contacts
                    .into_iter()
                    .map(|(contact_no, company_no, alt_address_code)| ContactMatch {
                        contact_no,
                        company_no,
                        alt_address_code,
                    })
                    .collect(),
            })
            .collect()))
    }

    async fn address_fields(&mut self) -> R<Vec<AddressField>> {
        Ok(crm::address_fields(&self.db, self.company)
            .map(|rows| {
                rows.into_iter()
                    .filter_map(|(owner, no, field, value)| {
                        // The store writes only these two owners.
                        Some(AddressField {
                            owner: Owner::from_name(&owner)?,
                            no,
                            field,
                            value,
                        })
                    })
                    .collect()
            })
            .map_err(|e| internal("cannot read the e-mail addresses", e)))
    }

    async fn email_interaction_template(&mut self) -> R<Option<String>> {
        Ok(crm::email_template(&self.db, self.company)
            .map_err(|e| internal("cannot read the interaction templates", e)))
    }

    async fn log_page(
        &mut self,
        page: Vec<MessageEntries>,
    ) -> R<Vec<Result<LogOutcome, WitError>>> {
        if page.len() > MAX_PAGE {
            return Ok(Err(WitError::Invalid(format!(
                "at most {MAX_PAGE} messages per page"
            ))));
        }
        // The host's own refusals, message by message; the rest is recorded.
        let mut answers: Vec<Option<Result<LogOutcome, WitError>>> = Vec::with_capacity(page.len());
        let mut messages = Vec::with_capacity(page.len());
        for m in page {
            match new_message(m) {
                Ok(m) => {
                    answers.push(None);
                    messages.push(m);
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        if let Some(hook) = &self.ctx.crash_hook
            && let Some(m) = messages
                .iter()
                .find(|m| hook(&CrashPoint::Log { key: &m.key }))
        {
            wasmtime::bail!("simulated host crash before logging {}", m.key);
        }
        let recorded = match crm::log_page(&self.db, self.company, &messages) {
            Ok(r) => r,
            Err(e) => return Ok(Err(unavailable("cannot save interaction log entries", e))),
        };
        let mut recorded = recorded.into_iter();
        Ok(Ok(answers
            .into_iter()
            .map(|a| match a {
                Some(refused) => refused,
                None => match recorded.next() {
                    Some(Ok(true)) => Ok(LogOutcome::Inserted),
                    Some(Ok(false)) => Ok(LogOutcome::AlreadyLogged),
                    Some(Err(e)) => Err(internal("cannot save a message's entries", e)),
                    None => Err(WitError::Internal("no answer for this message".into())),
                },
            })
            .collect()))
    }

    async fn update_links(&mut self, updates: Vec<LinkUpdate>) -> R<()> {
        if updates.len() > MAX_PAGE {
            return Ok(Err(WitError::Invalid(format!(
                "at most {MAX_PAGE} link updates per call"
            ))));
        }
        let changes: Vec<crm::LinkChange> = updates
            .into_iter()
            .map(|u| (u.message_key, u.previous_message_id, link(u.link)))
            .collect();
        Ok(crm::update_links(&self.db, self.company, &changes)
            .map(|_| ())
            .map_err(|e| unavailable("cannot update the message links", e)))
    }

    async fn log_activities(&mut self, lines: Vec<Activity>) -> R<()> {
        if lines.len() > MAX_ACTIVITIES {
            return Ok(Err(WitError::Invalid(format!(
                "at most {MAX_ACTIVITIES} activity lines per call"
            ))));
        }
        let descriptions: Vec<String> = lines
            .iter()
            .map(|a| a.description.chars().take(2000).collect())
            .collect();
        let rows: Vec<crm::NewActivity<'_>> = lines
            .iter()
            .zip(&descriptions)
            .map(|(a, d)| (a.severity.name(), d.as_str(), a.message_key.as_deref()))
            .collect();
        Ok(
            crm::log_activities(&self.db, self.company, "email-logging", &rows)
                .map_err(|e| unavailable("cannot write the activity log", e)),
        )
    }
}

/// A message of a page as the store takes it, or why the host refuses it.
fn new_message(m: MessageEntries) -> Result<crm::NewMessage, WitError> {
    if m.message_key.is_empty() || m.message_key.len() > 2048 {
        return Err(WitError::Invalid(
            "the message key must be 1 to 2048 bytes".into(),
        ));
    }
    if m.entries.is_empty() {
        return Err(WitError::Invalid(
            "a message to log needs at least one entry".into(),
        ));
    }
    let mut entries = Vec::with_capacity(m.entries.len());
    for e in m.entries {
        entries.push(crm::NewEntry {
            datetime: entry_datetime(&e.datetime).map_err(WitError::Invalid)?,
            contact_no: e.contact_no,
            contact_company_no: e.contact_company_no,
            contact_alt_address_code: e.contact_alt_address_code,
            salesperson_code: e.salesperson_code,
            interaction_template_code: e.interaction_template_code,
            information_flow: match e.information_flow {
                InformationFlow::Inbound => "inbound",
                InformationFlow::Outbound => "outbound",
            },
            initiated_by: match e.initiated_by {
                InitiatedBy::Us => "us",
                InitiatedBy::Them => "them",
            },
            subject: e.subject,
        });
    }
    Ok(crm::NewMessage {
        key: m.message_key,
        entries,
        link: link(m.link),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn entry_dates_are_utc_seconds_and_never_leap_seconds() {
        assert_eq!(
            super::entry_datetime("2026-11-02T10:00:05.5+01:00").unwrap(),
            "2026-11-02T09:00:05Z"
        );
        assert!(super::entry_datetime("2026-12-31T23:59:60Z").is_err());
        assert!(super::entry_datetime("yesterday").is_err());
    }
}
