//! The fault soak: 5,000 messages, over 10% of requests faulted across every
//! fault kind, throttling on, in both experiences (Graph's 429s, Exchange's
//! ErrorServerBusy). In the end every loggable message has its entry exactly
//! once, the queue is empty, nothing was deleted, and every run's ledger
//! balances.

use email_logging_e2e::*;
use email_logging_host::JobOutcome;
use email_logging_host::runtime::RunError;
use graph_emulator::{Faults, Throttling};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const MESSAGES: usize = 5000;

async fn five_thousand_messages_through_faults_and_throttling(x: Experience) {
    let inbox: Vec<_> = (0..MESSAGES)
        .map(|i| {
            // Every tenth message is from a stranger: not loggable.
            let sender = if i % 10 == 9 {
                "stranger@unknown.example"
            } else {
                ANDY
            };
            let mut m = message(
                &format!("<soak-{i}@x>"),
                &format!("Soak {i}"),
                sender,
                &[JO],
                &[],
            );
            m["receivedDateTime"] = json!(format!(
                "2026-11-10T{:02}:{:02}:{:02}Z",
                8 + i / 3600,
                (i / 60) % 60,
                i % 60
            ));
            m
        })
        .collect();
    let loggable = MESSAGES - MESSAGES / 10;
    let h = Harness::start_in(x, inbox, vec![]).await;
    h.enable(50).await;
    h.emulator
        .set_faults(Faults::parse(graph_emulator::SOAK_FAULTS).unwrap());
    // Outlook's limits, with a short window so the budget runs out in the test.
    h.emulator.set_throttling(Some(Throttling {
        max_concurrent: 4,
        max_requests: 2500,
        window: Duration::from_secs(4),
        retry_after: Duration::from_millis(50),
    }));
    let started = Instant::now();
    let (mut runs, mut throttled_runs, mut waits) = (0, 0, 0);
    while h.in_queue() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the soak did not finish: {} queued, {} stored",
            h.in_queue(),
            h.in_storage()
        );
        runs += 1;
        match h.run_outcome().await {
            JobOutcome::Report(r) => {
                assert_balanced(&h.erp.db, h.company, &r);
                waits += r.throttled_waits;
            }
            JobOutcome::Error(RunError::Throttled(s)) => {
                throttled_runs += 1;
                tokio::time::sleep(Duration::from_secs(u64::from(s).min(4))).await;
            }
            // A page or token request that kept failing: the next run goes on.
            JobOutcome::Error(RunError::Transient(_)) => {}
            other => panic!("run {runs}: {other:?}"),
        }
    }
    let requests = h.emulator.requests().len() as f64;
    let faults = h.emulator.fault_count() as f64;
    assert!(
        faults / requests >= 0.10,
        "{faults} faults in {requests} requests"
    );
    // Graph throttles with 429; Exchange with ErrorServerBusy faults.
    let throttled = h.throttled();
    match x {
        Experience::Graph => assert!(throttled > 0, "throttling was on"),
        Experience::Ews => assert!(waits + throttled_runs > 0, "throttling was on"),
    }

    assert_eq!(h.in_queue(), 0);
    assert_eq!(
        h.in_storage(),
        loggable,
        "every loggable message moved, none deleted"
    );
    assert_eq!(h.in_not_logged(), MESSAGES - loggable);
    assert_eq!(h.in_quarantine(), 0);
    if x == Experience::Graph {
        assert_eq!(h.count("deleteditems"), 0, "nothing deleted");
    }
    let entries = h.entries();
    assert_eq!(entries.len(), loggable, "one entry per loggable message");
    let keys: HashSet<_> = entries
        .iter()
        .map(|e| e.internet_message_id.clone())
        .collect();
    assert_eq!(keys.len(), loggable, "no message twice");
    eprintln!(
        "soak ({x:?}): {MESSAGES} messages in {runs} runs ({throttled_runs} throttled, {waits} waits), {requests} requests, {faults} faults, {throttled} 429s, {:?}",
        started.elapsed()
    );
}

async fn a_throttled_run_ends_early_and_postpones_the_job(x: Experience) {
    let inbox: Vec<_> = (0..30)
        .map(|i| message(&format!("<t-{i}@x>"), "T", ANDY, &[JO], &[]))
        .collect();
    let h = Harness::start_in(x, inbox, vec![]).await;
    h.enable(5).await;
    // A budget of a few requests per two minutes: the run soon hits a
    // Retry-After far beyond what it waits for by itself.
    h.emulator.set_throttling(Some(Throttling {
        max_concurrent: 4,
        max_requests: 6,
        window: Duration::from_secs(120),
        retry_after: Duration::from_secs(120),
    }));
    let before = email_logging_host::jobs::now();
    match h.run_outcome().await {
        JobOutcome::Report(r) => {
            assert_balanced(&h.erp.db, h.company, &r);
            assert!(
                r.stopped_early.as_deref().unwrap_or("").contains("throttl"),
                "{r:?}"
            );
            assert!(r.messages_deferred > 0 || r.messages_seen < 30, "{r:?}");
        }
        JobOutcome::Error(RunError::Throttled(s)) => assert!(s >= 60, "{s}"),
        other => panic!("{other:?}"),
    }
    let job = email_logging_host::jobs::get(&h.erp.db, h.company, "email-logging")
        .unwrap()
        .unwrap();
    assert!(
        job.next_run >= before + 60,
        "the job waits past Retry-After: {job:?}"
    );
    assert!(h.in_queue() > 0, "the rest waits for the next run");
    assert_eq!(
        h.in_queue() + h.in_storage(),
        30,
        "nothing deleted, nothing elsewhere"
    );
}

in_both_experiences!(
    five_thousand_messages_through_faults_and_throttling,
    a_throttled_run_ends_early_and_postpones_the_job,
);

/// The pacing window outlives a run: a run that starts soon after another
/// counts that one's requests, and stops short of the limit instead of
/// meeting a 429 it could have foreseen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_soon_after_another_paces_against_its_requests() {
    let batch = |from: usize| -> Vec<_> {
        (from..from + 10)
            .map(|i| message(&format!("<w-{i}@x>"), "W", ANDY, &[JO], &[]))
            .collect()
    };
    let h = Harness::start(batch(0), vec![]).await;
    h.enable(5).await;
    // 20 requests per two minutes, for the emulator and the component alike;
    // one run of 10 messages costs about 15 of them.
    let limits = json!({"max_requests": 20, "window_ms": 120_000, "pacing": true});
    email_logging_host::store::plugin_state::set(
        &h.erp.db,
        h.company,
        "graph-limits",
        &limits.to_string(),
    )
    .unwrap();
    h.emulator.set_throttling(Some(Throttling {
        max_concurrent: 4,
        max_requests: 20,
        window: Duration::from_secs(120),
        retry_after: Duration::from_secs(120),
    }));
    let first = h.run().await;
    assert!(
        first.inbox_drained && first.stopped_early.is_none(),
        "{first:?}"
    );
    for m in batch(10) {
        h.emulator.add_message(MAILBOX, "inbox", m).unwrap();
    }
    match h.run_outcome().await {
        JobOutcome::Report(r) => {
            assert!(
                r.stopped_early.as_deref().unwrap_or("").contains("throttl"),
                "{r:?}"
            );
        }
        JobOutcome::Error(RunError::Throttled(_)) => {}
        other => panic!("{other:?}"),
    }
    let throttled = h.throttled();
    assert_eq!(
        throttled, 0,
        "the second run knew of the first one's requests"
    );
    assert_eq!(h.in_queue() + h.in_storage(), 20, "nothing lost");
}
