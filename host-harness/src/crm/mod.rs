//! The ERP's CRM records: salespeople, contacts, interaction templates,
//! interaction log entries with their attachment (link) records, and the
//! activity log. Opportunities and CSV import have modules of their own.

pub mod csv_import;
pub mod opportunity;

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
    /// The mailbox the message was logged from.
    #[serde(default)]
    pub mailbox: Option<String>,
    /// The folder that held the message when last seen.
    #[serde(default)]
    pub folder: Option<String>,
    /// `ok`, or `not-found` when link repair could not find the message.
    #[serde(default)]
    pub link_status: String,
    /// The opportunity made from this entry, if any.
    #[serde(default)]
    pub opportunity_no: Option<String>,
}

/// Which entries to list; every field narrows the list.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    /// Only this contact's entries (or its company's: a company contact
    /// also shows its people's entries).
    pub contact: Option<String>,
    /// Only this salesperson's entries.
    pub salesperson: Option<String>,
    /// From this day on (UTC).
    pub from: Option<chrono::NaiveDate>,
    /// Up to and including this day (UTC).
    pub to: Option<chrono::NaiveDate>,
}

/// The normalised form the component uses for addresses.
pub fn normalise(address: &str) -> String {
    address.trim().to_lowercase()
}

/// Parses a CRM seed, with the file's own words in the error. Its values
/// are checked as a CSV import checks them (see [`csv_import`]); references
/// to other records are checked when it is imported.
pub fn parse_seed(text: &str) -> anyhow::Result<CrmSeed> {
    let value: serde_json::Value =
        serde_json::from_str(text).context("the CRM seed is not valid JSON")?;
    anyhow::ensure!(
        value.is_object(),
        "the CRM seed must be a JSON object with \"salespeople\", \"contacts\" and \"email_template\""
    );
    let seed: CrmSeed = serde_json::from_value(value).context("the CRM seed is not valid")?;
    csv_import::check_records(&seed.record_sets()).context("the CRM seed is not valid")?;
    Ok(seed)
}

impl CrmSeed {
    /// The seed as the record sets a CSV import would read.
    fn record_sets(&self) -> Vec<csv_import::RecordSet> {
        use csv_import::{RecordSet, RecordType};
        let set = |name: &str, kind, records| RecordSet {
            name: format!("CRM seed {name}"),
            kind,
            records,
            replaces_alt_addresses: kind == RecordType::Contacts,
        };
        let some = |v: &str| Some(v.to_string());
        let salespeople = self
            .salespeople
            .iter()
            .map(|s| {
                vec![
                    ("code", some(&s.code)),
                    ("name", some(&s.name)),
                    ("email", s.email.clone()),
                ]
            })
            .collect();
        let contacts = self
            .contacts
            .iter()
            .map(|c| {
                vec![
                    ("no", some(&c.no)),
                    ("name", some(&c.name)),
                    ("type", some(&c.kind)),
                    ("company_no", c.company_no.clone()),
                    ("email", c.email.clone()),
                    ("email2", c.email2.clone()),
                ]
            })
            .collect();
        let alt_addresses = self
            .contacts
            .iter()
            .flat_map(|c| {
                c.alt_addresses.iter().map(|a| {
                    vec![
                        ("contact_no", some(&c.no)),
                        ("code", some(&a.code)),
                        ("email", a.email.clone()),
                    ]
                })
            })
            .collect();
        let templates = self
            .email_template
            .iter()
            .filter(|t| !t.trim().is_empty())
            .map(|t| vec![("code", some(t)), ("email_template", some("yes"))])
            .collect();
        vec![
            set("salespeople", RecordType::Salespeople, salespeople),
            set("contacts", RecordType::Contacts, contacts),
            set(
                "alternative addresses",
                RecordType::AltAddresses,
                alt_addresses,
            ),
            set(
                "email_template",
                RecordType::InteractionTemplates,
                templates,
            ),
        ]
    }
}

/// Writes a seed into a company (insert or update by code/number), all of
/// it or, when a check fails, nothing.
pub fn import(db: &Db, company: CompanyId, seed: &CrmSeed) -> anyhow::Result<ImportSummary> {
    let s = csv_import::import_records(db, company, &seed.record_sets())
        .context("the CRM seed was not imported")?;
    Ok(ImportSummary {
        salespeople: s.salespeople,
        contacts: s.contacts,
        alt_addresses: s.alt_addresses,
    })
}

