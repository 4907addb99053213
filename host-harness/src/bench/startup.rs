//! Cold start: loading the component by compiling it and from the
//! precompiled cache; and the per-run cost of a fresh store and instance.

use super::{Results, Sizes, median};
use crate::erp::{Erp, ErpOptions};
use crate::host::PluginState;
use crate::host::bindings::{EmailLogging, EmailLoggingPre};
use crate::runtime::{EMBEDDED_COMPONENT, Loaded, engine, load_component};
use std::time::Instant;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Store, StoreLimitsBuilder};

pub(super) async fn measure(s: &Sizes, r: &mut Results) -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let mut uncached = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..s.startups.max(1) {
        let t = Instant::now();
        let (_, how) = load_component(EMBEDDED_COMPONENT, None)?;
        uncached.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            how == Loaded::Uncached,
            "expected a compilation, got {how:?}"
        );
    }
    // Fill the cache once, then time loads from it.
    let (_, how) = load_component(EMBEDDED_COMPONENT, Some(cache.path()))?;
    anyhow::ensure!(
        how == Loaded::Compiled,
        "the cache was not written: {how:?}"
    );
    for _ in 0..s.startups.max(1) * 3 {
        let t = Instant::now();
        let (_, how) = load_component(EMBEDDED_COMPONENT, Some(cache.path()))?;
        cached.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(how == Loaded::Cached, "the cache was not used: {how:?}");
    }
    r.cold_start_uncached_ms = median(uncached);
    r.cold_start_cached_ms = median(cached);

    // Instantiation as the runtime does it for every call: a fresh store
    // with limits and a deadline, an instance from the kept InstancePre.
    let dir = tempfile::tempdir()?;
    let erp = Erp::open(ErpOptions {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    })?;
    let company = erp.company("BENCH-START")?;
    let (component, _) = load_component(EMBEDDED_COMPONENT, Some(cache.path()))?;
    let mut linker = Linker::<PluginState>::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    EmailLogging::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    let pre = EmailLoggingPre::new(linker.instantiate_pre(&component)?)?;
    let mut samples = Vec::new();
    for i in 0..(s.startups * 50).max(20) {
        let t = Instant::now();
        let limits = StoreLimitsBuilder::new()
            .memory_size(256 << 20)
            .instances(16)
            .tables(16)
            .table_elements(100_000)
            .build();
        let mut store = Store::new(
            engine(),
            PluginState::new(erp.runtime.context().clone(), company, limits, None),
        );
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1_000);
        store.epoch_deadline_trap();
        let _plugin = pre.instantiate_async(&mut store).await?;
        let took = t.elapsed().as_secs_f64() * 1e3;
        // The first few warm the allocator; a scheduler calls many times.
        if i >= 3 {
            samples.push(took);
        }
    }
    r.instantiate_ms = median(samples);
    Ok(())
}
