//! The ERP's CRM records: salespeople, contacts, interaction templates,
//! interaction log entries with their attachment (link) records, and the
//! activity log.

use crate::db::{CompanyId, Db};
use anyhow::Context as _;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Business Central's Interaction Log Entry `Subject` and `Description` are
/// Text[100]; longer subjects are cut there, never refused.
pub const SUBJECT_LEN: usize = 100;

/// The CRM seed (SPEC §7).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmSeed {
    /// Salespeople.
    #[serde(default)]
    pub salespeople: Vec<SeedSalesperson>,
    /// Contacts.
    #[serde(default)]
    pub contacts: Vec<SeedContact>,
    /// The interaction template code for e-mails.
    #[serde(default)]
    pub email_template: Option<String>,
}

/// A salesperson in the seed.
#[derive(Debug, Deserialize)]
pub struct SeedSalesperson {
    /// Code.
    pub code: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
}

/// A contact in the seed.
#[derive(Debug, Deserialize)]
pub struct SeedContact {
    /// Number.
    pub no: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// `company` or `person`.
    #[serde(rename = "type", default = "person")]
    pub kind: String,
    /// The company contact's number.
    #[serde(default)]
    pub company_no: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// E-mail 2.
    #[serde(default)]
    pub email2: Option<String>,
    /// Alternative addresses.
    #[serde(default)]
    pub alt_addresses: Vec<SeedAltAddress>,
}

fn person() -> String {
    "person".into()
}

/// An alternative address in the seed.
#[derive(Debug, Deserialize)]
pub struct SeedAltAddress {
    /// Code.
    pub code: String,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Salespeople written.
    pub salespeople: usize,
    /// Contacts written.
    pub contacts: usize,
    /// Alternative addresses written.
    pub alt_addresses: usize,
}

/// One interaction log entry as the ERP shows it (SPEC §7).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EntryView {
    /// Entry number.
    pub entry_no: i64,
    /// Contact.
    pub contact_no: String,
    /// Contact's company.
    pub contact_company_no: Option<String>,
    /// Alternative address code.
    pub contact_alt_address_code: Option<String>,
    /// Salesperson.
    pub salesperson_code: String,
    /// Template.
    pub interaction_template_code: String,
    /// `inbound` or `outbound`.
    pub information_flow: String,
    /// `us` or `them`.
    pub initiated_by: String,
    /// Subject.
    pub subject: String,
    /// RFC 3339 UTC.
    pub datetime: String,
    /// Message-ID.
    pub internet_message_id: Option<String>,
    /// Immutable message id.
    pub message_id: String,
    /// Outlook on the web link.
    pub web_link: String,
    /// Always true for logged e-mail.
    pub email_logged: bool,
}

/// The normalised form the component uses for addresses.
pub fn normalise(address: &str) -> String {
    address.trim().to_lowercase()
}

fn norm_opt(v: &Option<String>) -> Option<String> {
    v.as_deref().map(normalise).filter(|s| !s.is_empty())
}

/// Parses a CRM seed, with the file's own words in the error.
pub fn parse_seed(text: &str) -> anyhow::Result<CrmSeed> {
    let value: serde_json::Value =
        serde_json::from_str(text).context("the CRM seed is not valid JSON")?;
    anyhow::ensure!(
        value.is_object(),
        "the CRM seed must be a JSON object with \"salespeople\", \"contacts\" and \"email_template\""
    );
    let seed: CrmSeed = serde_json::from_value(value).context("the CRM seed is not valid")?;
    for s in &seed.salespeople {
        anyhow::ensure!(!s.code.trim().is_empty(), "a salesperson has an empty code");
    }
    for c in &seed.contacts {
        anyhow::ensure!(!c.no.trim().is_empty(), "a contact has an empty number");
        anyhow::ensure!(
            c.kind == "company" || c.kind == "person",
            "contact {}: type must be \"company\" or \"person\", not {:?}",
            c.no,
            c.kind
        );
        for a in &c.alt_addresses {
            anyhow::ensure!(
                !a.code.trim().is_empty(),
                "contact {}: an alternative address has an empty code",
                c.no
            );
        }
    }
    Ok(seed)
}