/// A contact's fields, as the importers write them.
pub(crate) struct ContactRow<'a> {
    pub no: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub company_no: Option<&'a str>,
    pub email: Option<&'a str>,
    pub email2: Option<&'a str>,
}

pub(crate) fn upsert_salesperson(
    tx: &rusqlite::Transaction<'_>,
    company: CompanyId,
    code: &str,
    name: &str,
    email: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO salesperson(company_id, code, name, email) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(company_id, code) DO UPDATE SET name = excluded.name, email = excluded.email",
        params![company, code, name, email],
    )?;
    Ok(())
}

pub(crate) fn upsert_contact(
    tx: &rusqlite::Transaction<'_>,
    company: CompanyId,
    c: &ContactRow<'_>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO contact(company_id, no, name, type, company_no, email, email2) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(company_id, no) DO UPDATE SET name = excluded.name, type = excluded.type,
           company_no = excluded.company_no, email = excluded.email, email2 = excluded.email2",
        params![company, c.no, c.name, c.kind, c.company_no, c.email, c.email2],
    )?;
    Ok(())
}

pub(crate) fn upsert_alt_address(
    tx: &rusqlite::Transaction<'_>,
    company: CompanyId,
    contact_no: &str,
    code: &str,
    email: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO contact_alt_address(company_id, contact_no, code, email) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(company_id, contact_no, code) DO UPDATE SET email = excluded.email",
        params![company, contact_no, code, email],
    )?;
    Ok(())
}

/// Writes an interaction template (`None` keeps an existing description);
/// marking it for e-mail unmarks the others.
pub(crate) fn upsert_template(
    tx: &rusqlite::Transaction<'_>,
    company: CompanyId,
    code: &str,
    description: Option<&str>,
    for_email: bool,
) -> rusqlite::Result<()> {
    if for_email {
        tx.execute(
            "UPDATE interaction_template SET is_email_template = 0 WHERE company_id = ?1",
            params![company],
        )?;
    }
    tx.execute(
        "INSERT INTO interaction_template(company_id, code, description, is_email_template)
         VALUES (?1, ?2, COALESCE(?3, 'E-mail'), ?4)
         ON CONFLICT(company_id, code) DO UPDATE SET description = COALESCE(?3, description),
           is_email_template = excluded.is_email_template",
        params![company, code, description, for_email],
    )?;
    Ok(())
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
    /// The mailbox that holds the message.
    pub mailbox: String,
    /// Immutable id.
    pub message_id: String,
    /// Message-ID.
    pub internet_message_id: Option<String>,
    /// Web link.
    pub web_link: String,
    /// The folder that holds it.
    pub folder: Option<String>,
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
        "INSERT INTO attachment(company_id, message_key, message_id, internet_message_id, web_link, mailbox, folder)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![company, key, link.message_id, link.internet_message_id, link.web_link, link.mailbox, link.folder],
    )?;
    tx.commit()?;
    Ok(true)
}

/// Replaces the link of a logged message, if it is the same message (same
/// immutable id): a duplicate copy never takes over the original's link.
pub fn update_link(db: &Db, company: CompanyId, key: &str, link: &Link) -> anyhow::Result<bool> {
    let n = db.lock().execute(
        "UPDATE attachment SET web_link = ?3, internet_message_id = COALESCE(?4, internet_message_id),
           folder = COALESCE(?6, folder), mailbox = ?7, link_status = 'ok'
         WHERE company_id = ?1 AND message_key = ?2 AND message_id = ?5",
        params![company, key, link.web_link, link.internet_message_id, link.message_id, link.folder, link.mailbox],
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

const ENTRY_SELECT: &str = "SELECT e.entry_no, e.contact_no, e.contact_company_no, e.contact_alt_address_code, e.salesperson_code,
        e.interaction_template_code, e.information_flow, e.initiated_by, e.subject, e.datetime,
        a.internet_message_id, a.message_id, a.web_link, e.email_logged, a.mailbox, a.folder,
        COALESCE(a.link_status, 'ok'), e.opportunity_no
 FROM interaction_log_entry e
 LEFT JOIN attachment a ON a.company_id = e.company_id AND a.message_key = e.message_key";

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryView> {
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
        mailbox: r.get(14)?,
        folder: r.get(15)?,
        link_status: r.get(16)?,
        opportunity_no: r.get(17)?,
    })
}

