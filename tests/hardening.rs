//! What a hostile user and a hostile mailbox found (issue 10): huge
//! recipient lists, hostile links, lost move answers. Every message is
//! handled on its own and the rest of the Inbox is logged in the same run.

use email_logging_e2e::*;
use email_logging_host::runtime::Outcome;
use graph_emulator::{EmulatorConfig, FaultKind, Faults};
use serde_json::{Value, json};

/// A message from JO to Andy Teal with `extra` more recipients nobody knows.
fn crowded(i: usize, extra: usize) -> Value {
    let mut m = message(
        &format!("<crowd-{i}@cronus.example>"),
        &format!("Crowded {i}"),
        JO,
        &[ANDY],
        &[],
    );
    let cc: Vec<Value> = (0..extra)
        .map(|j| {
            let a = format!("person.{i}.{j}@elsewhere{}.example", j % 7);
            json!({"emailAddress": {"name": a, "address": a}})
        })
        .collect();
    m["ccRecipients"] = Value::Array(cc);
    m
}

fn ordinary(i: usize) -> Value {
    message(
        &format!("<ordinary-{i}@x>"),
        &format!("Ordinary {i}"),
        ADATUM,
        &[LT],
        &[],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_recipient_lists_are_looked_up_in_parts_and_logged() {
    // 50 messages of 450 distinct recipients (Exchange Online allows 500):
    // 22,500 addresses on the first page, more than one lookup may ask.
    let mut inbox: Vec<Value> = (0..50).map(|i| crowded(i, 449)).collect();
    inbox.extend((0..5).map(ordinary));
    let h = Harness::start(inbox, vec![]).await;
    h.enable(50).await;
    let r = h.run().await;
    assert_eq!(r.messages_seen, 55, "{:?}", r.stopped_early);
    assert_eq!(r.messages_logged, 55, "{:?}", r.stopped_early);
    assert!(r.inbox_drained && r.stopped_early.is_none());
    assert_eq!(h.entries().len(), 55);
    assert_eq!(h.count("inbox"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_quarantined_and_the_rest_is_logged() {
    // 25 messages of 6,000 recipients make a 10 MB page; one of 50,000
    // recipients is a message of its own past every limit.
    let mut inbox: Vec<Value> = vec![ordinary(0)];
    inbox.extend((0..25).map(|i| crowded(i, 6_000)));
    inbox.push(crowded(99, 50_000));
    inbox.extend((1..5).map(ordinary));
    let h = Harness::start(inbox, vec![]).await;
    h.enable(50).await;
    let r = h.run().await;
    assert_eq!(r.messages_seen, 31, "{:?}", r.stopped_early);
    assert_eq!(r.messages_logged, 5);
    assert_eq!(r.messages_quarantined, 26);
    assert!(r.inbox_drained, "{:?}", r.stopped_early);
    for line in r
        .ledger
        .iter()
        .filter(|l| l.outcome == Outcome::Quarantined)
    {
        let why = line.reason.as_deref().unwrap_or_default();
        assert!(
            why.contains("recipients") || why.contains("KiB"),
            "the reason says what is too large: {why}"
        );
    }
    assert_eq!(h.count("inbox"), 0);
    assert_eq!(h.count("Email logging quarantine"), 26);
    let subjects: Vec<String> = h.entries().iter().map(|e| e.subject.clone()).collect();
    assert_eq!(subjects.len(), 5, "{subjects:?}");
    assert!(subjects.iter().all(|s| s.starts_with("Ordinary")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_larger_than_the_host_takes_is_quarantined_by_its_identity() {
    // More than the host's 16 MiB response cap even alone on a page.
    let inbox = vec![ordinary(0), crowded(1, 240_000), ordinary(2)];
    let h = Harness::start(inbox, vec![]).await;
    h.enable(50).await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 2, "{r:?}");
    assert_eq!(r.messages_quarantined, 1);
    assert!(r.inbox_drained, "{:?}", r.stopped_early);
    let q = r
        .ledger
        .iter()
        .find(|l| l.outcome == Outcome::Quarantined)
        .unwrap();
    assert_eq!(
        q.internet_message_id.as_deref(),
        Some("<crowd-1@cronus.example>")
    );
    assert!(
        q.reason
            .as_deref()
            .unwrap()
            .contains("too large to be read")
    );
    assert_eq!(h.count("inbox"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_message_read_along_with_moves_costs_them_nothing() {
    // The next page is read inside the last batch of moves; here it holds a
    // message past the host's cap, so the batch's whole answer cannot be
    // read although Graph made the moves. The job finds them where they
    // went, and the huge message is quarantined on its own.
    let mut inbox: Vec<Value> = (0..4).map(ordinary).collect();
    inbox.push(crowded(4, 240_000));
    inbox.push(ordinary(5));
    let h = Harness::start(inbox, vec![]).await;
    h.enable(4).await;
    let r = h.run().await;
    assert_eq!(
        (
            r.messages_logged,
            r.messages_quarantined,
            r.messages_deferred
        ),
        (5, 1, 0),
        "{r:?}"
    );
    assert!(r.inbox_drained, "{:?}", r.stopped_early);
    assert_eq!(h.count("inbox"), 0);
    assert_eq!(h.count("archive"), 5);
    for e in h.entries() {
        assert_eq!(e.folder.as_deref(), Some("archive"), "{e:?}");
        assert!(h.emulator.resolve_web_link(&e.web_link).is_some(), "{e:?}");
    }
    let batches = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("$batch[read]"))
        .count();
    assert!(batches >= 1, "the next page was read with the moves");
    let looked_for = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path_and_query.contains("parentFolderId"))
        .count();
    assert_eq!(
        looked_for, 5,
        "each of the 4 moves of the unreadable answer was looked for, and the huge message's own move to quarantine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_web_link_is_never_kept() {
    let config = EmulatorConfig {
        outlook_public_base: "javascript:alert(document.cookie)//".into(),
        ..EmulatorConfig::default()
    };
    let h = Harness::start_with(vec![ordinary(0)], vec![], config, None).await;
    h.enable(50).await;
    h.run().await;
    let e = &h.entries()[0];
    assert!(
        e.web_link
            .starts_with("https://outlook.office365.com/owa/?ItemID="),
        "{}",
        e.web_link
    );
    assert!(!e.web_link.to_lowercase().contains("javascript"));
    assert!(h.erp.message_url("javascript:alert(1)").is_none());
    assert!(h.erp.message_url(&e.web_link).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_run_repairs_the_link_of_a_move_whose_answer_was_lost() {
    let h = Harness::start(vec![ordinary(0)], vec![]).await;
    h.enable(50).await;
    let mut faults = Faults::parse("retry-after=10ms").unwrap();
    // The page is read; the move happens but its answer is lost; every
    // retry then meets a 503.
    faults.script = [
        None,
        Some(FaultKind::ResetAfterCommit),
        Some(FaultKind::Unavailable),
        Some(FaultKind::Unavailable),
        Some(FaultKind::Unavailable),
        Some(FaultKind::Unavailable),
    ]
    .into_iter()
    .collect();
    h.emulator.set_faults(faults);
    let r = h.run().await;
    assert_eq!(r.messages_deferred, 1, "{r:?}");
    assert_eq!(h.count("archive"), 1, "the move did happen");
    assert_eq!(h.entries()[0].folder.as_deref(), Some("Inbox"));
    h.emulator.set_faults(Faults::default());
    let again = h.run().await;
    assert_eq!(again.messages_seen, 0);
    let e = &h.entries()[0];
    assert_eq!(
        e.folder.as_deref(),
        Some("Archive"),
        "the job repaired the link itself"
    );
    assert!(h.emulator.resolve_web_link(&e.web_link).is_some());
    let activity = email_logging_host::crm::activities(&h.erp.db, h.company).unwrap();
    assert!(
        activity
            .iter()
            .any(|a| a.description.contains("repaired the links of 1")),
        "{activity:?}"
    );
    // Nothing is left to repair.
    h.run().await;
    let repaired = email_logging_host::crm::activities(&h.erp.db, h.company)
        .unwrap()
        .iter()
        .filter(|a| a.description.contains("repaired the links"))
        .count();
    assert_eq!(repaired, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_defers_messages_is_partly_done_not_success() {
    let h = Harness::start((0..3).map(ordinary).collect(), vec![]).await;
    h.enable(50).await;
    let mut faults = Faults::parse("retry-after=10ms").unwrap();
    faults.script = std::iter::once(None)
        .chain(std::iter::repeat_n(Some(FaultKind::Unavailable), 200))
        .collect();
    h.emulator.set_faults(faults);
    let r = h.run().await;
    assert_eq!(r.messages_deferred, 3, "{r:?}");
    let text = email_logging_host::erp::partly_done(&r).expect("partly done");
    assert!(text.contains("3 of 3 messages deferred"), "{text}");
    let job = email_logging_host::jobs::get(&h.erp.db, h.company, "email-logging")
        .unwrap()
        .unwrap();
    assert_eq!(job.status, "partly-done");
    assert!(job.last_error.unwrap().contains("deferred"));
    let log = email_logging_host::jobs::log(&h.erp.db, h.company, 1).unwrap();
    assert_eq!(log[0].outcome, "partly-done");
    let activity = email_logging_host::crm::activities(&h.erp.db, h.company).unwrap();
    assert!(
        activity
            .iter()
            .any(|a| a.description.contains("partly done"))
    );
    // Graph is back: the next run finishes and the job is well again.
    h.emulator.set_faults(Faults::default());
    let again = h.run().await;
    assert_eq!(again.messages_already_logged, 3, "{again:?}");
    assert!(email_logging_host::erp::partly_done(&again).is_none());
    assert_eq!(h.entries().len(), 3, "nothing twice");
    let job = email_logging_host::jobs::get(&h.erp.db, h.company, "email-logging")
        .unwrap()
        .unwrap();
    assert_eq!(job.status, "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_moves_a_probe_to_the_storage_folder() {
    let h = Harness::start(vec![], vec![]).await;
    h.enable(50).await;
    let checks = h.erp.runtime.validate(h.company).await.unwrap();
    let probe = checks
        .iter()
        .find(|c| c.name == "move to the storage folder")
        .expect("a move line");
    assert_eq!(
        probe.status,
        email_logging_host::runtime::CheckStatus::Pass,
        "{probe:?}"
    );
    assert_eq!(h.count("archive"), 0, "the probe does not stay");
    assert_eq!(h.count("drafts"), 0);
    assert_eq!(h.count("deleteditems"), 0, "deleted for good");
    let probes = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path_and_query.ends_with("/permanentDelete") && r.status == 204)
        .count();
    assert_eq!(probes, 2, "enabling and validating each moved a probe");
    // A storage folder the job account may not fill fails the line.
    h.emulator.set_folder_item_limit(0);
    let checks = h.erp.runtime.validate(h.company).await.unwrap();
    let probe = checks
        .iter()
        .find(|c| c.name == "move to the storage folder")
        .unwrap();
    assert_eq!(
        probe.status,
        email_logging_host::runtime::CheckStatus::Fail,
        "{probe:?}"
    );
}
