//! Shared set-up for the end-to-end tests: the Graph emulator on loopback,
//! the reference host with the real component on a fresh SQLite file, and
//! the sample CRM (salespeople JO, LT, BC; contacts CT0000xx). A harness
//! reads either experience's queue: the shared mailbox's Inbox over Graph,
//! or a public folder over EWS (Basic authentication, as on-premises).

use email_logging_host::crm::{self, EntryView};
use email_logging_host::host::{AfterLogFault, AppRegistration, CrashHook};
pub use email_logging_host::runtime::Experience;
use email_logging_host::runtime::{RunReport, SetupChange};
use email_logging_host::{Erp, ErpOptions, JobOutcome};
use graph_emulator::{Emulator, EmulatorConfig, SAMPLE_MAILBOX, Seed};
use serde_json::{Value, json};
use std::time::Duration;
use tempfile::TempDir;

pub use graph_emulator::SAMPLE_MAILBOX as MAILBOX;

/// Salesperson addresses of the sample CRM.
pub const JO: &str = "jim.olive@cronus.example";
/// Lina Townsend.
pub const LT: &str = "lina.townsend@cronus.example";
/// Benjamin Chiu.
pub const BC: &str = "benjamin.chiu@cronus.example";
/// Andy Teal (CT000011, company CT000010), e-mail 2 andy@teal-family.example.
pub const ANDY: &str = "andy.teal@cannongroup.example";
/// Andy Teal's e-mail 2.
pub const ANDY2: &str = "andy@teal-family.example";
/// Mindy Martin (CT000021, company CT000020).
pub const MINDY: &str = "mindy.martin@selangorian.example";
/// Mindy Martin's alternative address HOME.
pub const MINDY_HOME: &str = "mindy.home@martin-mail.example";
/// Adatum Corporation (CT000030).
pub const ADATUM: &str = "contact@adatum.example";

/// The account the component signs in as in the current experience.
pub const EWS_ACCOUNT: &str = "email-logging@cronus.example";
/// Its password (tests grep for it where it must not be).
pub const EWS_PASSWORD: &str = "Ews~Pa55word.Never-Shown";
/// The public queue folder the mail flow rules BCC into.
pub const QUEUE: &str = "Email Logging/Queue";
/// The public storage folder.
pub const STORAGE: &str = "Email Logging/Storage";
/// Where not-logged items go in the current experience: beside the queue.
pub const NOT_LOGGED: &str = "Email Logging/Not logged";
/// Where quarantined items go in the current experience: beside the queue.
pub const QUARANTINE: &str = "Email Logging/Email logging quarantine";
/// An on-premises Exchange server: the host admits it for the company (and
/// routes it to the emulator, as it routes Microsoft's hosts).
pub const EWS_URL: &str = "https://mail.contoso.example/EWS/Exchange.asmx";

/// The current experience's setup: the on-premises server, Basic sign-in
/// as [`EWS_ACCOUNT`] with `password`, the default folders.
pub fn ews_setup(password: &str) -> SetupChange {
    SetupChange {
        experience: Some(Experience::Ews),
        ews_url: Some(EWS_URL.into()),
        ews_account: Some(EWS_ACCOUNT.into()),
        ews_password: Some(password.into()),
        ..no_change()
    }
}

/// Generates, for each named `async fn(Experience)`, one test per
/// experience: `graph::name` and `ews::name`.
#[macro_export]
macro_rules! in_both_experiences {
    ($($name:ident),* $(,)?) => {
        mod graph {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Experience::Graph).await
                }
            )*
        }
        mod ews {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Experience::Ews).await
                }
            )*
        }
    };
}

/// A Graph message as the mail flow rule delivers it (BCC to the shared mailbox).
pub fn message(imid: &str, subject: &str, sender: &str, to: &[&str], cc: &[&str]) -> Value {
    let r = |a: &&str| json!({"emailAddress": {"name": a, "address": a}});
    json!({
        "internetMessageId": imid,
        "subject": subject,
        "sender": {"emailAddress": {"name": sender, "address": sender}},
        "from": {"emailAddress": {"name": sender, "address": sender}},
        "toRecipients": to.iter().map(r).collect::<Vec<_>>(),
        "ccRecipients": cc.iter().map(r).collect::<Vec<_>>(),
        "bccRecipients": [{"emailAddress": {"name": "Email Logging", "address": SAMPLE_MAILBOX}}],
        "sentDateTime": "2026-11-10T09:00:00Z",
        "receivedDateTime": "2026-11-10T09:00:03Z",
        "isDraft": false
    })
}

