//! The command line of `email-logging-host`.

use crate::crm;
use crate::erp::{Erp, ErpOptions, JobOutcome, RUN_BUDGET};
use crate::host::AppRegistration;
use crate::runtime::{AuthMode, CheckStatus, NotLoggedPolicy, SetupChange, SetupRecord};
use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Email Logging reference host: logs the e-mail salespeople exchange with
/// contacts, from a shared Exchange Online mailbox, as interaction log entries.
///
/// Exit codes: 0 success, 1 failure (the reason is printed on one line),
/// 2 wrong usage, 3 a run that is partly done (messages were deferred to
/// the next run; the reason is printed on one line).
#[derive(Debug, Parser)]
#[command(name = "email-logging-host", version)]
pub struct Cli {
    /// Where the database and the secret key file live.
    #[arg(
        long,
        env = "EMAIL_LOGGING_HOME",
        default_value = "email-logging-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// The ERP company to work in.
    #[arg(
        long,
        env = "EMAIL_LOGGING_COMPANY",
        default_value = "CRONUS",
        global = true
    )]
    pub company: String,
    /// Send Microsoft Graph and sign-in requests to this Graph emulator base
    /// URL (for example http://127.0.0.1:8470) instead of Microsoft.
    #[arg(long, env = "EMAIL_LOGGING_EMULATOR", global = true, value_parser = emulator_url)]
    pub emulator: Option<url::Url>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// An emulator base URL: `http` or `https` with a host, nothing else.
fn emulator_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "the emulator is an http:// or https:// address with a host (for example http://127.0.0.1:8470), not {}://",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the emulator address must not hold a user name or password".into());
    }
    Ok(url)
}

/// A run that ended with messages deferred to the next run: exit code 3, so
/// that monitoring tells it from success (0) and from failure (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PartlyDone(pub String);

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole flow on embedded defaults: an in-process Graph emulator
    /// with a sample mailbox, a fresh database with a sample CRM, setup,
    /// sign-in, enable, and runs until the Inbox is drained.
    Demo {
        /// A mailbox seed (JSON) instead of the built-in sample.
        #[arg(long)]
        mailbox: Option<PathBuf>,
        /// A CRM seed (JSON) instead of the built-in sample.
        #[arg(long)]
        crm: Option<PathBuf>,
        /// Print one JSON object {"entries", "report", "mailbox"} instead of tables.
        #[arg(long)]
        json: bool,
        /// A faulty day at Microsoft: throttling, latency, faults.
        #[command(flatten)]
        realism: Realism,
    },
    /// Measure speed: drain throughput, CPU per message, WASM vs native, cold
    /// start, lookup scale, many mailboxes and peak memory (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
    /// Run the job queue: every due Email Logging job of every company, until Ctrl-C.
    Serve {
        /// Seconds between two looks at the job queue.
        #[arg(long, default_value_t = 5)]
        poll_seconds: u64,
        /// Also serve the web page on this address of this machine (for
        /// example 127.0.0.1:8480): the setup page with sign-in, contacts
        /// with their interaction log entries, and the job queue. It is
        /// protected by a random token; the address to open is printed.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// The path of the redirect URL registered for the app.
        #[arg(long, default_value = "/email-logging/callback")]
        callback_path: String,
    },
    /// The key that encrypts secrets at rest.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Run the Email Logging job of the company once, now.
    Run {
        /// The run's time budget in seconds.
        #[arg(long, default_value_t = RUN_BUDGET.as_secs())]
        budget_seconds: u64,
        /// Print the run report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show or change the Email Logging setup.
    #[command(subcommand)]
    Setup(SetupCommand),
    /// The CRM records.
    #[command(subcommand)]
    Crm(CrmCommand),
    /// List interaction log entries; open one's message; repair links.
    Entries(EntriesArgs),
    /// Sales opportunities.
    #[command(subcommand)]
    Opportunity(OpportunityCommand),
    /// List sales opportunities.
    Opportunities {
        /// Only this contact's (or its company's) opportunities.
        #[arg(long)]
        contact: Option<String>,
        /// Print JSON (one array).
        #[arg(long)]
        json: bool,
    },
    /// The activity log, newest first.
    ActivityLog {
        /// At most this many lines.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON (one array).
        #[arg(long)]
        json: bool,
    },
    /// The job queue entries (status, last and next run, last error) and
    /// the latest runs.
    Jobs {
        /// Runs of the job queue log to show.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Print JSON {"jobs", "log"}.
        #[arg(long)]
        json: bool,
    },
    /// The shared mailbox.
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// Serve the Graph emulator on its own.
    Emulator {
        /// The mailbox seed (JSON); the built-in sample when omitted.
        #[arg(long)]
        seed: Option<PathBuf>,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8470")]
        listen: std::net::SocketAddr,
        /// Register one more redirect URI for the demo app (repeatable), for
        /// example the callback of `setup sign-in` on another port.
        #[arg(long)]
        redirect_uri: Vec<String>,
        /// A faulty day at Microsoft: throttling, latency, faults.
        #[command(flatten)]
        realism: Realism,
    },
}

