//! The Email Logging setup record: fields, defaults and field validation.

use crate::address::Address;
use crate::host::{Host, HostError};
use serde::{Deserialize, Serialize};

pub mod ews;
pub use ews::{EWS_PASSWORD, EwsAuthMode, EwsChange, EwsSetup, Experience};

/// The storage key of the setup record.
pub(crate) const KEY: &str = "setup";
/// The secret holding the setup's client secret.
pub const CLIENT_SECRET: &str = "client-secret";

/// How the job signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Authorization code as the job account.
    #[default]
    Delegated,
    /// Client credentials.
    Application,
}

/// What happens to messages that cannot be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NotLoggedPolicy {
    /// Move to the "not logged" folder.
    #[default]
    MoveToFolder,
    /// Delete (Business Central's behaviour).
    Delete,
    /// Leave in the Inbox.
    Leave,
}

/// The stored setup record (secrets live apart, in host secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Setup {
    /// Which mail store the job reads: Graph (the default) or EWS.
    pub experience: Experience,
    /// The current experience's fields (EWS), kept while Graph is used.
    pub ews: EwsSetup,
    /// The shared mailbox.
    pub shared_mailbox: Option<String>,
    /// Tenant id or domain.
    pub tenant: String,
    /// Delegated or application.
    pub auth_mode: AuthMode,
    /// Client id kept in the setup.
    pub client_id: Option<String>,
    /// Redirect URL kept in the setup.
    pub redirect_url: Option<String>,
    /// Page size.
    pub batch_size: u32,
    /// Storage folder: a well-known name or a `/`-separated folder path.
    pub storage_folder: String,
    /// One subfolder per month (`2026-11`) under the storage folder.
    pub monthly_subfolders: bool,
    /// The item limit folders are held against.
    pub folder_item_limit: u32,
    /// The share of the limit (percent) past which validation and runs warn.
    pub folder_warning_percent: u8,
    /// Policy for messages that are not logged.
    pub not_logged_policy: NotLoggedPolicy,
    /// Folder for messages that are not logged.
    pub not_logged_folder: String,
    /// Folder for messages whose handling failed for good.
    pub quarantine_folder: String,
    /// Whether mail marked private or confidential is logged (off: it is
    /// not, and the ERP never sees it).
    pub log_sensitive: bool,
    /// Whether the job is on.
    pub enabled: bool,
    /// Whether a sign-in (or client-credentials grant) succeeded.
    pub consent_given: bool,
    /// The job's account, when known.
    pub signed_in_account: Option<String>,
    /// `ok` or what to do.
    pub status: String,
}

/// Default page size.
pub const DEFAULT_BATCH_SIZE: u32 = 50;
/// Exchange Online's limit of items in one mailbox folder.
pub const FOLDER_ITEM_LIMIT: u32 = 1_000_000;
/// Warn from this share of the item limit on, by default.
pub const DEFAULT_FOLDER_WARNING_PERCENT: u8 = 80;
/// The status of a setup that needs nothing.
pub const STATUS_OK: &str = "ok";

impl Default for Setup {
    fn default() -> Self {
        Self {
            experience: Experience::Graph,
            ews: EwsSetup::default(),
            shared_mailbox: None,
            tenant: "common".into(),
            auth_mode: AuthMode::Delegated,
            client_id: None,
            redirect_url: None,
            batch_size: DEFAULT_BATCH_SIZE,
            storage_folder: "archive".into(),
            monthly_subfolders: false,
            folder_item_limit: FOLDER_ITEM_LIMIT,
            folder_warning_percent: DEFAULT_FOLDER_WARNING_PERCENT,
            not_logged_policy: NotLoggedPolicy::MoveToFolder,
            not_logged_folder: "Not logged".into(),
            quarantine_folder: "Email logging quarantine".into(),
            log_sensitive: false,
            enabled: false,
            consent_given: false,
            signed_in_account: None,
            status: STATUS_OK.into(),
        }
    }
}

/// A requested change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SetupChange {
    /// Graph or EWS.
    pub experience: Option<Experience>,
    /// The current experience's fields.
    pub ews: EwsChange,
    /// Shared mailbox; empty clears.
    pub shared_mailbox: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Auth mode.
    pub auth_mode: Option<AuthMode>,
    /// Client id; empty clears.
    pub client_id: Option<String>,
    /// Client secret; empty clears.
    pub client_secret: Option<String>,
    /// Redirect URL; empty clears.
    pub redirect_url: Option<String>,
    /// Batch size.
    pub batch_size: Option<u32>,
    /// Storage folder.
    pub storage_folder: Option<String>,
    /// Monthly subfolders on or off.
    pub monthly_subfolders: Option<bool>,
    /// Folder item limit.
    pub folder_item_limit: Option<u32>,
    /// Warning share of the limit, percent.
    pub folder_warning_percent: Option<u8>,
    /// Not-logged policy.
    pub not_logged_policy: Option<NotLoggedPolicy>,
    /// Not-logged folder.
    pub not_logged_folder: Option<String>,
    /// Quarantine folder.
    pub quarantine_folder: Option<String>,
    /// Log mail marked private or confidential, or not.
    pub log_sensitive: Option<bool>,
}

