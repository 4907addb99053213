//! The reference ERP: database, component and job queue put together.

use crate::crm;
use crate::crypto::SecretBox;
use crate::host::http::HttpPolicy;
use crate::host::{AfterLogFault, AppRegistration, CrashHook, HostContext};
use crate::jobs::{self, RunEnd};
use crate::runtime::{CallError, Limits, Outcome, RunError, RunReport, Runtime, SetupError};
use crate::store::{self, CompanyId, Store};
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The job's name in the job queue (the component names it).
pub const JOB: &str = "email-logging";
/// The budget of one scheduled run.
pub const RUN_BUDGET: Duration = Duration::from_secs(300);

/// How to open the ERP.
#[derive(Clone, Default)]
pub struct ErpOptions {
    /// Where the database and key file live.
    pub data_dir: PathBuf,
    /// Route the Microsoft hosts to this base URL (the Graph emulator).
    pub emulator: Option<Url>,
    /// The host's app registration callbacks.
    pub app: AppRegistration,
    /// Another component instead of the embedded one.
    pub component: Option<Vec<u8>>,
    /// Per-call limits.
    pub limits: Option<Limits>,
    /// Test hook: crash calls before matching requests.
    pub crash_hook: Option<CrashHook>,
    /// Test hook: make the `after-log` extension point fail.
    pub after_log_fault: Option<AfterLogFault>,
    /// The database: the SQLite file in `data_dir` unless a PostgreSQL URL
    /// is given (the key file stays in `data_dir` either way).
    pub database: crate::store::Location,
    /// How long a job's lease holds without renewal (default
    /// [`jobs::DEFAULT_LEASE`]).
    pub lease: Option<Duration>,
    /// How many runs `serve` has going at once (default
    /// [`DEFAULT_CONCURRENT_RUNS`]).
    pub concurrent_runs: Option<usize>,
}

/// Runs `serve` has going at once unless told otherwise: a run mostly waits
/// (on Graph's latency and throttling), so a few at once use the machine.
pub const DEFAULT_CONCURRENT_RUNS: u16 = 4;

/// The ERP with the Email Logging component loaded.
pub struct Erp {
    /// The database.
    pub db: Store,
    /// The component.
    pub runtime: Runtime,
    /// The Graph emulator that stands in for Microsoft, if any.
    emulator: Option<Url>,
    /// One run at a time per company (the job queue and "run now" may meet).
    run_locks: std::sync::Mutex<std::collections::HashMap<CompanyId, Arc<tokio::sync::Mutex<()>>>>,
    /// How long a job's lease holds without renewal.
    lease: Duration,
    /// How many runs `serve` has going at once.
    concurrent_runs: usize,
}

/// How one job run ended.
#[derive(Debug)]
pub enum JobOutcome {
    /// The run finished with this report.
    Report(RunReport),
    /// The component declined or failed; the text says why.
    Error(RunError),
    /// The component faulted or timed out.
    Fault(String),
}