/// Writes a seed into a company (insert or update by code/number).
pub fn import(db: &Db, company: CompanyId, seed: &CrmSeed) -> anyhow::Result<ImportSummary> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let mut sum = ImportSummary::default();
    for s in &seed.salespeople {
        tx.execute(
            "INSERT INTO salesperson(company_id, code, name, email) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(company_id, code) DO UPDATE SET name = excluded.name, email = excluded.email",
            params![company, s.code.trim(), s.name, norm_opt(&s.email)],
        )?;
        sum.salespeople += 1;
    }
    for c in &seed.contacts {
        tx.execute(
            "INSERT INTO contact(company_id, no, name, type, company_no, email, email2) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(company_id, no) DO UPDATE SET name = excluded.name, type = excluded.type,
               company_no = excluded.company_no, email = excluded.email, email2 = excluded.email2",
            params![company, c.no.trim(), c.name, c.kind, c.company_no, norm_opt(&c.email), norm_opt(&c.email2)],
        )?;
        sum.contacts += 1;
        tx.execute(
            "DELETE FROM contact_alt_address WHERE company_id = ?1 AND contact_no = ?2",
            params![company, c.no.trim()],
        )?;
        for a in &c.alt_addresses {
            tx.execute(
                "INSERT INTO contact_alt_address(company_id, contact_no, code, email) VALUES (?1, ?2, ?3, ?4)",
                params![company, c.no.trim(), a.code.trim(), norm_opt(&a.email)],
            )?;
            sum.alt_addresses += 1;
        }
    }
    if let Some(t) = seed
        .email_template
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        tx.execute(
            "UPDATE interaction_template SET is_email_template = 0 WHERE company_id = ?1",
            params![company],
        )?;
        tx.execute(
            "INSERT INTO interaction_template(company_id, code, description, is_email_template) VALUES (?1, ?2, 'E-mail', 1)
             ON CONFLICT(company_id, code) DO UPDATE SET is_email_template = 1",
            params![company, t],
        )?;
    }
    tx.commit()?;
    Ok(sum)
}

/// A salesperson match: code and name.
pub type SalespersonMatch = (String, String);
/// A contact match: number, company number, alternative address code.
pub type ContactMatch = (String, Option<String>, Option<String>);