/// A field the administrator must correct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Why a setup step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// Fields are wrong; nothing saved.
    #[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    InvalidFields(Vec<FieldError>),
    /// Not complete enough for this step.
    #[error("{0}")]
    Incomplete(String),
    /// Sign-in failed.
    #[error("{0}")]
    SignInFailed(String),
    /// The redirect does not belong to the sign-in this component started.
    #[error(
        "the sign-in response does not match the sign-in that was started; start the sign-in again"
    )]
    StateMismatch,
    /// The host failed.
    #[error("{0}")]
    Host(#[from] HostError),
}

impl Setup {
    /// Loads the setup record, or the defaults when there is none yet.
    pub fn load(host: &dyn Host) -> Result<(Self, Option<u64>), HostError> {
        match host.storage_get(KEY)? {
            None => Ok((Self::default(), None)),
            Some((text, version)) => serde_json::from_str(&text)
                .map(|s| (s, Some(version)))
                .map_err(|e| HostError::Internal(format!("the stored setup is unreadable: {e}"))),
        }
    }

    /// Saves the record if nobody else changed it since `version`.
    pub fn save(&self, host: &dyn Host, version: Option<u64>) -> Result<u64, HostError> {
        let text = serde_json::to_string(self)
            .map_err(|e| HostError::Internal(format!("cannot encode the setup: {e}")))?;
        host.storage_put(KEY, &text, version)
    }

    /// Removes the stored record.
    pub fn remove(host: &dyn Host) -> Result<(), HostError> {
        host.storage_remove(KEY)
    }

    /// Applies a change after checking every field; on any error nothing changes.
    /// Returns the secrets to store, by name (an empty value: remove it).
    pub fn apply(
        &mut self,
        change: SetupChange,
    ) -> Result<Vec<(&'static str, String)>, SetupError> {
        let mut errors = Vec::new();
        let mut next = self.clone();
        if let Some(v) = change.experience {
            next.experience = v;
        }
        let password = next.ews.apply(change.ews, &mut errors);
        if let Some(v) = change.shared_mailbox {
            let v = v.trim();
            if v.is_empty() {
                next.shared_mailbox = None;
            } else {
                match Address::parse(v) {
                    Ok(a) => next.shared_mailbox = Some(a.to_string()),
                    Err(e) => errors.push(field_error("shared-mailbox", e.to_string())),
                }
            }
        }
        if let Some(v) = change.tenant {
            match check_tenant(v.trim()) {
                Ok(()) => next.tenant = v.trim().to_string(),
                Err(m) => errors.push(field_error("tenant", m)),
            }
        }
        if let Some(v) = change.auth_mode {
            next.auth_mode = v;
        }
        if let Some(v) = change.client_id {
            let v = v.trim();
            if v.is_empty() {
                next.client_id = None;
            } else if is_guid(v) {
                next.client_id = Some(v.to_lowercase());
            } else {
                errors.push(field_error(
                    "client-id",
                    "the client id must be the app registration's Application (client) ID, a GUID like 8f6c2d1e-0b5a-4c3e-9d7f-1a2b3c4d5e6f".into(),
                ));
            }
        }
        let secret = match change.client_secret {
            Some(s) if s.len() > 1024 || s.chars().any(char::is_control) => {
                errors.push(field_error(
                    "client-secret",
                    "the client secret has control characters or is over 1024 characters; paste the secret's Value from the app registration".into(),
                ));
                None
            }
            other => other.map(|s| s.trim().to_string()),
        };
        if let Some(v) = change.redirect_url {
            let v = v.trim();
            if v.is_empty() {
                next.redirect_url = None;
            } else {
                match check_redirect_url(v) {
                    Ok(()) => next.redirect_url = Some(v.to_string()),
                    Err(m) => errors.push(field_error("redirect-url", m)),
                }
            }
        }
        if let Some(v) = change.batch_size {
            if (1..=1000).contains(&v) {
                next.batch_size = v;
            } else {
                errors.push(field_error(
                    "batch-size",
                    format!("{v} is out of range: Graph returns 1 to 1000 messages per page"),
                ));
            }
        }
        if let Some(v) = change.storage_folder {
            match check_folder_path(&v).and_then(not_the_inbox) {
                Ok(path) => next.storage_folder = path,
                Err(m) => errors.push(field_error("storage-folder", m)),
            }
        }
        if let Some(v) = change.monthly_subfolders {
            next.monthly_subfolders = v;
        }
        if let Some(v) = change.log_sensitive {
            next.log_sensitive = v;
        }
        match change.folder_item_limit {
            Some(0) => errors.push(field_error(
                "folder-item-limit",
                format!("the limit must be at least 1 (Exchange Online's is {FOLDER_ITEM_LIMIT})"),
            )),
            Some(v) => next.folder_item_limit = v,
            None => {}
        }
        match change.folder_warning_percent {
            Some(v) if (1..=100).contains(&v) => next.folder_warning_percent = v,
            Some(v) => errors.push(field_error(
                "folder-warning-percent",
                format!("{v} is out of range: give a share of the item limit from 1 to 100"),
            )),
            None => {}
        }
        for (name, value, slot) in [
            (
                "not-logged-folder",
                change.not_logged_folder,
                &mut next.not_logged_folder,
            ),
            (
                "quarantine-folder",
                change.quarantine_folder,
                &mut next.quarantine_folder,
            ),
        ] {
            if let Some(v) = value {
                match check_folder_name(v.trim()).and_then(|()| not_the_inbox(v.trim().into())) {
                    Ok(v) => *slot = v,
                    Err(m) => errors.push(field_error(name, m)),
                }
            }
        }
        if let Some(v) = change.not_logged_policy {
            next.not_logged_policy = v;
        }
        if !errors.is_empty() {
            return Err(SetupError::InvalidFields(errors));
        }
        // A different account or app invalidates what the old one consented to.
        if next.tenant != self.tenant
            || next.client_id != self.client_id
            || next.auth_mode != self.auth_mode
        {
            next.consent_given = false;
            next.signed_in_account = None;
        }
        *self = next;
        Ok([(CLIENT_SECRET, secret), (EWS_PASSWORD, password)]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect())
    }

