//! Loading and calling the component: one engine per process, the
//! component compiled once (and kept precompiled on disk, see
//! [`load_component`]), an `InstancePre` kept, and a fresh store per call
//! with a memory limit, an epoch deadline and a wall-clock timeout.

use crate::host::bindings::{EmailLogging, EmailLoggingPre};
use crate::host::{HostContext, PluginState};
use crate::store::CompanyId;
use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use std::hash::{Hash as _, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder};

pub use crate::host::bindings::erp::plugin::types::{
    AuthMode, Check, CheckStatus, EwsAuth, Experience, FieldError, FolderStat, LedgerLine,
    MessageLocation, MessageRef, NotLoggedPolicy, Outcome, Resolution, RunError, RunReport,
    SetupChange, SetupError, SetupRecord,
};

/// A setup change that changes nothing; set the fields to change on it
/// (generated WIT records have no `Default`).
pub fn unchanged() -> SetupChange {
    crate::setup_form::SetupForm::default().into_setup_change()
}

/// Where the build put the misbehaving test component (for limit tests).
#[doc(hidden)]
pub const MISBEHAVING_COMPONENT_PATH: &str = env!("MISBEHAVING_COMPONENT");

/// The component this host was built with.
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("EMAIL_LOGGING_COMPONENT"));

/// How often the epoch advances.
const TICK: Duration = Duration::from_millis(10);

/// Per-call limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory per store.
    pub memory_bytes: usize,
    /// Wall-clock time for a setup call.
    pub setup_timeout: Duration,
    /// Extra time a run gets beyond its budget before it is stopped.
    pub run_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            setup_timeout: Duration::from_secs(120),
            run_grace: Duration::from_secs(60),
        }
    }
}

/// Why a call did not return normally.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The component trapped (panic, out of memory, deadline, host crash).
    #[error("the component stopped with a fault: {0}")]
    Trap(String),
    /// The wall-clock timeout struck.
    #[error("the component did not finish within {0:?} and was stopped")]
    Timeout(Duration),
    /// The component could not be instantiated.
    #[error("the component could not be started: {0:#}")]
    Instantiate(anyhow::Error),
}

/// The process's one engine (epoch interruption on, a ticker thread).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // For profiling the component with `perf` (BENCHMARKS.md): its
        // functions named in /tmp/perf-PID.map.
        if std::env::var_os("EMAIL_LOGGING_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // Compiled code is kept on disk by `load_component`, not by
        // wasmtime's own cache, whose lookup hashes the whole wasm and reads
        // a compressed file on every start.
        let engine = Engine::new(&config).expect("the wasmtime configuration is valid");
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Some(e) = weak.upgrade() {
                    e.increment_epoch();
                    drop(e);
                    std::thread::sleep(TICK);
                }
            })
            .expect("cannot start the epoch ticker thread");
        engine
    })
}

fn compile(wasm: &[u8]) -> anyhow::Result<Component> {
    let dir = cache_dir();
    if std::ptr::eq(wasm, EMBEDDED_COMPONENT) {
        static EMBEDDED: OnceLock<Component> = OnceLock::new();
        if let Some(c) = EMBEDDED.get() {
            return Ok(c.clone());
        }
        let (c, _) = load_component(wasm, dir.as_deref())
            .context("the embedded component does not compile")?;
        return Ok(EMBEDDED.get_or_init(|| c).clone());
    }
    let (c, _) = load_component(wasm, dir.as_deref()).context("the component does not compile")?;
    Ok(c)
}

/// Where precompiled components are kept: `EMAIL_LOGGING_CACHE_DIR` (empty
/// turns the cache off), else `$XDG_CACHE_HOME/email-logging-host`, else
/// `$HOME/.cache/email-logging-host`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
    if let Some(v) = std::env::var_os("EMAIL_LOGGING_CACHE_DIR") {
        return (!v.is_empty()).then(|| PathBuf::from(v));
    }
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("email-logging-host"))
}

/// How [`load_component`] got the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// Deserialized from the precompiled cache: no compilation.
    Cached,
    /// Compiled (no cache file yet) and written to the cache.
    Compiled,
    /// The cache file was unusable (corrupt, truncated, from another
    /// engine): compiled again and the file replaced.
    Rebuilt,
    /// Compiled without a cache (none configured, or it cannot be written).
    Uncached,
}

/// The cache file for `wasm` under `dir`: named by the wasm's SHA-256 and
/// the engine's compatibility hash (wasmtime version, target, settings), so
/// a changed component or engine never picks up a stale file.
pub fn cache_file(dir: &Path, wasm: &[u8]) -> PathBuf {
    /// Feeds `Hash` output into SHA-256: unlike `DefaultHasher`, stable
    /// across Rust releases.
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0
        }
    }
    let mut h = ShaHasher(Sha256::new());
    engine().precompile_compatibility_hash().hash(&mut h);
    let engine_hash = h.0.finalize();
    let wasm_hash = Sha256::digest(wasm);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    dir.join(format!(
        "{}-{}.cwasm",
        hex(&wasm_hash[..16]),
        hex(&engine_hash[..8])
    ))
}

