//! The setup actions an administrator takes: change fields, validate, sign
//! in, enable, disable, clear.

use crate::auth::{self, AuthError};
use crate::graph::Graph;
use crate::host::{Host, JOB_NAME, Recurrence};
use crate::setup::{AuthMode, CLIENT_SECRET, STATUS_OK, Setup, SetupChange, SetupError};

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
}

/// Reads the setup for display.
pub fn get(host: &dyn Host) -> Result<SetupView, SetupError> {
    let (setup, _) = Setup::load(host)?;
    view(host, setup)
}

fn view(host: &dyn Host, setup: Setup) -> Result<SetupView, SetupError> {
    Ok(SetupView {
        client_secret_set: host.secret_get(CLIENT_SECRET)?.is_some(),
        setup,
    })
}

/// Applies a change; every field is checked first and nothing is saved on error.
pub fn update(host: &dyn Host, change: SetupChange) -> Result<SetupView, SetupError> {
    let (mut setup, version) = Setup::load(host)?;
    let before = setup.clone();
    let secret = setup.apply(change)?;
    if setup.enabled && setup.shared_mailbox.is_none() {
        return Err(SetupError::Incomplete(
            "the shared mailbox cannot be cleared while email logging is enabled; disable it first"
                .into(),
        ));
    }
    match secret.as_deref() {
        Some("") => host.secret_remove(CLIENT_SECRET)?,
        Some(s) => host.secret_put(CLIENT_SECRET, s)?,
        None => {}
    }
    // Tokens belong to the app and tenant that issued them.
    if !setup.consent_given && before.consent_given {
        auth::forget_tokens(host)?;
    }
    setup.save(host, version)?;
    view(host, setup)
}

/// Starts a delegated sign-in.
pub fn begin_sign_in(host: &dyn Host) -> Result<String, SetupError> {
    let (setup, _) = Setup::load(host)?;
    auth::begin_sign_in(host, &setup)
}

/// Completes a delegated sign-in.
pub fn complete_sign_in(host: &dyn Host, query: &str) -> Result<SetupView, SetupError> {
    let (mut setup, version) = Setup::load(host)?;
    auth::complete_sign_in(host, &mut setup, query)?;
    setup.save(host, version)?;
    view(host, setup)
}

/// Checks the setup, obtains a token, reads the Inbox and creates the job.
pub fn enable(host: &dyn Host) -> Result<SetupView, SetupError> {
    let (mut setup, version) = Setup::load(host)?;
    let mailbox = setup.mailbox().map_err(SetupError::Incomplete)?.to_string();
    if host.email_template()?.is_none() {
        return Err(SetupError::Incomplete(
            "no interaction template for e-mails is set up in the ERP".into(),
        ));
    }
    let mut graph = Graph::new(host, &setup, &mailbox);
    graph.sign_in().map_err(|e| match e {
        AuthError::SignInRequired(m) if setup.auth_mode == AuthMode::Delegated => {
            SetupError::Incomplete(m)
        }
        other => auth::auth_to_setup(other),
    })?;
    let probe = graph.first_page_url("inbox", "id", 1);
    graph.page(&probe).map_err(|e| {
        SetupError::SignInFailed(format!("the Inbox of {mailbox} cannot be read: {e}"))
    })?;
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

/// Removes the job, the setup and every secret.
pub fn clear(host: &dyn Host) -> Result<(), SetupError> {
    host.job_remove(JOB_NAME)?;
    auth::forget_tokens(host)?;
    host.secret_remove(CLIENT_SECRET)?;
    Setup::remove(host)?;
    Ok(())
}

/// One line of the validation checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `pass`, `warn` or `fail`.
    pub status: CheckStatus,
    /// What was found.
    pub detail: String,
    /// What to do.
    pub hint: String,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Good.
    Pass,
    /// Look at it.
    Warn,
    /// Must be fixed.
    Fail,
}

/// Runs the checklist without changing the setup.
pub fn validate(host: &dyn Host) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut add = |name: &str, status, detail: String, hint: &str| {
        checks.push(Check {
            name: name.into(),
            status,
            detail,
            hint: hint.into(),
        })
    };
    let setup = match Setup::load(host) {
        Ok((s, _)) => s,
        Err(e) => {
            add(
                "setup record",
                CheckStatus::Fail,
                e.to_string(),
                "check the host's storage",
            );
            return checks;
        }
    };
    let Some(mailbox) = setup.shared_mailbox.clone() else {
        add(
            "shared mailbox",
            CheckStatus::Fail,
            "not set".into(),
            "set the shared mailbox address",
        );
        return checks;
    };
    add("shared mailbox", CheckStatus::Pass, mailbox.clone(), "");
    match host.email_template() {
        Ok(Some(t)) => add("interaction template", CheckStatus::Pass, t, ""),
        Ok(None) => add(
            "interaction template",
            CheckStatus::Fail,
            "no template for e-mails".into(),
            "set up an interaction template for e-mails in the ERP",
        ),
        Err(e) => add(
            "interaction template",
            CheckStatus::Fail,
            e.to_string(),
            "check the host",
        ),
    }
    let mut graph = Graph::new(host, &setup, &mailbox);
    match graph.sign_in() {
        Ok(()) => add(
            "token",
            CheckStatus::Pass,
            "an access token was obtained".into(),
            "",
        ),
        Err(e) => {
            add(
                "token",
                CheckStatus::Fail,
                e.to_string(),
                "fix the app registration values or sign in again",
            );
            return checks;
        }
    }
    let probe = graph.first_page_url("inbox", "id", 1);
    match graph.page(&probe) {
        Ok(_) => add(
            "inbox",
            CheckStatus::Pass,
            "the Inbox is readable".into(),
            "",
        ),
        Err(e) => add(
            "inbox",
            CheckStatus::Fail,
            e.to_string(),
            "give the job account Full Access to the shared mailbox and check its licence",
        ),
    }
    match host.job_status(JOB_NAME) {
        Ok(Some(j)) if j.status == "error" => add(
            "job",
            CheckStatus::Warn,
            j.last_error.unwrap_or_else(|| "the job is in error".into()),
            "fix the cause, then recreate the job",
        ),
        Ok(Some(j)) => add("job", CheckStatus::Pass, format!("status {}", j.status), ""),
        Ok(None) if setup.enabled => add(
            "job",
            CheckStatus::Fail,
            "enabled, but there is no job".into(),
            "disable and enable email logging to recreate the job",
        ),
        Ok(None) => add(
            "job",
            CheckStatus::Warn,
            "email logging is not enabled".into(),
            "enable it",
        ),
        Err(e) => add(
            "job",
            CheckStatus::Fail,
            e.to_string(),
            "check the host's job queue",
        ),
    }
    checks
}