    /// The share of the item limit past which a folder of `count` items warns.
    pub fn folder_warns(&self, count: u64) -> bool {
        count * 100 >= u64::from(self.folder_item_limit) * u64::from(self.folder_warning_percent)
    }

    /// The mailbox entries keep (the shared mailbox, or the EWS account),
    /// or a message saying what must be set first.
    pub fn mailbox(&self) -> Result<&str, String> {
        match self.experience {
            Experience::Graph => self.shared_mailbox.as_deref().ok_or_else(|| {
                "set the shared mailbox address first (setup set --shared-mailbox ADDRESS)"
                    .to_string()
            }),
            Experience::Ews => match self.ews.missing() {
                Some(m) => Err(m),
                None => Ok(self.ews.account.as_deref().unwrap_or_default()),
            },
        }
    }

    /// The storage folder of the experience in use.
    pub fn storage(&self) -> &str {
        match self.experience {
            Experience::Graph => &self.storage_folder,
            Experience::Ews => &self.ews.storage_folder,
        }
    }

    /// The folder the job reads: the shared mailbox's Inbox, or the public
    /// queue folder.
    pub fn queue(&self) -> &str {
        match self.experience {
            Experience::Graph => "Inbox",
            Experience::Ews => &self.ews.queue_folder,
        }
    }
}

fn field_error(field: &'static str, message: String) -> FieldError {
    FieldError { field, message }
}

/// `true` for an 8-4-4-4-12 hexadecimal GUID.
pub fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn check_tenant(t: &str) -> Result<(), String> {
    let named = ["common", "organizations", "consumers"].contains(&t.to_lowercase().as_str());
    let domain = t.contains('.')
        && !t.starts_with('.')
        && !t.ends_with('.')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if named || is_guid(t) || domain {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a tenant: use the directory (tenant) ID GUID, a domain such as contoso.onmicrosoft.com, or common/organizations",
            t.chars().take(80).collect::<String>()
        ))
    }
}

fn check_redirect_url(v: &str) -> Result<(), String> {
    let url = url::Url::parse(v).map_err(|e| format!("'{v}' is not a URL: {e}"))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.fragment().is_some() {
        return Err(
            "the redirect URL must not have a fragment ('#...'): Entra ID refuses such redirect URIs"
                .into(),
        );
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        _ => Err(
            "the redirect URL must use https (http only for localhost), as Entra ID requires"
                .into(),
        ),
    }
}

/// Whether a folder setting names the Inbox itself, which the job reads:
/// messages put there would be read again by every run.
pub fn is_inbox(folder: &str) -> bool {
    folder.trim().eq_ignore_ascii_case("inbox")
}

