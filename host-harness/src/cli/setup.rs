//! `setup`: show and change the Email Logging setup, sign in, validate,
//! enable and disable.

use crate::console::{print_checks, sign_in};
use crate::erp::{Erp, setup_failed};
use crate::host::bindings::erp::plugin::types::{EwsAuth, Experience};
use crate::runtime::{AuthMode, NotLoggedPolicy, SetupChange, SetupRecord};
use crate::setup_form::SetupForm;
use crate::store::CompanyId;
use anyhow::{Context as _, bail};
use clap::Subcommand;
use secrecy::SecretString;
use std::time::Duration;

/// Setup commands.
#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Show the setup (never the secret).
    Show,
    /// Change setup fields; only the fields given change.
    Set(Box<SetupForm>),
    /// Sign in with the job account (delegated mode): prints the address to
    /// open, then receives the redirect on the redirect URL when it points at
    /// this machine (else asks for the address the browser ended on).
    SignIn {
        /// Pre-select this account (to change the job account).
        #[arg(long)]
        account: Option<String>,
        /// The address the browser was redirected to, when already known.
        #[arg(long)]
        redirected_url: Option<String>,
        /// How long to wait for the redirect.
        #[arg(long, default_value_t = 600)]
        timeout_seconds: u64,
    },
    /// Print the address a tenant administrator opens to grant admin consent.
    AdminConsent,
    /// Obtain new tokens now, to check the sign-in still works.
    RenewToken,
    /// Remove and create the recurring job again.
    RecreateJob,
    /// Walk through the whole setup step by step.
    Wizard,
    /// Run the validation checklist.
    Validate,
    /// Validate, then create the recurring job.
    Enable,
    /// Remove the recurring job.
    Disable,
    /// Remove the setup, its job and every stored secret.
    Clear,
}

/// Runs a `setup` command.
pub(super) async fn run(
    erp: &Erp,
    company: CompanyId,
    command: SetupCommand,
) -> anyhow::Result<()> {
    let rt = &erp.runtime;
    match command {
        SetupCommand::Show => {
            print_setup(&rt.setup_get(company).await?.map_err(setup_failed)?);
        }
        SetupCommand::Set(args) => {
            let change = change_from_args(*args)?;
            print_setup(
                &rt.setup_update(company, change)
                    .await?
                    .map_err(setup_failed)?,
            );
        }
        SetupCommand::SignIn {
            account,
            redirected_url,
            timeout_seconds,
        } => {
            let stdin = std::io::stdin();
            let s = sign_in(
                erp,
                company,
                account.as_deref(),
                redirected_url.as_deref(),
                Duration::from_secs(timeout_seconds),
                &mut stdin.lock(),
            )
            .await?;
            println!(
                "Signed in{}.",
                s.signed_in_account
                    .map(|a| format!(" as {a}"))
                    .unwrap_or_default()
            );
        }
        SetupCommand::AdminConsent => {
            let url = rt.admin_consent_url(company).await?.map_err(setup_failed)?;
            println!(
                "A tenant administrator opens this address to grant consent for the whole organisation:"
            );
            println!("{url}");
        }
        SetupCommand::RenewToken => {
            rt.renew_token(company).await?.map_err(setup_failed)?;
            println!("New tokens were obtained; the sign-in works.");
        }
        SetupCommand::RecreateJob => {
            rt.recreate_job(company).await?.map_err(setup_failed)?;
            println!(
                "The job was created again; it runs every 10 minutes, the first time in a minute."
            );
        }
        SetupCommand::Wizard => {
            use std::io::IsTerminal as _;
            let stdin = std::io::stdin();
            let terminal = stdin.is_terminal();
            crate::wizard::run(erp, company, &mut stdin.lock(), terminal).await?;
        }
        SetupCommand::Validate => {
            if print_checks(&rt.validate(company).await?) {
                bail!("the setup is not valid yet");
            }
        }
        SetupCommand::Enable => {
            rt.enable(company).await?.map_err(setup_failed)?;
            println!(
                "Email logging is enabled; the job runs every 10 minutes, the first time in a minute."
            );
        }
        SetupCommand::Disable => {
            rt.disable(company).await?.map_err(setup_failed)?;
            println!("Email logging is disabled; the job was removed.");
        }
        SetupCommand::Clear => {
            rt.clear(company).await?.map_err(setup_failed)?;
            println!("The setup, its job and its secrets were removed.");
        }
    }
    Ok(())
}

