//! `email-logging-host bench`: the speed figures of issue 6, each measured
//! for real in one run: the component in wasmtime, HTTP over loopback
//! sockets to the Graph emulator, SQLite on disk.
//!
//! One module per measurement; this one holds what they share (a mailbox
//! world to drain), the results, the table and the JSON. `--quick` shrinks
//! every size so the whole suite runs in seconds (a smoke run, not figures
//! to quote); BENCHMARKS.md quotes a full run.

mod cpu;
mod drain;
mod lookup;
mod mailboxes;
mod memory;
mod startup;
mod wasm_native;
pub mod workers;

pub use drain::{PacingRun, pacing_run};

use crate::crm;
use crate::erp::{Erp, JobOutcome};
use crate::runtime::RunError;
use crate::store::CompanyId;
use anyhow::Context as _;
use clap::{Args, ValueEnum as _};
use graph_emulator::{Emulator, Latency, Seed};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of `email-logging-host bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Small sizes and short latencies: a smoke run in seconds, not figures to quote.
    #[arg(long)]
    pub quick: bool,
    /// Also write the figures as one JSON object to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The emulator's latency for the drain figures (default list=150ms,move=250ms;
    /// with --quick a tenth of that).
    #[arg(long, value_name = "SPEC")]
    pub latency: Option<String>,
    /// Measure only these parts (comma-separated), so one figure takes
    /// minutes, not the whole suite; the JSON keeps every key (0 when not
    /// measured).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PART[,PART]")]
    pub only: Vec<Part>,
}

/// A part of the suite, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// Cold start and instantiation.
    Startup,
    /// Address lookup at three contact table sizes.
    Lookup,
    /// Classification and matching, WASM against native.
    WasmNative,
    /// CPU per message at zero latency.
    Cpu,
    /// Pacing, and drain throughput with latency and throttling.
    Drain,
    /// Many mailboxes in one host.
    Mailboxes,
    /// Peak memory in a child process.
    Memory,
    /// 1, 2 and 4 `serve` workers on one PostgreSQL.
    Workers,
}

/// Every figure of one bench run (the JSON written by `--json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Results {
    /// Whether this was a `--quick` smoke run.
    pub quick: bool,
    /// The parts measured (all unless `--only` chose).
    pub parts: Vec<Part>,
    /// The emulator latency the drain figures used.
    pub drain_latency: String,
    /// Messages drained per second from one mailbox, with latency and throttling.
    pub drain_msgs_per_s: f64,
    /// The throttling ceiling for that latency, in messages per second.
    pub drain_ceiling_msgs_per_s: f64,
    /// `drain_msgs_per_s` / `drain_ceiling_msgs_per_s`.
    pub drain_ratio_to_ceiling: f64,
    /// The sequential strategy (a page of 50, one move at a time), same conditions.
    pub drain_sequential_msgs_per_s: f64,
    /// `drain_msgs_per_s` / `drain_sequential_msgs_per_s`.
    pub drain_speedup_vs_sequential: f64,
    /// 429 answers during the drain.
    pub drain_429: u64,
    /// Messages in the drain.
    pub drain_messages: u64,
    /// 429 answers draining a mailbox against a compressed throttling window, paced.
    pub pacing_429_with: u64,
    /// The same drain with pacing switched off.
    pub pacing_429_without: u64,
    /// Messages per second of the paced compressed-window drain.
    pub pacing_msgs_per_s_with: f64,
    /// Messages per second of the unpaced compressed-window drain.
    pub pacing_msgs_per_s_without: f64,
    /// Host process CPU per message at zero latency (guest + host).
    pub cpu_us_per_message: f64,
    /// Of which inside the component.
    pub cpu_guest_us_per_message: f64,
    /// Of which in the host (imports, HTTP client, SQLite, wasmtime).
    pub cpu_host_us_per_message: f64,
    /// Classification and matching inside the component / natively, same inputs.
    pub wasm_native_ratio: f64,
    /// Time per message of that workload natively.
    pub classify_native_us_per_message: f64,
    /// Time per message of that workload in the component.
    pub classify_wasm_us_per_message: f64,
    /// Loading the component by compiling it (no cache).
    pub cold_start_uncached_ms: f64,
    /// Loading the component from the precompiled cache.
    pub cold_start_cached_ms: f64,
    /// A fresh store and an instance from the `InstancePre`, per run.
    pub instantiate_ms: f64,
    /// Contacts in the three lookup figures.
    pub lookup_sizes: [u64; 3],
    /// Time per address lookup with the smallest contact table (1,000).
    pub lookup_us_1k: f64,
    /// … with the middle one (100,000).
    pub lookup_us_100k: f64,
    /// … with the largest one (1,000,000).
    pub lookup_us_1m: f64,
    /// Mailboxes (companies) in the three many-mailbox figures.
    pub mailbox_counts: [u64; 3],
    /// Aggregate messages per second with 1 mailbox.
    pub mailboxes_1_msgs_per_s: f64,
    /// … with 10 mailboxes.
    pub mailboxes_10_msgs_per_s: f64,
    /// … with 100 mailboxes.
    pub mailboxes_100_msgs_per_s: f64,
    /// `mailboxes_100_msgs_per_s` / (100 × one mailbox's throttling ceiling).
    pub mailboxes_100_ratio_to_ceiling: f64,
    /// The largest mailbox count again at zero latency: the CPU-bound figure.
    pub mailboxes_100_zero_latency_msgs_per_s: f64,
    /// Messages drained in the memory figure.
    pub rss_messages: u64,
    /// Job runs (child processes) the memory figure took; 1 unless the Inbox ran dry.
    pub rss_runs: u64,
    /// Peak resident set of a host process draining `rss_messages` messages.
    pub peak_rss_mb_100k: f64,
    /// Mailboxes (companies) the workers figures drain.
    pub worker_mailboxes: u64,
    /// Aggregate messages per second, one `serve` worker on PostgreSQL.
    pub workers_1_msgs_per_s: f64,
    /// … two workers.
    pub workers_2_msgs_per_s: f64,
    /// … four workers.
    pub workers_4_msgs_per_s: f64,
    /// PostgreSQL server CPU per message (its backends for the workers).
    pub workers_db_cpu_us_per_message: f64,
    /// Committed transactions per message.
    pub workers_db_commits_per_message: f64,
    /// Rows inserted, updated or deleted per message.
    pub workers_db_rows_per_message: f64,
    /// PostgreSQL server CPU of one run over an empty Inbox.
    pub workers_db_cpu_us_per_empty_run: f64,
    /// Committed transactions of one run over an empty Inbox.
    pub workers_db_commits_per_empty_run: f64,
}

