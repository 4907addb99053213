//! `email-logging-host demo`: the whole flow on embedded defaults.
//!
//! Starts the Graph emulator in-process, loads the CRM seed into a fresh
//! database (its records and email-logging policy, and its `log_sensitive`
//! into the setup), sets up and signs in like an administrator would,
//! enables email logging, runs the job until the Inbox is drained, and
//! reports.

use crate::crm::{self, EntryView};
use crate::erp::{Erp, ErpOptions, JobOutcome, follow_authorize_url};
use crate::runtime::{Outcome, RunError, RunReport};
use crate::setup_form::{MailStoreChoice, SetupForm};
use crate::store::Location;
use anyhow::{Context as _, bail};
use graph_emulator::{Emulator, EmulatorConfig, Seed};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the demo prints with `--json` (SPEC §7).
#[derive(Debug, Serialize)]
pub struct DemoResult {
    /// Every interaction log entry.
    pub entries: Vec<EntryView>,
    /// The runs' reports added up.
    #[serde(serialize_with = "crate::host::names::serialize_run_report")]
    pub report: RunReport,
    /// Messages left per folder.
    pub mailbox: BTreeMap<String, usize>,
}

/// The company the demo plays.
pub const DEMO_COMPANY: &str = "CRONUS";

/// The Exchange server the demo's current experience reads (the emulator, routed).
const DEMO_EWS_URL: &str = "https://exchange.cronus.example/EWS/Exchange.asmx";
/// The demo account's password, when the seed names no account of its own.
const DEMO_EWS_PASSWORD: &str = "Demo~Exchange.Password-1";
/// The queue folder the demo fills from the first mailbox's Inbox.
const DEMO_QUEUE: &str = "Email Logging/Queue";

/// What the current experience's demo reads: the seed with its queue folder,
/// the account that signs in and its password.
struct EwsDemo {
    seed: String,
    queue: String,
    account: String,
    password: String,
}

/// The seed as the current experience reads it: the file's `public_folders`
/// (the first path is the queue), or, when it has none, the first mailbox's
/// Inbox moved into the queue folder; the file's first account, or the first
/// mailbox as an account with the demo password.
fn ews_demo(mailbox_seed: &str) -> anyhow::Result<EwsDemo> {
    use serde_json::{Value, json};
    let mut v: Value =
        serde_json::from_str(mailbox_seed).context("the mailbox seed is not JSON")?;
    let first_mailbox = v
        .get("mailboxes")
        .and_then(Value::as_object)
        .and_then(|m| m.keys().next().cloned());
    let queue = match v
        .get("public_folders")
        .and_then(Value::as_object)
        .and_then(|p| p.keys().next().cloned())
    {
        Some(path) => path,
        None => {
            let inbox = first_mailbox
                .as_ref()
                .and_then(|m| v["mailboxes"][m]["folders"].as_object_mut())
                .and_then(|f| f.remove("inbox"))
                .unwrap_or_else(|| json!([]));
            v["public_folders"] = json!({ DEMO_QUEUE: inbox });
            DEMO_QUEUE.to_string()
        }
    };
    let given = v.get("accounts").and_then(Value::as_object).and_then(|a| {
        a.iter().next().map(|(name, acc)| {
            (
                name.clone(),
                acc["password"].as_str().unwrap_or_default().to_string(),
            )
        })
    });
    let (account, password) = match given {
        Some(a) => a,
        None => {
            let account =
                first_mailbox.context("the mailbox seed names no mailbox and no account")?;
            v["accounts"] = json!({ &account: {"password": DEMO_EWS_PASSWORD} });
            (account, DEMO_EWS_PASSWORD.to_string())
        }
    };
    Ok(EwsDemo {
        seed: v.to_string(),
        queue,
        account,
        password,
    })
}

