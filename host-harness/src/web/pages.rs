//! The pages: server-rendered HTML from askama templates
//! (`host-harness/templates/`), forms that post and redirect back, no
//! JavaScript.

use super::Web;
use crate::crm::opportunity::{Created, Opportunity};
use crate::crm::policy::{ListChange, PolicyChange, PolicyError};
use crate::crm::{ActivityView, ContactView, EntryFilter, EntryView};
use crate::erp::{JobOutcome, RUN_BUDGET, describe, setup_failed};
use crate::jobs::{JobLogLine, JobQueueEntry};
use crate::runtime::{
    AuthMode, Check, CheckStatus, EwsAuth, Experience, FieldError, NotLoggedPolicy, SetupChange,
    SetupError, SetupRecord,
};
use crate::setup_form::{EwsSignIn, MailStoreChoice, NotLoggedAction, SetupForm, SignInMode};
use crate::store::CompanyId;
use crate::views::{direction, short_time, unix_time};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::collections::HashMap;
use std::sync::Arc;

type Params = Query<HashMap<String, String>>;

fn render(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

/// A page with one message.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    company: Option<&'a str>,
    text: &'a str,
    next: Option<(String, &'a str)>,
}

/// A page that says one thing (errors, refusals).
pub(super) fn message(status: StatusCode, text: &str) -> Response {
    render(
        status,
        &MessagePage {
            title: "Email Logging",
            company: None,
            text,
            next: None,
        },
    )
}

/// The end of a sign-in from the setup page.
pub(super) fn signed_in(web: &Web, company: CompanyId, account: Option<&str>) -> Response {
    let name = company_name(web, company).unwrap_or_default();
    let text = format!(
        "Signed in{}. Email logging can now be enabled.",
        account.map(|a| format!(" as {a}")).unwrap_or_default()
    );
    render(
        StatusCode::OK,
        &MessagePage {
            title: "Signed in",
            company: Some(&name),
            text: &text,
            next: Some((setup_path(&name), "Back to the setup")),
        },
    )
}

fn company_name(web: &Web, company: CompanyId) -> Option<String> {
    web.erp
        .companies()
        .ok()?
        .into_iter()
        .find(|(id, _)| *id == company)
        .map(|(_, n)| n)
}

/// `/c/{company}` with the name escaped for a path segment.
fn company_path(name: &str) -> String {
    format!("/c/{}", segment(name))
}

fn setup_path(name: &str) -> String {
    format!("{}/setup", company_path(name))
}

fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The company named in the path, or the page that says it does not exist.
fn find_company(web: &Web, name: &str) -> Result<CompanyId, Box<Response>> {
    match web.erp.find_company(name) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Box::new(message(
            StatusCode::NOT_FOUND,
            &format!("There is no company {name}."),
        ))),
        Err(e) => Err(Box::new(failed(e))),
    }
}

fn failed(e: impl std::fmt::Display) -> Response {
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("The ERP failed: {e}"),
    )
}

/// What the previous action did, from the `done` parameter of a redirect.
fn notice(q: &HashMap<String, String>) -> Option<String> {
    let done = q.get("done")?;
    Some(match done.as_str() {
        "saved" => "The setup was saved.".into(),
        "policy-saved" => "The policy was saved.".into(),
        "enabled" => "Email logging is enabled: the job runs every 10 minutes.".into(),
        "disabled" => "Email logging is disabled; the job was removed.".into(),
        "run" => "The job ran; its outcome is the first line of the latest runs.".into(),
        other => match other.strip_prefix("opportunity-") {
            Some(no) if no.chars().all(|c| c.is_ascii_alphanumeric()) => {
                format!("Opportunity {no} is linked to the entry.")
            }
            _ => return None,
        },
    })
}

// ---------------------------------------------------------------- home

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    title: &'static str,
    company: Option<String>,
    companies: Vec<(String, String)>,
}

