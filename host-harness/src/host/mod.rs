//! The host side of the WIT contract: one module per capability, all
//! working on [`PluginState`], the data of one store (one call in one
//! company's context).

pub mod crm;
pub mod extensions;
pub mod http;
pub mod log;
pub mod scheduler;
pub mod secrets;
pub mod storage;

use crate::crypto::SecretBox;
use crate::store::{CompanyId, Store};
use std::sync::Arc;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Generated bindings for the `email-logging` world; only the host modules,
/// the runtime and the setup form use them.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "email-logging",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [serde::Serialize],
    });
}

pub use bindings::erp::host::types::Error as WitError;

pub mod names;

/// Decides, before a request goes out or a message's entries are saved,
/// whether to simulate a host crash there (the call then traps). Tests use it
/// to crash between two steps.
pub type CrashHook = Arc<dyn Fn(&CrashPoint<'_>) -> bool + Send + Sync>;

/// Test hook: asked at the start of every `after-log` call; a text makes
/// the call fail with `unavailable` and that text, doing nothing, as a
/// host whose follow-up work is down would.
pub type AfterLogFault = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Where a [`CrashHook`] is asked.
#[derive(Debug, Clone, Copy)]
pub enum CrashPoint<'a> {
    /// Before an HTTP request goes out.
    Request {
        /// `GET`, `POST`...
        method: &'a str,
        /// The URL the component asked for.
        url: &'a str,
        /// The EWS operation named by the `SOAPAction` header (`MoveItem`).
        soap_action: Option<&'a str>,
    },
    /// Before the entries of the message with this key are saved.
    Log {
        /// The message key.
        key: &'a str,
    },
}

impl CrashPoint<'_> {
    /// Whether this request moves mail out of the queue: a Graph `move`
    /// (alone or in a `$batch`) or an EWS `MoveItem`.
    pub fn is_move(&self) -> bool {
        match self {
            CrashPoint::Request {
                method,
                url,
                soap_action,
            } => {
                *method == "POST"
                    && (url.ends_with("/move")
                        || url.ends_with("/$batch")
                        || *soap_action == Some("MoveItem"))
            }
            CrashPoint::Log { .. } => false,
        }
    }
}

/// The app registration the host supplies through the `secrets` callbacks.
#[derive(Debug, Clone, Default)]
pub struct AppRegistration {
    /// Client id.
    pub client_id: Option<String>,
    /// Client secret (its `Debug` shows `[REDACTED]`).
    pub client_secret: Option<secrecy::SecretString>,
    /// Redirect URL.
    pub redirect_url: Option<String>,
    /// The EWS account's password (the current experience, Basic sign-in).
    pub ews_password: Option<secrecy::SecretString>,
}

/// What every store of one host shares.
pub struct HostContext {
    /// The ERP database.
    pub db: Store,
    /// Encrypts secrets at rest.
    pub secret_box: SecretBox,
    /// Outbound HTTP policy and client.
    pub http: http::HttpPolicy,
    /// The host's answers to the `secrets` callbacks.
    pub app: AppRegistration,
    /// Test hook: crash the call before a matching request.
    pub crash_hook: Option<CrashHook>,
    /// Test hook: make `after-log` fail (see [`AfterLogFault`]).
    pub after_log_fault: Option<AfterLogFault>,
    /// Where the component's `progress` events go, while someone watches.
    pub progress: std::sync::Mutex<Option<log::ProgressSink>>,
}

/// The data of one store.
pub struct PluginState {
    pub(crate) ctx: Arc<HostContext>,
    /// The database as this call writes it: fenced by the job's lease
    /// during a job run, so that a run whose lease was taken over commits
    /// nothing more.
    pub(crate) db: crate::store::Store,
    pub(crate) company: CompanyId,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) stderr: MemoryOutputPipe,
    /// The company's Exchange server, which `http` admits besides Microsoft's hosts.
    pub(crate) exchange_host: Option<String>,
}

impl PluginState {
    /// Fresh state for one call in `company`'s context.
    pub fn new(
        ctx: Arc<HostContext>,
        company: CompanyId,
        limits: StoreLimits,
        fence: Option<crate::store::Fence>,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(64 << 10);
        // Deny-all WASI: no files, no environment, no sockets; stderr is kept
        // so a guest panic message reaches the host's log.
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        // Unreadable, it is no host at all: the component then meets a denial.
        let exchange_host = ctx.db.exchange_host(company).ok().flatten();
        let db = match fence {
            Some(fence) => ctx.db.fenced(fence),
            None => ctx.db.clone(),
        };
        Self {
            exchange_host,
            db,
            ctx,
            company,
            wasi,
            table: ResourceTable::new(),
            limits,
            stderr,
        }
    }

    /// What the guest wrote to stderr (a panic message, usually).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::erp::host::types::Host for PluginState {}
impl bindings::erp::plugin::types::Host for PluginState {}

/// Turns a host failure into the error the guest sees, logging the detail.
pub(crate) fn internal(what: &str, e: impl Into<anyhow::Error>) -> WitError {
    let e = e.into();
    tracing::error!(error = %format!("{e:#}"), "{what}");
    WitError::Internal(format!("{what}: {e}"))
}

/// A database failure the component should retry in a later run (a busy or
/// locked database, a full disk), logged in detail here.
pub(crate) fn unavailable(what: &str, e: impl Into<anyhow::Error>) -> WitError {
    match internal(what, e) {
        WitError::Internal(m) => WitError::Unavailable(m),
        other => other,
    }
}
