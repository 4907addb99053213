//! `crm`: importing CRM records and listing contacts.

use crate::crm::csv_import::{CsvFile, RecordType};
use crate::erp::Erp;
use crate::store::CompanyId;
use anyhow::Context as _;
use clap::Subcommand;
use std::path::PathBuf;

/// CRM commands.
#[derive(Debug, Subcommand)]
pub enum CrmCommand {
    /// Import CRM records: a CRM seed (.json: salespeople, contacts and the
    /// e-mail template), or CSV files with a header row, one per record
    /// type (salespeople.csv: code,name,email; contacts.csv:
    /// no,name,type,company_no,email,email2; alt-addresses.csv:
    /// contact_no,code,email; interaction-templates.csv:
    /// code,description,email_template). All CSV files of one command are
    /// imported together, or nothing is.
    Import {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The record type of the CSV files, when their names do not say it.
        #[arg(long = "type", value_enum)]
        kind: Option<RecordType>,
    },
    /// List the contacts, with how many interaction log entries each has.
    Contacts {
        /// Only contacts whose number, name or e-mail contains this.
        #[arg(long)]
        search: Option<String>,
        /// Print JSON (one array).
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `crm` command.
pub(super) fn run(erp: &Erp, company: CompanyId, command: CrmCommand) -> anyhow::Result<()> {
    match command {
        CrmCommand::Import { files, kind } => import(erp, company, &files, kind),
        CrmCommand::Contacts { search, json } => contacts(erp, company, search.as_deref(), json),
    }
}

/// `crm import`: a JSON seed, or CSV files imported together.
fn import(
    erp: &Erp,
    company: CompanyId,
    files: &[PathBuf],
    kind: Option<RecordType>,
) -> anyhow::Result<()> {
    let is_json = |p: &PathBuf| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    };
    if let [file] = files
        && is_json(file)
    {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let s = erp.import_crm(company, &text)?;
        println!(
            "Imported {} salespeople, {} contacts, {} alternative addresses.",
            s.salespeople, s.contacts, s.alt_addresses
        );
        return Ok(());
    }
    let mut csv = Vec::new();
    for file in files {
        anyhow::ensure!(
            !is_json(file),
            "import a JSON seed on its own, not together with other files"
        );
        let name = file.display().to_string();
        let kind = kind
            .or_else(|| RecordType::from_file_name(&name))
            .with_context(|| {
                format!(
                    "{name}: say what it holds with --type (salespeople, contacts, alt-addresses, interaction-templates), or name it so (contacts.csv, ...)"
                )
            })?;
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {name}"))?;
        csv.push(CsvFile { name, kind, text });
    }
    let bar = crate::progress::bar(0, "Importing rows");
    let s = erp.import_csv(company, &csv, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let s = s?;
    println!(
        "Imported {} salespeople, {} contacts, {} alternative addresses, {} interaction templates.",
        s.salespeople, s.contacts, s.alt_addresses, s.interaction_templates
    );
    Ok(())
}

/// `crm contacts`: one line (or JSON object) per contact.
fn contacts(erp: &Erp, company: CompanyId, search: Option<&str>, json: bool) -> anyhow::Result<()> {
    let list = erp.contacts(company, search, usize::MAX)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        use crate::terminal::plain;
        for c in &list {
            println!(
                "{:<10} {:<30} {:<8} {:<30} {} entries",
                plain(&c.no),
                plain(&c.name),
                plain(&c.kind),
                plain(c.email.as_deref().unwrap_or("-")),
                c.entries
            );
        }
    }
    Ok(())
}
