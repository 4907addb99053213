//! Sales opportunities, made from an interaction log entry: the entry's
//! contact and salesperson, a description from its subject, and a link back.

use super::{EntryView, SUBJECT_LEN};
use crate::store::{self, CompanyId, Store};

pub use crate::store::opportunities::{Created, Opportunity, OpportunityError, list};

/// Makes an opportunity from an entry, once: a second call for the same
/// entry returns the first opportunity.
pub fn create_from_entry(
    db: &Store,
    company: CompanyId,
    entry: &EntryView,
) -> Result<Created, OpportunityError> {
    store::opportunities::create_from_entry(db, company, entry.entry_no, |no| {
        let description: String = if entry.subject.trim().is_empty() {
            // The date part; the column holds whatever the component sent.
            let day: String = entry.datetime.chars().take(10).collect();
            format!("E-mail of {day}")
        } else {
            entry.subject.chars().take(SUBJECT_LEN).collect()
        };
        Opportunity {
            no,
            description,
            contact_no: entry.contact_no.clone(),
            contact_company_no: entry.contact_company_no.clone(),
            salesperson_code: entry.salesperson_code.clone(),
            status: "not-started".into(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            from_entry_no: Some(entry.entry_no),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::{EntryFilter, Link, NewEntry, entries, log_message};

    #[test]
    fn one_opportunity_per_entry_linked_both_ways() {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let link = Link {
            mailbox: "log@us.example".into(),
            message_id: "M1".into(),
            internet_message_id: None,
            web_link: "w".into(),
            folder: None,
        };
        let entry = NewEntry {
            contact_no: "CT1".into(),
            contact_company_no: Some("CT0".into()),
            contact_alt_address_code: None,
            salesperson_code: "JO".into(),
            interaction_template_code: "EMAIL".into(),
            information_flow: "inbound",
            initiated_by: "them",
            subject: "Quote for 40 chairs".into(),
            datetime: "2026-11-02T09:00:00Z".into(),
        };
        log_message(&db, c, "M1", &[entry], &link).unwrap();
        let e = entries(&db, c, &EntryFilter::default()).unwrap().remove(0);
        let Created::New(o) = create_from_entry(&db, c, &e).unwrap() else {
            panic!("the first opportunity must be new")
        };
        assert_eq!(
            (
                o.no.as_str(),
                o.description.as_str(),
                o.contact_no.as_str(),
                o.salesperson_code.as_str()
            ),
            ("OP00001", "Quote for 40 chairs", "CT1", "JO")
        );
        assert_eq!(
            create_from_entry(&db, c, &e).unwrap(),
            Created::Existing(o.clone())
        );
        let e = entries(&db, c, &EntryFilter::default()).unwrap().remove(0);
        assert_eq!(e.opportunity_no.as_deref(), Some("OP00001"));
        assert_eq!(list(&db, c, Some("CT0")).unwrap(), vec![o]);
        let missing = EntryView { entry_no: 99, ..e };
        assert!(matches!(
            create_from_entry(&db, c, &missing),
            Err(OpportunityError::NoEntry(99))
        ));
    }
}
