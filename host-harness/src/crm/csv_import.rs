//! CRM records from CSV files: one file per record type, a header row, and
//! all files of one import in one transaction. Every bad row is reported with
//! its file and line; any error means nothing is imported.
//!
//! The types and their columns (the first ones required):
//!
//! | type | file name | columns |
//! | --- | --- | --- |
//! | `salespeople` | `salespeople.csv` | `code`, `name`, `email` |
//! | `contacts` | `contacts.csv` | `no`, `name`, `type`, `company_no`, `email`, `email2` |
//! | `alt-addresses` | `alt-addresses.csv` | `contact_no`, `code`, `email` |
//! | `interaction-templates` | `interaction-templates.csv` | `code`, `description`, `email_template` |
//! | `company-domains` | `company-domains.csv` | `contact_no`, `domain` |
//! | `never-log` | `never-log.csv` | `entry` |
//!
//! `company-domains` adds domains a company contact owns, for company by
//! domain (see [`super::company_domain`]): the contact must be a company
//! contact, in the ERP or in the same import; `@adatum.com` is read as
//! `adatum.com`; public mail domains (`gmail.com`) are refused. `never-log`
//! adds addresses or domains to the email-logging policy's never-log list
//! (see [`super::policy`]). Both add (as the other types insert or
//! update); neither removes what is not in the file: `crm policy
//! --clear-never-log` empties the list.
//!
//! A JSON CRM seed goes through the same checks and the same writes (see
//! [`RecordSet`]), so both formats accept and refuse the same values.

use super::company_domain::is_public_mail_domain;
use super::normalise;
use super::policy::{normalise_domain, normalise_never_log};
use crate::store::policy::PolicyList;
use crate::store::records::{ContactRow, RecordWriter};
use crate::store::{CompanyId, Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// The record types a CSV file can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum RecordType {
    /// `code,name,email`
    Salespeople,
    /// `no,name,type,company_no,email,email2`
    Contacts,
    /// `contact_no,code,email`
    AltAddresses,
    /// `code,description,email_template`
    InteractionTemplates,
    /// `contact_no,domain`: domains a company contact owns.
    CompanyDomains,
    /// `entry`: addresses and domains whose mail is never logged.
    NeverLog,
}

impl RecordType {
    /// The type a file's name says (`contacts.csv`, `alt-addresses.csv`, ...).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let stem = name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(name)
            .trim_end_matches(".csv")
            .to_lowercase()
            .replace(['_', ' '], "-");
        match stem.as_str() {
            "salespeople" | "salesperson" | "salespersons" => Some(Self::Salespeople),
            "contacts" | "contact" => Some(Self::Contacts),
            "alt-addresses" | "alternative-addresses" | "contact-alt-addresses" => {
                Some(Self::AltAddresses)
            }
            "interaction-templates" | "templates" => Some(Self::InteractionTemplates),
            "company-domains" | "contact-domains" | "domains" => Some(Self::CompanyDomains),
            "never-log" => Some(Self::NeverLog),
            _ => None,
        }
    }

    /// Columns that must be in the header, then columns that may be.
    fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::Salespeople => (&["code"], &["name", "email"]),
            Self::Contacts => (&["no"], &["name", "type", "company_no", "email", "email2"]),
            Self::AltAddresses => (&["contact_no", "code"], &["email"]),
            Self::InteractionTemplates => (&["code"], &["description", "email_template"]),
            Self::CompanyDomains => (&["contact_no", "domain"], &[]),
            Self::NeverLog => (&["entry"], &[]),
        }
    }

    /// Apply order: contacts before the addresses and domains that name them.
    fn order(self) -> u8 {
        match self {
            Self::Salespeople => 0,
            Self::Contacts => 1,
            Self::AltAddresses => 2,
            Self::CompanyDomains => 3,
            Self::InteractionTemplates => 4,
            Self::NeverLog => 5,
        }
    }
}

/// One CSV file to import.
pub struct CsvFile {
    /// The name used in errors (the path as given).
    pub name: String,
    /// What it holds.
    pub kind: RecordType,
    /// Its text.
    pub text: String,
}

