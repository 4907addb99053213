//! The pipeline through the in-memory host and mailbox: a test per
//! processing rule and per kind of failure, each pointing at its stage.

use super::report::{Outcome, Report};
use super::run_on;
use crate::classify::ContactMatch;
use crate::classify::NotLoggedReason;
use crate::host::{Decision, HostError, Severity};
use crate::mail_store::{MailError, MailStore};
use crate::setup::{NotLoggedPolicy, Setup};
use crate::testing::{ANDY, JO, LT, MAILBOX, MINDY, MINDY_HOME, MemHost, MemStore, message};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn setup() -> Setup {
    Setup {
        shared_mailbox: Some(MAILBOX.into()),
        enabled: true,
        ..Setup::default()
    }
}

fn run_with(host: &MemHost, store: &mut MemStore, setup: &Setup) -> Report {
    let deadline = Instant::now() + Duration::from_secs(60);
    let r = run_on(host, setup, store, "EMAIL".into(), deadline).expect("the run reports");
    assert!(r.balances(), "seen = the sum of outcomes: {r:?}");
    r
}

fn run(host: &MemHost, store: &mut MemStore) -> Report {
    run_with(host, store, &setup())
}

/// One message through a fresh ERP and mailbox.
fn one(m: Value) -> (MemHost, MemStore, Report) {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![m]);
    let r = run(&host, &mut store);
    (host, store, r)
}

fn reason(r: &Report) -> String {
    r.ledger[0].reason.clone().unwrap_or_default()
}

// --- the processing rules -------------------------------------------------

#[test]
fn outbound_logs_one_entry_per_distinct_contact() {
    let (host, store, r) = one(message("<o@x>", JO, &[ANDY], &[MINDY, ANDY]));
    assert_eq!(r.messages_logged, 1);
    assert_eq!(
        host.pairs(),
        [
            ("<o@x>".into(), "CT1".into(), "JO".into()),
            ("<o@x>".into(), "CT2".into(), "JO".into())
        ]
    );
    let logged = host.logged.borrow();
    let e = &logged["<o@x>"].entries[0];
    assert_eq!(e.flow, crate::classify::Flow::Outbound);
    assert_eq!(e.datetime, "2026-11-10T09:00:00Z", "dated when sent");
    assert_eq!(e.contact_company_no.as_deref(), Some("CT0"));
    assert_eq!(store.count("archive"), 1);
    assert_eq!(store.count("inbox"), 0);
}

#[test]
fn inbound_logs_one_entry_per_distinct_salesperson() {
    let (host, _, r) = one(message("<i@x>", ANDY, &[JO, LT], &[JO]));
    assert_eq!(r.entries_created, 2);
    let logged = host.logged.borrow();
    let e = &logged["<i@x>"].entries[0];
    assert_eq!(e.flow, crate::classify::Flow::Inbound);
    assert_eq!(e.datetime, "2026-11-10T09:00:05Z", "dated when received");
}

#[test]
fn an_alternative_address_records_its_code() {
    let (host, _, _) = one(message("<alt@x>", MINDY_HOME, &[LT], &[]));
    let logged = host.logged.borrow();
    let e = &logged["<alt@x>"].entries[0];
    assert_eq!(e.contact_no, "CT2");
    assert_eq!(e.contact_alt_address_code.as_deref(), Some("HOME"));
}

#[test]
fn an_address_of_both_a_salesperson_and_a_contact_is_the_salespersons() {
    let host = MemHost::new();
    host.contact(LT, "CT9", None, None);
    let mut store = MemStore::new(vec![message("<both@x>", JO, &[LT], &[])]);
    let r = run(&host, &mut store);
    assert_eq!(r.not_logged.get(&NotLoggedReason::InternalOnly), Some(&1));
    assert!(host.pairs().is_empty());
}

