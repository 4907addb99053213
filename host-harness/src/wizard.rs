//! `setup wizard`: the assisted setup, one step at a time, with defaults
//! and a new question after every wrong answer. The first question picks
//! the mail store; the new experience (a shared mailbox over Microsoft
//! Graph) then follows the order the seeds describe (app registration,
//! sign-in, mailbox, validate, enable), the current one (public folders over
//! Exchange Web Services) asks for the Exchange server, its sign-in and the
//! public folders before the same validation and enabling.

use crate::console::{print_checks, sign_in};
use crate::erp::{Erp, setup_failed};
use crate::runtime::{AuthMode, EwsAuth, Experience, SetupError, SetupRecord};
use crate::setup_form::{EwsSignIn, MailStoreChoice, SetupForm, SignInMode};
use crate::terminal::plain;
use anyhow::bail;
use secrecy::SecretString;
use std::io::{BufRead, Write};
use std::time::Duration;

/// The redirect URL suggested when none is set: the host receives it itself.
pub const DEFAULT_REDIRECT: &str = "http://localhost:8471/email-logging/callback";

/// The Exchange service URL suggested when none is set: Exchange Online's.
pub const DEFAULT_EWS_URL: &str = "https://outlook.office365.com/EWS/Exchange.asmx";

/// What a secret prompt offers when one is stored: Enter keeps it.
const KEEP_STORED: &str = "keep the stored one";

/// Asks one question; an empty answer takes the default.
fn ask(input: &mut dyn BufRead, question: &str, default: Option<&str>) -> anyhow::Result<String> {
    match default {
        Some(d) if !d.is_empty() => print!("{question} [{d}]: "),
        _ => print!("{question}: "),
    }
    std::io::stdout().flush()?;
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        println!();
        bail!("the setup wizard was cancelled; what was saved so far stays saved");
    }
    let answer = line.trim();
    Ok(if answer.is_empty() {
        default.unwrap_or_default().to_string()
    } else {
        answer.to_string()
    })
}

/// A change of one text field to the answer, for [`field`].
fn text(set: fn(&mut SetupForm, String)) -> impl Fn(String) -> Result<SetupForm, String> {
    move |a| {
        let mut form = SetupForm::default();
        set(&mut form, a);
        Ok(form)
    }
}

/// Asks until the component accepts the answer for one field.
async fn field(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    question: &str,
    default: Option<&str>,
    change: impl Fn(String) -> Result<SetupForm, String>,
) -> anyhow::Result<SetupRecord> {
    loop {
        let answer = ask(input, question, default)?;
        let c = match change(answer) {
            Ok(c) => c,
            Err(m) => {
                println!("  {m}");
                continue;
            }
        };
        match erp
            .runtime
            .setup_update(company, c.into_setup_change())
            .await?
        {
            Ok(s) => return Ok(s),
            Err(SetupError::InvalidFields(list)) => {
                for f in list {
                    println!("  {}", f.message);
                }
            }
            Err(e) => return Err(setup_failed(e)),
        }
    }
}

/// The terminal's echo turned off for as long as it lives (standard input,
/// when it is a terminal), restored as it was when dropped.
struct EchoOff(#[cfg(unix)] Option<libc::termios>);

impl EchoOff {
    fn now() -> Self {
        #[cfg(unix)]
        {
            // SAFETY: tcgetattr/tcsetattr only read and write the termios
            // struct given; fd 0 is ours, and a failure leaves it untouched.
            unsafe {
                let mut before: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(0, &mut before) != 0 {
                    return Self(None);
                }
                let mut quiet = before;
                quiet.c_lflag &= !libc::ECHO;
                if libc::tcsetattr(0, libc::TCSANOW, &quiet) != 0 {
                    return Self(None);
                }
                Self(Some(before))
            }
        }
        #[cfg(not(unix))]
        Self()
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(before) = &self.0 {
            // SAFETY: as in `now`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, before);
            }
        }
    }
}

