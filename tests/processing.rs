//! One test per processing rule (SPEC §3), each driving the real component
//! in the real host against the Graph emulator over HTTP.

use email_logging_e2e::*;
use email_logging_host::JobOutcome;
use email_logging_host::host::CrashHook;
use graph_emulator::EmulatorConfig;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn p(c: &str, s: &str, f: &str) -> (String, String, String) {
    (c.into(), s.into(), f.into())
}

async fn outbound_with_to_and_cc_contacts(x: Experience) {
    let (entries, report, h) =
        one_in(x, message("<o1@x>", "Quote", JO, &[ANDY], &[MINDY, ADATUM])).await;
    assert_eq!(
        pairs(&entries),
        vec![
            p("CT000011", "JO", "outbound"),
            p("CT000021", "JO", "outbound"),
            p("CT000030", "JO", "outbound")
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e.initiated_by == "us" && e.datetime == "2026-11-10T09:00:00Z")
    );
    assert!(
        entries
            .iter()
            .all(|e| e.interaction_template_code == "EMAIL" && e.email_logged)
    );
    assert_eq!(entries[0].contact_company_no.as_deref(), Some("CT000010"));
    assert_eq!(report.entries_created, 3);
    assert_eq!((h.in_queue(), h.in_storage()), (0, 1));
}

async fn inbound_to_two_salespeople(x: Experience) {
    let (entries, _, _) = one_in(x, message("<i1@x>", "Question", ANDY, &[JO, LT], &[])).await;
    assert_eq!(
        pairs(&entries),
        vec![
            p("CT000011", "JO", "inbound"),
            p("CT000011", "LT", "inbound")
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e.initiated_by == "them" && e.datetime == "2026-11-10T09:00:03Z")
    );
}

async fn match_on_email_2(x: Experience) {
    let (entries, _, _) = one_in(x, message("<e2@x>", "Hi", ANDY2, &[BC], &[])).await;
    assert_eq!(pairs(&entries), vec![p("CT000011", "BC", "inbound")]);
    assert_eq!(entries[0].contact_alt_address_code, None);
}

async fn match_on_alternative_address_records_code_and_company(x: Experience) {
    let (entries, _, _) = one_in(x, message("<alt@x>", "From home", MINDY_HOME, &[LT], &[])).await;
    assert_eq!(pairs(&entries), vec![p("CT000021", "LT", "inbound")]);
    assert_eq!(entries[0].contact_alt_address_code.as_deref(), Some("HOME"));
    assert_eq!(entries[0].contact_company_no.as_deref(), Some("CT000020"));
}

async fn case_and_surrounding_spaces_do_not_matter(x: Experience) {
    let (entries, _, _) = one_in(
        x,
        message(
            "<case@x>",
            "Case",
            "  Jim.OLIVE@Cronus.Example ",
            &[" ANDY.teal@CannonGroup.example  "],
            &[],
        ),
    )
    .await;
    assert_eq!(pairs(&entries), vec![p("CT000011", "JO", "outbound")]);
}

async fn not_logged_case(x: Experience, msg: serde_json::Value, reason: &str) {
    let (entries, report, h) = one_in(x, msg).await;
    assert!(
        entries.is_empty(),
        "{reason}: no entries expected, got {entries:?}"
    );
    assert_eq!(not_logged(&report, reason), 1, "{reason}: {report:?}");
    assert_eq!(h.in_queue(), 0, "{reason}: moved out of the Inbox");
    assert_eq!(
        h.in_not_logged(),
        1,
        "{reason}: moved to the not-logged folder"
    );
    let activity = email_logging_host::crm::activities(&h.erp.db, h.company).unwrap();
    assert!(
        activity.iter().any(|a| a.description.contains(reason)),
        "{reason}: reason recorded"
    );
}

async fn internal_only_is_not_logged(x: Experience) {
    not_logged_case(
        x,
        message("<int@x>", "Lunch?", JO, &[LT], &[BC]),
        "internal-only",
    )
    .await;
}

