//! CPU per message at zero latency, split into guest and host time.
//!
//! The emulator runs on its own single-threaded runtime in its own thread,
//! so its CPU time can be told apart from the host's: the host's share is
//! the process's CPU time minus that thread's. The guest's share is the
//! time spent inside the component, summed by a wasmtime call hook at every
//! host/guest transition (the guest never waits inside wasm: its waits are
//! host calls, so its wall time is CPU time).

use super::{Results, Sizes, mailbox_address, message};
use crate::crm;
use crate::erp::{Erp, ErpOptions};
use crate::host::PluginState;
use crate::host::bindings::{EmailLogging, EmailLoggingPre};
use crate::runtime::{EMBEDDED_COMPONENT, cache_dir, engine, load_component};
use anyhow::Context as _;
use graph_emulator::{Emulator, EmulatorConfig, Seed};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{CallHook, Store, StoreLimitsBuilder};

/// CPU time of the calling thread.
pub(super) fn thread_cpu() -> Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process.
pub(super) fn process_cpu() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; these clocks exist on
    // every Linux and the call only writes `ts`.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// An emulator on its own thread; answers how much CPU that thread used.
struct EmulatorThread {
    base: url::Url,
    emulator: Emulator,
    ask: tokio::sync::mpsc::UnboundedSender<std::sync::mpsc::Sender<Duration>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmulatorThread {
    fn start(seed: Seed) -> anyhow::Result<Self> {
        let emulator = Emulator::new(seed, EmulatorConfig::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (ask, mut asks) =
            tokio::sync::mpsc::unbounded_channel::<std::sync::mpsc::Sender<Duration>>();
        let e = emulator.clone();
        let thread = std::thread::Builder::new()
            .name("bench-emulator".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let addr = e.start(([127, 0, 0, 1], 0).into()).await;
                    let _ = ready_tx.send(addr.map_err(|e| e.to_string()));
                    while let Some(reply) = asks.recv().await {
                        let _ = reply.send(thread_cpu());
                    }
                    e.shutdown();
                });
            })?;
        let addr = ready_rx
            .recv()
            .context("the emulator thread stopped")?
            .map_err(anyhow::Error::msg)
            .context("cannot start the Graph emulator")?;
        Ok(Self {
            base: url::Url::parse(&format!("http://{addr}/"))?,
            emulator,
            ask,
            thread: Some(thread),
        })
    }

    /// The emulator thread's CPU time so far.
    async fn cpu(&self) -> anyhow::Result<Duration> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.ask
            .send(tx)
            .map_err(|_| anyhow::anyhow!("the emulator thread stopped"))?;
        tokio::task::spawn_blocking(move || rx.recv())
            .await?
            .context("the emulator thread stopped")
    }
}

impl Drop for EmulatorThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        let (tx, _) = tokio::sync::mpsc::unbounded_channel();
        self.ask = tx;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The environment variable naming a `perf record --control` FIFO: the
/// profiler is then enabled for the measured drain only, so a profile shows
/// the run and not the bench's set-up (seeding 5,000 messages, the CRM).
/// `perf record -D -1 --control fifo:ctl.fifo …` with
/// `EMAIL_LOGGING_PERF_CTL=ctl.fifo` (BENCHMARKS.md, "Profiling").
const PERF_CTL: &str = "EMAIL_LOGGING_PERF_CTL";

/// The profiler enabled while this lives, when [`PERF_CTL`] names a FIFO.
struct ProfileWindow(Option<std::fs::File>);

impl ProfileWindow {
    fn open() -> Self {
        use std::io::Write as _;
        let fifo = std::env::var_os(PERF_CTL).and_then(|path| {
            let mut f = std::fs::OpenOptions::new().write(true).open(path).ok()?;
            f.write_all(b"enable\n").ok()?;
            Some(f)
        });
        Self(fifo)
    }
}

