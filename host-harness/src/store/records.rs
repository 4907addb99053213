//! Companies and the CRM records the component matches addresses against:
//! salespeople, contacts, their alternative addresses, interaction templates.

use super::sql::{Conn, Param, Tx, params};
use super::{CompanyId, Result, Store, StoreError};
use serde::Serialize;

impl Store {
    /// The Exchange server the company's component may reach, if it reads
    /// public folders over EWS.
    pub fn exchange_host(&self, company: CompanyId) -> anyhow::Result<Option<String>> {
        Ok(self.read(|c| {
            c.query_one(
                "SELECT exchange_host FROM company WHERE id = ?1",
                params![company],
                |r| r.get(0),
            )
        })?)
    }

    /// Records (or clears) the company's Exchange server.
    pub fn set_exchange_host(&self, company: CompanyId, host: Option<&str>) -> anyhow::Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE company SET exchange_host = ?2 WHERE id = ?1",
                params![company, host],
            )
        })?;
        Ok(())
    }

    /// The company's id, creating the company when it does not exist.
    pub fn company(&self, name: &str) -> anyhow::Result<CompanyId> {
        Ok(self.write(|tx| -> Result<CompanyId> {
            tx.execute(
                "INSERT INTO company(name) VALUES (?1) ON CONFLICT(name) DO NOTHING",
                params![name],
            )?;
            tx.query_one(
                "SELECT id FROM company WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
        })?)
    }

    /// The company's id, if it exists.
    pub fn find_company(&self, name: &str) -> anyhow::Result<Option<CompanyId>> {
        Ok(self.read(|c| {
            c.query_opt(
                "SELECT id FROM company WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
        })?)
    }

    /// All companies, by name.
    pub fn companies(&self) -> anyhow::Result<Vec<(CompanyId, String)>> {
        Ok(self.read(|c| {
            c.query(
                "SELECT id, name FROM company ORDER BY name",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })?)
    }
}

/// A contact's fields, as the importers write them.
pub struct ContactRow<'a> {
    /// Number.
    pub no: &'a str,
    /// Name.
    pub name: &'a str,
    /// `company` or `person`.
    pub kind: &'a str,
    /// The company contact's number.
    pub company_no: Option<&'a str>,
    /// E-mail (normalised).
    pub email: Option<&'a str>,
    /// E-mail 2 (normalised).
    pub email2: Option<&'a str>,
}

/// Writes records of one company in one transaction: all of them on
/// [`RecordWriter::commit`], none when it is dropped first.
pub struct RecordWriter<'a> {
    pub(super) tx: Tx<'a>,
    pub(super) company: CompanyId,
}

impl Store {
    /// Runs `write` in one transaction of record writes for `company`; the
    /// writer commits only when `write` calls [`RecordWriter::commit`].
    pub fn write_records<T: Send, E: From<StoreError> + Send>(
        &self,
        company: CompanyId,
        write: impl FnOnce(RecordWriter<'_>) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        self.with_conn(|c| {
            // Writers read before they write (does the contact exist, which
            // number is free): `begin` takes SQLite's write lock first, which
            // makes a concurrent writer in another process wait out the busy
            // timeout, where a deferred transaction would fail on its stale
            // snapshot.
            let tx = c.begin()?;
            write(RecordWriter { tx, company })
        })?
    }
}