#[test]
fn messages_that_cannot_be_logged_go_by_the_policy_with_their_reason() {
    let unknown = "someone@nowhere.example";
    let mut draft = message("<d@x>", JO, &[ANDY], &[]);
    draft["isDraft"] = json!(true);
    let mut no_sender = message("<s@x>", JO, &[ANDY], &[]);
    no_sender["sender"] = Value::Null;
    no_sender["from"] = Value::Null;
    let mut no_recipients = message("<r@x>", JO, &[], &[]);
    no_recipients["bccRecipients"] = json!([]);
    let mut private = message("<p@x>", JO, &[ANDY], &[]);
    private["singleValueExtendedProperties"] = json!([{"id": "Integer 0x36", "value": "2"}]);
    let mut confidential = message("<c@x>", ANDY, &[JO], &[]);
    confidential["singleValueExtendedProperties"] = json!([{"id": "Integer 0x0036", "value": "3"}]);
    for (m, why) in [
        (draft, "draft"),
        (private, "sensitive"),
        (confidential, "sensitive"),
        (no_sender, "no-sender"),
        (no_recipients, "no-recipients"),
        (message("<int@x>", JO, &[LT], &[]), "internal-only"),
        (
            message("<nc@x>", JO, &[unknown], &[]),
            "no-contact-among-recipients",
        ),
        (message("<ext@x>", ANDY, &[MINDY], &[]), "external-only"),
        (message("<unk@x>", unknown, &[JO], &[]), "unknown-sender"),
    ] {
        let (host, store, r) = one(m);
        let counted: Vec<&str> = r.not_logged.keys().map(|k| k.as_str()).collect();
        assert_eq!(counted, [why], "{r:?}");
        assert_eq!(r.not_logged.values().sum::<u32>(), 1);
        assert_eq!(
            store.count("not logged"),
            1,
            "{why}: moved to the not-logged folder"
        );
        assert!(host.pairs().is_empty(), "{why}");
        assert!(host.saw_activity(&format!("not logged ({why})")), "{why}");
    }
}

#[test]
fn the_not_logged_policy_can_delete_or_leave() {
    for (policy, folder) in [
        (NotLoggedPolicy::Delete, "deleteditems"),
        (NotLoggedPolicy::Leave, "inbox"),
    ] {
        let host = MemHost::new();
        let mut store = MemStore::new(vec![message("<int@x>", JO, &[LT], &[])]);
        let s = Setup {
            not_logged_policy: policy,
            ..setup()
        };
        let r = run_with(&host, &mut store, &s);
        assert_eq!(r.not_logged.get(&NotLoggedReason::InternalOnly), Some(&1));
        assert_eq!(store.count(folder), 1, "{policy:?}");
        assert!(r.inbox_drained, "a message left by policy does not loop");
    }
}

#[test]
fn a_copy_logged_already_gets_no_new_entries_and_is_moved() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![
        message("<same@x>", JO, &[ANDY], &[]),
        message("<same@x>", JO, &[ANDY], &[]),
    ]);
    let r = run(&host, &mut store);
    assert_eq!((r.messages_logged, r.messages_already_logged), (1, 1));
    assert_eq!(host.pairs().len(), 1);
    assert_eq!(store.count("archive"), 2);
}

#[test]
fn a_message_without_internet_message_id_is_keyed_by_its_id() {
    let mut m = message("<x@x>", ANDY, &[JO], &[]);
    m.as_object_mut().unwrap().remove("internetMessageId");
    let (host, _, _) = one(m);
    assert!(host.logged.borrow().contains_key("graph-id:MSG1"));
}

#[test]
fn monthly_subfolders_take_the_messages_month() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![message("<m@x>", JO, &[ANDY], &[])]);
    let s = Setup {
        monthly_subfolders: true,
        ..setup()
    };
    run_with(&host, &mut store, &s);
    assert_eq!(store.count("archive/2026-11"), 1);
    assert_eq!(
        host.logged.borrow()["<m@x>"].link.folder.as_deref(),
        Some("archive/2026-11")
    );
}

#[test]
fn the_link_kept_is_the_one_after_the_move() {
    let (host, _, _) = one(message("<l@x>", JO, &[ANDY], &[]));
    let link = host.logged.borrow()["<l@x>"].link.clone();
    assert_eq!(link.folder.as_deref(), Some("archive"));
    assert_eq!(link.mailbox, MAILBOX);
    assert!(
        link.web_link
            .starts_with("https://outlook.office365.com/owa/?ItemID=MSG1")
    );
}

