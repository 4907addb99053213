//! `entries`: the interaction log, an entry's message, and link repair.

use crate::crm::EntryFilter;
use crate::erp::Erp;
use crate::store::CompanyId;
use anyhow::Context as _;
use clap::{Args, Subcommand};

/// `entries`: a filtered list, or one of its actions.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EntriesArgs {
    /// An action on entries; without one, the entries are listed.
    #[command(subcommand)]
    pub action: Option<EntriesCommand>,
    /// Only this contact's entries (a company contact also shows its people's).
    #[arg(long)]
    pub contact: Option<String>,
    /// Only this salesperson's entries.
    #[arg(long)]
    pub salesperson: Option<String>,
    /// Entries from this day on (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Entries up to and including this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// Print JSON (one array of entries).
    #[arg(long)]
    pub json: bool,
}

/// Actions on interaction log entries.
#[derive(Debug, Subcommand)]
pub enum EntriesCommand {
    /// Print the link that opens an entry's e-mail in Outlook on the web.
    Open {
        /// The entry number.
        entry_no: i64,
        /// Also open it in the default browser.
        #[arg(long)]
        browser: bool,
    },
    /// Find every logged message again (by immutable id, else by
    /// internetMessageId) and refresh links that went stale; reports the
    /// messages it could not find.
    RepairLinks {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `entries`: the list, `open` or `repair-links`.
pub(super) async fn run(erp: &Erp, company: CompanyId, args: EntriesArgs) -> anyhow::Result<()> {
    match args.action {
        None => {
            if let (Some(from), Some(to)) = (args.from, args.to) {
                anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
            }
            let filter = EntryFilter {
                contact: args.contact,
                salesperson: args.salesperson,
                from: args.from,
                to: args.to,
            };
            let list = erp.entries(company, &filter)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{}", crate::views::entries(&list));
            }
            Ok(())
        }
        Some(EntriesCommand::Open { entry_no, browser }) => {
            let e = erp.entry(company, entry_no)?.with_context(|| {
                format!("there is no interaction log entry {entry_no}; see `entries`")
            })?;
            anyhow::ensure!(
                !e.web_link.is_empty(),
                "entry {entry_no} has no link to its message"
            );
            if e.link_status == "not-found" {
                eprintln!(
                    "The message was not found the last time links were repaired; the link may not open."
                );
            }
            let link = erp.message_url(&e.web_link).with_context(|| {
                format!(
                    "entry {entry_no}'s link is not an Outlook on the web address, so it is not opened: {}; run `entries repair-links` to find the message again",
                    crate::terminal::plain(&e.web_link)
                )
            })?;
            println!("{link}");
            if browser {
                webbrowser::open(&link)
                    .with_context(|| format!("cannot open a browser for {link}"))?;
            }
            Ok(())
        }
        Some(EntriesCommand::RepairLinks { json }) => {
            let bar = crate::progress::bar(0, "Checking links");
            let report = crate::link_repair::repair_links(erp, company, &|done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .await?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", crate::views::repair(&report));
            }
            Ok(())
        }
    }
}