/// Runs the suite, prints the table and writes the JSON.
pub async fn main(args: BenchArgs) -> anyhow::Result<()> {
    let sizes = Sizes::new(args.quick);
    let latency_spec = args.latency.clone().unwrap_or_else(|| {
        if args.quick {
            "list=15ms,move=25ms".into()
        } else {
            "list=150ms,move=250ms".into()
        }
    });
    let latency = Latency::parse(&latency_spec).map_err(anyhow::Error::msg)?;
    let mut r = Results {
        quick: args.quick,
        drain_latency: latency_spec,
        ..Default::default()
    };

    // The JSON is written after every part, so a long run that fails late
    // still leaves the figures measured before.
    let save = |r: &Results| -> anyhow::Result<()> {
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_string_pretty(r)? + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    };
    let parts: Vec<Part> = Part::value_variants()
        .iter()
        .copied()
        .filter(|p| args.only.is_empty() || args.only.contains(p))
        .collect();
    r.parts = parts.clone();
    for part in parts {
        match part {
            Part::Startup => {
                progress("cold start and instantiate");
                startup::measure(&sizes, &mut r).await?;
            }
            Part::Lookup => {
                progress("address lookup at three contact table sizes");
                lookup::measure(&sizes, &mut r)?;
            }
            Part::WasmNative => {
                progress("classification and matching: WASM vs native");
                wasm_native::measure(&sizes, &mut r).await?;
            }
            Part::Cpu => {
                progress("CPU per message at zero latency");
                cpu::measure(&sizes, &mut r).await?;
            }
            Part::Drain => {
                progress("pacing under a compressed throttling window");
                drain::measure_pacing(&sizes, &mut r).await?;
                save(&r)?;
                progress("drain throughput with latency and throttling");
                drain::measure(&sizes, latency, &mut r).await?;
            }
            Part::Mailboxes => {
                progress("many mailboxes");
                mailboxes::measure(&sizes, latency, &mut r).await?;
            }
            Part::Memory => {
                progress("peak memory in a child process");
                memory::measure(&sizes, &mut r).await?;
            }
            Part::Workers => {
                progress("many workers on one PostgreSQL");
                workers::measure(&sizes, latency, &mut r).await?;
            }
        }
        save(&r)?;
    }

    print_table(&r);
    Ok(())
}

