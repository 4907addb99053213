//! The setup actions an administrator takes: change fields, validate, sign
//! in, enable, disable, renew the token, recreate the job, clear.

use crate::address::Address;
use crate::auth::{self, AuthError};
use crate::graph::Graph;
use crate::host::{Host, JOB_NAME, JobState, Recurrence};
use crate::mail_store::{MailError, MailStore};
use crate::setup::{
    CLIENT_SECRET, EWS_PASSWORD, NotLoggedPolicy, STATUS_OK, Setup, SetupChange, SetupError,
};

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
    let mailbox = setup.shared_mailbox.clone().unwrap_or_default();
    let result = Graph::new(host, &setup, &mailbox).sign_in_fresh();
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

/// Runs the checklist without changing the setup (SPEC §2).
pub fn validate(host: &dyn Host) -> Vec<Check> {
    checklist(host, true)
}

/// Collects checks; `with_job` adds the job queue check (not before enabling).
struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, name: &str, status: CheckStatus, detail: impl Into<String>, hint: &str) {
        self.0.push(Check {
            name: name.into(),
            status,
            detail: detail.into(),
            hint: hint.into(),
        });
    }
    fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.add(name, CheckStatus::Pass, detail, "");
    }
}

fn checklist(host: &dyn Host, with_job: bool) -> Vec<Check> {
    let setup = match Setup::load(host) {
        Ok((s, _)) => s,
        Err(e) => {
            let mut c = Checks(Vec::new());
            c.add(
                "setup record",
                CheckStatus::Fail,
                e.to_string(),
                "check the host's storage",
            );
            return c.0;
        }
    };
    let mailbox = setup.mailbox().unwrap_or_default().to_string();
    match crate::experience::open(host, &setup, &mailbox, None) {
        Ok(mut store) => checklist_on(host, &setup, store.as_mut(), with_job),
        Err(e) => {
            let mut c = Checks(Vec::new());
            c.add(
                "mail store",
                CheckStatus::Fail,
                e.to_string(),
                "complete the setup of the mail store the job reads",
            );
            c.0
        }
    }
}

/// The checklist against `store`: the ERP's records, the folder settings,
/// the store's access (sign-in, mailbox), the folders, a real move, the job.
pub(crate) fn checklist_on(
    host: &dyn Host,
    setup: &Setup,
    store: &mut dyn MailStore,
    with_job: bool,
) -> Vec<Check> {
    let mut c = Checks(Vec::new());
    check_erp(host, &mut c);
    check_folder_settings(setup, &mut c);
    if let Err(m) = setup.mailbox() {
        c.add("shared mailbox", CheckStatus::Fail, "not set", &m);
        return c.0;
    }
    let mut access_ok = true;
    for a in store.check_access() {
        access_ok &= a.passed;
        let status = if a.passed {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        };
        c.add(&a.name, status, a.detail, &a.hint);
    }
    if !access_ok {
        if with_job
            && c.0
                .iter()
                .all(|x| x.name != "token" || x.status == CheckStatus::Pass)
        {
            check_job(host, setup, &mut c);
        }
        return c.0;
    }
    let storage = check_folder(store, setup, "storage folder", setup.storage(), &mut c);
    check_move(store, setup.storage(), storage, &mut c);
    if setup.monthly_subfolders {
        let month = format!("{}/{}", setup.storage(), host.now().format("%Y-%m"));
        check_folder(store, setup, "this month's storage folder", &month, &mut c);
    }
    if setup.not_logged_policy == NotLoggedPolicy::MoveToFolder {
        check_folder(
            store,
            setup,
            "not-logged folder",
            &setup.not_logged_folder,
            &mut c,
        );
    }
    if with_job {
        check_job(host, setup, &mut c);
    }
    c.0
}

fn check_erp(host: &dyn Host, c: &mut Checks) {
    match host.email_template() {
        Ok(Some(t)) => c.pass(
            "interaction template",
            format!("e-mails are logged with template {t}"),
        ),
        Ok(None) => c.add(
            "interaction template",
            CheckStatus::Fail,
            "no interaction template for e-mails is set up",
            "set up an interaction template for e-mails in the ERP (for example EMAIL)",
        ),
        Err(e) => c.add(
            "interaction template",
            CheckStatus::Fail,
            e.to_string(),
            "check the ERP",
        ),
    }
    match host.address_fields() {
        Ok(fields) => {
            let problems: Vec<String> = fields
                .iter()
                .filter_map(|f| {
                    let what = match f.value.as_deref().map(Address::parse) {
                        None => "missing".to_string(),
                        Some(Ok(_)) => return None,
                        Some(Err(e)) => e.to_string(),
                    };
                    Some(format!("{} {} {}: {what}", f.owner, f.no, f.field))
                })
                .collect();
            if problems.is_empty() {
                c.pass(
                    "e-mail addresses",
                    format!("{} addresses are well-formed", fields.len()),
                );
            } else {
                c.add(
                    "e-mail addresses",
                    CheckStatus::Warn,
                    problems.join("; "),
                    "e-mail with these salespeople and contacts cannot be logged until their addresses are corrected",
                );
            }
        }
        Err(e) => c.add(
            "e-mail addresses",
            CheckStatus::Warn,
            e.to_string(),
            "check the ERP",
        ),
    }
}