async fn external_only_is_not_logged(x: Experience) {
    not_logged_case(
        x,
        message("<ext@x>", "Between customers", ANDY, &[MINDY], &[]),
        "external-only",
    )
    .await;
}

async fn unknown_sender_is_not_logged(x: Experience) {
    not_logged_case(
        x,
        message(
            "<unk@x>",
            "Offer",
            "someone@unknown-vendor.example",
            &[JO],
            &[],
        ),
        "unknown-sender",
    )
    .await;
}

async fn draft_is_not_logged(x: Experience) {
    let mut m = message("<draft@x>", "Draft", JO, &[ANDY], &[]);
    m["isDraft"] = json!(true);
    not_logged_case(x, m, "draft").await;
}

async fn no_recipients_is_not_logged(x: Experience) {
    let mut m = message("<norcpt@x>", "Nobody", JO, &[], &[]);
    m["bccRecipients"] = json!([]);
    not_logged_case(x, m, "no-recipients").await;
}

async fn duplicate_internet_message_id_is_logged_once(x: Experience) {
    let h = Harness::start_in(
        x,
        vec![
            message("<dup@x>", "Twice", JO, &[ANDY], &[]),
            message("<dup@x>", "Twice", JO, &[ANDY], &[]),
        ],
        vec![],
    )
    .await;
    h.enable(50).await;
    let r = h.run().await;
    assert_eq!(h.entries().len(), 1);
    assert_eq!((r.messages_logged, r.messages_already_logged), (1, 1));
    assert_eq!(h.in_storage(), 2, "both copies leave the Inbox");
}

async fn message_without_internet_message_id_is_logged_once(x: Experience) {
    let mut m = message("", "No id", ANDY, &[JO], &[]);
    m.as_object_mut().unwrap().remove("internetMessageId");
    let (entries, _, h) = one_in(x, m).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].internet_message_id, None);
    assert!(!entries[0].message_id.is_empty());
    let again = h.run().await;
    assert_eq!((again.messages_seen, h.entries().len()), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_email_is_untouched() {
    let h = Harness::start(
        vec![],
        vec![message("<junk@x>", "Cheap pills", ANDY, &[JO], &[])],
    )
    .await;
    h.enable(50).await;
    let r = h.run().await;
    assert_eq!(r.messages_seen, 0);
    assert!(h.entries().is_empty());
    assert_eq!(h.count("junkemail"), 1);
    assert!(
        h.emulator
            .requests()
            .iter()
            .all(|q| !q.path_and_query.to_lowercase().contains("junkemail")),
        "the job never reads Junk Email"
    );
}

async fn null_sender_falls_back_to_from(x: Experience) {
    let mut m = message("<from@x>", "Sent as", ANDY, &[JO], &[]);
    m["sender"] = serde_json::Value::Null;
    let (entries, _, _) = one_in(x, m).await;
    assert_eq!(pairs(&entries), vec![p("CT000011", "JO", "inbound")]);
}

async fn an_address_of_a_salesperson_and_a_contact_counts_as_the_salesperson(x: Experience) {
    let h = Harness::start_in(
        x,
        vec![
            message("<both1@x>", "From Jim", JO, &[ANDY], &[]),
            message("<both2@x>", "To Jim", ANDY, &[JO], &[]),
        ],
        vec![],
    )
    .await;
    // Jim's address is also a contact's.
    h.erp
        .import_crm(
            h.company,
            &json!({"contacts": [{"no": "CT000099", "name": "Jim privately", "type": "person", "email": JO}]}).to_string(),
        )
        .unwrap();
    h.enable(50).await;
    h.run().await;
    assert_eq!(
        pairs(&h.entries()),
        vec![
            p("CT000011", "JO", "outbound"),
            p("CT000011", "JO", "inbound")
        ]
    );
}

async fn a_malformed_address_beside_a_valid_one(x: Experience) {
    let mut m = message("<x500@x>", "Mixed", JO, &[ANDY], &[]);
    m["toRecipients"].as_array_mut().unwrap().insert(
        0,
        json!({"emailAddress": {"name": "Legacy", "address": "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc"}}),
    );
    m["ccRecipients"] = json!([null, {"emailAddress": null}, {"emailAddress": {"address": 42}}]);
    let (entries, report, _) = one_in(x, m).await;
    assert_eq!(pairs(&entries), vec![p("CT000011", "JO", "outbound")]);
    assert_eq!(report.messages_quarantined + report.messages_deferred, 0);
}

async fn a_2000_character_subject_is_truncated_not_refused(x: Experience) {
    let subject = "Ä".repeat(2000);
    let (entries, _, _) = one_in(x, message("<long@x>", &subject, JO, &[ANDY], &[])).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].subject.chars().count(),
        email_logging_host::crm::SUBJECT_LEN
    );
    assert!(subject.starts_with(&entries[0].subject));
}

