//! The ERP's extension points and the privacy and matching controls the
//! reference host builds on them, end to end: the real component in the
//! real host, configured per company through a CRM seed, against the
//! emulator over HTTP, in both experiences.

use email_logging_e2e::*;
use email_logging_host::crm::ContactView;
use email_logging_host::crm::policy::{ListChange, PolicyChange};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A product on the sample CRM plus `seed` (records and `email_logging`),
/// enabled, with `queue` waiting.
async fn start(x: Experience, seed: Value, queue: Vec<Value>) -> Harness {
    let h = Harness::start_in(x, queue, vec![]).await;
    h.erp
        .import_crm_and_setup(h.company, &seed.to_string())
        .await
        .expect("the seed imports");
    h.enable(50).await;
    h
}

/// A message to `to`, with `name` as the recipient's display name.
fn to_named(imid: &str, from: &str, to: &str, name: &str) -> Value {
    let mut m = message(imid, "Quote", from, &[], &[]);
    m["toRecipients"] = json!([{"emailAddress": {"name": name, "address": to}}]);
    m
}

fn made_by_email_logging(h: &Harness) -> Vec<ContactView> {
    h.erp
        .contacts(h.company, None, 1000)
        .unwrap()
        .into_iter()
        .filter(|c| c.created_by.as_deref() == Some("email-logging"))
        .collect()
}

fn activity_mentions(h: &Harness, text: &str) -> bool {
    h.erp
        .recent_activities(h.company, 1000)
        .unwrap()
        .iter()
        .any(|a| a.description.contains(text))
}

const NEWCOMER: &str = "ann.new@adatum.example";

async fn company_by_domain_creates_the_contact_once_and_logs_to_it(x: Experience) {
    let h = start(
        x,
        json!({"email_logging": {"company_by_domain": true}}),
        vec![to_named("<cbd1@x>", JO, NEWCOMER, "Ann New")],
    )
    .await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 1, "{r:?}");
    let made = made_by_email_logging(&h);
    assert_eq!(made.len(), 1, "{made:?}");
    let c = &made[0];
    assert_eq!(c.name, "Ann New");
    assert_eq!(c.email.as_deref(), Some(NEWCOMER));
    assert_eq!(c.company_no.as_deref(), Some("CT000030"), "Adatum's domain");
    assert_eq!(c.kind, "person");
    let entries = h.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].contact_no, c.no);
    assert_eq!(entries[0].contact_company_no.as_deref(), Some("CT000030"));
    assert!(activity_mentions(&h, &c.no), "the new contact is listed");

    // The next message finds the contact by lookup: no second one.
    h.deliver(message("<cbd2@x>", "Re: Quote", NEWCOMER, &[JO], &[]));
    let r = h.run().await;
    assert_eq!(r.messages_logged, 1, "{r:?}");
    assert_eq!(made_by_email_logging(&h).len(), 1);
    let entries = h.entries();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.contact_no == c.no));
}

async fn company_by_domain_needs_exactly_one_company_and_no_public_domain(x: Experience) {
    let seed = json!({
        "contacts": [
            // Claims Adatum's domain too: two owners, nobody decides.
            {"no": "CT000040", "name": "Adatum Holding", "type": "company",
             "domains": ["adatum.example"]},
            // A company that writes from a public mail domain owns none of it.
            {"no": "CT000050", "name": "Solo Consulting", "type": "company",
             "email": "solo.consulting@gmail.com"},
        ],
        "email_logging": {"company_by_domain": true},
    });
    let h = start(
        x,
        seed,
        vec![
            to_named("<two@x>", JO, "bob@adatum.example", "Bob"),
            to_named("<pub@x>", JO, "someone@gmail.com", "Someone"),
        ],
    )
    .await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 0, "{r:?}");
    assert_eq!(not_logged(&r, "no-contact-among-recipients"), 2);
    assert!(made_by_email_logging(&h).is_empty());
    assert!(h.entries().is_empty());
}

async fn company_by_domain_is_off_unless_chosen(x: Experience) {
    let h = start(
        x,
        json!({}),
        vec![to_named("<off@x>", JO, NEWCOMER, "Ann New")],
    )
    .await;
    let r = h.run().await;
    assert_eq!(not_logged(&r, "no-contact-among-recipients"), 1, "{r:?}");
    assert!(made_by_email_logging(&h).is_empty());
}