/// `entries`: a filtered list, or one of its actions.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EntriesArgs {
    /// An action on entries; without one, the entries are listed.
    #[command(subcommand)]
    pub action: Option<EntriesCommand>,
    /// Only this contact's entries (a company contact also shows its people's).
    #[arg(long)]
    pub contact: Option<String>,
    /// Only this salesperson's entries.
    #[arg(long)]
    pub salesperson: Option<String>,
    /// Entries from this day on (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Entries up to and including this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// Print JSON (one array of entries).
    #[arg(long)]
    pub json: bool,
}

/// Actions on interaction log entries.
#[derive(Debug, Subcommand)]
pub enum EntriesCommand {
    /// Print the link that opens an entry's e-mail in Outlook on the web.
    Open {
        /// The entry number.
        entry_no: i64,
        /// Also open it in the default browser.
        #[arg(long)]
        browser: bool,
    },
    /// Find every logged message again (by immutable id, else by
    /// internetMessageId) and refresh links that went stale; reports the
    /// messages it could not find.
    RepairLinks {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Opportunity commands.
#[derive(Debug, Subcommand)]
pub enum OpportunityCommand {
    /// Create an opportunity from an interaction log entry: for its contact
    /// and salesperson, described by its subject, linked back to it. An
    /// entry gets one opportunity; asking again shows the existing one.
    Create {
        /// The entry number.
        #[arg(long)]
        from_entry: i64,
        /// Print the opportunity as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Mailbox commands.
#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Item counts of the Inbox, the storage folder (and its monthly
    /// subfolders) and the not-logged and quarantine folders, against the
    /// folder item limit.
    Stats {
        /// Print JSON (one array).
        #[arg(long)]
        json: bool,
    },
}

/// The emulator's realism options, shared by `demo` and `emulator`.
#[derive(Debug, Args)]
pub struct Realism {
    /// Throttle like Outlook: at most 4 concurrent requests and 10,000 per 10
    /// minutes per app and mailbox, 429 ApplicationThrottled with Retry-After.
    #[arg(long)]
    pub throttle: bool,
    /// Latency per operation, for example `list=150ms,move=250ms,token=50ms`
    /// (operations: list, get, move, token, other).
    #[arg(long, value_parser = graph_emulator::Latency::parse)]
    pub latency: Option<graph_emulator::Latency>,
    /// Faults by probability, for example
    /// `429=0.05,503=0.02,reset=0.01,timeout=0.01` (kinds: 429, 500, 503,
    /// 504, reset, timeout, truncated, invalid-json, reset-after-commit;
    /// also seed=N, hold=DURATION, retry-after=DURATION, token=true).
    #[arg(long, value_parser = graph_emulator::Faults::parse)]
    pub faults: Option<graph_emulator::Faults>,
}

impl Realism {
    /// Turns the options on in an emulator.
    pub fn apply(&self, emulator: &graph_emulator::Emulator) {
        if self.throttle {
            emulator.set_throttling(Some(graph_emulator::Throttling::default()));
        }
        if let Some(l) = &self.latency {
            emulator.set_latency(*l);
        }
        if let Some(f) = &self.faults {
            emulator.set_faults(f.clone());
        }
    }
}

/// Setup commands.
#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Show the setup (never the secret).
    Show,
    /// Change setup fields; only the fields given change.
    Set(SetArgs),
    /// Sign in with the job account (delegated mode): prints the address to
    /// open, then receives the redirect on the redirect URL when it points at
    /// this machine (else asks for the address the browser ended on).
    SignIn {
        /// Pre-select this account (to change the job account).
        #[arg(long)]
        account: Option<String>,
        /// The address the browser was redirected to, when already known.
        #[arg(long)]
        redirected_url: Option<String>,
        /// How long to wait for the redirect.
        #[arg(long, default_value_t = 600)]
        timeout_seconds: u64,
    },
    /// Print the address a tenant administrator opens to grant admin consent.
    AdminConsent,
    /// Obtain new tokens now, to check the sign-in still works.
    RenewToken,
    /// Remove and create the recurring job again.
    RecreateJob,
    /// Walk through the whole setup step by step.
    Wizard,
    /// Run the validation checklist.
    Validate,
    /// Validate, then create the recurring job.
    Enable,
    /// Remove the recurring job.
    Disable,
    /// Remove the setup, its job and every stored secret.
    Clear,
}

/// Fields of `setup set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The shared mailbox that receives the BCC copies.
    #[arg(long)]
    pub shared_mailbox: Option<String>,
    /// Tenant id or domain (or common/organizations for delegated sign-in).
    #[arg(long)]
    pub tenant: Option<String>,
    /// How the job signs in.
    #[arg(long, value_enum)]
    pub auth_mode: Option<Mode>,
    /// The app registration's Application (client) ID.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Read the client secret from standard input (it never goes on the command line).
    #[arg(long, conflicts_with = "clear_client_secret")]
    pub client_secret_stdin: bool,
    /// Remove the stored client secret (for example when the host supplies
    /// it through EMAIL_LOGGING_CLIENT_SECRET).
    #[arg(long)]
    pub clear_client_secret: bool,
    /// The app registration's redirect URL.
    #[arg(long)]
    pub redirect_url: Option<String>,
    /// Messages per page, 1 to 1000.
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Where logged messages go: a well-known folder name (archive) or a
    /// folder path such as "Sales/Email log"; missing folders are created.
    #[arg(long)]
    pub storage_folder: Option<String>,
    /// One subfolder per month (2026-11) under the storage folder: on or off.
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub monthly_subfolders: Option<bool>,
    /// The item limit folders are held against (Exchange Online: 1000000).
    #[arg(long)]
    pub folder_item_limit: Option<u32>,
    /// Warn when a folder passes this share of the limit, 1 to 100 (percent).
    #[arg(long)]
    pub folder_warning_percent: Option<u8>,
    /// What happens to messages that cannot be logged.
    #[arg(long, value_enum)]
    pub not_logged_policy: Option<Policy>,
    /// The folder for messages that cannot be logged.
    #[arg(long)]
    pub not_logged_folder: Option<String>,
    /// The folder for messages whose handling failed for good.
    #[arg(long)]
    pub quarantine_folder: Option<String>,
}

/// Auth modes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    /// Authorization code with a job account.
    Delegated,
    /// Client credentials.
    Application,
}

