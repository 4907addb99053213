//! The current experience end to end: the real component in the real host
//! reads a public queue folder over Exchange Web Services (the emulator over
//! HTTP, Basic authentication), logs each message as the Graph flow does and
//! moves it to the public storage folder.

use email_logging_e2e::*;
use email_logging_host::JobOutcome;
use email_logging_host::host::AppRegistration;
use email_logging_host::runtime::{Experience, RunError, SetupChange};
use graph_emulator::EmulatorConfig;
use serde_json::{Value, json};

const ACCOUNT: &str = "email-logging@cronus.example";
const PASSWORD: &str = "Ews~Pa55word.Never-Shown";
const QUEUE: &str = "Email Logging/Queue";
const STORAGE: &str = "Email Logging/Storage";
/// Exchange Online's EWS, which the host routes to the emulator.
const EWS_URL: &str = "https://outlook.office365.com/EWS/Exchange.asmx";

async fn start(queue: Vec<Value>) -> Harness {
    let seed = json!({
        "mailboxes": {},
        "public_folders": {QUEUE: queue, STORAGE: []},
        "accounts": {ACCOUNT: {"password": PASSWORD}},
    });
    Harness::start_document(
        seed,
        EmulatorConfig::default(),
        None,
        AppRegistration::default(),
    )
    .await
}

fn ews(password: &str) -> SetupChange {
    SetupChange {
        experience: Some(Experience::Ews),
        ews_url: Some(EWS_URL.into()),
        ews_account: Some(ACCOUNT.into()),
        ews_password: Some(password.into()),
        ..no_change()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_folder_mail_is_logged_and_moved_to_storage() {
    let mut private = message("<p@x>", "Private", ANDY, &[JO], &[]);
    private["singleValueExtendedProperties"] = json!([{"id": "Integer 0x36", "value": "2"}]);
    let h = start(vec![
        message("<in@x>", "Question", ANDY, &[JO], &[]),
        message("<out@x>", "Quote", JO, &[ANDY, MINDY], &[]),
        message("<int@x>", "Lunch", JO, &[LT], &[]),
        private,
    ])
    .await;
    h.configure(ews(PASSWORD)).await;
    let rt = &h.erp.runtime;
    let checks = rt.validate(h.company).await.unwrap();
    let failing: Vec<_> = checks
        .iter()
        .filter(|c| format!("{:?}", c.status) == "Fail")
        .collect();
    assert!(failing.is_empty(), "{checks:#?}");
    assert!(
        checks
            .iter()
            .any(|c| c.name == "move to the storage folder" && c.detail.contains("moved")),
        "the probe was really moved: {checks:#?}"
    );
    rt.enable(h.company).await.unwrap().expect("enabled");

    let r = h.run().await;
    assert_eq!((r.messages_seen, r.messages_logged), (4, 2), "{r:?}");
    assert_eq!(not_logged(&r, "internal-only"), 1);
    assert_eq!(not_logged(&r, "sensitive"), 1);
    assert!(r.inbox_drained);
    let entries = h.entries();
    let mut got = pairs(&entries);
    got.sort();
    assert_eq!(
        got,
        [
            ("CT000011".into(), "JO".into(), "inbound".into()),
            ("CT000011".into(), "JO".into(), "outbound".into()),
            ("CT000021".into(), "JO".into(), "outbound".into()),
        ],
        "the same entries as the Graph flow"
    );
    assert_eq!(h.emulator.public_folder_count(QUEUE), Some(0));
    assert_eq!(h.emulator.public_folder_count(STORAGE), Some(2));
    assert_eq!(
        h.emulator.public_folder_count("Email Logging/Not logged"),
        Some(2),
        "beside the queue"
    );
    // Moves into public folders answer no new id: the item was found again,
    // and its link opens it where it is now.
    let stored = h.emulator.public_folder_messages(STORAGE);
    for e in &entries {
        assert!(
            e.web_link
                .starts_with("https://outlook.office365.com/owa/?ItemID="),
            "{e:?}"
        );
        assert!(
            stored.iter().any(|m| m["webLink"] == e.web_link.as_str()),
            "{} opens a stored item: {stored:#?}",
            e.web_link
        );
    }

    // Idempotent: a copy of a logged message gets no new entries.
    h.emulator
        .add_public_message(QUEUE, message("<in@x>", "Question", ANDY, &[JO], &[]))
        .unwrap();
    let again = h.run().await;
    assert_eq!(again.messages_already_logged, 1, "{again:?}");
    assert_eq!(h.entries().len(), entries.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_sign_in_to_fix_and_no_mail_is_touched() {
    let h = start(vec![message("<in@x>", "Question", ANDY, &[JO], &[])]).await;
    h.configure(ews("not the password")).await;
    let checks = h.erp.runtime.validate(h.company).await.unwrap();
    let token = checks
        .iter()
        .find(|c| c.name == "token")
        .expect("a sign-in check");
    assert!(token.detail.contains("user name and password"), "{token:?}");
    assert!(!format!("{checks:?}").contains("not the password"));
    // Enabled anyway (as after the password changed on the server): the run
    // says what to do and leaves the queue as it was.
    h.configure(ews(PASSWORD)).await;
    h.erp
        .runtime
        .enable(h.company)
        .await
        .unwrap()
        .expect("enabled");
    h.configure(SetupChange {
        ews_password: Some("changed on the server".into()),
        ..no_change()
    })
    .await;
    match h.run_outcome().await {
        JobOutcome::Error(RunError::SignInRequired(m)) => {
            assert!(m.contains("user name and password"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.emulator.public_folder_count(QUEUE), Some(1));
    assert!(h.entries().is_empty());
}
