//! The store suite: every kind of record the host keeps, written and read
//! back through the store's API, run once on the embedded SQLite file and
//! once on a real PostgreSQL (a throw-away cluster this test binary starts).

use email_logging_host::crm::{self, EntryFilter, Link, NewEntry, NewMessage};
use email_logging_host::crypto::SecretBox;
use email_logging_host::jobs;
use email_logging_host::store::{self, CompanyId, Location, Store, plugin_state};
use std::path::PathBuf;
use std::time::Duration;

/// One database of the suite: opened as many times as a test likes (as
/// several hosts would).
struct Db {
    location: Location,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Db {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            location: Location::Embedded,
            file: dir.path().join("email-logging.db"),
            _dir: dir,
        }
    }

    fn postgres() -> Self {
        let url = email_logging_host::pg_cluster::fresh_database().expect(
            "a PostgreSQL server for the store suite (.ci/run installs Debian's postgresql)",
        );
        let dir = tempfile::tempdir().unwrap();
        Self {
            location: Location::Postgres(url),
            file: dir.path().join("unused.db"),
            _dir: dir,
        }
    }

    fn open(&self) -> Store {
        Store::open_at(&self.location, &self.file).unwrap()
    }
}

/// Each test runs on both databases.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&super::Db::sqlite()) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(&super::Db::postgres()) })*
        }
    };
}

on_both!(
    companies_and_crm_records,
    policy_and_company_by_domain,
    entries_are_logged_once_per_key_and_a_bad_one_alone_fails,
    links_change_only_for_the_same_message,
    opportunities_once_per_entry,
    plugin_state_compare_and_swap,
    secrets_are_stored_sealed_and_resealed_all_or_nothing,
    job_queue_runs_and_ledger,
    a_lease_is_held_by_one_worker_and_fences_its_writes,
    an_expired_lease_is_taken_over_and_the_run_closed_as_interrupted,
    concurrent_workers_take_each_due_job_once,
    hosts_starting_together_migrate_once,
);

fn cronus(db: &Store) -> CompanyId {
    let c = db.company("CRONUS").unwrap();
    let seed = crm::parse_seed(graph_emulator::SAMPLE_CRM).unwrap();
    crm::import(db, c, &seed).unwrap();
    c
}

fn companies_and_crm_records(d: &Db) {
    let db = d.open();
    let c = cronus(&db);
    assert_eq!(db.company("CRONUS").unwrap(), c, "a company is made once");
    let other = db.company("Fabrikam").unwrap();
    assert_ne!(other, c);
    assert_eq!(db.find_company("Fabrikam").unwrap(), Some(other));
    assert_eq!(db.find_company("nobody").unwrap(), None);
    let names: Vec<String> = db
        .companies()
        .unwrap()
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(names, ["CRONUS", "Fabrikam"]);
    db.set_exchange_host(c, Some("mail.cronus.example"))
        .unwrap();
    assert_eq!(
        db.exchange_host(c).unwrap().as_deref(),
        Some("mail.cronus.example")
    );
    assert_eq!(db.exchange_host(other).unwrap(), None);

    let (sp, _) = crm::lookup(&db, c, "JIM.OLIVE@cronus.example").unwrap();
    assert_eq!(sp.unwrap().0, "JO", "lookups ignore case");
    let (_, contacts) = crm::lookup(&db, c, "andy.teal@cannongroup.example").unwrap();
    assert_eq!(contacts[0].0, "CT000011");
    assert_eq!(contacts[0].1.as_deref(), Some("CT000010"));
    let (nothing, none) = crm::lookup(&db, other, "jim.olive@cronus.example").unwrap();
    assert!(
        nothing.is_none() && none.is_empty(),
        "records are per company"
    );
    assert_eq!(
        crm::email_template(&db, c).unwrap().as_deref(),
        Some("EMAIL")
    );
    assert!(!crm::address_fields(&db, c).unwrap().is_empty());
    let (contact_count, _) = crm::counts(&db, c).unwrap();
    assert!(contact_count >= 5);
    let view = crm::contact(&db, c, "CT000010").unwrap().unwrap();
    assert_eq!(view.email.as_deref(), Some("info@cannongroup.example"));
    let found = crm::contacts(&db, c, Some("CANNON"), 50).unwrap();
    assert!(
        found.iter().any(|v| v.no == "CT000010"),
        "searching contacts ignores case on both databases"
    );
    // Importing again changes nothing.
    let seed = crm::parse_seed(graph_emulator::SAMPLE_CRM).unwrap();
    crm::import(&db, c, &seed).unwrap();
    assert_eq!(crm::counts(&db, c).unwrap().0, contact_count);
}

