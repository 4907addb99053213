//! Peak memory: a child host process (`email-logging-host run`, the same
//! command an administrator runs) drains the mailbox in one job run, and its
//! peak resident set (`VmHWM`) is read from `/proc` until it exits. The
//! emulator stays in this process, so its memory is not counted.

use super::{Results, Sizes, World, message};
use anyhow::Context as _;
use std::process::Stdio;
use std::time::Duration;

/// `VmHWM` of a process in MB, while it lives.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The component's kept throttling window (`graph::pacing::WINDOW_KEY`).
const PACING_KEY: &str = "graph-pacing";

/// Messages kept waiting in the Inbox while the child drains: the
/// emulator reads its whole folder for every page, so a full 100,000
/// message Inbox would measure the emulator, not the host.
const TOP_UP: usize = 1_000;

pub(super) async fn measure(s: &Sizes, r: &mut Results) -> anyhow::Result<()> {
    let world = World::new(1, 0, 50).await?;
    let (company, mailbox) = world.companies[0].clone();
    let exe = std::env::current_exe().context("cannot find this program")?;
    let mut added = 0;
    let mut peak = 0.0f64;
    let mut runs = 0;
    let top_up = |added: &mut usize| -> anyhow::Result<()> {
        let waiting = world.emulator.folder_counts(&mailbox).get("inbox").copied();
        if waiting.unwrap_or(0) < TOP_UP {
            let until = (*added + TOP_UP).min(s.rss_messages);
            for i in *added..until {
                world
                    .emulator
                    .add_message(&mailbox, "inbox", message(&mailbox, i))
                    .map_err(|e| anyhow::anyhow!("cannot add a message: {e}"))?;
            }
            *added = until;
        }
        Ok(())
    };
    top_up(&mut added)?;
    // One job run drains everything unless the Inbox ran dry before the
    // last top-up; then the next run goes on, and the peak is the highest.
    while runs < 100 {
        runs += 1;
        let mut child = tokio::process::Command::new(&exe)
            .arg("--data-dir")
            .arg(world.dir.path())
            .arg("--emulator")
            .arg(world.base.as_str())
            .args(["--company", "BENCH-0", "run", "--budget-seconds", "3600"])
            .env("EMAIL_LOGGING_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start a child host process")?;
        let pid = child.id().context("the child host process has no id")?;
        let status = loop {
            if let Some(mb) = peak_rss_mb(pid) {
                peak = peak.max(mb);
            }
            top_up(&mut added)?;
            tokio::select! {
                status = child.wait() => break status?,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        };
        // Exit 3 is a partly done run: one that met the throttling window
        // (Outlook's 10,000 requests per ten minutes) leaves the rest of
        // the Inbox to the next run, as in production.
        if !status.success() && status.code() != Some(3) {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt as _;
                let _ = e.read_to_string(&mut err).await;
            }
            anyhow::bail!("the child host process failed ({status}): {}", err.trim());
        }
        // Ten minutes pass between two runs of the job (its recurrence), and
        // with them the throttling window the component kept: a run drains
        // what Outlook allows in a window, as in production, and the next
        // one starts with a window of its own.
        crate::store::plugin_state::remove(&world.erp.db, company, PACING_KEY)?;
        let left = world.emulator.folder_counts(&mailbox).get("inbox").copied();
        if added >= s.rss_messages && left == Some(0) {
            break;
        }
        top_up(&mut added)?;
    }
    let archived = world.emulator.folder_counts(&mailbox);
    let moved: usize = archived
        .iter()
        .filter(|(f, _)| f.as_str() != "inbox")
        .map(|(_, n)| n)
        .sum();
    anyhow::ensure!(
        moved == s.rss_messages,
        "the children moved {moved} of {} messages in {runs} runs",
        s.rss_messages
    );
    anyhow::ensure!(peak > 0.0, "no VmHWM could be read (is /proc mounted?)");
    r.rss_messages = s.rss_messages as u64;
    r.rss_runs = runs;
    r.peak_rss_mb_100k = peak;
    Ok(())
}
