//! Links that last and storage folders (SPEC §4): folder paths, monthly
//! subfolders created on demand, warnings before a folder fills, links
//! repaired after a message is moved by hand, and old links that keep
//! working when the setup moves on to another folder or mailbox.

use email_logging_e2e::{ADATUM, ANDY, Harness, JO, LT, MAILBOX, message, no_change};
use email_logging_host::crm;
use email_logging_host::host::AppRegistration;
use email_logging_host::link_repair::repair_links;
use email_logging_host::runtime::{CheckStatus, SetupChange};
use graph_emulator::EmulatorConfig;
use serde_json::{Value, json};

/// The second shared mailbox the setup moves to.
const NEW_MAILBOX: &str = "sales-log@cronus.example";

fn dated(imid: &str, subject: &str, sender: &str, to: &str, sent: &str) -> Value {
    let mut m = message(imid, subject, sender, &[to], &[]);
    m["sentDateTime"] = json!(sent);
    m["receivedDateTime"] = json!(sent);
    m
}

/// The subject of the message a web link opens now, if it opens one.
fn opens(h: &Harness, link: &str) -> Option<String> {
    h.emulator
        .resolve_web_link(link)
        .and_then(|m| m["subject"].as_str().map(str::to_string))
}

async fn repair(h: &Harness) -> email_logging_host::link_repair::RepairReport {
    repair_links(&h.erp, h.company, &|_, _| {}).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_path_with_monthly_subfolders_is_created_on_demand() {
    let h = Harness::start(
        vec![
            dated("<oct@x>", "October quote", JO, ANDY, "2026-10-30T16:00:00Z"),
            dated(
                "<nov@x>",
                "November quote",
                JO,
                ADATUM,
                "2026-11-02T09:00:00Z",
            ),
            dated(
                "<nov2@x>",
                "November reply",
                ADATUM,
                LT,
                "2026-11-03T09:00:00Z",
            ),
        ],
        vec![],
    )
    .await;
    h.configure(SetupChange {
        storage_folder: Some(" Sales / Email log ".into()),
        monthly_subfolders: Some(true),
        ..no_change()
    })
    .await;
    h.enable(50).await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 3);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let subjects = |folder: &str| -> Vec<String> {
        h.emulator
            .messages(MAILBOX, folder)
            .iter()
            .map(|m| m["subject"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(subjects("2026-10"), ["October quote"]);
    assert_eq!(subjects("2026-11"), ["November quote", "November reply"]);
    let counts = h.emulator.folder_counts(MAILBOX);
    assert_eq!(
        counts.get("Email log"),
        Some(&0),
        "months go below the path: {counts:?}"
    );
    assert_eq!(counts.get("Sales"), Some(&0), "{counts:?}");
    assert_eq!(h.count("inbox"), 0);
    // Each entry knows its folder, and its link opens the message there.
    for e in h.entries() {
        let month = &e.datetime[..7];
        assert_eq!(
            e.folder.as_deref(),
            Some(format!("Sales/Email log/{month}").as_str())
        );
        assert_eq!(e.mailbox.as_deref(), Some(MAILBOX));
        assert_eq!(opens(&h, &e.web_link).as_deref(), Some(e.subject.as_str()));
    }

    // A later run reuses the folders instead of creating them again.
    h.emulator
        .add_message(
            MAILBOX,
            "inbox",
            dated("<nov3@x>", "More", JO, ANDY, "2026-11-20T09:00:00Z"),
        )
        .unwrap();
    let before = h.emulator.requests().len();
    h.run().await;
    let creates = h.emulator.requests()[before..]
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.contains("childFolders"))
        .count();
    assert_eq!(creates, 0, "existing month folders are found, not created");
    assert_eq!(subjects("2026-11").len(), 3);

    let stats = h
        .erp
        .runtime
        .mailbox_stats(h.company)
        .await
        .unwrap()
        .unwrap();
    let stat = |name: &str| {
        stats
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} in {stats:?}"))
    };
    assert_eq!(stat("Sales/Email log/2026-10").item_count, 1);
    assert_eq!(stat("Sales/Email log/2026-11").item_count, 3);
    assert_eq!(stat("Sales/Email log").role.name(), "storage");
    assert_eq!(stat("inbox").item_count, 0);
    assert!(
        stats
            .iter()
            .all(|s| !s.warning && s.item_limit == 1_000_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_and_runs_warn_before_the_storage_folder_fills() {
    let old: Vec<Value> = (0..6)
        .map(|i| {
            dated(
                &format!("<old{i}@x>"),
                "old",
                JO,
                ANDY,
                "2026-09-01T09:00:00Z",
            )
        })
        .collect();
    let mailboxes = json!({ MAILBOX: { "folders": {
        "inbox": [dated("<new@x>", "New quote", JO, ANDY, "2026-11-02T09:00:00Z")],
        "Email archive": old,
    }}});
    let h = Harness::start_seed(
        mailboxes,
        EmulatorConfig::default(),
        None,
        AppRegistration::default(),
    )
    .await;
    h.configure(SetupChange {
        storage_folder: Some("Email archive".into()),
        folder_item_limit: Some(10),
        folder_warning_percent: Some(80),
        ..no_change()
    })
    .await;
    h.enable(50).await;
    // 6 of 10, then 7 of 10: under the 80% share, no warning yet.
    let checks = h.erp.runtime.validate(h.company).await.unwrap();
    let storage = checks.iter().find(|c| c.name == "storage folder").unwrap();
    assert_eq!(storage.status, CheckStatus::Pass, "{storage:?}");
    let r = h.run().await;
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    // 8 of 10 after this run: the run and validation warn.
    h.emulator
        .add_message(
            MAILBOX,
            "inbox",
            dated("<new2@x>", "Another", JO, ANDY, "2026-11-03T09:00:00Z"),
        )
        .unwrap();
    let r = h.run().await;
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].contains("'Email archive' holds 8 items, 80% of the limit of 10"),
        "{}",
        r.warnings[0]
    );
    let log = crm::activities(&h.erp.db, h.company).unwrap();
    assert!(
        log.iter()
            .any(|a| a.severity == "warning" && a.description.contains("holds 8 items"))
    );
    let checks = h.erp.runtime.validate(h.company).await.unwrap();
    let storage = checks.iter().find(|c| c.name == "storage folder").unwrap();
    assert_eq!(storage.status, CheckStatus::Warn, "{storage:?}");
    assert!(storage.hint.contains("monthly subfolders"), "{storage:?}");
    let stats = h
        .erp
        .runtime
        .mailbox_stats(h.company)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stats
            .iter()
            .any(|s| s.name == "Email archive" && s.warning && s.item_count == 8)
    );

    // Bad limits are refused with the field named.
    let r = h
        .erp
        .runtime
        .setup_update(
            h.company,
            SetupChange {
                folder_warning_percent: Some(0),
                folder_item_limit: Some(0),
                storage_folder: Some("Sales//Log".into()),
                ..no_change()
            },
        )
        .await
        .unwrap();
    let Err(email_logging_host::runtime::SetupError::InvalidFields(list)) = r else {
        panic!("expected field errors, got {r:?}")
    };
    let fields: Vec<&str> = list.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "storage-folder",
            "folder-item-limit",
            "folder-warning-percent"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_repaired_after_messages_are_moved_by_hand() {
    let h = Harness::start(
        vec![
            dated("<a@x>", "Moved by hand", JO, ANDY, "2026-11-02T09:00:00Z"),
            dated("<b@x>", "Left alone", JO, ADATUM, "2026-11-02T10:00:00Z"),
            dated("<c@x>", "Deleted later", LT, ADATUM, "2026-11-02T11:00:00Z"),
            dated("<d@x>", "Id lost", LT, ANDY, "2026-11-02T12:00:00Z"),
        ],
        vec![],
    )
    .await;
    h.enable(50).await;
    h.run().await;
    let entry = |subject: &str| {
        h.entries()
            .into_iter()
            .find(|e| e.subject == subject)
            .unwrap()
    };
    let moved = entry("Moved by hand");
    assert_eq!(opens(&h, &moved.web_link).as_deref(), Some("Moved by hand"));

    // A salesperson files one message by hand, another goes to a folder
    // that is deleted afterwards; the record of a third lost its id.
    h.emulator
        .add_message(
            MAILBOX,
            "Customers",
            dated("<seed@x>", "seed", JO, ANDY, "2026-11-01T00:00:00Z"),
        )
        .unwrap();
    assert!(
        h.emulator
            .move_by_hand(MAILBOX, &moved.message_id, "Customers")
    );
    h.emulator
        .add_message(
            MAILBOX,
            "Trash later",
            dated("<seed2@x>", "seed", JO, ANDY, "2026-11-01T00:00:00Z"),
        )
        .unwrap();
    assert!(
        h.emulator
            .move_by_hand(MAILBOX, &entry("Deleted later").message_id, "Trash later")
    );
    assert!(h.emulator.remove_folder(MAILBOX, "Trash later"));
    email_logging_host::store::entries::set_message_id(&h.erp.db, h.company, "<d@x>", "AAMkAGone")
        .unwrap();
    assert_eq!(
        opens(&h, &moved.web_link),
        None,
        "the old link is stale now"
    );

    let report = repair(&h).await;
    assert_eq!(report.checked, 4);
    let subjects = |lines: &[email_logging_host::link_repair::LinkLine]| -> Vec<String> {
        lines.iter().map(|l| l.subject.clone()).collect()
    };
    assert_eq!(subjects(&report.repaired), ["Moved by hand", "Id lost"]);
    assert_eq!(subjects(&report.not_found), ["Deleted later"]);
    assert_eq!(report.unchanged, 1);
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    let moved = entry("Moved by hand");
    assert_eq!(opens(&h, &moved.web_link).as_deref(), Some("Moved by hand"));
    assert_eq!(moved.folder.as_deref(), Some("Customers"));
    let found_again = entry("Id lost");
    assert_ne!(
        found_again.message_id, "AAMkAGone",
        "found by internetMessageId"
    );
    assert_eq!(opens(&h, &found_again.web_link).as_deref(), Some("Id lost"));
    assert_eq!(entry("Deleted later").link_status, "not-found");
    assert_eq!(entry("Left alone").link_status, "ok");

    // A second repair has nothing left to do.
    let again = repair(&h).await;
    assert!(again.repaired.is_empty(), "{:?}", again.repaired);
    assert_eq!(again.not_found.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_links_keep_working_after_the_setup_moves_to_another_mailbox_and_folder() {
    let mailboxes = json!({
        MAILBOX: { "folders": { "inbox": [dated("<first@x>", "Logged in the old mailbox", JO, ANDY, "2026-11-02T09:00:00Z")] } },
        NEW_MAILBOX: { "folders": { "inbox": [dated("<second@x>", "Logged in the new mailbox", LT, ADATUM, "2026-11-03T09:00:00Z")] } },
    });
    let h = Harness::start_seed(
        mailboxes,
        EmulatorConfig::default(),
        None,
        AppRegistration::default(),
    )
    .await;
    h.enable(50).await;
    h.run().await;
    let old = h.entries().remove(0);
    assert_eq!(old.mailbox.as_deref(), Some(MAILBOX));

    h.configure(SetupChange {
        shared_mailbox: Some(NEW_MAILBOX.into()),
        storage_folder: Some("Email log 2027".into()),
        ..no_change()
    })
    .await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 1);
    let new = h
        .entries()
        .into_iter()
        .find(|e| e.subject == "Logged in the new mailbox")
        .unwrap();
    assert_eq!(new.mailbox.as_deref(), Some(NEW_MAILBOX));
    assert_eq!(new.folder.as_deref(), Some("Email log 2027"));
    assert_eq!(
        h.emulator.folder_counts(NEW_MAILBOX).get("Email log 2027"),
        Some(&1)
    );

    // The old entry's link still opens its message, and repair looks for it
    // in the mailbox it was logged from.
    assert_eq!(
        opens(&h, &old.web_link).as_deref(),
        Some("Logged in the old mailbox")
    );
    let report = repair(&h).await;
    assert_eq!(report.checked, 2);
    assert!(
        report.not_found.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.unchanged, 2, "{report:?}");
    let old_again = h
        .entries()
        .into_iter()
        .find(|e| e.entry_no == old.entry_no)
        .unwrap();
    assert_eq!(old_again.web_link, old.web_link);
    assert_eq!(old_again.mailbox.as_deref(), Some(MAILBOX));
}