/// Not-logged policies on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Policy {
    /// Move to the "not logged" folder.
    Move,
    /// Delete.
    Delete,
    /// Leave in the Inbox.
    Leave,
}

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Re-encrypt every stored secret with a new key. With the key in a file,
    /// a new key file replaces it; with the key in EMAIL_LOGGING_KEY, the new
    /// key is taken from EMAIL_LOGGING_NEW_KEY.
    Rotate,
    /// Forget every stored secret (client secrets, sign-in tokens) of every
    /// company and start a new key: for a key that is lost for good. Enter
    /// the client secret and sign in again afterwards.
    Reset {
        /// Confirms that the stored secrets are to be forgotten.
        #[arg(long)]
        forget_secrets: bool,
    },
}

/// CRM commands.
#[derive(Debug, Subcommand)]
pub enum CrmCommand {
    /// Import CRM records: a CRM seed (.json: salespeople, contacts and the
    /// e-mail template), or CSV files with a header row, one per record
    /// type (salespeople.csv: code,name,email; contacts.csv:
    /// no,name,type,company_no,email,email2; alt-addresses.csv:
    /// contact_no,code,email; interaction-templates.csv:
    /// code,description,email_template). All CSV files of one command are
    /// imported together, or nothing is.
    Import {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The record type of the CSV files, when their names do not say it.
        #[arg(long = "type", value_enum)]
        kind: Option<crate::crm::csv_import::RecordType>,
    },
    /// List the contacts, with how many interaction log entries each has.
    Contacts {
        /// Only contacts whose number, name or e-mail contains this.
        #[arg(long)]
        search: Option<String>,
        /// Print JSON (one array).
        #[arg(long)]
        json: bool,
    },
}

