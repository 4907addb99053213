//! The current experience end to end: the real component in the real host
//! reads a public queue folder over Exchange Web Services (the emulator over
//! HTTP, Basic authentication), logs each message as the Graph flow does and
//! moves it to the public storage folder.

use email_logging_e2e::*;
use email_logging_host::JobOutcome;
use email_logging_host::runtime::{AuthMode, CheckStatus, EwsAuth, RunError, SetupChange};
use serde_json::{Value, json};

async fn start(queue: Vec<Value>) -> Harness {
    Harness::start_in(Experience::Ews, queue, vec![]).await
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
    h.configure(ews_setup(EWS_PASSWORD)).await;
    let rt = &h.erp.runtime;
    let checks = rt.validate(h.company).await.unwrap();
    let failing: Vec<_> = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
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
        // Outlook on the web of the server the mail is on, not Exchange Online's.
        let on_prem = |m: &Value| {
            m["webLink"].as_str().unwrap_or_default().replace(
                "https://outlook.office365.com/",
                "https://mail.contoso.example/",
            )
        };
        assert!(
            stored.iter().any(|m| on_prem(m) == e.web_link),
            "{} opens a stored item: {stored:#?}",
            e.web_link
        );
        assert_eq!(e.folder.as_deref(), Some(STORAGE), "{e:?}");
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
async fn only_the_configured_exchange_server_is_reached() {
    let h = start(vec![message("<in@x>", "Question", ANDY, &[JO], &[])]).await;
    h.configure(SetupChange {
        ews_url: Some("https://evil.example/EWS/Exchange.asmx".into()),
        ..ews_setup(EWS_PASSWORD)
    })
    .await;
    h.configure(SetupChange {
        experience: Some(Experience::Graph),
        ..no_change()
    })
    .await;
    // Back on Graph, the EWS URL kept in the setup opens nothing.
    assert_eq!(h.erp.db.exchange_host(h.company).unwrap(), None);
    h.configure(SetupChange {
        experience: Some(Experience::Ews),
        ..no_change()
    })
    .await;
    assert_eq!(
        h.erp.db.exchange_host(h.company).unwrap().as_deref(),
        Some("evil.example")
    );
    h.configure(ews_setup(EWS_PASSWORD)).await;
    assert_eq!(
        h.erp.db.exchange_host(h.company).unwrap().as_deref(),
        Some("mail.contoso.example"),
        "the new server replaces the old one"
    );
    h.erp.runtime.clear(h.company).await.unwrap().unwrap();
    assert_eq!(h.erp.db.exchange_host(h.company).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_sign_in_to_fix_and_no_mail_is_touched() {
    let h = start(vec![message("<in@x>", "Question", ANDY, &[JO], &[])]).await;
    h.configure(ews_setup("not the password")).await;
    let checks = h.erp.runtime.validate(h.company).await.unwrap();
    let token = checks
        .iter()
        .find(|c| c.name == "token")
        .expect("a sign-in check");
    assert!(token.detail.contains("user name and password"), "{token:?}");
    assert!(!format!("{checks:?}").contains("not the password"));
    // Enabled anyway (as after the password changed on the server): the run
    // says what to do and leaves the queue as it was.
    h.configure(ews_setup(EWS_PASSWORD)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_app_only_signs_in_for_exchange_and_impersonates_the_account() {
    let h = start(vec![message("<oa@x>", "Question", ANDY, &[JO], &[])]).await;
    h.configure(SetupChange {
        experience: Some(Experience::Ews),
        ews_url: Some("https://outlook.office365.com/EWS/Exchange.asmx".into()),
        ews_auth: Some(EwsAuth::Oauth2),
        ews_account: Some(EWS_ACCOUNT.into()),
        auth_mode: Some(AuthMode::Application),
        tenant: Some(graph_emulator::DEMO_TENANT_ID.into()),
        client_id: Some(graph_emulator::DEMO_CLIENT_ID.into()),
        client_secret: Some(graph_emulator::DEMO_CLIENT_SECRET.into()),
        ..no_change()
    })
    .await;
    let rt = &h.erp.runtime;
    let checks = rt.validate(h.company).await.unwrap();
    assert!(
        checks.iter().all(|c| c.status != CheckStatus::Fail),
        "{checks:#?}"
    );
    rt.enable(h.company).await.unwrap().expect("enabled");
    let r = h.run().await;
    assert_eq!(r.messages_logged, 1, "{r:?}");
    assert_eq!((h.in_queue(), h.in_storage()), (0, 1));
    let requests = h.emulator.requests();
    // An app-only token opens EWS only with ExchangeImpersonation, and only
    // a token for Exchange's audience (a Graph one is refused): every EWS
    // call succeeded, so both were right.
    assert!(
        requests
            .iter()
            .any(|q| q.path_and_query.contains("/oauth2/v2.0/token"))
    );
    let ews: Vec<_> = requests
        .iter()
        .filter(|q| q.path_and_query.starts_with("EWS "))
        .collect();
    assert!(!ews.is_empty());
    assert!(
        ews.iter()
            .all(|q| q.status == 200 && q.authorization_present),
        "{ews:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_exchange_is_waited_for_as_it_asks() {
    let h = start(
        (0..3)
            .map(|i| message(&format!("<busy-{i}@x>"), "Busy", ANDY, &[JO], &[]))
            .collect(),
    )
    .await;
    h.enable(50).await;
    // The next two calls meet ErrorServerBusy, BackOffMilliseconds 1,500.
    h.emulator.set_faults(graph_emulator::Faults {
        retry_after: std::time::Duration::from_millis(1500),
        ..Default::default()
    });
    h.emulator.push_fault_script(&[
        Some(graph_emulator::FaultKind::TooManyRequests),
        Some(graph_emulator::FaultKind::TooManyRequests),
    ]);
    let started = std::time::Instant::now();
    let r = h.run().await;
    assert_eq!(r.messages_logged, 3, "{r:?}");
    assert_eq!(r.throttled_waits, 2, "{r:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(3000),
        "the back-off was honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(h.in_queue(), 0);
    let busy = h
        .emulator
        .requests()
        .iter()
        .filter(|q| q.status == 500)
        .count();
    assert_eq!(busy, 2, "ErrorServerBusy is a SOAP fault (HTTP 500)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checklist_measures_public_folders_against_exchanges_limit() {
    let h = start(vec![]).await;
    for i in 0..3 {
        h.emulator
            .add_public_message(
                STORAGE,
                message(&format!("<old-{i}@x>"), "Old", ANDY, &[JO], &[]),
            )
            .unwrap();
    }
    h.configure(SetupChange {
        folder_item_limit: Some(3),
        ..ews_setup(EWS_PASSWORD)
    })
    .await;
    let checks = h.erp.runtime.validate(h.company).await.unwrap();
    let storage = checks
        .iter()
        .find(|c| c.name == "storage folder")
        .expect("a storage folder check");
    assert_eq!(storage.status, CheckStatus::Fail, "{storage:?}");
    assert!(
        storage.detail.contains("holds 3 items")
            && storage.detail.contains("messages per public folder"),
        "{storage:?}"
    );
    assert!(storage.hint.contains("monthly subfolders"), "{storage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_delegated_signs_in_the_job_account_for_exchange() {
    let h = start(vec![message("<del@x>", "Question", ANDY, &[JO], &[])]).await;
    // The job account signs in (the emulator's /authorize), and the
    // component acts as that account, which has a mailbox: no impersonation.
    h.emulator.add_mailbox(graph_emulator::DEMO_USER);
    h.configure(SetupChange {
        experience: Some(Experience::Ews),
        ews_url: Some("https://outlook.office365.com/EWS/Exchange.asmx".into()),
        ews_auth: Some(EwsAuth::Oauth2),
        ews_account: Some(graph_emulator::DEMO_USER.into()),
        auth_mode: Some(AuthMode::Delegated),
        tenant: Some("common".into()),
        client_id: Some(graph_emulator::DEMO_CLIENT_ID.into()),
        client_secret: Some(graph_emulator::DEMO_CLIENT_SECRET.into()),
        redirect_url: Some(graph_emulator::DEMO_REDIRECT_URI.into()),
        ..no_change()
    })
    .await;
    h.sign_in_and_enable().await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 1, "{r:?}");
    assert_eq!((h.in_queue(), h.in_storage()), (0, 1));
    let ews: Vec<_> = h
        .emulator
        .requests()
        .into_iter()
        .filter(|q| q.path_and_query.starts_with("EWS "))
        .collect();
    assert!(ews.iter().all(|q| q.status == 200), "{ews:#?}");
    assert!(
        h.erp
            .runtime
            .setup_get(h.company)
            .await
            .unwrap()
            .unwrap()
            .signed_in_account
            .is_some_and(|a| a.eq_ignore_ascii_case(graph_emulator::DEMO_USER))
    );
}
