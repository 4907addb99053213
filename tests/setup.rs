//! Setup, sign-in, secrets, companies and the job queue, end to end.

use email_logging_e2e::*;
use email_logging_host::host::AppRegistration;
use email_logging_host::runtime::{AuthMode, RunError, SetupChange, SetupError};
use email_logging_host::store::plugin_state;
use email_logging_host::{JobOutcome, jobs};
use graph_emulator::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, DEMO_TENANT_ID, EmulatorConfig,
};
use std::time::Duration;

fn inbox() -> Vec<serde_json::Value> {
    vec![message("<s1@x>", "Setup test", ANDY, &[JO], &[])]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_mode_logs_without_a_sign_in() {
    let h = Harness::start(inbox(), vec![]).await;
    let rt = &h.erp.runtime;
    h.configure(SetupChange {
        shared_mailbox: Some(MAILBOX.into()),
        tenant: Some(DEMO_TENANT_ID.into()),
        auth_mode: Some(AuthMode::Application),
        client_id: Some(DEMO_CLIENT_ID.into()),
        client_secret: Some(DEMO_CLIENT_SECRET.into()),
        ..no_change()
    })
    .await;
    let s = rt
        .enable(h.company)
        .await
        .unwrap()
        .expect("enabled without sign-in");
    assert!(s.enabled && s.consent_given);
    h.run().await;
    assert_eq!(h.entries().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_mode_needs_a_real_tenant() {
    let h = Harness::start(inbox(), vec![]).await;
    let rt = &h.erp.runtime;
    h.configure(SetupChange {
        shared_mailbox: Some(MAILBOX.into()),
        auth_mode: Some(AuthMode::Application),
        client_id: Some(DEMO_CLIENT_ID.into()),
        client_secret: Some(DEMO_CLIENT_SECRET.into()),
        ..no_change()
    })
    .await;
    match rt.enable(h.company).await.unwrap() {
        Err(SetupError::Incomplete(m)) => assert!(m.contains("tenant"), "{m}"),
        other => panic!("expected a tenant complaint, got {other:?}"),
    }
    assert!(
        jobs::get(&h.erp.db, h.company, "email-logging")
            .unwrap()
            .is_none(),
        "no job was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_can_supply_client_id_secret_and_redirect_url() {
    let app = AppRegistration {
        client_id: Some(DEMO_CLIENT_ID.into()),
        client_secret: Some(DEMO_CLIENT_SECRET.into()),
        redirect_url: Some(DEMO_REDIRECT_URI.into()),
        ..Default::default()
    };
    let h = Harness::start_full(inbox(), vec![], EmulatorConfig::default(), None, app).await;
    h.configure(SetupChange {
        shared_mailbox: Some(MAILBOX.into()),
        ..no_change()
    })
    .await;
    h.sign_in_and_enable().await;
    let s = h.erp.runtime.setup_get(h.company).await.unwrap().unwrap();
    assert!(
        !s.client_secret_set && s.client_id.is_none(),
        "the setup holds neither"
    );
    assert_eq!(
        s.signed_in_account.as_deref(),
        Some(graph_emulator::DEMO_USER)
    );
    h.run().await;
    assert_eq!(h.entries().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_is_reported_without_the_secret() {
    let h = Harness::start(inbox(), vec![]).await;
    let rt = &h.erp.runtime;
    let wrong = "wrong~Secret.Value_42";
    h.configure(SetupChange {
        shared_mailbox: Some(MAILBOX.into()),
        client_id: Some(DEMO_CLIENT_ID.into()),
        client_secret: Some(wrong.into()),
        redirect_url: Some(DEMO_REDIRECT_URI.into()),
        ..no_change()
    })
    .await;
    let url = rt.begin_sign_in(h.company, None).await.unwrap().unwrap();
    let query = email_logging_host::erp::follow_authorize_url(&url, &h.base)
        .await
        .unwrap();
    match rt.complete_sign_in(h.company, &query).await.unwrap() {
        Err(SetupError::SignInFailed(m)) => {
            assert!(m.contains("AADSTS7000215"), "{m}");
            assert!(!m.contains(wrong), "the secret leaked: {m}");
        }
        other => panic!("expected a sign-in failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_sign_in_response_is_refused() {
    let h = Harness::start(inbox(), vec![]).await;
    let rt = &h.erp.runtime;
    h.configure(SetupChange {
        client_id: Some(DEMO_CLIENT_ID.into()),
        client_secret: Some(DEMO_CLIENT_SECRET.into()),
        redirect_url: Some(DEMO_REDIRECT_URI.into()),
        ..no_change()
    })
    .await;
    rt.begin_sign_in(h.company, None).await.unwrap().unwrap();
    let r = rt
        .complete_sign_in(h.company, "code=stolen&state=not-ours")
        .await
        .unwrap();
    assert!(matches!(r, Err(SetupError::StateMismatch)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_without_a_sign_in_is_refused_with_what_to_do() {
    let h = Harness::start(inbox(), vec![]).await;
    let rt = &h.erp.runtime;
    h.configure(SetupChange {
        shared_mailbox: Some(MAILBOX.into()),
        client_id: Some(DEMO_CLIENT_ID.into()),
        client_secret: Some(DEMO_CLIENT_SECRET.into()),
        ..no_change()
    })
    .await;
    match rt.enable(h.company).await.unwrap() {
        Err(SetupError::Incomplete(m)) => assert!(m.contains("sign in"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    match h.run_outcome().await {
        JobOutcome::Error(RunError::NotEnabled) => {}
        other => panic!("a disabled setup must not run: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_field_is_listed_and_nothing_is_saved() {
    let h = Harness::start(vec![], vec![]).await;
    let rt = &h.erp.runtime;
    let r = rt
        .setup_update(
            h.company,
            SetupChange {
                shared_mailbox: Some("not-an-address".into()),
                tenant: Some("no tenant".into()),
                client_id: Some("123".into()),
                redirect_url: Some("http://example.com/cb".into()),
                batch_size: Some(5000),
                ..no_change()
            },
        )
        .await
        .unwrap();
    let Err(SetupError::InvalidFields(list)) = r else {
        panic!("expected field errors, got {r:?}")
    };
    let fields: Vec<_> = list.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "shared-mailbox",
            "tenant",
            "client-id",
            "redirect-url",
            "batch-size"
        ]
    );
    let s = rt.setup_get(h.company).await.unwrap().unwrap();
    assert_eq!((s.shared_mailbox, s.batch_size), (None, 50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_tokens_are_encrypted_at_rest() {
    let h = Harness::start(inbox(), vec![]).await;
    h.enable(50).await;
    h.run().await;
    // Decrypt every stored secret with the host's key file, then make sure
    // none of the plain values appears anywhere in the database files.
    let key =
        email_logging_host::crypto::SecretBox::load(&h.dir.path().join("secret.key")).unwrap();
    let rows = plugin_state::sealed_secrets(&h.erp.db).unwrap();
    let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
    for wanted in ["client-secret", "refresh-token", "access-token"] {
        assert!(names.contains(&wanted), "{wanted} stored: {names:?}");
    }
    let plain: Vec<String> = rows
        .iter()
        .map(|s| {
            key.open(
                &format!("{}/{}", s.company_id, s.name),
                &s.nonce,
                &s.ciphertext,
            )
            .unwrap()
        })
        .collect();
    assert!(plain.contains(&DEMO_CLIENT_SECRET.to_string()));
    h.erp.db.checkpoint().ok();
    let mut bytes = Vec::new();
    for f in ["email-logging.db", "email-logging.db-wal"] {
        bytes.extend(std::fs::read(h.dir.path().join(f)).unwrap_or_default());
    }
    for p in &plain {
        // Tokens are stored inside JSON; check their longest quoted part.
        let needle = p.split('"').max_by_key(|s| s.len()).unwrap();
        assert!(needle.len() >= 16, "a secret worth checking");
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "a secret is in the database in plain text"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn companies_are_kept_apart() {
    let h = Harness::start(inbox(), vec![]).await;
    h.enable(50).await;
    let other = h.erp.company("FABRIKAM").unwrap();
    let s = h.erp.runtime.setup_get(other).await.unwrap().unwrap();
    assert!(
        !s.enabled && s.shared_mailbox.is_none(),
        "a new company has its own, empty setup"
    );
    match h.erp.run_job(other, Duration::from_secs(10)).await.unwrap() {
        JobOutcome::Error(RunError::NotEnabled) => {}
        o => panic!("{o:?}"),
    }
    h.run().await;
    assert_eq!(h.entries().len(), 1);
    assert!(
        email_logging_host::crm::entries(&h.erp.db, other, &Default::default())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_due_job_and_disable_removes_it() {
    let h = Harness::start(inbox(), vec![]).await;
    h.enable(50).await;
    let job = jobs::get(&h.erp.db, h.company, "email-logging")
        .unwrap()
        .expect("enable created the job");
    assert_eq!((job.every_seconds, job.max_attempts), (600, 3));
    assert!(
        job.next_run > jobs::now() + 30,
        "the first run is a minute after enabling"
    );
    email_logging_host::store::jobs::set_next_run(&h.erp.db, h.company, "email-logging", 0)
        .unwrap();
    let db = h.erp.db.clone();
    let company = h.company;
    let stop = async move {
        for _ in 0..200 {
            if !email_logging_host::crm::entries(&db, company, &Default::default())
                .unwrap()
                .is_empty()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    h.erp.serve(Duration::from_millis(50), stop).await.unwrap();
    assert_eq!(h.entries().len(), 1, "serve ran the job");
    let job = jobs::get(&h.erp.db, h.company, "email-logging")
        .unwrap()
        .unwrap();
    assert_eq!(job.status, "ready");
    assert!(job.next_run >= jobs::now() + 590);
    h.erp.runtime.disable(h.company).await.unwrap().unwrap();
    assert!(
        jobs::get(&h.erp.db, h.company, "email-logging")
            .unwrap()
            .is_none()
    );
    h.erp.runtime.clear(h.company).await.unwrap().unwrap();
    let secrets = plugin_state::secret_count(&h.erp.db).unwrap();
    assert_eq!(secrets, 0, "clear removes the secrets");
}