impl RecordWriter<'_> {
    /// Inserts or updates a salesperson by code.
    pub fn upsert_salesperson(&self, code: &str, name: &str, email: Option<&str>) -> Result<()> {
        self.tx.execute(
            "INSERT INTO salesperson(company_id, code, name, email) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(company_id, code) DO UPDATE SET name = excluded.name, email = excluded.email",
            params![self.company, code, name, email],
        )?;
        Ok(())
    }

    /// Inserts or updates a contact by number.
    pub fn upsert_contact(&self, c: &ContactRow<'_>) -> Result<()> {
        self.tx.execute(
            "INSERT INTO contact(company_id, no, name, type, company_no, email, email2) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(company_id, no) DO UPDATE SET name = excluded.name, type = excluded.type,
               company_no = excluded.company_no, email = excluded.email, email2 = excluded.email2",
            params![self.company, c.no, c.name, c.kind, c.company_no, c.email, c.email2],
        )?;
        Ok(())
    }

    /// Removes a contact's alternative addresses (before writing its new ones).
    pub fn remove_alt_addresses(&self, contact_no: &str) -> Result<()> {
        self.tx.execute(
            "DELETE FROM contact_alt_address WHERE company_id = ?1 AND contact_no = ?2",
            params![self.company, contact_no],
        )?;
        Ok(())
    }

    /// Inserts or updates an alternative address of a contact.
    pub fn upsert_alt_address(
        &self,
        contact_no: &str,
        code: &str,
        email: Option<&str>,
    ) -> Result<()> {
        self.tx.execute(
            "INSERT INTO contact_alt_address(company_id, contact_no, code, email) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(company_id, contact_no, code) DO UPDATE SET email = excluded.email",
            params![self.company, contact_no, code, email],
        )?;
        Ok(())
    }

    /// Writes an interaction template (`None` keeps an existing description);
    /// marking it for e-mail unmarks the others.
    pub fn upsert_template(
        &self,
        code: &str,
        description: Option<&str>,
        for_email: bool,
    ) -> Result<()> {
        if for_email {
            self.tx.execute(
                "UPDATE interaction_template SET is_email_template = 0 WHERE company_id = ?1",
                params![self.company],
            )?;
        }
        self.tx.execute(
            "INSERT INTO interaction_template(company_id, code, description, is_email_template)
         VALUES (?1, ?2, COALESCE(?3, 'E-mail'), ?4)
         ON CONFLICT(company_id, code) DO UPDATE SET description = COALESCE(?3, interaction_template.description),
           is_email_template = excluded.is_email_template",
            // The flag is an integer column on both databases.
            params![self.company, code, description, i64::from(for_email)],
        )?;
        Ok(())
    }

    /// Whether the contact exists (written before in this transaction, or
    /// already in the ERP).
    pub fn contact_exists(&self, no: &str) -> Result<bool> {
        Ok(self.contact_kind(no)?.is_some())
    }

    /// The contact's type (`company` or `person`), if it exists.
    pub fn contact_kind(&self, no: &str) -> Result<Option<String>> {
        self.tx.query_opt(
            "SELECT type FROM contact WHERE company_id = ?1 AND no = ?2",
            params![self.company, no],
            |r| r.get(0),
        )
    }

    /// Makes every write of this writer last.
    pub fn commit(self) -> Result<()> {
        self.tx.commit()
    }
}

/// A salesperson match: code and name.
pub type SalespersonMatch = (String, String);
/// A contact match: number, company number, alternative address code.
pub type ContactMatch = (String, Option<String>, Option<String>);

/// The salesperson and contacts of each address (normalised), in order:
/// one connection and the same prepared statements for all of them.
pub fn lookup_many(
    db: &Store,
    company: CompanyId,
    addresses: &[String],
) -> Result<Vec<(Option<SalespersonMatch>, Vec<ContactMatch>)>> {
    db.read(|c| lookup_in(c, company, addresses))
}

