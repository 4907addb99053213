//! The CRM seed (SPEC §7): a JSON file of salespeople, contacts and the
//! e-mail interaction template, checked and written as a CSV import is.

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
pub fn import(db: &Store, company: CompanyId, seed: &CrmSeed) -> anyhow::Result<ImportSummary> {
    let s = csv_import::import_records(db, company, &seed.record_sets())
        .context("the CRM seed was not imported")?;
    Ok(ImportSummary {
        salespeople: s.salespeople,
        contacts: s.contacts,
        alt_addresses: s.alt_addresses,
    })
}