/// A running product: emulator + host + component.
pub struct Harness {
    /// The Graph emulator.
    pub emulator: Emulator,
    /// Its base URL.
    pub base: url::Url,
    /// The host.
    pub erp: Erp,
    /// The company the tests work in.
    pub company: i64,
    /// The data directory (database and key file).
    pub dir: TempDir,
    /// Which queue the component reads.
    pub experience: Experience,
    app: AppRegistration,
}

impl Harness {
    /// Starts with these Inbox messages (and Junk Email ones).
    pub async fn start(inbox: Vec<Value>, junk: Vec<Value>) -> Self {
        Self::start_in(Experience::Graph, inbox, junk).await
    }

    /// Starts with these messages in `experience`'s queue (and Junk Email
    /// ones in the shared mailbox).
    pub async fn start_in(experience: Experience, queue: Vec<Value>, junk: Vec<Value>) -> Self {
        Self::start_full_in(
            experience,
            queue,
            junk,
            EmulatorConfig::default(),
            None,
            AppRegistration::default(),
        )
        .await
    }

    /// Starts with an emulator configuration and an optional crash hook.
    pub async fn start_with(
        inbox: Vec<Value>,
        junk: Vec<Value>,
        config: EmulatorConfig,
        hook: Option<CrashHook>,
    ) -> Self {
        Self::start_with_in(Experience::Graph, inbox, junk, config, hook).await
    }

    /// [`Harness::start_with`] in `experience`.
    pub async fn start_with_in(
        experience: Experience,
        queue: Vec<Value>,
        junk: Vec<Value>,
        config: EmulatorConfig,
        hook: Option<CrashHook>,
    ) -> Self {
        Self::start_full_in(
            experience,
            queue,
            junk,
            config,
            hook,
            AppRegistration::default(),
        )
        .await
    }

    /// Starts with everything configurable, including the host's app registration callbacks.
    pub async fn start_full(
        inbox: Vec<Value>,
        junk: Vec<Value>,
        config: EmulatorConfig,
        hook: Option<CrashHook>,
        app: AppRegistration,
    ) -> Self {
        Self::start_full_in(Experience::Graph, inbox, junk, config, hook, app).await
    }

    /// [`Harness::start_full`] in `experience`: over EWS, the queue is the
    /// public folder [`QUEUE`], read as [`EWS_ACCOUNT`].
    pub async fn start_full_in(
        experience: Experience,
        queue: Vec<Value>,
        junk: Vec<Value>,
        config: EmulatorConfig,
        hook: Option<CrashHook>,
        app: AppRegistration,
    ) -> Self {
        let seed = match experience {
            Experience::Graph => json!({
                "mailboxes": {SAMPLE_MAILBOX: {"folders": {"inbox": queue, "junkemail": junk}}},
            }),
            Experience::Ews => json!({
                "mailboxes": {SAMPLE_MAILBOX: {"folders": {"junkemail": junk}}},
                "public_folders": {QUEUE: queue, STORAGE: []},
                "accounts": {EWS_ACCOUNT: {"password": EWS_PASSWORD}},
            }),
        };
        let mut h = Self::start_document(seed, config, hook, app).await;
        h.experience = experience;
        h
    }

    /// Starts with a whole mailbox seed's `mailboxes` object (several
    /// mailboxes, or folders besides the Inbox).
    pub async fn start_seed(
        mailboxes: Value,
        config: EmulatorConfig,
        hook: Option<CrashHook>,
        app: AppRegistration,
    ) -> Self {
        Self::start_document(json!({ "mailboxes": mailboxes }), config, hook, app).await
    }

    /// Starts with a whole mailbox seed document (with `public_folders` and
    /// `accounts` for the current experience).
    pub async fn start_document(
        seed: Value,
        config: EmulatorConfig,
        hook: Option<CrashHook>,
        app: AppRegistration,
    ) -> Self {
        let seed = Seed::from_json(&seed.to_string()).expect("the test seed is valid");
        let emulator = Emulator::new(seed, config);
        let addr = emulator
            .start(([127, 0, 0, 1], 0).into())
            .await
            .expect("emulator starts");
        let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let erp = open(&dir, &base, hook, app.clone());
        let company = erp.company("CRONUS").unwrap();
        erp.import_crm(company, graph_emulator::SAMPLE_CRM).unwrap();
        Self {
            emulator,
            base,
            erp,
            company,
            dir,
            experience: Experience::Graph,
            app,
        }
    }

