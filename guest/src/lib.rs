//! The Email Logging component.
//!
//! The logic lives in plain modules that know nothing of WIT; this file is
//! the only edge: it implements the exported interfaces and adapts the host
//! imports to [`host::Host`].

pub mod address;
pub mod admin;
pub mod auth;
pub mod classify;
pub mod ews;
pub mod experience;
pub mod graph;
pub mod host;
pub mod links;
pub mod mail_store;
pub mod mailbox_stats;
pub mod message;
pub mod process;
pub mod retry;
pub mod run_error;
pub mod setup;
pub mod web_link;

#[cfg(test)]
mod testing;

pub use process::report;

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "email-logging",
        generate_all,
    });
}

use bindings::erp::host as wit;
use bindings::erp::plugin::types as pt;
use bindings::exports::erp::plugin as ex;

/// The exported component.
struct Component;

// Export symbols are named after WIT (`erp:plugin/setup@0.2.0#get`), which a
// native linker's version script cannot hold; native builds exist only for
// the unit tests of the logic.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);

/// [`host::Host`] over the generated imports.
struct WitHost;

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

    fn is_logged(&self, key: &str) -> Result<bool, host::HostError> {
        wit::crm::is_logged(key).map_err(host_error)
    }

    fn log_message(
        &self,
        key: &str,
        entries: &[host::EntryRecord],
        link: &host::MessageLink,
    ) -> Result<host::LogOutcome, host::HostError> {
        let entries: Vec<wit::crm::InteractionLogEntry> = entries
            .iter()
            .map(|e| wit::crm::InteractionLogEntry {
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
            })
            .collect();
        match wit::crm::log_message(key, &entries, &wit_link(link)).map_err(host_error)? {
            wit::crm::LogOutcome::Inserted => Ok(host::LogOutcome::Inserted),
            wit::crm::LogOutcome::AlreadyLogged => Ok(host::LogOutcome::AlreadyLogged),
        }
    }

    fn update_link(&self, key: &str, link: &host::MessageLink) -> Result<(), host::HostError> {
        wit::crm::update_link(key, &wit_link(link)).map_err(host_error)
    }

    fn log_activity(
        &self,
        severity: host::Severity,
        description: &str,
        key: Option<&str>,
    ) -> Result<(), host::HostError> {
        wit::crm::log_activity(&wit::crm::Activity {
            severity: match severity {
                host::Severity::Info => wit::crm::Severity::Info,
                host::Severity::Warning => wit::crm::Severity::Warning,
                host::Severity::Error => wit::crm::Severity::Error,
            },
            description: description.into(),
            message_key: key.map(str::to_string),
        })
        .map_err(host_error)
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

fn setup_error(e: setup::SetupError) -> pt::SetupError {
    use pt::SetupError as E;
    match e {
        setup::SetupError::InvalidFields(list) => E::InvalidFields(
            list.into_iter()
                .map(|f| pt::FieldError {
                    field: f.field.to_string(),
                    message: f.message,
                })
                .collect(),
        ),
        setup::SetupError::Incomplete(m) => E::Incomplete(m),
        setup::SetupError::SignInFailed(m) => E::SignInFailed(m),
        setup::SetupError::StateMismatch => E::StateMismatch,
        setup::SetupError::Host(h) => E::Host(h.to_string()),
    }
}

fn wit_auth_mode(m: setup::AuthMode) -> pt::AuthMode {
    match m {
        setup::AuthMode::Delegated => pt::AuthMode::Delegated,
        setup::AuthMode::Application => pt::AuthMode::Application,
    }
}

fn wit_policy(p: setup::NotLoggedPolicy) -> pt::NotLoggedPolicy {
    match p {
        setup::NotLoggedPolicy::MoveToFolder => pt::NotLoggedPolicy::MoveToFolder,
        setup::NotLoggedPolicy::Delete => pt::NotLoggedPolicy::Delete,
        setup::NotLoggedPolicy::Leave => pt::NotLoggedPolicy::Leave,
    }
}

fn wit_record(v: admin::SetupView) -> pt::SetupRecord {
    let s = v.setup;
    pt::SetupRecord {
        experience: match s.experience {
            setup::Experience::Graph => pt::Experience::Graph,
            setup::Experience::Ews => pt::Experience::Ews,
        },
        ews_url: s.ews.url,
        ews_auth: match s.ews.auth {
            setup::EwsAuthMode::Basic => pt::EwsAuth::Basic,
            setup::EwsAuthMode::Oauth2 => pt::EwsAuth::Oauth2,
        },
        ews_account: s.ews.account,
        ews_password_set: v.ews_password_set,
        queue_folder: s.ews.queue_folder,
        ews_storage_folder: s.ews.storage_folder,
        shared_mailbox: s.shared_mailbox,
        tenant: s.tenant,
        auth_mode: wit_auth_mode(s.auth_mode),
        client_id: s.client_id,
        client_secret_set: v.client_secret_set,
        redirect_url: s.redirect_url,
        batch_size: s.batch_size,
        storage_folder: s.storage_folder,
        monthly_subfolders: s.monthly_subfolders,
        folder_item_limit: s.folder_item_limit,
        folder_warning_percent: s.folder_warning_percent,
        not_logged_policy: wit_policy(s.not_logged_policy),
        not_logged_folder: s.not_logged_folder,
        quarantine_folder: s.quarantine_folder,
        enabled: s.enabled,
        consent_given: s.consent_given,
        signed_in_account: s.signed_in_account,
        status: s.status,
    }
}

impl ex::setup::Guest for Component {
    fn get() -> Result<pt::SetupRecord, pt::SetupError> {
        admin::get(&WitHost).map(wit_record).map_err(setup_error)
    }

    fn update(change: pt::SetupChange) -> Result<pt::SetupRecord, pt::SetupError> {
        let change = setup::SetupChange {
            experience: change.experience.map(|e| match e {
                pt::Experience::Graph => setup::Experience::Graph,
                pt::Experience::Ews => setup::Experience::Ews,
            }),
            ews: setup::EwsChange {
                url: change.ews_url,
                auth: change.ews_auth.map(|a| match a {
                    pt::EwsAuth::Basic => setup::EwsAuthMode::Basic,
                    pt::EwsAuth::Oauth2 => setup::EwsAuthMode::Oauth2,
                }),
                account: change.ews_account,
                password: change.ews_password,
                queue_folder: change.queue_folder,
                storage_folder: change.ews_storage_folder,
            },
            shared_mailbox: change.shared_mailbox,
            tenant: change.tenant,
            auth_mode: change.auth_mode.map(|m| match m {
                pt::AuthMode::Delegated => setup::AuthMode::Delegated,
                pt::AuthMode::Application => setup::AuthMode::Application,
            }),
            client_id: change.client_id,
            client_secret: change.client_secret,
            redirect_url: change.redirect_url,
            batch_size: change.batch_size,
            storage_folder: change.storage_folder,
            monthly_subfolders: change.monthly_subfolders,
            folder_item_limit: change.folder_item_limit,
            folder_warning_percent: change.folder_warning_percent,
            not_logged_policy: change.not_logged_policy.map(|p| match p {
                pt::NotLoggedPolicy::MoveToFolder => setup::NotLoggedPolicy::MoveToFolder,
                pt::NotLoggedPolicy::Delete => setup::NotLoggedPolicy::Delete,
                pt::NotLoggedPolicy::Leave => setup::NotLoggedPolicy::Leave,
            }),
            not_logged_folder: change.not_logged_folder,
            quarantine_folder: change.quarantine_folder,
        };
        admin::update(&WitHost, change)
            .map(wit_record)
            .map_err(setup_error)
    }

    fn validate() -> Vec<pt::Check> {
        admin::validate(&WitHost)
            .into_iter()
            .map(|c| pt::Check {
                name: c.name,
                status: match c.status {
                    admin::CheckStatus::Pass => pt::CheckStatus::Pass,
                    admin::CheckStatus::Warn => pt::CheckStatus::Warn,
                    admin::CheckStatus::Fail => pt::CheckStatus::Fail,
                },
                detail: c.detail,
                hint: c.hint,
            })
            .collect()
    }

    fn begin_sign_in(account: Option<String>) -> Result<String, pt::SetupError> {
        admin::begin_sign_in(&WitHost, account.as_deref()).map_err(setup_error)
    }

    fn admin_consent_url() -> Result<String, pt::SetupError> {
        admin::admin_consent_url(&WitHost).map_err(setup_error)
    }

    fn renew_token() -> Result<pt::SetupRecord, pt::SetupError> {
        admin::renew_token(&WitHost)
            .map(wit_record)
            .map_err(setup_error)
    }

    fn recreate_job() -> Result<pt::SetupRecord, pt::SetupError> {
        admin::recreate_job(&WitHost)
            .map(wit_record)
            .map_err(setup_error)
    }

    fn complete_sign_in(redirect_query: String) -> Result<pt::SetupRecord, pt::SetupError> {
        admin::complete_sign_in(&WitHost, &redirect_query)
            .map(wit_record)
            .map_err(setup_error)
    }

    fn enable() -> Result<pt::SetupRecord, pt::SetupError> {
        admin::enable(&WitHost).map(wit_record).map_err(setup_error)
    }

    fn disable() -> Result<pt::SetupRecord, pt::SetupError> {
        admin::disable(&WitHost)
            .map(wit_record)
            .map_err(setup_error)
    }

    fn clear() -> Result<(), pt::SetupError> {
        admin::clear(&WitHost).map_err(setup_error)
    }
}

impl ex::processing::Guest for Component {
    fn run(budget_ms: u32) -> Result<pt::RunReport, pt::RunError> {
        match process::run(&WitHost, budget_ms) {
            Ok(r) => Ok(pt::RunReport {
                started_at: r.started_at,
                duration_ms: r.duration_ms,
                messages_seen: r.messages_seen,
                messages_logged: r.messages_logged,
                messages_already_logged: r.messages_already_logged,
                not_logged: r
                    .not_logged
                    .into_iter()
                    .map(|(reason, count)| pt::ReasonCount {
                        reason: wit_reason(reason),
                        count,
                    })
                    .collect(),
                messages_quarantined: r.messages_quarantined,
                messages_deferred: r.messages_deferred,
                ledger: r
                    .ledger
                    .into_iter()
                    .map(|l| pt::LedgerLine {
                        message_id: l.message_id,
                        internet_message_id: l.internet_message_id,
                        outcome: match l.outcome {
                            report::Outcome::Logged => pt::Outcome::Logged,
                            report::Outcome::AlreadyLogged => pt::Outcome::AlreadyLogged,
                            report::Outcome::NotLogged(_) => pt::Outcome::NotLogged,
                            report::Outcome::Quarantined => pt::Outcome::Quarantined,
                            report::Outcome::Deferred => pt::Outcome::Deferred,
                        },
                        reason: l.reason,
                        entries: l.entries,
                    })
                    .collect(),
                entries_created: r.entries_created,
                requests: r.requests,
                throttled_waits: r.throttled_waits,
                pages: r.pages,
                budget_exhausted: r.budget_exhausted,
                inbox_drained: r.inbox_drained,
                stopped_early: r.stopped_early,
                warnings: r.warnings,
            }),
            Err(e) => Err(wit_run_error(e)),
        }
    }

    fn resolve_messages(refs: Vec<pt::MessageRef>) -> Result<Vec<pt::Resolution>, pt::RunError> {
        let refs: Vec<links::MessageRef> = refs
            .into_iter()
            .map(|r| links::MessageRef {
                mailbox: r.mailbox,
                message_id: r.message_id,
                internet_message_id: r.internet_message_id,
            })
            .collect();
        Ok(links::resolve(&WitHost, &refs)
            .map_err(wit_run_error)?
            .into_iter()
            .map(|r| match r {
                links::Resolution::Found {
                    message_id,
                    web_link,
                    folder,
                } => pt::Resolution::Found(pt::MessageLocation {
                    message_id,
                    web_link,
                    folder,
                }),
                links::Resolution::NotFound => pt::Resolution::NotFound,
                links::Resolution::Failed(m) => pt::Resolution::Failed(m),
            })
            .collect())
    }

    fn mailbox_stats() -> Result<Vec<pt::FolderStat>, pt::RunError> {
        Ok(mailbox_stats::mailbox_stats(&WitHost)
            .map_err(wit_run_error)?
            .into_iter()
            .map(|f| pt::FolderStat {
                role: match f.role {
                    mailbox_stats::Role::Inbox => pt::FolderRole::Inbox,
                    mailbox_stats::Role::Storage => pt::FolderRole::Storage,
                    mailbox_stats::Role::StorageMonth => pt::FolderRole::StorageMonth,
                    mailbox_stats::Role::NotLogged => pt::FolderRole::NotLogged,
                    mailbox_stats::Role::Quarantine => pt::FolderRole::Quarantine,
                },
                name: f.name,
                exists: f.exists,
                item_count: f.item_count,
                item_limit: f.item_limit,
                warning: f.warning,
            })
            .collect())
    }
}

fn wit_reason(r: classify::NotLoggedReason) -> pt::NotLoggedReason {
    use classify::NotLoggedReason as R;
    match r {
        R::Draft => pt::NotLoggedReason::Draft,
        R::Sensitive => pt::NotLoggedReason::Sensitive,
        R::NoSender => pt::NotLoggedReason::NoSender,
        R::NoRecipients => pt::NotLoggedReason::NoRecipients,
        R::InternalOnly => pt::NotLoggedReason::InternalOnly,
        R::NoContact => pt::NotLoggedReason::NoContactAmongRecipients,
        R::ExternalOnly => pt::NotLoggedReason::ExternalOnly,
        R::UnknownSender => pt::NotLoggedReason::UnknownSender,
    }
}

fn wit_run_error(e: process::RunError) -> pt::RunError {
    use pt::RunError as E;
    match e {
        process::RunError::NotEnabled => E::NotEnabled,
        process::RunError::SetupIncomplete(m) => E::SetupIncomplete(m),
        process::RunError::SignInRequired(m) => E::SignInRequired(m),
        process::RunError::Throttled(s) => E::Throttled(s),
        process::RunError::Mailbox(m) => E::Mailbox(m),
        process::RunError::Transient(m) => E::Transient(m),
    }
}
