//! `erp:host/extensions`: the reference host's answers at the component's
//! extension points, from the company's email-logging policy
//! ([`crate::crm::policy`]), company by domain
//! ([`crate::crm::company_domain`]) and the contacts' latest e-mail dates
//! ([`crate::crm::last_email`]). This module only checks sizes and maps
//! types; the rules live in `crm`.

use super::bindings::erp::host::crm::ContactMatch;
use super::bindings::erp::host::extensions::{
    Decision, Host, LoggedMessage, MessageFacts, UnknownAddress,
};
use super::crm::{MAX_LOOKUP, MAX_PAGE, entry_datetime};
use super::{PluginState, WitError, unavailable};
use crate::crm::{self, company_domain::UnknownParty, policy};

type R<T> = wasmtime::Result<Result<T, WitError>>;

/// Most addresses (senders and recipients) one `decide` call may carry:
/// a page of 1,000 messages at Exchange's 500 recipients each. Higher than
/// `lookup-parties`' cap because the component does not split `decide`:
/// a refusal would defer the same page at every run, for good.
const MAX_DECIDE_ADDRESSES: usize = MAX_PAGE * 500;

impl Host for PluginState {
    async fn decide(&mut self, messages: Vec<MessageFacts>) -> R<Vec<Decision>> {
        if messages.len() > MAX_PAGE {
            return Ok(Err(WitError::Invalid(format!(
                "at most {MAX_PAGE} messages per call"
            ))));
        }
        let addresses: usize = messages
            .iter()
            .map(|m| m.recipients.len() + usize::from(m.sender.is_some()))
            .sum();
        if addresses > MAX_DECIDE_ADDRESSES {
            return Ok(Err(WitError::Invalid(format!(
                "at most {MAX_DECIDE_ADDRESSES} addresses per call"
            ))));
        }
        // One read for the whole page.
        let policy = match policy::policy(&self.db, self.company) {
            Ok(p) => p,
            Err(e) => return Ok(Err(unavailable("cannot read the email-logging policy", e))),
        };
        let matcher = policy.matcher();
        Ok(Ok(messages
            .iter()
            .map(|m| {
                let addresses = m.sender.iter().chain(&m.recipients).map(String::as_str);
                match matcher.decide(addresses) {
                    policy::Decision::Log(subject) => Decision::Log(subject),
                    policy::Decision::Skip(reason) => Decision::Skip(reason),
                }
            })
            .collect()))
    }

    async fn unknown_parties(
        &mut self,
        addresses: Vec<UnknownAddress>,
    ) -> R<Vec<Option<ContactMatch>>> {
        if addresses.len() > MAX_LOOKUP {
            return Ok(Err(WitError::Invalid(format!(
                "at most {MAX_LOOKUP} addresses per call"
            ))));
        }
        let parties: Vec<UnknownParty<'_>> = addresses
            .iter()
            .map(|a| UnknownParty {
                address: &a.address,
                display_name: a.display_name.as_deref(),
                message_key: &a.message_key,
            })
            .collect();
        Ok(
            crm::company_domain::resolve(&self.db, self.company, &parties)
                .map(|answers| {
                    answers
                        .into_iter()
                        .map(|a| {
                            a.map(|(contact_no, company_no, alt_address_code)| ContactMatch {
                                contact_no,
                                company_no,
                                alt_address_code,
                            })
                        })
                        .collect()
                })
                .map_err(|e| unavailable("cannot find or create contacts by domain", e)),
        )
    }