    /// Re-opens the host on the same database (as after a crash), with a new hook.
    pub fn reopen(&mut self, hook: Option<CrashHook>) {
        self.erp = open(&self.dir, &self.base, hook, self.app.clone());
    }

    /// Re-opens the host on the same database with its `after-log`
    /// follow-up work failing as `fault` says.
    pub fn reopen_with_after_log_fault(&mut self, fault: AfterLogFault) {
        self.erp = Erp::open(ErpOptions {
            data_dir: self.dir.path().to_path_buf(),
            emulator: Some(self.base.clone()),
            app: self.app.clone(),
            after_log_fault: Some(fault),
            ..Default::default()
        })
        .expect("the host opens");
    }

    /// Configures, signs in (through the emulator's /authorize, for Graph)
    /// and enables.
    pub async fn enable(&self, batch_size: u32) {
        let rt = &self.erp.runtime;
        if self.experience == Experience::Ews {
            self.configure(SetupChange {
                batch_size: Some(batch_size),
                ..ews_setup(EWS_PASSWORD)
            })
            .await;
            rt.enable(self.company).await.unwrap().expect("enabled");
            return;
        }
        rt.setup_update(
            self.company,
            SetupChange {
                shared_mailbox: Some(SAMPLE_MAILBOX.into()),
                tenant: Some("common".into()),
                client_id: Some(graph_emulator::DEMO_CLIENT_ID.into()),
                client_secret: Some(graph_emulator::DEMO_CLIENT_SECRET.into()),
                redirect_url: Some(graph_emulator::DEMO_REDIRECT_URI.into()),
                batch_size: Some(batch_size),
                ..no_change()
            },
        )
        .await
        .unwrap()
        .expect("setup accepted");
        self.sign_in_and_enable().await;
    }

    /// Signs in through the emulator's /authorize and enables.
    pub async fn sign_in_and_enable(&self) {
        let rt = &self.erp.runtime;
        let url = rt
            .begin_sign_in(self.company, None)
            .await
            .unwrap()
            .expect("sign-in starts");
        let query = email_logging_host::erp::follow_authorize_url(&url, &self.base)
            .await
            .unwrap();
        rt.complete_sign_in(self.company, &query)
            .await
            .unwrap()
            .expect("sign-in completes");
        rt.enable(self.company).await.unwrap().expect("enabled");
    }

    /// Changes the setup; panics if the component refuses.
    pub async fn configure(&self, change: SetupChange) {
        self.erp
            .runtime
            .setup_update(self.company, change)
            .await
            .unwrap()
            .expect("the setup change is accepted");
    }

    /// One job run; panics unless it produced a report whose ledger balances,
    /// in the report and in the host's record.
    pub async fn run(&self) -> RunReport {
        match self
            .erp
            .run_job(self.company, Duration::from_secs(60))
            .await
            .unwrap()
        {
            JobOutcome::Report(r) => {
                assert_balanced(&self.erp.db, self.company, &r);
                r
            }
            other => panic!("the run did not report: {other:?}"),
        }
    }

    /// One job run, whatever its outcome.
    pub async fn run_outcome(&self) -> JobOutcome {
        self.erp
            .run_job(self.company, Duration::from_secs(60))
            .await
            .unwrap()
    }

    /// All interaction log entries.
    pub fn entries(&self) -> Vec<EntryView> {
        crm::entries(&self.erp.db, self.company, &crm::EntryFilter::default()).unwrap()
    }

    /// Messages waiting in the queue (the Inbox, or the public queue folder).
    pub fn in_queue(&self) -> usize {
        self.in_folder("inbox", QUEUE)
    }

    /// 429 answers the emulator gave so far (inner `$batch` requests too).
    pub fn throttled(&self) -> usize {
        self.emulator
            .requests()
            .iter()
            .filter(|r| r.status == 429)
            .count()
    }

    /// Messages in the storage folder.
    pub fn in_storage(&self) -> usize {
        self.in_folder("archive", STORAGE)
    }