/// Asks for a secret: on a terminal without echo, as a password prompt does
/// (typed or pasted, it stays out of the screen and its scrollback);
/// otherwise (a script) as one line of `input`.
fn ask_secret(
    input: &mut dyn BufRead,
    question: &str,
    default: Option<&str>,
    terminal: bool,
) -> anyhow::Result<String> {
    if !terminal {
        return ask(input, question, default);
    }
    // Echo goes off before the prompt appears: what is typed or pasted as
    // soon as it shows (a person quick on the keys, a paste) is never echoed.
    let _quiet = EchoOff::now();
    match default {
        Some(d) => print!("{question} (not shown as you type) [{d}]: "),
        None => print!("{question} (not shown as you type): "),
    }
    std::io::stdout().flush()?;
    let answer = rpassword::read_password().map_err(|e| {
        anyhow::anyhow!(
            "the secret cannot be read from the terminal: {e}; what was saved so far stays saved"
        )
    })?;
    let answer = answer.trim();
    Ok(if answer.is_empty() {
        default.unwrap_or_default().to_string()
    } else {
        answer.to_string()
    })
}

/// Runs the wizard on `input` (the terminal, or a script in tests);
/// `terminal` says that `input` is a terminal, so secrets are read without echo.
pub async fn run(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    terminal: bool,
) -> anyhow::Result<()> {
    let s = erp
        .runtime
        .setup_get(company)
        .await?
        .map_err(setup_failed)?;
    println!("Email Logging setup. Press Enter to keep the value in brackets.");
    println!();
    let s = mail_store(erp, company, input, s).await?;
    match s.experience {
        Experience::Graph => graph_steps(erp, company, input, terminal, s).await,
        Experience::Ews => ews_steps(erp, company, input, terminal, s).await,
    }
}

/// The first question: which mail store the job reads (the stored choice
/// by default, Microsoft Graph when none was made).
async fn mail_store(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    let current = MailStoreChoice::from(s.experience);
    field(
        erp,
        company,
        input,
        "Exchange Online (Microsoft Graph) or public folders / Exchange on-premises (EWS)? (graph or ews)",
        Some(&current.to_string()),
        |a| {
            // The abbreviations are the wizard's own; the names are the form's.
            let a = a.to_lowercase();
            let name = match a.as_str() {
                "g" | "microsoft graph" | "exchange online" => "graph",
                "e" | "public folders" | "exchange on-premises" | "on-premises" => "ews",
                other => other,
            };
            let choice: MailStoreChoice = name
                .parse()
                .map_err(|_| "answer graph or ews".to_string())?;
            Ok(SetupForm {
                experience: Some(choice),
                ..Default::default()
            })
        },
    )
    .await
}

/// The new experience: a shared mailbox over Microsoft Graph.
async fn graph_steps(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    terminal: bool,
    s: SetupRecord,
) -> anyhow::Result<()> {
    println!("Step 1 of 5: the app registration in Microsoft Entra ID");
    let (s, delegated) = app_registration(erp, company, input, s).await?;
    let s = client_secret(erp, company, input, terminal, s).await?;
    let s = redirect_url(erp, company, input, s).await?;

    println!();
    println!("Step 2 of 5: the shared mailbox");
    let s = mailbox(erp, company, input, s).await?;

    println!();
    println!("Step 3 of 5: sign in");
    let s = sign_in_step(erp, company, input, delegated, s).await?;

    let (s, failed) = validate_and_enable(erp, company, input, s).await?;
    summary(&s, failed)
}

/// The current experience: public folders over Exchange Web Services.
async fn ews_steps(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    terminal: bool,
    s: SetupRecord,
) -> anyhow::Result<()> {
    println!("Step 1 of 5: the Exchange server");
    let s = exchange_server(erp, company, input, s).await?;

    println!();
    println!("Step 2 of 5: signing in to Exchange");
    let s = match s.ews_auth {
        EwsAuth::Basic => ews_password(erp, company, input, terminal, s).await?,
        EwsAuth::Oauth2 => ews_oauth2(erp, company, input, terminal, s).await?,
    };

    println!();
    println!("Step 3 of 5: the public folders");
    let s = public_folders(erp, company, input, s).await?;

    let (s, failed) = validate_and_enable(erp, company, input, s).await?;
    summary(&s, failed)
}

/// Steps 4 and 5 of either mail store: the checklist, then enabling when
/// it passed; also says whether it failed.
async fn validate_and_enable(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    s: SetupRecord,
) -> anyhow::Result<(SetupRecord, bool)> {
    println!();
    println!("Step 4 of 5: validate");
    let failed = print_checks(&erp.runtime.validate(company).await?);

    println!();
    println!("Step 5 of 5: enable");
    let s = enable(erp, company, input, failed, s).await?;
    Ok((s, failed))
}

