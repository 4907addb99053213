//! `jobs` and `activity-log`: what the job queue did.

use crate::erp::Erp;
use crate::store::CompanyId;

/// `jobs`: the job queue entries and the latest runs.
pub(super) fn show(erp: &Erp, company: CompanyId, runs: usize, json: bool) -> anyhow::Result<()> {
    let list = erp.jobs(company)?;
    let log = erp.job_log(company, runs)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "jobs": list, "log": log }))?
        );
    } else {
        println!("{}", crate::views::jobs(&list, &log));
    }
    Ok(())
}

/// `activity-log`: the newest lines first.
pub(super) fn activity_log(
    erp: &Erp,
    company: CompanyId,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    let list = erp.recent_activities(company, limit)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        println!("{}", crate::views::activity_log(&list));
    }
    Ok(())
}
