//! `erp:host/crm`: party lookup, idempotent entry insert, links, activity log.

use super::bindings::erp::host::crm::{
    Activity, AddressField, ContactMatch, Host, InformationFlow, InitiatedBy, InteractionLogEntry,
    LogOutcome, MessageLink, Owner, Party, Salesperson,
};
use super::{CrashPoint, PluginState, WitError, internal};
use crate::crm;

type R<T> = wasmtime::Result<Result<T, WitError>>;

/// Most addresses one lookup may ask for (a page of 1,000 messages with a
/// few recipients each fits; a runaway guest does not).
const MAX_LOOKUP: usize = 20_000;

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
fn entry_datetime(text: &str) -> Result<String, String> {
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
        let mut out = Vec::with_capacity(addresses.len());
        for address in addresses {
            match crm::lookup(&self.ctx.db, self.company, &address) {
                Ok((sp, contacts)) => out.push(Party {
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
                }),
                Err(e) => return Ok(Err(internal("cannot look up addresses", e))),
            }
        }
        Ok(Ok(out))
    }

    async fn address_fields(&mut self) -> R<Vec<AddressField>> {
        Ok(crm::address_fields(&self.ctx.db, self.company)
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
        Ok(crm::email_template(&self.ctx.db, self.company)
            .map_err(|e| internal("cannot read the interaction templates", e)))
    }

    async fn is_logged(&mut self, key: String) -> R<bool> {
        Ok(crm::is_logged(&self.ctx.db, self.company, &key)
            .map_err(|e| internal("cannot read the interaction log", e)))
    }

    async fn log_message(
        &mut self,
        key: String,
        entries: Vec<InteractionLogEntry>,
        l: MessageLink,
    ) -> R<LogOutcome> {
        if key.is_empty() || key.len() > 2048 {
            return Ok(Err(WitError::Invalid(
                "the message key must be 1 to 2048 bytes".into(),
            )));
        }
        for e in &entries {
            if let Err(m) = entry_datetime(&e.datetime) {
                return Ok(Err(WitError::Invalid(m)));
            }
        }
        let entries: Vec<crm::NewEntry> = entries
            .into_iter()
            .map(|e| crm::NewEntry {
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
                datetime: entry_datetime(&e.datetime).unwrap_or(e.datetime),
            })
            .collect();
        if let Some(hook) = &self.ctx.crash_hook
            && hook(&CrashPoint::Log { key: &key })
        {
            wasmtime::bail!("simulated host crash before logging {key}");
        }
        Ok(
            crm::log_message(&self.ctx.db, self.company, &key, &entries, &link(l))
                .map(|inserted| {
                    if inserted {
                        LogOutcome::Inserted
                    } else {
                        LogOutcome::AlreadyLogged
                    }
                })
                .map_err(|e| internal("cannot save interaction log entries", e)),
        )
    }

    async fn update_link(&mut self, key: String, previous_id: String, l: MessageLink) -> R<()> {
        Ok(
            crm::update_link(&self.ctx.db, self.company, &key, &previous_id, &link(l))
                .map(|_| ())
                .map_err(|e| internal("cannot update the message link", e)),
        )
    }

    async fn log_activity(&mut self, a: Activity) -> R<()> {
        let description: String = a.description.chars().take(2000).collect();
        Ok(crm::log_activity(
            &self.ctx.db,
            self.company,
            "email-logging",
            a.severity.name(),
            &description,
            a.message_key.as_deref(),
        )
        .map_err(|e| internal("cannot write the activity log", e)))
    }
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