pub(super) async fn home(State(web): State<Arc<Web>>) -> Response {
    let companies = match web.erp.companies() {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    if let [(_, only)] = companies.as_slice() {
        return Redirect::to(&company_path(only)).into_response();
    }
    render(
        StatusCode::OK,
        &HomePage {
            title: "Companies",
            company: None,
            companies: companies
                .into_iter()
                .map(|(_, n)| (company_path(&n), n))
                .collect(),
        },
    )
}

#[derive(Template)]
#[template(path = "company.html")]
struct CompanyPage {
    title: String,
    company: Option<String>,
    base: String,
    setup: SetupRecord,
    job: Option<JobQueueEntry>,
    contacts: i64,
    entries: i64,
}

pub(super) async fn company(State(web): State<Arc<Web>>, Path(name): Path<String>) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let setup = match web.erp.runtime.setup_get(company).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return failed(setup_failed(e)),
        Err(e) => return failed(e),
    };
    let counts = (|| -> anyhow::Result<_> {
        let (contacts, entries) = web.erp.counts(company)?;
        Ok((web.erp.job(company)?, contacts, entries))
    })();
    let (job, contacts, entries) = match counts {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    render(
        StatusCode::OK,
        &CompanyPage {
            title: name.clone(),
            base: company_path(&name),
            company: Some(name),
            setup,
            job,
            contacts,
            entries,
        },
    )
}

// ---------------------------------------------------------------- setup

/// How a setup field is entered.
enum Input {
    /// A line of text, filled with the value.
    Text,
    /// A secret: never filled in, whatever is stored; says whether one is
    /// stored, and names the checkbox that removes it, when there is one.
    Secret {
        stored: bool,
        clear: Option<&'static str>,
    },
    /// One of several choices, the value's selected.
    Choice(Vec<Choice>),
    /// A checkbox, ticked when the value is `on`.
    Flag,
}

/// One option of a choice: the value the form posts, and what it says.
struct Choice {
    value: String,
    label: &'static str,
}

/// One line of the setup form.
struct Field {
    name: &'static str,
    label: &'static str,
    value: String,
    hint: &'static str,
    error: Option<String>,
    input: Input,
}

/// A part of the setup form, with a note when it is not in use.
struct Section {
    id: &'static str,
    title: &'static str,
    note: Option<&'static str>,
    fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    title: &'static str,
    company: Option<String>,
    base: String,
    notice: Option<String>,
    error: Option<String>,
    setup: SetupRecord,
    sections: Vec<Section>,
    checks: Vec<Check>,
}

