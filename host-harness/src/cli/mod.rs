//! The command line of `email-logging-host`: the clap types and the
//! dispatch here, one module per command group. Every command drives the
//! ERP service ([`Erp`]); none reaches the database or the component past it.

mod crm;
mod emulator;
mod entries;
mod jobs;
mod key;
mod mailbox;
mod opportunity;
mod run;
mod setup;

use crate::erp::{Erp, ErpOptions, RUN_BUDGET};
use crate::host::AppRegistration;
use crate::store::CompanyId;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

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
    /// The database: `sqlite` (the embedded file in the data directory, the
    /// default) or a PostgreSQL database that many hosts share,
    /// postgres://user:password@host:port/database.
    // Read as text and checked in `main`: clap would repeat a refused value,
    // password and all, in its error.
    #[arg(
        long,
        env = "EMAIL_LOGGING_DATABASE",
        default_value = "sqlite",
        hide_env_values = true,
        hide_default_value = true,
        global = true
    )]
    pub database: DatabaseText,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--database` as given: shown only without its password.
#[derive(Clone)]
pub struct DatabaseText(String);

impl std::str::FromStr for DatabaseText {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

impl std::fmt::Debug for DatabaseText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::redacted(&self.0))
    }
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
        /// Which experience to run: graph (a shared mailbox) or ews (public
        /// folders over Exchange Web Services: the queue folder is filled from
        /// the seed's public_folders, or else from the first mailbox's Inbox).
        #[arg(long, value_enum, default_value_t = crate::setup_form::MailStoreChoice::Graph)]
        experience: crate::setup_form::MailStoreChoice,
        /// A faulty day at Microsoft: throttling, latency, faults.
        #[command(flatten)]
        realism: crate::realism::Realism,
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
        /// Seconds a job's lease holds without renewal (it is renewed every
        /// third of that while the run goes on): after a worker dies, another
        /// takes its job over this long after the last renewal.
        #[arg(long, default_value_t = crate::jobs::DEFAULT_LEASE.as_secs(), value_parser = clap::value_parser!(u64).range(3..=3600))]
        lease_seconds: u64,
        /// How many runs (of different companies) this worker has going at
        /// once.
        #[arg(long, default_value_t = crate::erp::DEFAULT_CONCURRENT_RUNS, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrent_runs: u16,
    },
    /// The key that encrypts secrets at rest.
    #[command(subcommand)]
    Key(key::KeyCommand),
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
    Setup(setup::SetupCommand),
    /// The CRM records.
    #[command(subcommand)]
    Crm(crm::CrmCommand),
    /// List interaction log entries; open one's message; repair links.
    Entries(entries::EntriesArgs),
    /// Sales opportunities.
    #[command(subcommand)]
    Opportunity(opportunity::OpportunityCommand),
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
    Mailbox(mailbox::MailboxCommand),
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
        realism: crate::realism::Realism,
    },
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
    let database: crate::store::Location = cli
        .database
        .0
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--database: {e}"))?;
    match cli.command {
        Command::Demo {
            mailbox,
            crm,
            json,
            experience,
            realism,
        } => {
            let home = &cli.data_dir;
            emulator::demo(mailbox, crm, json, experience, &realism, &database, home).await
        }
        Command::Bench(args) => crate::bench::main(args).await,
        Command::Emulator {
            seed,
            listen,
            redirect_uri,
            realism,
        } => emulator::serve(seed, listen, &redirect_uri, &realism).await,
        // Before the ERP opens: opening it refuses a key that is lost.
        Command::Key(key::KeyCommand::Reset { forget_secrets }) => {
            key::reset(&cli.data_dir, &database, forget_secrets)
        }
        command => {
            let (lease, concurrent_runs) = match &command {
                Command::Serve {
                    lease_seconds,
                    concurrent_runs,
                    ..
                } => (
                    Some(std::time::Duration::from_secs(*lease_seconds)),
                    Some(usize::from(*concurrent_runs)),
                ),
                _ => (None, None),
            };
            let erp = Erp::open(ErpOptions {
                data_dir: cli.data_dir.clone(),
                emulator: cli.emulator.clone(),
                app: app_from_env(),
                database,
                lease,
                concurrent_runs,
                ..Default::default()
            })?;
            if let Command::Key(key::KeyCommand::Rotate) = command {
                return key::rotate(&erp, &cli.data_dir);
            }
            let company = erp.company(&cli.company)?;
            with_erp(Arc::new(erp), company, command).await
        }
    }
}

/// The commands that work in one company of an open ERP.
async fn with_erp(erp: Arc<Erp>, company: CompanyId, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            poll_seconds,
            listen,
            callback_path,
            lease_seconds: _,
            concurrent_runs: _,
        } => run::serve(erp, poll_seconds, listen, &callback_path).await,
        Command::Run {
            budget_seconds,
            json,
        } => run::once(&erp, company, budget_seconds, json).await,
        Command::Setup(command) => setup::run(&erp, company, command).await,
        Command::Crm(command) => crm::run(&erp, company, command).await,
        Command::Entries(args) => entries::run(&erp, company, args).await,
        Command::Opportunity(command) => opportunity::run(&erp, company, command),
        Command::Opportunities { contact, json } => {
            opportunity::list(&erp, company, contact.as_deref(), json)
        }
        Command::ActivityLog { limit, json } => jobs::activity_log(&erp, company, limit, json),
        Command::Jobs { runs, json } => jobs::show(&erp, company, runs, json),
        Command::Mailbox(command) => mailbox::run(&erp, company, command).await,
        Command::Demo { .. } | Command::Bench(_) | Command::Emulator { .. } | Command::Key(_) => {
            unreachable!("handled before a company is chosen")
        }
    }
}

/// The host's app registration callbacks, from the environment.
fn app_from_env() -> AppRegistration {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    AppRegistration {
        client_id: var("EMAIL_LOGGING_CLIENT_ID"),
        client_secret: var("EMAIL_LOGGING_CLIENT_SECRET").map(Into::into),
        redirect_url: var("EMAIL_LOGGING_REDIRECT_URL"),
        ews_password: var("EMAIL_LOGGING_EWS_PASSWORD").map(Into::into),
    }
}