impl Drop for ProfileWindow {
    fn drop(&mut self) {
        use std::io::Write as _;
        if let Some(f) = &mut self.0 {
            let _ = f.write_all(b"disable\n");
        }
    }
}

/// Time spent inside the component, summed at transitions.
#[derive(Default)]
struct GuestClock {
    entered: Option<Instant>,
    total: Duration,
}

pub(super) async fn measure(s: &Sizes, r: &mut Results) -> anyhow::Result<()> {
    let mailbox = mailbox_address(0);
    let inbox: Vec<_> = (0..s.cpu_messages).map(|i| message(&mailbox, i)).collect();
    let seed = Seed::from_json(
        &json!({"mailboxes": {mailbox.clone(): {"folders": {"inbox": inbox}}}}).to_string(),
    )?;
    let em = EmulatorThread::start(seed)?;
    let dir = tempfile::tempdir()?;
    let erp = Erp::open(ErpOptions {
        data_dir: dir.path().to_path_buf(),
        emulator: Some(em.base.clone()),
        ..Default::default()
    })?;
    let company = erp.company("BENCH-CPU")?;
    crm::import(
        &erp.db,
        company,
        &crm::parse_seed(graph_emulator::SAMPLE_CRM)?,
    )?;
    crate::demo::connect(&erp, company, &em.base, &mailbox, Some(50)).await?;

    // The runtime's own instance, plus a call hook that times the guest.
    let (component, _) = load_component(EMBEDDED_COMPONENT, cache_dir().as_deref())?;
    let mut linker = Linker::<PluginState>::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    EmailLogging::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    let pre = EmailLoggingPre::new(linker.instantiate_pre(&component)?)?;
    let limits = StoreLimitsBuilder::new().memory_size(256 << 20).build();
    let mut store = Store::new(
        engine(),
        PluginState::new(erp.runtime.context().clone(), company, limits, None),
    );
    store.limiter(|s| &mut s.limits);
    // About ten minutes of epoch ticks: the drain takes far less.
    store.set_epoch_deadline(60_000);
    store.epoch_deadline_trap();
    let clock = Arc::new(Mutex::new(GuestClock::default()));
    let hook_clock = clock.clone();
    store.call_hook(move |_, hook| {
        let mut c = hook_clock.lock().unwrap_or_else(|p| p.into_inner());
        match hook {
            CallHook::CallingWasm | CallHook::ReturningFromHost => {
                c.entered = Some(Instant::now());
            }
            CallHook::ReturningFromWasm | CallHook::CallingHost => {
                if let Some(t) = c.entered.take() {
                    c.total += t.elapsed();
                }
            }
        }
        Ok(())
    });

    let emulator_before = em.cpu().await?;
    let profile = ProfileWindow::open();
    let process_before = process_cpu();
    let plugin = pre.instantiate_async(&mut store).await?;
    let report = plugin
        .erp_plugin_processing()
        .call_run(&mut store, 600_000)
        .await?
        .map_err(|e| anyhow::anyhow!("the run failed: {e:?}"))?;
    let process = process_cpu() - process_before;
    drop(profile);
    let emulator = em.cpu().await? - emulator_before;
    anyhow::ensure!(
        report.inbox_drained && report.messages_seen as usize == s.cpu_messages,
        "the CPU drain saw {} of {} messages",
        report.messages_seen,
        s.cpu_messages
    );
    anyhow::ensure!(
        em.emulator.folder_counts(&mailbox).get("inbox") == Some(&0),
        "the CPU drain left messages in the Inbox"
    );
    let guest = clock.lock().unwrap_or_else(|p| p.into_inner()).total;
    let n = s.cpu_messages as f64;
    let host = process.saturating_sub(emulator).saturating_sub(guest);
    r.cpu_guest_us_per_message = guest.as_secs_f64() * 1e6 / n;
    r.cpu_host_us_per_message = host.as_secs_f64() * 1e6 / n;
    r.cpu_us_per_message = r.cpu_guest_us_per_message + r.cpu_host_us_per_message;
    Ok(())
}