/// Loads a component through the precompiled cache in `dir` (compiling
/// without one when `dir` is `None`). A cache file that cannot be used is
/// ignored and rebuilt; failing to write the cache only costs the next
/// start a compilation.
pub fn load_component(wasm: &[u8], dir: Option<&Path>) -> anyhow::Result<(Component, Loaded)> {
    let Some(dir) = dir else {
        return Ok((compile_now(wasm)?, Loaded::Uncached));
    };
    let path = cache_file(dir, wasm);
    let mut outcome = Loaded::Compiled;
    if path.exists() {
        // SAFETY: `deserialize_file` runs the machine code in the file, so
        // the file must come from `Component::serialize` of this engine's
        // configuration. It does: the cache directory is written only by
        // `store_precompiled` below, with the serialized bytes of this very
        // wasm (the name carries its hash) for an engine of the same
        // compatibility hash (also in the name). Files are replaced by an
        // atomic rename, never written in place, so a file is never seen
        // half-written and a mapped file never changes under us. Wasmtime
        // checks the file's format, version and engine settings and refuses
        // (an `Err`, handled below) anything else, such as a truncated or
        // overwritten file. Whoever can write the cache directory could
        // also replace this binary: it is trusted like the binary itself.
        match unsafe { Component::deserialize_file(engine(), &path) } {
            Ok(c) => return Ok((c, Loaded::Cached)),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %format!("{e:#}"), "the precompiled component is unusable; compiling again");
                outcome = Loaded::Rebuilt;
            }
        }
    }
    let component = compile_now(wasm)?;
    match store_precompiled(&component, dir, &path) {
        Ok(()) => Ok((component, outcome)),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %format!("{e:#}"), "cannot write the precompiled component cache");
            Ok((component, Loaded::Uncached))
        }
    }
}

fn compile_now(wasm: &[u8]) -> anyhow::Result<Component> {
    Component::new(engine(), wasm).map_err(anyhow::Error::from)
}

