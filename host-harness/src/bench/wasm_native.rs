//! WASM vs native: the component's classification and matching code
//! (`guest/src/{message,classify,address}.rs`) on the same generated inputs,
//! timed natively in this process and inside wasmtime as the
//! `classify-bench` command built with the component (same profile).

use super::{Results, Sizes};
use crate::runtime::{cache_dir, engine, load_component};
use anyhow::Context as _;
// The workload file names these modules relative to its parent.
use email_logging_guest::{address, classify, message};
use std::path::PathBuf;
use wasmtime::Store;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

#[path = "../../../guest/src/bin/classify-bench/workload.rs"]
mod workload;

/// Where the build put the wasm build of the workload: next to the component.
/// Tries on each side; the fastest counts.
const TRIES: usize = 5;

fn command_path() -> PathBuf {
    PathBuf::from(env!("EMAIL_LOGGING_COMPONENT")).with_file_name("classify-bench.wasm")
}

struct Command {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Command {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Runs the workload inside wasmtime: nanoseconds and checksum.
async fn in_wasm(messages: usize, rounds: usize) -> anyhow::Result<(u128, u64)> {
    let path = command_path();
    let wasm = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}; it is built with the component",
            path.display()
        )
    })?;
    let (component, _) = load_component(&wasm, cache_dir().as_deref())?;
    let mut linker = Linker::<Command>::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    let stdout = MemoryOutputPipe::new(4096);
    let wasi = WasiCtx::builder()
        .args(&[
            "classify-bench".to_string(),
            messages.to_string(),
            rounds.to_string(),
        ])
        .stdout(stdout.clone())
        .build();
    let mut store = Store::new(
        engine(),
        Command {
            wasi,
            table: ResourceTable::new(),
        },
    );
    // The engine interrupts at epochs; about ten minutes of them.
    store.set_epoch_deadline(60_000);
    store.epoch_deadline_trap();
    let command =
        wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut store, &component, &linker)
            .await?;
    command
        .wasi_cli_run()
        .call_run(&mut store)
        .await?
        .map_err(|()| anyhow::anyhow!("the classify-bench command failed"))?;
    let out = String::from_utf8_lossy(&stdout.contents()).into_owned();
    let mut parts = out.split_whitespace();
    let nanos = parts.next().and_then(|p| p.parse().ok());
    let checksum = parts.next().and_then(|p| p.parse().ok());
    nanos
        .zip(checksum)
        .with_context(|| format!("unexpected output from classify-bench: {out:?}"))
}

pub(super) async fn measure(s: &Sizes, r: &mut Results) -> anyhow::Result<()> {
    let (n, rounds) = (s.classify_messages, s.classify_rounds);
    let (inputs, directory) = workload::inputs(n);
    // The fastest of a few alternating tries on each side: on a shared
    // machine a single try measured anything from 1.05 to 1.74 (the other
    // core's load lands on one side or the other); the minimum is each
    // side's own cost.
    let (mut native_ns, mut wasm_ns) = (u128::MAX, u128::MAX);
    for _ in 0..TRIES {
        let (ns, native_sum) = workload::timed(&inputs, &directory, rounds);
        native_ns = native_ns.min(ns);
        let (ns, wasm_sum) = in_wasm(n, rounds).await?;
        wasm_ns = wasm_ns.min(ns);
        anyhow::ensure!(
            native_sum == wasm_sum,
            "the wasm and native workloads disagree ({wasm_sum} vs {native_sum}); is {} stale?",
            command_path().display()
        );
    }
    let per = |ns: u128| ns as f64 / 1e3 / (n * rounds) as f64;
    r.classify_native_us_per_message = per(native_ns);
    r.classify_wasm_us_per_message = per(wasm_ns);
    r.wasm_native_ratio = r.classify_wasm_us_per_message / r.classify_native_us_per_message;
    Ok(())
}
