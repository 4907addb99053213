//! When each contact last had an e-mail logged: the reference host's
//! follow-up work at the component's `after-log` extension point, kept in
//! the contact's `last_email_at` (shown on the contact card and in
//! `crm contacts --json`).

use crate::store::{CompanyId, Store, StoreError};
use std::collections::BTreeMap;

pub use crate::store::records::last_email_at;

/// Moves each contact's latest e-mail date forward to the latest of the
/// dates given for it (RFC 3339 UTC to the second, so that text order is
/// time order), never back, in one transaction. Says how many contacts
/// moved.
pub fn record(
    db: &Store,
    company: CompanyId,
    entries: &[(String, String)],
) -> Result<usize, StoreError> {
    let mut latest: BTreeMap<&str, &str> = BTreeMap::new();
    for (contact_no, at) in entries {
        let slot = latest.entry(contact_no).or_insert(at);
        if at.as_str() > *slot {
            *slot = at;
        }
    }
    let dates: Vec<(String, String)> = latest
        .into_iter()
        .map(|(c, at)| (c.to_string(), at.to_string()))
        .collect();
    crate::store::records::record_last_email(db, company, &dates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_only_moves_forward() {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let seed = crate::crm::parse_seed(
            r#"{"contacts":[{"no":"CT1","name":"A"},{"no":"CT2","name":"B"}]}"#,
        )
        .unwrap();
        crate::crm::import(&db, c, &seed).unwrap();
        let e = |c: &str, at: &str| (c.to_string(), at.to_string());
        let moved = record(
            &db,
            c,
            &[
                e("CT1", "2026-11-02T09:00:00Z"),
                e("CT1", "2026-11-03T09:00:00Z"),
                e("CT1", "2026-11-01T09:00:00Z"),
                e("NOPE", "2026-11-01T09:00:00Z"),
            ],
        )
        .unwrap();
        assert_eq!(moved, 1, "an unknown contact changes nothing");
        assert_eq!(
            last_email_at(&db, c, "CT1").unwrap().as_deref(),
            Some("2026-11-03T09:00:00Z")
        );
        assert_eq!(last_email_at(&db, c, "CT2").unwrap(), None);
        assert_eq!(
            record(&db, c, &[e("CT1", "2026-10-01T00:00:00Z")]).unwrap(),
            0,
            "an older e-mail leaves the date"
        );
        assert_eq!(
            crate::crm::contact(&db, c, "CT1")
                .unwrap()
                .unwrap()
                .last_email_at
                .as_deref(),
            Some("2026-11-03T09:00:00Z")
        );
    }
}