/// Step 1: the sign-in mode, the tenant and the client id; also says
/// whether the mode is delegated (the later steps ask by it).
async fn app_registration(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    mut s: SetupRecord,
) -> anyhow::Result<(SetupRecord, bool)> {
    let app = &erp.runtime.context().app;
    s = field(
        erp,
        company,
        input,
        "Sign-in mode (delegated or application)",
        Some(&SignInMode::from(s.auth_mode).to_string()),
        |a| {
            // The abbreviations are the wizard's own; the names are the form's.
            let a = a.to_lowercase();
            let name = match a.as_str() {
                "d" => "delegated",
                "a" | "app" => "application",
                other => other,
            };
            let mode: SignInMode = name
                .parse()
                .map_err(|_| "answer delegated or application".to_string())?;
            Ok(SetupForm {
                auth_mode: Some(mode),
                ..Default::default()
            })
        },
    )
    .await?;
    let delegated = s.auth_mode == AuthMode::Delegated;
    let tenant_default = if !delegated && s.tenant == "common" {
        None
    } else {
        Some(s.tenant.clone())
    };
    s = field(
        erp,
        company,
        input,
        "Tenant (directory ID or domain)",
        tenant_default.as_deref(),
        text(|f, a| f.tenant = Some(a)),
    )
    .await?;
    if app.client_id.is_some() {
        println!("Client id: supplied by the host");
    } else {
        s = field(
            erp,
            company,
            input,
            "Application (client) ID",
            s.client_id.clone().as_deref(),
            text(|f, a| f.client_id = Some(a)),
        )
        .await?;
    }
    Ok((s, delegated))
}

/// Step 1, the client secret (unless the host supplies it): read without
/// echo on a terminal, never empty, Enter keeps the stored one.
async fn client_secret(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    terminal: bool,
    s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    let app = &erp.runtime.context().app;
    if app.client_secret.is_some() {
        println!("Client secret: supplied by the host");
        return Ok(s);
    }
    let asked = Secret {
        question: "Client secret value (not its ID)",
        stored: s.client_secret_set,
        needed: "the client secret is needed: create one under Certificates & secrets and copy its Value",
    };
    let changed = secret(erp, company, input, terminal, asked, |v| SetupForm {
        client_secret: Some(v),
        ..Default::default()
    })
    .await?;
    Ok(changed.unwrap_or(s))
}

/// A secret the wizard asks for.
struct Secret<'a> {
    /// The prompt.
    question: &'a str,
    /// Whether one is stored already (then Enter keeps it).
    stored: bool,
    /// What to say when the answer is empty and none is stored.
    needed: &'a str,
}

/// Asks for a secret until the component takes it: read without echo on a
/// terminal, never printed, never empty; Enter keeps a stored one (`None`).
async fn secret(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    terminal: bool,
    asked: Secret<'_>,
    change: impl Fn(SecretString) -> SetupForm,
) -> anyhow::Result<Option<SetupRecord>> {
    let keep = asked.stored.then_some(KEEP_STORED);
    loop {
        let a = ask_secret(input, asked.question, keep, terminal)?;
        if asked.stored && a == KEEP_STORED {
            return Ok(None);
        }
        if a.is_empty() {
            println!("  {}", asked.needed);
            continue;
        }
        match erp
            .runtime
            .setup_update(company, change(a.into()).into_setup_change())
            .await?
        {
            Ok(r) => return Ok(Some(r)),
            Err(SetupError::InvalidFields(list)) => {
                list.iter().for_each(|f| println!("  {}", f.message))
            }
            Err(e) => return Err(setup_failed(e)),
        }
    }
}

/// Step 1, the redirect URL (unless the host supplies it).
async fn redirect_url(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    mut s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    let app = &erp.runtime.context().app;
    // Delegated sign-in returns there; admin consent does too, in both modes.
    if app.redirect_url.is_none() {
        let default = s
            .redirect_url
            .clone()
            .unwrap_or_else(|| DEFAULT_REDIRECT.into());
        s = field(
            erp,
            company,
            input,
            "Redirect URL (as registered for the app)",
            Some(&default),
            text(|f, a| f.redirect_url = Some(a)),
        )
        .await?;
    }

    Ok(s)
}

