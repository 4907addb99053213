//! Emulator configuration: registered applications, users and token behaviour.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;

use crate::faults::{Faults, Latency};
use crate::throttle::Throttling;
use crate::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, DEMO_USER, DEMO_USER_2};

/// An Entra ID app registration known to the emulator.
#[derive(Debug, Clone)]
pub struct AppRegistration {
    /// The application (client) id.
    pub client_id: String,
    /// The client secret value; an empty string registers a public client that needs no secret.
    /// Its `Debug` never shows it, so it stays out of logs and test failure messages.
    pub client_secret: SecretString,
    /// Redirect URIs registered for the app; `/authorize` only redirects to one of these (exact match).
    pub redirect_uris: Vec<String>,
}

/// How the emulator behaves: who may sign in, token lifetimes and the public URLs it emits.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Registered applications.
    pub apps: Vec<AppRegistration>,
    /// User principal names that can sign in (delegated); the first is the default account for
    /// `/authorize` auto-consent.
    pub users: Vec<String>,
    /// Lifetime of issued access tokens (default 3600 s).
    pub access_token_lifetime: Duration,
    /// When true a refresh token stops working once it has been redeemed (to test that clients
    /// keep the newest); Entra itself keeps old ones valid, hence the default `false`.
    pub strict_refresh_rotation: bool,
    /// Base of the links to Graph the emulator writes (`@odata.nextLink`, `@odata.context`,
    /// `@odata.deltaLink`).
    ///
    /// `None` (the default) builds them from the address each request was sent to, as real
    /// services do: its `Host` header (or the authority of an absolute request URI), with
    /// `https` when that host is one of Microsoft's public names (`graph.microsoft.com`,
    /// `login.microsoftonline.com`, ...: the emulator sits behind a proxy that routes the
    /// public URLs to it) and `http` otherwise (the emulator itself serves plain HTTP). A client
    /// that calls `http://127.0.0.1:PORT` is sent on to `http://127.0.0.1:PORT`; a host that
    /// routes `https://graph.microsoft.com` to the emulator and keeps `Host:
    /// graph.microsoft.com` sees the public URLs. `Some(base)` writes every Graph link on
    /// `base` whatever the request said. The endpoints in the OpenID Connect discovery
    /// documents always follow the request's address the same way (`https://login.microsoftonline.com`
    /// for a request with that `Host`).
    pub graph_public_base: Option<String>,
    /// Base used for Outlook-on-the-web links (`webLink`).
    pub outlook_public_base: String,
    /// Which users may open which mailbox with a delegated token. Keys are mailbox addresses
    /// (case-insensitive), values the user principal names allowed in (case-insensitive).
    ///
    /// Empty (the default) means every user may open every mailbox. A mailbox that is listed
    /// may only be used by the listed users; any other delegated caller gets 403
    /// `ErrorAccessDenied` on every Graph call for it, as for a shared mailbox without Full
    /// Access rights. The mailbox's owner (a user whose UPN equals the address, which is how
    /// `/me` is resolved) always has access, and so do app-only (client credentials) tokens.
    /// Change it at runtime with [`crate::Emulator::set_mailbox_access`].
    pub mailbox_access: BTreeMap<String, Vec<String>>,
    /// Mailboxes (case-insensitive) that are not enabled for REST: every Graph call for one of
    /// them, with any token, answers 404 `MailboxNotEnabledForRESTAPI` (an inactive,
    /// soft-deleted or on-premises mailbox). Empty by default; see also
    /// [`crate::Emulator::disable_rest`].
    pub rest_disabled: Vec<String>,
    /// Most items one folder may hold (default 1 000 000, Exchange Online's per-folder limit).
    /// Moving, deleting (which moves to Deleted Items) or creating a message into a folder that
    /// already holds this many items fails with 400 `ErrorQuotaExceeded` "The folder has reached
    /// its item limit." (the emulator's choice of code for Exchange's limit). Messages delivered
    /// through [`crate::Emulator::add_message`] and seeds ignore the limit, so a test can fill a
    /// folder. Change it at runtime with [`crate::Emulator::set_folder_item_limit`].
    pub folder_item_limit: usize,
    /// Outlook's per (app, mailbox) throttling; `None` (the default) never throttles. See
    /// [`crate::Throttling`] and [`crate::Emulator::set_throttling`].
    pub throttling: Option<Throttling>,
    /// Artificial latency per operation (default: none). See [`crate::Latency`].
    pub latency: Latency,
    /// Injected faults (default: none). See [`crate::Faults`] and
    /// [`crate::Emulator::set_faults`].
    pub faults: Faults,
}

/// Exchange Online's limit on items per mail folder.
pub(crate) const DEFAULT_FOLDER_ITEM_LIMIT: usize = 1_000_000;

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            apps: vec![AppRegistration {
                client_id: DEMO_CLIENT_ID.to_string(),
                client_secret: DEMO_CLIENT_SECRET.into(),
                redirect_uris: vec![DEMO_REDIRECT_URI.to_string()],
            }],
            users: vec![DEMO_USER.to_string(), DEMO_USER_2.to_string()],
            access_token_lifetime: Duration::from_secs(3600),
            strict_refresh_rotation: false,
            graph_public_base: None,
            outlook_public_base: "https://outlook.office365.com".to_string(),
            mailbox_access: BTreeMap::new(),
            rest_disabled: Vec::new(),
            folder_item_limit: DEFAULT_FOLDER_ITEM_LIMIT,
            throttling: None,
            latency: Latency::default(),
            faults: Faults::default(),
        }
    }
}

impl EmulatorConfig {
    /// Adds `uri` (trimmed) to the redirect URIs of every registered app, unless an app has it
    /// already; an empty URI changes nothing. Handy for a CLI that serves the emulator for a
    /// client listening on another port:
    ///
    /// ```
    /// let config = graph_emulator::EmulatorConfig::default()
    ///     .with_redirect_uri("http://localhost:9000/callback");
    /// assert!(config.apps[0].redirect_uris.iter().any(|u| u == "http://localhost:9000/callback"));
    /// ```
    pub fn with_redirect_uri(mut self, uri: &str) -> Self {
        let uri = uri.trim();
        if uri.is_empty() {
            return self;
        }
        for app in &mut self.apps {
            if !app.redirect_uris.iter().any(|u| u == uri) {
                app.redirect_uris.push(uri.to_string());
            }
        }
        self
    }

    pub(crate) fn app(&self, client_id: &str) -> Option<&AppRegistration> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    pub(crate) fn user(&self, upn: &str) -> Option<&String> {
        self.users
            .iter()
            .find(|u| u.eq_ignore_ascii_case(upn.trim()))
    }

    /// The fixed link base, if one is configured, without a trailing slash so that links never
    /// contain `//`.
    pub(crate) fn graph_base_override(&self) -> Option<&str> {
        self.graph_public_base
            .as_deref()
            .map(|b| b.trim().trim_end_matches('/'))
            .filter(|b| !b.is_empty())
    }

    /// Public base without a trailing slash, so links never contain `//`.
    pub(crate) fn outlook_base(&self) -> &str {
        self.outlook_public_base.trim_end_matches('/')
    }
}