#[test]
fn pages_are_read_until_the_inbox_is_drained() {
    let host = MemHost::new();
    let inbox = (0..7)
        .map(|i| message(&format!("<p{i}@x>"), JO, &[ANDY], &[]))
        .collect();
    let mut store = MemStore::new(inbox);
    let s = Setup {
        batch_size: 3,
        ..setup()
    };
    let r = run_with(&host, &mut store, &s);
    assert_eq!(r.messages_logged, 7);
    assert!(r.inbox_drained);
    // Each page that moved messages starts over; the last read finds the
    // Inbox empty.
    assert_eq!(r.pages, 4);
}

#[test]
fn each_page_reports_its_progress() {
    let (host, _, _) = one(message("<pr@x>", JO, &[ANDY], &[]));
    let events = host.events.borrow();
    let progress = events
        .iter()
        .find(|(m, _)| m == "progress")
        .expect("a progress event");
    assert!(
        progress.1.contains(&("logged".into(), "1".into())),
        "{progress:?}"
    );
}

// --- the failures ---------------------------------------------------------

#[test]
fn a_throttled_move_defers_postpones_and_ends_the_run() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![
        message("<t1@x>", JO, &[ANDY], &[]),
        message("<t2@x>", JO, &[ANDY], &[]),
    ]);
    store.move_faults.push_back(MailError::Throttled {
        retry_after_secs: 120,
        text: "throttled".into(),
    });
    let r = run(&host, &mut store);
    assert_eq!(r.ledger[0].outcome, Outcome::Deferred);
    assert_eq!(r.stopped_early.as_deref(), Some("throttled"));
    let postponed = host.postponed_until.get().expect("the job was postponed");
    assert_eq!(postponed, host_now(&host) + 120);
    assert_eq!(
        host.pairs().len(),
        2,
        "both were committed before the moves"
    );
    assert!(!r.inbox_drained);
}

fn host_now(host: &MemHost) -> u64 {
    use crate::host::Host as _;
    host.now().timestamp() as u64
}

#[test]
fn a_transient_move_failure_defers_and_flags_the_link_for_the_next_run() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![message("<lost@x>", JO, &[ANDY], &[])]);
    store.answers_lost.push("MSG1".into());
    let r = run(&host, &mut store);
    assert_eq!(r.messages_deferred, 1);
    assert_eq!(r.ledger[0].entries, 1, "the entries are kept");
    assert_eq!(store.count("archive"), 1, "the move was made");
    assert_eq!(
        host.logged.borrow()["<lost@x>"].link.folder.as_deref(),
        Some("Inbox")
    );
    store.answers_lost.clear();
    let again = run(&host, &mut store);
    assert_eq!(again.messages_seen, 0);
    assert_eq!(
        host.logged.borrow()["<lost@x>"].link.folder.as_deref(),
        Some("archive"),
        "the next run repaired the link"
    );
    assert!(host.saw_activity("repaired the links of 1"));
}

#[test]
fn a_move_the_store_cannot_trace_is_done_and_its_link_repaired_later() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![
        message("<untraced@x>", JO, &[ANDY], &[]),
        message("<set-aside@x>", "nobody@unknown.example", &[JO], &[]),
    ]);
    store.untraced = vec!["MSG1".into(), "MSG2".into()];
    let r = run(&host, &mut store);
    assert_eq!((r.messages_logged, r.messages_deferred), (1, 0), "{r:?}");
    assert_eq!(r.not_logged.len(), 1, "the not-logged move needs no new id");
    assert!(r.inbox_drained);
    assert_eq!(store.count("inbox"), 0);
    store.untraced.clear();
    let again = run(&host, &mut store);
    assert_eq!(again.messages_seen, 0);
    assert_eq!(
        host.logged.borrow()["<untraced@x>"].link.folder.as_deref(),
        Some("archive"),
        "the next run found it"
    );
}

#[test]
fn a_refused_message_is_quarantined_and_the_rest_goes_on() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![
        message("<bad@x>", JO, &[ANDY], &[]),
        message("<good@x>", JO, &[ANDY], &[]),
    ]);
    host.log_faults
        .borrow_mut()
        .push_back(HostError::Invalid("the key is too long".into()));
    let r = run(&host, &mut store);
    assert_eq!(r.messages_quarantined, 1);
    assert!(reason(&r).contains("the key is too long"));
    assert_eq!(r.messages_logged, 1);
    assert_eq!(store.count("email logging quarantine"), 1);
    assert_eq!(host.severity_of("quarantined"), Some(Severity::Error));
}

