//! The company's email-logging policy, which the reference host applies
//! at the component's `decide` extension point, and company by domain's
//! switch (see `crm::company_domain`).
//!
//! - **Never log**: mail with an address on this list, or at a domain on
//!   it, among its sender and recipients is not logged at all (the
//!   component counts it as `skipped-by-erp`, reason `never-log`).
//! - **Withheld subject**: mail with an address at one of these domains is
//!   logged with [`WITHHELD_SUBJECT`] in place of its subject.
//!
//! How entries match: an address entry (`hr@contoso.com`) matches that
//! address only; a domain entry (`contoso.com`) matches every address at
//! that domain *or at a subdomain of it* (`ann@legal.contoso.com`), never
//! a mere suffix (`ann@notcontoso.com`). A department with its own mail
//! subdomain is meant whole, and an entry cannot be dodged by a subdomain.
//! Everything is compared in its normalised form: trimmed and lower-case,
//! a domain without a leading `@` or a trailing dot.

use crate::store::policy::{PolicyList, StoredPolicy};
use crate::store::{CompanyId, Store, StoreError};
use serde::Serialize;
use std::collections::HashSet;

/// The reason `decide` gives for mail on the never-log list.
pub const NEVER_LOG_REASON: &str = "never-log";

/// What the entries of mail from or to a withheld-subject domain keep
/// instead of the subject.
pub const WITHHELD_SUBJECT: &str = "(subject withheld)";

/// Why a policy change was refused; nothing was saved.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Values are wrong; every one found is listed, with the field it is in.
    #[error("nothing was changed: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The database failed.
    #[error("the database failed: {0}")]
    Db(#[from] StoreError),
}

/// The company's policy, normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Whether an unknown address at a domain exactly one company contact
    /// owns becomes a person contact of that company.
    pub company_by_domain: bool,
    /// Addresses and domains whose mail is never logged, sorted.
    pub never_log: Vec<String>,
    /// Domains whose mail is logged with its subject withheld, sorted.
    pub withheld_subject_domains: Vec<String>,
}

impl From<StoredPolicy> for Policy {
    fn from(s: StoredPolicy) -> Self {
        Self {
            company_by_domain: s.company_by_domain,
            never_log: s.never_log,
            withheld_subject_domains: s.withheld_subject_domains,
        }
    }
}

/// What the policy says of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Log it; with a text, the entries keep that text instead of the subject.
    Log(Option<String>),
    /// Do not log it, for this reason.
    Skip(String),
}

/// The policy made ready to match many addresses: each address costs a
/// look-up per label of its domain, whatever the lists' lengths.
pub struct Matcher<'a> {
    addresses: HashSet<&'a str>,
    domains: HashSet<&'a str>,
    withheld: HashSet<&'a str>,
}

impl Policy {
    /// The policy ready to match addresses.
    pub fn matcher(&self) -> Matcher<'_> {
        let (addresses, domains) = self
            .never_log
            .iter()
            .partition::<Vec<_>, _>(|e| e.contains('@'));
        Matcher {
            addresses: addresses.into_iter().map(String::as_str).collect(),
            domains: domains.into_iter().map(String::as_str).collect(),
            withheld: self
                .withheld_subject_domains
                .iter()
                .map(String::as_str)
                .collect(),
        }
    }
}

impl Matcher<'_> {
    /// Whether mail with this address (any case or spacing) is never logged.
    pub fn never_logs(&self, address: &str) -> bool {
        let address = super::normalise(address);
        self.addresses.contains(address.as_str())
            || domain_of(&address).is_some_and(|d| within_any(d, &self.domains))
    }

    /// Whether mail with this address has its subject withheld.
    pub fn withholds_subject(&self, address: &str) -> bool {
        domain_of(&super::normalise(address)).is_some_and(|d| within_any(d, &self.withheld))
    }

    /// The decision for a message with these addresses (its sender and
    /// recipients): never log wins over a withheld subject.
    pub fn decide<'s>(&self, addresses: impl IntoIterator<Item = &'s str> + Clone) -> Decision {
        if addresses.clone().into_iter().any(|a| self.never_logs(a)) {
            Decision::Skip(NEVER_LOG_REASON.into())
        } else if addresses.into_iter().any(|a| self.withholds_subject(a)) {
            Decision::Log(Some(WITHHELD_SUBJECT.into()))
        } else {
            Decision::Log(None)
        }
    }
}