/// Step 2: the shared mailbox, the storage folder and the page size.
async fn mailbox(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    mut s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    s = field(
        erp,
        company,
        input,
        "Shared mailbox address",
        s.shared_mailbox.clone().as_deref(),
        |a| {
            if a.is_empty() {
                return Err("the shared mailbox address is needed".into());
            }
            Ok(SetupForm {
                shared_mailbox: Some(a),
                ..Default::default()
            })
        },
    )
    .await?;
    s = field(
        erp,
        company,
        input,
        "Storage folder for logged e-mail",
        Some(&s.storage_folder.clone()),
        text(|f, a| f.storage_folder = Some(a)),
    )
    .await?;
    batch_size(erp, company, input, s).await
}

/// Steps 2 (Graph) and 3 (EWS), the page size, then whether private mail
/// is logged.
async fn batch_size(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    let s = field(
        erp,
        company,
        input,
        "Messages per page (1-1000)",
        Some(&s.batch_size.to_string()),
        |a| {
            a.parse::<u32>()
                .map(|n| SetupForm {
                    batch_size: Some(n),
                    ..Default::default()
                })
                .map_err(|_| format!("'{a}' is not a number from 1 to 1000"))
        },
    )
    .await?;
    field(
        erp,
        company,
        input,
        "Log mail its sender marked private or confidential? (yes/no)",
        Some(if s.log_sensitive { "yes" } else { "no" }),
        |a| {
            let on = match a.trim().to_lowercase().as_str() {
                "y" | "yes" => true,
                "n" | "no" => false,
                _ => return Err(format!("answer yes or no, not '{a}'")),
            };
            Ok(SetupForm {
                log_sensitive: Some(on),
                ..Default::default()
            })
        },
    )
    .await
}

/// EWS step 1: the Exchange service URL, how the job signs in there and
/// the account it signs in as (or acts as, with OAuth2).
async fn exchange_server(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    mut s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    s = field(
        erp,
        company,
        input,
        "Exchange service URL",
        Some(s.ews_url.clone().as_deref().unwrap_or(DEFAULT_EWS_URL)),
        text(|f, a| f.ews_url = Some(a)),
    )
    .await?;
    s = field(
        erp,
        company,
        input,
        "Authentication (basic or oauth2)",
        Some(&ews_auth_default(&s).to_string()),
        |a| {
            let auth: EwsSignIn = a
                .to_lowercase()
                .parse()
                .map_err(|_| "answer basic or oauth2".to_string())?;
            Ok(SetupForm {
                ews_auth: Some(auth),
                ..Default::default()
            })
        },
    )
    .await?;
    field(
        erp,
        company,
        input,
        "Account the job signs in as (e-mail address)",
        s.ews_account.clone().as_deref(),
        |a| {
            if a.is_empty() {
                return Err("the account's e-mail address is needed".into());
            }
            Ok(SetupForm {
                ews_account: Some(a),
                ..Default::default()
            })
        },
    )
    .await
}

/// Exchange Online takes OAuth2 only; any other server, the stored choice
/// (Basic unless OAuth2 was chosen).
fn ews_auth_default(s: &SetupRecord) -> EwsSignIn {
    let online = s
        .ews_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .is_some_and(|u| u.host_str() == Some("outlook.office365.com"));
    if online {
        EwsSignIn::Oauth2
    } else {
        s.ews_auth.into()
    }
}

/// EWS step 2 with Basic authentication: the account's password, read
/// without echo on a terminal, never printed; Enter keeps the stored one.
async fn ews_password(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    terminal: bool,
    s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    let asked = Secret {
        question: "Password of the account",
        stored: s.ews_password_set,
        needed: "the account's password is needed: Basic authentication sends it with every request",
    };
    let changed = secret(erp, company, input, terminal, asked, |v| SetupForm {
        ews_password: Some(v),
        ..Default::default()
    })
    .await?;
    Ok(changed.unwrap_or(s))
}

/// EWS step 2 with OAuth2: the app registration's steps, then the
/// delegated sign-in or the admin consent address.
async fn ews_oauth2(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    terminal: bool,
    s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    println!("OAuth2 signs in with an app registration in Microsoft Entra ID.");
    let (s, delegated) = app_registration(erp, company, input, s).await?;
    let s = client_secret(erp, company, input, terminal, s).await?;
    let s = redirect_url(erp, company, input, s).await?;
    sign_in_step(erp, company, input, delegated, s).await
}

