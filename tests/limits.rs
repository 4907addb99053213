//! The host's limits against a component that misbehaves on purpose: each
//! fault is stopped, the job records it, and the real component runs next.

use email_logging_e2e::*;
use email_logging_host::runtime::{Limits, MISBEHAVING_COMPONENT_PATH};
use email_logging_host::{Erp, ErpOptions, JobOutcome, jobs};
use std::time::{Duration, Instant};

async fn misbehave(h: &Harness, mode: &str) -> (String, Duration) {
    let bad = Erp::open(ErpOptions {
        data_dir: h.dir.path().to_path_buf(),
        emulator: Some(h.base.clone()),
        component: Some(
            std::fs::read(MISBEHAVING_COMPONENT_PATH).expect("the build made the test component"),
        ),
        limits: Some(Limits {
            memory_bytes: 32 << 20,
            setup_timeout: Duration::from_secs(5),
            run_grace: Duration::from_secs(2),
        }),
        ..Default::default()
    })
    .unwrap();
    email_logging_host::store::plugin_state::set(&bad.db, h.company, "misbehave", mode).unwrap();
    let started = Instant::now();
    let outcome = bad
        .run_job(h.company, Duration::from_secs(1))
        .await
        .unwrap();
    let took = started.elapsed();
    match outcome {
        JobOutcome::Fault(e) => (e, took),
        other => panic!("{mode}: expected a fault, got {other:?}"),
    }
}

async fn check(mode: &str, expect: &[&str]) {
    let h = Harness::start(vec![message("<lim@x>", "Limits", ANDY, &[JO], &[])], vec![]).await;
    h.enable(50).await;
    let (fault, took) = misbehave(&h, mode).await;
    for e in expect {
        assert!(fault.contains(e), "{mode}: '{e}' in {fault}");
    }
    assert!(
        took < Duration::from_secs(30),
        "{mode}: stopped in {took:?}"
    );
    let job = jobs::get(&h.erp.db, h.company, "email-logging")
        .unwrap()
        .unwrap();
    assert_eq!(job.status, "error", "{mode}");
    assert!(job.last_error.unwrap_or_default().contains("fault") || mode == "sleep");
    let activity = email_logging_host::crm::activities(&h.erp.db, h.company).unwrap();
    assert!(
        activity
            .iter()
            .any(|a| a.severity == "error" && a.source == "job-queue"),
        "{mode}: recorded"
    );
    // The real component, next: it works.
    let r = h.run().await;
    assert_eq!(r.messages_logged, 1, "{mode}: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_is_interrupted_by_the_epoch_deadline() {
    check("loop", &["interrupt"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_limit() {
    check("memory", &["fault"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_traps_and_its_message_is_kept() {
    check("panic", &["misbehaving on purpose"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_output_is_stopped() {
    check("output", &["fault"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_sleep_is_cut_by_the_wall_clock_timeout() {
    check("sleep", &["did not finish within"]).await;
}
