//! The current experience's part of the setup: public folders read over
//! Exchange Web Services (Business Central's Marketing Setup fields
//! "Exchange Service URL", "Autodiscovery E-Mail Address", "Queue Folder
//! Path", "Storage Folder Path", with Basic or OAuth2 sign-in).

use super::{FieldError, check_folder_path, field_error};
use crate::address::Address;
use serde::{Deserialize, Serialize};

/// The secret holding the EWS password (Basic authentication).
pub const EWS_PASSWORD: &str = "ews-password";

/// Which mail store the job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Experience {
    /// The new experience: a shared mailbox over Microsoft Graph.
    #[default]
    Graph,
    /// The current experience: public folders over Exchange Web Services.
    Ews,
}

/// How EWS requests sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EwsAuthMode {
    /// User name (the account) and password: Exchange on-premises.
    #[default]
    Basic,
    /// OAuth2 through the setup's app registration: Exchange Online.
    Oauth2,
}

/// The current experience's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EwsSetup {
    /// The Exchange service URL (`https://…/EWS/Exchange.asmx`).
    pub url: Option<String>,
    /// Basic or OAuth2.
    pub auth: EwsAuthMode,
    /// The account the job signs in as (Basic) or acts as (OAuth2).
    pub account: Option<String>,
    /// The queue folder's path under the public folder root.
    pub queue_folder: String,
    /// The storage folder's path under the public folder root.
    pub storage_folder: String,
}

/// Where Exchange Online serves EWS.
pub const EXCHANGE_ONLINE_URL: &str = "https://outlook.office365.com/EWS/Exchange.asmx";

impl Default for EwsSetup {
    fn default() -> Self {
        Self {
            url: None,
            auth: EwsAuthMode::Basic,
            account: None,
            queue_folder: "Email Logging/Queue".into(),
            storage_folder: "Email Logging/Storage".into(),
        }
    }
}

/// The current experience's part of a setup change; `None` leaves a field.
#[derive(Debug, Clone, Default)]
pub struct EwsChange {
    /// Service URL; empty clears.
    pub url: Option<String>,
    /// Basic or OAuth2.
    pub auth: Option<EwsAuthMode>,
    /// Account; empty clears.
    pub account: Option<String>,
    /// Password; empty clears.
    pub password: Option<String>,
    /// Queue folder path.
    pub queue_folder: Option<String>,
    /// Storage folder path.
    pub storage_folder: Option<String>,
}

impl EwsSetup {
    /// Applies a change, adding what is wrong to `errors`; returns the
    /// password to store (`Some("")`: remove it).
    pub(super) fn apply(
        &mut self,
        change: EwsChange,
        errors: &mut Vec<FieldError>,
    ) -> Option<String> {
        if let Some(v) = change.url {
            let v = v.trim();
            if v.is_empty() {
                self.url = None;
            } else {
                match check_service_url(v) {
                    Ok(url) => self.url = Some(url),
                    Err(m) => errors.push(field_error("ews-url", m)),
                }
            }
        }
        if let Some(v) = change.auth {
            self.auth = v;
        }
        if let Some(v) = change.account {
            let v = v.trim();
            if v.is_empty() {
                self.account = None;
            } else {
                match Address::parse(v) {
                    Ok(a) => self.account = Some(a.to_string()),
                    Err(e) => errors.push(field_error("ews-account", e.to_string())),
                }
            }
        }
        for (name, value, slot) in [
            ("queue-folder", change.queue_folder, &mut self.queue_folder),
            (
                "ews-storage-folder",
                change.storage_folder,
                &mut self.storage_folder,
            ),
        ] {
            if let Some(v) = value {
                match check_folder_path(&v) {
                    Ok(path) => *slot = path,
                    Err(m) => errors.push(field_error(name, m)),
                }
            }
        }
        if same_path(&self.queue_folder, &self.storage_folder) {
            errors.push(field_error(
                "ews-storage-folder",
                format!(
                    "the storage folder must differ from the queue folder '{}': messages moved there would be read again by every run",
                    self.queue_folder
                ),
            ));
        }
        match change.password {
            Some(p) if p.len() > 1024 || p.chars().any(char::is_control) => {
                errors.push(field_error(
                    "ews-password",
                    "the password has control characters or is over 1024 characters".into(),
                ));
                None
            }
            other => other,
        }
    }

    /// Why the job cannot run on these fields yet, if it cannot.
    pub fn missing(&self) -> Option<String> {
        if self.url.is_none() {
            return Some(format!(
                "set the Exchange service URL first (setup set --ews-url URL; Exchange Online: {EXCHANGE_ONLINE_URL})"
            ));
        }
        self.account.is_none().then(|| {
            "set the account the job signs in as first (setup set --ews-account ADDRESS)".into()
        })
    }
}

/// Whether two folder paths name the same folder (names compare case-insensitively).
pub fn same_path(a: &str, b: &str) -> bool {
    let norm = |p: &str| {
        p.split('/')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    };
    norm(a) == norm(b)
}

/// An `https` URL of an EWS endpoint, without credentials, query or fragment.
fn check_service_url(v: &str) -> Result<String, String> {
    let url = url::Url::parse(v).map_err(|e| format!("'{v}' is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err("the Exchange service URL must use https: the password or token travels with every request".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the Exchange service URL must not hold a user name or password; enter them in their own fields".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the Exchange service URL takes no query or fragment".into());
    }
    if !url
        .path()
        .to_ascii_lowercase()
        .ends_with("/ews/exchange.asmx")
    {
        return Err(format!(
            "the Exchange service URL ends in /EWS/Exchange.asmx (for example {EXCHANGE_ONLINE_URL})"
        ));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_are_https_ews_endpoints() {
        assert_eq!(
            check_service_url("https://Mail.Contoso.com/ews/Exchange.asmx").unwrap(),
            "https://mail.contoso.com/ews/Exchange.asmx"
        );
        for bad in [
            "http://mail.contoso.com/EWS/Exchange.asmx",
            "https://user:pw@mail.contoso.com/EWS/Exchange.asmx",
            "https://mail.contoso.com/owa/",
            "https://mail.contoso.com/EWS/Exchange.asmx?x=1",
            "mail.contoso.com",
        ] {
            assert!(check_service_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_queue_and_storage_folders_must_differ() {
        let mut s = EwsSetup::default();
        let mut errors = Vec::new();
        s.apply(
            EwsChange {
                storage_folder: Some(" email logging / QUEUE ".into()),
                ..Default::default()
            },
            &mut errors,
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "ews-storage-folder");
        let mut errors = Vec::new();
        let password = s.apply(
            EwsChange {
                storage_folder: Some("Email Logging/Stored".into()),
                account: Some(" Logging@Contoso.com ".into()),
                password: Some("pa55".into()),
                ..Default::default()
            },
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(password.as_deref(), Some("pa55"));
        assert_eq!(s.account.as_deref(), Some("logging@contoso.com"));
    }
}
