//! The host's imports as the logic's [`Host`](crate::host::Host).

use super::wit;
use crate::{classify, host};

/// [`host::Host`] over the generated imports.
pub(super) struct WitHost;

fn host_error(e: wit::types::Error) -> host::HostError {
    use host::HostError as H;
    use wit::types::Error as E;
    match e {
        E::Denied(m) => H::Denied(m),
        E::NotFound(m) => H::NotFound(m),
        E::Invalid(m) => H::Invalid(m),
        E::Unavailable(m) => H::Unavailable(m),
        E::Conflict(m) => H::Conflict(m),
        E::Internal(m) => H::Internal(m),
    }
}

fn wit_link(link: &host::MessageLink) -> wit::crm::MessageLink {
    wit::crm::MessageLink {
        mailbox: link.mailbox.clone(),
        message_id: link.message_id.clone(),
        internet_message_id: link.internet_message_id.clone(),
        web_link: link.web_link.clone(),
        folder: link.folder.clone(),
    }
}

fn wit_entry(e: &host::EntryRecord) -> wit::crm::InteractionLogEntry {
    wit::crm::InteractionLogEntry {
        contact_no: e.contact_no.clone(),
        contact_company_no: e.contact_company_no.clone(),
        contact_alt_address_code: e.contact_alt_address_code.clone(),
        salesperson_code: e.salesperson_code.clone(),
        interaction_template_code: e.interaction_template_code.clone(),
        information_flow: match e.flow {
            classify::Flow::Inbound => wit::crm::InformationFlow::Inbound,
            classify::Flow::Outbound => wit::crm::InformationFlow::Outbound,
        },
        initiated_by: match e.flow {
            classify::Flow::Inbound => wit::crm::InitiatedBy::Them,
            classify::Flow::Outbound => wit::crm::InitiatedBy::Us,
        },
        subject: e.subject.clone(),
        datetime: e.datetime.clone(),
    }
}

impl host::Host for WitHost {
    fn http_send(&self, req: host::HttpRequest) -> Result<host::HttpResponse, host::HostError> {
        let resp = wit::http::send(&wit::http::Request {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            timeout_ms: req.timeout_ms,
            sensitive: req.sensitive,
        })
        .map_err(host_error)?;
        Ok(host::HttpResponse {
            status: resp.status,
            headers: resp.headers,
            body: resp.body,
        })
    }

    fn lookup_parties(
        &self,
        addresses: &[String],
    ) -> Result<Vec<(String, classify::Party)>, host::HostError> {
        let parties = wit::crm::lookup_parties(addresses).map_err(host_error)?;
        if parties.len() != addresses.len() {
            return Err(host::HostError::Internal(format!(
                "asked for {} addresses, the ERP answered {}",
                addresses.len(),
                parties.len()
            )));
        }
        Ok(parties
            .into_iter()
            .map(|p| {
                let party = classify::Party {
                    salesperson: p
                        .salesperson
                        .map(|s| classify::Salesperson { code: s.code }),
                    contacts: p
                        .contacts
                        .into_iter()
                        .map(|c| classify::ContactMatch {
                            contact_no: c.contact_no,
                            company_no: c.company_no,
                            alt_address_code: c.alt_address_code,
                        })
                        .collect(),
                };
                (p.address, party)
            })
            .collect())
    }

    fn address_fields(&self) -> Result<Vec<host::AddressField>, host::HostError> {
        Ok(wit::crm::address_fields()
            .map_err(host_error)?
            .into_iter()
            .map(|f| host::AddressField {
                owner: match f.owner {
                    wit::crm::Owner::Salesperson => host::Owner::Salesperson,
                    wit::crm::Owner::Contact => host::Owner::Contact,
                },
                no: f.no,
                field: f.field,
                value: f.value,
            })
            .collect())
    }

    fn email_template(&self) -> Result<Option<String>, host::HostError> {
        wit::crm::email_interaction_template().map_err(host_error)
    }