/// Interaction log entries that pass the filter, by entry number.
pub fn entries(
    db: &Db,
    company: CompanyId,
    filter: &EntryFilter,
) -> anyhow::Result<Vec<EntryView>> {
    let conn = db.lock();
    let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    let mut stmt = conn.prepare(&format!(
        "{ENTRY_SELECT}
         WHERE e.company_id = ?1
           AND (?2 IS NULL OR e.contact_no = ?2 OR e.contact_company_no = ?2)
           AND (?3 IS NULL OR e.salesperson_code = ?3)
           AND (?4 IS NULL OR substr(e.datetime, 1, 10) >= ?4)
           AND (?5 IS NULL OR substr(e.datetime, 1, 10) <= ?5)
         ORDER BY e.entry_no"
    ))?;
    let rows = stmt.query_map(
        params![
            company,
            filter.contact,
            filter.salesperson,
            day(filter.from),
            day(filter.to)
        ],
        entry_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One interaction log entry by number.
pub fn entry(db: &Db, company: CompanyId, entry_no: i64) -> anyhow::Result<Option<EntryView>> {
    Ok(db
        .lock()
        .query_row(
            &format!("{ENTRY_SELECT} WHERE e.company_id = ?1 AND e.entry_no = ?2"),
            params![company, entry_no],
            entry_row,
        )
        .optional()?)
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
}

/// Contacts by number, with how many entries each has: those whose number,
/// name or e-mail contains `search` (all when `None`), at most `limit`.
pub fn contacts(
    db: &Db,
    company: CompanyId,
    search: Option<&str>,
    limit: usize,
) -> anyhow::Result<Vec<ContactView>> {
    let pattern = search
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("%{}%", s.replace(['%', '_'], "")));
    contact_rows(
        db,
        "c.company_id = ?1 AND (?2 IS NULL OR c.no LIKE ?2 OR c.name LIKE ?2 OR c.email LIKE ?2)
         ORDER BY c.no LIMIT ?3",
        params![company, pattern, i64::try_from(limit).unwrap_or(i64::MAX)],
    )
}

/// How many contacts and interaction log entries the company has.
pub fn counts(db: &Db, company: CompanyId) -> anyhow::Result<(i64, i64)> {
    Ok(db.lock().query_row(
        "SELECT (SELECT COUNT(*) FROM contact WHERE company_id = ?1),
                (SELECT COUNT(*) FROM interaction_log_entry WHERE company_id = ?1)",
        params![company],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// One contact by number.
pub fn contact(db: &Db, company: CompanyId, no: &str) -> anyhow::Result<Option<ContactView>> {
    Ok(
        contact_rows(db, "c.company_id = ?1 AND c.no = ?2", params![company, no])?
            .into_iter()
            .next(),
    )
}

fn contact_rows(
    db: &Db,
    condition: &str,
    params: impl rusqlite::Params,
) -> anyhow::Result<Vec<ContactView>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(&format!(
        "SELECT c.no, c.name, c.type, c.company_no, c.email, c.email2,
                (SELECT COUNT(*) FROM interaction_log_entry e
                  WHERE e.company_id = c.company_id AND (e.contact_no = c.no OR e.contact_company_no = c.no))
         FROM contact c WHERE {condition}"
    ))?;
    let rows = stmt.query_map(params, |r| {
        Ok(ContactView {
            no: r.get(0)?,
            name: r.get(1)?,
            kind: r.get(2)?,
            company_no: r.get(3)?,
            email: r.get(4)?,
            email2: r.get(5)?,
            entries: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A logged message's link, as link repair needs it.
#[derive(Debug, Clone)]
pub struct StoredLink {
    /// The message key.
    pub message_key: String,
    /// The mailbox it was logged from (unknown for links from before schema 3).
    pub mailbox: Option<String>,
    /// Immutable id.
    pub message_id: String,
    /// Message-ID.
    pub internet_message_id: Option<String>,
    /// Web link.
    pub web_link: String,
    /// Folder.
    pub folder: Option<String>,
    /// The entries that carry this link.
    pub entry_nos: Vec<i64>,
    /// The subject of its first entry.
    pub subject: String,
}

/// Every stored link of the company, oldest first.
pub fn stored_links(db: &Db, company: CompanyId) -> anyhow::Result<Vec<StoredLink>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(
        "SELECT a.message_key, a.mailbox, a.message_id, a.internet_message_id, a.web_link, a.folder,
                group_concat(e.entry_no), MIN(e.subject)
         FROM attachment a
         JOIN interaction_log_entry e ON e.company_id = a.company_id AND e.message_key = a.message_key
         WHERE a.company_id = ?1
         GROUP BY a.message_key
         ORDER BY MIN(e.entry_no)",
    )?;
    let rows = stmt.query_map(params![company], |r| {
        let nos: String = r.get(6)?;
        Ok(StoredLink {
            message_key: r.get(0)?,
            mailbox: r.get(1)?,
            message_id: r.get(2)?,
            internet_message_id: r.get(3)?,
            web_link: r.get(4)?,
            folder: r.get(5)?,
            entry_nos: nos.split(',').filter_map(|n| n.parse().ok()).collect(),
            subject: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records what link repair found: the message where it is now, or that it
/// is gone (the old link is kept: it is the best there is).
pub fn record_link_check(
    db: &Db,
    company: CompanyId,
    key: &str,
    found: Option<&Link>,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().to_rfc3339();
    let conn = db.lock();
    match found {
        Some(l) => conn.execute(
            "UPDATE attachment SET message_id = ?3, web_link = ?4, folder = ?5, mailbox = ?6,
               link_status = 'ok', link_checked_at = ?7
             WHERE company_id = ?1 AND message_key = ?2",
            params![
                company,
                key,
                l.message_id,
                l.web_link,
                l.folder,
                l.mailbox,
                now
            ],
        )?,
        None => conn.execute(
            "UPDATE attachment SET link_status = 'not-found', link_checked_at = ?3
             WHERE company_id = ?1 AND message_key = ?2",
            params![company, key, now],
        )?,
    };
    Ok(())
}

/// The activity log, newest first, at most `limit` lines.
pub fn recent_activities(
    db: &Db,
    company: CompanyId,
    limit: usize,
) -> anyhow::Result<Vec<ActivityView>> {
    let mut all = activities(db, company)?;
    all.reverse();
    all.truncate(limit);
    Ok(all)
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
            mailbox: "log@us.example".into(),
            message_id: "M1".into(),
            internet_message_id: Some("<1@x>".into()),
            web_link: "https://outlook.office365.com/owa/?ItemID=1".into(),
            folder: Some("Inbox".into()),
        };
        assert!(log_message(&db, c, "<1@x>", &[e()], &link).unwrap());
        assert!(!log_message(&db, c, "<1@x>", &[e()], &link).unwrap());
        let all = entries(&db, c, &EntryFilter::default()).unwrap();
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

    #[test]
    fn a_json_seed_is_checked_as_csv_is() {
        let seed = serde_json::json!({
            "salespeople": [{"code": "JO", "name": "Jim\u{1b}[31mRed", "email": "not an email"}],
            "contacts": [
                {"no": "C1", "name": "A", "type": "person", "company_no": "NOPE"},
                {"no": "C1", "name": "A again"},
                {"no": "C".repeat(21), "name": "x".repeat(101)},
                {"no": "C2", "company_no": "C3"},
                {"no": "C3", "type": "person"},
            ],
            "email_template": "EMA\nIL",
        });
        let err = format!("{:#}", parse_seed(&seed.to_string()).unwrap_err());
        for expected in [
            "CRM seed salespeople:1: name has control characters",
            "CRM seed salespeople:1: email \"not an email\" is not an e-mail address",
            "CRM seed contacts:2: C1 repeats line 1",
            "CRM seed contacts:3: name is longer than 100 characters",
            "CRM seed contacts:3: no is longer than 20 characters",
            "CRM seed email_template:1: code has control characters",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
        // References are checked against the seed and the ERP on import.
        let (db, c) = db();
        let seed = serde_json::json!({"contacts": [
            {"no": "C1", "company_no": "NOPE"},
            {"no": "C2", "company_no": "C3"},
            {"no": "C3", "type": "person"},
        ]});
        let seed = parse_seed(&seed.to_string()).unwrap();
        let err = format!("{:#}", import(&db, c, &seed).unwrap_err());
        assert!(
            err.contains("company_no \"NOPE\" is not a contact"),
            "{err}"
        );
        assert!(err.contains("company_no \"C3\" is a person"), "{err}");
        assert!(
            contact(&db, c, "C3").unwrap().is_none(),
            "nothing was imported"
        );
    }
}
