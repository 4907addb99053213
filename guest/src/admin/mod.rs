//! The setup actions an administrator takes: change fields, validate, sign
//! in, enable, disable, renew the token, recreate the job, clear.

use crate::auth::{self, AuthError};
use crate::host::{Host, JOB_NAME, Recurrence};
use crate::setup::{
    CLIENT_SECRET, EWS_PASSWORD, EwsAuthMode, Experience, STATUS_OK, Setup, SetupChange, SetupError,
};

mod checklist;
use checklist::checklist;
pub use checklist::{Check, CheckStatus, validate};

/// The recurring job (SPEC §5): every 10 minutes, first run after a minute,
/// 3 attempts per failure a minute apart.
pub const RECURRENCE: Recurrence = Recurrence {
    every_seconds: 600,
    first_run_in_seconds: 60,
    max_attempts: 3,
    retry_delay_seconds: 60,
};

/// The setup as shown: the record plus whether a secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupView {
    /// The record.
    pub setup: Setup,
    /// Whether the setup holds a client secret.
    pub client_secret_set: bool,
    /// Whether the setup holds an EWS password.
    pub ews_password_set: bool,
}

/// Reads the setup for display.
pub fn get(host: &dyn Host) -> Result<SetupView, SetupError> {
    let (setup, _) = Setup::load(host)?;
    view(host, setup)
}

fn view(host: &dyn Host, setup: Setup) -> Result<SetupView, SetupError> {
    Ok(SetupView {
        client_secret_set: host.secret_get(CLIENT_SECRET)?.is_some(),
        ews_password_set: host.secret_get(EWS_PASSWORD)?.is_some(),
        setup,
    })
}

/// Applies a change; every field is checked first and nothing is saved on error.
pub fn update(host: &dyn Host, change: SetupChange) -> Result<SetupView, SetupError> {
    let (mut setup, version) = Setup::load(host)?;
    let before = setup.clone();
    let secrets = setup.apply(change)?;
    if setup.enabled
        && let Err(missing) = setup.mailbox()
    {
        return Err(SetupError::Incomplete(format!(
            "email logging is enabled, so the mail store it reads cannot be left incomplete ({missing}); disable it first"
        )));
    }
    for (name, value) in secrets {
        match value.as_str() {
            "" => host.secret_remove(name)?,
            v => host.secret_put(name, v)?,
        }
    }
    // Tokens belong to the app and tenant that issued them.
    if !setup.consent_given && before.consent_given {
        auth::forget_tokens(host)?;
    }
    setup.save(host, version)?;
    view(host, setup)
}

/// Starts a delegated sign-in, optionally for a given account.
pub fn begin_sign_in(host: &dyn Host, account: Option<&str>) -> Result<String, SetupError> {
    let (setup, _) = Setup::load(host)?;
    auth::begin_sign_in(host, &setup, account)
}

/// The admin consent URL.
pub fn admin_consent_url(host: &dyn Host) -> Result<String, SetupError> {
    let (setup, _) = Setup::load(host)?;
    auth::admin_consent_url(host, &setup)
}

/// Completes a delegated sign-in.
pub fn complete_sign_in(host: &dyn Host, query: &str) -> Result<SetupView, SetupError> {
    let (mut setup, version) = Setup::load(host)?;
    auth::forget_access_token(host)?;
    auth::complete_sign_in(host, &mut setup, query)?;
    setup.save(host, version)?;
    view(host, setup)
}

/// Obtains fresh tokens now.
pub fn renew_token(host: &dyn Host) -> Result<SetupView, SetupError> {
    let (mut setup, version) = Setup::load(host)?;
    if setup.experience == Experience::Ews && setup.ews.auth == EwsAuthMode::Basic {
        return Err(SetupError::Incomplete(
            "the job signs in to Exchange with a user name and password: there is no token to renew (validate checks the sign-in)".into(),
        ));
    }
    let mut tokens = auth::TokenSource::for_resource(auth::Resource::of(&setup));
    tokens.invalidate(host);
    let result = tokens.access_token(host, &setup).map(|_| ());
    match result {
        Ok(()) => {
            setup.status = STATUS_OK.into();
            setup.consent_given = true;
            setup.save(host, version)?;
            view(host, setup)
        }
        Err(e) => {
            if let AuthError::SignInRequired(m) | AuthError::InvalidClient(m) = &e {
                setup.status = format!("sign-in required: {m}");
                setup.save(host, version)?;
            }
            Err(auth::auth_to_setup(e))
        }
    }
}

/// Runs the checklist and creates the job when nothing fails.
pub fn enable(host: &dyn Host) -> Result<SetupView, SetupError> {
    let checks = checklist(host, false);
    enable_after(host, checks)
}

/// Enables when none of `checks` failed; otherwise says every failing one.
fn enable_after(host: &dyn Host, checks: Vec<Check>) -> Result<SetupView, SetupError> {
    let failing: Vec<String> = checks
        .into_iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .map(|c| format!("{}: {} ({})", c.name, c.detail, c.hint))
        .collect();
    if !failing.is_empty() {
        return Err(SetupError::Incomplete(format!(
            "email logging cannot be enabled yet: {}",
            failing.join("; ")
        )));
    }
    let (mut setup, version) = Setup::load(host)?;
    host.job_ensure(JOB_NAME, RECURRENCE)?;
    setup.enabled = true;
    setup.consent_given = true;
    setup.status = STATUS_OK.into();
    setup.save(host, version)?;
    view(host, setup)
}

/// Removes the job and turns logging off.
pub fn disable(host: &dyn Host) -> Result<SetupView, SetupError> {
    let (mut setup, version) = Setup::load(host)?;
    host.job_remove(JOB_NAME)?;
    setup.enabled = false;
    setup.save(host, version)?;
    view(host, setup)
}

