//! Sales opportunities, each made from at most one interaction log entry.

use super::{CompanyId, Store, StoreError};
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
    Db(#[from] StoreError),
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

impl From<rusqlite::Error> for OpportunityError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Makes the entry's opportunity, once, in one transaction: `make` gets the
/// next free number (`OP00001`, ...) and gives the new opportunity; when the
/// entry has one already, that one is given back and `make` is not called.
pub fn create_from_entry(
    db: &Store,
    company: CompanyId,
    entry_no: i64,
    make: impl FnOnce(String) -> Opportunity,
) -> Result<Created, OpportunityError> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let exists: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM interaction_log_entry WHERE company_id = ?1 AND entry_no = ?2",
            params![company, entry_no],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Err(OpportunityError::NoEntry(entry_no));
    }
    let existing = tx
        .query_row(
            &format!("{SELECT} WHERE company_id = ?1 AND from_entry_no = ?2"),
            params![company, entry_no],
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
    let o = make(format!("OP{next:05}"));
    tx.execute(
        "INSERT INTO opportunity(company_id, no, description, contact_no, contact_company_no, salesperson_code, status, created_at, from_entry_no)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![company, o.no, o.description, o.contact_no, o.contact_company_no, o.salesperson_code, o.status, o.created_at, o.from_entry_no],
    )?;
    tx.execute(
        "UPDATE interaction_log_entry SET opportunity_no = ?3 WHERE company_id = ?1 AND entry_no = ?2",
        params![company, entry_no, o.no],
    )?;
    tx.commit()?;
    Ok(Created::New(o))
}

/// Opportunities by number, optionally for one contact (or its company).
pub fn list(
    db: &Store,
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