/// The sizes of one run.
#[derive(Debug, Clone)]
pub(crate) struct Sizes {
    pub quick: bool,
    /// Messages in the latency drain.
    pub drain_messages: usize,
    /// Messages in the sequential drain (its rate is steady after a page).
    pub sequential_messages: usize,
    /// Messages in the zero-latency CPU drain.
    pub cpu_messages: usize,
    /// Messages per run of the classification workload, and rounds.
    pub classify_messages: usize,
    pub classify_rounds: usize,
    /// Contacts in the three lookup tables.
    pub lookup_sizes: [usize; 3],
    /// Lookups timed per table.
    pub lookups: usize,
    /// Mailbox counts, and messages per mailbox.
    pub mailbox_counts: [usize; 3],
    pub messages_per_mailbox: usize,
    /// Mailboxes the workers figures drain (as many companies).
    pub worker_mailboxes: usize,
    /// Messages the child drains for the memory figure.
    pub rss_messages: usize,
    /// Repetitions of the cold start figures.
    pub startups: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                quick,
                drain_messages: 100,
                sequential_messages: 30,
                cpu_messages: 200,
                classify_messages: 200,
                classify_rounds: 3,
                lookup_sizes: [1_000, 5_000, 20_000],
                lookups: 500,
                mailbox_counts: [1, 3, 6],
                messages_per_mailbox: 20,
                worker_mailboxes: 4,
                rss_messages: 300,
                startups: 2,
            }
        } else {
            Self {
                quick,
                drain_messages: 1_000,
                sequential_messages: 150,
                cpu_messages: 5_000,
                classify_messages: 2_000,
                classify_rounds: 20,
                lookup_sizes: [1_000, 100_000, 1_000_000],
                lookups: 20_000,
                mailbox_counts: [1, 10, 100],
                messages_per_mailbox: 100,
                worker_mailboxes: 50,
                rss_messages: 100_000,
                startups: 10,
            }
        }
    }
}

/// A line of progress on stderr (stdout keeps the table).
pub(crate) fn progress(what: &str) {
    eprintln!("bench: {what} ...");
}

/// The median of some samples (0 for none).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The sample CRM's people, for generated mail.
const CONTACTS: [&str; 4] = [
    "andy.teal@cannongroup.example",
    "mindy.martin@selangorian.example",
    "contact@adatum.example",
    "info@cannongroup.example",
];
const SALESPEOPLE: [&str; 3] = [
    "jim.olive@cronus.example",
    "lina.townsend@cronus.example",
    "benjamin.chiu@cronus.example",
];

/// The `i`th generated message: mostly loggable mail in both directions,
/// and some internal, unknown-sender and draft mail that is not logged, as
/// a real shared mailbox receives it.
pub fn message(mailbox: &str, i: usize) -> Value {
    let r = |a: &str| json!({"emailAddress": {"address": a}});
    let contact = CONTACTS[i % CONTACTS.len()];
    let sp = SALESPEOPLE[i % SALESPEOPLE.len()];
    let (from, to, cc): (&str, Vec<&str>, Vec<&str>) = match i % 10 {
        0..=4 => (contact, vec![sp], vec![]),
        5..=7 => (sp, vec![contact], vec![CONTACTS[(i + 1) % CONTACTS.len()]]),
        8 => (sp, vec![SALESPEOPLE[(i + 1) % SALESPEOPLE.len()]], vec![]),
        _ => ("someone@unknown.example", vec![sp], vec![]),
    };
    let received = chrono::DateTime::<chrono::Utc>::from_timestamp(1_790_000_000 + i as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "internetMessageId": format!("<bench-{i}.{mailbox}>"),
        "subject": format!("Bench message {i}"),
        "sender": r(from),
        "from": r(from),
        "toRecipients": to.iter().map(|a| r(a)).collect::<Vec<_>>(),
        "ccRecipients": cc.iter().map(|a| r(a)).collect::<Vec<_>>(),
        "bccRecipients": [r(mailbox)],
        "sentDateTime": received,
        "receivedDateTime": received,
        "isDraft": false,
        "bodyPreview": "A generated message for the benchmarks.",
    })
}

/// The mailbox address of the `i`th benchmark company.
pub fn mailbox_address(i: usize) -> String {
    format!("bench-{i}@cronus.example")
}

/// An emulator, an ERP (its key file in a temporary directory), and
/// companies connected to their own mailboxes with the sample CRM: what the
/// benchmarks and the many-worker test run on.
pub struct World {
    /// The Graph emulator with every company's mailbox.
    pub emulator: Emulator,
    /// Its base URL.
    pub base: url::Url,
    /// The ERP.
    pub erp: Erp,
    /// Company and its mailbox.
    pub companies: Vec<(CompanyId, String)>,
    /// The data directory (the key file; the SQLite database unless another is given).
    pub dir: tempfile::TempDir,
}