/// `crm import`: a JSON seed, or CSV files imported together.
fn import(
    erp: &Erp,
    company: i64,
    files: &[PathBuf],
    kind: Option<crate::crm::csv_import::RecordType>,
) -> anyhow::Result<()> {
    use crate::crm::csv_import::{self, CsvFile, RecordType};
    let is_json = |p: &PathBuf| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    };
    if let [file] = files
        && is_json(file)
    {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let s = erp.import_crm(company, &text)?;
        println!(
            "Imported {} salespeople, {} contacts, {} alternative addresses.",
            s.salespeople, s.contacts, s.alt_addresses
        );
        return Ok(());
    }
    let mut csv = Vec::new();
    for file in files {
        anyhow::ensure!(
            !is_json(file),
            "import a JSON seed on its own, not together with other files"
        );
        let name = file.display().to_string();
        let kind = kind
            .or_else(|| RecordType::from_file_name(&name))
            .with_context(|| {
                format!(
                    "{name}: say what it holds with --type (salespeople, contacts, alt-addresses, interaction-templates), or name it so (contacts.csv, ...)"
                )
            })?;
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {name}"))?;
        csv.push(CsvFile { name, kind, text });
    }
    let bar = crate::progress::bar(0, "Importing rows");
    let s = csv_import::import_with_progress(&erp.db, company, &csv, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let s = s?;
    println!(
        "Imported {} salespeople, {} contacts, {} alternative addresses, {} interaction templates.",
        s.salespeople, s.contacts, s.alt_addresses, s.interaction_templates
    );
    Ok(())
}

/// `entries`: the list, `open` or `repair-links`.
async fn entries(erp: &Erp, company: i64, args: EntriesArgs) -> anyhow::Result<()> {
    match args.action {
        None => {
            if let (Some(from), Some(to)) = (args.from, args.to) {
                anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
            }
            let filter = crm::EntryFilter {
                contact: args.contact,
                salesperson: args.salesperson,
                from: args.from,
                to: args.to,
            };
            let list = crm::entries(&erp.db, company, &filter)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{}", crate::views::entries(&list));
            }
            Ok(())
        }
        Some(EntriesCommand::Open { entry_no, browser }) => {
            let e = crm::entry(&erp.db, company, entry_no)?.with_context(|| {
                format!("there is no interaction log entry {entry_no}; see `entries`")
            })?;
            anyhow::ensure!(
                !e.web_link.is_empty(),
                "entry {entry_no} has no link to its message"
            );
            if e.link_status == "not-found" {
                eprintln!(
                    "The message was not found the last time links were repaired; the link may not open."
                );
            }
            let link = erp.message_url(&e.web_link).with_context(|| {
                format!(
                    "entry {entry_no}'s link is not an Outlook on the web address, so it is not opened: {}; run `entries repair-links` to find the message again",
                    crate::terminal::plain(&e.web_link)
                )
            })?;
            println!("{link}");
            if browser {
                webbrowser::open(&link)
                    .with_context(|| format!("cannot open a browser for {link}"))?;
            }
            Ok(())
        }
        Some(EntriesCommand::RepairLinks { json }) => {
            let bar = crate::progress::bar(0, "Checking links");
            let report = crate::link_repair::repair_links(erp, company, &|done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .await?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", crate::views::repair(&report));
            }
            Ok(())
        }
    }
}

fn app_from_env() -> AppRegistration {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    AppRegistration {
        client_id: var("EMAIL_LOGGING_CLIENT_ID"),
        client_secret: var("EMAIL_LOGGING_CLIENT_SECRET"),
        redirect_url: var("EMAIL_LOGGING_REDIRECT_URL"),
    }
}