/// Runs the demo on the given seed texts, over the mail store chosen.
pub async fn run(
    mailbox_seed: &str,
    crm_seed: &str,
    realism: &crate::realism::Realism,
    store: MailStoreChoice,
    database: &Location,
    home: &std::path::Path,
) -> anyhow::Result<DemoResult> {
    let ews = match store {
        MailStoreChoice::Graph => None,
        MailStoreChoice::Ews => Some(ews_demo(mailbox_seed)?),
    };
    let seed_text = ews.as_ref().map_or(mailbox_seed, |e| e.seed.as_str());
    let seed = Seed::from_json(seed_text).context("the mailbox seed is not valid")?;
    let crm_seed = crm::parse_seed(crm_seed)?;
    let Sandbox {
        emulator,
        base,
        erp,
        dir: _data,
    } = Sandbox::start_on(seed, database, Some(home)).await?;
    let company = erp.company(&demo_company(database))?;
    erp.import_seed(company, &crm_seed)?;
    // The seed's `log_sensitive` is the component's setup field.
    erp.apply_seed_setup(company, &crm_seed).await?;

    // The setup's defaults, as a real installation has them.
    let mailbox = match &ews {
        None => {
            let mailbox = mailbox_of(mailbox_seed)?;
            connect(&erp, company, &base, &mailbox, None).await?;
            mailbox
        }
        Some(e) => {
            connect_ews(&erp, company, e).await?;
            e.account.clone()
        }
    };
    // The faulty day, if asked for, starts once the setup is done.
    realism.apply(&emulator);

    let mut total: Option<RunReport> = None;
    let progress = crate::progress::RunProgress::new();
    erp.show_progress(Some(progress.sink()));
    // Runs until the Inbox is drained; with faults or throttling on, a run
    // may end early, as the job would, and the next one goes on.
    for _ in 0..200 {
        match erp.run_job(company, Duration::from_secs(120)).await? {
            JobOutcome::Report(r) => {
                let drained = r.inbox_drained;
                total = Some(match total {
                    None => r,
                    Some(t) => add(t, r),
                });
                if drained {
                    break;
                }
            }
            JobOutcome::Error(RunError::Throttled(s)) => {
                tokio::time::sleep(Duration::from_secs(u64::from(s).min(30))).await;
            }
            JobOutcome::Error(RunError::Transient(_)) => {}
            JobOutcome::Error(e) => bail!("the run failed: {}", crate::erp::describe(&e)),
            JobOutcome::Fault(e) => bail!("the run failed: {e}"),
        }
    }
    erp.show_progress(None);
    progress.finish();
    let report = total.context("no run finished")?;
    let entries = erp.entries(company, &crm::EntryFilter::default())?;
    let counts = match ews {
        None => emulator.folder_counts(&mailbox),
        Some(_) => emulator.public_folder_counts(),
    };
    emulator.shutdown();
    Ok(DemoResult {
        entries,
        report,
        mailbox: counts,
    })
}

/// A Graph emulator on a free loopback port and an ERP on a fresh temporary
/// database routed to it: what the demo and the bench run on.
pub struct Sandbox {
    /// The emulator.
    pub emulator: Emulator,
    /// Its base URL.
    pub base: url::Url,
    /// The ERP.
    pub erp: Erp,
    /// The data directory; removed when dropped.
    pub dir: tempfile::TempDir,
}

/// The demo's company: CRONUS in its own temporary SQLite database; in a
/// shared database, a new company of its own (`CRONUS demo 20261204-102312-7f3a`),
/// so that the demo starts from nothing and touches nobody's records.
fn demo_company(database: &Location) -> String {
    match database {
        Location::Embedded => DEMO_COMPANY.to_string(),
        Location::Postgres(_) => format!(
            "{DEMO_COMPANY} demo {}-{:04x}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S"),
            rand::random::<u16>()
        ),
    }
}

impl Sandbox {
    /// Starts the emulator with `seed` and opens the ERP on a temporary
    /// SQLite database.
    pub async fn start(seed: Seed) -> anyhow::Result<Self> {
        Self::start_on(seed, &Location::Embedded, None).await
    }

    /// Starts the emulator with `seed` and opens the ERP on `database`. A
    /// shared database keeps its secrets under the key of its hosts: the
    /// key file of `home` (or `EMAIL_LOGGING_KEY`), where the temporary
    /// directory would make a new key each time; otherwise the key file is
    /// in the temporary directory.
    pub async fn start_on(
        seed: Seed,
        database: &Location,
        home: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let emulator = Emulator::new(seed, EmulatorConfig::default());
        let addr = emulator
            .start(([127, 0, 0, 1], 0).into())
            .await
            .context("cannot start the Graph emulator")?;
        let base = url::Url::parse(&format!("http://{addr}/"))?;
        let dir = tempfile::tempdir().context("cannot create a temporary data directory")?;
        let data_dir = match (database, home) {
            (Location::Postgres(_), Some(home)) => home.to_path_buf(),
            _ => dir.path().to_path_buf(),
        };
        let erp = Erp::open(ErpOptions {
            data_dir,
            emulator: Some(base.clone()),
            database: database.clone(),
            ..Default::default()
        })?;
        Ok(Self {
            emulator,
            base,
            erp,
            dir,
        })
    }
}