impl World {
    /// `mailboxes` mailboxes of `messages` generated messages each, pages of `batch_size`.
    pub async fn new(mailboxes: usize, messages: usize, batch_size: u32) -> anyhow::Result<Self> {
        Self::new_on(
            mailboxes,
            messages,
            batch_size,
            &crate::store::Location::Embedded,
        )
        .await
    }

    /// The same, on `database`.
    pub async fn new_on(
        mailboxes: usize,
        messages: usize,
        batch_size: u32,
        database: &crate::store::Location,
    ) -> anyhow::Result<Self> {
        let mut boxes = serde_json::Map::new();
        for m in 0..mailboxes {
            let address = mailbox_address(m);
            let inbox: Vec<Value> = (0..messages).map(|i| message(&address, i)).collect();
            boxes.insert(address, json!({"folders": {"inbox": inbox}}));
        }
        let seed = Seed::from_json(&json!({ "mailboxes": boxes }).to_string())
            .context("the generated mailbox seed is not valid")?;
        let crate::demo::Sandbox {
            emulator,
            base,
            erp,
            dir,
        } = crate::demo::Sandbox::start_on(seed, database, None).await?;
        let seed = crm::parse_seed(graph_emulator::SAMPLE_CRM)?;
        let mut companies = Vec::new();
        for m in 0..mailboxes {
            let company = erp.company(&format!("BENCH-{m}"))?;
            crm::import(&erp.db, company, &seed)?;
            let mailbox = mailbox_address(m);
            crate::demo::connect(&erp, company, &base, &mailbox, Some(batch_size)).await?;
            companies.push((company, mailbox));
        }
        Ok(Self {
            emulator,
            base,
            erp,
            companies,
            dir,
        })
    }

    /// 429 answers the emulator gave so far.
    pub fn throttled(&self) -> u64 {
        self.emulator
            .requests()
            .iter()
            .filter(|r| r.status == 429)
            .count() as u64
    }

    /// Overrides the Graph limits the component paces against, through the
    /// component's own storage (the `graph-limits` plugin-state key).
    pub fn set_pacing(
        &self,
        company: CompanyId,
        max_requests: u32,
        window: Duration,
        pacing: bool,
    ) -> anyhow::Result<()> {
        let value = json!({
            "max_requests": max_requests,
            "window_ms": window.as_millis() as u64,
            "pacing": pacing,
        });
        crate::store::plugin_state::set(&self.erp.db, company, "graph-limits", &value.to_string())?;
        Ok(())
    }

    /// Runs the company's job until its Inbox is empty, as the scheduler
    /// would (waiting out throttling); returns the time it took.
    pub async fn drain(&self, company: CompanyId, mailbox: &str) -> anyhow::Result<Duration> {
        drain_company(&self.erp, &self.emulator, company, mailbox).await
    }
}

/// Runs a company's job until its Inbox is empty; the time it took.
pub(crate) async fn drain_company(
    erp: &Erp,
    emulator: &Emulator,
    company: CompanyId,
    mailbox: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for run in 1..=1000 {
        if emulator.folder_counts(mailbox).get("inbox").copied() == Some(0) {
            return Ok(started.elapsed());
        }
        match erp.run_job(company, Duration::from_secs(3600)).await? {
            JobOutcome::Report(_) | JobOutcome::Error(RunError::Transient(_)) => {}
            JobOutcome::Error(RunError::Throttled(s)) => {
                tokio::time::sleep(Duration::from_secs(u64::from(s).min(30))).await
            }
            other => anyhow::bail!("run {run} of {mailbox} failed: {other:?}"),
        }
    }
    anyhow::bail!("{mailbox} was not drained in 1000 runs")
}

