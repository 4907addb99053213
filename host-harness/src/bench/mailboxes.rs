//! Many mailboxes in one host: each company drains its own mailbox
//! concurrently (one job run each, as `serve` runs due jobs), with the
//! drain's latency and Outlook's throttling per mailbox; aggregate msg/s.

use super::{Results, Sizes, World, drain_company, progress};
use graph_emulator::{Latency, Throttling};
use std::sync::Arc;
use std::time::Instant;

pub(super) async fn measure(s: &Sizes, latency: Latency, r: &mut Results) -> anyhow::Result<()> {
    let mut figures = [0.0; 3];
    for (slot, &count) in s.mailbox_counts.iter().enumerate() {
        progress(&format!(
            "  {count} mailboxes of {} messages",
            s.messages_per_mailbox
        ));
        let world = Arc::new(World::new(count, s.messages_per_mailbox, 50).await?);
        world.emulator.set_throttling(Some(Throttling::default()));
        world.emulator.set_latency(latency);
        let started = Instant::now();
        let mut runs = tokio::task::JoinSet::new();
        for (company, mailbox) in world.companies.clone() {
            let world = world.clone();
            runs.spawn(async move {
                drain_company(&world.erp, &world.emulator, company, &mailbox).await
            });
        }
        while let Some(done) = runs.join_next().await {
            done??;
        }
        let took = started.elapsed();
        figures[slot] = (count * s.messages_per_mailbox) as f64 / took.as_secs_f64();
    }
    r.mailbox_counts = s.mailbox_counts.map(|n| n as u64);
    [
        r.mailboxes_1_msgs_per_s,
        r.mailboxes_10_msgs_per_s,
        r.mailboxes_100_msgs_per_s,
    ] = figures;
    Ok(())
}
