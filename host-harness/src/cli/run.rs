//! `run` and `serve`: the Email Logging job, once now or on the job queue.

use super::PartlyDone;
use crate::erp::{Erp, JobOutcome};
use crate::store::CompanyId;
use anyhow::{Context as _, bail};
use std::sync::Arc;
use std::time::Duration;

/// `serve`: the job queue until Ctrl-C, and the web page when asked for.
pub(super) async fn serve(
    erp: Arc<Erp>,
    poll_seconds: u64,
    listen: Option<std::net::SocketAddr>,
    callback_path: &str,
) -> anyhow::Result<()> {
    if let Some(addr) = listen {
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "the web page is served on this machine only: listen on 127.0.0.1 or [::1], not {}",
            addr.ip()
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let token = crate::web::new_token();
        let app = crate::web::router(erp.clone(), callback_path, &token);
        eprintln!("Web page on http://{addr}/?token={token}");
        eprintln!("(the token protects it; open that address once per browser)");
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    eprintln!("Running the job queue (Ctrl-C stops it)");
    erp.serve(Duration::from_secs(poll_seconds.max(1)), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// `run`: one run now; a partly done run is an error of its own kind
/// ([`PartlyDone`]) so that the exit code tells it apart.
pub(super) async fn once(
    erp: &Erp,
    company: CompanyId,
    budget_seconds: u64,
    json: bool,
) -> anyhow::Result<()> {
    match run_with_progress(erp, company, Duration::from_secs(budget_seconds)).await? {
        JobOutcome::Report(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&crate::host::names::run_report_json(&r))?
                );
            } else {
                println!(
                    "{} messages seen, {} logged, {} entries created, {} quarantined, {} deferred",
                    r.messages_seen,
                    r.messages_logged,
                    r.entries_created,
                    r.messages_quarantined,
                    r.messages_deferred
                );
            }
            match crate::erp::partly_done(&r) {
                Some(text) => Err(PartlyDone(text).into()),
                None => Ok(()),
            }
        }
        JobOutcome::Error(e) => bail!("the run did not complete: {}", crate::erp::describe(&e)),
        JobOutcome::Fault(e) => bail!("the run did not complete: {e}"),
    }
}

/// One job run, with its progress on the terminal while it goes on.
async fn run_with_progress(
    erp: &Erp,
    company: CompanyId,
    budget: Duration,
) -> anyhow::Result<JobOutcome> {
    let progress = crate::progress::RunProgress::new();
    erp.show_progress(Some(progress.sink()));
    let outcome = erp.run_job(company, budget).await;
    erp.show_progress(None);
    progress.finish();
    outcome
}