impl SetupPage {
    fn check_class(c: &Check) -> &'static str {
        match c.status {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

fn text_field(name: &'static str, label: &'static str, value: String, hint: &'static str) -> Field {
    Field {
        name,
        label,
        value,
        hint,
        error: None,
        input: Input::Text,
    }
}

/// A choice among `options` (value, label), `current` selected.
fn choice_field(
    name: &'static str,
    label: &'static str,
    current: String,
    options: &[(String, &'static str)],
) -> Field {
    Field {
        input: Input::Choice(
            options
                .iter()
                .map(|(value, label)| Choice {
                    value: value.clone(),
                    label,
                })
                .collect(),
        ),
        ..text_field(name, label, current, "")
    }
}

fn secret_field(
    name: &'static str,
    label: &'static str,
    stored: bool,
    clear: Option<&'static str>,
) -> Field {
    Field {
        input: Input::Secret { stored, clear },
        ..text_field(name, label, String::new(), "")
    }
}

fn flag_field(name: &'static str, label: &'static str, on: bool) -> Field {
    Field {
        input: Input::Flag,
        ..text_field(name, label, if on { "on" } else { "" }.into(), "")
    }
}

/// The setup form's sections, filled from the record; the mail store not
/// in use keeps its values, for a switch back.
fn sections(s: &SetupRecord) -> Vec<Section> {
    let ews = s.experience == Experience::Ews;
    vec![
        Section {
            id: "mail-store",
            title: "Mail store",
            note: None,
            fields: vec![choice_field(
                "experience",
                "The job reads",
                MailStoreChoice::from(s.experience).to_string(),
                &[
                    (
                        MailStoreChoice::Graph.to_string(),
                        "Exchange Online: a shared mailbox (Microsoft Graph)",
                    ),
                    (
                        MailStoreChoice::Ews.to_string(),
                        "Public folders / Exchange on-premises (EWS)",
                    ),
                ],
            )],
        },
        Section {
            id: "graph",
            title: "Shared mailbox (Microsoft Graph)",
            note: ews
                .then_some("Not used while the job reads public folders; kept for a switch back."),
            fields: graph_fields(s),
        },
        Section {
            id: "ews",
            title: "Public folders (Exchange Web Services)",
            note: (!ews)
                .then_some("Not used while the job reads a shared mailbox; kept for a switch."),
            fields: ews_fields(s),
        },
        Section {
            id: "app",
            title: "App registration (Microsoft Entra ID)",
            note: (ews && s.ews_auth == EwsAuth::Basic)
                .then_some("Not used while EWS signs in with a user name and password."),
            fields: app_fields(s),
        },
        Section {
            id: "processing",
            title: "Processing",
            note: None,
            fields: processing_fields(s),
        },
    ]
}

fn graph_fields(s: &SetupRecord) -> Vec<Field> {
    vec![
        text_field(
            "shared-mailbox",
            "Shared mailbox",
            s.shared_mailbox.clone().unwrap_or_default(),
            "The mailbox the mail flow rules send BCC copies to.",
        ),
        text_field(
            "storage-folder",
            "Storage folder",
            s.storage_folder.clone(),
            "archive, or a folder path such as Sales/Email log.",
        ),
    ]
}

fn ews_fields(s: &SetupRecord) -> Vec<Field> {
    vec![
        text_field(
            "ews-url",
            "Exchange service URL",
            s.ews_url.clone().unwrap_or_default(),
            "https://…/EWS/Exchange.asmx; Exchange Online: https://outlook.office365.com/EWS/Exchange.asmx.",
        ),
        choice_field(
            "ews-auth",
            "Authentication",
            EwsSignIn::from(s.ews_auth).to_string(),
            &[
                (
                    EwsSignIn::Basic.to_string(),
                    "Basic: user name and password (on-premises)",
                ),
                (
                    EwsSignIn::Oauth2.to_string(),
                    "OAuth2: the app registration below (Exchange Online)",
                ),
            ],
        ),
        text_field(
            "ews-account",
            "Account",
            s.ews_account.clone().unwrap_or_default(),
            "The e-mail address the job signs in as (Basic) or acts as (OAuth2).",
        ),
        secret_field(
            "ews-password",
            "Password",
            s.ews_password_set,
            Some("clear-ews-password"),
        ),
        text_field(
            "queue-folder",
            "Queue folder",
            s.queue_folder.clone(),
            "The public folder the mail flow rules BCC into, such as Email Logging/Queue.",
        ),
        text_field(
            "ews-storage-folder",
            "Storage folder",
            s.ews_storage_folder.clone(),
            "The public folder logged messages move to; not the queue folder.",
        ),
    ]
}

fn app_fields(s: &SetupRecord) -> Vec<Field> {
    vec![
        choice_field(
            "auth-mode",
            "Sign-in",
            SignInMode::from(s.auth_mode).to_string(),
            &[
                (
                    SignInMode::Delegated.to_string(),
                    "Delegated: a job account signs in",
                ),
                (
                    SignInMode::Application.to_string(),
                    "Application: client credentials",
                ),
            ],
        ),
        text_field(
            "tenant",
            "Tenant",
            s.tenant.clone(),
            "Tenant id or domain; common for delegated sign-in.",
        ),
        text_field(
            "client-id",
            "Client id",
            s.client_id.clone().unwrap_or_default(),
            "The app registration's Application (client) ID.",
        ),
        secret_field("client-secret", "Client secret", s.client_secret_set, None),
        text_field(
            "redirect-url",
            "Redirect URL",
            s.redirect_url.clone().unwrap_or_default(),
            "As registered for the app; this page's callback when signing in here.",
        ),
    ]
}

fn processing_fields(s: &SetupRecord) -> Vec<Field> {
    vec![
        text_field(
            "batch-size",
            "Messages per page",
            s.batch_size.to_string(),
            "1 to 1000.",
        ),
        flag_field(
            "monthly-subfolders",
            "One subfolder per month in the storage folder",
            s.monthly_subfolders,
        ),
        text_field(
            "folder-item-limit",
            "Folder item limit",
            s.folder_item_limit.to_string(),
            "Exchange Online allows 1000000 items per folder.",
        ),
        text_field(
            "folder-warning-percent",
            "Warn from (%)",
            s.folder_warning_percent.to_string(),
            "Validation and runs warn past this share of the limit.",
        ),
        choice_field(
            "not-logged-policy",
            "Messages that cannot be logged",
            NotLoggedAction::from(s.not_logged_policy).to_string(),
            &[
                (
                    NotLoggedAction::Move.to_string(),
                    "Move to the not-logged folder",
                ),
                (NotLoggedAction::Leave.to_string(), "Leave in the Inbox"),
                (NotLoggedAction::Delete.to_string(), "Delete"),
            ],
        ),
        text_field(
            "not-logged-folder",
            "Not-logged folder",
            s.not_logged_folder.clone(),
            "Where messages that cannot be logged go.",
        ),
        text_field(
            "quarantine-folder",
            "Quarantine folder",
            s.quarantine_folder.clone(),
            "Where messages whose handling failed for good go.",
        ),
        flag_field(
            "log-sensitive",
            "Log mail its sender marked private or confidential",
            s.log_sensitive,
        ),
    ]
}

/// What a setup page shows besides the record.
#[derive(Default)]
struct Shown {
    notice: Option<String>,
    error: Option<String>,
    checks: Vec<Check>,
    /// The values a refused form had, shown again so nothing typed is lost.
    form: Vec<(String, String)>,
    field_errors: Vec<FieldError>,
}

async fn setup_page(
    web: &Web,
    name: String,
    company: CompanyId,
    status: StatusCode,
    shown: Shown,
) -> Response {
    let setup = match web.erp.runtime.setup_get(company).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return failed(setup_failed(e)),
        Err(e) => return failed(e),
    };
    let mut sections = sections(&setup);
    for f in sections.iter_mut().flat_map(|s| s.fields.iter_mut()) {
        refill(f, &shown);
    }
    render(
        status,
        &SetupPage {
            title: "Email logging setup",
            base: company_path(&name),
            company: Some(name),
            notice: shown.notice,
            error: shown.error,
            sections,
            setup,
            checks: shown.checks,
        },
    )
}

/// A field as a refused form had it (never a secret: those are not kept),
/// with the component's message for it.
fn refill(f: &mut Field, shown: &Shown) {
    let posted = shown.form.iter().rev().find(|(k, _)| k == f.name);
    match (&f.input, posted) {
        (Input::Secret { .. }, _) => {}
        (_, Some((_, v))) => f.value = v.clone(),
        // An unticked checkbox is not posted at all.
        (Input::Flag, None) if !shown.form.is_empty() => f.value.clear(),
        _ => {}
    }
    f.error = shown
        .field_errors
        .iter()
        .find(|e| e.field == f.name)
        .map(|e| e.message.clone());
}

pub(super) async fn setup(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    Query(q): Params,
) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let shown = Shown {
        notice: notice(&q),
        ..Default::default()
    };
    setup_page(&web, name, company, StatusCode::OK, shown).await
}

/// The form's values as a change: only what differs from the record, so a
/// save never rewrites fields nobody touched.
fn change_from_form(form: &[(String, String)], s: &SetupRecord) -> Result<SetupChange, String> {
    form_from_pairs(form, s).map(SetupForm::into_setup_change)
}

/// The form's fields that differ from the record, as a [`SetupForm`]. The
/// pairs are read by hand rather than by serde so that a repeated field
/// takes its last value and a bad number is named in the page's words.
fn form_from_pairs(form: &[(String, String)], s: &SetupRecord) -> Result<SetupForm, String> {
    let get = |k: &str| {
        form.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim())
    };
    let text = |k: &str, current: &str| -> Option<String> {
        get(k).filter(|v| *v != current).map(str::to_string)
    };
    let number = |k: &str, current: u64| -> Result<Option<u64>, String> {
        match get(k) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| format!("{k}: {v:?} is not a whole number"))
                .map(|n| (n != current).then_some(n)),
        }
    };
    let narrow = |k: &str, n: Option<u64>, max: u64| -> Result<Option<u64>, String> {
        match n {
            Some(n) if n > max => Err(format!("{k}: {n} is too large")),
            other => Ok(other),
        }
    };
    let monthly = get("monthly-subfolders") == Some("on");
    let sensitive = get("log-sensitive") == Some("on");
    // Numbers first, in the form's order: the first bad one is the one named.
    let batch_size = narrow(
        "batch-size",
        number("batch-size", u64::from(s.batch_size))?,
        u64::from(u32::MAX),
    )?
    .map(|n| n as u32);
    let folder_item_limit = narrow(
        "folder-item-limit",
        number("folder-item-limit", u64::from(s.folder_item_limit))?,
        u64::from(u32::MAX),
    )?
    .map(|n| n as u32);
    let folder_warning_percent = narrow(
        "folder-warning-percent",
        number(
            "folder-warning-percent",
            u64::from(s.folder_warning_percent),
        )?,
        u64::from(u8::MAX),
    )?
    .map(|n| n as u8);
    Ok(SetupForm {
        experience: get("experience")
            .and_then(|v| v.parse::<MailStoreChoice>().ok())
            .filter(|e| Experience::from(*e) != s.experience),
        ews_url: text("ews-url", s.ews_url.as_deref().unwrap_or("")),
        ews_auth: get("ews-auth")
            .and_then(|v| v.parse::<EwsSignIn>().ok())
            .filter(|a| EwsAuth::from(*a) != s.ews_auth),
        ews_account: text("ews-account", s.ews_account.as_deref().unwrap_or("")),
        ews_password: get("ews-password")
            .filter(|v| !v.is_empty())
            .map(Into::into),
        clear_ews_password: get("clear-ews-password") == Some("on"),
        queue_folder: text("queue-folder", &s.queue_folder),
        ews_storage_folder: text("ews-storage-folder", &s.ews_storage_folder),
        shared_mailbox: text("shared-mailbox", s.shared_mailbox.as_deref().unwrap_or("")),
        tenant: text("tenant", &s.tenant),
        client_id: text("client-id", s.client_id.as_deref().unwrap_or("")),
        redirect_url: text("redirect-url", s.redirect_url.as_deref().unwrap_or("")),
        storage_folder: text("storage-folder", &s.storage_folder),
        not_logged_folder: text("not-logged-folder", &s.not_logged_folder),
        quarantine_folder: text("quarantine-folder", &s.quarantine_folder),
        client_secret: get("client-secret")
            .filter(|v| !v.is_empty())
            .map(Into::into),
        batch_size,
        folder_item_limit,
        folder_warning_percent,
        monthly_subfolders: (monthly != s.monthly_subfolders).then_some(monthly),
        log_sensitive: (sensitive != s.log_sensitive).then_some(sensitive),
        auth_mode: get("auth-mode")
            .and_then(|v| v.parse::<SignInMode>().ok())
            .filter(|m| AuthMode::from(*m) != s.auth_mode),
        not_logged_policy: get("not-logged-policy")
            .and_then(|v| v.parse::<NotLoggedAction>().ok())
            .filter(|a| NotLoggedPolicy::from(*a) != s.not_logged_policy),
        ..Default::default()
    })
}