async fn more_messages_than_one_page_are_all_logged_oldest_first(x: Experience) {
    let inbox: Vec<_> = (0..37)
        .map(|i| {
            let mut m = message(
                &format!("<page-{i}@x>"),
                &format!("Message {i:02}"),
                ANDY,
                &[JO],
                &[],
            );
            // Stored newest first, so "oldest first" has to come from $orderby.
            m["receivedDateTime"] = json!(format!(
                "2026-11-10T{:02}:{:02}:00Z",
                23 - i / 60,
                59 - i % 60
            ));
            m
        })
        .collect();
    let h = Harness::start_in(x, inbox, vec![]).await;
    h.enable(10).await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 37);
    assert!(r.pages >= 4, "{} pages", r.pages);
    assert!(r.inbox_drained);
    let entries = h.entries();
    assert_eq!(entries.len(), 37);
    let subjects: Vec<_> = entries.iter().map(|e| e.subject.clone()).collect();
    let mut by_time = subjects.clone();
    by_time.sort_by(|a, b| b.cmp(a));
    assert_eq!(subjects, by_time, "logged oldest first");
    let requests = h.emulator.requests();
    match x {
        Experience::Graph => {
            let selects: Vec<_> = requests
                .iter()
                .filter(|q| q.path_and_query.contains("/messages?"))
                .collect();
            assert!(
                selects.iter().all(|q| q.path_and_query.contains("select=")
                    || q.path_and_query.contains("%24select="))
            );
            // Pipelined: after the first page, pages are read inside the
            // last $batch of the moves before them (validation's probe aside).
            let pages = || {
                selects
                    .iter()
                    .filter(|q| q.path_and_query.contains("internetMessageId"))
            };
            let alone = pages()
                .filter(|q| q.path_and_query.starts_with("/v1.0/"))
                .count();
            let riding = pages()
                .filter(|q| q.path_and_query.starts_with("$batch[read]"))
                .count() as u32;
            // A page with a single move reads the next one on its own, and
            // so does one whose read-ahead came back all in flight (when
            // Graph runs the read before the moves beside it): timing, so
            // only "most ride" is certain.
            assert_eq!(alone as u32 + riding, r.pages, "{selects:#?}");
            assert!(riding >= 2, "{selects:#?}");
        }
        Experience::Ews => {
            // One GetItem per page fetches what the rules need (the last,
            // empty page needs none).
            let gets = requests
                .iter()
                .filter(|q| q.path_and_query == "EWS GetItem")
                .count() as u32;
            assert!(
                gets == 4 && r.pages <= gets + 1,
                "{gets} for {} pages",
                r.pages
            );
        }
    }
}

