//! Shared emulator state behind one mutex. The lock is never held across an `.await`.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::config::EmulatorConfig;
use crate::faults::{FaultState, Latency};
use crate::mailbox::Mailbox;
use crate::seed::Seed;
use crate::throttle::ThrottleState;

/// One request as the emulator saw it, for assertions in tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordedRequest {
    /// HTTP method (`GET`, `POST`, ...).
    pub method: String,
    /// Path and raw query exactly as received.
    pub path_and_query: String,
    /// The `Prefer` header(s), joined with ", " when sent more than once.
    pub prefer: Option<String>,
    /// Whether an `Authorization` header was present (its value is never recorded).
    pub authorization_present: bool,
    /// Status code the emulator answered with.
    pub status: u16,
}

/// Who an access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// Delegated token for this user principal name.
    User(String),
    /// App-only token (client credentials): may access every mailbox.
    App,
}

/// The resource an access token was issued for: Graph tokens do not open EWS and the other way
/// round, as with Entra's `aud` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Graph,
    /// `https://outlook.office365.com` (EWS).
    Outlook,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub principal: Principal,
    pub audience: Audience,
    /// The app the token was issued to (throttling is per app and mailbox).
    pub client_id: String,
    pub expires_at: Instant,
    /// Set by `expire_access_tokens_after`: the last Graph request number this token may serve.
    pub last_request: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user: String,
    pub scope: String,
    pub challenge: Option<(String, String)>,
    /// The authorize request's `nonce`, for the id_token.
    pub nonce: Option<String>,
    pub issued: Instant,
    pub redeemed: bool,
    /// A redemption failed: the code can never be redeemed (Entra invalidates it).
    pub burned: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub client_id: String,
    pub user: String,
    pub scope: String,
    pub redeemed: bool,
    pub expired: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    /// Mailbox (lower-case address) to the lower-case UPNs that may open it with a delegated
    /// token; mailboxes not listed are open to everyone.
    pub mailbox_access: HashMap<String, Vec<String>>,
    /// Lower-case addresses of mailboxes that answer `MailboxNotEnabledForRESTAPI`.
    pub rest_disabled: HashSet<String>,
    /// Most messages one folder may hold before moves and creates into it fail.
    pub folder_item_limit: usize,
    /// Source of unique numbers for ids.
    pub serial: u64,
    pub mailboxes: Vec<Mailbox>,
    /// The public folder hierarchy EWS serves (`publicfoldersroot` and below).
    pub public: Mailbox,
    /// Lower-case address to the password of the accounts that may use EWS Basic sign-in.
    pub accounts: HashMap<String, secrecy::SecretString>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub codes: HashMap<String, AuthCode>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    /// Graph (`/v1.0`) requests received so far.
    pub graph_requests: u64,
    pub requests: Vec<RecordedRequest>,
    pub throttle: ThrottleState,
    pub faults: FaultState,
    pub latency: Latency,
}

impl State {
    pub fn from_seed(seed: Seed, config: &EmulatorConfig) -> State {
        let mut serial = 0;
        let public = Mailbox::public_store(&mut serial);
        let mut state = State {
            public,
            accounts: HashMap::new(),
            mailbox_access: HashMap::new(),
            rest_disabled: HashSet::new(),
            folder_item_limit: config.folder_item_limit,
            serial,
            mailboxes: Vec::new(),
            access_tokens: HashMap::new(),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            graph_requests: 0,
            requests: Vec::new(),
            throttle: ThrottleState::new(config.throttling.clone()),
            faults: FaultState::new(config.faults.clone()),
            latency: config.latency,
        };
        for (mailbox, users) in &config.mailbox_access {
            state.set_mailbox_access(mailbox, users.iter().map(String::as_str));
        }
        for mailbox in &config.rest_disabled {
            state.rest_disabled.insert(address_key(mailbox));
        }
        for sm in seed.mailboxes {
            let mut mailbox = Mailbox::new(&sm.address, &mut state.serial);
            for (key, messages) in sm.folders {
                let folder_id = mailbox.seed_folder(&key, &mut state.serial);
                for m in messages {
                    // Ids were validated by Seed::from_json, so this cannot fail.
                    let _ = mailbox.add_message(&folder_id, m, &mut state.serial);
                }
            }
            state.mailboxes.push(mailbox);
        }
        for folder in seed.public_folders {
            let folder_id = state.public.ensure_path(&folder.levels, &mut state.serial);
            for m in folder.messages {
                // Ids were validated by Seed::from_json, so this cannot fail.
                let _ = state.public.add_message(&folder_id, m, &mut state.serial);
            }
        }
        for account in seed.accounts {
            // An account signs in to its own mailbox, which exists even when the seed has none.
            state.ensure_mailbox(&account.address);
            state
                .accounts
                .insert(address_key(&account.address), account.password);
        }
        state
    }

    /// Replaces who may open `mailbox` with a delegated token.
    pub fn set_mailbox_access<'a>(&mut self, mailbox: &str, users: impl Iterator<Item = &'a str>) {
        let users = users.map(address_key).collect();
        self.mailbox_access.insert(address_key(mailbox), users);
    }

    /// Whether `principal` may use the mailbox at `address` (see
    /// [`EmulatorConfig::mailbox_access`]).
    pub fn may_access(&self, principal: &Principal, address: &str) -> bool {
        let Principal::User(upn) = principal else {
            return true;
        };
        let upn = address_key(upn);
        let mailbox = address_key(address);
        upn == mailbox
            || self
                .mailbox_access
                .get(&mailbox)
                .is_none_or(|users| users.contains(&upn))
    }

    pub fn rest_enabled(&self, address: &str) -> bool {
        !self.rest_disabled.contains(&address_key(address))
    }

    pub fn mailbox(&self, address: &str) -> Option<&Mailbox> {
        let address = address.trim();
        self.mailboxes
            .iter()
            .find(|m| m.address.eq_ignore_ascii_case(address))
    }

    pub fn mailbox_index(&self, address: &str) -> Option<usize> {
        let address = address.trim();
        self.mailboxes
            .iter()
            .position(|m| m.address.eq_ignore_ascii_case(address))
    }

    /// Returns the mailbox's index, creating it empty when absent.
    pub fn ensure_mailbox(&mut self, address: &str) -> usize {
        match self.mailbox_index(address) {
            Some(i) => i,
            None => {
                let mailbox = Mailbox::new(address.trim(), &mut self.serial);
                self.mailboxes.push(mailbox);
                self.mailboxes.len() - 1
            }
        }
    }
}

/// Addresses and UPNs compare case-insensitively and without surrounding spaces.
pub(crate) fn address_key(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}

/// Everything the handle and the HTTP handlers share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub config: EmulatorConfig,
    pub state: Mutex<State>,
    pub server: Mutex<Option<Server>>,
}

#[derive(Debug)]
pub(crate) struct Server {
    pub addr: std::net::SocketAddr,
    pub stop: tokio::sync::oneshot::Sender<()>,
}

impl Inner {
    /// A panic elsewhere must not take the emulator down with a poisoned lock.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn server(&self) -> MutexGuard<'_, Option<Server>> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }
}