/// The form's fields that hold secrets: never shown again, not even after
/// a refused save.
const SECRETS: [&str; 2] = ["client-secret", "ews-password"];

pub(super) async fn save_setup(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let rt = &web.erp.runtime;
    let current = match rt.setup_get(company).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return failed(setup_failed(e)),
        Err(e) => return failed(e),
    };
    let refused = |error: String, field_errors: Vec<FieldError>| Shown {
        error: Some(format!("Nothing was saved. {error}")),
        form: form
            .iter()
            .filter(|(k, _)| !SECRETS.contains(&k.as_str()))
            .cloned()
            .collect(),
        field_errors,
        ..Default::default()
    };
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let change = match change_from_form(&form, &current) {
        Ok(c) => c,
        Err(m) => return setup_page(&web, name, company, status, refused(m, vec![])).await,
    };
    match rt.setup_update(company, change).await {
        Ok(Ok(_)) => Redirect::to(&format!("{}?done=saved", setup_path(&name))).into_response(),
        Ok(Err(SetupError::InvalidFields(list))) => {
            let text = "Correct the fields marked below.".to_string();
            setup_page(&web, name, company, status, refused(text, list)).await
        }
        Ok(Err(e)) => {
            let text = format!("{:#}", setup_failed(e));
            setup_page(&web, name, company, status, refused(text, vec![])).await
        }
        Err(e) => failed(e),
    }
}

