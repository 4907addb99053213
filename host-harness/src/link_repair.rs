//! `entries repair-links`: finds every logged message again through the
//! component and refreshes the links that went stale (SPEC §4).

use crate::crm::{self, Link, StoredLink};
use crate::erp::{Erp, describe, setup_failed};
use crate::runtime::{MessageRef, Resolution};
use crate::store::CompanyId;
use serde::Serialize;

/// Links asked about in one component call.
const CHUNK: usize = 50;

/// A message as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkLine {
    /// The entries that carry the link.
    pub entry_nos: Vec<i64>,
    /// Their subject.
    pub subject: String,
    /// The folder it is in now (repaired), or why it could not be checked.
    pub detail: String,
}

/// What a repair did.
#[derive(Debug, Default, Serialize)]
pub struct RepairReport {
    /// Links checked.
    pub checked: usize,
    /// Links that pointed at an old place and now point at the message.
    pub repaired: Vec<LinkLine>,
    /// Links that were right.
    pub unchanged: usize,
    /// Messages found neither by id nor by `internetMessageId`.
    pub not_found: Vec<LinkLine>,
    /// Messages that could not be looked for (their mailbox failed).
    pub failed: Vec<LinkLine>,
}

/// Checks every stored link of the company; `progress(done, total)` is
/// called after each chunk.
pub async fn repair_links(
    erp: &Erp,
    company: CompanyId,
    progress: &dyn Fn(usize, usize),
) -> anyhow::Result<RepairReport> {
    let links = crm::stored_links(&erp.db, company)?;
    // Links recorded before the mailbox was kept belong to the setup's mailbox.
    let setup_mailbox = erp
        .runtime
        .setup_get(company)
        .await?
        .map_err(setup_failed)?
        .shared_mailbox;
    let mut report = RepairReport::default();
    let line = |l: &StoredLink, detail: String| LinkLine {
        entry_nos: l.entry_nos.clone(),
        subject: l.subject.clone(),
        detail,
    };
    let (known, unknown): (Vec<StoredLink>, Vec<StoredLink>) = links
        .into_iter()
        .partition(|l| l.mailbox.is_some() || setup_mailbox.is_some());
    for l in &unknown {
        report.failed.push(line(
            l,
            "the mailbox it was logged from is unknown; set the shared mailbox in the setup".into(),
        ));
    }
    let total = known.len();
    for chunk in known.chunks(CHUNK) {
        let refs: Vec<MessageRef> = chunk
            .iter()
            .map(|l| MessageRef {
                mailbox: l
                    .mailbox
                    .clone()
                    .or_else(|| setup_mailbox.clone())
                    .unwrap_or_default(),
                message_id: l.message_id.clone(),
                internet_message_id: l.internet_message_id.clone(),
            })
            .collect();
        let answers = erp
            .runtime
            .resolve_messages(company, &refs)
            .await?
            .map_err(|e| anyhow::anyhow!("the links cannot be checked: {}", describe(&e)))?;
        anyhow::ensure!(
            answers.len() == refs.len(),
            "the component answered {} of {} links",
            answers.len(),
            refs.len()
        );
        for ((stored, asked), answer) in chunk.iter().zip(&refs).zip(answers) {
            report.checked += 1;
            match answer {
                Resolution::Found(at) => {
                    // The folder's name may read differently (`archive` in
                    // the setup, `Archive` in Outlook): only a new id or
                    // link makes a repair.
                    let changed = at.message_id != stored.message_id
                        || at.web_link != stored.web_link
                        || stored.mailbox.is_none();
                    let link = Link {
                        mailbox: asked.mailbox.clone(),
                        message_id: at.message_id,
                        internet_message_id: stored.internet_message_id.clone(),
                        web_link: at.web_link,
                        folder: Some(at.folder.clone()),
                    };
                    crm::record_link_check(&erp.db, company, &stored.message_key, Some(&link))?;
                    if changed {
                        report
                            .repaired
                            .push(line(stored, format!("now in '{}'", at.folder)));
                    } else {
                        report.unchanged += 1;
                    }
                }
                Resolution::NotFound => {
                    crm::record_link_check(&erp.db, company, &stored.message_key, None)?;
                    report.not_found.push(line(
                        stored,
                        format!(
                            "not in {} any more (deleted, or moved to another mailbox)",
                            asked.mailbox
                        ),
                    ));
                }
                Resolution::Failed(why) => report.failed.push(line(stored, why)),
            }
        }
        progress(report.checked, total);
    }
    crm::log_activity(
        &erp.db,
        company,
        "link-repair",
        if report.not_found.is_empty() && report.failed.is_empty() {
            "info"
        } else {
            "warning"
        },
        &format!(
            "Link repair: {} checked, {} repaired, {} not found, {} could not be checked",
            report.checked,
            report.repaired.len(),
            report.not_found.len(),
            report.failed.len()
        ),
        None,
    )?;
    Ok(report)
}
