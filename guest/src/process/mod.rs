//! One job run: drain the shared mailbox's Inbox (SPEC §3).
//!
//! Order of work per message is what makes crashes safe: entries are
//! committed through the host (idempotent on the message key) before the
//! message is moved, and a message already logged is only moved. Whatever
//! point a run dies at, the next run completes the work without duplicates.
//!
//! One module per stage of a message's life: [`drain`] reads the pages,
//! [`gate`] keeps out private mail and what the ERP's `decide` skips,
//! [`lookup`] asks the ERP for the parties (and its `unknown-parties` for
//! the addresses that matched nobody), [`decide`] classifies and
//! commits the entries, [`settle`] moves and records the outcome,
//! [`failure`] says what a failed step means, [`report`] is what the run
//! hands back. The mailbox is a [`MailStore`]: Graph in production, an
//! in-memory one in the unit tests.

mod decide;
mod drain;
mod failure;
mod gate;
mod lookup;
pub mod report;
mod run;
mod settle;
#[cfg(test)]
mod tests;

pub use crate::run_error::RunError;
pub use lookup::LOOKUP_CHUNK;

use crate::host::{Activity, Host, Level, Severity};
use crate::mail_store::{MailError, MailStore};
use crate::setup::{STATUS_OK, Setup};
use report::Report;
use run::Run;
use std::time::{Duration, Instant};

/// Runs the job once within `budget_ms`.
pub fn run(host: &dyn Host, budget_ms: u32) -> Result<Report, RunError> {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(u64::from(budget_ms));
    let (mut setup, version) = Setup::load(host)?;
    if !setup.enabled {
        return Err(RunError::NotEnabled);
    }
    let mailbox = setup
        .mailbox()
        .map_err(RunError::SetupIncomplete)?
        .to_string();
    let template = email_template(host)?;

    // One store for the whole run (its waits and requests are the run's),
    // over a copy of the setup, which the status lines below change.
    let store_setup = setup.clone();
    let opened = crate::experience::open(host, &store_setup, &mailbox, Some(deadline));
    // Sign in first so that a lost grant is reported as such, and recorded
    // on the setup for the administrator, before any mail is touched.
    let mut store = match opened.and_then(|mut store| store.connect().map(|()| store)) {
        Err(MailError::SignInLost(m)) => {
            setup.status = format!("sign-in required: {m}");
            setup.save(host, version)?;
            return Err(RunError::SignInRequired(m));
        }
        Err(e) => return Err(e.into_run_error()),
        Ok(store) => store,
    };
    if setup.status != STATUS_OK {
        setup.status = STATUS_OK.into();
        setup.save(host, version)?;
    }

    let result = run_on(host, &setup, store.as_mut(), template, deadline);
    // A grant lost mid-run is recorded on the setup like one lost at the start.
    if let Err(RunError::SignInRequired(m)) = &result {
        setup.status = format!("sign-in required: {m}");
        let (_, version) = Setup::load(host)?;
        setup.save(host, version)?;
    }
    result.map(|mut r| {
        r.duration_ms = started.elapsed().as_millis() as u64;
        r
    })
}

/// The interaction template for e-mails, which every entry needs.
fn email_template(host: &dyn Host) -> Result<String, RunError> {
    host.email_template()?.ok_or_else(|| {
        RunError::SetupIncomplete(
            "no interaction template for e-mails is set up in the ERP; set one (for example EMAIL) in the interaction template setup".into(),
        )
    })
}

/// One run over `store` once signed in: the links the last run flagged,
/// then the Inbox until `deadline`.
pub(crate) fn run_on(
    host: &dyn Host,
    setup: &Setup,
    store: &mut dyn MailStore,
    template: String,
    deadline: Instant,
) -> Result<Report, RunError> {
    let started = Instant::now();
    let repaired = repair_links(host, store);
    let mut run = Run::start(host, store, setup, template)?;
    let drained = run.drain(deadline);
    if drained.is_ok() {
        run.check_folder_limits();
    }
    run.write_activities();
    run.store.finish();
    drained?;
    let usage = run.store.usage();
    let mut report = run.report;
    report.requests = usage.requests;
    report.throttled_waits = usage.throttled_waits;
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.warnings.extend(repaired);
    host.log(
        Level::Info,
        "email logging run finished",
        &[
            ("seen", &report.messages_seen.to_string()),
            ("logged", &report.messages_logged.to_string()),
            ("entries", &report.entries_created.to_string()),
            ("quarantined", &report.messages_quarantined.to_string()),
            ("deferred", &report.messages_deferred.to_string()),
        ],
    );
    Ok(report)
}

/// Repairs the links earlier runs flagged; returns warnings for the report.
/// A failure here never stops the run: the links stay flagged.
fn repair_links(host: &dyn Host, store: &mut dyn MailStore) -> Vec<String> {
    let mut lines = Vec::new();
    let warnings = match crate::links::repair_flagged(host, store) {
        Ok(done) => {
            if done.repaired > 0 {
                lines.push(Activity::new(
                    Severity::Info,
                    format!(
                        "repaired the links of {} logged messages whose move was not confirmed",
                        done.repaired
                    ),
                    None,
                ));
            }
            let mut warnings = Vec::new();
            for key in &done.lost {
                let text = "a logged message whose move was not confirmed cannot be found in the mailbox any more; its entries keep the old link";
                lines.push(Activity::new(Severity::Warning, text, Some(key)));
                warnings.push(format!("{text} ({key})"));
            }
            warnings
        }
        Err(e) => {
            host.log(
                Level::Warn,
                "could not repair flagged links; they stay flagged",
                &[("error", &e.to_string())],
            );
            Vec::new()
        }
    };
    run::write_activities(host, &lines);
    warnings
}