/// Creates the job again (for a job removed or broken in the ERP).
pub fn recreate_job(host: &dyn Host) -> Result<SetupView, SetupError> {
    let (setup, _) = Setup::load(host)?;
    if !setup.enabled {
        return Err(SetupError::Incomplete(
            "email logging is not enabled: enable it, which creates the job".into(),
        ));
    }
    host.job_remove(JOB_NAME)?;
    host.job_ensure(JOB_NAME, RECURRENCE)?;
    view(host, setup)
}

/// Removes the job, the setup and every secret.
pub fn clear(host: &dyn Host) -> Result<(), SetupError> {
    host.job_remove(JOB_NAME)?;
    auth::forget_tokens(host)?;
    host.secret_remove(CLIENT_SECRET)?;
    host.secret_remove(EWS_PASSWORD)?;
    Setup::remove(host)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::checklist::{Checks, check_folder_settings, checklist_on};
    use super::*;
    use crate::host::JobState;
    use crate::testing::{MAILBOX, MemHost, MemStore};

    fn configured(host: &MemHost) {
        update(
            host,
            SetupChange {
                shared_mailbox: Some(MAILBOX.into()),
                client_id: Some("8f6c2d1e-0b5a-4c3e-9d7f-1a2b3c4d5e6f".into()),
                client_secret: Some("s3cret".into()),
                ..Default::default()
            },
        )
        .unwrap();
    }

    #[test]
    fn a_change_stores_the_secret_apart_and_clear_removes_everything() {
        let host = MemHost::new();
        configured(&host);
        let v = get(&host).unwrap();
        assert!(v.client_secret_set);
        assert_eq!(v.setup.shared_mailbox.as_deref(), Some(MAILBOX));
        let state = host.storage_get(crate::setup::KEY).unwrap().unwrap().0;
        assert!(
            !state.contains("s3cret"),
            "the secret is not in the setup record"
        );
        update(
            &host,
            SetupChange {
                client_secret: Some(String::new()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            !get(&host).unwrap().client_secret_set,
            "an empty secret clears it"
        );
        clear(&host).unwrap();
        assert_eq!(get(&host).unwrap().setup, Setup::default());
    }

    #[test]
    fn enabling_runs_the_checklist_and_creates_the_job() {
        let host = MemHost::new();
        configured(&host);
        let mut store = MemStore::new(vec![]);
        let setup = Setup::load(&host).unwrap().0;
        let checks = checklist_on(&host, &setup, &mut store, false);
        let probe = checks
            .iter()
            .find(|c| c.name == "move to the storage folder")
            .expect("a real move is tried");
        assert_eq!(probe.status, CheckStatus::Pass, "{probe:?}");
        assert_eq!(
            store.count("drafts") + store.count("archive"),
            0,
            "the probe is gone"
        );
        let v = enable_after(&host, checks).unwrap();
        assert!(v.setup.enabled);
        assert!(host.job.borrow().is_some());
        disable(&host).unwrap();
        assert!(host.job.borrow().is_none());
        assert!(!get(&host).unwrap().setup.enabled);
    }

    #[test]
    fn a_job_in_error_or_on_hold_is_a_warning_with_its_last_error() {
        let host = MemHost::new();
        configured(&host);
        let setup = Setup::load(&host).unwrap().0;
        for (state, warns) in [
            (JobState::Ready, false),
            (JobState::InProcess, false),
            (JobState::PartlyDone, false),
            (JobState::Error, true),
            (JobState::OnHold, true),
        ] {
            *host.job.borrow_mut() = Some(crate::host::JobStatus {
                status: state,
                next_run: None,
                last_error: Some("the mailbox was full".into()),
            });
            let checks = checklist_on(&host, &setup, &mut MemStore::new(vec![]), true);
            let job = checks
                .iter()
                .find(|c| c.name == "job")
                .expect("a job check");
            assert_eq!(job.status == CheckStatus::Warn, warns, "{state}: {job:?}");
            if warns {
                assert!(
                    job.detail
                        .contains(&format!("the job is {state}: the mailbox was full"))
                );
            }
        }
    }

    #[test]
    fn enabling_refuses_with_every_failing_check() {
        let host = MemHost::new();
        configured(&host);
        *host.template.borrow_mut() = None;
        let mut store = MemStore::new(vec![]);
        store.sign_in = Err(crate::mail_store::MailError::SignInLost(
            "AADSTS700082".into(),
        ));
        let setup = Setup::load(&host).unwrap().0;
        let checks = checklist_on(&host, &setup, &mut store, false);
        let err = enable_after(&host, checks).unwrap_err().to_string();
        assert!(
            err.contains("AADSTS700082") && err.contains("template"),
            "{err}"
        );
        assert!(host.job.borrow().is_none());
    }

    #[test]
    fn a_saved_inbox_destination_fails_validation() {
        let mut c = Checks(Vec::new());
        check_folder_settings(&Setup::default(), &mut c);
        assert!(c.0.is_empty(), "the defaults are fine");
        // A setup saved before the Inbox was refused as a destination.
        let setup = Setup {
            storage_folder: "Inbox".into(),
            quarantine_folder: "inbox".into(),
            ..Setup::default()
        };
        check_folder_settings(&setup, &mut c);
        let [line] = c.0.as_slice() else {
            panic!("{:?}", c.0)
        };
        assert_eq!(line.status, CheckStatus::Fail);
        assert!(
            line.detail
                .contains("storage folder and the quarantine folder"),
            "{}",
            line.detail
        );
    }
}