/// [`lookup_many`] on a connection already held (a writer's transaction).
pub(super) fn lookup_in(
    conn: &Conn<'_>,
    company: CompanyId,
    addresses: &[String],
) -> Result<Vec<(Option<SalespersonMatch>, Vec<ContactMatch>)>> {
    let mut out = Vec::with_capacity(addresses.len());
    for address in addresses {
        let sp = conn.query_opt(
            "SELECT code, name FROM salesperson WHERE company_id = ?1 AND email = ?2 ORDER BY code LIMIT 1",
            params![company, address],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        // Best match first: e-mail, then e-mail 2, then alternative address.
        let rows: Vec<ContactMatch> = conn.query(
            "SELECT no, company_no, NULL, 0 AS rank FROM contact WHERE company_id = ?1 AND email = ?2
             UNION ALL
             SELECT no, company_no, NULL, 1 FROM contact WHERE company_id = ?1 AND email2 = ?2
             UNION ALL
             SELECT c.no, c.company_no, a.code, 2 FROM contact_alt_address a
               JOIN contact c ON c.company_id = a.company_id AND c.no = a.contact_no
               WHERE a.company_id = ?1 AND a.email = ?2
             ORDER BY rank, 1",
            params![company, address],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut contacts: Vec<ContactMatch> = Vec::new();
        for row in rows {
            if !contacts.iter().any(|c| c.0 == row.0) {
                contacts.push(row);
            }
        }
        out.push((sp, contacts));
    }
    Ok(out)
}

/// The salesperson and contacts of one address (normalised).
pub fn lookup(
    db: &Store,
    company: CompanyId,
    address: &str,
) -> Result<(Option<SalespersonMatch>, Vec<ContactMatch>)> {
    let mut found = lookup_many(db, company, &[address.to_string()])?;
    Ok(found.pop().unwrap_or_default())
}

/// One e-mail field: owner kind, code or number, field name, value.
pub type AddressFieldRow = (String, String, String, Option<String>);

/// Every salesperson's e-mail, every person contact's e-mail, and every
/// e-mail 2 and alternative address that is filled in, for validation.
pub fn address_fields(db: &Store, company: CompanyId) -> Result<Vec<AddressFieldRow>> {
    db.read(|c| {
        c.query(
            "SELECT 'salesperson', code, 'e-mail', email, 0 FROM salesperson WHERE company_id = ?1
             UNION ALL
             SELECT 'contact', no, 'e-mail', email, 1 FROM contact WHERE company_id = ?1 AND (type = 'person' OR email IS NOT NULL)
             UNION ALL
             SELECT 'contact', no, 'e-mail 2', email2, 1 FROM contact WHERE company_id = ?1 AND email2 IS NOT NULL
             UNION ALL
             SELECT 'contact', contact_no, 'alternative address ' || code, email, 1 FROM contact_alt_address WHERE company_id = ?1
             ORDER BY 5, 2, 3",
            params![company],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    })
}

/// The interaction template code marked for e-mails.
pub fn email_template(db: &Store, company: CompanyId) -> Result<Option<String>> {
    db.read(|c| {
        c.query_opt(
            "SELECT code FROM interaction_template WHERE company_id = ?1 AND is_email_template = 1",
            params![company],
            |r| r.get(0),
        )
    })
}

/// Unmarks the company's e-mail interaction template, leaving it without
/// one (as an ERP whose template was deleted).
pub fn unmark_email_template(db: &Store, company: CompanyId) -> Result<()> {
    db.write(|tx| {
        tx.execute(
            "UPDATE interaction_template SET is_email_template = 0 WHERE company_id = ?1",
            params![company],
        )
    })?;
    Ok(())
}

/// Sets a contact's e-mail exactly as given, unchecked and not normalised:
/// records typed into another ERP, or from before imports checked them.
pub fn set_contact_email_unchecked(
    db: &Store,
    company: CompanyId,
    no: &str,
    email: Option<&str>,
) -> Result<()> {
    db.write(|tx| {
        tx.execute(
            "UPDATE contact SET email = ?3 WHERE company_id = ?1 AND no = ?2",
            params![company, no, email],
        )
    })?;
    Ok(())
}

/// Sets every alternative address of a contact to `email`, unchecked (see
/// [`set_contact_email_unchecked`]).
pub fn set_alt_addresses_unchecked(
    db: &Store,
    company: CompanyId,
    contact_no: &str,
    email: Option<&str>,
) -> Result<()> {
    db.write(|tx| {
        tx.execute(
            "UPDATE contact_alt_address SET email = ?3 WHERE company_id = ?1 AND contact_no = ?2",
            params![company, contact_no, email],
        )
    })?;
    Ok(())
}

/// How many records of each kind a company has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    /// Salespeople.
    pub salespeople: i64,
    /// Contacts.
    pub contacts: i64,
    /// Alternative addresses.
    pub alt_addresses: i64,
    /// Interaction templates.
    pub interaction_templates: i64,
}

/// How many records of each kind the company has.
pub fn record_counts(db: &Store, company: CompanyId) -> Result<RecordCounts> {
    db.read(|c| {
        c.query_one(
            "SELECT (SELECT COUNT(*) FROM salesperson WHERE company_id = ?1),
                    (SELECT COUNT(*) FROM contact WHERE company_id = ?1),
                    (SELECT COUNT(*) FROM contact_alt_address WHERE company_id = ?1),
                    (SELECT COUNT(*) FROM interaction_template WHERE company_id = ?1)",
            params![company],
            |r| {
                Ok(RecordCounts {
                    salespeople: r.get(0)?,
                    contacts: r.get(1)?,
                    alt_addresses: r.get(2)?,
                    interaction_templates: r.get(3)?,
                })
            },
        )
    })
}

/// A contact as the contact card shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ContactView {
    /// Number.
    pub no: String,
    /// Name.
    pub name: String,
    /// `company` or `person`.
    pub kind: String,
    /// The company contact's number.
    pub company_no: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// E-mail 2.
    pub email2: Option<String>,
    /// Interaction log entries (its own, and its people's for a company).
    pub entries: i64,
    /// The domains a company contact owns (company by domain), sorted.
    pub domains: Vec<String>,
    /// Who made it, when not an import: `email-logging` for a contact that
    /// company by domain created.
    pub created_by: Option<String>,
    /// When it was made, for a contact made by the host (RFC 3339 UTC).
    pub created_at: Option<String>,
    /// The latest date of an e-mail logged for it (RFC 3339 UTC), kept by
    /// the host's `after-log` extension.
    pub last_email_at: Option<String>,
}

/// The `created_by` of a contact that company by domain created.
pub const CREATED_BY_EMAIL_LOGGING: &str = "email-logging";

impl ContactView {
    /// Whether email logging created it (company by domain).
    pub fn created_by_email_logging(&self) -> bool {
        self.created_by.as_deref() == Some(CREATED_BY_EMAIL_LOGGING)
    }
}

/// Contacts by number, with how many entries each has: those whose number,
/// name or e-mail contains `search` (all when `None`), at most `limit`.
pub fn contacts(
    db: &Store,
    company: CompanyId,
    search: Option<&str>,
    limit: usize,
) -> Result<Vec<ContactView>> {
    let pattern = search
        .map(str::trim)
        .filter(|s| !s.is_empty())
        // A backslash is doubled to match itself: PostgreSQL's LIKE escapes
        // with it by default, so both databases are told to (SQLite has no
        // default escape).
        .map(|s| format!("%{}%", s.replace(['%', '_'], "").replace('\\', "\\\\")));
    // LOWER on both sides: PostgreSQL's LIKE is case-sensitive, SQLite's
    // ignores ASCII case (and so does its LOWER: ASCII only).
    contact_rows(
        db,
        "c.company_id = ?1 AND (CAST(?2 AS TEXT) IS NULL
           OR LOWER(c.no) LIKE LOWER(?2) ESCAPE '\\' OR LOWER(c.name) LIKE LOWER(?2) ESCAPE '\\'
           OR LOWER(c.email) LIKE LOWER(?2) ESCAPE '\\')
         ORDER BY c.no LIMIT ?3",
        params![company, pattern, i64::try_from(limit).unwrap_or(i64::MAX)],
    )
}