fn print_setup(s: &SetupRecord) {
    let show = |v: &Option<String>| {
        v.as_deref().map_or_else(
            || "(not set)".into(),
            |v| crate::terminal::plain(v).into_owned(),
        )
    };
    println!("Shared mailbox:      {}", show(&s.shared_mailbox));
    println!("Tenant:              {}", s.tenant);
    println!(
        "Auth mode:           {}",
        match s.auth_mode {
            AuthMode::Delegated => "delegated (the job account signs in)",
            AuthMode::Application => "application (client credentials)",
        }
    );
    println!("Client id:           {}", show(&s.client_id));
    println!(
        "Client secret:       {}",
        if s.client_secret_set {
            "(stored, encrypted)"
        } else {
            "(not set)"
        }
    );
    println!("Redirect URL:        {}", show(&s.redirect_url));
    println!("Batch size:          {}", s.batch_size);
    println!(
        "Storage folder:      {}{}",
        s.storage_folder,
        if s.monthly_subfolders {
            " (one subfolder per month)"
        } else {
            ""
        }
    );
    println!(
        "Folder item limit:   {} (warn from {}%)",
        s.folder_item_limit, s.folder_warning_percent
    );
    println!(
        "Not logged:          {}",
        match s.not_logged_policy {
            NotLoggedPolicy::MoveToFolder => format!("moved to '{}'", s.not_logged_folder),
            NotLoggedPolicy::Delete => "deleted".to_string(),
            NotLoggedPolicy::Leave => "left in the Inbox".to_string(),
        }
    );
    println!("Quarantine folder:   {}", s.quarantine_folder);
    println!("Enabled:             {}", s.enabled);
    println!("Consent given:       {}", s.consent_given);
    println!("Signed-in account:   {}", show(&s.signed_in_account));
    println!("Status:              {}", s.status);
}

/// The process's entry: parses the command line, sets up logging, runs the
/// command on a tokio runtime and turns the outcome into the exit code.
pub fn run() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EMAIL_LOGGING_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<PartlyDone>() {
            Some(partly) => {
                eprintln!("{partly}");
                std::process::ExitCode::from(3)
            }
            None => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

/// Runs the command line.
pub async fn main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo {
            mailbox,
            crm,
            json,
            realism,
        } => {
            let read = |p: Option<PathBuf>, default: &str| -> anyhow::Result<String> {
                match p {
                    Some(p) => std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read {}", p.display())),
                    None => Ok(default.to_string()),
                }
            };
            let result = crate::demo::run(
                &read(mailbox, graph_emulator::SAMPLE_SEED)?,
                &read(crm, graph_emulator::SAMPLE_CRM)?,
                &realism,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                crate::demo::print_human(&result);
            }
            Ok(())
        }
        Command::Bench(args) => crate::bench::main(args).await,
        Command::Emulator {
            seed,
            listen,
            redirect_uri,
            realism,
        } => {
            let text = match seed {
                Some(p) => std::fs::read_to_string(&p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
                None => graph_emulator::SAMPLE_SEED.to_string(),
            };
            let seed =
                graph_emulator::Seed::from_json(&text).context("the mailbox seed is not valid")?;
            let config = redirect_uri
                .iter()
                .fold(graph_emulator::EmulatorConfig::default(), |c, uri| {
                    c.with_redirect_uri(uri)
                });
            eprintln!("Graph emulator listening on http://{listen} (Ctrl-C stops it)");
            let emulator = graph_emulator::Emulator::new(seed, config);
            realism.apply(&emulator);
            graph_emulator::serve_with(emulator, listen)
                .await
                .with_context(|| format!("cannot serve on {listen}"))?;
            Ok(())
        }
        Command::Key(KeyCommand::Reset { forget_secrets }) => {
            let db = crate::store::Store::open(&cli.data_dir.join("email-logging.db"))
                .context("cannot open the database")?;
            let n = crate::crypto::secret_count(&db)?;
            anyhow::ensure!(
                forget_secrets,
                "this forgets the {n} stored secrets (client secrets and sign-in tokens) of every company; run it again with --forget-secrets to go ahead"
            );
            let n = crate::crypto::reset_key(&db, &cli.data_dir.join("secret.key"))?;
            println!(
                "Forgot {n} stored secrets and started a new key. Enter the client secret again (setup set --client-secret-stdin) and sign in again (setup sign-in)."
            );
            Ok(())
        }
        command => {
            let erp = Erp::open(ErpOptions {
                data_dir: cli.data_dir.clone(),
                emulator: cli.emulator.clone(),
                app: app_from_env(),
                ..Default::default()
            })?;
            if let Command::Key(KeyCommand::Rotate) = command {
                let n = if std::env::var(crate::crypto::KEY_ENV).is_ok() {
                    let n = crate::crypto::rotate_env_key(&erp.db)?;
                    println!(
                        "Re-encrypted {n} secrets. Now set EMAIL_LOGGING_KEY to the value of EMAIL_LOGGING_NEW_KEY."
                    );
                    n
                } else {
                    let n =
                        crate::crypto::rotate_key_file(&erp.db, &cli.data_dir.join("secret.key"))?;
                    println!(
                        "Re-encrypted {n} secrets with a new key in {}.",
                        cli.data_dir.join("secret.key").display()
                    );
                    n
                };
                tracing::info!(secrets = n, "key rotated");
                return Ok(());
            }
            let company = erp.company(&cli.company)?;
            with_erp(std::sync::Arc::new(erp), company, command).await
        }
    }
}