/// The domain of a normalised address (after its last `@`), without a
/// trailing dot.
pub fn domain_of(address: &str) -> Option<&str> {
    let (local, domain) = address.rsplit_once('@')?;
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    (!local.is_empty() && !domain.is_empty()).then_some(domain)
}

/// Whether `domain` or one of its parent domains is in `listed`.
fn within_any(domain: &str, listed: &HashSet<&str>) -> bool {
    let mut rest = domain;
    loop {
        if listed.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if !parent.is_empty() => rest = parent,
            _ => return false,
        }
    }
}

/// A domain as the policy keeps it: trimmed, lower-case, without a leading
/// `@` (so `@contoso.com` is the domain) or a trailing dot; refused with
/// the reason when it is none.
pub fn normalise_domain(text: &str) -> Result<String, String> {
    let d = super::normalise(text);
    let d = d.strip_prefix('@').unwrap_or(&d);
    let d = d.strip_suffix('.').unwrap_or(d);
    check_domain(d)?;
    Ok(d.to_string())
}

/// Why `domain` (normalised) is no domain, if it is none: labels of
/// letters, digits and inner hyphens, at least two of them (a top-level
/// domain alone would cover half the world), at most 253 characters.
fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("it is empty".into());
    }
    if domain.chars().count() > 253 {
        return Err("it is longer than 253 characters".into());
    }
    if domain.contains('@') {
        return Err("it holds an @".into());
    }
    if domain.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it holds spaces or control characters".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("a domain has at least two labels (contoso.com)".into());
    }
    for label in labels {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row, or a leading dot)".into());
        }
        if label.chars().count() > 63 {
            return Err("a label is longer than 63 characters".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("the label {label:?} starts or ends with a hyphen"));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_alphanumeric() || *c == '-')) {
            return Err(format!("{c:?} is not allowed in a domain"));
        }
    }
    Ok(())
}

/// A never-log entry as the policy keeps it: an address (`hr@contoso.com`),
/// or a domain (`legal.contoso.com`, or `@legal.contoso.com`), normalised.
pub fn normalise_never_log(text: &str) -> Result<String, String> {
    let e = super::normalise(text);
    match e.split_once('@') {
        // `@contoso.com`: the whole domain.
        Some(("", _)) | None => normalise_domain(&e),
        Some((_, domain)) if domain.contains('@') => Err("an address has one @".into()),
        Some((local, domain)) => {
            if local.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("the address holds spaces or control characters".into());
            }
            if e.chars().count() > 254 {
                return Err("the address is longer than 254 characters".into());
            }
            let domain = normalise_domain(domain)
                .map_err(|why| format!("the address's domain is no domain: {why}"))?;
            Ok(format!("{local}@{domain}"))
        }
    }
}

/// A change to the policy: only what is given changes. Each list is
/// cleared first (when asked), then loses the values to remove, then gains
/// the values to add, all in one transaction.
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    /// Turn company by domain on or off.
    pub company_by_domain: Option<bool>,
    /// The never-log list's change.
    pub never_log: ListChange,
    /// The withheld-subject domains' change.
    pub withheld_subject_domains: ListChange,
}

/// A change to one of the policy's lists.
#[derive(Debug, Clone, Default)]
pub struct ListChange {
    /// Empty the list first.
    pub clear: bool,
    /// Values to take off.
    pub remove: Vec<String>,
    /// Values to put on.
    pub add: Vec<String>,
}