fn not_the_inbox(folder: String) -> Result<String, String> {
    if is_inbox(&folder) {
        Err("the Inbox is the folder the job reads; choose another folder (messages moved there would be read again by every run)".into())
    } else {
        Ok(folder)
    }
}

/// Normalises a storage folder path (`Sales / Email log` → `Sales/Email log`).
fn check_folder_path(v: &str) -> Result<String, String> {
    let parts: Vec<&str> = v.split('/').map(str::trim).collect();
    if parts.len() > 10 {
        return Err("the folder path is deeper than 10 levels".into());
    }
    for part in &parts {
        check_folder_name(part).map_err(|m| {
            if parts.len() > 1 {
                format!("{m} (in the path '{v}'; '/' separates folder levels)")
            } else {
                m
            }
        })?;
    }
    Ok(parts.join("/"))
}

fn check_folder_name(v: &str) -> Result<(), String> {
    if v.is_empty() {
        Err("the folder name is empty".into())
    } else if v.chars().count() > 255 || v.chars().any(char::is_control) {
        Err("the folder name must be at most 255 characters without control characters".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let s = Setup::default();
        assert_eq!(s.batch_size, 50);
        assert_eq!(s.storage_folder, "archive");
        assert_eq!(s.not_logged_policy, NotLoggedPolicy::MoveToFolder);
        assert!(!s.enabled);
    }

    #[test]
    fn every_bad_field_is_reported_and_nothing_changes() {
        let mut s = Setup::default();
        let err = s
            .apply(SetupChange {
                shared_mailbox: Some("not an address".into()),
                tenant: Some("bad tenant!".into()),
                client_id: Some("abc".into()),
                redirect_url: Some("ftp://x".into()),
                batch_size: Some(1001),
                storage_folder: Some(" ".into()),
                ..Default::default()
            })
            .unwrap_err();
        let SetupError::InvalidFields(list) = err else {
            panic!()
        };
        let fields: Vec<_> = list.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "shared-mailbox",
                "tenant",
                "client-id",
                "redirect-url",
                "batch-size",
                "storage-folder"
            ]
        );
        assert_eq!(s, Setup::default());
    }

    #[test]
    fn the_inbox_is_no_destination_and_fragments_no_redirect() {
        for change in [
            SetupChange {
                storage_folder: Some(" INBOX ".into()),
                ..Default::default()
            },
            SetupChange {
                not_logged_folder: Some("Inbox".into()),
                ..Default::default()
            },
            SetupChange {
                quarantine_folder: Some("inbox".into()),
                ..Default::default()
            },
            SetupChange {
                redirect_url: Some("https://erp.example/callback#done".into()),
                ..Default::default()
            },
        ] {
            let mut s = Setup::default();
            let err = s.apply(change.clone()).unwrap_err();
            assert!(
                matches!(&err, SetupError::InvalidFields(l) if l.len() == 1),
                "{change:?}: {err:?}"
            );
            assert_eq!(s, Setup::default());
        }
        let mut s = Setup::default();
        s.apply(SetupChange {
            storage_folder: Some("Inbox/Logged".into()),
            ..Default::default()
        })
        .expect("a folder under the Inbox is not the Inbox");
    }

    #[test]
    fn good_fields_are_normalised() {
        let mut s = Setup::default();
        s.apply(SetupChange {
            shared_mailbox: Some(" Logging@Cronus.Example ".into()),
            tenant: Some("cronus.onmicrosoft.com".into()),
            client_id: Some("8F6C2D1E-0B5A-4C3E-9D7F-1A2B3C4D5E6F".into()),
            redirect_url: Some("http://localhost:8471/cb".into()),
            batch_size: Some(1000),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.shared_mailbox.as_deref(), Some("logging@cronus.example"));
        assert_eq!(
            s.client_id.as_deref(),
            Some("8f6c2d1e-0b5a-4c3e-9d7f-1a2b3c4d5e6f")
        );
    }

    #[test]
    fn changing_the_app_drops_consent() {
        let mut s = Setup {
            consent_given: true,
            signed_in_account: Some("a@b.example".into()),
            ..Default::default()
        };
        s.apply(SetupChange {
            client_id: Some("8f6c2d1e-0b5a-4c3e-9d7f-1a2b3c4d5e6f".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(!s.consent_given);
        assert!(s.signed_in_account.is_none());
    }

    #[test]
    fn batch_size_bounds() {
        for (v, ok) in [(0, false), (1, true), (1000, true), (1001, false)] {
            let mut s = Setup::default();
            let r = s.apply(SetupChange {
                batch_size: Some(v),
                ..Default::default()
            });
            assert_eq!(r.is_ok(), ok, "{v}");
        }
    }
}
