//! Company by domain, the reference host's answer at the component's
//! `unknown-parties` extension point: an external address that matched
//! nobody, at a domain that exactly one company contact owns, becomes a
//! person contact of that company, so that its mail is logged.
//!
//! A company contact owns a domain when its own e-mail is at that domain,
//! or when the domain is on its list of domains (`domains` in the CRM
//! seed, the `company-domains` CSV type). Only the exact domain counts: a
//! subdomain may be another party's (a hosting customer, a subsidiary
//! with its own contact). Public mail domains ([`PUBLIC_MAIL_DOMAINS`])
//! are nobody's company: people of every company use them. With no owner,
//! or two or more, the address stays unknown.
//!
//! The switch is the policy's `company_by_domain` (off by default).

use super::policy::{domain_of, normalise_domain};
use crate::store::company_domains::GeneratedContact;
use crate::store::records::ContactMatch;
use crate::store::{CompanyId, Store, StoreError};
use std::collections::HashMap;

/// The activity log's source for what company by domain did.
pub const ACTIVITY_SOURCE: &str = "company-by-domain";

/// The longest address a contact's e-mail field takes (Business Central's
/// Text[80], as the imports check).
const EMAIL_LEN: usize = 80;

/// The longest contact name (Text[100], as the imports check).
const NAME_LEN: usize = 100;

/// Domains where anyone can have an address, so a domain that says nothing
/// of a person's company. A curated list of the large providers (and
/// Yahoo's country domains), not a crate's: the crates.io lists
/// (`email_provider_validator`) are generated from web lists of thousands
/// of domains with company domains among them, which would quietly turn
/// company by domain off for real customers, and are not kept up.
pub const PUBLIC_MAIL_DOMAINS: &[&str] = &[
    // Google
    "gmail.com",
    "googlemail.com",
    // Microsoft
    "outlook.com",
    "outlook.de",
    "outlook.fr",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.de",
    "hotmail.fr",
    "hotmail.it",
    "hotmail.nl",
    "live.com",
    "live.co.uk",
    "live.de",
    "live.fr",
    "live.nl",
    "msn.com",
    // Yahoo, with its country domains
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.de",
    "yahoo.fr",
    "yahoo.it",
    "yahoo.es",
    "yahoo.nl",
    "yahoo.be",
    "yahoo.at",
    "yahoo.ch",
    "yahoo.ie",
    "yahoo.se",
    "yahoo.dk",
    "yahoo.no",
    "yahoo.fi",
    "yahoo.pl",
    "yahoo.gr",
    "yahoo.ro",
    "yahoo.ca",
    "yahoo.com.au",
    "yahoo.co.nz",
    "yahoo.co.jp",
    "yahoo.co.in",
    "yahoo.com.br",
    "yahoo.com.mx",
    "yahoo.com.ar",
    "yahoo.com.sg",
    "yahoo.com.hk",
    "yahoo.com.tw",
    "yahoo.com.ph",
    "yahoo.co.id",
    "ymail.com",
    "rocketmail.com",
    // Apple
    "icloud.com",
    "me.com",
    "mac.com",
    // AOL
    "aol.com",
    "aim.com",
    // GMX, web.de, mail.com
    "gmx.de",
    "gmx.net",
    "gmx.com",
    "gmx.at",
    "gmx.ch",
    "web.de",
    "mail.com",
    // Proton
    "proton.me",
    "protonmail.com",
    "protonmail.ch",
    "pm.me",
    // Others, by country
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "t-online.de",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "ziggo.nl",
    "kpnmail.nl",
    "hetnet.nl",
    "planet.nl",
    "telenet.be",
    "skynet.be",
];

/// Whether `domain` (normalised) is a public mail domain.
pub fn is_public_mail_domain(domain: &str) -> bool {
    PUBLIC_MAIL_DOMAINS.contains(&domain)
}

/// An address that matched nobody, as the component asks about it.
#[derive(Debug, Clone, Copy)]
pub struct UnknownParty<'a> {
    /// The address (normalised by the component; normalised again here).
    pub address: &'a str,
    /// The display name the message gave it, if any.
    pub display_name: Option<&'a str>,
    /// The key of the first message that needs it (for the activity log).
    pub message_key: &'a str,
}

