//! Company by domain as stored: the domains company contacts own, and the
//! person contacts email logging creates under them.

use super::Result;
pub use super::records::CREATED_BY_EMAIL_LOGGING;
use super::records::{ContactMatch, RecordWriter};
use super::sql::{Dialect, params};

/// The prefix of the numbers of contacts email logging creates. Imports
/// may use any number; a generated one is checked against every existing
/// number before it is given (an import after that updates the contact by
/// its number, as it updates any other).
/// (`next_generated_contact_no`'s range spells it out too.)
pub const GENERATED_NO_PREFIX: &str = "EL-";

/// A person contact that email logging creates.
pub struct GeneratedContact<'a> {
    /// Its number (see [`RecordWriter::next_generated_contact_no`]).
    pub no: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its e-mail (normalised).
    pub email: &'a str,
    /// The company contact it belongs to.
    pub company_no: &'a str,
    /// When it is created, RFC 3339 UTC.
    pub created_at: &'a str,
}

impl RecordWriter<'_> {
    /// Removes a contact's domains (before writing its new ones).
    pub fn remove_contact_domains(&self, contact_no: &str) -> Result<()> {
        self.tx.execute(
            "DELETE FROM contact_domain WHERE company_id = ?1 AND contact_no = ?2",
            params![self.company, contact_no],
        )?;
        Ok(())
    }

    /// Adds a domain (normalised) to a contact's domains.
    pub fn add_contact_domain(&self, contact_no: &str, domain: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO contact_domain(company_id, domain, contact_no) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![self.company, domain, contact_no],
        )?;
        Ok(())
    }

    /// The company contacts that own `domain` (normalised): those whose own
    /// e-mail is at it, and those that list it among their domains. Number
    /// and name, by number, each once.
    pub fn domain_owners(&self, domain: &str) -> Result<Vec<(String, String)>> {
        // Two statements, no ORDER BY: with one, SQLite walks the company's
        // contacts in number order instead of using the domain indexes.
        // The first spells the expression of the index on the domain of a
        // company contact's e-mail exactly as each database's schema does.
        let by_email = match self.tx.dialect() {
            Dialect::Sqlite => {
                "SELECT no, name FROM contact
                  WHERE company_id = ?1 AND type = 'company' AND email IS NOT NULL
                    AND substr(email, instr(email, '@') + 1) = ?2 AND instr(email, '@') > 0"
            }
            Dialect::Postgres => {
                "SELECT no, name FROM contact
                  WHERE company_id = ?1 AND type = 'company' AND email IS NOT NULL
                    AND substr(email, strpos(email, '@') + 1) = ?2 AND strpos(email, '@') > 0"
            }
        };
        let mut owners: Vec<(String, String)> = Vec::new();
        for sql in [
            by_email,
            "SELECT c.no, c.name FROM contact_domain d
               JOIN contact c ON c.company_id = d.company_id AND c.no = d.contact_no
              WHERE d.company_id = ?1 AND d.domain = ?2 AND c.type = 'company'",
        ] {
            owners.extend(self.tx.query(sql, params![self.company, domain], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?);
        }
        owners.sort();
        owners.dedup_by(|a, b| a.0 == b.0);
        Ok(owners)
    }

    /// The contact a lookup of `address` (normalised) finds first, if any.
    pub fn contact_for_address(&self, address: &str) -> Result<Option<ContactMatch>> {
        let found = super::records::lookup_in(&self.tx, self.company, &[address.to_string()])?;
        Ok(found
            .into_iter()
            .next()
            .and_then(|(_, c)| c.into_iter().next()))
    }

    /// The next number for a contact email logging creates: one more than
    /// the highest given so far, and free.
    pub fn next_generated_contact_no(&self) -> Result<String> {
        let (sql, pattern) = match self.tx.dialect() {
            Dialect::Sqlite => (
                // The range lets the primary key find the prefix's numbers.
                "SELECT MAX(CAST(substr(no, ?3) AS BIGINT)) FROM contact
                  WHERE company_id = ?1 AND no >= 'EL-' AND no < 'EL.' AND no GLOB ?2",
                format!("{GENERATED_NO_PREFIX}[0-9]*"),
            ),
            // PostgreSQL has no GLOB, compares text in the database's
            // collation (where the range may not hold the prefix's numbers)
            // and refuses to cast text that is not all digits (SQLite casts
            // the leading ones): a pattern anchored at both ends, of at most
            // the digits a BIGINT holds.
            Dialect::Postgres => (
                "SELECT MAX(CAST(substr(no, ?3) AS BIGINT)) FROM contact
                  WHERE company_id = ?1 AND no ~ ?2",
                format!("^{GENERATED_NO_PREFIX}[0-9]{{1,18}}$"),
            ),
        };
        // `substr`'s position is an `int` (not a BIGINT) on PostgreSQL.
        let start = i32::try_from(GENERATED_NO_PREFIX.len() + 1).unwrap_or(i32::MAX);
        let highest: Option<i64> =
            self.tx
                .query_one(sql, params![self.company, pattern, start], |r| r.get(0))?;
        let mut n = highest.unwrap_or(0).max(0) + 1;
        loop {
            let no = format!("{GENERATED_NO_PREFIX}{n:06}");
            if !self.contact_exists(&no)? {
                return Ok(no);
            }
            n += 1;
        }
    }

    /// Inserts a person contact that email logging creates, marked so.
    pub fn insert_generated_contact(&self, c: &GeneratedContact<'_>) -> Result<()> {
        self.tx.execute(
            "INSERT INTO contact(company_id, no, name, type, company_no, email, created_by, created_at)
             VALUES (?1, ?2, ?3, 'person', ?4, ?5, ?6, ?7)",
            params![
                self.company,
                c.no,
                c.name,
                c.company_no,
                c.email,
                CREATED_BY_EMAIL_LOGGING,
                c.created_at
            ],
        )?;
        Ok(())
    }

    /// Appends an activity log line in this transaction.
    pub fn log_activity(
        &self,
        source: &str,
        severity: &str,
        description: &str,
        key: Option<&str>,
    ) -> Result<()> {
        super::activity::append(
            &self.tx,
            self.company,
            source,
            &[(severity, description, key)],
        )
    }
}