impl Erp {
    /// Opens the database in `data_dir` (created when missing) and loads the component.
    pub fn open(opts: ErpOptions) -> anyhow::Result<Self> {
        create_private_dir(&opts.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                opts.data_dir.display()
            )
        })?;
        let db = Store::open_at(&opts.database, &opts.data_dir.join("email-logging.db"))
            .context("cannot open the database")?;
        let key_file = opts.data_dir.join("secret.key");
        crate::crypto::recover_rotation(&db, &key_file)
            .context("cannot finish an interrupted key rotation")?;
        let secret_box = SecretBox::for_database(&db, &key_file)?;
        for run in jobs::close_interrupted(&db).context("cannot read the job queue")? {
            tracing::warn!(company = run.company_id, job = %run.job, "closed a run interrupted by a stopped host");
        }
        let ctx = Arc::new(HostContext {
            db: db.clone(),
            secret_box,
            http: HttpPolicy::new(opts.emulator.clone())?,
            app: opts.app,
            crash_hook: opts.crash_hook,
            after_log_fault: opts.after_log_fault,
            progress: Default::default(),
        });
        let wasm = opts
            .component
            .as_deref()
            .unwrap_or(crate::runtime::EMBEDDED_COMPONENT);
        let runtime = Runtime::new(ctx, wasm, opts.limits.unwrap_or_default())?;
        Ok(Self {
            db,
            runtime,
            emulator: opts.emulator,
            run_locks: Default::default(),
            lease: opts.lease.unwrap_or(jobs::DEFAULT_LEASE),
            concurrent_runs: opts
                .concurrent_runs
                .unwrap_or(usize::from(DEFAULT_CONCURRENT_RUNS))
                .max(1),
        })
    }

    /// The address a person's browser opens for a Microsoft URL (an Outlook
    /// on the web link, a sign-in page): the URL itself, or, with the Graph
    /// emulator standing in for Microsoft, the same path on the emulator.
    pub fn browser_url(&self, url: &str) -> String {
        const MICROSOFT: &[&str] = &["login.microsoftonline.com", "outlook.office365.com"];
        let (Some(emulator), Ok(parsed)) = (&self.emulator, Url::parse(url)) else {
            return url.to_string();
        };
        if !parsed.host_str().is_some_and(|h| MICROSOFT.contains(&h)) {
            return url.to_string();
        }
        let mut routed = emulator.clone();
        routed.set_path(parsed.path());
        routed.set_query(parsed.query());
        routed.to_string()
    }

    /// The address that opens a logged message, if its stored link is one
    /// to open: only `https` links to Outlook on the web are (a link is data
    /// from Graph, and it becomes an `href` and a browser's address).
    pub fn message_url(&self, web_link: &str) -> Option<String> {
        email_logging_guest::web_link::is_outlook_link(web_link.trim())
            .then(|| self.browser_url(web_link.trim()))
    }

    /// Sends the component's `progress` events to `sink` (or nowhere).
    pub fn show_progress(&self, sink: Option<crate::host::log::ProgressSink>) {
        *self
            .runtime
            .context()
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = sink;
    }

    /// The company's id, if it exists (never creates one).
    pub fn find_company(&self, name: &str) -> anyhow::Result<Option<CompanyId>> {
        self.db.find_company(name)
    }

    /// All companies, by name.
    pub fn companies(&self) -> anyhow::Result<Vec<(CompanyId, String)>> {
        self.db.companies()
    }

    /// The company's id (created when missing).
    pub fn company(&self, name: &str) -> anyhow::Result<CompanyId> {
        anyhow::ensure!(!name.trim().is_empty(), "the company name is empty");
        self.db.company(name.trim())
    }

    /// Imports a CRM seed file's text into a company: its records and its
    /// email-logging policy, in one transaction. The seed's
    /// `email_logging.log_sensitive` is the component's, not applied here:
    /// [`Erp::import_crm_and_setup`] applies it too.
    pub fn import_crm(&self, company: CompanyId, text: &str) -> anyhow::Result<crm::ImportSummary> {
        let seed = crm::parse_seed(text)?;
        self.import_seed(company, &seed)
    }

    /// [`Erp::import_crm`], then the seed's `log_sensitive` through the
    /// component's setup ([`Erp::apply_seed_setup`]).
    pub async fn import_crm_and_setup(
        &self,
        company: CompanyId,
        text: &str,
    ) -> anyhow::Result<crm::ImportSummary> {
        let seed = crm::parse_seed(text)?;
        let summary = self.import_seed(company, &seed)?;
        self.apply_seed_setup(company, &seed).await?;
        Ok(summary)
    }

    /// Applies what a CRM seed says of the component's setup (its
    /// `email_logging.log_sensitive`) with the component's `setup.update`;
    /// a seed that says nothing of it changes nothing. Answers whether it
    /// changed the setup.
    pub async fn apply_seed_setup(
        &self,
        company: CompanyId,
        seed: &crm::CrmSeed,
    ) -> anyhow::Result<bool> {
        let Some(on) = seed.log_sensitive() else {
            return Ok(false);
        };
        let change = crate::setup_form::SetupForm {
            log_sensitive: Some(on),
            ..Default::default()
        }
        .into_setup_change();
        self.runtime
            .setup_update(company, change)
            .await?
            .map_err(setup_failed)
            .context("the seed's email_logging.log_sensitive was not applied to the setup")?;
        Ok(true)
    }

    /// The company's email-logging policy.
    pub fn policy(&self, company: CompanyId) -> anyhow::Result<crm::policy::Policy> {
        Ok(crm::policy::policy(&self.db, company)?)
    }

    /// Changes the company's email-logging policy (all of the change, or
    /// nothing) and answers it as it is then.
    pub fn change_policy(
        &self,
        company: CompanyId,
        change: &crm::policy::PolicyChange,
    ) -> Result<crm::policy::Policy, crm::policy::PolicyError> {
        crm::policy::change_policy(&self.db, company, change)
    }

    /// Writes a parsed CRM seed into a company, all of it or nothing.
    pub fn import_seed(
        &self,
        company: CompanyId,
        seed: &crm::CrmSeed,
    ) -> anyhow::Result<crm::ImportSummary> {
        crm::import(&self.db, company, seed)
    }

    /// Imports CSV files into a company, all of them or nothing, calling
    /// `progress(rows written, rows)` as it writes.
    pub fn import_csv(
        &self,
        company: CompanyId,
        files: &[crm::csv_import::CsvFile],
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<crm::csv_import::CsvSummary, crm::csv_import::CsvError> {
        crm::csv_import::import_with_progress(&self.db, company, files, progress)
    }

    /// The company's interaction log entries that pass the filter.
    pub fn entries(
        &self,
        company: CompanyId,
        filter: &crm::EntryFilter,
    ) -> anyhow::Result<Vec<crm::EntryView>> {
        Ok(crm::entries(&self.db, company, filter)?)
    }

    /// One interaction log entry by number.
    pub fn entry(
        &self,
        company: CompanyId,
        entry_no: i64,
    ) -> anyhow::Result<Option<crm::EntryView>> {
        Ok(crm::entry(&self.db, company, entry_no)?)
    }

    /// Contacts whose number, name or e-mail contains `search`, at most `limit`.
    pub fn contacts(
        &self,
        company: CompanyId,
        search: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<crm::ContactView>> {
        Ok(crm::contacts(&self.db, company, search, limit)?)
    }

    /// One contact by number.
    pub fn contact(
        &self,
        company: CompanyId,
        no: &str,
    ) -> anyhow::Result<Option<crm::ContactView>> {
        Ok(crm::contact(&self.db, company, no)?)
    }

    /// How many contacts and interaction log entries the company has.
    pub fn counts(&self, company: CompanyId) -> anyhow::Result<(i64, i64)> {
        Ok(crm::counts(&self.db, company)?)
    }

    /// Makes the entry's opportunity, or gives back the one it has.
    pub fn create_opportunity(
        &self,
        company: CompanyId,
        entry: &crm::EntryView,
    ) -> Result<crm::opportunity::Created, crm::opportunity::OpportunityError> {
        crm::opportunity::create_from_entry(&self.db, company, entry)
    }

    /// Opportunities by number, optionally for one contact (or its company).
    pub fn opportunities(
        &self,
        company: CompanyId,
        contact: Option<&str>,
    ) -> Result<Vec<crm::opportunity::Opportunity>, crm::opportunity::OpportunityError> {
        crm::opportunity::list(&self.db, company, contact)
    }

    /// The activity log, newest first, at most `limit` lines.
    pub fn recent_activities(
        &self,
        company: CompanyId,
        limit: usize,
    ) -> anyhow::Result<Vec<crm::ActivityView>> {
        Ok(crm::recent_activities(&self.db, company, limit)?)
    }

    /// The company's job queue entries.
    pub fn jobs(&self, company: CompanyId) -> anyhow::Result<Vec<jobs::JobQueueEntry>> {
        Ok(jobs::list(&self.db, company)?)
    }

    /// The company's Email Logging job queue entry, if the job exists.
    pub fn job(&self, company: CompanyId) -> anyhow::Result<Option<jobs::JobQueueEntry>> {
        Ok(jobs::get(&self.db, company, JOB)?)
    }

    /// The company's job queue log, newest first, at most `limit` lines.
    pub fn job_log(
        &self,
        company: CompanyId,
        limit: usize,
    ) -> anyhow::Result<Vec<jobs::JobLogLine>> {
        Ok(jobs::log(&self.db, company, limit)?)
    }

    /// Runs the job once now, under its lease (refused while another worker
    /// runs it), and records the outcome in the job queue, the run reports
    /// and (for failures) the activity log.
    pub async fn run_job(
        &self,
        company: CompanyId,
        budget: Duration,
    ) -> anyhow::Result<JobOutcome> {
        // A second run of the same company waits for the first and then
        // finds its work done, rather than racing it over the same messages.
        let lock = self.run_lock(company);
        let _running = lock.lock().await;
        let taken = jobs::take(&self.db, company, JOB, self.lease)?;
        self.run_taken(company, taken, budget).await
    }

    /// The lock that keeps this process to one run of `company` at a time.
    fn run_lock(&self, company: CompanyId) -> Arc<tokio::sync::Mutex<()>> {
        self.run_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(company)
            .or_default()
            .clone()
    }

    /// Runs a job whose lease this worker took (`None`: a company without
    /// the job, run unfenced) and records the outcome, all of it fenced by
    /// the lease, which is renewed while the run goes on. A run whose lease
    /// was taken over ends with [`store::StoreError::LeaseLost`] and leaves
    /// the recording to the worker that holds it now.
    async fn run_taken(
        &self,
        company: CompanyId,
        taken: Option<jobs::Taken>,
        budget: Duration,
    ) -> anyhow::Result<JobOutcome> {
        if let Some(run) = taken.as_ref().and_then(|t| t.interrupted.as_ref()) {
            tracing::warn!(
                company,
                owner = run.owner.as_deref().unwrap_or("unknown"),
                "took over a run whose worker stopped renewing its lease"
            );
        }
        let fence = taken.map(|t| t.fence);
        let stamp = jobs::RunStamp {
            worker: jobs::this_process(),
            started_at_ms: jobs::now_ms(),
            lease_token: fence.as_ref().map(|f| f.token),
        };
        let db = match &fence {
            Some(f) => self.db.fenced(f.clone()),
            None => self.db.clone(),
        };
        let run = self.runtime.run(company, budget, fence.clone());
        let outcome = match &fence {
            Some(f) => renewing(&self.db, f, self.lease, run).await,
            None => run.await,
        };
        let outcome = match outcome {
            Ok(Ok(report)) => JobOutcome::Report(report),
            Ok(Err(e)) => JobOutcome::Error(e),
            Err(e @ (CallError::Trap(_) | CallError::Timeout(_) | CallError::Instantiate(_))) => {
                JobOutcome::Fault(e.to_string())
            }
        };
        let (label, json, end) = match &outcome {
            JobOutcome::Report(r) => match partly_done(r) {
                Some(text) => (
                    "partly-done",
                    Some(crate::host::names::run_report_json(r).to_string()),
                    RunEnd::PartlyDone(text),
                ),
                None => (
                    "success",
                    Some(crate::host::names::run_report_json(r).to_string()),
                    RunEnd::Success,
                ),
            },
            JobOutcome::Error(RunError::Throttled(s)) => {
                jobs::postpone(&db, company, JOB, jobs::now() + i64::from(*s))?;
                ("throttled", None, RunEnd::Success)
            }
            JobOutcome::Error(RunError::NotEnabled) => ("not-enabled", None, RunEnd::Success),
            JobOutcome::Error(
                RunError::SignInRequired(m) | RunError::SetupIncomplete(m) | RunError::Mailbox(m),
            ) => ("needs-attention", None, RunEnd::NeedsAttention(m.clone())),
            JobOutcome::Error(RunError::Transient(m)) => {
                ("failed", None, RunEnd::Failed(m.clone()))
            }
            JobOutcome::Fault(m) => ("fault", None, RunEnd::Failed(m.clone())),
        };
        match &end {
            RunEnd::Failed(m) | RunEnd::NeedsAttention(m) => crm::log_activity(
                &db,
                company,
                "job-queue",
                "error",
                &format!("Email Logging run failed: {m}"),
                None,
            )?,
            RunEnd::PartlyDone(m) => crm::log_activity(
                &db,
                company,
                "job-queue",
                "warning",
                &format!("Email Logging run {m}"),
                None,
            )?,
            RunEnd::Success => {}
        }
        let ledger: Vec<jobs::LedgerRow<'_>> = match &outcome {
            JobOutcome::Report(r) => r
                .ledger
                .iter()
                .map(|l| jobs::LedgerRow {
                    message_id: &l.message_id,
                    internet_message_id: l.internet_message_id.as_deref(),
                    outcome: match l.outcome {
                        Outcome::Logged => "logged",
                        Outcome::AlreadyLogged => "already-logged",
                        Outcome::NotLogged => "not-logged",
                        Outcome::Quarantined => "quarantined",
                        Outcome::Deferred => "deferred",
                    },
                    reason: l.reason.as_deref(),
                    entries: l.entries,
                })
                .collect(),
            _ => Vec::new(),
        };
        jobs::record_report(&db, company, JOB, label, json.as_deref(), &ledger, &stamp)?;

        jobs::finish(&db, company, JOB, end)?;
        Ok(outcome)
    }

    /// Runs due jobs until `stop` resolves, checking the queue every `poll`,
    /// up to [`ErpOptions::concurrent_runs`] at once (each of another
    /// company: a run waits on throttling and latency, not on this process).
    /// Any number of hosts may serve one database: each job is taken under
    /// a lease, so one worker at a time runs it. On `stop`, no new run
    /// starts and the runs going on finish.
    pub async fn serve(
        &self,
        poll: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        use futures::StreamExt as _;
        tokio::pin!(stop);
        let mut running = futures::stream::FuturesUnordered::new();
        let mut stopping = false;
        loop {
            while !stopping && running.len() < self.concurrent_runs {
                match jobs::take_next(&self.db, JOB, self.lease)? {
                    Some(taken) => running.push(self.serve_one(taken)),
                    None => break,
                }
            }
            if stopping && running.is_empty() {
                return Ok(());
            }
            let full = running.len() >= self.concurrent_runs;
            tokio::select! {
                _ = &mut stop, if !stopping => stopping = true,
                Some(done) = running.next(), if !running.is_empty() => done?,
                _ = tokio::time::sleep(poll), if !full && !stopping => {}
            }
        }
    }

    /// One run the job queue gave this worker, logged; a run whose lease
    /// was taken over is left to the worker that holds it now.
    async fn serve_one(&self, taken: jobs::Taken) -> anyhow::Result<()> {
        let company = taken.entry.company_id;
        tracing::info!(company, "running Email Logging");
        let lock = self.run_lock(company);
        let _running = lock.lock().await;
        let outcome = match self.run_taken(company, Some(taken), RUN_BUDGET).await {
            Ok(outcome) => outcome,
            Err(e) if lease_lost(&e) => {
                tracing::warn!(company, error = %format!("{e:#}"), "run abandoned: its lease was taken over");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match outcome {
            JobOutcome::Report(r) => tracing::info!(
                company,
                seen = r.messages_seen,
                logged = r.messages_logged,
                entries = r.entries_created,
                "run finished"
            ),
            JobOutcome::Error(e) => {
                tracing::warn!(company, error = %describe(&e), "run ended")
            }
            JobOutcome::Fault(e) => tracing::error!(company, error = %e, "run faulted"),
        }
        Ok(())
    }
}

/// Whether a run failed because its lease was taken over.
fn lease_lost(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<store::StoreError>()
            .is_some_and(store::StoreError::is_lease_lost)
    })
}

