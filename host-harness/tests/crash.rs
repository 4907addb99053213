//! The crash test: the host process is killed with SIGKILL at random moments
//! while it processes 2,000 messages, and started again each time; in the end
//! every message has its entry exactly once and sits in the storage folder.

use email_logging_host::{Erp, ErpOptions};
use graph_emulator::{Emulator, EmulatorConfig, SAMPLE_MAILBOX, Seed};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

const MESSAGES: usize = 2000;
const KILLS: usize = 20;

fn message(i: usize) -> serde_json::Value {
    let r = |a: &str| json!({"emailAddress": {"address": a}});
    json!({
        "internetMessageId": format!("<crash-{i}@cannongroup.example>"),
        "subject": format!("Order {i}"),
        "sender": r("andy.teal@cannongroup.example"),
        "from": r("andy.teal@cannongroup.example"),
        "toRecipients": [r("jim.olive@cronus.example")],
        "bccRecipients": [r(SAMPLE_MAILBOX)],
        "sentDateTime": "2026-11-10T09:00:00Z",
        "receivedDateTime": format!("2026-11-10T{:02}:{:02}:{:02}Z", 8 + i / 3600, (i / 60) % 60, i % 60),
        "isDraft": false
    })
}

/// A small deterministic generator, so a failing run can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_never_loses_or_doubles_an_entry() {
    let seed = json!({"mailboxes": {SAMPLE_MAILBOX: {"folders": {"inbox": (0..MESSAGES).map(message).collect::<Vec<_>>()}}}});
    let emulator = Emulator::new(
        Seed::from_json(&seed.to_string()).unwrap(),
        EmulatorConfig::default(),
    );
    let addr = emulator.start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let erp = Erp::open(ErpOptions {
            data_dir: dir.path().to_path_buf(),
            emulator: Some(base.clone()),
            ..Default::default()
        })
        .unwrap();
        let company = erp.company("CRONUS").unwrap();
        erp.import_crm(company, graph_emulator::SAMPLE_CRM).unwrap();
        email_logging_host::demo::connect(&erp, company, &base, SAMPLE_MAILBOX, Some(20))
            .await
            .unwrap();
    }
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_email-logging-host"))
            .args([
                "--emulator",
                base.as_str(),
                "run",
                "--budget-seconds",
                "120",
            ])
            .env("EMAIL_LOGGING_HOME", dir.path())
            .env_remove("EMAIL_LOGGING_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut rng = Lcg(0x5eed);
    let mut kills = 0;
    let mut mid_run_kills = 0;
    // Start-up (component load, sign-in) takes longer on a loaded machine:
    // when a kill made no progress, the next one waits longer.
    let mut base_delay = 40;
    let mut last_inbox = MESSAGES;
    let started = Instant::now();
    while kills < KILLS && started.elapsed() < Duration::from_secs(240) {
        let mut child = run();
        // Past start-up (component load, sign-in) into the processing.
        tokio::time::sleep(Duration::from_millis(base_delay + rng.next(120))).await;
        if child.try_wait().unwrap().is_none() {
            let before = emulator.folder_counts(SAMPLE_MAILBOX)["inbox"];
            child.kill().unwrap(); // SIGKILL
            kills += 1;
            if before > 0 && before < MESSAGES {
                mid_run_kills += 1;
            }
            if before == last_inbox {
                base_delay += 100;
            }
            last_inbox = before;
        }
        child.wait().unwrap();
        if emulator.folder_counts(SAMPLE_MAILBOX)["inbox"] == 0 {
            break;
        }
    }
    assert_eq!(kills, KILLS, "every kill landed before the Inbox was empty");
    assert!(
        mid_run_kills >= KILLS / 2,
        "only {mid_run_kills} kills hit a run mid-way"
    );
    // Let it finish in peace.
    for _ in 0..5 {
        if emulator.folder_counts(SAMPLE_MAILBOX)["inbox"] == 0 {
            break;
        }
        assert!(run().wait().unwrap().success());
    }
    let counts = emulator.folder_counts(SAMPLE_MAILBOX);
    assert_eq!(counts["inbox"], 0, "{counts:?}");
    assert_eq!(
        counts["archive"], MESSAGES,
        "nothing deleted, everything moved: {counts:?}"
    );
    let db = email_logging_host::store::Store::open(&dir.path().join("email-logging.db")).unwrap();
    let company = db.find_company("CRONUS").unwrap().unwrap();
    let entries = email_logging_host::crm::entries(&db, company, &Default::default()).unwrap();
    assert_eq!(entries.len(), MESSAGES, "every message exactly once");
    let mut keys: Vec<_> = entries
        .iter()
        .map(|e| e.internet_message_id.clone().unwrap())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), MESSAGES, "no message twice");
    eprintln!(
        "{kills} SIGKILLs ({mid_run_kills} mid-way) over {:?}",
        started.elapsed()
    );
}
