//! The validation checklist, enabling, renewing, changing the account and
//! recreating the job, each failure driven through the Graph emulator.

use email_logging_e2e::*;
use email_logging_host::jobs;
use email_logging_host::runtime::{Check, CheckStatus, SetupChange, SetupError};
use email_logging_host::store::records;
use graph_emulator::{DEMO_USER, DEMO_USER_2};

async fn checks(h: &Harness) -> Vec<Check> {
    h.erp.runtime.validate(h.company).await.unwrap()
}

fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check '{name}' in {checks:?}"))
}

fn assert_check(checks: &[Check], name: &str, status: CheckStatus, detail: &str, hint: &str) {
    let c = find(checks, name);
    assert_eq!(c.status, status, "{c:?}");
    assert!(
        c.detail.contains(detail),
        "detail of {c:?} should mention {detail}"
    );
    assert!(c.hint.contains(hint), "hint of {c:?} should mention {hint}");
}

async fn enabled() -> Harness {
    let h = Harness::start(vec![message("<v@x>", "V", ANDY, &[JO], &[])], vec![]).await;
    h.enable(50).await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_setup_passes_every_check() {
    let h = enabled().await;
    let c = checks(&h).await;
    for name in [
        "interaction template",
        "e-mail addresses",
        "token",
        "mailbox",
        "storage folder",
        "job",
    ] {
        assert_eq!(
            find(&c, name).status,
            CheckStatus::Pass,
            "{:?}",
            find(&c, name)
        );
    }
    assert_check(&c, "token", CheckStatus::Pass, DEMO_USER, "");
    // The not-logged folder is made at the first run that needs it.
    assert_check(
        &c,
        "not-logged folder",
        CheckStatus::Warn,
        "does not exist yet",
        "created at the first run",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_fails_the_token_check() {
    let h = enabled().await;
    h.configure(SetupChange {
        client_secret: Some("wrong~value".into()),
        ..no_change()
    })
    .await;
    let c = checks(&h).await;
    assert_check(
        &c,
        "token",
        CheckStatus::Fail,
        "AADSTS7000215",
        "Value (not its ID)",
    );
    assert!(
        c.iter()
            .all(|x| !x.detail.contains("wrong~value") && !x.hint.contains("wrong~value"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_refresh_token_asks_for_a_new_sign_in() {
    let h = enabled().await;
    h.emulator.expire_refresh_tokens();
    let c = checks(&h).await;
    assert_check(
        &c,
        "token",
        CheckStatus::Fail,
        "AADSTS700082",
        "sign in again",
    );
    match h.erp.runtime.renew_token(h.company).await.unwrap() {
        Err(SetupError::SignInFailed(m)) => assert!(m.contains("AADSTS700082"), "{m}"),
        other => panic!("renewing must fail: {other:?}"),
    }
    let s = h.erp.runtime.setup_get(h.company).await.unwrap().unwrap();
    assert!(s.status.starts_with("sign-in required"), "{}", s.status);
    // A new sign-in mends it.
    h.sign_in_and_enable().await;
    let s = h.erp.runtime.renew_token(h.company).await.unwrap().unwrap();
    assert_eq!(s.status, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_mailbox_is_named() {
    let h = enabled().await;
    h.erp.runtime.disable(h.company).await.unwrap().unwrap();
    h.configure(SetupChange {
        shared_mailbox: Some("nobody@cronus.example".into()),
        ..no_change()
    })
    .await;
    let c = checks(&h).await;
    assert_check(
        &c,
        "mailbox",
        CheckStatus::Fail,
        "ErrorInvalidUser",
        "check the shared mailbox address",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_without_permission_asks_for_full_access() {
    let h = enabled().await;
    h.emulator.set_mailbox_access(MAILBOX, &[DEMO_USER_2]);
    let c = checks(&h).await;
    assert_check(&c, "mailbox", CheckStatus::Fail, "403", "Full Access");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_not_enabled_for_rest_gets_a_licence_hint() {
    let h = enabled().await;
    h.emulator.disable_rest(MAILBOX);
    let c = checks(&h).await;
    assert_check(
        &c,
        "mailbox",
        CheckStatus::Fail,
        "MailboxNotEnabledForRESTAPI",
        "licence",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_storage_folder_is_reported_then_created_on_demand() {
    let h = enabled().await;
    h.configure(SetupChange {
        storage_folder: Some("Logged e-mail 2026".into()),
        ..no_change()
    })
    .await;
    let c = checks(&h).await;
    assert_check(
        &c,
        "storage folder",
        CheckStatus::Warn,
        "does not exist yet",
        "created at the first run",
    );
    h.run().await;
    assert_eq!(h.count("Logged e-mail 2026"), 1);
    let c = checks(&h).await;
    assert_check(&c, "storage folder", CheckStatus::Pass, "holds 1 items", "");
    // A well-known folder that is gone is reported too.
    assert!(h.emulator.remove_folder(MAILBOX, "archive"));
    h.configure(SetupChange {
        storage_folder: Some("archive".into()),
        ..no_change()
    })
    .await;
    assert_check(
        &checks(&h).await,
        "storage folder",
        CheckStatus::Warn,
        "does not exist yet",
        "",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_interaction_template_fails_and_blocks_enabling() {
    let h = Harness::start(vec![], vec![]).await;
    records::unmark_email_template(&h.erp.db, h.company).unwrap();
    let c = checks(&h).await;
    assert_check(
        &c,
        "interaction template",
        CheckStatus::Fail,
        "no interaction template",
        "EMAIL",
    );
    h.configure(SetupChange {
        shared_mailbox: Some(MAILBOX.into()),
        client_id: Some(graph_emulator::DEMO_CLIENT_ID.into()),
        client_secret: Some(graph_emulator::DEMO_CLIENT_SECRET.into()),
        redirect_url: Some(graph_emulator::DEMO_REDIRECT_URI.into()),
        ..no_change()
    })
    .await;
    let url = h
        .erp
        .runtime
        .begin_sign_in(h.company, None)
        .await
        .unwrap()
        .unwrap();
    let q = email_logging_host::erp::follow_authorize_url(&url, &h.base)
        .await
        .unwrap();
    h.erp
        .runtime
        .complete_sign_in(h.company, &q)
        .await
        .unwrap()
        .unwrap();
    match h.erp.runtime.enable(h.company).await.unwrap() {
        Err(SetupError::Incomplete(m)) => assert!(m.contains("interaction template"), "{m}"),
        other => panic!("enabling must be refused: {other:?}"),
    }
    assert!(
        jobs::get(&h.erp.db, h.company, "email-logging")
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_malformed_addresses_are_listed_by_number() {
    let h = enabled().await;
    let bad = serde_json::json!({
        "salespeople": [{"code": "NOMAIL", "name": "No Mail"}],
        "contacts": [
            {"no": "CT000900", "name": "X500", "type": "person"},
            {"no": "CT000901", "name": "Nobody", "type": "person"},
            {"no": "CT000902", "name": "Alt", "type": "person", "email": "ok@fine.example",
             "alt_addresses": [{"code": "WORK"}]}
        ]
    });
    h.erp.import_crm(h.company, &bad.to_string()).unwrap();
    // Imports refuse malformed addresses; records from before they did (or
    // typed into another ERP) may still hold them.
    records::set_contact_email_unchecked(
        &h.erp.db,
        h.company,
        "CT000900",
        Some("/o=Org/cn=Recipients/cn=x"),
    )
    .unwrap();
    records::set_alt_addresses_unchecked(&h.erp.db, h.company, "CT000902", Some("not an address"))
        .unwrap();
    let c = checks(&h).await;
    let line = find(&c, "e-mail addresses");
    assert_eq!(line.status, CheckStatus::Warn);
    for part in [
        "salesperson NOMAIL e-mail: missing",
        "contact CT000900 e-mail:",
        "contact CT000901 e-mail: missing",
        "contact CT000902 alternative address WORK:",
    ] {
        assert!(line.detail.contains(part), "{part} in {}", line.detail);
    }
    assert!(
        !line.detail.contains("CT000011"),
        "good contacts are not listed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_refuses_with_every_reason_and_hint() {
    let h = enabled().await;
    h.erp.runtime.disable(h.company).await.unwrap().unwrap();
    h.emulator.disable_rest(MAILBOX);
    match h.erp.runtime.enable(h.company).await.unwrap() {
        Err(SetupError::Incomplete(m)) => {
            assert!(m.contains("mailbox: "), "{m}");
            assert!(m.contains("licence"), "{m}");
        }
        other => panic!("enabling must be refused: {other:?}"),
    }
    let s = h.erp.runtime.setup_get(h.company).await.unwrap().unwrap();
    assert!(!s.enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_account_can_be_changed() {
    let h = enabled().await;
    let rt = &h.erp.runtime;
    let url = rt
        .begin_sign_in(h.company, Some(DEMO_USER_2))
        .await
        .unwrap()
        .unwrap();
    assert!(
        url.contains("login_hint=backup.agent%40cronus.example"),
        "{url}"
    );
    let q = email_logging_host::erp::follow_authorize_url(&url, &h.base)
        .await
        .unwrap();
    let s = rt.complete_sign_in(h.company, &q).await.unwrap().unwrap();
    assert_eq!(s.signed_in_account.as_deref(), Some(DEMO_USER_2));
    // The new account, not the old one, is what Graph sees now.
    h.emulator.set_mailbox_access(MAILBOX, &[DEMO_USER]);
    assert_check(
        &checks(&h).await,
        "mailbox",
        CheckStatus::Fail,
        "403",
        "Full Access",
    );
    h.emulator.set_mailbox_access(MAILBOX, &[DEMO_USER_2]);
    assert_check(
        &checks(&h).await,
        "mailbox",
        CheckStatus::Pass,
        "readable",
        "",
    );
    h.run().await;
    assert_eq!(h.entries().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_job_is_reported_and_recreated() {
    let h = enabled().await;
    jobs::remove(&h.erp.db, h.company, email_logging_host::erp::JOB).unwrap();
    assert_check(
        &checks(&h).await,
        "job",
        CheckStatus::Fail,
        "no job",
        "recreate",
    );
    h.erp
        .runtime
        .recreate_job(h.company)
        .await
        .unwrap()
        .unwrap();
    assert_check(
        &checks(&h).await,
        "job",
        CheckStatus::Pass,
        "status ready",
        "",
    );
    h.erp.runtime.disable(h.company).await.unwrap().unwrap();
    assert!(matches!(
        h.erp.runtime.recreate_job(h.company).await.unwrap(),
        Err(SetupError::Incomplete(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_consent_url_names_the_app_and_default_scope() {
    let h = enabled().await;
    let url = h
        .erp
        .runtime
        .admin_consent_url(h.company)
        .await
        .unwrap()
        .unwrap();
    assert!(
        url.starts_with("https://login.microsoftonline.com/organizations/v2.0/adminconsent?"),
        "{url}"
    );
    assert!(url.contains(graph_emulator::DEMO_CLIENT_ID));
    assert!(url.contains("scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"));
    // The emulator answers it as Entra does.
    let q = email_logging_host::erp::follow_authorize_url(&url, &h.base)
        .await
        .unwrap();
    assert!(q.contains("admin_consent=True"), "{q}");
}
