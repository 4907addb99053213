//! One form for a change to the setup. The CLI's `setup set` flags, the web
//! page's form, the wizard's answers and the demo all fill a [`SetupForm`];
//! [`SetupForm::into_setup_change`] is the one place that turns it into the
//! component's `setup-change`, and each choice has one spelling: the name
//! clap derives for it, which serde, `FromStr` and `Display` use as well.

// From the bindings, not the runtime module: the runtime builds its
// `unchanged()` from this form.
use crate::host::bindings::erp::plugin::types::{
    AuthMode, EwsAuth, Experience, NotLoggedPolicy, SetupChange,
};
use clap::ValueEnum;
use secrecy::{ExposeSecret as _, SecretString};
use std::fmt;
use std::str::FromStr;

/// How the job signs in, as the CLI, the web form and the wizard name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignInMode {
    /// Authorization code with a job account.
    Delegated,
    /// Client credentials.
    Application,
}

/// What happens to messages that cannot be logged, as the CLI, the web
/// form and the wizard name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotLoggedAction {
    /// Move to the "not logged" folder.
    Move,
    /// Delete.
    Delete,
    /// Leave in the Inbox.
    Leave,
}

/// Which mail store the job reads, as the CLI, the web form and the wizard name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailStoreChoice {
    /// A shared mailbox over Microsoft Graph (Exchange Online).
    Graph,
    /// Public folders over Exchange Web Services (Exchange on-premises).
    Ews,
}

/// How the job signs in to Exchange Web Services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EwsSignIn {
    /// The account's user name and password.
    Basic,
    /// OAuth2 with the app registration.
    Oauth2,
}

/// A choice's one name (no variant is skipped, so every one has a name).
fn name_of(v: &impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// A name that is none of the choices.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not one of the choices")]
pub struct UnknownChoice(String);

macro_rules! named_choice {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&name_of(self))
            }
        }

        impl FromStr for $t {
            type Err = UnknownChoice;

            /// Exactly the name, as clap spells it (case matters).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t as ValueEnum>::from_str(s, false).map_err(|_| UnknownChoice(s.to_string()))
            }
        }
    };
}
named_choice!(SignInMode);
named_choice!(NotLoggedAction);
named_choice!(MailStoreChoice);
named_choice!(EwsSignIn);

impl From<MailStoreChoice> for Experience {
    fn from(c: MailStoreChoice) -> Self {
        match c {
            MailStoreChoice::Graph => Experience::Graph,
            MailStoreChoice::Ews => Experience::Ews,
        }
    }
}

impl From<Experience> for MailStoreChoice {
    fn from(e: Experience) -> Self {
        match e {
            Experience::Graph => MailStoreChoice::Graph,
            Experience::Ews => MailStoreChoice::Ews,
        }
    }
}

impl From<EwsSignIn> for EwsAuth {
    fn from(a: EwsSignIn) -> Self {
        match a {
            EwsSignIn::Basic => EwsAuth::Basic,
            EwsSignIn::Oauth2 => EwsAuth::Oauth2,
        }
    }
}

impl From<EwsAuth> for EwsSignIn {
    fn from(a: EwsAuth) -> Self {
        match a {
            EwsAuth::Basic => EwsSignIn::Basic,
            EwsAuth::Oauth2 => EwsSignIn::Oauth2,
        }
    }
}

impl From<SignInMode> for AuthMode {
    fn from(m: SignInMode) -> Self {
        match m {
            SignInMode::Delegated => AuthMode::Delegated,
            SignInMode::Application => AuthMode::Application,
        }
    }
}

impl From<AuthMode> for SignInMode {
    fn from(m: AuthMode) -> Self {
        match m {
            AuthMode::Delegated => SignInMode::Delegated,
            AuthMode::Application => SignInMode::Application,
        }
    }
}