/// The contact for each party, in order: an existing contact with the
/// address (one created meanwhile), a person contact created now under the
/// one company that owns the address's domain, or `None`.
///
/// Reads the policy once; creates every contact of the call in one
/// transaction, committed before it returns, with an activity log line for
/// each; an address asked twice gets the same contact.
pub fn resolve(
    db: &Store,
    company: CompanyId,
    parties: &[UnknownParty<'_>],
) -> Result<Vec<Option<ContactMatch>>, StoreError> {
    if !db.email_logging_policy(company)?.company_by_domain {
        return Ok(vec![None; parties.len()]);
    }
    // What can be a contact at all: a well-formed address that fits the
    // e-mail field, at a domain that is not a public one.
    let candidates: Vec<Option<(String, String)>> = parties
        .iter()
        .map(|p| {
            let address = super::normalise(p.address);
            let domain = company_domain_of(&address)?;
            Some((address, domain))
        })
        .collect();
    if candidates.iter().all(Option::is_none) {
        return Ok(vec![None; parties.len()]);
    }
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    db.write_records(company, |w| {
        let mut answered: HashMap<&str, Option<ContactMatch>> = HashMap::new();
        let mut owners: HashMap<&str, Vec<(String, String)>> = HashMap::new();
        let mut answers = Vec::with_capacity(parties.len());
        for (party, candidate) in parties.iter().zip(&candidates) {
            let Some((address, domain)) = candidate else {
                answers.push(None);
                continue;
            };
            if let Some(a) = answered.get(address.as_str()) {
                answers.push(a.clone());
                continue;
            }
            // Created meanwhile (a concurrent run, an import): that one.
            let answer = match w.contact_for_address(address)? {
                Some(existing) => Some(existing),
                None => {
                    if !owners.contains_key(domain.as_str()) {
                        owners.insert(domain.as_str(), w.domain_owners(domain)?);
                    }
                    match owners[domain.as_str()].as_slice() {
                        [(company_no, company_name)] => {
                            let no = w.next_generated_contact_no()?;
                            let name = contact_name(party.display_name, address);
                            w.insert_generated_contact(&GeneratedContact {
                                no: &no,
                                name: &name,
                                email: address,
                                company_no,
                                created_at: &created_at,
                            })?;
                            w.log_activity(
                                ACTIVITY_SOURCE,
                                "info",
                                &format!(
                                    "contact {no} {name:?} <{address}> created under company {company_no} {company_name} (company by domain)"
                                ),
                                Some(party.message_key),
                            )?;
                            Some((no, Some(company_no.clone()), None))
                        }
                        _ => None,
                    }
                }
            };
            answered.insert(address.as_str(), answer.clone());
            answers.push(answer);
        }
        w.commit()?;
        Ok(answers)
    })
}

/// The domain of an address that may become a contact: well formed, short
/// enough for the e-mail field, at a domain that is no public one.
fn company_domain_of(address: &str) -> Option<String> {
    if address.chars().count() > EMAIL_LEN
        || address.chars().any(|c| c.is_whitespace() || c.is_control())
        || address.matches('@').count() != 1
    {
        return None;
    }
    let domain = normalise_domain(domain_of(address)?).ok()?;
    (!is_public_mail_domain(&domain)).then_some(domain)
}

/// A new contact's name: the display name the message gave (without
/// quotes, control characters or runs of spaces), else the address's local
/// part; at most as long as the name field.
fn contact_name(display_name: Option<&str>, address: &str) -> String {
    let tidy = |s: &str| {
        s.trim()
            .trim_matches(['"', '\''])
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let name = display_name
        .map(tidy)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| tidy(address.split('@').next().unwrap_or(address)));
    name.chars().take(NAME_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::{ContactView, contact, lookup, lookup_many};

    fn erp(company_by_domain: bool) -> (Store, CompanyId) {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let seed = crate::crm::parse_seed(
            r#"{"contacts":[
                {"no":"C-0001","name":"Adatum","type":"company","email":"info@adatum.com"},
                {"no":"C-0002","name":"Fabrikam","type":"company","domains":["fabrikam.com","fabrikam.de"]},
                {"no":"C-0003","name":"Contoso","type":"company","email":"sales@contoso.com"},
                {"no":"C-0004","name":"Contoso Holding","type":"company","domains":["contoso.com"]},
                {"no":"C-0005","name":"Webmail Ltd","type":"company","email":"webmail.ltd@gmail.com"},
                {"no":"P-0001","name":"Priv Person","type":"person","email":"p@private.example"},
                {"no":"EL-000001","name":"Imported with our prefix","type":"person"}
            ]}"#,
        )
        .unwrap();
        crate::crm::import(&db, c, &seed).unwrap();
        db.write_records(c, |w| {
            w.set_company_by_domain(company_by_domain)?;
            w.commit()
        })
        .unwrap();
        (db, c)
    }

    fn party<'a>(address: &'a str, name: Option<&'a str>) -> UnknownParty<'a> {
        UnknownParty {
            address,
            display_name: name,
            message_key: "<m1@x>",
        }
    }

    fn created(db: &Store, c: CompanyId, no: &str) -> ContactView {
        contact(db, c, no).unwrap().expect("the contact exists")
    }

    #[test]
    fn one_owner_gives_a_contact_once_and_lookups_find_it_after() {
        let (db, c) = erp(true);
        let answers = resolve(
            &db,
            c,
            &[
                party("Ann@Adatum.com", Some("  \"Ann  Smith\" ")),
                party("bo@fabrikam.de", None),
                party("ann@adatum.com", Some("Another name")),
            ],
        )
        .unwrap();
        // EL-000001 was imported: the next number is free.
        let ann = ("EL-000002".to_string(), Some("C-0001".to_string()), None);
        let bo = ("EL-000003".to_string(), Some("C-0002".to_string()), None);
        assert_eq!(
            answers,
            [Some(ann.clone()), Some(bo.clone()), Some(ann.clone())],
            "the company's own e-mail and its domains list both count; one contact per address"
        );
        let v = created(&db, c, "EL-000002");
        assert_eq!(
            (
                v.name.as_str(),
                v.kind.as_str(),
                v.email.as_deref(),
                v.company_no.as_deref()
            ),
            (
                "Ann Smith",
                "person",
                Some("ann@adatum.com"),
                Some("C-0001")
            )
        );
        assert!(v.created_by_email_logging() && v.created_at.is_some());
        assert_eq!(created(&db, c, "EL-000003").name, "bo", "the local part");
        assert!(!created(&db, c, "C-0001").created_by_email_logging());
        assert_eq!(
            lookup(&db, c, "ann@adatum.com").unwrap().1,
            vec![ann.clone()]
        );
        assert_eq!(
            lookup_many(&db, c, &["BO@fabrikam.de".into()]).unwrap()[0].1,
            vec![bo]
        );
        let log = crate::crm::activities(&db, c).unwrap();
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!(log[0].source, "company-by-domain");
        assert_eq!(log[0].severity, "info");
        assert_eq!(
            log[0].description,
            "contact EL-000002 \"Ann Smith\" <ann@adatum.com> created under company C-0001 Adatum (company by domain)"
        );
        assert_eq!(log[0].message_key.as_deref(), Some("<m1@x>"));

        // Asked again (a later run, a concurrent one): the same contact.
        let again = resolve(&db, c, &[party("ann@adatum.com", None)]).unwrap();
        assert_eq!(again, [Some(ann)]);
        assert_eq!(crate::crm::activities(&db, c).unwrap().len(), 2);
        assert_eq!(crate::crm::counts(&db, c).unwrap().0, 9);
    }

    #[test]
    fn no_owner_two_owners_a_public_domain_or_the_switch_off_give_none() {
        let (db, c) = erp(true);
        let answers = resolve(
            &db,
            c,
            &[
                party("x@contoso.com", None),
                party("x@nobody.example", None),
                party("x@gmail.com", None),
                party("x@sub.adatum.com", None),
                party("x@private.example", None),
                party("not-an-address", None),
                party(&format!("{}@adatum.com", "x".repeat(80)), None),
            ],
        )
        .unwrap();
        assert_eq!(answers, vec![None; 7], "{answers:?}");
        assert_eq!(
            crate::crm::counts(&db, c).unwrap().0,
            7,
            "nothing was created"
        );

        let (db, c) = erp(false);
        assert_eq!(
            resolve(&db, c, &[party("ann@adatum.com", None)]).unwrap(),
            [None]
        );
        assert!(contact(&db, c, "EL-000002").unwrap().is_none());
    }

    #[test]
    fn public_domains_cover_the_big_providers_and_yahoo_countries() {
        for d in [
            "gmail.com",
            "yahoo.co.uk",
            "yahoo.com.au",
            "web.de",
            "skynet.be",
        ] {
            assert!(is_public_mail_domain(d), "{d}");
        }
        assert!(!is_public_mail_domain("adatum.com"));
        assert!(!is_public_mail_domain("gmail.com.evil.example"));
        let mut seen = std::collections::HashSet::new();
        for d in PUBLIC_MAIL_DOMAINS {
            assert!(seen.insert(d), "{d} twice");
            assert_eq!(normalise_domain(d).as_deref(), Ok(*d), "{d} is normalised");
        }
    }

    #[test]
    fn names_are_tidied_and_capped() {
        assert_eq!(
            contact_name(Some(" 'Ann\tSmith' "), "a@b.example"),
            "Ann Smith"
        );
        assert_eq!(contact_name(Some("  "), "ann.smith@b.example"), "ann.smith");
        assert_eq!(contact_name(None, "bo@b.example"), "bo");
        assert_eq!(
            contact_name(Some(&"n".repeat(300)), "a@b.example")
                .chars()
                .count(),
            100
        );
    }
}