impl ListChange {
    /// A change that makes the list exactly `values`.
    pub fn replace_with(values: Vec<String>) -> Self {
        Self {
            clear: true,
            remove: Vec::new(),
            add: values,
        }
    }
}

impl PolicyChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        let list = |l: &ListChange| !l.clear && l.remove.is_empty() && l.add.is_empty();
        self.company_by_domain.is_none()
            && list(&self.never_log)
            && list(&self.withheld_subject_domains)
    }
}

/// The company's policy.
pub fn policy(db: &Store, company: CompanyId) -> Result<Policy, StoreError> {
    Ok(db.email_logging_policy(company)?.into())
}

/// Checks every value of `change` (each problem names its field:
/// `never-log`, `withhold-subject`) and applies it in one transaction, or
/// nothing; answers the policy as it is then.
pub fn change_policy(
    db: &Store,
    company: CompanyId,
    change: &PolicyChange,
) -> Result<Policy, PolicyError> {
    let mut problems = Vec::new();
    let mut checked = |field: &str, values: &[String], norm: fn(&str) -> Result<String, String>| {
        values
            .iter()
            .filter_map(|v| match norm(v) {
                Ok(n) => Some(n),
                Err(why) => {
                    problems.push(format!("{field}: {v:?} is not {}: {why}", what(field)));
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    let never_add = checked("never-log", &change.never_log.add, normalise_never_log);
    let never_remove = checked("never-log", &change.never_log.remove, normalise_never_log);
    let withheld = &change.withheld_subject_domains;
    let withheld_add = checked("withhold-subject", &withheld.add, normalise_domain);
    let withheld_remove = checked("withhold-subject", &withheld.remove, normalise_domain);
    if !problems.is_empty() {
        return Err(PolicyError::Invalid(problems));
    }
    db.write_records(company, |w| {
        if let Some(on) = change.company_by_domain {
            w.set_company_by_domain(on)?;
        }
        for (list, clear, remove, add) in [
            (
                PolicyList::NeverLog,
                change.never_log.clear,
                &never_remove,
                &never_add,
            ),
            (
                PolicyList::WithheldSubject,
                withheld.clear,
                &withheld_remove,
                &withheld_add,
            ),
        ] {
            if clear {
                w.clear_policy_list(list)?;
            }
            for v in remove {
                w.remove_from_policy_list(list, v)?;
            }
            for v in add {
                w.add_to_policy_list(list, v)?;
            }
        }
        w.commit()
    })?;
    Ok(policy(db, company)?)
}

/// What a field's values must be, for its error message.
fn what(field: &str) -> &'static str {
    if field == "never-log" {
        "an e-mail address or a domain"
    } else {
        "a domain"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(never_log: &[&str], withheld: &[&str]) -> Policy {
        Policy {
            company_by_domain: false,
            never_log: never_log.iter().map(|s| s.to_string()).collect(),
            withheld_subject_domains: withheld.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn never_log_matches_addresses_exactly_and_domains_with_their_subdomains() {
        let p = with(&["hr@contoso.com", "legal.contoso.com"], &[]);
        let m = p.matcher();
        for yes in [
            "hr@contoso.com",
            " HR@Contoso.COM ",
            "ann@legal.contoso.com",
            "ann@LEGAL.contoso.com",
            "bo@eu.legal.contoso.com",
            "bo@legal.contoso.com.",
        ] {
            assert!(m.never_logs(yes), "{yes}");
        }
        for no in [
            "ann@contoso.com",
            "hr2@contoso.com",
            "hr@contoso.com.evil.example",
            "ann@notlegal.contoso.com",
            "ann@illegal.contoso.com",
            "legal.contoso.com",
            "",
        ] {
            assert!(!m.never_logs(no), "{no}");
        }
    }

    #[test]
    fn never_log_wins_over_a_withheld_subject_and_any_address_counts() {
        let p = with(&["contoso.com"], &["fabrikam.com"]);
        let m = p.matcher();
        assert_eq!(
            m.decide(["jo@us.example", "ann@fabrikam.com", "x@hr.contoso.com"]),
            Decision::Skip("never-log".into())
        );
        assert_eq!(
            m.decide(["jo@us.example", "ann@sales.fabrikam.com"]),
            Decision::Log(Some("(subject withheld)".into()))
        );
        assert_eq!(
            m.decide(["jo@us.example", "ann@adatum.com"]),
            Decision::Log(None)
        );
        assert_eq!(m.decide([]), Decision::Log(None));
    }

    #[test]
    fn entries_are_normalised_and_bad_ones_say_why() {
        assert_eq!(
            normalise_never_log(" HR@Contoso.com ").unwrap(),
            "hr@contoso.com"
        );
        assert_eq!(normalise_never_log("@Contoso.com").unwrap(), "contoso.com");
        assert_eq!(
            normalise_never_log("legal.contoso.com.").unwrap(),
            "legal.contoso.com"
        );
        assert_eq!(normalise_domain("@fabrikam.com").unwrap(), "fabrikam.com");
        assert_eq!(
            normalise_domain("bücher.example").unwrap(),
            "bücher.example"
        );
        for (bad, why) in [
            ("", "empty"),
            ("com", "at least two labels"),
            ("contoso..com", "empty label"),
            ("-contoso.com", "hyphen"),
            ("con toso.com", "spaces"),
            ("contoso_x.com", "'_' is not allowed"),
        ] {
            let err = normalise_never_log(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(normalise_never_log("hr@@contoso.com").is_err());
        assert!(normalise_never_log("h r@contoso.com").is_err());
        assert!(normalise_domain("hr@contoso.com").is_err());
    }

    #[test]
    fn a_change_is_checked_whole_and_applied_in_order() {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let p = change_policy(
            &db,
            c,
            &PolicyChange {
                company_by_domain: Some(true),
                never_log: ListChange {
                    add: vec!["HR@contoso.com".into(), "@legal.contoso.com".into()],
                    ..Default::default()
                },
                withheld_subject_domains: ListChange {
                    add: vec!["Fabrikam.com".into()],
                    ..Default::default()
                },
            },
        )
        .unwrap();
        assert_eq!(
            p,
            Policy {
                company_by_domain: true,
                never_log: vec!["hr@contoso.com".into(), "legal.contoso.com".into()],
                withheld_subject_domains: vec!["fabrikam.com".into()],
            }
        );
        assert_eq!(policy(&db, c).unwrap(), p, "read back from the database");

        let err = change_policy(
            &db,
            c,
            &PolicyChange {
                company_by_domain: Some(false),
                never_log: ListChange {
                    add: vec!["ok.example".into(), "not a domain".into()],
                    ..Default::default()
                },
                withheld_subject_domains: ListChange {
                    add: vec!["x@y.example".into()],
                    ..Default::default()
                },
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("nothing was changed"), "{err}");
        assert!(
            err.contains("never-log: \"not a domain\" is not an e-mail address or a domain"),
            "{err}"
        );
        assert!(
            err.contains("withhold-subject: \"x@y.example\" is not a domain"),
            "{err}"
        );
        assert_eq!(
            policy(&db, c).unwrap(),
            p,
            "a refused change changes nothing"
        );

        let p = change_policy(
            &db,
            c,
            &PolicyChange {
                never_log: ListChange {
                    remove: vec!["Legal.Contoso.com".into()],
                    add: vec!["gc@contoso.com".into()],
                    ..Default::default()
                },
                withheld_subject_domains: ListChange::replace_with(vec![]),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(p.company_by_domain, "not given, so unchanged");
        assert_eq!(p.never_log, ["gc@contoso.com", "hr@contoso.com"]);
        assert!(p.withheld_subject_domains.is_empty());
        let p = change_policy(
            &db,
            c,
            &PolicyChange {
                never_log: ListChange {
                    clear: true,
                    add: vec!["new.example".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.never_log, ["new.example"], "cleared, then added");
    }
}