impl From<NotLoggedAction> for NotLoggedPolicy {
    fn from(a: NotLoggedAction) -> Self {
        match a {
            NotLoggedAction::Move => NotLoggedPolicy::MoveToFolder,
            NotLoggedAction::Delete => NotLoggedPolicy::Delete,
            NotLoggedAction::Leave => NotLoggedPolicy::Leave,
        }
    }
}

impl From<NotLoggedPolicy> for NotLoggedAction {
    fn from(p: NotLoggedPolicy) -> Self {
        match p {
            NotLoggedPolicy::MoveToFolder => NotLoggedAction::Move,
            NotLoggedPolicy::Delete => NotLoggedAction::Delete,
            NotLoggedPolicy::Leave => NotLoggedAction::Leave,
        }
    }
}

/// A change to the setup: every field that is `None` (or `false`) stays as
/// it is. The web form posts these names (kebab-case); `setup set` takes
/// them as flags.
#[derive(Debug, Default, Clone, clap::Args, serde::Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SetupForm {
    /// Which mail store the job reads: graph (a shared mailbox, the default)
    /// or ews (public folders, Exchange on-premises).
    #[arg(long, value_enum)]
    pub experience: Option<MailStoreChoice>,
    /// The shared mailbox that receives the BCC copies.
    #[arg(long)]
    pub shared_mailbox: Option<String>,
    /// Tenant id or domain (or common/organizations for delegated sign-in).
    #[arg(long)]
    pub tenant: Option<String>,
    /// How the job signs in.
    #[arg(long, value_enum)]
    pub auth_mode: Option<SignInMode>,
    /// The app registration's Application (client) ID.
    #[arg(long)]
    pub client_id: Option<String>,
    /// The client secret's value. Never a flag: on the command line it
    /// would be seen by every user of the machine (see `client_secret_stdin`).
    /// Its `Debug` shows `[REDACTED]`.
    #[arg(skip)]
    pub client_secret: Option<SecretString>,
    /// Read the client secret from standard input (it never goes on the command line).
    #[arg(long, conflicts_with = "clear_client_secret")]
    #[serde(skip)]
    pub client_secret_stdin: bool,
    /// Remove the stored client secret (for example when the host supplies
    /// it through EMAIL_LOGGING_CLIENT_SECRET).
    #[arg(long)]
    pub clear_client_secret: bool,
    /// The app registration's redirect URL.
    #[arg(long)]
    pub redirect_url: Option<String>,
    /// Messages per page, 1 to 1000.
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Where logged messages go: a well-known folder name (archive) or a
    /// folder path such as "Sales/Email log"; missing folders are created.
    #[arg(long)]
    pub storage_folder: Option<String>,
    /// One subfolder per month (2026-11) under the storage folder: on or off.
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub monthly_subfolders: Option<bool>,
    /// The item limit folders are held against (Exchange Online: 1000000).
    #[arg(long)]
    pub folder_item_limit: Option<u32>,
    /// Warn when a folder passes this share of the limit, 1 to 100 (percent).
    #[arg(long)]
    pub folder_warning_percent: Option<u8>,
    /// What happens to messages that cannot be logged.
    #[arg(long, value_enum)]
    pub not_logged_policy: Option<NotLoggedAction>,
    /// The folder for messages that cannot be logged.
    #[arg(long)]
    pub not_logged_folder: Option<String>,
    /// The folder for messages whose handling failed for good.
    #[arg(long)]
    pub quarantine_folder: Option<String>,
    /// Log mail its sender marked private or confidential: on or off (off
    /// by default: such mail is not logged).
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub log_sensitive: Option<bool>,
    /// EWS: the Exchange service URL (https://…/EWS/Exchange.asmx).
    #[arg(long)]
    pub ews_url: Option<String>,
    /// EWS: how the job signs in.
    #[arg(long, value_enum)]
    pub ews_auth: Option<EwsSignIn>,
    /// EWS: the account the job signs in as (Basic) or acts as (OAuth2).
    #[arg(long)]
    pub ews_account: Option<String>,
    /// EWS: the account's password. Never a flag (see `ews_password_stdin`).
    #[arg(skip)]
    pub ews_password: Option<SecretString>,
    /// EWS: read the account's password from standard input.
    #[arg(long, conflicts_with_all = ["clear_ews_password", "client_secret_stdin"])]
    #[serde(skip)]
    pub ews_password_stdin: bool,
    /// EWS: remove the stored password.
    #[arg(long)]
    pub clear_ews_password: bool,
    /// EWS: the queue folder's path under the public folders ("Email Logging/Queue").
    #[arg(long)]
    pub queue_folder: Option<String>,
    /// EWS: the storage folder's path under the public folders ("Email Logging/Storage").
    #[arg(long)]
    pub ews_storage_folder: Option<String>,
}

