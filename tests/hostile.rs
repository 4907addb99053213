//! The hostile corpus: malformed and adversarial messages mixed with good
//! ones. Each ends logged, not logged or quarantined with a reason; nothing
//! traps; every good message is logged.

use email_logging_e2e::*;
use email_logging_host::host::CrashPoint;
use serde_json::{Value, json};

fn r(a: &str) -> Value {
    json!({"emailAddress": {"name": "x", "address": a}})
}

/// (message, expected entries or None when it must not be logged).
fn corpus() -> Vec<(Value, Option<usize>)> {
    let mut c: Vec<(Value, Option<usize>)> = Vec::new();
    let mut bad = |f: &dyn Fn(&mut Value)| {
        let mut m = message(&format!("<bad-{}@x>", c.len()), "Bad", JO, &[ANDY], &[]);
        f(&mut m);
        c.push((m, None));
    };
    bad(&|m| {
        m.as_object_mut().unwrap().remove("sender");
        m.as_object_mut().unwrap().remove("from");
    });
    bad(&|m| {
        m["sender"] = Value::Null;
        m["from"] = Value::Null;
    });
    bad(&|m| {
        m["sender"] = json!("jim.olive@cronus.example");
        m["from"] = json!(42);
    });
    bad(&|m| {
        m["sender"] = json!({"emailAddress": null});
        m["from"] = json!({"emailAddress": {"address": 7}});
    });
    bad(&|m| {
        m["sender"] = r(
            "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=jim",
        );
        m["from"] = m["sender"].clone();
    });
    bad(&|m| m["toRecipients"] = Value::Null);
    bad(&|m| m["toRecipients"] = json!("andy.teal@cannongroup.example"));
    bad(&|m| m["toRecipients"] = json!([null, 3, "x", {"emailAddress": null}]));
    bad(&|m| m["toRecipients"] = json!([r("/o=Org/cn=Recipients/cn=andy")]));
    bad(&|m| m["toRecipients"] = json!([r("andy@cannongroup")]));
    bad(&|m| m["toRecipients"] = json!([r("Andy Teal <andy.teal@cannongroup.example>")]));
    bad(&|m| m["toRecipients"] = json!([r("andy.teal@cannongroup.example.")]));
    bad(&|m| m["toRecipients"] = json!([r(&format!("{}@cannongroup.example", "a".repeat(300)))]));
    bad(&|m| m["toRecipients"] = json!([{"emailAddress": {"name": "Andy, no address"}}]));
    bad(&|m| {
        m["sender"] = r("   ");
        m["from"] = r("");
    });
    bad(&|m| m["isDraft"] = json!(true));
    bad(&|m| {
        // Only the shared mailbox itself as recipient.
        m["toRecipients"] = json!([r(MAILBOX)]);
    });
    bad(&|m| {
        m["sender"] = r(MAILBOX);
        m["from"] = r(MAILBOX);
    });
    bad(&|m| m["toRecipients"] = json!([r("andy.teal@cannongroup.example\u{0}")]));
    bad(&|m| m["toRecipients"] = json!([r(&"x".repeat(100_000))]));

    let mut good = |f: &dyn Fn(&mut Value), entries: usize| {
        let mut m = message(&format!("<good-{}@x>", c.len()), "Good", JO, &[ANDY], &[]);
        f(&mut m);
        c.push((m, Some(entries)));
    };
    good(&|_| {}, 1);
    good(&|m| m["subject"] = json!(42), 1);
    good(&|m| m["subject"] = Value::Null, 1);
    good(&|m| m["subject"] = json!("x".repeat(1 << 20)), 1);
    good(
        &|m| m["subject"] = json!("Bell\u{7} NUL\u{0} ESC\u{1b}[31m red \u{202e}reversed 😀"),
        1,
    );
    good(&|m| m["sentDateTime"] = json!("yesterday"), 1);
    good(&|m| m["sentDateTime"] = json!("2026-13-45T99:00:00Z"), 1);
    good(
        &|m| {
            let o = m.as_object_mut().unwrap();
            o.remove("sentDateTime");
            o.remove("receivedDateTime");
        },
        1,
    );
    good(&|m| m["isDraft"] = json!("yes"), 1);
    good(&|m| m["isDraft"] = Value::Null, 1);
    good(&|m| m["internetMessageId"] = json!(""), 1);
    good(&|m| m["internetMessageId"] = json!(12345), 1);
    good(
        &|m| {
            m["toRecipients"] = json!([
                r("  ANDY.TEAL@cannongroup.EXAMPLE  "),
                r("andy.teal@cannongroup.example")
            ])
        },
        1,
    );
    good(&|m| m["toRecipients"] = json!(vec![r(ANDY); 100]), 1);
    good(
        &|m| {
            // The most a message may have: 5,000 with the shared mailbox.
            let mut many: Vec<Value> = (0..4998)
                .map(|i| r(&format!("person{i}@somewhere-else.example")))
                .collect();
            many.push(r(MINDY));
            m["toRecipients"] = json!(many);
        },
        1,
    );
    good(
        &|m| {
            m["toRecipients"] = json!([]);
            m["ccRecipients"] = json!([]);
            m["bccRecipients"] = json!([r(ADATUM), r(MAILBOX)]);
        },
        1,
    );
    good(&|m| m["from"] = r(MAILBOX), 1); // sent on behalf: sender wins
    good(
        &|m| m["unknownField"] = json!({"deep": [[[[{"x": null}]]]]}),
        1,
    );
    good(
        &|m| m["toRecipients"] = json!([r(ANDY), r("/o=Org/cn=x"), r("bad"), null]),
        1,
    );
    good(
        &|m| {
            m["sender"] = r(ANDY);
            m["from"] = r(ANDY);
            m["toRecipients"] = json!([r(JO), r(LT), r(BC)]);
        },
        3,
    );
    // Three copies of one message (BCC copies and a forwarded duplicate).
    for _ in 0..3 {
        c.push((message("<same@x>", "Same", LT, &[ADATUM], &[]), Some(1)));
    }
    c
}

