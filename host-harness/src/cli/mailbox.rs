//! `mailbox`: the shared mailbox's folders.

use crate::erp::Erp;
use crate::store::CompanyId;
use clap::Subcommand;

/// Mailbox commands.
#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Item counts of the Inbox, the storage folder (and its monthly
    /// subfolders) and the not-logged and quarantine folders, against the
    /// folder item limit.
    Stats {
        /// Print JSON (one array).
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `mailbox` command.
pub(super) async fn run(
    erp: &Erp,
    company: CompanyId,
    command: MailboxCommand,
) -> anyhow::Result<()> {
    let MailboxCommand::Stats { json } = command;
    let stats = erp
        .runtime
        .mailbox_stats(company)
        .await?
        .map_err(|e| anyhow::anyhow!("{}", crate::erp::describe(&e)))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::host::names::folder_stats_json(&stats))?
        );
    } else {
        println!("{}", crate::views::folder_stats(&stats));
        if stats.iter().any(|f| f.warning) {
            println!(
                "A folder is nearly full: choose a new storage folder or turn on monthly subfolders (setup set --monthly-subfolders on); old entries keep their links."
            );
        }
    }
    Ok(())
}