/// Sets up, signs in and enables email logging for `mailbox` against the
/// emulator at `base`, with its demo app registration, as an administrator
/// would; `batch_size` changes the setup's default. Shared by the demo, the
/// crash test and the benchmarks.
pub async fn connect(
    erp: &Erp,
    company: i64,
    base: &url::Url,
    mailbox: &str,
    batch_size: Option<u32>,
) -> anyhow::Result<()> {
    let rt = &erp.runtime;
    rt.setup_update(
        company,
        SetupForm {
            shared_mailbox: Some(mailbox.to_string()),
            client_id: Some(graph_emulator::DEMO_CLIENT_ID.into()),
            client_secret: Some(graph_emulator::DEMO_CLIENT_SECRET.into()),
            redirect_url: Some(graph_emulator::DEMO_REDIRECT_URI.into()),
            batch_size,
            ..Default::default()
        }
        .into_setup_change(),
    )
    .await?
    .map_err(crate::erp::setup_failed)?;
    let url = rt
        .begin_sign_in(company, None)
        .await?
        .map_err(crate::erp::setup_failed)?;
    let query = follow_authorize_url(&url, base).await?;
    rt.complete_sign_in(company, &query)
        .await?
        .map_err(crate::erp::setup_failed)?;
    rt.enable(company)
        .await?
        .map_err(crate::erp::setup_failed)?;
    Ok(())
}

/// Sets up and enables the current experience for the demo's account, with
/// the queue folder the seed fills and the default storage folder beside it.
async fn connect_ews(erp: &Erp, company: i64, demo: &EwsDemo) -> anyhow::Result<()> {
    let rt = &erp.runtime;
    let storage = match demo.queue.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/Storage"),
        None => "Storage".to_string(),
    };
    rt.setup_update(
        company,
        SetupForm {
            experience: Some(MailStoreChoice::Ews),
            ews_url: Some(DEMO_EWS_URL.into()),
            ews_account: Some(demo.account.clone()),
            ews_password: Some(demo.password.clone().into()),
            queue_folder: Some(demo.queue.clone()),
            ews_storage_folder: Some(storage),
            ..Default::default()
        }
        .into_setup_change(),
    )
    .await?
    .map_err(crate::erp::setup_failed)?;
    rt.enable(company)
        .await?
        .map_err(crate::erp::setup_failed)?;
    Ok(())
}

/// The first mailbox named in a seed.
fn mailbox_of(seed: &str) -> anyhow::Result<String> {
    let v: serde_json::Value = serde_json::from_str(seed)?;
    v.get("mailboxes")
        .and_then(|m| m.as_object())
        .and_then(|m| m.keys().next().cloned())
        .context("the mailbox seed names no mailbox")
}

/// Adds up the reports of several runs.
fn add(mut a: RunReport, b: RunReport) -> RunReport {
    a.duration_ms += b.duration_ms;
    a.messages_seen += b.messages_seen;
    a.messages_logged += b.messages_logged;
    a.messages_already_logged += b.messages_already_logged;
    for rc in b.not_logged {
        match a.not_logged.iter_mut().find(|x| x.reason == rc.reason) {
            Some(x) => x.count += rc.count,
            None => a.not_logged.push(rc),
        }
    }
    a.messages_quarantined += b.messages_quarantined;
    a.messages_deferred += b.messages_deferred;
    a.ledger.extend(b.ledger);
    a.entries_created += b.entries_created;
    a.requests += b.requests;
    a.throttled_waits += b.throttled_waits;
    a.pages += b.pages;
    a.budget_exhausted = b.budget_exhausted;
    a.inbox_drained = b.inbox_drained;
    a.stopped_early = b.stopped_early;
    a
}

/// Prints the result for a person.
pub fn print_human(r: &DemoResult) {
    println!("Interaction log entries ({}):", r.entries.len());
    println!(
        "{:>4}  {:<9} {:<5} {:<9} {:<4} {:<20} Subject",
        "No.", "Contact", "Sp.", "Flow", "By", "Date (UTC)"
    );
    for e in &r.entries {
        println!(
            "{:>4}  {:<9} {:<5} {:<9} {:<4} {:<20} {}",
            e.entry_no,
            e.contact_no,
            e.salesperson_code,
            e.information_flow,
            e.initiated_by,
            e.datetime,
            e.subject.chars().take(60).collect::<String>()
        );
    }
    let rep = &r.report;
    println!();
    println!(
        "Run report: {} messages seen, {} logged, {} already logged, {} entries, {} quarantined, {} deferred, {} requests, {} pages, {} ms",
        rep.messages_seen,
        rep.messages_logged,
        rep.messages_already_logged,
        rep.entries_created,
        rep.messages_quarantined,
        rep.messages_deferred,
        rep.requests,
        rep.pages,
        rep.duration_ms
    );
    for rc in &rep.not_logged {
        println!("  not logged, {}: {}", rc.reason, rc.count);
    }
    for l in rep
        .ledger
        .iter()
        .filter(|l| l.outcome == Outcome::Quarantined || l.outcome == Outcome::Deferred)
    {
        println!(
            "  {:?} {}: {}",
            l.outcome,
            l.message_id,
            l.reason.as_deref().unwrap_or("")
        );
    }
    println!();
    println!("Mailbox after the run:");
    for (folder, n) in &r.mailbox {
        if *n > 0 || ["inbox", "archive", "junkemail"].contains(&folder.as_str()) {
            println!("  {folder}: {n}");
        }
    }
}