pub(super) async fn validate(State(web): State<Arc<Web>>, Path(name): Path<String>) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match web.erp.runtime.validate(company).await {
        Ok(checks) => {
            let shown = Shown {
                checks,
                ..Default::default()
            };
            setup_page(&web, name, company, StatusCode::OK, shown).await
        }
        Err(e) => failed(e),
    }
}

pub(super) async fn enable(State(web): State<Arc<Web>>, Path(name): Path<String>) -> Response {
    toggle(web, name, true).await
}

pub(super) async fn disable(State(web): State<Arc<Web>>, Path(name): Path<String>) -> Response {
    toggle(web, name, false).await
}

async fn toggle(web: Arc<Web>, name: String, on: bool) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let rt = &web.erp.runtime;
    let result = if on {
        rt.enable(company).await
    } else {
        rt.disable(company).await
    };
    match result {
        Ok(Ok(_)) => Redirect::to(&format!(
            "{}?done={}",
            setup_path(&name),
            if on { "enabled" } else { "disabled" }
        ))
        .into_response(),
        Ok(Err(e)) => {
            // Show why, with the checklist that says what to fix.
            let shown = Shown {
                error: Some(format!("{:#}", setup_failed(e))),
                checks: rt.validate(company).await.unwrap_or_default(),
                ..Default::default()
            };
            setup_page(&web, name, company, StatusCode::UNPROCESSABLE_ENTITY, shown).await
        }
        Err(e) => failed(e),
    }
}

