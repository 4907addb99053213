//! Messages per second under the soak's fault mix (a benchmark, not a test).
//!
//! `cargo bench -p email-logging-host --bench soak` drains a mailbox of
//! `BENCH_MESSAGES` (default 5,000) messages through the emulator with
//! throttling on and `graph_emulator::SOAK_FAULTS`, running the job as the
//! scheduler would until the Inbox is empty, and prints the figures.

use email_logging_host::runtime::RunError;
use email_logging_host::{Erp, ErpOptions, JobOutcome};
use graph_emulator::{Emulator, EmulatorConfig, Faults, SAMPLE_MAILBOX, Seed, Throttling};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let r = |a: &str| json!({"emailAddress": {"address": a}});
    let inbox: Vec<_> = (0..messages)
        .map(|i| {
            json!({
                "internetMessageId": format!("<bench-{i}@x>"),
                "subject": format!("Bench {i}"),
                "sender": r("andy.teal@cannongroup.example"),
                "toRecipients": [r("jim.olive@cronus.example")],
                "sentDateTime": "2026-11-10T09:00:00Z",
                "receivedDateTime": format!("2026-11-10T{:02}:{:02}:{:02}Z", 8 + i / 3600, (i / 60) % 60, i % 60),
            })
        })
        .collect();
    let seed = json!({"mailboxes": {SAMPLE_MAILBOX: {"folders": {"inbox": inbox}}}});
    let emulator = Emulator::new(
        Seed::from_json(&seed.to_string())?,
        EmulatorConfig::default(),
    );
    let addr = emulator.start(([127, 0, 0, 1], 0).into()).await?;
    let base = url::Url::parse(&format!("http://{addr}/"))?;
    let dir = tempfile::tempdir()?;
    let erp = Erp::open(ErpOptions {
        data_dir: dir.path().to_path_buf(),
        emulator: Some(base.clone()),
        ..Default::default()
    })?;
    let company = erp.company("CRONUS")?;
    erp.import_crm(company, graph_emulator::SAMPLE_CRM)?;
    email_logging_host::demo::connect(&erp, company, &base, SAMPLE_MAILBOX, Some(50)).await?;
    emulator.set_faults(Faults::parse(graph_emulator::SOAK_FAULTS).map_err(anyhow::Error::msg)?);
    emulator.set_throttling(Some(Throttling::default()));

    let started = Instant::now();
    let mut runs = 0;
    while emulator.folder_counts(SAMPLE_MAILBOX)["inbox"] > 0 {
        runs += 1;
        match erp.run_job(company, Duration::from_secs(600)).await? {
            JobOutcome::Report(_) | JobOutcome::Error(RunError::Transient(_)) => {}
            JobOutcome::Error(RunError::Throttled(s)) => {
                tokio::time::sleep(Duration::from_secs(u64::from(s))).await
            }
            other => anyhow::bail!("run {runs}: {other:?}"),
        }
    }
    let took = started.elapsed().as_secs_f64();
    let requests = emulator.requests().len();
    println!("soak benchmark: {messages} messages, {runs} runs, {took:.1} s");
    println!("  messages/s        {:.1}", messages as f64 / took);
    println!(
        "  requests          {requests} ({:.2} per message)",
        requests as f64 / messages as f64
    );
    println!(
        "  faults injected   {} ({:.1}% of requests)",
        emulator.fault_count(),
        100.0 * emulator.fault_count() as f64 / requests as f64
    );
    println!(
        "  throttled (429)   {}",
        emulator
            .requests()
            .iter()
            .filter(|q| q.status == 429)
            .count()
    );
    Ok(())
}