async fn never_log_by_address_and_by_domain(x: Experience) {
    let seed = json!({"email_logging": {"never_log": [ANDY, "selangorian.example"]}});
    let h = start(
        x,
        seed,
        vec![
            message("<nl1@x>", "Salary review", JO, &[ANDY], &[]),
            message("<nl2@x>", "Complaint", MINDY, &[JO], &[]),
            message("<nl3@x>", "Quote", JO, &[ADATUM], &[]),
        ],
    )
    .await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 1, "{r:?}");
    assert_eq!(not_logged(&r, "skipped-by-erp"), 2);
    let reasons: Vec<_> = r
        .ledger
        .iter()
        .filter_map(|l| l.reason.as_deref())
        .collect();
    assert_eq!(reasons, ["never-log", "never-log"]);
    assert_eq!(
        pairs(&h.entries()),
        [("CT000030".into(), "JO".into(), "outbound".into())]
    );
    assert_eq!(h.in_not_logged(), 2, "by the not-logged policy");
    assert!(activity_mentions(&h, "not logged (never-log)"));
    for kept_out in ["Salary review", "Complaint"] {
        assert!(
            !activity_mentions(&h, kept_out),
            "{kept_out} is stored nowhere"
        );
    }
}

async fn a_withheld_subject_is_stored_nowhere(x: Experience) {
    let h = start(
        x,
        json!({}),
        vec![
            message("<w1@x>", "Layoffs at Cannon", JO, &[ANDY], &[]),
            message("<w2@x>", "Quote 42", JO, &[ADATUM], &[]),
        ],
    )
    .await;
    h.erp
        .change_policy(
            h.company,
            &PolicyChange {
                withheld_subject_domains: ListChange::replace_with(vec![
                    "cannongroup.example".into(),
                ]),
                ..Default::default()
            },
        )
        .unwrap();
    let r = h.run().await;
    assert_eq!(r.messages_logged, 2, "{r:?}");
    let mut subjects: Vec<_> = h.entries().into_iter().map(|e| e.subject).collect();
    subjects.sort();
    assert_eq!(subjects, ["(subject withheld)", "Quote 42"]);
    assert!(!activity_mentions(&h, "Layoffs"));
}

async fn private_mail_is_not_logged_unless_the_setup_says_so(x: Experience) {
    let private = |imid: &str| {
        let mut m = message(imid, "Private matter", ANDY, &[JO], &[]);
        m["singleValueExtendedProperties"] = json!([{"id": "Integer 0x36", "value": "3"}]);
        m
    };
    let h = start(x, json!({}), vec![private("<s1@x>")]).await;
    let r = h.run().await;
    assert_eq!(not_logged(&r, "sensitive"), 1, "on by default: {r:?}");
    assert!(h.entries().is_empty());
    assert!(!activity_mentions(&h, "Private matter"));

    let h = start(
        x,
        json!({"email_logging": {"log_sensitive": true}}),
        vec![private("<s2@x>")],
    )
    .await;
    let r = h.run().await;
    assert_eq!(r.messages_logged, 1, "the seed turned it off: {r:?}");
}

async fn after_log_keeps_each_contacts_last_email_date(x: Experience) {
    let h = start(
        x,
        json!({}),
        vec![message("<al@x>", "Quote", JO, &[ANDY], &[])],
    )
    .await;
    h.run().await;
    let andy = h.erp.contact(h.company, "CT000011").unwrap().unwrap();
    assert_eq!(andy.last_email_at.as_deref(), Some("2026-11-10T09:00:00Z"));
}

async fn a_failing_after_log_changes_nothing_else(x: Experience) {
    let mut h = start(
        x,
        json!({}),
        vec![message("<af@x>", "Quote", JO, &[ANDY], &[])],
    )
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    h.reopen_with_after_log_fault(Arc::new(move || {
        seen.fetch_add(1, Ordering::SeqCst);
        Some("the follow-up service is down".into())
    }));
    let r = h.run().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "asked once for the page");
    assert_eq!((r.messages_logged, r.messages_deferred), (1, 0), "{r:?}");
    assert!(r.stopped_early.is_none());
    assert_eq!(
        pairs(&h.entries()),
        [("CT000011".into(), "JO".into(), "outbound".into())]
    );
    assert_eq!((h.in_queue(), h.in_storage()), (0, 1), "the move stands");
    assert!(activity_mentions(&h, "the follow-up service is down"));
    let andy = h.erp.contact(h.company, "CT000011").unwrap().unwrap();
    assert_eq!(andy.last_email_at, None, "the failed follow-up did nothing");
    // Nothing is left for a later run to do again.
    let again = h.run().await;
    assert_eq!((again.messages_seen, again.entries_created), (0, 0));
}

in_both_experiences!(
    company_by_domain_creates_the_contact_once_and_logs_to_it,
    company_by_domain_needs_exactly_one_company_and_no_public_domain,
    company_by_domain_is_off_unless_chosen,
    never_log_by_address_and_by_domain,
    a_withheld_subject_is_stored_nowhere,
    private_mail_is_not_logged_unless_the_setup_says_so,
    after_log_keeps_each_contacts_last_email_date,
    a_failing_after_log_changes_nothing_else,
);