async fn with_erp(erp: std::sync::Arc<Erp>, company: i64, command: Command) -> anyhow::Result<()> {
    let rt = &erp.runtime;
    match command {
        Command::Serve {
            poll_seconds,
            listen,
            callback_path,
        } => {
            if let Some(addr) = listen {
                anyhow::ensure!(
                    addr.ip().is_loopback(),
                    "the web page is served on this machine only: listen on 127.0.0.1 or [::1], not {}",
                    addr.ip()
                );
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?;
                let token = crate::web::new_token();
                let app = crate::web::router(erp.clone(), &callback_path, &token);
                eprintln!("Web page on http://{addr}/?token={token}");
                eprintln!("(the token protects it; open that address once per browser)");
                tokio::spawn(async move { axum::serve(listener, app).await });
            }
            eprintln!("Running the job queue (Ctrl-C stops it)");
            erp.serve(Duration::from_secs(poll_seconds.max(1)), async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
        }
        Command::Run {
            budget_seconds,
            json,
        } => match run_with_progress(&erp, company, Duration::from_secs(budget_seconds)).await? {
            JobOutcome::Report(r) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    println!(
                        "{} messages seen, {} logged, {} entries created, {} quarantined, {} deferred",
                        r.messages_seen,
                        r.messages_logged,
                        r.entries_created,
                        r.messages_quarantined,
                        r.messages_deferred
                    );
                }
                match crate::erp::partly_done(&r) {
                    Some(text) => Err(PartlyDone(text).into()),
                    None => Ok(()),
                }
            }
            JobOutcome::Error(e) => bail!("the run did not complete: {}", crate::erp::describe(&e)),
            JobOutcome::Fault(e) => bail!("the run did not complete: {e}"),
        },
        Command::Setup(SetupCommand::Show) => {
            print_setup(
                &rt.setup_get(company)
                    .await?
                    .map_err(crate::erp::setup_failed)?,
            );
            Ok(())
        }
        Command::Setup(SetupCommand::Set(a)) => {
            let client_secret = if a.client_secret_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the client secret")?;
                let secret = line.trim();
                // An empty line is a slip (an empty pipe, Enter pressed too
                // soon), never a wish to lose the stored secret.
                anyhow::ensure!(
                    !secret.is_empty(),
                    "client-secret: standard input held no secret, so nothing was changed; pipe the secret's Value in, or remove the stored one with --clear-client-secret"
                );
                Some(secret.to_string())
            } else if a.clear_client_secret {
                Some(String::new())
            } else {
                None
            };
            let change = SetupChange {
                shared_mailbox: a.shared_mailbox,
                tenant: a.tenant,
                auth_mode: a.auth_mode.map(|m| match m {
                    Mode::Delegated => AuthMode::Delegated,
                    Mode::Application => AuthMode::Application,
                }),
                client_id: a.client_id,
                client_secret,
                redirect_url: a.redirect_url,
                batch_size: a.batch_size,
                storage_folder: a.storage_folder,
                monthly_subfolders: a.monthly_subfolders,
                folder_item_limit: a.folder_item_limit,
                folder_warning_percent: a.folder_warning_percent,
                not_logged_policy: a.not_logged_policy.map(|p| match p {
                    Policy::Move => NotLoggedPolicy::MoveToFolder,
                    Policy::Delete => NotLoggedPolicy::Delete,
                    Policy::Leave => NotLoggedPolicy::Leave,
                }),
                not_logged_folder: a.not_logged_folder,
                quarantine_folder: a.quarantine_folder,
            };
            print_setup(
                &rt.setup_update(company, change)
                    .await?
                    .map_err(crate::erp::setup_failed)?,
            );
            Ok(())
        }
        Command::Setup(SetupCommand::SignIn {
            account,
            redirected_url,
            timeout_seconds,
        }) => {
            let stdin = std::io::stdin();
            let s = sign_in(
                &erp,
                company,
                account.as_deref(),
                redirected_url.as_deref(),
                Duration::from_secs(timeout_seconds),
                &mut stdin.lock(),
            )
            .await?;
            println!(
                "Signed in{}.",
                s.signed_in_account
                    .map(|a| format!(" as {a}"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Command::Setup(SetupCommand::AdminConsent) => {
            let url = rt
                .admin_consent_url(company)
                .await?
                .map_err(crate::erp::setup_failed)?;
            println!(
                "A tenant administrator opens this address to grant consent for the whole organisation:"
            );
            println!("{url}");
            Ok(())
        }
        Command::Setup(SetupCommand::RenewToken) => {
            rt.renew_token(company)
                .await?
                .map_err(crate::erp::setup_failed)?;
            println!("New tokens were obtained; the sign-in works.");
            Ok(())
        }
        Command::Setup(SetupCommand::RecreateJob) => {
            rt.recreate_job(company)
                .await?
                .map_err(crate::erp::setup_failed)?;
            println!(
                "The job was created again; it runs every 10 minutes, the first time in a minute."
            );
            Ok(())
        }
        Command::Setup(SetupCommand::Wizard) => {
            use std::io::IsTerminal as _;
            let stdin = std::io::stdin();
            let terminal = stdin.is_terminal();
            crate::wizard::run(&erp, company, &mut stdin.lock(), terminal).await
        }
        Command::Setup(SetupCommand::Validate) => {
            if print_checks(&rt.validate(company).await?) {
                bail!("the setup is not valid yet");
            }
            Ok(())
        }
        Command::Setup(SetupCommand::Enable) => {
            rt.enable(company)
                .await?
                .map_err(crate::erp::setup_failed)?;
            println!(
                "Email logging is enabled; the job runs every 10 minutes, the first time in a minute."
            );
            Ok(())
        }
        Command::Setup(SetupCommand::Disable) => {
            rt.disable(company)
                .await?
                .map_err(crate::erp::setup_failed)?;
            println!("Email logging is disabled; the job was removed.");
            Ok(())
        }
        Command::Setup(SetupCommand::Clear) => {
            rt.clear(company).await?.map_err(crate::erp::setup_failed)?;
            println!("The setup, its job and its secrets were removed.");
            Ok(())
        }
        Command::Crm(CrmCommand::Import { files, kind }) => import(&erp, company, &files, kind),
        Command::Crm(CrmCommand::Contacts { search, json }) => {
            let list = crm::contacts(&erp.db, company, search.as_deref(), usize::MAX)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                use crate::terminal::plain;
                for c in &list {
                    println!(
                        "{:<10} {:<30} {:<8} {:<30} {} entries",
                        plain(&c.no),
                        plain(&c.name),
                        plain(&c.kind),
                        plain(c.email.as_deref().unwrap_or("-")),
                        c.entries
                    );
                }
            }
            Ok(())
        }
        Command::Entries(args) => entries(&erp, company, args).await,
        Command::Opportunity(OpportunityCommand::Create { from_entry, json }) => {
            let entry = crm::entry(&erp.db, company, from_entry)?.with_context(|| {
                format!("there is no interaction log entry {from_entry}; see `entries`")
            })?;
            let (o, new) = match crm::opportunity::create_from_entry(&erp.db, company, &entry)? {
                crm::opportunity::Created::New(o) => (o, true),
                crm::opportunity::Created::Existing(o) => (o, false),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&o)?);
            } else if new {
                println!(
                    "Created opportunity {} \"{}\" for contact {} and salesperson {}, from entry {from_entry}.",
                    o.no, o.description, o.contact_no, o.salesperson_code
                );
            } else {
                println!(
                    "Entry {from_entry} has opportunity {} \"{}\" already; nothing was created.",
                    o.no, o.description
                );
            }
            Ok(())
        }
        Command::Opportunities { contact, json } => {
            let list = crm::opportunity::list(&erp.db, company, contact.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{}", crate::views::opportunities(&list));
            }
            Ok(())
        }
        Command::ActivityLog { limit, json } => {
            let list = crm::recent_activities(&erp.db, company, limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{}", crate::views::activity_log(&list));
            }
            Ok(())
        }
        Command::Jobs { runs, json } => {
            let list = crate::jobs::list(&erp.db, company)?;
            let log = crate::jobs::log(&erp.db, company, runs)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "jobs": list, "log": log }))?
                );
            } else {
                println!("{}", crate::views::jobs(&list, &log));
            }
            Ok(())
        }
        Command::Mailbox(MailboxCommand::Stats { json }) => {
            let stats = rt
                .mailbox_stats(company)
                .await?
                .map_err(|e| anyhow::anyhow!("{}", crate::erp::describe(&e)))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                println!("{}", crate::views::folder_stats(&stats));
                if stats.iter().any(|f| f.warning) {
                    println!(
                        "A folder is nearly full: choose a new storage folder or turn on monthly subfolders (setup set --monthly-subfolders on); old entries keep their links."
                    );
                }
            }
            Ok(())
        }
        Command::Demo { .. } | Command::Bench(_) | Command::Emulator { .. } | Command::Key(_) => {
            unreachable!("handled before a company is chosen")
        }
    }
}