/// EWS step 3: the queue folder the mail flow rules BCC into, the storage
/// folder logged messages move to, and the page size.
async fn public_folders(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    mut s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    s = field(
        erp,
        company,
        input,
        "Queue folder (public folder path)",
        Some(&s.queue_folder.clone()),
        text(|f, a| f.queue_folder = Some(a)),
    )
    .await?;
    s = field(
        erp,
        company,
        input,
        "Storage folder for logged e-mail (public folder path)",
        Some(&s.ews_storage_folder.clone()),
        text(|f, a| f.ews_storage_folder = Some(a)),
    )
    .await?;
    batch_size(erp, company, input, s).await
}

/// Step 3: a delegated sign-in (again, if asked), or the admin consent
/// address in application mode.
async fn sign_in_step(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    delegated: bool,
    mut s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    if delegated {
        let again = s.consent_given && {
            let a = ask(
                input,
                &format!("Signed in{}. Sign in again? (yes/no)", account(&s)),
                Some("no"),
            )?;
            a.to_lowercase().starts_with('y')
        };
        if !s.consent_given || again {
            let hint = ask(
                input,
                "Job account to sign in with (optional)",
                s.signed_in_account.clone().as_deref(),
            )?;
            let hint = (!hint.is_empty()).then_some(hint);
            s = sign_in(
                erp,
                company,
                hint.as_deref(),
                None,
                Duration::from_secs(600),
                input,
            )
            .await?;
            println!("Signed in{}.", account(&s));
        }
    } else {
        println!(
            "Application mode needs no sign-in; a tenant administrator must grant admin consent once:"
        );
        match erp.runtime.admin_consent_url(company).await? {
            Ok(url) => println!("{url}"),
            Err(e) => println!("  (no admin consent address yet: {:#})", setup_failed(e)),
        }
    }

    Ok(s)
}

/// Step 5: enables email logging when the checks passed and the user agrees.
async fn enable(
    erp: &Erp,
    company: i64,
    input: &mut dyn BufRead,
    failed: bool,
    mut s: SetupRecord,
) -> anyhow::Result<SetupRecord> {
    if failed {
        println!(
            "Email logging cannot be enabled until the failing checks above are fixed; run the wizard again then."
        );
    } else {
        let a = ask(input, "Enable email logging now? (yes/no)", Some("yes"))?;
        if a.to_lowercase().starts_with('y') {
            s = erp.runtime.enable(company).await?.map_err(setup_failed)?;
        }
    }

    Ok(s)
}

/// What was set up (never a secret); an error when the checks failed.
fn summary(s: &SetupRecord, failed: bool) -> anyhow::Result<()> {
    println!();
    println!("Summary");
    match s.experience {
        Experience::Graph => graph_summary(s),
        Experience::Ews => ews_summary(s),
    }
    println!(
        "  Enabled:         {}",
        if s.enabled {
            "yes, the job runs every 10 minutes"
        } else {
            "no"
        }
    );
    if failed {
        bail!("the setup is saved but not valid yet");
    }
    Ok(())
}

fn graph_summary(s: &SetupRecord) {
    println!(
        "  Shared mailbox:  {}",
        s.shared_mailbox.clone().unwrap_or_default()
    );
    println!(
        "  Sign-in:         {}{}",
        SignInMode::from(s.auth_mode),
        account(s)
    );
    println!("  Storage folder:  {}", s.storage_folder);
}

fn ews_summary(s: &SetupRecord) {
    let show = |v: &Option<String>| plain(v.as_deref().unwrap_or_default()).into_owned();
    println!("  Mail store:      public folders over Exchange Web Services");
    println!("  Exchange URL:    {}", show(&s.ews_url));
    println!("  Account:         {}", show(&s.ews_account));
    let sign_in = match s.ews_auth {
        EwsAuth::Basic if s.ews_password_set => "basic, the password stored encrypted".to_string(),
        EwsAuth::Basic => "basic, no password stored".to_string(),
        EwsAuth::Oauth2 => format!("oauth2, {}{}", SignInMode::from(s.auth_mode), account(s)),
    };
    println!("  Sign-in:         {sign_in}");
    println!("  Queue folder:    {}", plain(&s.queue_folder));
    println!("  Storage folder:  {}", plain(&s.ews_storage_folder));
}

fn account(s: &SetupRecord) -> String {
    s.signed_in_account
        .as_ref()
        .map(|a| format!(" as {a}"))
        .unwrap_or_default()
}