/// `setup set`'s flags as a change; the client secret and the EWS password
/// come from standard input, never from the command line.
fn change_from_args(mut form: SetupForm) -> anyhow::Result<SetupChange> {
    if form.client_secret_stdin {
        form.client_secret = Some(secret_from_stdin(
            "client-secret",
            "pipe the secret's Value in, or remove the stored one with --clear-client-secret",
        )?);
    }
    if form.ews_password_stdin {
        form.ews_password = Some(secret_from_stdin(
            "ews-password",
            "pipe the password in, or remove the stored one with --clear-ews-password",
        )?);
    }
    Ok(form.into_setup_change())
}

/// One line of standard input, trimmed. An empty line is a slip (an empty
/// pipe, Enter pressed too soon), never a wish to lose the stored secret.
fn secret_from_stdin(field: &str, what_to_do: &str) -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {field}"))?;
    let secret = line.trim();
    anyhow::ensure!(
        !secret.is_empty(),
        "{field}: standard input held no secret, so nothing was changed; {what_to_do}"
    );
    Ok(secret.into())
}

/// Prints the setup record, one field a line (never the secret).
fn print_setup(s: &SetupRecord) {
    let show = |v: &Option<String>| {
        v.as_deref().map_or_else(
            || "(not set)".into(),
            |v| crate::terminal::plain(v).into_owned(),
        )
    };
    println!(
        "Mail store:          {}",
        match s.experience {
            Experience::Graph => "graph (a shared mailbox over Microsoft Graph)",
            Experience::Ews => "ews (public folders over Exchange Web Services)",
        }
    );
    if s.experience == Experience::Ews {
        println!("EWS URL:             {}", show(&s.ews_url));
        println!(
            "EWS sign-in:         {}",
            match s.ews_auth {
                EwsAuth::Basic => "basic (user name and password)",
                EwsAuth::Oauth2 => "oauth2 (the app registration)",
            }
        );
        println!("EWS account:         {}", show(&s.ews_account));
        println!(
            "EWS password:        {}",
            if s.ews_password_set {
                "(stored, encrypted)"
            } else {
                "(not set)"
            }
        );
        println!(
            "Queue folder:        {}",
            crate::terminal::plain(&s.queue_folder)
        );
        println!(
            "EWS storage folder:  {}",
            crate::terminal::plain(&s.ews_storage_folder)
        );
    }
    println!("Shared mailbox:      {}", show(&s.shared_mailbox));
    println!("Tenant:              {}", s.tenant);
    println!(
        "Auth mode:           {}",
        match s.auth_mode {
            AuthMode::Delegated => "delegated (the job account signs in)",
            AuthMode::Application => "application (client credentials)",
        }
    );
    println!("Client id:           {}", show(&s.client_id));
    println!(
        "Client secret:       {}",
        if s.client_secret_set {
            "(stored, encrypted)"
        } else {
            "(not set)"
        }
    );
    println!("Redirect URL:        {}", show(&s.redirect_url));
    println!("Batch size:          {}", s.batch_size);
    println!(
        "Storage folder:      {}{}",
        s.storage_folder,
        if s.monthly_subfolders {
            " (one subfolder per month)"
        } else {
            ""
        }
    );
    println!(
        "Folder item limit:   {} (warn from {}%)",
        s.folder_item_limit, s.folder_warning_percent
    );
    println!(
        "Not logged:          {}",
        match s.not_logged_policy {
            NotLoggedPolicy::MoveToFolder => format!("moved to '{}'", s.not_logged_folder),
            NotLoggedPolicy::Delete => "deleted".to_string(),
            NotLoggedPolicy::Leave => "left in the Inbox".to_string(),
        }
    );
    println!("Quarantine folder:   {}", s.quarantine_folder);
    println!(
        "Sensitive mail:      {}",
        if s.log_sensitive {
            "logged (private and confidential mail too)"
        } else {
            "not logged (private and confidential mail)"
        }
    );
    println!("Enabled:             {}", s.enabled);
    println!("Consent given:       {}", s.consent_given);
    println!("Signed-in account:   {}", show(&s.signed_in_account));
    println!("Status:              {}", s.status);
}