fn print_table(r: &Results) {
    let rows: Vec<(Part, &str, String, &str)> = vec![
        (
            Part::Drain,
            "drain, one mailbox",
            format!(
                "{:.1} msg/s ({} msgs, latency {}, {} x 429)",
                r.drain_msgs_per_s, r.drain_messages, r.drain_latency, r.drain_429
            ),
            "",
        ),
        (
            Part::Drain,
            "  throttling ceiling",
            format!(
                "{:.1} msg/s, ratio {:.2}",
                r.drain_ceiling_msgs_per_s, r.drain_ratio_to_ceiling
            ),
            ">= 0.97",
        ),
        (
            Part::Drain,
            "  sequential strategy",
            format!(
                "{:.2} msg/s, speedup {:.2}x",
                r.drain_sequential_msgs_per_s, r.drain_speedup_vs_sequential
            ),
            ">= 4x",
        ),
        (
            Part::Drain,
            "pacing, compressed window",
            format!(
                "429s {} paced vs {} unpaced; {:.1} vs {:.1} msg/s",
                r.pacing_429_with,
                r.pacing_429_without,
                r.pacing_msgs_per_s_with,
                r.pacing_msgs_per_s_without
            ),
            "few 429s",
        ),
        (
            Part::Cpu,
            "CPU per message",
            format!(
                "{:.1} us (guest {:.1}, host {:.1})",
                r.cpu_us_per_message, r.cpu_guest_us_per_message, r.cpu_host_us_per_message
            ),
            "<= 50 us",
        ),
        (
            Part::WasmNative,
            "WASM / native",
            format!(
                "{:.2} ({:.2} vs {:.2} us/msg)",
                r.wasm_native_ratio,
                r.classify_wasm_us_per_message,
                r.classify_native_us_per_message
            ),
            "<= 1.3",
        ),
        (
            Part::Startup,
            "cold start, uncached",
            format!("{:.1} ms", r.cold_start_uncached_ms),
            "",
        ),
        (
            Part::Startup,
            "cold start, cached",
            format!("{:.2} ms", r.cold_start_cached_ms),
            "<= 10 ms",
        ),
        (
            Part::Startup,
            "instantiate per run",
            format!("{:.3} ms", r.instantiate_ms),
            "<= 1 ms",
        ),
        (
            Part::Lookup,
            "address lookup",
            format!(
                "{:.1} / {:.1} / {:.1} us at {} / {} / {} contacts",
                r.lookup_us_1k,
                r.lookup_us_100k,
                r.lookup_us_1m,
                r.lookup_sizes[0],
                r.lookup_sizes[1],
                r.lookup_sizes[2]
            ),
            "<= 2x growth",
        ),
        (
            Part::Mailboxes,
            "many mailboxes",
            format!(
                "{:.1} / {:.1} / {:.1} msg/s with {} / {} / {}",
                r.mailboxes_1_msgs_per_s,
                r.mailboxes_10_msgs_per_s,
                r.mailboxes_100_msgs_per_s,
                r.mailbox_counts[0],
                r.mailbox_counts[1],
                r.mailbox_counts[2]
            ),
            "",
        ),
        (
            Part::Mailboxes,
            "  of 100 x one's ceiling",
            format!("{:.2}", r.mailboxes_100_ratio_to_ceiling),
            ">= 0.9",
        ),
        (
            Part::Mailboxes,
            "  at zero latency",
            format!(
                "{:.1} msg/s with {} (CPU-bound)",
                r.mailboxes_100_zero_latency_msgs_per_s, r.mailbox_counts[2]
            ),
            ">= 5000",
        ),
        (
            Part::Workers,
            "workers on PostgreSQL",
            format!(
                "{:.1} / {:.1} / {:.1} msg/s with 1 / 2 / 4 workers, {} mailboxes",
                r.workers_1_msgs_per_s,
                r.workers_2_msgs_per_s,
                r.workers_4_msgs_per_s,
                r.worker_mailboxes
            ),
            "",
        ),
        (
            Part::Workers,
            "  database load",
            format!(
                "{:.0} us server CPU, {:.2} commits, {:.1} rows written per message",
                r.workers_db_cpu_us_per_message,
                r.workers_db_commits_per_message,
                r.workers_db_rows_per_message
            ),
            "",
        ),
        (
            Part::Workers,
            "  a run with nothing to log",
            format!(
                "{:.0} us server CPU, {:.1} commits",
                r.workers_db_cpu_us_per_empty_run, r.workers_db_commits_per_empty_run
            ),
            "",
        ),
        (
            Part::Memory,
            "peak RSS",
            format!(
                "{:.1} MB draining {} messages",
                r.peak_rss_mb_100k, r.rss_messages
            ),
            "<= 40 MB",
        ),
    ];
    if r.quick {
        println!("(--quick: small sizes and short latencies; a smoke run, not figures to quote)");
    }
    println!("{:<28} {:<62} target", "figure", "measured");
    for (_, name, value, target) in rows.into_iter().filter(|(p, ..)| r.parts.contains(p)) {
        println!("{name:<28} {value:<62} {target}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_samples() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
    }

    #[test]
    fn generated_messages_parse_and_differ() {
        let a = message("m@x.example", 1);
        let b = message("m@x.example", 2);
        assert_ne!(a["internetMessageId"], b["internetMessageId"]);
        assert!(a["receivedDateTime"].as_str().unwrap() < b["receivedDateTime"].as_str().unwrap());
    }
}
