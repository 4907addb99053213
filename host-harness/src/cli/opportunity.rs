//! `opportunity` and `opportunities`: sales opportunities made from entries.

use crate::crm::opportunity::Created;
use crate::erp::Erp;
use crate::store::CompanyId;
use anyhow::Context as _;
use clap::Subcommand;

/// Opportunity commands.
#[derive(Debug, Subcommand)]
pub enum OpportunityCommand {
    /// Create an opportunity from an interaction log entry: for its contact
    /// and salesperson, described by its subject, linked back to it. An
    /// entry gets one opportunity; asking again shows the existing one.
    Create {
        /// The entry number.
        #[arg(long)]
        from_entry: i64,
        /// Print the opportunity as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `opportunity` command.
pub(super) fn run(
    erp: &Erp,
    company: CompanyId,
    command: OpportunityCommand,
) -> anyhow::Result<()> {
    let OpportunityCommand::Create { from_entry, json } = command;
    let entry = erp.entry(company, from_entry)?.with_context(|| {
        format!("there is no interaction log entry {from_entry}; see `entries`")
    })?;
    let (o, new) = match erp.create_opportunity(company, &entry)? {
        Created::New(o) => (o, true),
        Created::Existing(o) => (o, false),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else if new {
        println!(
            "Created opportunity {} \"{}\" for contact {} and salesperson {}, from entry {from_entry}.",
            o.no, o.description, o.contact_no, o.salesperson_code
        );
    } else {
        println!(
            "Entry {from_entry} has opportunity {} \"{}\" already; nothing was created.",
            o.no, o.description
        );
    }
    Ok(())
}

/// `opportunities`: the list, optionally for one contact.
pub(super) fn list(
    erp: &Erp,
    company: CompanyId,
    contact: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let list = erp.opportunities(company, contact)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        println!("{}", crate::views::opportunities(&list));
    }
    Ok(())
}
