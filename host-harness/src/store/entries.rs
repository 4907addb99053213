//! Interaction log entries, the logged-message keys that make logging
//! idempotent, and each logged message's link (attachment) record.

use super::sql::{Conn, Dialect, Row, params};
use super::{CompanyId, Result, Store};
use serde::{Deserialize, Serialize};

/// Business Central's Interaction Log Entry `Subject` and `Description` are
/// Text[100]; longer subjects are cut there, never refused.
pub const SUBJECT_LEN: usize = 100;

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

/// An entry to insert.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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

/// One message's entries and link, for [`log_page`].
pub struct NewMessage {
    /// The message key.
    pub key: String,
    /// Its entries.
    pub entries: Vec<NewEntry>,
    /// Where it is.
    pub link: Link,
}

/// Inserts the entries and links of a page's messages in one transaction:
/// one answer per message, `true` when inserted, `false` when its key was
/// logged already (then nothing of it is written, as for a second copy of a
/// key in the same page), an error when its rows could not be written (then
/// none of them are, and the others still are). One commit, so one WAL
/// sync, per page.
pub fn log_page(
    db: &Store,
    company: CompanyId,
    messages: &[NewMessage],
) -> Result<Vec<Result<bool>>> {
    let logged_at = chrono::Utc::now().to_rfc3339();
    db.with_conn(|conn| {
        // Every message at once; only when one fails is the page done
        // again, each message on a savepoint of its own (a savepoint
        // journals every page it changes, which cost more than the inserts).
        let tx = conn.begin()?;
        let mut next = next_entry_no(&tx, company)?;
        let mut outcomes = Vec::with_capacity(messages.len());
        for m in messages {
            match insert_message(&tx, company, m, next, &logged_at) {
                Ok(inserted) => {
                    if inserted {
                        next += m.entries.len() as i64;
                    }
                    outcomes.push(Ok(inserted));
                }
                Err(_) => break,
            }
        }
        if outcomes.len() == messages.len() {
            tx.commit()?;
            return Ok(outcomes);
        }
        drop(tx);
        let tx = conn.begin()?;
        let mut next = next_entry_no(&tx, company)?;
        let mut outcomes = Vec::with_capacity(messages.len());
        for m in messages {
            // A failed savepoint rolls this message's rows back.
            let outcome = tx.savepoint(|sp| insert_message(sp, company, m, next, &logged_at));
            if let Ok(true) = outcome {
                next += m.entries.len() as i64;
            }
            outcomes.push(outcome);
        }
        tx.commit()?;
        Ok(outcomes)
    })?
}

/// The number the company's next interaction log entry gets. On
/// PostgreSQL the company's row is locked first, so that two writers of
/// one company (a run and a "run now" elsewhere) cannot take one number.
fn next_entry_no(conn: &Conn<'_>, company: CompanyId) -> Result<i64> {
    if conn.dialect() == Dialect::Postgres {
        conn.execute(
            "SELECT id FROM company WHERE id = ?1 FOR UPDATE",
            params![company],
        )?;
    }
    conn.query_one(
        "SELECT COALESCE(MAX(entry_no), 0) + 1 FROM interaction_log_entry WHERE company_id = ?1",
        params![company],
        |r| r.get(0),
    )
}

/// One message's rows, entry numbers from `first`; `false` when its key was
/// logged already.
fn insert_message(
    conn: &Conn<'_>,
    company: CompanyId,
    m: &NewMessage,
    first: i64,
    logged_at: &str,
) -> Result<bool> {
    let inserted = conn.execute(
        "INSERT INTO logged_message(company_id, message_key, logged_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![company, m.key, logged_at],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    let insert = "INSERT INTO interaction_log_entry(company_id, entry_no, contact_no, contact_company_no, contact_alt_address_code,
           salesperson_code, interaction_template_code, information_flow, initiated_by, description, subject, datetime, message_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)
         ON CONFLICT DO NOTHING";
    for (next, e) in (first..).zip(&m.entries) {
        // Control characters (NUL, escapes) have no place in an ERP field.
        let subject: String = e
            .subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(SUBJECT_LEN)
            .collect();
        conn.execute(
            insert,
            params![
                company,
                next,
                e.contact_no,
                e.contact_company_no,
                e.contact_alt_address_code,
                e.salesperson_code,
                e.interaction_template_code,
                e.information_flow,
                e.initiated_by,
                subject,
                e.datetime,
                m.key
            ],
        )?;
    }
    let l = &m.link;
    conn.execute(
        "INSERT INTO attachment(company_id, message_key, message_id, internet_message_id, web_link, mailbox, folder)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![company, m.key, l.message_id, l.internet_message_id, l.web_link, l.mailbox, l.folder],
    )?;
    Ok(true)
}

/// Inserts one message's entries and link; `false` when the key was
/// logged already (then nothing is written).
pub fn log_message(
    db: &Store,
    company: CompanyId,
    key: &str,
    entries: &[NewEntry],
    link: &Link,
) -> Result<bool> {
    let message = NewMessage {
        key: key.to_string(),
        entries: entries.to_vec(),
        link: link.clone(),
    };
    log_page(db, company, std::slice::from_ref(&message))?
        .pop()
        .unwrap_or(Ok(false))
}

/// A logged message's new link: (key, previous message id, link).
pub type LinkChange = (String, String, Link);

/// Replaces the links of logged messages in one transaction, each only if
/// it is the same message (same id as `previous`): a duplicate copy never
/// takes over the original's link. Answers how many changed.
pub fn update_links(db: &Store, company: CompanyId, changes: &[LinkChange]) -> Result<usize> {
    db.write(|tx| {
        let mut changed = 0;
        for (key, previous_id, link) in changes {
            changed += tx.execute(
                "UPDATE attachment SET web_link = ?3, internet_message_id = COALESCE(?4, internet_message_id),
                   folder = COALESCE(?6, folder), mailbox = ?7, link_status = 'ok', message_id = ?5
                 WHERE company_id = ?1 AND message_key = ?2 AND message_id = ?8",
                params![
                    company,
                    key,
                    link.web_link,
                    link.internet_message_id,
                    link.message_id,
                    link.folder,
                    link.mailbox,
                    previous_id
                ],
            )?;
        }
        Ok(changed)
    })
}

/// Replaces the link of a logged message, if it is the same message (same
/// immutable id): a duplicate copy never takes over the original's link.
pub fn update_link(
    db: &Store,
    company: CompanyId,
    key: &str,
    previous_id: &str,
    link: &Link,
) -> Result<bool> {
    let change = (key.to_string(), previous_id.to_string(), link.clone());
    Ok(update_links(db, company, &[change])? > 0)
}

const ENTRY_SELECT: &str = "SELECT e.entry_no, e.contact_no, e.contact_company_no, e.contact_alt_address_code, e.salesperson_code,
        e.interaction_template_code, e.information_flow, e.initiated_by, e.subject, e.datetime,
        a.internet_message_id, a.message_id, a.web_link, e.email_logged, a.mailbox, a.folder,
        COALESCE(a.link_status, 'ok'), e.opportunity_no
 FROM interaction_log_entry e
 LEFT JOIN attachment a ON a.company_id = e.company_id AND a.message_key = e.message_key";

fn entry_row(r: &Row<'_>) -> Result<EntryView> {
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
        message_id: r.get::<Option<String>>(11)?.unwrap_or_default(),
        web_link: r.get::<Option<String>>(12)?.unwrap_or_default(),
        email_logged: r.get(13)?,
        mailbox: r.get(14)?,
        folder: r.get(15)?,
        link_status: r.get(16)?,
        opportunity_no: r.get(17)?,
    })
}