#[test]
fn a_busy_erp_defers_the_message_without_moving_it() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![message("<busy@x>", JO, &[ANDY], &[])]);
    host.log_faults
        .borrow_mut()
        .push_back(HostError::Unavailable("database is locked".into()));
    let r = run(&host, &mut store);
    assert_eq!(r.messages_deferred, 1);
    assert!(reason(&r).contains("database is locked"));
    assert_eq!(store.count("inbox"), 1);
    assert_eq!(
        host.severity_of("deferred to the next run"),
        Some(Severity::Warning)
    );
}

#[test]
fn a_message_gone_before_its_move_keeps_its_entries() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![message("<gone@x>", JO, &[ANDY], &[])]);
    store
        .move_faults
        .push_back(MailError::Gone("someone deleted it".into()));
    let r = run(&host, &mut store);
    assert_eq!(r.messages_logged, 1);
    assert!(host.saw_activity("left the Inbox before it could be moved"));
}

#[test]
fn a_full_storage_folder_stops_the_run() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![message("<full@x>", JO, &[ANDY], &[])]);
    store.full.push("archive".into());
    let r = run(&host, &mut store);
    assert_eq!(r.messages_deferred, 1);
    assert!(
        r.stopped_early
            .as_deref()
            .unwrap_or("")
            .contains("a folder is full"),
        "{r:?}"
    );
}

#[test]
fn a_sign_in_lost_mid_run_stops_it() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![message("<s@x>", JO, &[ANDY], &[])]);
    store
        .move_faults
        .push_back(MailError::SignInLost("AADSTS700082".into()));
    let r = run(&host, &mut store);
    assert_eq!(r.stopped_early.as_deref(), Some("AADSTS700082"));
}

#[test]
fn a_lookup_that_fails_for_now_defers_and_stops() {
    let host = MemHost::new();
    host.lookup_faults
        .borrow_mut()
        .push_back(HostError::Unavailable("busy".into()));
    let mut store = MemStore::new(vec![message("<lk@x>", JO, &[ANDY], &[])]);
    let r = run(&host, &mut store);
    assert_eq!(r.messages_deferred, 1);
    assert!(r.stopped_early.unwrap().contains("could not look up"));
    assert_eq!(store.count("inbox"), 1);
}

#[test]
fn lookups_are_split_until_the_erp_takes_them() {
    let host = MemHost::new();
    host.lookup_limit.set(2);
    let mut store = MemStore::new(vec![message(
        "<many@x>",
        JO,
        &[ANDY, MINDY, LT],
        &[MINDY_HOME],
    )]);
    let r = run(&host, &mut store);
    assert_eq!(r.messages_logged, 1);
    assert!(host.lookups.get() > 1, "the lookup was split");
}

#[test]
fn a_page_that_cannot_be_read_first_is_a_run_error_later_a_stop() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![message("<pg@x>", JO, &[ANDY], &[])]);
    store
        .page_faults
        .push_back(Some(MailError::Unusable("no access".into())));
    let deadline = Instant::now() + Duration::from_secs(60);
    let e = run_on(&host, &setup(), &mut store, "EMAIL".into(), deadline).unwrap_err();
    assert_eq!(e, crate::run_error::RunError::Mailbox("no access".into()));
    assert_eq!(store.count("inbox"), 1);
    // The second read is throttled: the first page's work stands, the job
    // is postponed and the report says why it stopped.
    let inbox = (0..4)
        .map(|i| message(&format!("<q{i}@x>"), ANDY, &[JO], &[]))
        .collect();
    let mut store = MemStore::new(inbox);
    store.page_faults.extend([
        None,
        Some(MailError::Throttled {
            retry_after_secs: 5,
            text: "throttled".into(),
        }),
    ]);
    let s = Setup {
        batch_size: 2,
        ..setup()
    };
    let r = run_with(&host, &mut store, &s);
    assert_eq!(r.messages_logged, 2);
    assert_eq!(r.stopped_early.as_deref(), Some("throttled"));
    assert!(host.postponed_until.get().is_some());
}

