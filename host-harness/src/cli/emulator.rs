//! `demo` and `emulator`: the commands that bring their own Graph emulator.

use crate::realism::Realism;
use anyhow::Context as _;
use std::path::PathBuf;

/// `demo`: the whole flow on embedded (or given) seeds, printed as tables
/// or as one JSON object.
pub(super) async fn demo(
    mailbox: Option<PathBuf>,
    crm: Option<PathBuf>,
    json: bool,
    experience: crate::setup_form::MailStoreChoice,
    realism: &Realism,
    database: &crate::store::Location,
    home: &std::path::Path,
) -> anyhow::Result<()> {
    let read = |p: Option<PathBuf>, default: &str| -> anyhow::Result<String> {
        match p {
            Some(p) => {
                std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
            }
            None => Ok(default.to_string()),
        }
    };
    let result = crate::demo::run(
        &read(mailbox, graph_emulator::SAMPLE_SEED)?,
        &read(crm, graph_emulator::SAMPLE_CRM)?,
        realism,
        experience,
        database,
        home,
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        crate::demo::print_human(&result);
    }
    Ok(())
}

/// `emulator`: the Graph emulator on its own, until Ctrl-C.
pub(super) async fn serve(
    seed: Option<PathBuf>,
    listen: std::net::SocketAddr,
    redirect_uris: &[String],
    realism: &Realism,
) -> anyhow::Result<()> {
    let text = match seed {
        Some(p) => {
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None => graph_emulator::SAMPLE_SEED.to_string(),
    };
    let seed = graph_emulator::Seed::from_json(&text).context("the mailbox seed is not valid")?;
    let config = redirect_uris
        .iter()
        .fold(graph_emulator::EmulatorConfig::default(), |c, uri| {
            c.with_redirect_uri(uri)
        });
    eprintln!("Graph emulator listening on http://{listen} (Ctrl-C stops it)");
    let emulator = graph_emulator::Emulator::new(seed, config);
    realism.apply(&emulator);
    graph_emulator::serve_with(emulator, listen)
        .await
        .with_context(|| format!("cannot serve on {listen}"))?;
    Ok(())
}
