//! Conversations on the terminal that the CLI and the setup wizard share:
//! the validation checklist and a delegated sign-in.

use crate::erp::Erp;
use crate::runtime::{CheckStatus, SetupRecord};
use anyhow::Context as _;
use std::time::Duration;

/// Prints the checklist; returns whether any check failed.
pub fn print_checks(checks: &[crate::runtime::Check]) -> bool {
    let mut failed = false;
    for c in checks {
        let mark = match c.status {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => {
                failed = true;
                "FAIL"
            }
        };
        println!("[{mark}] {}: {}", c.name, c.detail);
        if !c.hint.is_empty() {
            println!("       -> {}", c.hint);
        }
    }
    failed
}

/// A delegated sign-in from the terminal: prints the authorize address,
/// then takes the redirect on this machine's redirect URL, or from
/// `redirected_url`, or as a line typed by the user.
pub async fn sign_in(
    erp: &Erp,
    company: i64,
    account: Option<&str>,
    redirected_url: Option<&str>,
    timeout: Duration,
    input: &mut dyn std::io::BufRead,
) -> anyhow::Result<SetupRecord> {
    use std::io::Write as _;
    let rt = &erp.runtime;
    let query_of = |u: &str| -> anyhow::Result<String> {
        Ok(url::Url::parse(u.trim())
            .context("that is not the address of the redirect")?
            .query()
            .unwrap_or_default()
            .to_string())
    };
    // The address the browser ended on belongs to the sign-in started
    // before (its state is stored): starting a new one would replace that.
    if let Some(u) = redirected_url {
        return rt
            .complete_sign_in(company, &query_of(u)?)
            .await?
            .map_err(crate::erp::setup_failed);
    }
    let url = rt
        .begin_sign_in(company, account)
        .await?
        .map_err(crate::erp::setup_failed)?;
    let redirect = url::Url::parse(&url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "redirect_uri")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|r| url::Url::parse(&r).ok());
    let query = match redirect {
        Some(r) if crate::web::is_local(&r) => {
            println!("Open this address in a browser and sign in with the job account:");
            println!("{url}");
            println!("Waiting for the sign-in on {r} ...");
            std::io::stdout().flush()?;
            crate::web::wait_for_redirect(&r, timeout).await?
        }
        _ => {
            println!("Open this address in a browser and sign in with the job account:");
            println!("{url}");
            println!("Then paste the address the browser ended on:");
            std::io::stdout().flush()?;
            let mut line = String::new();
            anyhow::ensure!(input.read_line(&mut line)? > 0, "the sign-in was cancelled");
            query_of(&line)?
        }
    };
    rt.complete_sign_in(company, &query)
        .await?
        .map_err(crate::erp::setup_failed)
}