#[test]
fn an_oversized_message_is_quarantined_unread() {
    let to: Vec<&str> = vec![ANDY];
    let mut m = message("<big@x>", JO, &to, &[]);
    m["ccRecipients"] = Value::Array(
        (0..crate::message::MAX_RECIPIENTS)
            .map(|i| json!({"emailAddress": {"address": format!("p{i}@x.example")}}))
            .collect(),
    );
    let host = MemHost::new();
    let mut store = MemStore::new(vec![m, message("<small@x>", JO, &[ANDY], &[])]);
    let r = run(&host, &mut store);
    assert_eq!(r.messages_quarantined, 1);
    assert!(reason(&r).contains("recipients"));
    assert_eq!(r.messages_logged, 1);
    assert_eq!(host.lookups.get(), 1, "its addresses were never looked up");
}

#[test]
fn an_item_without_an_id_is_deferred_once_with_its_reason() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![json!("not a message"), json!([1, 2])]);
    let r = run(&host, &mut store);
    assert_eq!(r.messages_deferred, 2, "two items, two ledger lines");
    assert!(host.saw_activity("an Inbox item cannot be read"));
}

#[test]
fn the_budget_ends_the_run_with_nothing_half_done() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![message("<b@x>", JO, &[ANDY], &[])]);
    let spent = Instant::now() - Duration::from_secs(1);
    let r = run_on(&host, &setup(), &mut store, "EMAIL".into(), spent).unwrap();
    assert!(r.budget_exhausted);
    assert_eq!(r.messages_seen, 0);
    assert_eq!(store.count("inbox"), 1);
}

#[test]
fn the_storage_folder_is_had_before_anything_is_read() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![]);
    assert!(store.connect().is_ok());
    let deadline = Instant::now() + Duration::from_secs(60);
    let r = run_on(&host, &setup(), &mut store, "EMAIL".into(), deadline).unwrap();
    assert!(r.inbox_drained);
    assert_eq!(r.messages_seen, 0);
}

#[test]
fn a_flagged_message_that_is_gone_is_reported_and_forgotten() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![message("<del@x>", JO, &[ANDY], &[])]);
    store.answers_lost.push("MSG1".into());
    run(&host, &mut store);
    store.answers_lost.clear();
    store.delete_for_good("MSG1").unwrap();
    let r = run(&host, &mut store);
    assert_eq!(r.warnings.len(), 1, "{r:?}");
    assert!(host.saw_activity("cannot be found in the mailbox any more"));
    let again = run(&host, &mut store);
    assert!(again.warnings.is_empty(), "it was forgotten");
}

// --- the page-level contract ----------------------------------------------

#[test]
fn a_page_costs_the_erp_a_fixed_number_of_calls_whatever_its_size() {
    let host = MemHost::new();
    let mut messages: Vec<Value> = (0..20)
        .map(|i| message(&format!("<p{i}@x>"), JO, &[ANDY], &[]))
        .collect();
    // Not loggable: moved with the others, its activity line written with theirs.
    messages.push(message("<int@x>", JO, &[LT], &[]));
    let mut store = MemStore::new(messages);
    let r = run_with(
        &host,
        &mut store,
        &Setup {
            batch_size: 50,
            ..setup()
        },
    );
    assert_eq!((r.messages_logged, r.pages), (20, 2), "{r:?}");
    assert_eq!(
        *host.calls.borrow(),
        [
            "decide",
            "log-page",
            "update-links",
            "after-log",
            "log-activities"
        ],
        "one call of each for the page of 21; the empty second page needs none"
    );
    assert_eq!(host.logged.borrow().len(), 20);
}

#[test]
fn copies_of_one_message_on_one_page_are_logged_once() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![
        message("<twice@x>", JO, &[ANDY], &[]),
        message("<twice@x>", JO, &[ANDY], &[]),
    ]);
    let r = run(&host, &mut store);
    assert_eq!((r.messages_logged, r.messages_already_logged), (1, 1));
    assert_eq!(host.pairs().len(), 1);
    assert_eq!(store.count("archive"), 2, "both copies leave the Inbox");
}

#[test]
fn one_refused_message_does_not_cost_its_page_neighbours_their_entries() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![
        message("<a@x>", JO, &[ANDY], &[]),
        message("<b@x>", JO, &[ANDY], &[]),
        message("<c@x>", JO, &[ANDY], &[]),
    ]);
    // The ERP fails <a@x> alone; the others are logged in the same call.
    host.log_faults
        .borrow_mut()
        .push_back(HostError::Internal("not this one".into()));
    let r = run(&host, &mut store);
    assert_eq!(r.messages_logged, 2, "{r:?}");
    assert_eq!(r.messages_deferred + r.messages_quarantined, 1);
    assert_eq!(host.logged.borrow().len(), 2);
}

