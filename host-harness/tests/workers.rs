//! The reference host on a real PostgreSQL, end to end. The demo gives the
//! same output as on SQLite. Many workers: three `serve` processes share the job
//! queue of fifty companies, each draining its own mailbox, with Graph
//! faults and throttling, while workers that hold a lease are killed with
//! SIGKILL (some started again at once, some only after their lease ran out).
//! In the end every message is logged exactly once and moved, every job was
//! run by one worker at a time, and every recorded run's ledger balances.

use email_logging_host::bench::World;
use email_logging_host::bench::workers::{WorkerPool, wait_drained};
use email_logging_host::jobs::{self, JobLogLine};
use email_logging_host::store::{self, CompanyId, Location};
use std::time::{Duration, Instant};

const COMPANIES: usize = 50;
const MESSAGES: usize = 30;
const WORKERS: usize = 3;
const KILLS: usize = 6;
const LEASE_SECONDS: u64 = 3;

/// Interaction log entries the generated messages of one mailbox make:
/// a contact writing to a salesperson makes one, a salesperson writing to a
/// contact with another on copy two, internal and unknown mail none.
fn expected(messages: usize) -> (i64, i64) {
    let (mut logged, mut entries) = (0, 0);
    for i in 0..messages {
        match i % 10 {
            0..=4 => (logged, entries) = (logged + 1, entries + 1),
            5..=7 => (logged, entries) = (logged + 1, entries + 2),
            _ => {}
        }
    }
    (logged, entries)
}

/// A worker slot whose process holds a live lease, and the company whose
/// job it holds.
fn lease_holder(world: &World, pool: &WorkerPool) -> Option<(usize, CompanyId)> {
    let now = jobs::now_ms();
    world.companies.iter().find_map(|(c, _)| {
        let (owner, _) =
            store::jobs::lease_holder(&world.erp.db, *c, "email-logging", now).unwrap()?;
        let slot = pool
            .workers
            .iter()
            .position(|w| owner.contains(&format!("/{}:", w.id())))?;
        Some((slot, *c))
    })
}

/// Waits until another worker took `company`'s job over from `dead`.
fn wait_taken_over(world: &World, company: CompanyId, dead: u32) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(LEASE_SECONDS + 15) {
        let holder =
            store::jobs::lease_holder(&world.erp.db, company, "email-logging", jobs::now_ms())
                .unwrap();
        let dead_holds = holder
            .as_ref()
            .is_some_and(|(o, _)| o.contains(&format!("/{dead}:")));
        let status = jobs::get(&world.erp.db, company, "email-logging")
            .unwrap()
            .unwrap()
            .status;
        if !dead_holds && (holder.is_some() || status != "in-process") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn assert_one_worker_at_a_time(company: CompanyId, log: &[JobLogLine]) {
    let mut runs: Vec<&JobLogLine> = log
        .iter()
        .filter(|l| l.outcome != "interrupted" && l.worker.is_some())
        .collect();
    runs.sort_by_key(|l| l.started_at_ms);
    for pair in runs.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(
            a.ended_at_ms.unwrap() <= b.started_at_ms.unwrap(),
            "company {company}: run {} ({:?}) and run {} ({:?}) overlap",
            a.id,
            a.worker,
            b.id,
            b.worker
        );
        assert!(
            a.lease_token < b.lease_token,
            "company {company}: a later run holds a newer lease"
        );
    }
}