/// The salesperson and contacts behind one normalised address.
pub fn lookup(
    db: &Db,
    company: CompanyId,
    address: &str,
) -> anyhow::Result<(Option<SalespersonMatch>, Vec<ContactMatch>)> {
    let conn = db.lock();
    let address = normalise(address);
    let sp = conn
        .query_row(
            "SELECT code, name FROM salesperson WHERE company_id = ?1 AND email = ?2 ORDER BY code LIMIT 1",
            params![company, address],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    // Best match first: e-mail, then e-mail 2, then alternative address.
    let mut stmt = conn.prepare_cached(
        "SELECT no, company_no, NULL, 0 AS rank FROM contact WHERE company_id = ?1 AND email = ?2
         UNION ALL
         SELECT no, company_no, NULL, 1 FROM contact WHERE company_id = ?1 AND email2 = ?2
         UNION ALL
         SELECT c.no, c.company_no, a.code, 2 FROM contact_alt_address a
           JOIN contact c ON c.company_id = a.company_id AND c.no = a.contact_no
           WHERE a.company_id = ?1 AND a.email = ?2
         ORDER BY rank, 1",
    )?;
    let rows = stmt.query_map(params![company, address], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    let mut contacts: Vec<ContactMatch> = Vec::new();
    for row in rows {
        let row = row?;
        if !contacts.iter().any(|c| c.0 == row.0) {
            contacts.push(row);
        }
    }
    Ok((sp, contacts))
}

/// One e-mail field: owner kind, code or number, field name, value.
pub type AddressFieldRow = (String, String, String, Option<String>);

/// Every salesperson's e-mail, every person contact's e-mail, and every
/// e-mail 2 and alternative address that is filled in, for validation.
pub fn address_fields(db: &Db, company: CompanyId) -> anyhow::Result<Vec<AddressFieldRow>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(
        "SELECT 'salesperson', code, 'e-mail', email, 0 FROM salesperson WHERE company_id = ?1
         UNION ALL
         SELECT 'contact', no, 'e-mail', email, 1 FROM contact WHERE company_id = ?1 AND (type = 'person' OR email IS NOT NULL)
         UNION ALL
         SELECT 'contact', no, 'e-mail 2', email2, 1 FROM contact WHERE company_id = ?1 AND email2 IS NOT NULL
         UNION ALL
         SELECT 'contact', contact_no, 'alternative address ' || code, email, 1 FROM contact_alt_address WHERE company_id = ?1
         ORDER BY 5, 2, 3",
    )?;
    let rows = stmt.query_map(params![company], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The interaction template code marked for e-mails.
pub fn email_template(db: &Db, company: CompanyId) -> anyhow::Result<Option<String>> {
    Ok(db
        .lock()
        .query_row(
            "SELECT code FROM interaction_template WHERE company_id = ?1 AND is_email_template = 1",
            params![company],
            |r| r.get(0),
        )
        .optional()?)
}

/// Whether a message key was logged.
pub fn is_logged(db: &Db, company: CompanyId, key: &str) -> anyhow::Result<bool> {
    Ok(db
        .lock()
        .query_row(
            "SELECT 1 FROM logged_message WHERE company_id = ?1 AND message_key = ?2",
            params![company, key],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// An entry to insert.
pub struct NewEntry {
    /// Contact.
    pub contact_no: String,
    /// Contact's company.
    pub contact_company_no: Option<String>,
    /// Alternative address code.
    pub contact_alt_address_code: Option<String>,
    /// Salesperson.
    pub salesperson_code: String,
    /// Template.
    pub interaction_template_code: String,
    /// `inbound`/`outbound`.
    pub information_flow: &'static str,
    /// `us`/`them`.
    pub initiated_by: &'static str,
    /// Subject, untruncated.
    pub subject: String,
    /// RFC 3339.
    pub datetime: String,
}

/// A message link.
pub struct Link {
    /// Immutable id.
    pub message_id: String,
    /// Message-ID.
    pub internet_message_id: Option<String>,
    /// Web link.
    pub web_link: String,
}

/// Inserts a message's entries and link in one transaction; `false` when
/// the key was logged already (then nothing is written).
pub fn log_message(
    db: &Db,
    company: CompanyId,
    key: &str,
    entries: &[NewEntry],
    link: &Link,
) -> anyhow::Result<bool> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let inserted = tx.execute(
        "INSERT INTO logged_message(company_id, message_key, logged_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![company, key, chrono::Utc::now().to_rfc3339()],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    let first: i64 = tx.query_row(
        "SELECT COALESCE(MAX(entry_no), 0) + 1 FROM interaction_log_entry WHERE company_id = ?1",
        params![company],
        |r| r.get(0),
    )?;
    for (next, e) in (first..).zip(entries) {
        // Control characters (NUL, escapes) have no place in an ERP field.
        let subject: String = e
            .subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(SUBJECT_LEN)
            .collect();
        tx.execute(
            "INSERT INTO interaction_log_entry(company_id, entry_no, contact_no, contact_company_no, contact_alt_address_code,
               salesperson_code, interaction_template_code, information_flow, initiated_by, description, subject, datetime, message_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)
             ON CONFLICT DO NOTHING",
            params![
                company, next, e.contact_no, e.contact_company_no, e.contact_alt_address_code, e.salesperson_code,
                e.interaction_template_code, e.information_flow, e.initiated_by, subject, e.datetime, key
            ],
        )?;
    }
    tx.execute(
        "INSERT INTO attachment(company_id, message_key, message_id, internet_message_id, web_link) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![company, key, link.message_id, link.internet_message_id, link.web_link],
    )?;
    tx.commit()?;
    Ok(true)
}

/// Replaces the link of a logged message, if it is the same message (same
/// immutable id): a duplicate copy never takes over the original's link.
pub fn update_link(db: &Db, company: CompanyId, key: &str, link: &Link) -> anyhow::Result<bool> {
    let n = db.lock().execute(
        "UPDATE attachment SET web_link = ?3, internet_message_id = COALESCE(?4, internet_message_id)
         WHERE company_id = ?1 AND message_key = ?2 AND message_id = ?5",
        params![company, key, link.web_link, link.internet_message_id, link.message_id],
    )?;
    Ok(n > 0)
}

/// Appends an activity log line.
pub fn log_activity(
    db: &Db,
    company: CompanyId,
    source: &str,
    severity: &str,
    description: &str,
    key: Option<&str>,
) -> anyhow::Result<()> {
    db.lock().execute(
        "INSERT INTO activity_log(company_id, at, source, severity, description, message_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![company, chrono::Utc::now().to_rfc3339(), source, severity, description, key],
    )?;
    Ok(())
}

/// An activity log line.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityView {
    /// When.
    pub at: String,
    /// Who wrote it.
    pub source: String,
    /// `info`, `warning` or `error`.
    pub severity: String,
    /// What happened.
    pub description: String,
    /// The message key.
    pub message_key: Option<String>,
}

/// The activity log, newest last.
pub fn activities(db: &Db, company: CompanyId) -> anyhow::Result<Vec<ActivityView>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(
        "SELECT at, source, severity, description, message_key FROM activity_log WHERE company_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![company], |r| {
        Ok(ActivityView {
            at: r.get(0)?,
            source: r.get(1)?,
            severity: r.get(2)?,
            description: r.get(3)?,
            message_key: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Interaction log entries, optionally for one contact, by entry number.
pub fn entries(
    db: &Db,
    company: CompanyId,
    contact: Option<&str>,
) -> anyhow::Result<Vec<EntryView>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(
        "SELECT e.entry_no, e.contact_no, e.contact_company_no, e.contact_alt_address_code, e.salesperson_code,
                e.interaction_template_code, e.information_flow, e.initiated_by, e.subject, e.datetime,
                a.internet_message_id, a.message_id, a.web_link, e.email_logged
         FROM interaction_log_entry e
         LEFT JOIN attachment a ON a.company_id = e.company_id AND a.message_key = e.message_key
         WHERE e.company_id = ?1 AND (?2 IS NULL OR e.contact_no = ?2)
         ORDER BY e.entry_no",
    )?;
    let rows = stmt.query_map(params![company, contact], |r| {
        Ok(EntryView {
            entry_no: r.get(0)?,
            contact_no: r.get(1)?,
            contact_company_no: r.get(2)?,
            contact_alt_address_code: r.get(3)?,
            salesperson_code: r.get(4)?,
            interaction_template_code: r.get(5)?,
            information_flow: r.get(6)?,
            initiated_by: r.get(7)?,
            subject: r.get(8)?,
            datetime: r.get(9)?,
            internet_message_id: r.get(10)?,
            message_id: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
            web_link: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
            email_logged: r.get(13)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (Db, CompanyId) {
        let db = Db::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let seed = parse_seed(
            r#"{"salespeople":[{"code":"JO","name":"Jim","email":" Jim@Us.Example "}],
                "contacts":[{"no":"CT1","name":"A","type":"person","company_no":"CT0","email":"a@them.example","email2":"a2@them.example",
                             "alt_addresses":[{"code":"HOME","email":"a@home.example"}]},
                            {"no":"CT0","name":"Them","type":"company","email":"info@them.example"}],
                "email_template":"EMAIL"}"#,
        )
        .unwrap();
        import(&db, c, &seed).unwrap();
        (db, c)
    }

    #[test]
    fn lookups_are_case_insensitive_and_ranked() {
        let (db, c) = db();
        assert_eq!(lookup(&db, c, "JIM@us.example").unwrap().0.unwrap().0, "JO");
        assert_eq!(
            lookup(&db, c, "A2@them.example").unwrap().1,
            vec![("CT1".into(), Some("CT0".into()), None)]
        );
        assert_eq!(
            lookup(&db, c, "a@home.example").unwrap().1,
            vec![("CT1".into(), Some("CT0".into()), Some("HOME".into()))]
        );
        assert_eq!(email_template(&db, c).unwrap().as_deref(), Some("EMAIL"));
    }

    #[test]
    fn log_message_is_idempotent_and_truncates() {
        let (db, c) = db();
        let e = || NewEntry {
            contact_no: "CT1".into(),
            contact_company_no: Some("CT0".into()),
            contact_alt_address_code: None,
            salesperson_code: "JO".into(),
            interaction_template_code: "EMAIL".into(),
            information_flow: "outbound",
            initiated_by: "us",
            subject: "x".repeat(2000),
            datetime: "2026-11-02T09:00:00Z".into(),
        };
        let link = Link {
            message_id: "M1".into(),
            internet_message_id: Some("<1@x>".into()),
            web_link: "https://outlook.office365.com/owa/?ItemID=1".into(),
        };
        assert!(log_message(&db, c, "<1@x>", &[e()], &link).unwrap());
        assert!(!log_message(&db, c, "<1@x>", &[e()], &link).unwrap());
        let all = entries(&db, c, None).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].subject.chars().count(), SUBJECT_LEN);
        let other = Link {
            message_id: "M2".into(),
            web_link: "other".into(),
            ..link
        };
        assert!(
            !update_link(&db, c, "<1@x>", &other).unwrap(),
            "another copy must not take the link"
        );
    }

    #[test]
    fn bad_seeds_say_why() {
        let err = parse_seed(r#"{"contacts":[{"no":"C1","type":"robot"}]}"#).unwrap_err();
        assert!(format!("{err:#}").contains("robot"));
        assert!(parse_seed("[]").is_err());
        assert!(parse_seed(r#"{"salespeople":[{"code":" "}]}"#).is_err());
    }
}