/// How many contacts and interaction log entries the company has.
pub fn counts(db: &Store, company: CompanyId) -> Result<(i64, i64)> {
    db.read(|c| {
        c.query_one(
            "SELECT (SELECT COUNT(*) FROM contact WHERE company_id = ?1),
                    (SELECT COUNT(*) FROM interaction_log_entry WHERE company_id = ?1)",
            params![company],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })
}

/// One contact by number.
pub fn contact(db: &Store, company: CompanyId, no: &str) -> Result<Option<ContactView>> {
    Ok(
        contact_rows(db, "c.company_id = ?1 AND c.no = ?2", params![company, no])?
            .into_iter()
            .next(),
    )
}

fn contact_rows(db: &Store, condition: &str, params: &[&dyn Param]) -> Result<Vec<ContactView>> {
    let sql = format!(
        "SELECT c.no, c.name, c.type, c.company_no, c.email, c.email2,
                (SELECT COUNT(*) FROM interaction_log_entry e
                  WHERE e.company_id = c.company_id AND (e.contact_no = c.no OR e.contact_company_no = c.no)),
                (SELECT string_agg(d.domain, ' ' ORDER BY d.domain) FROM contact_domain d
                  WHERE d.company_id = c.company_id AND d.contact_no = c.no),
                c.created_by, c.created_at, c.last_email_at
         FROM contact c WHERE {condition}"
    );
    db.read(|c| {
        c.query(&sql, params, |r| {
            Ok(ContactView {
                no: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                company_no: r.get(3)?,
                email: r.get(4)?,
                email2: r.get(5)?,
                entries: r.get(6)?,
                // Domains hold no spaces (they are checked on the way in).
                domains: r
                    .get::<Option<String>>(7)?
                    .map(|d| d.split(' ').map(str::to_string).collect())
                    .unwrap_or_default(),
                created_by: r.get(8)?,
                created_at: r.get(9)?,
                last_email_at: r.get(10)?,
            })
        })
    })
}

/// Moves each contact's latest e-mail date forward to the date given for
/// it (RFC 3339 UTC, so that text order is time order), never back, in one
/// transaction. Says how many contacts moved.
pub fn record_last_email(
    db: &Store,
    company: CompanyId,
    dates: &[(String, String)],
) -> Result<usize> {
    db.write_records(company, |w| {
        let mut moved = 0;
        for (contact_no, at) in dates {
            moved += w.tx.execute(
                "UPDATE contact SET last_email_at = ?3
                  WHERE company_id = ?1 AND no = ?2 AND (last_email_at IS NULL OR last_email_at < ?3)",
                params![company, contact_no, at],
            )?;
        }
        w.commit()?;
        Ok(moved)
    })
}

/// A contact's latest e-mail date, if one was recorded.
pub fn last_email_at(db: &Store, company: CompanyId, contact_no: &str) -> Result<Option<String>> {
    Ok(db
        .read(|c| {
            c.query_opt(
                "SELECT last_email_at FROM contact WHERE company_id = ?1 AND no = ?2",
                params![company, contact_no],
                |r| r.get::<Option<String>>(0),
            )
        })?
        .flatten())
}