// --- privacy and the ERP's extension points --------------------------------

/// A message its sender marked private (PR_SENSITIVITY 2).
fn private(imid: &str, from: &str, to: &[&str]) -> Value {
    let mut m = message(imid, from, to, &[]);
    m["singleValueExtendedProperties"] = json!([{"id": "Integer 0x36", "value": "2"}]);
    m
}

#[test]
fn private_mail_never_reaches_the_erp_unless_the_setup_logs_it() {
    let (host, store, r) = one(private("<p@x>", JO, &[ANDY]));
    assert_eq!(r.not_logged.get(&NotLoggedReason::Sensitive), Some(&1));
    assert!(host.logged.borrow().is_empty());
    assert!(host.decided.borrow().is_empty(), "not even its facts");
    assert!(!host.saw_activity("About <p@x>"), "its subject is kept out");
    assert_eq!(store.count("not logged"), 1);

    let host = MemHost::new();
    let mut store = MemStore::new(vec![private("<p@x>", JO, &[ANDY])]);
    let logs_it = Setup {
        log_sensitive: true,
        ..setup()
    };
    let r = run_with(&host, &mut store, &logs_it);
    assert_eq!(r.messages_logged, 1, "{r:?}");
    assert!(host.decided.borrow()[0].sensitive, "the ERP is told");
}

#[test]
fn the_erp_may_skip_a_message_with_its_own_reason() {
    let host = MemHost::new();
    *host.decide_with.borrow_mut() = Some(Box::new(|m| {
        if m.recipients.iter().any(|r| r == MINDY) {
            Decision::Skip("never-log".into())
        } else {
            Decision::Log(None)
        }
    }));
    let mut store = MemStore::new(vec![
        message("<hr@x>", JO, &[MINDY], &[]),
        message("<ok@x>", JO, &[ANDY], &[]),
    ]);
    let r = run(&host, &mut store);
    assert_eq!(r.messages_logged, 1);
    assert_eq!(r.not_logged.get(&NotLoggedReason::SkippedByErp), Some(&1));
    let line = r
        .ledger
        .iter()
        .find(|l| l.outcome != Outcome::Logged)
        .unwrap();
    assert_eq!(line.reason.as_deref(), Some("never-log"));
    assert!(!host.logged.borrow().contains_key("<hr@x>"));
    assert!(host.saw_activity("not logged (never-log)"));
    assert!(
        !host.saw_activity("About <hr@x>"),
        "its subject is kept out"
    );
    assert_eq!(store.count("not logged"), 1, "by the not-logged policy");
    let facts = host.decided.borrow();
    assert_eq!(facts.len(), 2, "both messages, in one call");
    assert_eq!(facts[0].key, "<hr@x>");
    assert_eq!(facts[0].sender.as_deref(), Some(JO));
    assert_eq!(facts[0].recipients, [MINDY], "without the shared mailbox");
}

#[test]
fn a_subject_the_erp_gives_replaces_the_real_one_everywhere() {
    let host = MemHost::new();
    *host.decide_with.borrow_mut() = Some(Box::new(|_| {
        Decision::Log(Some("(subject withheld)".into()))
    }));
    let (_, r) = {
        let mut store = MemStore::new(vec![message("<s@x>", JO, &[ANDY], &[])]);
        let r = run(&host, &mut store);
        (store, r)
    };
    assert_eq!(r.messages_logged, 1);
    let logged = host.logged.borrow();
    assert_eq!(logged["<s@x>"].entries[0].subject, "(subject withheld)");
    assert!(!host.saw_activity("About <s@x>"));
}

#[test]
fn without_the_erps_word_nothing_is_logged_and_the_page_waits() {
    let host = MemHost::new();
    host.decide_faults
        .borrow_mut()
        .push_back(HostError::Unavailable("busy".into()));
    let mut store = MemStore::new(vec![message("<w@x>", JO, &[ANDY], &[])]);
    let r = run(&host, &mut store);
    assert_eq!((r.messages_logged, r.messages_deferred), (0, 1), "{r:?}");
    assert!(r.stopped_early.is_some());
    assert!(host.logged.borrow().is_empty());
    assert_eq!(store.count("inbox"), 1, "still in the Inbox");
    let again = run(&host, &mut store);
    assert_eq!(again.messages_logged, 1, "the next run logs it");
}

