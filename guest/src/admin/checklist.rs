//! The validation checklist: the ERP's records, the folder settings, the
//! mail store's sign-in and folders (with a real move of a probe into the
//! storage folder), and the job.

use crate::address::Address;
use crate::host::{Host, JOB_NAME, JobState};
use crate::mail_store::{MailError, MailStore};
use crate::setup::{NotLoggedPolicy, Setup};

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
pub(super) struct Checks(pub(super) Vec<Check>);

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

pub(super) fn checklist(host: &dyn Host, with_job: bool) -> Vec<Check> {
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
pub(super) fn check_folder_settings(setup: &Setup, c: &mut Checks) {
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
                format!("a probe message cannot be created: {e}"),
                store.rights_hint(),
            );
            return;
        }
    };
    let moved = store
        .move_many(&[(probe.clone(), folder)])
        .pop()
        .unwrap_or_else(|| Err(MailError::Unavailable("no answer".into())))
        .map(|m| m.map(|m| m.id));
    match moved {
        Ok(None) => c.add(
            NAME,
            CheckStatus::Warn,
            format!(
                "a probe message was moved to '{path}', but it cannot be found there to delete it"
            ),
            "delete the message 'Email Logging probe' from the storage folder by hand",
        ),
        // Deleted for good: the probe leaves no trace in Deleted Items.
        Ok(Some(id)) => match store.delete_for_good(&id) {
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
            let hint = format!(
                "check that the storage folder is not full; {}",
                store.rights_hint()
            );
            c.add(
                NAME,
                CheckStatus::Fail,
                format!(
                    "a probe message cannot be moved to '{path}': {e}{}",
                    if left {
                        "; the probe message 'Email Logging probe' stays where it was created"
                    } else {
                        ""
                    }
                ),
                &hint,
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
            format!(
                "'{folder}' holds {n} items, the limit of {limit} ({})",
                store.folder_limit_source()
            ),
            "choose a new storage folder or turn on monthly subfolders; old entries keep their links",
        ),
        Ok(Some((_, n))) if setup.folder_warns(n) => c.add(
            name,
            CheckStatus::Warn,
            format!(
                "'{folder}' holds {n} of at most {limit} items ({}%; {})",
                n * 100 / u64::from(limit),
                store.folder_limit_source()
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
        Err(e) => c.add(name, CheckStatus::Fail, e.to_string(), store.rights_hint()),
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