// ---------------------------------------------------------------- policy

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    title: &'static str,
    company: Option<String>,
    base: String,
    notice: Option<String>,
    error: Option<String>,
    company_by_domain: bool,
    /// The never-log list, one entry a line.
    never_log: String,
    /// The withheld-subject domains, one a line.
    withhold_subject: String,
    /// The setup's `log-sensitive`, when the setup could be read.
    log_sensitive: Option<bool>,
}

/// The policy form's values: the switch, then the lists as typed.
type PolicyForm = (bool, String, String);

async fn policy_page(
    web: &Web,
    name: String,
    company: CompanyId,
    status: StatusCode,
    notice: Option<String>,
    refused: Option<(String, PolicyForm)>,
) -> Response {
    let (error, (company_by_domain, never_log, withhold_subject)) = match refused {
        Some((error, form)) => (Some(error), form),
        None => match web.erp.policy(company) {
            Ok(p) => (
                None,
                (
                    p.company_by_domain,
                    p.never_log.join("\n"),
                    p.withheld_subject_domains.join("\n"),
                ),
            ),
            Err(e) => return failed(e),
        },
    };
    let log_sensitive = match web.erp.runtime.setup_get(company).await {
        Ok(Ok(s)) => Some(s.log_sensitive),
        _ => None,
    };
    render(
        status,
        &PolicyPage {
            title: "Email logging policy",
            base: company_path(&name),
            company: Some(name),
            notice,
            error,
            company_by_domain,
            never_log,
            withhold_subject,
            log_sensitive,
        },
    )
}