#[test]
fn the_erp_may_answer_a_contact_for_an_address_that_matched_nobody() {
    const NEW: &str = "ann@adatum.example";
    let host = MemHost::new();
    host.creates.borrow_mut().insert(
        NEW.into(),
        ContactMatch {
            contact_no: "EL-1".into(),
            company_no: Some("C-ADATUM".into()),
            alt_address_code: None,
        },
    );
    let mut named = message("<n@x>", JO, &[], &[]);
    named["toRecipients"] = json!([{"emailAddress": {"name": " Ann Smith ", "address": NEW}}]);
    let mut store = MemStore::new(vec![named, message("<n2@x>", JO, &[NEW], &[])]);
    let r = run(&host, &mut store);
    assert_eq!(r.messages_logged, 2, "{r:?}");
    assert_eq!(
        host.pairs(),
        [
            ("<n2@x>".into(), "EL-1".into(), "JO".into()),
            ("<n@x>".into(), "EL-1".into(), "JO".into()),
        ]
    );
    {
        let asked = host.unknown_asked.borrow();
        assert_eq!(asked.len(), 1, "once per page and address: {asked:?}");
        assert_eq!(asked[0].address, NEW);
        assert_eq!(asked[0].display_name.as_deref(), Some("Ann Smith"));
        assert_eq!(asked[0].key, "<n@x>");
    }
    // A later run finds the contact by lookup and asks no more.
    store.deliver(message("<n3@x>", NEW, &[JO], &[]));
    let r = run(&host, &mut store);
    assert_eq!(r.messages_logged, 1);
    assert_eq!(host.unknown_asked.borrow().len(), 1);
}

#[test]
fn an_unknown_sender_writing_to_a_salesperson_is_asked_about_and_others_are_not() {
    const STRANGER: &str = "who@nowhere.example";
    let host = MemHost::new();
    let mut store = MemStore::new(vec![
        message("<in@x>", STRANGER, &[JO], &[]),
        // Nobody of ours took part: nothing to ask.
        message("<ext@x>", STRANGER, &[ANDY], &[]),
    ]);
    let r = run(&host, &mut store);
    assert_eq!(r.not_logged.get(&NotLoggedReason::UnknownSender), Some(&2));
    let asked = host.unknown_asked.borrow();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0].address.as_str(), asked[0].key.as_str()),
        (STRANGER, "<in@x>")
    );
}

#[test]
fn after_log_hears_of_each_new_entry_once_with_where_the_message_is_now() {
    let host = MemHost::new();
    let mut store = MemStore::new(vec![
        message("<a@x>", JO, &[ANDY, MINDY], &[]),
        message("<a@x>", JO, &[ANDY, MINDY], &[]),
    ]);
    let r = run(&host, &mut store);
    assert_eq!((r.messages_logged, r.messages_already_logged), (1, 1));
    let told = host.after_logged.borrow();
    assert_eq!(told.len(), 1, "not for the copy found logged already");
    assert_eq!(told[0].key, "<a@x>");
    assert_eq!(told[0].entries.len(), 2);
    assert_eq!(
        told[0].link.folder.as_deref(),
        Some("archive"),
        "after the move"
    );
}

#[test]
fn a_failing_after_log_changes_nothing_else() {
    let host = MemHost::new();
    host.after_log_faults
        .borrow_mut()
        .push_back(HostError::Internal("follow-up broke".into()));
    let mut store = MemStore::new(vec![message("<f@x>", JO, &[ANDY], &[])]);
    let r = run(&host, &mut store);
    assert_eq!(r.messages_logged, 1, "{r:?}");
    assert!(r.stopped_early.is_none());
    assert_eq!(host.logged.borrow().len(), 1, "the entries stand");
    assert_eq!(store.count("archive"), 1, "the move stands");
    assert_eq!(
        host.severity_of("follow-up work"),
        Some(Severity::Warning),
        "and an administrator hears of it"
    );
}