/// Drives `run` while renewing `fence`'s lease every third of its length;
/// a renewal that finds the lease gone is logged, and the run's own writes
/// then fail on the fence.
async fn renewing<T>(
    db: &Store,
    fence: &store::Fence,
    lease: Duration,
    run: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(run);
    let mut tick = tokio::time::interval(lease / 3);
    tick.tick().await;
    loop {
        tokio::select! {
            out = &mut run => return out,
            _ = tick.tick() => {
                let until = jobs::now_ms() + lease.as_millis() as i64;
                match jobs::renew(db, fence, until) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(company = fence.company, "the job's lease was taken over; this run's writes are refused from now on");
                    }
                    Err(e) => tracing::warn!(company = fence.company, error = %e, "cannot renew the job's lease"),
                }
            }
        }
    }
}

/// Creates a directory (and missing parents) readable by its owner only: it
/// holds contact data and the key. An existing directory is left as it is.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Whether a run left messages for the next one: something it saw was
/// deferred, or it stopped before the Inbox was drained for a reason other
/// than its time budget. Such a run is "partly done", never "success".
pub fn partly_done(r: &RunReport) -> Option<String> {
    if r.messages_deferred == 0 && r.stopped_early.is_none() {
        return None;
    }
    let why = r
        .stopped_early
        .clone()
        .or_else(|| {
            r.ledger
                .iter()
                .find(|l| l.outcome == Outcome::Deferred)
                .and_then(|l| l.reason.clone())
        })
        .unwrap_or_else(|| "a temporary failure".into());
    Some(format!(
        "partly done: {} of {} messages deferred to the next run, {why}",
        r.messages_deferred, r.messages_seen
    ))
}