/// One job run, with its progress on the terminal while it goes on.
async fn run_with_progress(
    erp: &Erp,
    company: i64,
    budget: Duration,
) -> anyhow::Result<JobOutcome> {
    let progress = crate::progress::RunProgress::new();
    erp.show_progress(Some(progress.sink()));
    let outcome = erp.run_job(company, budget).await;
    erp.show_progress(None);
    progress.finish();
    outcome
}

/// Prints the checklist; returns whether any check failed.
pub fn print_checks(checks: &[crate::runtime::Check]) -> bool {
    let mut failed = false;
    for c in checks {
        let mark = match c.status {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => {
                failed = true;
                "FAIL"
            }
        };
        println!("[{mark}] {}: {}", c.name, c.detail);
        if !c.hint.is_empty() {
            println!("       -> {}", c.hint);
        }
    }
    failed
}

/// A delegated sign-in from the terminal: prints the authorize address,
/// then takes the redirect on this machine's redirect URL, or from
/// `redirected_url`, or as a line typed by the user.
pub async fn sign_in(
    erp: &Erp,
    company: i64,
    account: Option<&str>,
    redirected_url: Option<&str>,
    timeout: Duration,
    input: &mut dyn std::io::BufRead,
) -> anyhow::Result<SetupRecord> {
    use std::io::Write as _;
    let rt = &erp.runtime;
    let query_of = |u: &str| -> anyhow::Result<String> {
        Ok(url::Url::parse(u.trim())
            .context("that is not the address of the redirect")?
            .query()
            .unwrap_or_default()
            .to_string())
    };
    // The address the browser ended on belongs to the sign-in started
    // before (its state is stored): starting a new one would replace that.
    if let Some(u) = redirected_url {
        return rt
            .complete_sign_in(company, &query_of(u)?)
            .await?
            .map_err(crate::erp::setup_failed);
    }
    let url = rt
        .begin_sign_in(company, account)
        .await?
        .map_err(crate::erp::setup_failed)?;
    let redirect = url::Url::parse(&url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "redirect_uri")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|r| url::Url::parse(&r).ok());
    let query = match redirect {
        Some(r) if crate::web::is_local(&r) => {
            println!("Open this address in a browser and sign in with the job account:");
            println!("{url}");
            println!("Waiting for the sign-in on {r} ...");
            std::io::stdout().flush()?;
            crate::web::wait_for_redirect(&r, timeout).await?
        }
        _ => {
            println!("Open this address in a browser and sign in with the job account:");
            println!("{url}");
            println!("Then paste the address the browser ended on:");
            std::io::stdout().flush()?;
            let mut line = String::new();
            anyhow::ensure!(input.read_line(&mut line)? > 0, "the sign-in was cancelled");
            query_of(&line)?
        }
    };
    rt.complete_sign_in(company, &query)
        .await?
        .map_err(crate::erp::setup_failed)
}