    /// Messages moved to the not-logged folder.
    pub fn in_not_logged(&self) -> usize {
        self.in_folder("Not logged", NOT_LOGGED)
    }

    /// Messages moved to the quarantine folder.
    pub fn in_quarantine(&self) -> usize {
        self.in_folder("Email logging quarantine", QUARANTINE)
    }

    fn in_folder(&self, graph: &str, ews: &str) -> usize {
        match self.experience {
            Experience::Graph => self.count(graph),
            Experience::Ews => self.emulator.public_folder_count(ews).unwrap_or(0),
        }
    }

    /// The messages of the storage folder (Graph message objects).
    pub fn stored(&self) -> Vec<Value> {
        match self.experience {
            Experience::Graph => self.emulator.messages(MAILBOX, "archive"),
            Experience::Ews => self.emulator.public_folder_messages(STORAGE),
        }
    }

    /// Delivers one more message to the queue.
    pub fn deliver(&self, message: Value) {
        match self.experience {
            Experience::Graph => {
                self.emulator
                    .add_message(MAILBOX, "inbox", message)
                    .expect("the message is valid");
            }
            Experience::Ews => {
                self.emulator
                    .add_public_message(QUEUE, message)
                    .expect("the message is valid");
            }
        }
    }

    /// Messages left in a folder of the shared mailbox.
    pub fn count(&self, folder: &str) -> usize {
        self.emulator
            .folder_counts(SAMPLE_MAILBOX)
            .get(folder)
            .copied()
            .unwrap_or(0)
    }
}

fn open(dir: &TempDir, base: &url::Url, hook: Option<CrashHook>, app: AppRegistration) -> Erp {
    Erp::open(ErpOptions {
        data_dir: dir.path().to_path_buf(),
        emulator: Some(base.clone()),
        crash_hook: hook,
        app,
        ..Default::default()
    })
    .expect("the host opens")
}

/// (contact, salesperson, flow) of each entry, for compact assertions.
pub fn pairs(entries: &[EntryView]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e.contact_no.clone(),
                e.salesperson_code.clone(),
                e.information_flow.clone(),
            )
        })
        .collect()
}

/// Runs a single message through a fresh product and returns the entries,
/// the report and the folder counts.
pub async fn one(message: Value) -> (Vec<EntryView>, RunReport, Harness) {
    one_in(Experience::Graph, message).await
}

/// [`one`] in `experience`.
pub async fn one_in(
    experience: Experience,
    message: Value,
) -> (Vec<EntryView>, RunReport, Harness) {
    let h = Harness::start_in(experience, vec![message], vec![]).await;
    h.enable(50).await;
    let r = h.run().await;
    (h.entries(), r, h)
}

/// The count for one not-logged reason in a report.
pub fn not_logged(r: &RunReport, reason: &str) -> u32 {
    r.not_logged
        .iter()
        .find(|x| x.reason.name() == reason)
        .map_or(0, |x| x.count)
}

/// A setup change that changes nothing.
pub use email_logging_host::runtime::unchanged as no_change;

/// Checks seen = logged + already logged + not logged + quarantined + deferred,
/// in the report and in the ledger the host recorded for the latest run.
pub fn assert_balanced(db: &email_logging_host::store::Store, company: i64, r: &RunReport) {
    let not_logged: u32 = r.not_logged.iter().map(|x| x.count).sum();
    assert_eq!(
        r.messages_seen,
        r.messages_logged
            + r.messages_already_logged
            + not_logged
            + r.messages_quarantined
            + r.messages_deferred,
        "the report balances: {r:?}"
    );
    assert_eq!(
        r.ledger.len() as u32,
        r.messages_seen,
        "one ledger line per message seen"
    );
    let run = *email_logging_host::jobs::runs(db, company)
        .unwrap()
        .last()
        .expect("the run was recorded");
    let totals = email_logging_host::jobs::ledger_totals(db, run).unwrap();
    let get = |k: &str| totals.get(k).copied().unwrap_or(0) as u32;
    assert_eq!(
        get("logged")
            + get("already-logged")
            + get("not-logged")
            + get("quarantined")
            + get("deferred"),
        r.messages_seen
    );
    assert_eq!(get("quarantined"), r.messages_quarantined);
    assert_eq!(get("deferred"), r.messages_deferred);
    assert_eq!(get("not-logged"), not_logged);
}
