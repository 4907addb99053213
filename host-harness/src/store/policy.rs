//! The company's email-logging policy as stored: company by domain, the
//! never-log list and the domains whose mail is logged without its
//! subject. Values arrive checked and normalised by `crm::policy`.

use super::records::RecordWriter;
use super::sql::params;
use super::{CompanyId, Result, Store};

/// The policy as stored; a company that never set one has the defaults
/// (company by domain off, both lists empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPolicy {
    /// Whether unknown addresses of a known company's domain become contacts.
    pub company_by_domain: bool,
    /// Addresses and domains whose mail is never logged, sorted.
    pub never_log: Vec<String>,
    /// Domains whose mail is logged with its subject withheld, sorted.
    pub withheld_subject_domains: Vec<String>,
}

/// One of the policy's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyList {
    /// Addresses and domains whose mail is never logged.
    NeverLog,
    /// Domains whose mail is logged with its subject withheld.
    WithheldSubject,
}

impl PolicyList {
    /// The table and its value column.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Self::NeverLog => ("never_log", "entry"),
            Self::WithheldSubject => ("withheld_subject_domain", "domain"),
        }
    }
}

impl Store {
    /// The company's policy, read in one statement (one snapshot, so the
    /// flag and the lists always belong together).
    pub fn email_logging_policy(&self, company: CompanyId) -> Result<StoredPolicy> {
        let rows = self.read(|c| {
            c.query(
                "SELECT CAST(0 AS BIGINT), CAST(company_by_domain AS TEXT) FROM email_logging_policy WHERE company_id = ?1
                 UNION ALL SELECT CAST(1 AS BIGINT), entry FROM never_log WHERE company_id = ?1
                 UNION ALL SELECT CAST(2 AS BIGINT), domain FROM withheld_subject_domain WHERE company_id = ?1
                 ORDER BY 1, 2",
                params![company],
                |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)),
            )
        })?;
        let mut policy = StoredPolicy::default();
        for row in rows {
            match row {
                (0, flag) => policy.company_by_domain = flag != "0",
                (1, entry) => policy.never_log.push(entry),
                (_, domain) => policy.withheld_subject_domains.push(domain),
            }
        }
        Ok(policy)
    }
}

impl RecordWriter<'_> {
    /// Turns company by domain on or off.
    pub fn set_company_by_domain(&self, on: bool) -> Result<()> {
        self.tx.execute(
            "INSERT INTO email_logging_policy(company_id, company_by_domain) VALUES (?1, ?2)
             ON CONFLICT(company_id) DO UPDATE SET company_by_domain = excluded.company_by_domain",
            // The flag is an integer column on both databases.
            params![self.company, i64::from(on)],
        )?;
        Ok(())
    }

    /// Empties a list.
    pub fn clear_policy_list(&self, list: PolicyList) -> Result<()> {
        let (table, _) = list.table();
        self.tx.execute(
            &format!("DELETE FROM {table} WHERE company_id = ?1"),
            params![self.company],
        )?;
        Ok(())
    }

    /// Adds a value to a list; says whether it was new.
    pub fn add_to_policy_list(&self, list: PolicyList, value: &str) -> Result<bool> {
        let (table, column) = list.table();
        let added = self.tx.execute(
            &format!(
                "INSERT INTO {table}(company_id, {column}) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
            ),
            params![self.company, value],
        )?;
        Ok(added > 0)
    }

    /// Removes a value from a list; says whether it was there.
    pub fn remove_from_policy_list(&self, list: PolicyList, value: &str) -> Result<bool> {
        let (table, column) = list.table();
        let removed = self.tx.execute(
            &format!("DELETE FROM {table} WHERE company_id = ?1 AND {column} = ?2"),
            params![self.company, value],
        )?;
        Ok(removed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_round_trips_per_company() {
        let db = Store::open_in_memory().unwrap();
        let a = db.company("CRONUS").unwrap();
        let b = db.company("FABRIKAM").unwrap();
        assert_eq!(db.email_logging_policy(a).unwrap(), StoredPolicy::default());
        db.write_records(a, |w| {
            w.set_company_by_domain(true)?;
            assert!(w.add_to_policy_list(PolicyList::NeverLog, "legal.contoso.com")?);
            assert!(w.add_to_policy_list(PolicyList::NeverLog, "hr@contoso.com")?);
            assert!(!w.add_to_policy_list(PolicyList::NeverLog, "hr@contoso.com")?);
            w.add_to_policy_list(PolicyList::WithheldSubject, "fabrikam.com")?;
            w.commit()
        })
        .unwrap();
        let p = db.email_logging_policy(a).unwrap();
        assert_eq!(
            p,
            StoredPolicy {
                company_by_domain: true,
                never_log: vec!["hr@contoso.com".into(), "legal.contoso.com".into()],
                withheld_subject_domains: vec!["fabrikam.com".into()],
            }
        );
        assert_eq!(
            db.email_logging_policy(b).unwrap(),
            StoredPolicy::default(),
            "another company's policy is its own"
        );
        db.write_records(a, |w| {
            w.set_company_by_domain(false)?;
            assert!(w.remove_from_policy_list(PolicyList::NeverLog, "hr@contoso.com")?);
            assert!(!w.remove_from_policy_list(PolicyList::NeverLog, "hr@contoso.com")?);
            w.clear_policy_list(PolicyList::WithheldSubject)?;
            w.commit()
        })
        .unwrap();
        let p = db.email_logging_policy(a).unwrap();
        assert!(!p.company_by_domain);
        assert_eq!(p.never_log, ["legal.contoso.com"]);
        assert!(p.withheld_subject_domains.is_empty());
        // A writer dropped before its commit leaves nothing behind.
        let _ = db.write_records(a, |w| {
            w.set_company_by_domain(true)?;
            Err::<(), _>(crate::store::StoreError::NoRow)
        });
        assert!(!db.email_logging_policy(a).unwrap().company_by_domain);
    }
}
