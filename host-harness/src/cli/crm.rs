//! `crm`: importing CRM records, listing contacts, and the email-logging
//! policy.

use crate::crm::csv_import::{CsvFile, RecordType};
use crate::crm::policy::{ListChange, Policy, PolicyChange};
use crate::erp::Erp;
use crate::store::CompanyId;
use anyhow::Context as _;
use clap::Subcommand;
use std::path::PathBuf;

/// CRM commands.
#[derive(Debug, Subcommand)]
pub enum CrmCommand {
    /// Import CRM records: a CRM seed (.json: salespeople, contacts, the
    /// e-mail template and the email_logging policy; its log_sensitive is
    /// set in the setup), or CSV files with a header row, one per record
    /// type (salespeople.csv: code,name,email; contacts.csv:
    /// no,name,type,company_no,email,email2; alt-addresses.csv:
    /// contact_no,code,email; interaction-templates.csv:
    /// code,description,email_template; company-domains.csv:
    /// contact_no,domain; never-log.csv: entry). All CSV files of one
    /// command are imported together, or nothing is.
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
    /// Show or change the company's email-logging policy: company by
    /// domain, the addresses and domains whose mail is never logged, and
    /// the domains whose mail is logged with its subject withheld. Shows
    /// the policy after the change (with no change, as it is).
    Policy(PolicyArgs),
}

/// `crm policy`'s flags: only what is given changes. Each list is cleared
/// first (when asked), then loses what is removed, then gains what is added.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// Make an unknown address at a domain that exactly one company contact
    /// owns (its e-mail's domain, or one of its domains) a person contact of
    /// that company, so its mail is logged: on or off.
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new(), hide_possible_values = true)]
    company_by_domain: Option<bool>,
    /// Never log mail from or to this address, or any address at this
    /// domain or its subdomains (hr@contoso.com, legal.contoso.com or
    /// @legal.contoso.com); repeatable.
    #[arg(long, value_name = "ADDRESS_OR_DOMAIN")]
    never_log: Vec<String>,
    /// Take an address or domain off the never-log list; repeatable.
    #[arg(long, value_name = "ADDRESS_OR_DOMAIN")]
    remove_never_log: Vec<String>,
    /// Empty the never-log list (before any --never-log is added).
    #[arg(long)]
    clear_never_log: bool,
    /// Log mail from or to an address at this domain (or its subdomains)
    /// with "(subject withheld)" for its subject; repeatable.
    #[arg(long, value_name = "DOMAIN")]
    withhold_subject: Vec<String>,
    /// Take a domain off the withheld-subject list; repeatable.
    #[arg(long, value_name = "DOMAIN")]
    remove_withhold_subject: Vec<String>,
    /// Empty the withheld-subject list (before any --withhold-subject is added).
    #[arg(long)]
    clear_withhold_subject: bool,
    /// Print JSON {"company_by_domain", "never_log", "withheld_subject_domains"}.
    #[arg(long)]
    json: bool,
}

impl PolicyArgs {
    fn change(&self) -> PolicyChange {
        PolicyChange {
            company_by_domain: self.company_by_domain,
            never_log: ListChange {
                clear: self.clear_never_log,
                remove: self.remove_never_log.clone(),
                add: self.never_log.clone(),
            },
            withheld_subject_domains: ListChange {
                clear: self.clear_withhold_subject,
                remove: self.remove_withhold_subject.clone(),
                add: self.withhold_subject.clone(),
            },
        }
    }
}

/// Runs a `crm` command.
pub(super) async fn run(erp: &Erp, company: CompanyId, command: CrmCommand) -> anyhow::Result<()> {
    match command {
        CrmCommand::Import { files, kind } => import(erp, company, &files, kind).await,
        CrmCommand::Contacts { search, json } => contacts(erp, company, search.as_deref(), json),
        CrmCommand::Policy(args) => policy(erp, company, &args),
    }
}

/// `crm policy`: changes what is given, then shows the policy.
fn policy(erp: &Erp, company: CompanyId, args: &PolicyArgs) -> anyhow::Result<()> {
    let change = args.change();
    let p = if change.is_empty() {
        erp.policy(company)?
    } else {
        erp.change_policy(company, &change)?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        print_policy(&p);
    }
    Ok(())
}

/// Prints the policy, one setting a line.
fn print_policy(p: &Policy) {
    let list = |l: &[String]| {
        if l.is_empty() {
            "(none)".to_string()
        } else {
            crate::terminal::plain(&l.join(", ")).into_owned()
        }
    };
    println!(
        "Company by domain:   {}",
        if p.company_by_domain { "on" } else { "off" }
    );
    println!("Never log:           {}", list(&p.never_log));
    println!("Subject withheld:    {}", list(&p.withheld_subject_domains));
}

/// `crm import`: a JSON seed, or CSV files imported together.
async fn import(
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
        let seed = crate::crm::parse_seed(&text)?;
        let s = erp.import_seed(company, &seed)?;
        println!(
            "Imported {} salespeople, {} contacts, {} alternative addresses{}.",
            s.salespeople,
            s.contacts,
            s.alt_addresses,
            more(s.company_domains, s.never_log)
        );
        // The records are in; a setup the component refuses says so on its own.
        if erp.apply_seed_setup(company, &seed).await? {
            println!(
                "The setup's log-sensitive is {}.",
                if seed.log_sensitive() == Some(true) {
                    "on"
                } else {
                    "off"
                }
            );
        }
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
                    "{name}: say what it holds with --type (salespeople, contacts, alt-addresses, interaction-templates, company-domains, never-log), or name it so (contacts.csv, ...)"
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
        "Imported {} salespeople, {} contacts, {} alternative addresses, {} interaction templates{}.",
        s.salespeople,
        s.contacts,
        s.alt_addresses,
        s.interaction_templates,
        more(s.company_domains, s.never_log)
    );
    Ok(())
}

/// The import line's tail for company domains and never-log entries, when
/// there were any (the line stays as it was for imports without them).
fn more(company_domains: usize, never_log: usize) -> String {
    let mut tail = String::new();
    if company_domains > 0 {
        tail.push_str(&format!(", {company_domains} company domains"));
    }
    if never_log > 0 {
        tail.push_str(&format!(", {never_log} never-log entries"));
    }
    tail
}

/// `crm contacts`: one line (or JSON object) per contact.
fn contacts(erp: &Erp, company: CompanyId, search: Option<&str>, json: bool) -> anyhow::Result<()> {
    let list = erp.contacts(company, search, usize::MAX)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        use crate::terminal::plain;
        for c in &list {
            let domains = if c.domains.is_empty() {
                String::new()
            } else {
                format!(", domains {}", plain(&c.domains.join(" ")))
            };
            println!(
                "{:<10} {:<30} {:<8} {:<30} {} entries{domains}{}",
                plain(&c.no),
                plain(&c.name),
                plain(&c.kind),
                plain(c.email.as_deref().unwrap_or("-")),
                c.entries,
                if c.created_by_email_logging() {
                    " (created by email logging)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
