//! Sales opportunities, made from an interaction log entry: the entry's
//! contact and salesperson, a description from its subject, and a link back.

use super::{EntryView, SUBJECT_LEN};
use crate::db::{CompanyId, Db};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// An opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Opportunity {
    /// Number (`OP00001`).
    pub no: String,
    /// Description.
    pub description: String,
    /// Contact.
    pub contact_no: String,
    /// The contact's company.
    pub contact_company_no: Option<String>,
    /// Salesperson.
    pub salesperson_code: String,
    /// `not-started`, `in-progress`, `won` or `lost`.
    pub status: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The interaction log entry it was made from.
    pub from_entry_no: Option<i64>,
}

/// Why an opportunity could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OpportunityError {
    /// No such entry.
    #[error("there is no interaction log entry {0}")]
    NoEntry(i64),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

/// What `create_from_entry` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new opportunity.
    New(Opportunity),
    /// The entry had one already; it is given back unchanged.
    Existing(Opportunity),
}

const SELECT: &str = "SELECT no, description, contact_no, contact_company_no, salesperson_code, status, created_at, from_entry_no
                      FROM opportunity";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Opportunity> {
    Ok(Opportunity {
        no: r.get(0)?,
        description: r.get(1)?,
        contact_no: r.get(2)?,
        contact_company_no: r.get(3)?,
        salesperson_code: r.get(4)?,
        status: r.get(5)?,
        created_at: r.get(6)?,
        from_entry_no: r.get(7)?,
    })
}

/// Makes an opportunity from an entry, once: a second call for the same
/// entry returns the first opportunity.
pub fn create_from_entry(
    db: &Db,
    company: CompanyId,
    entry: &EntryView,
) -> Result<Created, OpportunityError> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let exists: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM interaction_log_entry WHERE company_id = ?1 AND entry_no = ?2",
            params![company, entry.entry_no],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Err(OpportunityError::NoEntry(entry.entry_no));
    }
    let existing = tx
        .query_row(
            &format!("{SELECT} WHERE company_id = ?1 AND from_entry_no = ?2"),
            params![company, entry.entry_no],
            row,
        )
        .optional()?;
    if let Some(o) = existing {
        return Ok(Created::Existing(o));
    }
    let next: i64 = tx.query_row(
        "SELECT COALESCE(MAX(CAST(substr(no, 3) AS INTEGER)), 0) + 1 FROM opportunity
         WHERE company_id = ?1 AND no GLOB 'OP[0-9]*'",
        params![company],
        |r| r.get(0),
    )?;
    let description: String = if entry.subject.trim().is_empty() {
        // The date part; the column holds whatever the component sent.
        let day: String = entry.datetime.chars().take(10).collect();
        format!("E-mail of {day}")
    } else {
        entry.subject.chars().take(SUBJECT_LEN).collect()
    };
    let o = Opportunity {
        no: format!("OP{next:05}"),
        description,
        contact_no: entry.contact_no.clone(),
        contact_company_no: entry.contact_company_no.clone(),
        salesperson_code: entry.salesperson_code.clone(),
        status: "not-started".into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        from_entry_no: Some(entry.entry_no),
    };
    tx.execute(
        "INSERT INTO opportunity(company_id, no, description, contact_no, contact_company_no, salesperson_code, status, created_at, from_entry_no)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![company, o.no, o.description, o.contact_no, o.contact_company_no, o.salesperson_code, o.status, o.created_at, o.from_entry_no],
    )?;
    tx.execute(
        "UPDATE interaction_log_entry SET opportunity_no = ?3 WHERE company_id = ?1 AND entry_no = ?2",
        params![company, entry.entry_no, o.no],
    )?;
    tx.commit()?;
    Ok(Created::New(o))
}

/// Opportunities by number, optionally for one contact (or its company).
pub fn list(
    db: &Db,
    company: CompanyId,
    contact: Option<&str>,
) -> Result<Vec<Opportunity>, OpportunityError> {
    let conn = db.lock();
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE company_id = ?1 AND (?2 IS NULL OR contact_no = ?2 OR contact_company_no = ?2) ORDER BY no"
    ))?;
    let rows = stmt.query_map(params![company, contact], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::{EntryFilter, Link, NewEntry, entries, log_message};

    #[test]
    fn one_opportunity_per_entry_linked_both_ways() {
        let db = Db::open_in_memory().unwrap();
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
