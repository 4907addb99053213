//! The emulator held against Microsoft's own clients and other widely used ones: a pytest
//! suite (tests/clients/) drives it with msgraph-sdk, azure-identity, MSAL, authlib,
//! requests-oauthlib and (for EWS) exchangelib, unchanged. Where the emulator differs from Microsoft, these clients fail.
//!
//! Python: `$EMAIL_LOGGING_PYTHON`, else the virtual environment `<target dir>/python` that
//! `.ci/run` makes from tests/clients/requirements.txt. Without either the test fails: it
//! never skips silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use graph_emulator::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, DEMO_TENANT_ID, DEMO_USER, Emulator,
    EmulatorConfig, Latency, Seed, Throttling,
};
use serde_json::{Value, json};

const MAILBOX: &str = "shared@contoso.example";
const MOVE_MAILBOX: &str = "moves@contoso.example";
const INBOX_COUNT: usize = 23;
/// The EWS account of the exchangelib tests: Basic sign-in, and the mailbox they impersonate.
const EWS_ACCOUNT: &str = "ews.agent@contoso.example";
const EWS_PASSWORD: &str = "Not-A-Real-Password:1";
const EWS_QUEUE: &str = "Email Logging/Queue";
const EWS_STORAGE: &str = "Email Logging/Storage";
const EWS_QUEUE_COUNT: usize = 12;
/// Queue messages (by index) marked private and confidential (MAPI PR_SENSITIVITY 2 and 3).
const EWS_PRIVATE: usize = 3;
const EWS_CONFIDENTIAL: usize = 4;

fn messages(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "internetMessageId": format!("<m{i}@test.example>"),
                "subject": format!("Message {i:02}"),
                "receivedDateTime": format!("2026-11-02T10:{i:02}:00Z"),
                "sentDateTime": format!("2026-11-02T10:{i:02}:00Z"),
                "isDraft": false,
                "from": {"emailAddress": {"address": "a@b.example"}},
                "toRecipients": [{"emailAddress": {"address": "c@d.example"}}]
            })
        })
        .collect()
}

/// The public queue: received newest first in seed order, so a client that sorts by date
/// really has to sort.
fn queue_messages() -> Vec<Value> {
    let mut list = messages(EWS_QUEUE_COUNT);
    for (i, m) in list.iter_mut().enumerate() {
        m["receivedDateTime"] = json!(format!("2026-11-03T{:02}:00:00Z", 23 - i));
        m["internetMessageId"] = json!(format!("<queue{i}@test.example>"));
        m["sender"] = m["from"].clone();
        let sensitivity = match i {
            EWS_PRIVATE => Some("2"),
            EWS_CONFIDENTIAL => Some("3"),
            _ => None,
        };
        if let Some(v) = sensitivity {
            m["singleValueExtendedProperties"] = json!([{"id": "Integer 0x36", "value": v}]);
        }
    }
    list
}

fn seed() -> Seed {
    let text = json!({
        "mailboxes": {
            MAILBOX: {"folders": {"inbox": messages(INBOX_COUNT)}},
            MOVE_MAILBOX: {"folders": {"inbox": messages(5)}},
            EWS_ACCOUNT: {"folders": {"inbox": messages(4)}},
        },
        "public_folders": {EWS_QUEUE: queue_messages(), EWS_STORAGE: []},
        "accounts": {EWS_ACCOUNT: {"password": EWS_PASSWORD}},
    });
    Seed::from_json(&text.to_string()).unwrap()
}

/// The workspace's target directory, from where this test binary lives
/// (`<target>/[<triple>/]<profile>/deps/<binary>`).
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile = exe.parent()?.parent()?;
    [profile.parent()?, profile.parent()?.parent()?]
        .into_iter()
        .find(|d| d.join("python").is_dir())
        .or_else(|| profile.parent())
        .map(Path::to_path_buf)
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("EMAIL_LOGGING_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = target_dir().map(|t| t.join("python").join("bin").join("python"));
    match venv {
        Some(p) if p.exists() => p,
        _ => panic!(
            "no Python for the third-party client tests: set EMAIL_LOGGING_PYTHON, or run \
             `.ci/run`, or `python3 -m venv target/python && target/python/bin/pip install -r \
             graph-emulator/tests/clients/requirements.txt` in the workspace (looked for {})",
            venv.map_or_else(
                || "<target>/python/bin/python".into(),
                |p| p.display().to_string()
            )
        ),
    }
}

async fn serve(config: EmulatorConfig) -> (Emulator, String) {
    let emulator = Emulator::new(seed(), config);
    emulator
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = emulator.base_url().unwrap();
    (emulator, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsofts_own_clients_work_against_the_emulator() {
    let python = python();
    let (plain, url) = serve(EmulatorConfig::default()).await;
    // One request in flight per app and mailbox, 2 s Retry-After, slow listings: the SDK's
    // retry handler test makes a 429 it must wait out.
    let (throttled, throttled_url) = serve(EmulatorConfig {
        throttling: Some(Throttling {
            max_concurrent: 1,
            retry_after: Duration::from_secs(2),
            ..Throttling::default()
        }),
        latency: Latency::parse("list=1500ms").unwrap(),
        ..EmulatorConfig::default()
    })
    .await;
    let suite = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("clients");
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"])
            .args(["-W", "ignore::DeprecationWarning"])
            .arg(&suite)
            .current_dir(&suite)
            .env("EMULATOR_URL", &url)
            .env("EMULATOR_THROTTLED_URL", &throttled_url)
            .env("CLIENT_ID", DEMO_CLIENT_ID)
            .env("CLIENT_SECRET", DEMO_CLIENT_SECRET)
            .env("REDIRECT_URI", DEMO_REDIRECT_URI)
            .env("TENANT_ID", DEMO_TENANT_ID)
            .env("USER_PRINCIPAL_NAME", DEMO_USER)
            .env("MAILBOX", MAILBOX)
            .env("MOVE_MAILBOX", MOVE_MAILBOX)
            .env("INBOX_COUNT", INBOX_COUNT.to_string())
            .env("EWS_ACCOUNT", EWS_ACCOUNT)
            .env("EWS_PASSWORD", EWS_PASSWORD)
            .env("EWS_QUEUE", EWS_QUEUE)
            .env("EWS_STORAGE", EWS_STORAGE)
            .env("EWS_QUEUE_COUNT", EWS_QUEUE_COUNT.to_string())
            .env("EWS_PRIVATE", EWS_PRIVATE.to_string())
            .env("EWS_CONFIDENTIAL", EWS_CONFIDENTIAL.to_string())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            // Nothing may leave the machine, not even through a configured proxy.
            .env("NO_PROXY", "*")
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("http_proxy")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()))
    })
    .await
    .unwrap();
    plain.shutdown();
    throttled.shutdown();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the third-party client suite failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!(
        "third-party client suite passed in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        stdout.lines().last().unwrap_or("")
    );
}