    fn log_page(
        &self,
        messages: &[host::MessageEntries],
    ) -> Result<Vec<Result<host::LogOutcome, host::HostError>>, host::HostError> {
        let page: Vec<wit::crm::MessageEntries> = messages
            .iter()
            .map(|m| wit::crm::MessageEntries {
                message_key: m.key.clone(),
                entries: m.entries.iter().map(wit_entry).collect(),
                link: wit_link(&m.link),
            })
            .collect();
        let outcomes = wit::crm::log_page(&page).map_err(host_error)?;
        if outcomes.len() != messages.len() {
            return Err(host::HostError::Internal(format!(
                "logged {} messages, the ERP answered {}",
                messages.len(),
                outcomes.len()
            )));
        }
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                Ok(wit::crm::LogOutcome::Inserted) => Ok(host::LogOutcome::Inserted),
                Ok(wit::crm::LogOutcome::AlreadyLogged) => Ok(host::LogOutcome::AlreadyLogged),
                Err(e) => Err(host_error(e)),
            })
            .collect())
    }

    fn update_links(&self, updates: &[host::LinkUpdate]) -> Result<(), host::HostError> {
        let updates: Vec<wit::crm::LinkUpdate> = updates
            .iter()
            .map(|u| wit::crm::LinkUpdate {
                message_key: u.key.clone(),
                previous_message_id: u.previous_id.clone(),
                link: wit_link(&u.link),
            })
            .collect();
        wit::crm::update_links(&updates).map_err(host_error)
    }

    fn log_activities(&self, lines: &[host::Activity]) -> Result<(), host::HostError> {
        let lines: Vec<wit::crm::Activity> = lines
            .iter()
            .map(|a| wit::crm::Activity {
                severity: match a.severity {
                    host::Severity::Info => wit::crm::Severity::Info,
                    host::Severity::Warning => wit::crm::Severity::Warning,
                    host::Severity::Error => wit::crm::Severity::Error,
                },
                description: a.description.clone(),
                message_key: a.key.clone(),
            })
            .collect();
        wit::crm::log_activities(&lines).map_err(host_error)
    }

    fn decide(
        &self,
        messages: &[host::MessageFacts],
    ) -> Result<Vec<host::Decision>, host::HostError> {
        let facts: Vec<wit::extensions::MessageFacts> = messages
            .iter()
            .map(|m| wit::extensions::MessageFacts {
                message_key: m.key.clone(),
                message_id: m.message_id.clone(),
                sender: m.sender.clone(),
                recipients: m.recipients.clone(),
                subject: m.subject.clone(),
                sent: m.sent.clone(),
                sensitive: m.sensitive,
            })
            .collect();
        Ok(wit::extensions::decide(&facts)
            .map_err(host_error)?
            .into_iter()
            .map(|d| match d {
                wit::extensions::Decision::Log(subject) => host::Decision::Log(subject),
                wit::extensions::Decision::Skip(reason) => host::Decision::Skip(reason),
            })
            .collect())
    }

    fn unknown_parties(
        &self,
        addresses: &[host::UnknownAddress],
    ) -> Result<Vec<Option<classify::ContactMatch>>, host::HostError> {
        let asked: Vec<wit::extensions::UnknownAddress> = addresses
            .iter()
            .map(|a| wit::extensions::UnknownAddress {
                address: a.address.clone(),
                display_name: a.display_name.clone(),
                message_key: a.key.clone(),
            })
            .collect();
        Ok(wit::extensions::unknown_parties(&asked)
            .map_err(host_error)?
            .into_iter()
            .map(|c| {
                c.map(|c| classify::ContactMatch {
                    contact_no: c.contact_no,
                    company_no: c.company_no,
                    alt_address_code: c.alt_address_code,
                })
            })
            .collect())
    }

    fn after_log(&self, messages: &[host::LoggedMessage]) -> Result<(), host::HostError> {
        let logged: Vec<wit::extensions::LoggedMessage> = messages
            .iter()
            .map(|m| wit::extensions::LoggedMessage {
                message_key: m.key.clone(),
                entries: m.entries.iter().map(wit_entry).collect(),
                link: wit_link(&m.link),
            })
            .collect();
        wit::extensions::after_log(&logged).map_err(host_error)
    }

    fn storage_get(&self, key: &str) -> Result<Option<(String, u64)>, host::HostError> {
        Ok(wit::storage::get(key)
            .map_err(host_error)?
            .map(|v| (v.value, v.version)))
    }

    fn storage_put(
        &self,
        key: &str,
        value: &str,
        expected: Option<u64>,
    ) -> Result<u64, host::HostError> {
        wit::storage::put(key, value, expected).map_err(host_error)
    }

    fn storage_remove(&self, key: &str) -> Result<(), host::HostError> {
        wit::storage::remove(key).map_err(host_error)
    }

    fn secret_get(&self, name: &str) -> Result<Option<String>, host::HostError> {
        wit::storage::get_secret(name).map_err(host_error)
    }

    fn secret_put(&self, name: &str, value: &str) -> Result<(), host::HostError> {
        wit::storage::put_secret(name, value).map_err(host_error)
    }

    fn secret_remove(&self, name: &str) -> Result<(), host::HostError> {
        wit::storage::remove_secret(name).map_err(host_error)
    }

    fn job_ensure(&self, job: &str, r: host::Recurrence) -> Result<(), host::HostError> {
        wit::scheduler::ensure_recurring(
            job,
            wit::scheduler::Recurrence {
                every_seconds: r.every_seconds,
                first_run_in_seconds: r.first_run_in_seconds,
                max_attempts: r.max_attempts,
                retry_delay_seconds: r.retry_delay_seconds,
            },
        )
        .map_err(host_error)
    }

    fn job_remove(&self, job: &str) -> Result<(), host::HostError> {
        wit::scheduler::remove(job).map_err(host_error)
    }

    fn job_postpone(&self, job: &str, until: u64) -> Result<(), host::HostError> {
        wit::scheduler::postpone(job, until).map_err(host_error)
    }

    fn job_status(&self, job: &str) -> Result<Option<host::JobStatus>, host::HostError> {
        Ok(wit::scheduler::status(job)
            .map_err(host_error)?
            .map(|s| host::JobStatus {
                status: match s.status {
                    wit::scheduler::JobState::Ready => host::JobState::Ready,
                    wit::scheduler::JobState::InProcess => host::JobState::InProcess,
                    wit::scheduler::JobState::PartlyDone => host::JobState::PartlyDone,
                    wit::scheduler::JobState::Error => host::JobState::Error,
                    wit::scheduler::JobState::OnHold => host::JobState::OnHold,
                },
                next_run: s.next_run,
                last_error: s.last_error,
            }))
    }

    fn host_client_id(&self) -> Option<String> {
        wit::secrets::client_id()
    }

    fn host_client_secret(&self) -> Option<String> {
        wit::secrets::client_secret()
    }

    fn host_redirect_url(&self) -> Option<String> {
        wit::secrets::redirect_url()
    }

    fn host_ews_password(&self) -> Option<String> {
        wit::secrets::ews_password()
    }

    fn log(&self, level: host::Level, message: &str, fields: &[(&str, &str)]) {
        let level = match level {
            host::Level::Debug => wit::log::Level::Debug,
            host::Level::Info => wit::log::Level::Info,
            host::Level::Warn => wit::log::Level::Warn,
            host::Level::Error => wit::log::Level::Error,
        };
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        wit::log::event(level, message, &fields);
    }
}