/// Interaction log entries that pass the filter, by entry number.
pub fn entries(db: &Store, company: CompanyId, filter: &EntryFilter) -> Result<Vec<EntryView>> {
    let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    let (from, to) = (day(filter.from), day(filter.to));
    db.read(|c| {
        c.query(
            &format!(
                "{ENTRY_SELECT}
                 WHERE e.company_id = ?1
                   AND (CAST(?2 AS TEXT) IS NULL OR e.contact_no = ?2 OR e.contact_company_no = ?2)
                   AND (CAST(?3 AS TEXT) IS NULL OR e.salesperson_code = ?3)
                   AND (CAST(?4 AS TEXT) IS NULL OR substr(e.datetime, 1, 10) >= ?4)
                   AND (CAST(?5 AS TEXT) IS NULL OR substr(e.datetime, 1, 10) <= ?5)
                 ORDER BY e.entry_no"
            ),
            params![company, filter.contact, filter.salesperson, from, to],
            entry_row,
        )
    })
}

/// One interaction log entry by number.
pub fn entry(db: &Store, company: CompanyId, entry_no: i64) -> Result<Option<EntryView>> {
    db.read(|c| {
        c.query_opt(
            &format!("{ENTRY_SELECT} WHERE e.company_id = ?1 AND e.entry_no = ?2"),
            params![company, entry_no],
            entry_row,
        )
    })
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
pub fn stored_links(db: &Store, company: CompanyId) -> Result<Vec<StoredLink>> {
    db.read(|c| c.query(
        "SELECT a.message_key, a.mailbox, a.message_id, a.internet_message_id, a.web_link, a.folder,
                string_agg(CAST(e.entry_no AS TEXT), ','), MIN(e.subject)
         FROM attachment a
         JOIN interaction_log_entry e ON e.company_id = a.company_id AND e.message_key = a.message_key
         WHERE a.company_id = ?1
         GROUP BY a.company_id, a.message_key
         ORDER BY MIN(e.entry_no)",
        params![company], |r| {
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
    }))
}

/// Records what link repair found: the message where it is now, or that it
/// is gone (the old link is kept: it is the best there is).
pub fn record_link_check(
    db: &Store,
    company: CompanyId,
    key: &str,
    found: Option<&Link>,
) -> Result<()> {
    let now = chrono::Utc::now().to_rfc3339();
    db.write(|conn| match found {
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
        ),
        None => conn.execute(
            "UPDATE attachment SET link_status = 'not-found', link_checked_at = ?3
             WHERE company_id = ?1 AND message_key = ?2",
            params![company, key, now],
        ),
    })?;
    Ok(())
}

/// Points a logged message's link at another immutable id, as if the
/// message had been moved and its old id had gone stale.
pub fn set_message_id(db: &Store, company: CompanyId, key: &str, message_id: &str) -> Result<()> {
    db.write(|c| {
        c.execute(
            "UPDATE attachment SET message_id = ?3 WHERE company_id = ?1 AND message_key = ?2",
            params![company, key, message_id],
        )
    })?;
    Ok(())
}

/// How many messages the company has logged (each once, whatever its entries).
pub fn logged_count(db: &Store, company: CompanyId) -> Result<i64> {
    db.read(|c| {
        c.query_one(
            "SELECT COUNT(*) FROM logged_message WHERE company_id = ?1",
            params![company],
            |r| r.get(0),
        )
    })
}

/// How many interaction log entries the company has.
pub fn count_for_company(db: &Store, company: CompanyId) -> Result<i64> {
    db.read(|c| {
        c.query_one(
            "SELECT COUNT(*) FROM interaction_log_entry WHERE company_id = ?1",
            params![company],
            |r| r.get(0),
        )
    })
}