fn assert_balanced(world: &World, company: CompanyId, line: &JobLogLine) {
    let Some(r) = &line.report else {
        return;
    };
    let n = |k: &str| r[k].as_i64().unwrap_or_else(|| panic!("{k} in {r}"));
    let not_logged: i64 = r["not_logged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["count"].as_i64().unwrap())
        .sum();
    let seen = n("messages_seen");
    assert_eq!(
        seen,
        n("messages_logged")
            + n("messages_already_logged")
            + not_logged
            + n("messages_quarantined")
            + n("messages_deferred"),
        "company {company}, run {}: the report balances",
        line.id
    );
    let totals = jobs::ledger_totals(&world.erp.db, line.id).unwrap();
    assert_eq!(
        totals.values().sum::<i64>(),
        seen,
        "company {company}, run {}: one ledger line per message seen",
        line.id
    );
    let get = |k: &str| totals.get(k).copied().unwrap_or(0);
    assert_eq!(get("logged"), n("messages_logged"));
    assert_eq!(get("deferred"), n("messages_deferred"));
    assert_eq!(get("not-logged"), not_logged);
}

#[test]
fn three_workers_fifty_companies_faults_and_sigkills() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = email_logging_host::pg_cluster::fresh_database()
        .expect("a PostgreSQL server for the workers test (.ci/run installs Debian's postgresql)");
    let world = rt
        .block_on(World::new_on(
            COMPANIES,
            MESSAGES,
            10,
            &Location::Postgres(url.clone()),
        ))
        .unwrap();
    // As an administrator would set the job queue entries for a busy day:
    // every 5 seconds, retried after 1.
    for (company, _) in &world.companies {
        jobs::ensure(&world.erp.db, *company, "email-logging", 5, 0, 3, 1).unwrap();
    }
    world
        .emulator
        .set_throttling(Some(graph_emulator::Throttling::default()));
    world.emulator.set_faults(
        graph_emulator::Faults::parse("429=0.02,503=0.02,reset=0.01,retry-after=1s,seed=16")
            .unwrap(),
    );

    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_email-logging-host"));
    let mut pool = WorkerPool::new(exe, world.dir.path(), &world.base, &url, LEASE_SECONDS);
    pool.start(WORKERS).unwrap();
    let started = Instant::now();
    let mut kills = 0;
    while kills < KILLS && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(700 + 300 * (kills as u64 % 3)));
        let Some((slot, company)) = lease_holder(&world, &pool) else {
            continue;
        };
        let dead = pool.workers[slot].id();
        pool.kill(slot).unwrap();
        kills += 1;
        if kills % 2 == 1 {
            // Nobody starts on this machine meanwhile (a starting worker
            // would close the dead one's run at once): its lease runs out,
            // and one of the others takes the job over.
            assert!(
                wait_taken_over(&world, company, dead),
                "company {company}'s job was not taken over from the dead worker {dead}"
            );
        }
        pool.restart(slot).unwrap();
    }
    assert_eq!(kills, KILLS, "every kill hit a worker holding a lease");
    rt.block_on(wait_drained(&world, Duration::from_secs(300)))
        .unwrap_or_else(|e| panic!("{e:#}; worker logs in {}", world.dir.path().display()));
    // The last runs record their outcome.
    let settle = Instant::now();
    while world.companies.iter().any(|(c, _)| {
        jobs::get(&world.erp.db, *c, "email-logging")
            .unwrap()
            .is_some_and(|j| j.status == "in-process")
    }) {
        assert!(
            settle.elapsed() < Duration::from_secs(60),
            "runs never ended"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    pool.stop();

    let (logged, entries) = expected(MESSAGES);
    let mut interrupted = 0;
    let mut taken_over = 0;
    let mut workers_seen = std::collections::BTreeSet::new();
    let mut all_runs: Vec<JobLogLine> = Vec::new();
    for (company, mailbox) in &world.companies {
        let counts = world.emulator.folder_counts(mailbox);
        assert_eq!(counts["inbox"], 0, "{mailbox}: {counts:?}");
        assert_eq!(
            (counts["archive"], counts["Not logged"]),
            (logged as usize, MESSAGES - logged as usize),
            "{mailbox}: everything moved once: {counts:?}"
        );
        let db = &world.erp.db;
        assert_eq!(
            store::entries::logged_count(db, *company).unwrap(),
            logged,
            "{mailbox}: every loggable message logged once"
        );
        assert_eq!(
            store::entries::count_for_company(db, *company).unwrap(),
            entries,
            "{mailbox}: no entry twice"
        );
        let log = jobs::log(db, *company, 10_000).unwrap();
        assert_one_worker_at_a_time(*company, &log);
        for line in &log {
            assert_balanced(&world, *company, line);
            workers_seen.extend(line.worker.clone());
        }
        all_runs.extend(log.iter().filter(|l| l.worker.is_some()).cloned());
        interrupted += log.iter().filter(|l| l.outcome == "interrupted").count();
        taken_over += email_logging_host::crm::activities(db, *company)
            .unwrap()
            .iter()
            .filter(|a| a.description.contains("stopped renewing its lease"))
            .count();
    }
    assert!(
        interrupted >= 1,
        "the killed workers' runs are closed as interrupted"
    );
    assert!(
        taken_over >= KILLS / 2,
        "a run whose worker died is taken over when its lease runs out"
    );
    let overlapping = all_runs.iter().any(|a| {
        all_runs.iter().any(|b| {
            a.id != b.id
                && a.worker == b.worker
                && a.started_at_ms < b.ended_at_ms
                && b.started_at_ms < a.ended_at_ms
        })
    });
    assert!(
        overlapping,
        "a worker has several runs (of other companies) going at once"
    );
    assert!(
        workers_seen.len() > WORKERS,
        "restarted workers ran jobs too: {workers_seen:?}"
    );
    eprintln!(
        "{kills} SIGKILLs, {interrupted} runs interrupted ({taken_over} taken over on an expired lease), {} workers, {:?}",
        workers_seen.len(),
        started.elapsed()
    );
}

/// `demo --json` with `args` and the data directory `home`: its entries,
/// folder counts and report counts.
fn demo(args: &[&str], home: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_email-logging-host"))
        .args(args)
        .env("EMAIL_LOGGING_HOME", home)
        .env_remove("EMAIL_LOGGING_KEY")
        .args(["demo", "--json"])
        .env_remove("EMAIL_LOGGING_DATABASE")
        .env("EMAIL_LOGGING_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["report"];
    serde_json::json!({
        "entries": v["entries"],
        "mailbox": v["mailbox"],
        "counts": [r["messages_seen"], r["messages_logged"], r["entries_created"], r["not_logged"]],
    })
}

#[test]
fn the_demo_on_postgresql_gives_the_same_output_in_a_company_of_its_own() {
    let url = email_logging_host::pg_cluster::fresh_database().unwrap();
    let home = tempfile::tempdir().unwrap();
    let on_sqlite = demo(&[], home.path());
    assert!(on_sqlite["entries"].as_array().unwrap().len() > 5);
    let on_postgres = demo(&["--database", &url], home.path());
    assert_eq!(on_postgres, on_sqlite);
    // A second demo on the same database starts from nothing again.
    assert_eq!(demo(&["--database", &url], home.path()), on_sqlite);
    let db = store::Store::open_postgres(&url).unwrap();
    let companies = db.companies().unwrap();
    assert_eq!(companies.len(), 2, "{companies:?}");
    assert!(companies.iter().all(|(_, n)| n.starts_with("CRONUS demo ")));
}

#[test]
fn a_database_password_is_never_shown() {
    let run = |database: &str| {
        let home = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_email-logging-host"))
            .args(["--database", database, "jobs"])
            .env("EMAIL_LOGGING_HOME", home.path())
            .env("EMAIL_LOGGING_LOG", "debug")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{database} cannot work");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("hunter2"), "the password leaked: {all}");
        all
    };
    let typo = run("postgress://erp:hunter2@127.0.0.1:1/erp");
    assert!(typo.contains("is not a database"), "{typo}");
    // Nobody listens on port 1: the error names the database, not the password.
    let unreachable = run("postgres://erp:hunter2@127.0.0.1:1/erp");
    assert!(unreachable.contains("erp:***@127.0.0.1:1"), "{unreachable}");
}
