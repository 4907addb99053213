//! The CRM seed (SPEC §7): a JSON file of salespeople, contacts (company
//! contacts with the domains they own), the e-mail interaction template
//! and the email-logging policy, checked and written as a CSV import is.
//!
//! A seed describes what it names whole: a contact's alternative
//! addresses and domains are those it lists, and `email_logging.never_log`,
//! when given, is the whole never-log list. `email_logging.company_by_domain`
//! is written with the records, in the same transaction.
//! `email_logging.log_sensitive` is a field of the component's setup, not
//! of the ERP's records: `Erp::apply_seed_setup` applies it
//! through the component, after the import.

use super::csv_import;
use crate::store::{CompanyId, Store};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};

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
    /// The email-logging policy, and the setup's `log-sensitive`.
    #[serde(default)]
    pub email_logging: Option<SeedEmailLogging>,
}

/// The seed's `email_logging`: every key optional; what is not given
/// stays as it is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedEmailLogging {
    /// Company by domain on or off.
    #[serde(default)]
    pub company_by_domain: Option<bool>,
    /// The whole never-log list: addresses and domains.
    #[serde(default)]
    pub never_log: Option<Vec<String>>,
    /// The setup's `log-sensitive` (applied through the component).
    #[serde(default)]
    pub log_sensitive: Option<bool>,
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
    /// Domains a company contact owns (company by domain).
    #[serde(default)]
    pub domains: Vec<String>,
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
    /// Company contact domains written.
    pub company_domains: usize,
    /// Never-log entries written (the seed's whole list).
    pub never_log: usize,
}

/// Parses a CRM seed, with the file's own words in the error. Its values
/// are checked as a CSV import checks them (see [`csv_import`]); references
/// to other records are checked when it is imported.
pub fn parse_seed(text: &str) -> anyhow::Result<CrmSeed> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).context("the CRM seed is not valid JSON")?;
    anyhow::ensure!(
        value.is_object(),
        "the CRM seed must be a JSON object with \"salespeople\", \"contacts\", \"email_template\" and \"email_logging\""
    );
    // Read apart, so that its errors say where they are.
    let email_logging = value
        .as_object_mut()
        .and_then(|o| o.remove("email_logging"))
        .filter(|v| !v.is_null());
    let mut seed: CrmSeed = serde_json::from_value(value).context("the CRM seed is not valid")?;
    if let Some(e) = email_logging {
        seed.email_logging =
            Some(serde_json::from_value(e).context("the CRM seed's email_logging is not valid")?);
    }
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
            whole: true,
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
        let mut sets = vec![
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
        ];
        // One set per contact, so that a problem names the contact's line.
        for (i, c) in self.contacts.iter().enumerate() {
            if !c.domains.is_empty() {
                sets.push(set(
                    &format!("contacts:{} domains", i + 1),
                    RecordType::CompanyDomains,
                    c.domains
                        .iter()
                        .map(|d| vec![("contact_no", some(&c.no)), ("domain", some(d))])
                        .collect(),
                ));
            }
        }
        // Only a list the seed gives replaces the ERP's.
        if let Some(list) = self
            .email_logging
            .as_ref()
            .and_then(|e| e.never_log.as_ref())
        {
            sets.push(set(
                "email_logging.never_log",
                RecordType::NeverLog,
                list.iter().map(|e| vec![("entry", some(e))]).collect(),
            ));
        }
        sets
    }

    /// The setup's `log-sensitive`, when the seed gives it.
    pub fn log_sensitive(&self) -> Option<bool> {
        self.email_logging.as_ref().and_then(|e| e.log_sensitive)
    }
}

/// Writes a seed into a company (insert or update by code/number), all of
/// it or, when a check fails, nothing.
/// The seed's `email_logging.company_by_domain` is written in the same
/// transaction; its `log_sensitive` is not written here (see the module).
pub fn import(db: &Store, company: CompanyId, seed: &CrmSeed) -> anyhow::Result<ImportSummary> {
    let company_by_domain = seed
        .email_logging
        .as_ref()
        .and_then(|e| e.company_by_domain);
    let s =
        csv_import::import_records_and(
            db,
            company,
            &seed.record_sets(),
            |w| match company_by_domain {
                Some(on) => w.set_company_by_domain(on),
                None => Ok(()),
            },
        )
        .context("the CRM seed was not imported")?;
    Ok(ImportSummary {
        salespeople: s.salespeople,
        contacts: s.contacts,
        alt_addresses: s.alt_addresses,
        company_domains: s.company_domains,
        never_log: s.never_log,
    })
}