async fn paging_follows_next_links_past_messages_left_in_the_inbox(x: Experience) {
    // Unknown senders left in the Inbox by policy fill the first pages.
    let mut inbox: Vec<_> = (0..12)
        .map(|i| {
            message(
                &format!("<left-{i}@x>"),
                "Left",
                "nobody@unknown.example",
                &[JO],
                &[],
            )
        })
        .collect();
    inbox.push(message(
        "<last@x>",
        "Behind the left ones",
        ANDY,
        &[JO],
        &[],
    ));
    for (i, m) in inbox.iter_mut().enumerate() {
        m["receivedDateTime"] = json!(format!("2026-11-10T10:{i:02}:00Z"));
    }
    let h = Harness::start_in(x, inbox, vec![]).await;
    h.erp
        .runtime
        .setup_update(
            h.company,
            email_logging_host::runtime::SetupChange {
                not_logged_policy: Some(email_logging_host::runtime::NotLoggedPolicy::Leave),
                ..no_change()
            },
        )
        .await
        .unwrap()
        .unwrap();
    h.enable(5).await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 1, "{r:?}");
    assert_eq!(not_logged(&r, "unknown-sender"), 12);
    assert_eq!(h.in_queue(), 12);
    assert!(r.inbox_drained);
}

async fn the_stored_link_opens_the_moved_message(x: Experience) {
    let (entries, _, h) = one_in(x, message("<link@x>", "Open me", JO, &[ANDY], &[])).await;
    let link = &entries[0].web_link;
    // Outlook on the web of the server the mail is on.
    let owa = match x {
        Experience::Graph => "https://outlook.office365.com/owa/?ItemID=",
        Experience::Ews => "https://mail.contoso.example/owa/?ItemID=",
    };
    assert!(link.starts_with(owa), "{link}");
    let opened = h
        .emulator
        .resolve_web_link(link)
        .expect("the stored link resolves");
    assert_eq!(opened["subject"], "Open me");
    let stored_id = match x {
        Experience::Graph => h.stored()[0]["id"].clone(),
        Experience::Ews => json!(h.emulator.public_folder_item_ids(STORAGE)[0]),
    };
    assert_eq!(
        stored_id,
        json!(entries[0].message_id),
        "the entry keeps the id the message has in storage"
    );
    let requests = h.emulator.requests();
    if x == Experience::Ews {
        assert!(requests.iter().any(|q| q.path_and_query == "EWS MoveItem"));
        return;
    }
    assert!(requests.iter().any(|q| q.path_and_query.contains("/move")));
    // Every Graph call asked for immutable ids.
    for q in requests
        .iter()
        .filter(|q| q.path_and_query.starts_with("/v1.0/"))
    {
        assert_eq!(
            q.prefer.as_deref(),
            Some("IdType=\"ImmutableId\""),
            "{}",
            q.path_and_query
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_expiring_mid_run_is_renewed_once() {
    // Expiring after 1..=7 Graph requests hits the page read, the outer
    // $batch and requests inside it.
    for after in 1..=7 {
        let inbox: Vec<_> = (0..6)
            .map(|i| message(&format!("<tok-{i}@x>"), "Tok", ANDY, &[JO], &[]))
            .collect();
        let h = Harness::start(inbox, vec![]).await;
        h.enable(50).await;
        h.emulator.expire_access_tokens_after(after);
        let before = h.emulator.requests().len();
        let r = h.run().await;
        assert_eq!(r.messages_logged, 6, "after {after}: {r:?}");
        assert_eq!(r.messages_quarantined + r.messages_deferred, 0);
        let during: Vec<_> = h.emulator.requests().into_iter().skip(before).collect();
        assert!(
            during.iter().any(|q| q.status == 401),
            "after {after}: the token did expire mid-run"
        );
        // Several requests of one $batch may meet the expired token; the
        // component still renews it once.
        let renewals = during
            .iter()
            .filter(|q| q.path_and_query.contains("/oauth2/v2.0/token"))
            .count();
        assert_eq!(renewals, 1, "after {after}: one renewal: {during:#?}");
    }
}

async fn a_crash_after_the_entries_and_before_the_move_is_completed_by_the_next_run(x: Experience) {
    // Armed once enabling (whose checklist moves a probe) is done.
    let crash = Arc::new(AtomicBool::new(false));
    let armed = crash.clone();
    let hook: CrashHook = Arc::new(move |at| at.is_move() && armed.load(Ordering::SeqCst));
    let mut h = Harness::start_with_in(
        x,
        vec![message("<crash@x>", "Crash", JO, &[ANDY, MINDY], &[])],
        vec![],
        EmulatorConfig::default(),
        Some(hook),
    )
    .await;
    h.enable(50).await;
    crash.store(true, Ordering::SeqCst);
    match h.run_outcome().await {
        JobOutcome::Fault(e) => assert!(e.contains("simulated host crash"), "{e}"),
        other => panic!("expected the run to crash, got {other:?}"),
    }
    assert_eq!(
        h.entries().len(),
        2,
        "entries were committed before the move"
    );
    let queue = match x {
        Experience::Graph => "Inbox",
        Experience::Ews => QUEUE,
    };
    assert_eq!(
        h.entries()[0].folder.as_deref(),
        Some(queue),
        "the link names where the message still is"
    );
    assert_eq!(h.in_queue(), 1, "the message was not moved");
    crash.store(false, Ordering::SeqCst);
    h.reopen(None);
    let r = h.run().await;
    assert_eq!((r.messages_logged, r.messages_already_logged), (0, 1));
    assert_eq!(h.entries().len(), 2, "no entry twice");
    assert_eq!((h.in_queue(), h.in_storage()), (0, 1));
    let e = &h.entries()[0];
    assert!(
        h.emulator.resolve_web_link(&e.web_link).is_some(),
        "the link was updated after the move"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_sign_in_stops_the_job_with_an_actionable_status() {
    let h = Harness::start(vec![message("<s@x>", "S", ANDY, &[JO], &[])], vec![]).await;
    h.enable(50).await;
    h.emulator.expire_refresh_tokens();
    h.emulator.expire_access_tokens_after(0);
    // The cached access token is also refused, so the job must refresh.
    match h.run_outcome().await {
        JobOutcome::Error(email_logging_host::runtime::RunError::SignInRequired(m)) => {
            assert!(m.contains("AADSTS700082"), "{m}")
        }
        other => panic!("expected sign-in required, got {other:?}"),
    }
    let setup = h.erp.runtime.setup_get(h.company).await.unwrap().unwrap();
    let job = email_logging_host::jobs::get(&h.erp.db, h.company, "email-logging")
        .unwrap()
        .unwrap();
    assert!(setup.status.contains("AADSTS700082"), "{}", setup.status);
    assert_eq!(job.status, "on-hold");
    assert!(job.last_error.unwrap().contains("Sign in again"));
    assert_eq!(h.in_queue() + h.in_storage(), 1, "nothing lost");
}

in_both_experiences!(
    outbound_with_to_and_cc_contacts,
    inbound_to_two_salespeople,
    match_on_email_2,
    match_on_alternative_address_records_code_and_company,
    case_and_surrounding_spaces_do_not_matter,
    internal_only_is_not_logged,
    external_only_is_not_logged,
    unknown_sender_is_not_logged,
    draft_is_not_logged,
    no_recipients_is_not_logged,
    duplicate_internet_message_id_is_logged_once,
    message_without_internet_message_id_is_logged_once,
    null_sender_falls_back_to_from,
    an_address_of_a_salesperson_and_a_contact_counts_as_the_salesperson,
    a_malformed_address_beside_a_valid_one,
    a_2000_character_subject_is_truncated_not_refused,
    more_messages_than_one_page_are_all_logged_oldest_first,
    paging_follows_next_links_past_messages_left_in_the_inbox,
    the_stored_link_opens_the_moved_message,
    a_crash_after_the_entries_and_before_the_move_is_completed_by_the_next_run,
);
