//! The [`Emulator`] handle: start and stop the server, inspect and steer its state.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::config::EmulatorConfig;
use crate::faults::{FaultKind, FaultState, Faults, Latency};
use crate::seed::{Seed, SeedError, validate_address};
use crate::state::{Inner, RecordedRequest, Server, State};
use crate::throttle::{ThrottleState, Throttling};

/// A running (or startable) emulator. Cheap to clone: clones share the same state.
#[derive(Debug, Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

impl Emulator {
    /// Builds an emulator holding the seed's mailboxes; nothing listens until [`Emulator::start`].
    pub fn new(seed: Seed, config: EmulatorConfig) -> Emulator {
        let state = State::from_seed(seed, &config);
        Emulator {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
                server: Mutex::new(None),
            }),
        }
    }

    /// The configuration the emulator was built with (changes made at runtime through
    /// [`Emulator::set_mailbox_access`], [`Emulator::disable_rest`],
    /// [`Emulator::set_folder_item_limit`], [`Emulator::set_throttling`],
    /// [`Emulator::set_latency`] and [`Emulator::set_faults`] are not reflected here).
    pub fn config(&self) -> &EmulatorConfig {
        &self.inner.config
    }

    /// Binds `addr` (use `127.0.0.1:0` for an ephemeral port) and serves in a spawned tokio
    /// task. Returns the bound address. Fails with `AlreadyExists` while already serving.
    pub async fn start(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        if self.inner.server().is_some() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the emulator is already serving; call shutdown() first",
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        // The id_token signing key takes a moment to make; make it before anyone signs in.
        tokio::task::spawn_blocking(crate::oidc::warm);
        let bound = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = crate::server::router(self.inner.clone());
        tokio::spawn(async move {
            let listener = crate::conn::FaultListener(listener);
            let app = app.into_make_service_with_connect_info::<crate::conn::ConnHandle>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!("graph emulator server stopped with an error: {e}");
            }
        });
        *self.inner.server() = Some(Server { addr: bound, stop });
        tracing::info!("graph emulator listening on http://{bound}");
        Ok(bound)
    }

    /// `http://127.0.0.1:PORT` once started, `None` before or after shutdown.
    pub fn base_url(&self) -> Option<String> {
        self.inner
            .server()
            .as_ref()
            .map(|s| format!("http://{}", s.addr))
    }

    /// Stops accepting connections; requests in flight finish.
    pub fn shutdown(&self) {
        if let Some(server) = self.inner.server().take() {
            let _ = server.stop.send(());
        }
    }

    /// Messages left per folder of `mailbox`, keyed by well-known name where the folder has one
    /// (`inbox`, `junkemail`, `archive`, `deleteditems`, ...), else by display name (or
    /// `Parent/Child` when two custom folders share a name). Empty folders are included; the
    /// root (`msgfolderroot`) only when messages were moved into it. Unknown mailbox: empty map.
    pub fn folder_counts(&self, mailbox: &str) -> BTreeMap<String, usize> {
        let st = self.inner.lock();
        let mut out = BTreeMap::new();
        let Some(mb) = st.mailbox(mailbox) else {
            return out;
        };
        for f in &mb.folders {
            let count = mb.messages_in(&f.id).count();
            if f.well_known == Some("msgfolderroot") && count == 0 {
                continue;
            }
            let mut key = f
                .well_known
                .map(str::to_string)
                .unwrap_or_else(|| f.display_name.clone());
            if out.contains_key(&key) {
                let parent = mb
                    .folders
                    .iter()
                    .find(|p| p.id == f.parent_id)
                    .map(|p| p.display_name.as_str())
                    .unwrap_or("");
                key = format!("{parent}/{key}");
            }
            out.insert(key, count);
        }
        out
    }

    /// Messages in a folder (well-known name, display name or id), in the order they arrived,
    /// shaped as a Graph GET with `Prefer: IdType="ImmutableId"` returns them.
    pub fn messages(&self, mailbox: &str, folder: &str) -> Vec<Value> {
        let st = self.inner.lock();
        let outlook = self.inner.config.outlook_base();
        let Some(mb) = st.mailbox(mailbox) else {
            return Vec::new();
        };
        let Some(f) = mb.folder_by_name(folder) else {
            return Vec::new();
        };
        mb.messages_in(&f.id)
            .map(|m| Value::Object(m.to_json(true, outlook)))
            .collect()
    }

    /// Delivers a message (a Graph message object) to a folder and returns its immutable id.
    /// A folder name that is neither well-known nor existing creates a custom folder under the
    /// root, as in seeds.
    pub fn add_message(
        &self,
        mailbox: &str,
        folder: &str,
        message: Value,
    ) -> Result<String, SeedError> {
        let mut guard = self.inner.lock();
        let st = &mut *guard;
        let index = st
            .mailbox_index(mailbox)
            .ok_or_else(|| SeedError::UnknownMailbox(mailbox.to_string()))?;
        let invalid = |reason: String| SeedError::InvalidMessage {
            mailbox: mailbox.to_string(),
            folder: folder.to_string(),
            index: 0,
            reason,
        };
        let Value::Object(data) = message else {
            return Err(invalid("expected a JSON object".into()));
        };
        if folder.trim().is_empty() {
            return Err(SeedError::InvalidFolder {
                mailbox: mailbox.to_string(),
                folder: folder.to_string(),
                reason: "folder name is empty".into(),
            });
        }
        let mb = &mut st.mailboxes[index];
        let folder_id = mb.seed_folder(folder.trim(), &mut st.serial);
        mb.add_message(&folder_id, data, &mut st.serial)
            .map_err(invalid)
    }

    /// Creates an empty mailbox (with the well-known folders) unless it exists. Addresses that
    /// could never be a mailbox (empty, containing `/` or whitespace) are ignored.
    pub fn add_mailbox(&self, address: &str) {
        if validate_address(address.trim()).is_ok() {
            self.inner.lock().ensure_mailbox(address);
        }
    }

    /// Every access token issued so far becomes invalid after `n` more Graph requests; later
    /// requests with them get 401 `InvalidAuthenticationToken`. Tokens issued afterwards are
    /// unaffected.
    pub fn expire_access_tokens_after(&self, n: u64) {
        let mut st = self.inner.lock();
        let limit = st.graph_requests.saturating_add(n);
        for t in st.access_tokens.values_mut() {
            t.last_request = Some(t.last_request.map_or(limit, |l| l.min(limit)));
        }
    }

    /// Every refresh token issued so far is expired: redeeming it gives `invalid_grant`
    /// AADSTS700082.
    pub fn expire_refresh_tokens(&self) {
        for t in self.inner.lock().refresh_tokens.values_mut() {
            t.expired = true;
        }
    }

    /// Restricts delegated access to `mailbox` (case-insensitive) to `users` (UPNs,
    /// case-insensitive), replacing any earlier list for it; see
    /// [`EmulatorConfig::mailbox_access`]. Other delegated callers then get 403
    /// `ErrorAccessDenied` on every Graph call for the mailbox; its owner and app-only tokens
    /// keep access. An empty `users` shuts every other delegated user out.
    pub fn set_mailbox_access(&self, mailbox: &str, users: &[&str]) {
        self.inner
            .lock()
            .set_mailbox_access(mailbox, users.iter().copied());
    }

    /// Lifts a restriction set by [`Emulator::set_mailbox_access`] or the config: every user may
    /// open `mailbox` again.
    pub fn clear_mailbox_access(&self, mailbox: &str) {
        self.inner
            .lock()
            .mailbox_access
            .remove(&crate::state::address_key(mailbox));
    }

    /// Takes `mailbox` (case-insensitive; it need not exist) off REST: from now on every Graph
    /// call for it answers 404 `MailboxNotEnabledForRESTAPI` "The mailbox is either inactive,
    /// soft-deleted, or is hosted on-premise.", whatever the token. Its contents are kept.
    pub fn disable_rest(&self, mailbox: &str) {
        self.inner
            .lock()
            .rest_disabled
            .insert(crate::state::address_key(mailbox));
    }

    /// Undoes [`Emulator::disable_rest`] (or the config's `rest_disabled`) for `mailbox`.
    pub fn enable_rest(&self, mailbox: &str) {
        self.inner
            .lock()
            .rest_disabled
            .remove(&crate::state::address_key(mailbox));
    }

    /// Deletes a folder of `mailbox` outright (not into Deleted Items), found by well-known
    /// name, display name or id, together with its child folders and every message in them, to
    /// simulate a storage folder that someone deleted. Afterwards Graph answers 404
    /// `ErrorItemNotFound` for it. Returns false when the mailbox or folder does not exist, and
    /// for the root (`msgfolderroot`), which cannot be removed. If `deleteditems` itself is
    /// removed, a Graph DELETE removes messages for good.
    pub fn remove_folder(&self, mailbox: &str, folder: &str) -> bool {
        let mut st = self.inner.lock();
        let Some(index) = st.mailbox_index(mailbox) else {
            return false;
        };
        st.mailboxes[index].remove_folder(folder)
    }

    /// Changes the per-folder item limit at runtime (see
    /// [`EmulatorConfig::folder_item_limit`]); it applies to the next move or create.
    pub fn set_folder_item_limit(&self, n: usize) {
        self.inner.lock().folder_item_limit = n;
    }

    /// Switches throttling on (`Some`) or off (`None`) at runtime, forgetting all counters,
    /// in-flight counts and blocks (see [`Throttling`]).
    pub fn set_throttling(&self, t: Option<Throttling>) {
        self.inner.lock().throttle = ThrottleState::new(t);
    }

    /// Replaces the latency per operation at runtime (see [`Latency`]).
    pub fn set_latency(&self, latency: Latency) {
        self.inner.lock().latency = latency;
    }

    /// Replaces the fault configuration at runtime: the script, the probabilities and the
    /// random generator (re-seeded from `f.seed`). [`Emulator::fault_count`] keeps counting.
    pub fn set_faults(&self, f: Faults) {
        let mut st = self.inner.lock();
        let count = st.faults.count;
        st.faults = FaultState::new(f);
        st.faults.count = count;
    }

    /// Appends to the fault script: the next requests that faults apply to take these in
    /// order (`None` = no fault) before any random draw.
    pub fn push_fault_script(&self, faults: &[Option<FaultKind>]) {
        self.inner
            .lock()
            .faults
            .faults
            .script
            .extend(faults.iter().copied());
    }

    /// How many faults have been injected so far (scripted and random, including those of
    /// inner `$batch` requests).
    pub fn fault_count(&self) -> u64 {
        self.inner.lock().faults.count
    }

    /// Moves a message as a user would in Outlook: found by immutable id (or current REST
    /// id) in `mailbox`, moved to `folder` (well-known name, display name or id). Like any move
    /// it gets a new REST id and keeps its immutable id; the folder item limit is not checked.
    /// Returns false when the mailbox, message or folder does not exist.
    pub fn move_by_hand(&self, mailbox: &str, immutable_id: &str, folder: &str) -> bool {
        let mut st = self.inner.lock();
        let Some(index) = st.mailbox_index(mailbox) else {
            return false;
        };
        let mb = &mut st.mailboxes[index];
        let (Some(message), Some(dest)) = (
            mb.find_message(immutable_id.trim()),
            mb.folder_by_name(folder).map(|f| f.id.clone()),
        ) else {
            return false;
        };
        mb.move_message(message, &dest);
        true
    }

    /// How many messages the public folder at `path` (levels separated by `/`, names
    /// case-insensitive) holds; `None` when there is no such folder.
    pub fn public_folder_count(&self, path: &str) -> Option<usize> {
        let levels = crate::seed::path_levels(path).ok()?;
        let st = self.inner.lock();
        let folder = st.public.folder_at(&levels)?;
        Some(st.public.messages_in(&folder.id).count())
    }

    /// How many messages each public folder holds, by path (`Email Logging/Queue`).
    pub fn public_folder_counts(&self) -> BTreeMap<String, usize> {
        let st = self.inner.lock();
        let public = &st.public;
        let root = public.root_id();
        let path_of = |id: &str| {
            let mut names = Vec::new();
            let mut at = id;
            // The tree is the emulator's own; the bound only guards against a cycle.
            for _ in 0..64 {
                match public.folders.iter().find(|f| f.id == at) {
                    Some(f) if f.id != root => {
                        names.push(f.display_name.as_str());
                        at = &f.parent_id;
                    }
                    _ => break,
                }
            }
            names.reverse();
            names.join("/")
        };
        public
            .folders
            .iter()
            .filter(|f| f.id != root)
            .map(|f| (path_of(&f.id), public.messages_in(&f.id).count()))
            .collect()
    }

    /// The messages of the public folder at `path` as Graph message objects (with the ids the
    /// emulator gave them), oldest stored first; empty when there is no such folder.
    pub fn public_folder_messages(&self, path: &str) -> Vec<Value> {
        let outlook = self.inner.config.outlook_base();
        self.in_public_folder(path, |m| Value::Object(m.to_json(true, outlook)))
    }

    /// The EWS `ItemId`s of the public folder at `path`'s items, in the order of
    /// [`Emulator::public_folder_messages`] (an item's id changes when it moves).
    pub fn public_folder_item_ids(&self, path: &str) -> Vec<String> {
        self.in_public_folder(path, |m| crate::ids::rest_to_ews(&m.rest_id()))
    }

    /// `view` of each message of the public folder at `path`, oldest stored first.
    fn in_public_folder<T>(
        &self,
        path: &str,
        view: impl Fn(&crate::mailbox::StoredMessage) -> T,
    ) -> Vec<T> {
        let Ok(levels) = crate::seed::path_levels(path) else {
            return Vec::new();
        };
        let st = self.inner.lock();
        let Some(folder) = st.public.folder_at(&levels) else {
            return Vec::new();
        };
        st.public.messages_in(&folder.id).map(view).collect()
    }

    /// Delivers a message (a Graph message object) to the public folder at `path`, creating
    /// the folder and any missing level above it, and returns the message's immutable id.
    pub fn add_public_message(&self, path: &str, message: Value) -> Result<String, SeedError> {
        let levels =
            crate::seed::path_levels(path).map_err(|r| SeedError::InvalidPublicFolderPath {
                path: path.to_string(),
                reason: r.to_string(),
            })?;
        let invalid = |reason: String| SeedError::InvalidPublicMessage {
            path: path.to_string(),
            index: 0,
            reason,
        };
        let Value::Object(data) = message else {
            return Err(invalid("expected a JSON object".into()));
        };
        let mut guard = self.inner.lock();
        let st = &mut *guard;
        let folder_id = st.public.ensure_path(&levels, &mut st.serial);
        st.public
            .add_message(&folder_id, data, &mut st.serial)
            .map_err(invalid)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().requests.clone()
    }

    /// Resolves an Outlook-on-the-web link (public form, any host; Graph's `webLink` or EWS's
    /// `WebClientReadFormQueryString`, of a mailbox or a public folder item) to the message it
    /// opens, if the REST id in it is still current.
    pub fn resolve_web_link(&self, web_link: &str) -> Option<Value> {
        let st = self.inner.lock();
        crate::owa::resolve(&st, web_link, self.inner.config.outlook_base())
    }
}

/// Runs an emulator until ctrl-c (the standalone CLI's entry point).
pub async fn serve(seed: Seed, config: EmulatorConfig, addr: SocketAddr) -> std::io::Result<()> {
    serve_with(Emulator::new(seed, config), addr).await
}

/// Serves an emulator prepared by the caller (config with extra redirect URIs or users,
/// mailboxes added, access rules set) on `addr` until ctrl-c, then shuts it down. Fails if
/// `addr` cannot be bound or the emulator is already serving.
pub async fn serve_with(emulator: Emulator, addr: SocketAddr) -> std::io::Result<()> {
    let bound = emulator.start(addr).await?;
    tracing::info!("serving Microsoft Graph + Entra ID emulator on http://{bound}; ctrl-c stops");
    tokio::signal::ctrl_c().await?;
    emulator.shutdown();
    Ok(())
}