pub(super) async fn policy(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    Query(q): Params,
) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    policy_page(&web, name, company, StatusCode::OK, notice(&q), None).await
}

/// The values of a list typed one a line (commas separate too: no address
/// or domain holds one); a value with a space in it stays whole, so that
/// its error names it as typed.
fn list_values(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) async fn save_policy(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let get = |k: &str| {
        form.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    // An unticked checkbox is not posted at all.
    let by_domain = get("company-by-domain") == Some("on");
    let never_log = get("never-log").unwrap_or_default().to_string();
    let withhold = get("withhold-subject").unwrap_or_default().to_string();
    let change = PolicyChange {
        company_by_domain: Some(by_domain),
        never_log: ListChange::replace_with(list_values(&never_log)),
        withheld_subject_domains: ListChange::replace_with(list_values(&withhold)),
    };
    match web.erp.change_policy(company, &change) {
        Ok(_) => Redirect::to(&format!("{}/policy?done=policy-saved", company_path(&name)))
            .into_response(),
        Err(PolicyError::Invalid(problems)) => {
            let error = format!("Nothing was saved. {}", problems.join("; "));
            let form = (by_domain, never_log, withhold);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            policy_page(&web, name, company, status, None, Some((error, form))).await
        }
        Err(e) => failed(e),
    }
}

// ---------------------------------------------------------------- contacts

#[derive(Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    title: &'static str,
    company: Option<String>,
    base: String,
    search: String,
    contacts: Vec<ContactView>,
    more: bool,
}

/// Contacts on one page; a search narrows a long list.
const CONTACTS_SHOWN: usize = 200;

pub(super) async fn contacts(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    Query(q): Params,
) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let search = q.get("q").cloned().unwrap_or_default();
    match web.erp.contacts(company, Some(&search), CONTACTS_SHOWN + 1) {
        Ok(mut contacts) => {
            let more = contacts.len() > CONTACTS_SHOWN;
            contacts.truncate(CONTACTS_SHOWN);
            render(
                StatusCode::OK,
                &ContactsPage {
                    title: "Contacts",
                    base: company_path(&name),
                    company: Some(name),
                    search,
                    contacts,
                    more,
                },
            )
        }
        Err(e) => failed(e),
    }
}

/// An entry as the contact page lists it.
struct EntryRow {
    entry: EntryView,
    when: String,
    direction: &'static str,
    open: String,
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    title: String,
    company: Option<String>,
    base: String,
    notice: Option<String>,
    contact: ContactView,
    entries: Vec<EntryRow>,
    opportunities: Vec<Opportunity>,
}

pub(super) async fn contact(
    State(web): State<Arc<Web>>,
    Path((name, no)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let contact = match web.erp.contact(company, &no) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return message(StatusCode::NOT_FOUND, &format!("There is no contact {no}."));
        }
        Err(e) => return failed(e),
    };
    let filter = EntryFilter {
        contact: Some(no.clone()),
        ..Default::default()
    };
    let (entries, opportunities) = match (
        web.erp.entries(company, &filter),
        web.erp.opportunities(company, Some(&no)),
    ) {
        (Ok(e), Ok(o)) => (e, o),
        (Err(e), _) => return failed(e),
        (_, Err(e)) => return failed(e),
    };
    let entries = entries
        .into_iter()
        .rev()
        .map(|e| EntryRow {
            when: short_time(&e.datetime),
            direction: direction(&e),
            open: web.erp.message_url(&e.web_link).unwrap_or_default(),
            entry: e,
        })
        .collect();
    render(
        StatusCode::OK,
        &ContactPage {
            title: format!("{} {}", contact.no, contact.name),
            base: company_path(&name),
            company: Some(name),
            notice: notice(&q),
            contact,
            entries,
            opportunities,
        },
    )
}