/// The folders the job moves messages to must not be the Inbox it reads (a
/// setup saved before that was refused may still name it).
fn check_folder_settings(setup: &Setup, c: &mut Checks) {
    let mut inbox = vec![];
    if crate::setup::is_inbox(setup.storage()) {
        inbox.push("storage folder");
    }
    if setup.not_logged_policy == NotLoggedPolicy::MoveToFolder
        && crate::setup::is_inbox(&setup.not_logged_folder)
    {
        inbox.push("not-logged folder");
    }
    if crate::setup::is_inbox(&setup.quarantine_folder) {
        inbox.push("quarantine folder");
    }
    if !inbox.is_empty() {
        c.add(
            "folders",
            CheckStatus::Fail,
            format!("the {} is the Inbox, which the job reads", inbox.join(" and the ")),
            "choose another folder (setup set --storage-folder, --not-logged-folder, --quarantine-folder): messages moved to the Inbox would be read again by every run",
        );
    }
}

/// Moves a probe item into the storage folder and deletes it: proves that
/// the job account may move messages there, which reading cannot show.
fn check_move(store: &mut dyn MailStore, path: &str, folder: Option<String>, c: &mut Checks) {
    const NAME: &str = "move to the storage folder";
    let Some(folder) = folder else {
        c.add(
            NAME,
            CheckStatus::Warn,
            format!("not tried: '{path}' does not exist yet"),
            "it is tried by the next validation once the first run has created the folder",
        );
        return;
    };
    let probe = match store.create_probe() {
        Ok(id) => id,
        Err(e) => {
            c.add(
                NAME,
                CheckStatus::Fail,
                format!("a probe message cannot be created in Drafts: {e}"),
                "give the job account Full Access to the shared mailbox, and the app Mail.ReadWrite.Shared (application mode: Mail.ReadWrite)",
            );
            return;
        }
    };
    let moved = store
        .move_many(&[(probe.clone(), folder)])
        .pop()
        .unwrap_or_else(|| Err(MailError::Unavailable("no answer".into())))
        .map(|m| m.id);
    match moved {
        // Deleted for good: the probe leaves no trace in Deleted Items.
        Ok(id) => match store.delete_for_good(&id) {
            Ok(()) => c.pass(
                NAME,
                format!("a probe message was moved to '{path}' and deleted"),
            ),
            Err(e) => c.add(
                NAME,
                CheckStatus::Warn,
                format!("a probe message was moved to '{path}', but it cannot be deleted: {e}"),
                "delete the message 'Email Logging probe' from the storage folder by hand",
            ),
        },
        Err(e) => {
            let left = store.delete_for_good(&probe).is_err();
            c.add(
                NAME,
                CheckStatus::Fail,
                format!(
                    "a probe message cannot be moved to '{path}': {e}{}",
                    if left { "; the probe stays in Drafts" } else { "" }
                ),
                "check the job account's rights on the storage folder, and that the folder is not full",
            );
        }
    }
}

/// Checks a folder's item count against the limit; its id when it exists.
fn check_folder(
    store: &mut dyn MailStore,
    setup: &Setup,
    name: &str,
    folder: &str,
    c: &mut Checks,
) -> Option<String> {
    let limit = setup.folder_item_limit;
    let info = store
        .folder_info(folder)
        .map(|found| found.map(|f| (f.id, f.item_count)));
    let id = match &info {
        Ok(Some((id, _))) => Some(id.clone()),
        _ => None,
    };
    match info {
        Ok(Some((_, n))) if n >= u64::from(limit) => c.add(
            name,
            CheckStatus::Fail,
            format!("'{folder}' holds {n} items, the limit of {limit}"),
            "choose a new storage folder or turn on monthly subfolders; old entries keep their links",
        ),
        Ok(Some((_, n))) if setup.folder_warns(n) => c.add(
            name,
            CheckStatus::Warn,
            format!(
                "'{folder}' holds {n} of at most {limit} items ({}%)",
                n * 100 / u64::from(limit)
            ),
            "choose a new storage folder soon or turn on monthly subfolders; old entries keep their links",
        ),
        Ok(Some((_, n))) => c.pass(name, format!("'{folder}' exists and holds {n} items")),
        Ok(None) => c.add(
            name,
            CheckStatus::Warn,
            format!("'{folder}' does not exist yet"),
            "it is created at the first run; nothing to do unless the name is a typo",
        ),
        Err(e) => c.add(name, CheckStatus::Fail, e.to_string(), "check the job account's rights on the mailbox"),
    }
    id
}

fn check_job(host: &dyn Host, setup: &Setup, c: &mut Checks) {
    match host.job_status(JOB_NAME) {
        Ok(Some(j)) if matches!(j.status, JobState::Error | JobState::OnHold) => c.add(
            "job",
            CheckStatus::Warn,
            format!(
                "the job is {}: {}",
                j.status,
                j.last_error.unwrap_or_else(|| "no error recorded".into())
            ),
            "fix the cause, then recreate the job (setup recreate-job)",
        ),
        Ok(Some(j)) => c.pass(
            "job",
            format!(
                "status {}, next run {}",
                j.status,
                j.next_run.unwrap_or_else(|| "not planned".into())
            ),
        ),
        Ok(None) if setup.enabled => c.add(
            "job",
            CheckStatus::Fail,
            "email logging is enabled, but there is no job",
            "recreate the job (setup recreate-job)",
        ),
        Ok(None) => c.add(
            "job",
            CheckStatus::Warn,
            "email logging is not enabled",
            "enable it (setup enable)",
        ),
        Err(e) => c.add(
            "job",
            CheckStatus::Fail,
            e.to_string(),
            "check the ERP's job queue",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