fn policy_and_company_by_domain(d: &Db) {
    let db = d.open();
    let c = cronus(&db);
    let list = |add: &[&str]| crm::policy::ListChange {
        add: add.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let p = crm::policy::change_policy(
        &db,
        c,
        &crm::policy::PolicyChange {
            company_by_domain: Some(true),
            never_log: list(&["HR@cannongroup.example", "legal.adatum.example"]),
            withheld_subject_domains: list(&["selangorian.example"]),
        },
    )
    .unwrap();
    assert!(p.company_by_domain);
    assert_eq!(
        p.never_log,
        ["hr@cannongroup.example", "legal.adatum.example"]
    );
    assert_eq!(crm::policy::policy(&db, c).unwrap(), p);

    let party = |a| crm::company_domain::UnknownParty {
        address: a,
        display_name: Some("Nina New"),
        message_key: "k1",
    };
    let made = crm::company_domain::resolve(
        &db,
        c,
        &[party("nina.new@cannongroup.example"), party("x@gmail.com")],
    )
    .unwrap();
    let nina = made[0]
        .clone()
        .expect("a contact under the one owning company");
    assert!(made[1].is_none(), "a public mail domain is nobody's");
    let again =
        crm::company_domain::resolve(&db, c, &[party("Nina.New@cannongroup.example")]).unwrap();
    assert_eq!(again[0], Some(nina.clone()), "made once");
    let view = crm::contact(&db, c, &nina.0).unwrap().unwrap();
    assert!(view.created_by_email_logging());
    assert_eq!(view.company_no.as_deref(), Some("CT000010"));
    assert!(
        crm::activities(&db, c)
            .unwrap()
            .iter()
            .any(|a| a.description.contains(&nina.0))
    );
    let recorded =
        crm::last_email::record(&db, c, &[(nina.0.clone(), "2026-11-05T10:00:00Z".into())])
            .unwrap();
    assert_eq!(recorded, 1);
    assert_eq!(
        crm::last_email::last_email_at(&db, c, &nina.0)
            .unwrap()
            .as_deref(),
        Some("2026-11-05T10:00:00Z")
    );
}

fn entry(contact: &str, flow: &'static str, subject: &str) -> NewEntry {
    NewEntry {
        contact_no: contact.into(),
        contact_company_no: Some("CT000010".into()),
        contact_alt_address_code: None,
        salesperson_code: "JO".into(),
        interaction_template_code: "EMAIL".into(),
        information_flow: flow,
        initiated_by: "us",
        subject: subject.into(),
        datetime: "2026-11-05T10:00:00Z".into(),
    }
}

fn message(key: &str, entries: Vec<NewEntry>) -> NewMessage {
    NewMessage {
        key: key.into(),
        entries,
        link: link(&format!("id-{key}")),
    }
}

fn link(id: &str) -> Link {
    Link {
        mailbox: "crm@cronus.example".into(),
        message_id: id.into(),
        internet_message_id: Some(format!("<{id}@cronus.example>")),
        web_link: format!("https://outlook.office.com/owa/?ItemID={id}"),
        folder: Some("Logged".into()),
    }
}

fn entries_are_logged_once_per_key_and_a_bad_one_alone_fails(d: &Db) {
    let db = d.open();
    let c = cronus(&db);
    let page = [
        message(
            "k1",
            vec![
                entry("CT000011", "outbound", "Quote"),
                entry("CT000010", "outbound", "Quote"),
            ],
        ),
        message("k1", vec![entry("CT000011", "outbound", "Quote, again")]),
        // The database refuses this one (no such flow); the others stay.
        message("k2", vec![entry("CT000011", "sideways", "Bad")]),
        message("k3", vec![entry("CT000011", "inbound", "Re: Quote\u{0}")]),
    ];
    let out = crm::log_page(&db, c, &page).unwrap();
    assert!(matches!(out[0], Ok(true)));
    assert!(
        matches!(out[1], Ok(false)),
        "a second copy of a key in the page"
    );
    assert!(out[2].is_err(), "the bad message fails alone");
    assert!(matches!(out[3], Ok(true)));
    let out = crm::log_page(&db, c, &page[..1]).unwrap();
    assert!(matches!(out[0], Ok(false)), "logged already");

    let all = crm::entries(&db, c, &EntryFilter::default()).unwrap();
    let nos: Vec<i64> = all.iter().map(|e| e.entry_no).collect();
    assert_eq!(nos, [1, 2, 3], "numbers without gaps");
    assert_eq!(
        all[2].subject, "Re: Quote ",
        "control characters become spaces"
    );
    assert!(all.iter().all(|e| e.email_logged));
    assert_eq!(all[0].web_link, link("id-k1").web_link);
    let of_person = crm::entries(
        &db,
        c,
        &EntryFilter {
            contact: Some("CT000011".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(of_person.len(), 2);
    let of_company = crm::entries(
        &db,
        c,
        &EntryFilter {
            contact: Some("CT000010".into()),
            from: chrono::NaiveDate::from_ymd_opt(2026, 11, 5),
            to: chrono::NaiveDate::from_ymd_opt(2026, 11, 5),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        of_company.len(),
        3,
        "a company contact shows its people's entries"
    );
    assert_eq!(
        crm::entry(&db, c, 2).unwrap().unwrap().contact_no,
        "CT000010"
    );
    assert_eq!(crm::entry(&db, c, 99).unwrap(), None);
    assert_eq!(store::entries::logged_count(&db, c).unwrap(), 2);
    assert_eq!(store::entries::count_for_company(&db, c).unwrap(), 3);
}

/// CRONUS with one message ("k1") logged: entry 1.
fn one_message_logged(d: &Db) -> (Store, CompanyId) {
    let db = d.open();
    let c = cronus(&db);
    let page = [message("k1", vec![entry("CT000011", "outbound", "Quote")])];
    assert!(matches!(crm::log_page(&db, c, &page).unwrap()[0], Ok(true)));
    (db, c)
}

fn links_change_only_for_the_same_message(d: &Db) {
    let (db, c) = one_message_logged(d);
    let moved = link("id-k1-moved");
    let changed = crm::update_links(
        &db,
        c,
        &[
            ("k1".into(), "someone-else".into(), link("id-dup")),
            ("k1".into(), "id-k1".into(), moved.clone()),
        ],
    )
    .unwrap();
    assert_eq!(changed, 1, "a duplicate copy never takes the link over");
    let links = crm::stored_links(&db, c).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].message_id, "id-k1-moved");
    assert_eq!(links[0].entry_nos, [1]);
    crm::record_link_check(&db, c, "k1", None).unwrap();
    assert_eq!(
        crm::entry(&db, c, 1).unwrap().unwrap().link_status,
        "not-found"
    );
    crm::record_link_check(&db, c, "k1", Some(&link("id-k1-found"))).unwrap();
    let e = crm::entry(&db, c, 1).unwrap().unwrap();
    assert_eq!(
        (e.link_status.as_str(), e.message_id.as_str()),
        ("ok", "id-k1-found")
    );
}

fn opportunities_once_per_entry(d: &Db) {
    let (db, c) = one_message_logged(d);
    let e = crm::entry(&db, c, 1).unwrap().unwrap();
    let first = match crm::opportunity::create_from_entry(&db, c, &e).unwrap() {
        crm::opportunity::Created::New(o) => o,
        other => panic!("expected a new opportunity, got {other:?}"),
    };
    match crm::opportunity::create_from_entry(&db, c, &e).unwrap() {
        crm::opportunity::Created::Existing(o) => assert_eq!(o.no, first.no),
        other => panic!("expected the same opportunity, got {other:?}"),
    }
    assert_eq!(crm::opportunity::list(&db, c, None).unwrap().len(), 1);
    assert_eq!(
        crm::entry(&db, c, 1).unwrap().unwrap().opportunity_no,
        Some(first.no)
    );
}

fn plugin_state_compare_and_swap(d: &Db) {
    let db = d.open();
    let c = db.company("CRONUS").unwrap();
    assert!(plugin_state::compare_and_swap(&db, c, "cursor", "a", None).unwrap());
    assert!(
        !plugin_state::compare_and_swap(&db, c, "cursor", "b", None).unwrap(),
        "it exists already"
    );
    let v = plugin_state::get(&db, c, "cursor").unwrap().unwrap();
    assert_eq!((v.value.as_str(), v.version), ("a", 1));
    assert!(plugin_state::compare_and_swap(&db, c, "cursor", "b", Some(1)).unwrap());
    assert!(
        !plugin_state::compare_and_swap(&db, c, "cursor", "c", Some(1)).unwrap(),
        "a stale version loses"
    );
    plugin_state::set(&db, c, "cursor", "d").unwrap();
    let v = plugin_state::get(&db, c, "cursor").unwrap().unwrap();
    assert_eq!((v.value.as_str(), v.version), ("d", 3));
    plugin_state::remove(&db, c, "cursor").unwrap();
    assert_eq!(plugin_state::get(&db, c, "cursor").unwrap(), None);
}

fn secrets_are_stored_sealed_and_resealed_all_or_nothing(d: &Db) {
    let db = d.open();
    let c = db.company("CRONUS").unwrap();
    let old = SecretBox::new([7; 32]);
    for name in ["client-secret", "refresh-token"] {
        let (nonce, ct) = old.seal(&format!("{c}/{name}"), "very secret value");
        plugin_state::put_sealed_secret(&db, c, name, &nonce, &ct).unwrap();
    }
    let (nonce, ct) = plugin_state::sealed_secret(&db, c, "client-secret")
        .unwrap()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&ct).contains("very secret"),
        "only ciphertext is stored"
    );
    assert_eq!(
        old.open(&format!("{c}/client-secret"), &nonce, &ct)
            .unwrap(),
        "very secret value"
    );
    assert_eq!(plugin_state::secret_count(&db).unwrap(), 2);
    let new = SecretBox::new([9; 32]);
    assert_eq!(
        email_logging_host::crypto::reencrypt(&db, &old, &new).unwrap(),
        2
    );
    assert!(email_logging_host::crypto::opens_secrets(&db, &new).unwrap());
    // A reseal that fails half-way changes nothing.
    let failed = plugin_state::reseal_all(&db, |s| {
        if s.name == "refresh-token" {
            Err(store::StoreError::NoRow)
        } else {
            Ok((vec![0; 12], vec![0; 16]))
        }
    });
    assert!(failed.is_err());
    assert!(email_logging_host::crypto::opens_secrets(&db, &new).unwrap());
    plugin_state::remove_secret(&db, c, "client-secret").unwrap();
    assert_eq!(plugin_state::remove_all_secrets(&db).unwrap(), 1);
}

fn job_queue_runs_and_ledger(d: &Db) {
    let db = d.open();
    let c = db.company("CRONUS").unwrap();
    jobs::ensure(&db, c, "email-logging", 600, 0, 3, 60).unwrap();
    assert_eq!(jobs::due(&db, jobs::now()).unwrap().len(), 1);
    jobs::postpone(&db, c, "email-logging", jobs::now() + 3600).unwrap();
    assert!(jobs::due(&db, jobs::now()).unwrap().is_empty(), "postponed");
    let ledger = [
        jobs::LedgerRow {
            message_id: "m1",
            internet_message_id: Some("<m1@x>"),
            outcome: "logged",
            reason: None,
            entries: 2,
        },
        jobs::LedgerRow {
            message_id: "m2",
            internet_message_id: None,
            outcome: "not-logged",
            reason: Some("no-contact"),
            entries: 0,
        },
    ];
    let stamp = jobs::RunStamp {
        worker: jobs::this_process(),
        started_at_ms: jobs::now_ms() - 1000,
        lease_token: Some(4),
    };
    let run = jobs::record_report(
        &db,
        c,
        "email-logging",
        "success",
        Some("{\"seen\":2}"),
        &ledger,
        &stamp,
    )
    .unwrap();
    assert_eq!(jobs::runs(&db, c).unwrap(), [run]);
    let totals = jobs::ledger_totals(&db, run).unwrap();
    assert_eq!((totals["logged"], totals["not-logged"]), (1, 1));
    let log = jobs::log(&db, c, 10).unwrap();
    assert_eq!(log[0].report.as_ref().unwrap()["seen"], 2);
    assert_eq!(log[0].worker.as_deref(), Some(stamp.worker.as_str()));
    assert_eq!(log[0].lease_token, Some(4));
    assert!(log[0].ended_at_ms.unwrap() >= stamp.started_at_ms + 1000);
    jobs::finish(&db, c, "email-logging", jobs::RunEnd::Failed("boom".into())).unwrap();
    let e = jobs::get(&db, c, "email-logging").unwrap().unwrap();
    assert_eq!((e.status.as_str(), e.attempts), ("error", 1));
    jobs::remove(&db, c, "email-logging").unwrap();
    assert!(jobs::list(&db, c).unwrap().is_empty());
}

fn a_lease_is_held_by_one_worker_and_fences_its_writes(d: &Db) {
    let db = d.open();
    let c = db.company("CRONUS").unwrap();
    jobs::ensure(&db, c, "email-logging", 600, 0, 3, 60).unwrap();
    let lease = Duration::from_secs(60);
    let taken = jobs::take_next(&db, "email-logging", lease)
        .unwrap()
        .unwrap();
    assert_eq!(taken.entry.company_id, c);
    assert!(taken.interrupted.is_none());
    assert!(
        jobs::take_next(&d.open(), "email-logging", lease)
            .unwrap()
            .is_none(),
        "a held job is nobody else's"
    );
    let held = jobs::take(&d.open(), c, "email-logging", lease).unwrap_err();
    assert!(held.to_string().contains("another worker"), "{held}");
    let until = jobs::now_ms() + 60_000;
    assert!(jobs::renew(&db, &taken.fence, until).unwrap());

    let fenced = db.fenced(taken.fence.clone());
    crm::log_activity(&fenced, c, "test", "info", "written under the lease", None).unwrap();
    let stale = db.fenced(store::Fence {
        token: taken.fence.token - 1,
        ..taken.fence.clone()
    });
    let err =
        crm::log_activity(&stale, c, "test", "info", "must not be written", None).unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    assert!(
        !crm::activities(&db, c)
            .unwrap()
            .iter()
            .any(|a| a.description.contains("must not")),
        "nothing of a fenced-off transaction is committed"
    );
    jobs::finish(&fenced, c, "email-logging", jobs::RunEnd::Success).unwrap();
    let e = jobs::get(&db, c, "email-logging").unwrap().unwrap();
    assert_eq!(e.status, "ready");
    assert!(
        jobs::take(&d.open(), c, "email-logging", lease)
            .unwrap()
            .is_some(),
        "a finished run lets the lease go"
    );
}

fn an_expired_lease_is_taken_over_and_the_run_closed_as_interrupted(d: &Db) {
    let db = d.open();
    let c = db.company("CRONUS").unwrap();
    jobs::ensure(&db, c, "email-logging", 600, 0, 3, 60).unwrap();
    let first = jobs::take_next(&db, "email-logging", Duration::from_millis(1))
        .unwrap()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let second = jobs::take_next(&d.open(), "email-logging", Duration::from_secs(60))
        .unwrap()
        .expect("the lease ran out: another worker takes the job over");
    assert!(second.fence.token > first.fence.token);
    let cut = second.interrupted.expect("the first run is closed");
    assert_eq!(cut.owner.as_deref(), Some(jobs::this_process().as_str()));
    assert_eq!(jobs::log(&db, c, 10).unwrap()[0].outcome, "interrupted");
    assert!(!jobs::renew(&db, &first.fence, jobs::now_ms() + 60_000).unwrap());
    let late = db.fenced(first.fence);
    let err = jobs::finish(&late, c, "email-logging", jobs::RunEnd::Success).unwrap_err();
    assert!(err.to_string().contains("taken over"), "{err}");
    assert_eq!(
        jobs::get(&db, c, "email-logging").unwrap().unwrap().status,
        "in-process",
        "the late worker changed nothing"
    );
}

fn concurrent_workers_take_each_due_job_once(d: &Db) {
    let db = d.open();
    let companies: Vec<CompanyId> = (0..24)
        .map(|i| {
            let c = db.company(&format!("C{i:02}")).unwrap();
            jobs::ensure(&db, c, "email-logging", 600, 0, 3, 60).unwrap();
            c
        })
        .collect();
    let taken: Vec<CompanyId> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let db = d.open();
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while let Some(t) =
                        jobs::take_next(&db, "email-logging", Duration::from_secs(60)).unwrap()
                    {
                        mine.push(t.entry.company_id);
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut sorted = taken.clone();
    sorted.sort();
    assert_eq!(sorted, companies, "every job taken, each by one worker");
}

fn hosts_starting_together_migrate_once(d: &Db) {
    std::thread::scope(|s| {
        let hosts: Vec<_> = (0..4).map(|_| s.spawn(|| d.open())).collect();
        for h in hosts {
            h.join().unwrap();
        }
    });
    let db = d.open();
    assert_eq!(db.company("CRONUS").unwrap(), db.company("CRONUS").unwrap());
}