/// What an import wrote.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct CsvSummary {
    /// Salespeople written.
    pub salespeople: usize,
    /// Contacts written.
    pub contacts: usize,
    /// Alternative addresses written.
    pub alt_addresses: usize,
    /// Interaction templates written.
    pub interaction_templates: usize,
    /// Company contact domains written.
    pub company_domains: usize,
    /// Never-log entries written.
    pub never_log: usize,
}

/// Why an import was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// Rows or headers are wrong; every problem found is listed.
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
    /// The database failed.
    #[error("the database failed: {0}")]
    Db(#[from] StoreError),
}

/// One problem, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// The line (1 is the header).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nothing was imported: {} problem{} found",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )?;
        for p in self.0.iter().take(MAX_PROBLEMS) {
            write!(f, "\n  {}:{}: {}", p.file, p.line, p.message)?;
        }
        if self.0.len() > MAX_PROBLEMS {
            write!(f, "\n  ... and {} more", self.0.len() - MAX_PROBLEMS)?;
        }
        Ok(())
    }
}

/// Problems listed in the error text; the rest are counted.
const MAX_PROBLEMS: usize = 30;
/// Business Central's e-mail fields are Text[80].
const EMAIL_LEN: usize = 80;

/// The longest value of a column, as Business Central's fields have them
/// (Code[20] numbers and salesperson codes, Code[10] alternative address
/// and template codes, Text[100] names and descriptions, Text[50]
/// salesperson names).
fn max_len(kind: RecordType, column: &str) -> Option<usize> {
    match (kind, column) {
        (RecordType::Salespeople, "code") => Some(20),
        (RecordType::Salespeople, "name") => Some(50),
        (RecordType::Contacts, "no" | "company_no") => Some(20),
        (RecordType::Contacts, "name") => Some(100),
        (RecordType::AltAddresses, "contact_no") => Some(20),
        (RecordType::AltAddresses | RecordType::InteractionTemplates, "code") => Some(10),
        (RecordType::InteractionTemplates, "description") => Some(100),
        (RecordType::CompanyDomains, "contact_no") => Some(20),
        (RecordType::CompanyDomains, "domain") => Some(253),
        (RecordType::NeverLog, "entry") => Some(254),
        _ => None,
    }
}

/// A parsed row: its line and its named values (trimmed, empty as `None`).
struct Row {
    line: u64,
    values: HashMap<&'static str, String>,
}

impl Row {
    fn get(&self, column: &str) -> Option<&str> {
        self.values.get(column).map(String::as_str)
    }
}