pub(super) async fn create_opportunity(
    State(web): State<Arc<Web>>,
    Path((name, entry_no)): Path<(String, i64)>,
) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let entry = match web.erp.entry(company, entry_no) {
        Ok(Some(e)) => e,
        Ok(None) => {
            return message(
                StatusCode::NOT_FOUND,
                &format!("There is no interaction log entry {entry_no}."),
            );
        }
        Err(e) => return failed(e),
    };
    match web.erp.create_opportunity(company, &entry) {
        Ok(Created::New(o) | Created::Existing(o)) => Redirect::to(&format!(
            "{}/contacts/{}?done=opportunity-{}",
            company_path(&name),
            segment(&entry.contact_no),
            o.no
        ))
        .into_response(),
        Err(e) => failed(e),
    }
}

// ---------------------------------------------------------------- jobs

/// A run of the job queue log as the page shows it.
struct RunRow {
    line: JobLogLine,
    when: String,
    summary: String,
    warnings: Vec<String>,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    title: &'static str,
    company: Option<String>,
    base: String,
    notice: Option<String>,
    error: Option<String>,
    jobs: Vec<(JobQueueEntry, String, String)>,
    runs: Vec<RunRow>,
    /// When (short), and the line.
    activities: Vec<(String, ActivityView)>,
}

fn run_row(line: JobLogLine) -> RunRow {
    let n = |k: &str| {
        line.report
            .as_ref()
            .and_then(|r| r.get(k))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let summary = if line.report.is_some() {
        format!(
            "{} seen, {} logged, {} entries, {} deferred",
            n("messages_seen"),
            n("messages_logged"),
            n("entries_created"),
            n("messages_deferred")
        )
    } else {
        String::new()
    };
    let warnings = line
        .report
        .as_ref()
        .and_then(|r| r.get("warnings"))
        .and_then(serde_json::Value::as_array)
        .map(|w| {
            w.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    RunRow {
        when: short_time(&line.at),
        line,
        summary,
        warnings,
    }
}

async fn jobs_page(
    web: &Web,
    name: String,
    company: CompanyId,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let data = (|| -> anyhow::Result<_> {
        Ok((
            web.erp.jobs(company)?,
            web.erp.job_log(company, 10)?,
            web.erp.recent_activities(company, 10)?,
        ))
    })();
    let (list, log, activities) = match data {
        Ok(d) => d,
        Err(e) => return failed(e),
    };
    render(
        StatusCode::OK,
        &JobsPage {
            title: "Job queue",
            base: company_path(&name),
            company: Some(name),
            notice,
            error,
            jobs: list
                .into_iter()
                .map(|j| {
                    let last = j
                        .last_run_at
                        .map(unix_time)
                        .unwrap_or_else(|| "never".into());
                    let next = unix_time(j.next_run);
                    (j, last, next)
                })
                .collect(),
            runs: log.into_iter().map(run_row).collect(),
            activities: activities
                .into_iter()
                .map(|a| (short_time(&a.at), a))
                .collect(),
        },
    )
}

pub(super) async fn jobs(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    Query(q): Params,
) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    jobs_page(&web, name, company, notice(&q), None).await
}

pub(super) async fn run_now(State(web): State<Arc<Web>>, Path(name): Path<String>) -> Response {
    let company = match find_company(&web, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match web.erp.run_job(company, RUN_BUDGET).await {
        Ok(JobOutcome::Report(_)) => {
            Redirect::to(&format!("{}/jobs?done=run", company_path(&name))).into_response()
        }
        Ok(JobOutcome::Error(e)) => {
            let text = format!("The run did not complete: {}", describe(&e));
            jobs_page(&web, name, company, None, Some(text)).await
        }
        Ok(JobOutcome::Fault(e)) => {
            let text = format!("The run did not complete: {e}");
            jobs_page(&web, name, company, None, Some(text)).await
        }
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_typed_list_is_split_by_lines_and_commas() {
        assert_eq!(
            super::list_values(
                "hr@contoso.com\r\n legal.contoso.com, x.example,,\n\nnot a domain\n"
            ),
            [
                "hr@contoso.com",
                "legal.contoso.com",
                "x.example",
                "not a domain"
            ]
        );
        assert!(super::list_values(" \n ").is_empty());
    }
}
