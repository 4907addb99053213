//! The ERP's CRM, by domain: the seed and CSV imports of salespeople,
//! contacts and interaction templates, party lookup by address, the
//! interaction log with its links, the activity log, opportunities, and
//! the email-logging policy with company by domain (what the reference
//! host answers at the component's extension points).
//! The records themselves are kept by [`crate::store`].

pub mod company_domain;
pub mod csv_import;
pub mod last_email;
pub mod opportunity;
pub mod parties;
pub mod policy;
pub mod seed;

pub use crate::store::activity::{
    ActivityView, NewActivity, activities, log_activities, log_activity, recent_activities,
};
pub use crate::store::entries::{
    EntryFilter, EntryView, Link, LinkChange, NewEntry, NewMessage, SUBJECT_LEN, StoredLink,
    entries, entry, log_message, log_page, record_link_check, stored_links, update_link,
    update_links,
};
pub use crate::store::records::{ContactView, contact, contacts, counts};
pub use parties::{
    AddressFieldRow, ContactMatch, SalespersonMatch, address_fields, email_template, lookup,
    lookup_many, normalise,
};
pub use seed::{
    CrmSeed, ImportSummary, SeedAltAddress, SeedContact, SeedEmailLogging, SeedSalesperson, import,
    parse_seed,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CompanyId, Store};

    fn db() -> (Store, CompanyId) {
        let db = Store::open_in_memory().unwrap();
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
            ..link.clone()
        };
        assert!(
            !update_link(&db, c, "<1@x>", "M2", &other).unwrap(),
            "another copy must not take the link"
        );
        // A move that gave the message a new id (EWS) takes the link whole.
        assert!(update_link(&db, c, "<1@x>", "M1", &other).unwrap());
        let all = entries(&db, c, &EntryFilter::default()).unwrap();
        assert_eq!(
            (all[0].message_id.as_str(), all[0].web_link.as_str()),
            ("M2", "other")
        );
        assert!(
            !update_link(&db, c, "<1@x>", "M1", &link).unwrap(),
            "M1 is gone"
        );
    }

    #[test]
    fn a_page_is_one_transaction_with_an_answer_per_message() {
        let (db, c) = db();
        let msg = |key: &str, entries: usize| NewMessage {
            key: key.into(),
            entries: (0..entries)
                .map(|i| NewEntry {
                    contact_no: format!("CT{i}"),
                    contact_company_no: None,
                    contact_alt_address_code: None,
                    salesperson_code: "JO".into(),
                    interaction_template_code: "EMAIL".into(),
                    information_flow: "inbound",
                    initiated_by: "them",
                    subject: key.into(),
                    datetime: "2026-11-02T09:00:00Z".into(),
                })
                .collect(),
            link: Link {
                mailbox: "log@us.example".into(),
                message_id: format!("id-{key}"),
                internet_message_id: Some(key.into()),
                web_link: "https://outlook.office365.com/owa/?ItemID=1".into(),
                folder: None,
            },
        };
        assert!(
            log_message(
                &db,
                c,
                "<old@x>",
                &msg("<old@x>", 1).entries,
                &msg("<old@x>", 1).link
            )
            .unwrap()
        );
        let answers = log_page(
            &db,
            c,
            &[
                msg("<a@x>", 2),
                msg("<old@x>", 1),
                msg("<b@x>", 1),
                msg("<a@x>", 1),
            ],
        )
        .unwrap();
        let answers: Vec<bool> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            answers,
            [true, false, true, false],
            "logged before, or earlier in the page: already logged"
        );
        let all = entries(&db, c, &EntryFilter::default()).unwrap();
        let numbered: Vec<(i64, &str)> = all
            .iter()
            .map(|e| (e.entry_no, e.subject.as_str()))
            .collect();
        assert_eq!(
            numbered,
            [(1, "<old@x>"), (2, "<a@x>"), (3, "<a@x>"), (4, "<b@x>")],
            "numbers follow on, with no gap for the messages already logged"
        );
        let moved = |key: &str| {
            (
                key.to_string(),
                format!("id-{key}"),
                Link {
                    folder: Some("archive".into()),
                    ..msg(key, 1).link
                },
            )
        };
        // A message the database refuses costs only itself, and leaves no
        // trace that would make it "logged already" next time.
        let mut bad = msg("<bad@x>", 1);
        bad.entries[0].information_flow = "sideways";
        let answers = log_page(&db, c, &[msg("<c@x>", 1), bad, msg("<d@x>", 1)]).unwrap();
        assert!(answers[0].as_ref().is_ok_and(|i| *i), "{answers:?}");
        assert!(answers[1].is_err(), "{answers:?}");
        assert!(answers[2].as_ref().is_ok_and(|i| *i), "{answers:?}");
        assert!(
            log_page(&db, c, &[msg("<bad@x>", 1)]).unwrap()[0]
                .as_ref()
                .is_ok_and(|i| *i)
        );
        let numbers: Vec<i64> = entries(&db, c, &EntryFilter::default())
            .unwrap()
            .iter()
            .map(|e| e.entry_no)
            .collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7], "no gaps after the refusal");
        let stranger = (
            "<b@x>".to_string(),
            "another copy".to_string(),
            msg("<b@x>", 1).link,
        );
        assert_eq!(
            update_links(&db, c, &[moved("<a@x>"), stranger, moved("<b@x>")]).unwrap(),
            2,
            "a copy's id changes nothing"
        );
    }

    #[test]
    fn a_seed_carries_company_domains_and_the_email_logging_policy() {
        let db = Store::open_in_memory().unwrap();
        let c = db.company("CRONUS").unwrap();
        let seed = parse_seed(
            r#"{"contacts":[
                    {"no":"C1","name":"Adatum","type":"company","domains":["Adatum.com","@adatum.de"]},
                    {"no":"P1","name":"Pat","type":"person","company_no":"C1","email":"pat@adatum.com"}],
                "email_logging":{"company_by_domain":true,"never_log":["HR@contoso.com","legal.contoso.com"],
                                 "log_sensitive":true}}"#,
        )
        .unwrap();
        assert_eq!(seed.log_sensitive(), Some(true));
        let sum = import(&db, c, &seed).unwrap();
        assert_eq!(
            (sum.contacts, sum.company_domains, sum.never_log),
            (2, 2, 2)
        );
        assert_eq!(
            contact(&db, c, "C1").unwrap().unwrap().domains,
            ["adatum.com", "adatum.de"]
        );
        let p = policy::policy(&db, c).unwrap();
        assert!(p.company_by_domain);
        assert_eq!(p.never_log, ["hr@contoso.com", "legal.contoso.com"]);

        // Without `email_logging`, the policy stays; a seed describes its
        // contacts whole, so domains it does not list go.
        let seed =
            parse_seed(r#"{"contacts":[{"no":"C1","name":"Adatum","type":"company"}]}"#).unwrap();
        assert_eq!(seed.log_sensitive(), None);
        import(&db, c, &seed).unwrap();
        assert!(contact(&db, c, "C1").unwrap().unwrap().domains.is_empty());
        assert_eq!(policy::policy(&db, c).unwrap(), p);
        // A never-log list given is the whole list; the switch as given.
        let seed = parse_seed(
            r#"{"email_logging":{"never_log":["fabrikam.com"],"company_by_domain":false}}"#,
        )
        .unwrap();
        import(&db, c, &seed).unwrap();
        let p = policy::policy(&db, c).unwrap();
        assert!(!p.company_by_domain);
        assert_eq!(p.never_log, ["fabrikam.com"]);
    }

    #[test]
    fn bad_email_logging_seeds_say_where() {
        let err = format!(
            "{:#}",
            parse_seed(r#"{"email_logging":{"company_by_domain":true,"never_logs":[]}}"#)
                .unwrap_err()
        );
        assert!(err.contains("email_logging is not valid"), "{err}");
        assert!(err.contains("unknown field `never_logs`"), "{err}");
        let err = format!(
            "{:#}",
            parse_seed(r#"{"email_logging":{"log_sensitive":"yes"}}"#).unwrap_err()
        );
        assert!(err.contains("email_logging is not valid"), "{err}");
        let seed = serde_json::json!({
            "contacts": [
                {"no": "C1", "type": "company", "domains": ["adatum.com", "not a domain", "gmail.com"]},
            ],
            "email_logging": {"never_log": ["hr@contoso.com", "com"]},
        });
        let err = format!("{:#}", parse_seed(&seed.to_string()).unwrap_err());
        for expected in [
            "CRM seed contacts:1 domains:2: domain \"not a domain\" is not a domain",
            "CRM seed contacts:1 domains:3: domain \"gmail.com\" is a public mail domain",
            "CRM seed email_logging.never_log:2: entry \"com\" is not an e-mail address or a domain",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
        // Whether a contact is a company is known on import.
        let (db, c) = db();
        let seed =
            parse_seed(r#"{"contacts":[{"no":"P9","type":"person","domains":["p9.example"]}]}"#)
                .unwrap();
        let err = format!("{:#}", import(&db, c, &seed).unwrap_err());
        assert!(
            err.contains("CRM seed contacts:1 domains:1: contact \"P9\" is a person"),
            "{err}"
        );
        assert!(
            contact(&db, c, "P9").unwrap().is_none(),
            "nothing was imported"
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
