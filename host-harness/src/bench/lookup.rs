//! Matching scale: the time of one address lookup (the host's answer to the
//! component's batched party lookup, per address) with 1,000, 100,000 and
//! 1,000,000 contacts in the ERP's SQLite database on disk.

use super::{Results, Sizes, progress};
use crate::crm;
use crate::store::records::ContactRow;
use crate::store::{CompanyId, Store};
use std::time::Instant;

/// Contact `i`'s e-mail; every 10th also has an e-mail 2, every 20th an
/// alternative address, as a real CRM mixes them.
fn email(i: usize) -> String {
    format!("person.{i}@customer-{}.example", i % 997)
}
fn email2(i: usize) -> String {
    format!("home.{i}@mail-{}.example", i % 101)
}
fn alt(i: usize) -> String {
    format!("alt.{i}@branch-{}.example", i % 89)
}

/// Adds contacts `from..to` in one transaction.
fn add_contacts(db: &Store, company: CompanyId, from: usize, to: usize) -> anyhow::Result<()> {
    db.write_records(company, |tx| {
        for i in from..to {
            let no = format!("BC{i:07}");
            let e2 = (i % 10 == 0).then(|| email2(i));
            tx.upsert_contact(&ContactRow {
                no: &no,
                name: &format!("Person {i}"),
                kind: "person",
                company_no: None,
                email: Some(&email(i)),
                email2: e2.as_deref(),
            })?;
            if i % 20 == 0 {
                tx.upsert_alt_address(&no, "HOME", Some(&alt(i)))?;
            }
        }
        tx.commit()?;
        Ok::<_, anyhow::Error>(())
    })
}

/// Microseconds per lookup over `k` addresses spread over `n` contacts:
/// hits on e-mail, e-mail 2 and alternative addresses, and misses.
fn time_lookups(db: &Store, company: CompanyId, n: usize, k: usize) -> anyhow::Result<f64> {
    // A fixed LCG: the same addresses every run, spread over the table.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) as usize
    };
    let addresses: Vec<String> = (0..k)
        .map(|j| {
            let i = next() % n;
            match j % 5 {
                0 => email2(i - i % 10),
                1 => alt(i - i % 20),
                2 => format!("nobody.{i}@unknown.example"),
                _ => email(i).to_uppercase(),
            }
        })
        .collect();
    // Warm the statement cache and the pages the lookups touch first.
    for a in addresses.iter().take(k / 10) {
        crm::lookup(db, company, a)?;
    }
    let started = Instant::now();
    let mut found = 0usize;
    for a in &addresses {
        let (_, contacts) = crm::lookup(db, company, a)?;
        found += contacts.len();
    }
    let took = started.elapsed();
    anyhow::ensure!(found > 0, "no lookup found a contact");
    Ok(took.as_secs_f64() * 1e6 / k as f64)
}

pub(super) fn measure(s: &Sizes, r: &mut Results) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = Store::open(&dir.path().join("lookup.db"))?;
    let company = db.company("BENCH-LOOKUP")?;
    let mut have = 0;
    let mut figures = [0.0; 3];
    for (slot, &n) in s.lookup_sizes.iter().enumerate() {
        if n > 10_000 {
            progress(&format!("  {n} contacts"));
        }
        add_contacts(&db, company, have, n)?;
        have = n;
        figures[slot] = time_lookups(&db, company, n, s.lookups)?;
    }
    r.lookup_sizes = s.lookup_sizes.map(|n| n as u64);
    [r.lookup_us_1k, r.lookup_us_100k, r.lookup_us_1m] = figures;
    Ok(())
}