/// Writes the serialized component to a temporary file in `dir`, then
/// renames it over `path`, so readers see the old file or the whole new one.
fn store_precompiled(component: &Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes = component
        .serialize()
        .map_err(anyhow::Error::from)
        .context("cannot serialize the component")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(&bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot rename the cache file to {}", path.display()))?;
    Ok(())
}

/// The loaded component, ready to be called in any company's context.
pub struct Runtime {
    pre: EmailLoggingPre<PluginState>,
    ctx: Arc<HostContext>,
    limits: Limits,
}

/// Calls one export in a fresh store and maps traps and timeouts.
macro_rules! call {
    ($self:ident, $company:expr, $wall:expr, |$p:ident, $s:ident| $body:expr) => {
        call!($self, $company, $wall, None, |$p, $s| $body)
    };
    ($self:ident, $company:expr, $wall:expr, $fence:expr, |$p:ident, $s:ident| $body:expr) => {{
        let wall: Duration = $wall;
        let (mut $s, $p) = $self.instance($company, wall, $fence).await?;
        let result = tokio::time::timeout(wall, async { $body.await }).await;
        $self.finish(&$s, result, wall)
    }};
}

impl Runtime {
    /// Compiles (or loads from cache) and links a component.
    pub fn new(ctx: Arc<HostContext>, wasm: &[u8], limits: Limits) -> anyhow::Result<Self> {
        let component = compile(wasm)?;
        let mut linker = Linker::<PluginState>::new(engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        EmailLogging::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = EmailLoggingPre::new(
            linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .context("the component needs imports this host does not offer")?,
        )
        .map_err(anyhow::Error::from)
        .context("the component does not export the Email Logging interfaces")?;
        Ok(Self { pre, ctx, limits })
    }

    /// The shared host context.
    pub fn context(&self) -> &Arc<HostContext> {
        &self.ctx
    }

    async fn instance(
        &self,
        company: CompanyId,
        wall: Duration,
        fence: Option<crate::store::Fence>,
    ) -> Result<(Store<PluginState>, EmailLogging), CallError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .instances(16)
            .tables(16)
            .table_elements(100_000)
            .build();
        let mut store = Store::new(
            engine(),
            PluginState::new(self.ctx.clone(), company, limits, fence),
        );
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline((wall.as_millis() / TICK.as_millis()) as u64 + 100);
        store.epoch_deadline_trap();
        let plugin = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| CallError::Instantiate(e.into()))?;
        Ok((store, plugin))
    }

    fn finish<T>(
        &self,
        store: &Store<PluginState>,
        result: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
        wall: Duration,
    ) -> Result<T, CallError> {
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(trap)) => {
                let stderr = store.data().stderr();
                let mut text = format!("{trap:#}");
                if !stderr.trim().is_empty() {
                    text.push_str(&format!(
                        " (component output: {})",
                        stderr.trim().chars().take(2000).collect::<String>()
                    ));
                }
                tracing::error!(error = %text, "component trapped");
                Err(CallError::Trap(text))
            }
            Err(_) => Err(CallError::Timeout(wall)),
        }
    }

    /// One job run with a time budget; with a fence, every write of the
    /// run checks that the job's lease is still the run's.
    pub async fn run(
        &self,
        company: CompanyId,
        budget: Duration,
        fence: Option<crate::store::Fence>,
    ) -> Result<Result<RunReport, RunError>, CallError> {
        let budget_ms = budget.as_millis().min(u128::from(u32::MAX)) as u32;
        call!(
            self,
            company,
            budget + self.limits.run_grace,
            fence,
            |p, s| p.erp_plugin_processing().call_run(&mut s, budget_ms)
        )
    }

    /// Finds logged messages again (link repair); one resolution per ref.
    pub async fn resolve_messages(
        &self,
        company: CompanyId,
        refs: &[MessageRef],
    ) -> Result<Result<Vec<Resolution>, RunError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_processing()
            .call_resolve_messages(&mut s, refs))
    }

    /// The item counts of the folders the component uses.
    pub async fn mailbox_stats(
        &self,
        company: CompanyId,
    ) -> Result<Result<Vec<FolderStat>, RunError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_processing()
            .call_mailbox_stats(&mut s))
    }

    /// Reads the setup.
    pub async fn setup_get(
        &self,
        company: CompanyId,
    ) -> Result<Result<SetupRecord, SetupError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_get(&mut s))
    }

    /// Changes the setup.
    pub async fn setup_update(
        &self,
        company: CompanyId,
        change: SetupChange,
    ) -> Result<Result<SetupRecord, SetupError>, CallError> {
        let result = call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_update(&mut s, &change));
        if let Ok(Ok(record)) = &result {
            self.admit_exchange_host(company, record);
        }
        result
    }

    /// Lets the company's component reach the Exchange server its setup names,
    /// while it reads public folders over EWS (and no server otherwise).
    fn admit_exchange_host(&self, company: CompanyId, record: &SetupRecord) {
        let host = (record.experience == Experience::Ews)
            .then(|| {
                record
                    .ews_url
                    .as_deref()
                    .and_then(|u| url::Url::parse(u).ok())
            })
            .flatten()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        if let Err(e) = self.ctx.db.set_exchange_host(company, host.as_deref()) {
            tracing::error!(error = %format!("{e:#}"), "cannot record the company's Exchange server");
        }
    }

    /// Runs the validation checklist.
    pub async fn validate(&self, company: CompanyId) -> Result<Vec<Check>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_validate(&mut s))
    }

    /// Starts a delegated sign-in, optionally pre-selecting an account.
    pub async fn begin_sign_in(
        &self,
        company: CompanyId,
        account: Option<&str>,
    ) -> Result<Result<String, SetupError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_begin_sign_in(&mut s, account))
    }

    /// The tenant-wide admin consent URL.
    pub async fn admin_consent_url(
        &self,
        company: CompanyId,
    ) -> Result<Result<String, SetupError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_admin_consent_url(&mut s))
    }

    /// Obtains fresh tokens now.
    pub async fn renew_token(
        &self,
        company: CompanyId,
    ) -> Result<Result<SetupRecord, SetupError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_renew_token(&mut s))
    }

    /// Creates the recurring job again.
    pub async fn recreate_job(
        &self,
        company: CompanyId,
    ) -> Result<Result<SetupRecord, SetupError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_recreate_job(&mut s))
    }

    /// Completes a delegated sign-in with the redirect's query.
    pub async fn complete_sign_in(
        &self,
        company: CompanyId,
        query: &str,
    ) -> Result<Result<SetupRecord, SetupError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_complete_sign_in(&mut s, query))
    }

    /// Enables email logging.
    pub async fn enable(
        &self,
        company: CompanyId,
    ) -> Result<Result<SetupRecord, SetupError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_enable(&mut s))
    }

    /// Disables email logging.
    pub async fn disable(
        &self,
        company: CompanyId,
    ) -> Result<Result<SetupRecord, SetupError>, CallError> {
        call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_disable(&mut s))
    }

    /// Clears the setup and its secrets.
    pub async fn clear(&self, company: CompanyId) -> Result<Result<(), SetupError>, CallError> {
        let result = call!(self, company, self.limits.setup_timeout, |p, s| p
            .erp_plugin_setup()
            .call_clear(&mut s));
        if let Ok(Ok(())) = &result
            && let Err(e) = self.ctx.db.set_exchange_host(company, None)
        {
            tracing::error!(error = %format!("{e:#}"), "cannot forget the company's Exchange server");
        }
        result
    }
}

/// The names a component imports and exports, sorted; for checking that a
/// component speaks exactly the Email Logging contract.
pub fn component_interface(wasm: &[u8]) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let ty = compile(wasm)?.component_type();
    let mut imports: Vec<String> = ty.imports(engine()).map(|(n, _)| n.to_string()).collect();
    let mut exports: Vec<String> = ty.exports(engine()).map(|(n, _)| n.to_string()).collect();
    imports.sort();
    exports.sort();
    Ok((imports, exports))
}