/// Follows an authorize URL the way a browser would, against the emulator
/// (which consents at once), and returns the redirect's query string. Used
/// by the demo and tests; a real sign-in goes through a person's browser.
pub async fn follow_authorize_url(authorize_url: &str, emulator: &Url) -> anyhow::Result<String> {
    let url = Url::parse(authorize_url).context("the authorize URL is not a URL")?;
    let mut routed = emulator.clone();
    routed.set_path(url.path());
    routed.set_query(url.query());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = client
        .get(routed)
        .send()
        .await
        .context("the sign-in page cannot be reached")?;
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .with_context(|| format!("the sign-in did not redirect (HTTP {})", resp.status()))?;
    let redirect =
        Url::parse(location).context("the sign-in redirected to something that is not a URL")?;
    Ok(redirect.query().unwrap_or_default().to_string())
}

/// A run error in an administrator's words.
pub fn describe(e: &RunError) -> String {
    match e {
        RunError::NotEnabled => {
            "email logging is not enabled; enable it with `setup enable`".into()
        }
        RunError::SetupIncomplete(m) => format!("the setup is incomplete: {m}"),
        RunError::SignInRequired(m) => format!("sign-in required: {m}"),
        RunError::Throttled(s) => {
            format!("Microsoft Graph is throttling; the job runs again in {s} s")
        }
        RunError::Mailbox(m) => format!("the mailbox cannot be used: {m}"),
        RunError::Transient(m) => format!("a temporary failure; the job retries: {m}"),
    }
}

/// A setup error in an administrator's words, as one line.
pub fn setup_failed(e: SetupError) -> anyhow::Error {
    match e {
        SetupError::InvalidFields(list) => anyhow::anyhow!(
            "{}",
            list.iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        SetupError::Incomplete(m) => anyhow::anyhow!("the setup is incomplete: {m}"),
        SetupError::SignInFailed(m) => anyhow::anyhow!("sign-in failed: {m}"),
        SetupError::StateMismatch => anyhow::anyhow!(
            "the sign-in response does not belong to the sign-in that was started; sign in again"
        ),
        SetupError::Host(m) => anyhow::anyhow!("the host failed: {m}"),
    }
}
