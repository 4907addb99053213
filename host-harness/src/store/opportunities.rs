//! Sales opportunities, each made from at most one interaction log entry.

use super::sql::{Dialect, Row, params};
use super::{CompanyId, Store, StoreError};
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

fn row(r: &Row<'_>) -> Result<Opportunity, StoreError> {
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

/// Makes the entry's opportunity, once, in one transaction: `make` gets the
/// next free number (`OP00001`, ...) and gives the new opportunity; when the
/// entry has one already, that one is given back and `make` is not called.
pub fn create_from_entry(
    db: &Store,
    company: CompanyId,
    entry_no: i64,
    make: impl FnOnce(String) -> Opportunity + Send,
) -> Result<Created, OpportunityError> {
    db.write(|tx| {
        let exists = tx.query_opt(
            "SELECT 1 FROM interaction_log_entry WHERE company_id = ?1 AND entry_no = ?2",
            params![company, entry_no],
            |_| Ok(()),
        )?;
        if exists.is_none() {
            return Err(OpportunityError::NoEntry(entry_no));
        }
        let existing = tx.query_opt(
            &format!("{SELECT} WHERE company_id = ?1 AND from_entry_no = ?2"),
            params![company, entry_no],
            row,
        )?;
        if let Some(o) = existing {
            return Ok(Created::Existing(o));
        }
        let next: i64 = tx.query_one(
            match tx.dialect() {
                Dialect::Sqlite => {
                    "SELECT COALESCE(MAX(CAST(substr(no, 3) AS BIGINT)), 0) + 1 FROM opportunity
                     WHERE company_id = ?1 AND no GLOB 'OP[0-9]*'"
                }
                // No GLOB, and a CAST that refuses text that is not all
                // digits (SQLite's casts the leading ones): a pattern anchored
                // at both ends, of at most the digits a BIGINT holds.
                Dialect::Postgres => {
                    "SELECT COALESCE(MAX(CAST(substr(no, 3) AS BIGINT)), 0) + 1 FROM opportunity
                     WHERE company_id = ?1 AND no ~ '^OP[0-9]{1,18}$'"
                }
            },
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
        Ok(Created::New(o))
    })
}

/// Opportunities by number, optionally for one contact (or its company).
pub fn list(
    db: &Store,
    company: CompanyId,
    contact: Option<&str>,
) -> Result<Vec<Opportunity>, OpportunityError> {
    Ok(db.read(|c| {
        c.query(
            &format!(
                "{SELECT} WHERE company_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR contact_no = ?2 OR contact_company_no = ?2) ORDER BY no"
            ),
            params![company, contact],
            row,
        )
    })?)
}