async fn the_hostile_corpus_is_handled_message_by_message(x: Experience) {
    let corpus = corpus();
    // Exchange writes a NUL as `&#x0;`, which no XML parser takes: over EWS
    // such an item spoils its answer, and is quarantined alone.
    let spoiled = |m: &Value| x == Experience::Ews && m.to_string().contains("\\u0000");
    assert_eq!(
        corpus
            .iter()
            .filter(|(m, _)| m.to_string().contains("\\u0000"))
            .count(),
        2
    );
    assert!(corpus.iter().filter(|(_, e)| e.is_none()).count() >= 20);
    assert!(corpus.len() >= 40);
    // A message whose key is too long for the ERP: quarantined, not looping.
    let mut huge_key = message(
        &format!("<{}@x>", "k".repeat(5000)),
        "Huge key",
        JO,
        &[ANDY],
        &[],
    );
    huge_key["receivedDateTime"] = json!("2026-11-10T09:00:04Z");
    let mut inbox: Vec<Value> = corpus.iter().map(|(m, _)| m.clone()).collect();
    inbox.push(huge_key);
    let h = Harness::start_in(x, inbox, vec![]).await;
    h.enable(20).await;
    let mut reports = Vec::new();
    for _ in 0..5 {
        let r = h.run().await;
        let drained = r.inbox_drained;
        reports.push(r);
        if drained {
            break;
        }
    }
    let last = reports.last().unwrap();
    assert!(last.inbox_drained, "{last:?}");
    assert_eq!(h.in_queue(), 0, "nothing left behind");
    let quarantined: u32 = reports.iter().map(|r| r.messages_quarantined).sum();
    let why: Vec<_> = reports
        .iter()
        .flat_map(|r| &r.ledger)
        .filter(|l| l.outcome == email_logging_host::runtime::Outcome::Quarantined)
        .collect();
    let expected_quarantined = 1 + corpus.iter().filter(|(m, _)| spoiled(m)).count();
    assert_eq!(
        quarantined as usize, expected_quarantined,
        "only the message with the oversized key (and over EWS those with a NUL): {why:?}"
    );
    assert_eq!(h.in_quarantine(), expected_quarantined);
    let activity = email_logging_host::crm::activities(&h.erp.db, h.company).unwrap();
    assert!(
        activity
            .iter()
            .any(|a| a.description.starts_with("quarantined: "))
    );

    // Every good message is logged with the expected number of entries.
    let entries = h.entries();
    let kept = || corpus.iter().filter(|(m, _)| !spoiled(m));
    let expected: usize = kept().filter_map(|(_, e)| *e).sum::<usize>() - 2; // the 3 copies log once
    assert_eq!(entries.len(), expected, "{entries:#?}");
    let not_logged: u32 = reports
        .iter()
        .flat_map(|r| r.not_logged.iter())
        .map(|x| x.count)
        .sum();
    assert_eq!(
        not_logged as usize,
        kept().filter(|(_, e)| e.is_none()).count()
    );
    for e in &entries {
        assert!(
            e.subject.chars().all(|c| !c.is_control()),
            "{:?}",
            e.subject
        );
        assert!(e.subject.chars().count() <= email_logging_host::crm::SUBJECT_LEN);
        assert!(e.datetime.ends_with('Z'), "{}", e.datetime);
    }
    // Every outcome but logging has a reason.
    for line in reports.iter().flat_map(|r| r.ledger.iter()) {
        use email_logging_host::runtime::Outcome::*;
        match line.outcome {
            Logged | AlreadyLogged => {}
            NotLogged | Quarantined | Deferred => assert!(line.reason.is_some(), "{line:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_disappears_between_list_and_move() {
    use std::sync::{Arc, Mutex, OnceLock};
    let emulator: Arc<OnceLock<graph_emulator::Emulator>> = Arc::new(OnceLock::new());
    let done = Arc::new(Mutex::new(false));
    let (e, d) = (emulator.clone(), done.clone());
    // Just before the first move goes out, a person deletes the message for
    // good in Outlook (a move by hand alone would not do: the immutable id
    // follows the message, and the job would still move it).
    let hook: email_logging_host::host::CrashHook = Arc::new(move |at| {
        let mut done = d.lock().unwrap();
        // Armed once enabling (whose checklist moves a probe) is done.
        let Some(em) = e.get() else {
            return false;
        };
        let batch = matches!(at, CrashPoint::Request { method: "POST", url, .. } if url.ends_with("/$batch"));
        if (at.is_move() || batch) && !*done {
            *done = true;
            let id = em.messages(MAILBOX, "inbox")[0]["id"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(em.move_by_hand(MAILBOX, &id, "deleteditems"));
            assert!(em.remove_folder(MAILBOX, "deleteditems"));
        }
        false
    });
    let h = Harness::start_with(
        vec![message("<gone@x>", "Gone", JO, &[ANDY], &[])],
        vec![],
        graph_emulator::EmulatorConfig::default(),
        Some(hook),
    )
    .await;
    h.enable(50).await;
    emulator.set(h.emulator.clone()).unwrap();
    let r = h.run().await;
    assert!(*done.lock().unwrap(), "the hook moved the message");
    assert_eq!(r.messages_logged, 1, "its entries are kept: {r:?}");
    assert_eq!(h.entries().len(), 1);
    assert_eq!(h.count("inbox"), 0);
    let activity = email_logging_host::crm::activities(&h.erp.db, h.company).unwrap();
    assert!(activity.iter().any(|a| {
        a.description
            .contains("left the Inbox before it could be moved")
    }));
}

in_both_experiences!(the_hostile_corpus_is_handled_message_by_message);