impl SetupForm {
    /// The component's `setup-change`. A client secret given wins over
    /// `clear_client_secret`; clearing sends the empty secret, which the
    /// component takes as "remove the stored one".
    pub fn into_setup_change(self) -> SetupChange {
        // Exposed only here, where it goes to the component.
        let given_or_cleared = |value: Option<SecretString>, clear: bool| match value {
            Some(s) => Some(s.expose_secret().to_string()),
            None if clear => Some(String::new()),
            None => None,
        };
        let client_secret = given_or_cleared(self.client_secret, self.clear_client_secret);
        SetupChange {
            experience: self.experience.map(Into::into),
            ews_url: self.ews_url,
            ews_auth: self.ews_auth.map(Into::into),
            ews_account: self.ews_account,
            ews_password: given_or_cleared(self.ews_password, self.clear_ews_password),
            queue_folder: self.queue_folder,
            ews_storage_folder: self.ews_storage_folder,
            shared_mailbox: self.shared_mailbox,
            tenant: self.tenant,
            auth_mode: self.auth_mode.map(Into::into),
            client_id: self.client_id,
            client_secret,
            redirect_url: self.redirect_url,
            batch_size: self.batch_size,
            storage_folder: self.storage_folder,
            monthly_subfolders: self.monthly_subfolders,
            folder_item_limit: self.folder_item_limit,
            folder_warning_percent: self.folder_warning_percent,
            not_logged_policy: self.not_logged_policy.map(Into::into),
            not_logged_folder: self.not_logged_folder,
            quarantine_folder: self.quarantine_folder,
            log_sensitive: self.log_sensitive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_choice_has_one_spelling_everywhere() {
        for m in [SignInMode::Delegated, SignInMode::Application] {
            assert_eq!(m.to_string().parse::<SignInMode>().unwrap(), m);
            let json = format!("{:?}", m.to_string());
            assert_eq!(serde_json::from_str::<SignInMode>(&json).unwrap(), m);
        }
        for a in [
            NotLoggedAction::Move,
            NotLoggedAction::Delete,
            NotLoggedAction::Leave,
        ] {
            assert_eq!(a.to_string().parse::<NotLoggedAction>().unwrap(), a);
        }
        assert!("Delegated".parse::<SignInMode>().is_err());
    }

    #[test]
    fn an_empty_form_changes_nothing_and_clearing_sends_an_empty_secret() {
        let c = SetupForm::default().into_setup_change();
        assert!(c.client_secret.is_none() && c.auth_mode.is_none() && c.batch_size.is_none());
        let c = SetupForm {
            clear_client_secret: true,
            ..Default::default()
        }
        .into_setup_change();
        assert_eq!(c.client_secret.as_deref(), Some(""));
    }

    #[test]
    fn the_secret_is_never_in_debug_output() {
        let form = SetupForm {
            client_secret: Some("hush-hush-42".into()),
            ..Default::default()
        };
        assert!(!format!("{form:?}").contains("hush-hush-42"));
        let app = crate::host::AppRegistration {
            client_secret: Some("hush-hush-42".into()),
            ..Default::default()
        };
        assert!(!format!("{app:?}").contains("hush-hush-42"));
        assert_eq!(
            form.into_setup_change().client_secret.as_deref(),
            Some("hush-hush-42")
        );
    }
}