/// Records of one type from somewhere other than a CSV file (a JSON seed),
/// checked and written like a CSV file's rows.
pub struct RecordSet {
    /// The name problems are reported under (`crm.json contacts`).
    pub name: String,
    /// What the records are.
    pub kind: RecordType,
    /// Each record's values by column name (the CSV columns of `kind`).
    pub records: Vec<Vec<(&'static str, Option<String>)>>,
    /// The set describes its records whole (as a seed does): contacts'
    /// alternative addresses and domains that are not listed are removed,
    /// and a never-log set replaces the list.
    pub whole: bool,
}

/// Where a batch of rows came from.
struct Source {
    name: String,
    kind: RecordType,
    whole: bool,
}

impl RecordSet {
    fn rows(&self, problems: &mut Vec<Problem>) -> Vec<Row> {
        let mut seen = HashMap::new();
        let mut rows = Vec::new();
        for (i, record) in self.records.iter().enumerate() {
            let values = record
                .iter()
                .filter_map(|(c, v)| {
                    let v = v.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
                    Some((*c, v.to_string()))
                })
                .collect();
            let row = Row {
                line: i as u64 + 1,
                values,
            };
            let problem = |line: u64, message: String| Problem {
                file: self.name.clone(),
                line,
                message,
            };
            if check_row(self.kind, &row, &mut seen, problems, &problem) {
                rows.push(row);
            }
        }
        rows
    }
}

/// Checks record sets as [`import_records`] would, without a database.
pub fn check_records(sets: &[RecordSet]) -> Result<(), CsvError> {
    let mut problems = Vec::new();
    for set in sets {
        set.rows(&mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CsvError::Invalid(problems))
    }
}

/// Imports record sets in one transaction, or nothing at all.
pub fn import_records(
    db: &Store,
    company: CompanyId,
    sets: &[RecordSet],
) -> Result<CsvSummary, CsvError> {
    import_records_and(db, company, sets, |_| Ok(()))
}

/// [`import_records`], with `also` writing more in the same transaction
/// (a seed's policy switches) once every record is written and checked.
pub fn import_records_and(
    db: &Store,
    company: CompanyId,
    sets: &[RecordSet],
    also: impl FnOnce(&RecordWriter<'_>) -> Result<(), StoreError> + Send,
) -> Result<CsvSummary, CsvError> {
    let mut problems = Vec::new();
    let parsed: Vec<(Source, Vec<Row>)> = sets
        .iter()
        .map(|set| {
            let source = Source {
                name: set.name.clone(),
                kind: set.kind,
                whole: set.whole,
            };
            (source, set.rows(&mut problems))
        })
        .collect();
    if !problems.is_empty() {
        return Err(CsvError::Invalid(problems));
    }
    write(db, company, parsed, &|_, _| {}, also)
}

/// Imports the files in one transaction, or nothing at all.
pub fn import(db: &Store, company: CompanyId, files: &[CsvFile]) -> Result<CsvSummary, CsvError> {
    import_with_progress(db, company, files, &|_, _| {})
}

/// [`import`], calling `progress(rows written, rows)` as it writes.
pub fn import_with_progress(
    db: &Store,
    company: CompanyId,
    files: &[CsvFile],
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<CsvSummary, CsvError> {
    let mut problems = Vec::new();
    let parsed: Vec<(Source, Vec<Row>)> = files
        .iter()
        .map(|f| {
            let source = Source {
                name: f.name.clone(),
                kind: f.kind,
                whole: false,
            };
            (source, parse(f, &mut problems))
        })
        .collect();
    if !problems.is_empty() {
        return Err(CsvError::Invalid(problems));
    }
    write(db, company, parsed, progress, |_| Ok(()))
}

/// Writes checked rows in one transaction; refuses (writing nothing) when a
/// reference between records does not hold.
fn write(
    db: &Store,
    company: CompanyId,
    mut parsed: Vec<(Source, Vec<Row>)>,
    progress: &(dyn Fn(u64, u64) + Sync),
    also: impl FnOnce(&RecordWriter<'_>) -> Result<(), StoreError> + Send,
) -> Result<CsvSummary, CsvError> {
    let total: u64 = parsed.iter().map(|(_, rows)| rows.len() as u64).sum();
    let mut written = 0u64;
    let mut problems = Vec::new();
    parsed.sort_by_key(|(f, _)| f.kind.order());
    db.write_records(company, |tx| {
    let mut sum = CsvSummary::default();
    for (file, rows) in &parsed {
        let problem = |line: u64, message: String| Problem {
            file: file.name.clone(),
            line,
            message,
        };
        if file.whole && file.kind == RecordType::NeverLog {
            tx.clear_policy_list(PolicyList::NeverLog)?;
        }
        for row in rows {
            written += 1;
            if written.is_multiple_of(1000) || written == total {
                progress(written, total);
            }
            let text = |c: &str| row.get(c).unwrap_or_default().to_string();
            match file.kind {
                RecordType::Salespeople => {
                    let email = row.get("email").map(normalise);
                    tx.upsert_salesperson(&text("code"), &text("name"), email.as_deref())?;
                    sum.salespeople += 1;
                }
                RecordType::Contacts => {
                    let kind = match row.get("type").map(str::to_lowercase).as_deref() {
                        Some("company") => "company",
                        _ => "person",
                    };
                    let email = row.get("email").map(normalise);
                    let email2 = row.get("email2").map(normalise);
                    tx.upsert_contact(&ContactRow {
                            no: &text("no"),
                            name: &text("name"),
                            kind,
                            company_no: row.get("company_no"),
                            email: email.as_deref(),
                            email2: email2.as_deref(),
                        })?;
                    if file.whole {
                        tx.remove_alt_addresses(&text("no"))?;
                        tx.remove_contact_domains(&text("no"))?;
                    }
                    sum.contacts += 1;
                }
                RecordType::AltAddresses => {
                    let contact = text("contact_no");
                    if !tx.contact_exists(&contact)? {
                        problems.push(problem(
                            row.line,
                            format!("there is no contact {contact:?} (import contacts first, or in the same command)"),
                        ));
                        continue;
                    }
                    let email = row.get("email").map(normalise);
                    tx.upsert_alt_address(&contact, &text("code"), email.as_deref())?;
                    sum.alt_addresses += 1;
                }
                RecordType::InteractionTemplates => {
                    let for_email = is_yes(row.get("email_template"));
                    tx.upsert_template(&text("code"), row.get("description"), for_email)?;
                    sum.interaction_templates += 1;
                }
                RecordType::CompanyDomains => {
                    let contact = text("contact_no");
                    let refusal = match tx.contact_kind(&contact)?.as_deref() {
                        Some("company") => None,
                        Some(_) => Some(format!("contact {contact:?} is a person: domains belong to company contacts")),
                        None => Some(format!("there is no contact {contact:?} (import contacts first, or in the same command)")),
                    };
                    if let Some(message) = refusal {
                        problems.push(problem(row.line, message));
                        continue;
                    }
                    // Checked by `check_values`: this cannot fail here.
                    if let Ok(domain) = normalise_domain(&text("domain")) {
                        tx.add_contact_domain(&contact, &domain)?;
                        sum.company_domains += 1;
                    }
                }
                RecordType::NeverLog => {
                    if let Ok(entry) = normalise_never_log(&text("entry")) {
                        tx.add_to_policy_list(PolicyList::NeverLog, &entry)?;
                        sum.never_log += 1;
                    }
                }
            }
        }
        if file.kind == RecordType::Contacts {
            check_companies(&tx, file, rows, &mut problems)?;
        }
    }
    if file_marks_many_templates(&parsed, &mut problems) || !problems.is_empty() {
        // Dropping the transaction rolls every file back.
        return Err(CsvError::Invalid(problems));
    }
    also(&tx)?;
    tx.commit()?;
    Ok(sum)
    })
}

/// Reads a file's header and rows, reporting what is wrong with them.
fn parse(file: &CsvFile, problems: &mut Vec<Problem>) -> Vec<Row> {
    let problem = |line: u64, message: String| Problem {
        file: file.name.clone(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(file.text.trim_start_matches('\u{feff}').as_bytes());
    let (required, optional) = file.kind.columns();
    // Problems of files read before this one are not this file's.
    let before = problems.len();
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.to_lowercase().replace([' ', '-'], "_"))
            .collect(),
        Err(e) => {
            problems.push(problem(1, format!("the header row cannot be read: {e}")));
            return Vec::new();
        }
    };
    let mut columns: Vec<Option<&'static str>> = Vec::new();
    for name in &header {
        match required.iter().chain(optional).find(|c| **c == name) {
            Some(c) if columns.contains(&Some(c)) => {
                problems.push(problem(1, format!("the column {name:?} appears twice")))
            }
            Some(c) => columns.push(Some(c)),
            None => problems.push(problem(
                1,
                format!(
                    "unknown column {name:?}; the columns are {}",
                    required
                        .iter()
                        .chain(optional)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
    for c in required {
        if !columns.contains(&Some(c)) {
            problems.push(problem(1, format!("the required column {c:?} is missing")));
        }
    }
    if problems.len() > before {
        return Vec::new();
    }
    let mut seen: HashMap<Vec<String>, u64> = HashMap::new();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(problem(line, format!("the row cannot be read: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != columns.len() {
            problems.push(problem(
                line,
                format!(
                    "{} values, but the header has {} columns",
                    record.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        let mut values = HashMap::new();
        for (column, value) in columns.iter().zip(record.iter()) {
            if let Some(c) = column
                && !value.is_empty()
            {
                values.insert(*c, value.to_string());
            }
        }
        let row = Row { line, values };
        if check_row(file.kind, &row, &mut seen, problems, &problem) {
            rows.push(row);
        }
    }
    rows
}

/// The checks of one row that need no database, whatever format it came
/// in: control characters, lengths, e-mail addresses, the record type's own
/// rules, an empty key and a key seen before. Says whether the row has a
/// key (and may be written, if no problem was found).
fn check_row(
    kind: RecordType,
    row: &Row,
    seen: &mut HashMap<Vec<String>, u64>,
    problems: &mut Vec<Problem>,
    problem: &dyn Fn(u64, String) -> Problem,
) -> bool {
    let line = row.line;
    let mut columns: Vec<&&'static str> = row.values.keys().collect();
    columns.sort();
    for c in columns {
        let value = &row.values[*c];
        if value.chars().any(char::is_control) {
            problems.push(problem(line, format!("{c} has control characters")));
        }
        if let Some(max) = max_len(kind, c)
            && value.chars().count() > max
        {
            problems.push(problem(
                line,
                format!("{c} is longer than {max} characters"),
            ));
        }
    }
    check_values(kind, row, problems, problem);
    let key_columns = kind.columns().0;
    let mut key = Vec::new();
    for c in key_columns {
        match row.get(c) {
            Some(v) => key.push(v.to_string()),
            None => problems.push(problem(line, format!("{c} is empty"))),
        }
    }
    if key.len() != key_columns.len() {
        return false;
    }
    if let Some(first) = seen.insert(key.clone(), line) {
        problems.push(problem(
            line,
            format!("{} repeats line {first}", key.join(" / ")),
        ));
    }
    true
}

fn is_yes(v: Option<&str>) -> bool {
    matches!(
        v.map(str::to_lowercase).as_deref(),
        Some("yes" | "true" | "1")
    )
}

/// The checks of one row's values that need no other row.
fn check_values(
    kind: RecordType,
    row: &Row,
    problems: &mut Vec<Problem>,
    problem: &dyn Fn(u64, String) -> Problem,
) {
    let emails: &[&str] = match kind {
        RecordType::Contacts => &["email", "email2"],
        RecordType::InteractionTemplates | RecordType::CompanyDomains | RecordType::NeverLog => &[],
        RecordType::Salespeople | RecordType::AltAddresses => &["email"],
    };
    for column in emails {
        check_email(row, column, problems, problem);
    }
    if kind == RecordType::Contacts
        && let Some(t) = row.get("type")
        && !["company", "person"].contains(&t.to_lowercase().as_str())
    {
        problems.push(problem(
            row.line,
            format!("type must be \"company\" or \"person\", not {t:?}"),
        ));
    }
    if kind == RecordType::CompanyDomains
        && let Some(d) = row.get("domain")
    {
        match normalise_domain(d) {
            Err(why) => problems.push(problem(
                row.line,
                format!("domain {d:?} is not a domain: {why}"),
            )),
            Ok(d) if is_public_mail_domain(&d) => problems.push(problem(
                row.line,
                format!("domain {d:?} is a public mail domain: people of every company have addresses there"),
            )),
            Ok(_) => {}
        }
    }
    if kind == RecordType::NeverLog
        && let Some(e) = row.get("entry")
        && let Err(why) = normalise_never_log(e)
    {
        problems.push(problem(
            row.line,
            format!("entry {e:?} is not an e-mail address or a domain: {why}"),
        ));
    }
    if kind == RecordType::InteractionTemplates
        && let Some(v) = row.get("email_template")
        && !is_yes(Some(v))
        && !["no", "false", "0"].contains(&v.to_lowercase().as_str())
    {
        problems.push(problem(
            row.line,
            format!("email_template must be yes or no, not {v:?}"),
        ));
    }
}

/// Reports an address in `column` that is not one.
fn check_email(
    row: &Row,
    column: &str,
    problems: &mut Vec<Problem>,
    problem: &dyn Fn(u64, String) -> Problem,
) {
    let Some(value) = row.get(column) else {
        return;
    };
    let address = normalise(value);
    let well_formed = match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !well_formed {
        problems.push(problem(
            row.line,
            format!("{column} {value:?} is not an e-mail address"),
        ));
    } else if address.chars().count() > EMAIL_LEN {
        problems.push(problem(
            row.line,
            format!("{column} is longer than {EMAIL_LEN} characters"),
        ));
    }
}

/// Every `company_no` must name a company contact, in the file or already
/// in the ERP.
fn check_companies(
    tx: &RecordWriter<'_>,
    file: &Source,
    rows: &[Row],
    problems: &mut Vec<Problem>,
) -> Result<(), StoreError> {
    for row in rows {
        let Some(no) = row.get("company_no") else {
            continue;
        };
        let kind = tx.contact_kind(no)?;
        let message = match kind.as_deref() {
            Some("company") => continue,
            Some(_) => format!("company_no {no:?} is a person, not a company contact"),
            None => format!("company_no {no:?} is not a contact"),
        };
        problems.push(Problem {
            file: file.name.clone(),
            line: row.line,
            message,
        });
    }
    Ok(())
}

/// Only one interaction template can be the e-mail template.
fn file_marks_many_templates(parsed: &[(Source, Vec<Row>)], problems: &mut Vec<Problem>) -> bool {
    let marked: Vec<(&Source, &Row)> = parsed
        .iter()
        .filter(|(f, _)| f.kind == RecordType::InteractionTemplates)
        .flat_map(|(f, rows)| rows.iter().map(move |r| (f, r)))
        .filter(|(_, r)| is_yes(r.get("email_template")))
        .collect();
    for (f, r) in marked.iter().skip(1) {
        problems.push(Problem {
            file: f.name.clone(),
            line: r.line,
            message: format!(
                "only one template can be the e-mail template; line {} of {} is one already",
                marked[0].1.line, marked[0].0.name
            ),
        });
    }
    marked.len() > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(kind: RecordType, text: &str) -> CsvFile {
        CsvFile {
            name: format!("{kind:?}.csv"),
            kind,
            text: text.into(),
        }
    }

    fn counts(db: &Store, company: CompanyId) -> crate::store::records::RecordCounts {
        crate::store::records::record_counts(db, company).unwrap()
    }

    #[test]
    fn good_files_import_together() {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let sum = import(
            &db,
            c,
            &[
                // Addresses before contacts on the command line still work.
                file(RecordType::AltAddresses, "contact_no,code,email\nCT1,HOME,A@Home.Example\n"),
                file(
                    RecordType::Contacts,
                    "\u{feff}No,Name,Type,Company No,Email,Email2\nCT0,Them,company,,info@them.example,\nCT1,Ann,person,CT0,ann@them.example,\n",
                ),
                file(RecordType::Salespeople, "code,name,email\nJO,Jim,jim@us.example\n"),
                file(
                    RecordType::InteractionTemplates,
                    "code,description,email_template\nEMAIL,E-mail,yes\nMEET,Meeting,\n",
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            sum,
            CsvSummary {
                salespeople: 1,
                contacts: 2,
                alt_addresses: 1,
                interaction_templates: 2,
                ..Default::default()
            }
        );
        assert_eq!(
            super::super::lookup(&db, c, "a@home.example").unwrap().1,
            vec![("CT1".into(), Some("CT0".into()), Some("HOME".into()))]
        );
        assert_eq!(
            super::super::email_template(&db, c).unwrap().as_deref(),
            Some("EMAIL")
        );
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_nothing_is_imported() {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let err = import(
            &db,
            c,
            &[
                file(RecordType::Salespeople, "code,name,email\nJO,Jim,jim@us.example\n"),
                file(
                    RecordType::Contacts,
                    "no,name,type,company_no,email\nCT1,Ann,robot,,ann@them.example\nCT2,Bo,person,CT9,not-an-address\n,Nobody,person,,\nCT1,Ann again,person,,\nCT3,Short\n",
                ),
            ],
        )
        .unwrap_err();
        let text = err.to_string();
        for expected in [
            "Contacts.csv:2: type must be",
            "Contacts.csv:3: email \"not-an-address\" is not an e-mail address",
            "Contacts.csv:4: no is empty",
            "Contacts.csv:5: CT1 repeats line 2",
            "Contacts.csv:6: 2 values, but the header has 5 columns",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        assert_eq!(
            counts(&db, c).salespeople,
            0,
            "a refused import writes nothing"
        );
        assert_eq!(counts(&db, c).contacts, 0);
    }

    #[test]
    fn references_and_headers_are_checked() {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let text = import(
            &db,
            c,
            &[
                file(
                    RecordType::Contacts,
                    "no,name,type,company_no\nCT1,Ann,person,CT9\nCT2,Bo,person,CT1\n",
                ),
                file(
                    RecordType::AltAddresses,
                    "contact_no,code,email\nCT7,HOME,a@b.example\n",
                ),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            text.contains("Contacts.csv:2: company_no \"CT9\" is not a contact"),
            "{text}"
        );
        assert!(
            text.contains("Contacts.csv:3: company_no \"CT1\" is a person"),
            "{text}"
        );
        assert!(
            text.contains("AltAddresses.csv:2: there is no contact \"CT7\""),
            "{text}"
        );
        assert_eq!(counts(&db, c).contacts, 0);

        let text = import(
            &db,
            c,
            &[file(RecordType::Salespeople, "name,mail\nJim,x\n")],
        )
        .unwrap_err()
        .to_string();
        assert!(text.contains(":1: unknown column \"mail\""), "{text}");
        assert!(
            text.contains(":1: the required column \"code\" is missing"),
            "{text}"
        );
    }

    #[test]
    fn company_domains_and_never_log_entries_import_all_or_nothing() {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let contacts = || {
            file(
                RecordType::Contacts,
                "no,name,type,company_no,email\nC1,Adatum,company,,\nP1,Pat,person,C1,pat@adatum.com\n",
            )
        };
        let err = import(
            &db,
            c,
            &[
                contacts(),
                file(
                    RecordType::CompanyDomains,
                    "contact_no,domain\nC1,adatum.com\nC1,not a domain\nC1,Gmail.com\n",
                ),
                file(
                    RecordType::NeverLog,
                    "entry\nhr@contoso.com\nhr@@contoso.com\n",
                ),
            ],
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "CompanyDomains.csv:3: domain \"not a domain\" is not a domain",
            "CompanyDomains.csv:4: domain \"gmail.com\" is a public mail domain",
            "NeverLog.csv:3: entry \"hr@@contoso.com\" is not an e-mail address or a domain",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
        // Which contacts are companies is known when the rows are written.
        let err = import(
            &db,
            c,
            &[
                contacts(),
                file(
                    RecordType::CompanyDomains,
                    "contact_no,domain\nC1,adatum.com\nP1,pat.example\nC9,x.example\n",
                ),
            ],
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "CompanyDomains.csv:3: contact \"P1\" is a person: domains belong to company contacts",
            "CompanyDomains.csv:4: there is no contact \"C9\"",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
        assert_eq!(counts(&db, c).contacts, 0, "nothing was imported");
        assert!(db.email_logging_policy(c).unwrap().never_log.is_empty());

        let sum = import(
            &db,
            c,
            &[
                contacts(),
                file(
                    RecordType::CompanyDomains,
                    "Contact No,Domain\nC1,Adatum.com\nC1,@adatum.de\n",
                ),
                file(
                    RecordType::NeverLog,
                    "entry\nHR@contoso.com\n@legal.contoso.com\n",
                ),
            ],
        )
        .unwrap();
        assert_eq!((sum.company_domains, sum.never_log), (2, 2));
        assert_eq!(
            super::super::contact(&db, c, "C1")
                .unwrap()
                .unwrap()
                .domains,
            ["adatum.com", "adatum.de"]
        );
        assert_eq!(
            db.email_logging_policy(c).unwrap().never_log,
            ["hr@contoso.com", "legal.contoso.com"]
        );
        // A CSV file adds: what it does not name stays.
        import(
            &db,
            c,
            &[file(RecordType::NeverLog, "entry\nfabrikam.com\n")],
        )
        .unwrap();
        assert_eq!(db.email_logging_policy(c).unwrap().never_log.len(), 3);
    }

    #[test]
    fn every_file_is_checked_whatever_the_files_before_it() {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let err = import(
            &db,
            c,
            &[
                file(RecordType::Salespeople, "code,mail\nJO,x\n"),
                file(RecordType::Contacts, "no,name,type\nCT1,Ann,robot\n"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("Salespeople.csv:1: unknown column"), "{err}");
        assert!(err.contains("Contacts.csv:2: type must be"), "{err}");
    }

    #[test]
    fn file_names_say_the_record_type() {
        assert_eq!(
            RecordType::from_file_name("data/Alt_Addresses.csv"),
            Some(RecordType::AltAddresses)
        );
        assert_eq!(
            RecordType::from_file_name("contacts.csv"),
            Some(RecordType::Contacts)
        );
        assert_eq!(RecordType::from_file_name("stuff.csv"), None);
        assert_eq!(
            RecordType::from_file_name("company_domains.csv"),
            Some(RecordType::CompanyDomains)
        );
        assert_eq!(
            RecordType::from_file_name("never-log.csv"),
            Some(RecordType::NeverLog)
        );
    }
}
