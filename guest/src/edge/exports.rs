//! The component's exports over the logic's modules.

use super::imports::WitHost;
use super::{Component, ex, pt};
use crate::{admin, classify, links, mailbox_stats, process, report, setup};

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
        log_sensitive: s.log_sensitive,
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
            log_sensitive: change.log_sensitive,
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
        R::SkippedByErp => pt::NotLoggedReason::SkippedByErp,
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