    async fn after_log(&mut self, messages: Vec<LoggedMessage>) -> R<()> {
        if let Some(fault) = &self.ctx.after_log_fault
            && let Some(text) = fault()
        {
            return Ok(Err(WitError::Unavailable(text)));
        }
        if messages.len() > MAX_PAGE {
            return Ok(Err(WitError::Invalid(format!(
                "at most {MAX_PAGE} messages per call"
            ))));
        }
        let mut dates = Vec::new();
        for e in messages.iter().flat_map(|m| &m.entries) {
            match entry_datetime(&e.datetime) {
                Ok(at) => dates.push((e.contact_no.clone(), at)),
                Err(why) => return Ok(Err(WitError::Invalid(why))),
            }
        }
        Ok(crm::last_email::record(&self.db, self.company, &dates)
            .map(|_| ())
            .map_err(|e| unavailable("cannot record the contacts' latest e-mail", e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::policy::{ListChange, PolicyChange, change_policy};
    use crate::host::bindings::erp::host::crm::{
        InformationFlow, InitiatedBy, InteractionLogEntry, MessageLink,
    };
    use crate::host::{AfterLogFault, HostContext};
    use crate::store::Store;
    use std::sync::Arc;

    fn state(fault: Option<AfterLogFault>) -> PluginState {
        let db = Store::open_in_memory().unwrap();
        let company = db.company("CRONUS").unwrap();
        let seed = crm::parse_seed(
            r#"{"contacts":[
                {"no":"C1","name":"Adatum","type":"company","domains":["adatum.com"]},
                {"no":"P1","name":"Pat","type":"person","company_no":"C1","email":"pat@adatum.com"}
            ],
            "email_logging":{"company_by_domain":true,"never_log":["hr@contoso.com","legal.contoso.com"]}}"#,
        )
        .unwrap();
        crm::import(&db, company, &seed).unwrap();
        change_policy(
            &db,
            company,
            &PolicyChange {
                withheld_subject_domains: ListChange::replace_with(vec!["fabrikam.com".into()]),
                ..Default::default()
            },
        )
        .unwrap();
        let ctx = Arc::new(HostContext {
            db,
            secret_box: crate::crypto::SecretBox::new([7; 32]),
            http: super::super::http::HttpPolicy::new(None).unwrap(),
            app: Default::default(),
            crash_hook: None,
            after_log_fault: fault,
            progress: Default::default(),
        });
        PluginState::new(ctx, company, Default::default(), None)
    }

    fn facts(sender: &str, recipients: &[&str]) -> MessageFacts {
        MessageFacts {
            message_key: "<k@x>".into(),
            message_id: "id".into(),
            sender: Some(sender.into()),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            subject: "Salaries".into(),
            sent: None,
            sensitive: false,
        }
    }

    fn logged(contact_no: &str, datetime: &str) -> LoggedMessage {
        LoggedMessage {
            message_key: "<k@x>".into(),
            entries: vec![InteractionLogEntry {
                contact_no: contact_no.into(),
                contact_company_no: Some("C1".into()),
                contact_alt_address_code: None,
                salesperson_code: "JO".into(),
                interaction_template_code: "EMAIL".into(),
                information_flow: InformationFlow::Outbound,
                initiated_by: InitiatedBy::Us,
                subject: "s".into(),
                datetime: datetime.into(),
            }],
            link: MessageLink {
                mailbox: "log@us.example".into(),
                message_id: "id".into(),
                internet_message_id: None,
                web_link: "https://outlook.office365.com/owa/?ItemID=1".into(),
                folder: None,
            },
        }
    }

    #[tokio::test]
    async fn decide_answers_one_decision_per_message_from_the_policy() {
        let mut s = state(None);
        let answers = s
            .decide(vec![
                facts("jo@us.example", &["ann@adatum.com"]),
                facts("jo@us.example", &["ann@adatum.com", "HR@contoso.com"]),
                facts("x@eu.legal.contoso.com", &["jo@us.example"]),
                facts("jo@us.example", &["ann@fabrikam.com"]),
            ])
            .await
            .unwrap()
            .unwrap();
        let shown: Vec<String> = answers.iter().map(|d| format!("{d:?}")).collect();
        assert!(
            matches!(answers[0], Decision::Log(None))
                && matches!(&answers[1], Decision::Skip(r) if r == "never-log")
                && matches!(&answers[2], Decision::Skip(r) if r == "never-log")
                && matches!(&answers[3], Decision::Log(Some(t)) if t == "(subject withheld)"),
            "{shown:?}"
        );
        let too_many = vec![facts("a@b.example", &[]); MAX_PAGE + 1];
        assert!(matches!(
            s.decide(too_many).await.unwrap(),
            Err(WitError::Invalid(_))
        ));
        // A full page of mail to large lists is still decided...
        let wide = vec![facts("a@b.example", &vec!["r@b.example"; 499]); MAX_PAGE];
        assert_eq!(s.decide(wide).await.unwrap().unwrap().len(), MAX_PAGE);
        // ...a runaway one is not.
        let runaway = vec![facts("a@b.example", &vec!["r@b.example"; 600]); MAX_PAGE];
        assert!(matches!(
            s.decide(runaway).await.unwrap(),
            Err(WitError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn unknown_parties_creates_once_and_lookup_parties_finds_it() {
        use super::super::bindings::erp::host::crm::Host as _;
        let mut s = state(None);
        let ask = |address: &str| UnknownAddress {
            address: address.into(),
            display_name: Some("Ann Smith".into()),
            message_key: "<k@x>".into(),
        };
        let answers = s
            .unknown_parties(vec![
                ask("ann@adatum.com"),
                ask("x@gmail.com"),
                ask("ann@adatum.com"),
            ])
            .await
            .unwrap()
            .unwrap();
        let first = answers[0].as_ref().expect("a contact for ann");
        assert_eq!(
            (first.contact_no.as_str(), first.company_no.as_deref()),
            ("EL-000001", Some("C1"))
        );
        assert!(answers[1].is_none());
        assert_eq!(
            answers[2].as_ref().map(|m| m.contact_no.as_str()),
            Some("EL-000001")
        );
        let party = s
            .lookup_parties(vec!["ann@adatum.com".into()])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(party[0].contacts[0].contact_no, "EL-000001");
    }

    #[tokio::test]
    async fn after_log_moves_last_email_forward_unless_the_fault_hook_says_no() {
        let mut s = state(None);
        s.after_log(vec![
            logged("P1", "2026-11-02T10:00:00+01:00"),
            logged("P1", "2026-11-01T10:00:00Z"),
        ])
        .await
        .unwrap()
        .unwrap();
        let at = |s: &PluginState| crm::last_email::last_email_at(&s.db, s.company, "P1").unwrap();
        assert_eq!(at(&s).as_deref(), Some("2026-11-02T09:00:00Z"));
        assert!(matches!(
            s.after_log(vec![logged("P1", "yesterday")]).await.unwrap(),
            Err(WitError::Invalid(_))
        ));

        let fault: AfterLogFault = Arc::new(|| Some("follow-up service down".into()));
        let mut s = state(Some(fault));
        match s
            .after_log(vec![logged("P1", "2026-11-02T10:00:00Z")])
            .await
            .unwrap()
        {
            Err(WitError::Unavailable(t)) => assert_eq!(t, "follow-up service down"),
            other => panic!("{other:?}"),
        }
        assert_eq!(at(&s), None, "nothing was done");
    }
}
