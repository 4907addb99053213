//! Many mailboxes in one host: each company drains its own mailbox
//! concurrently (one job run each, as `serve` runs due jobs), with the
//! drain's latency and Outlook's throttling per mailbox; aggregate msg/s.
//! The largest count runs again at zero latency, where only CPU bounds it.

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
        figures[slot] = aggregate(count, s.messages_per_mailbox, latency).await?;
    }
    r.mailbox_counts = s.mailbox_counts.map(|n| n as u64);
    [
        r.mailboxes_1_msgs_per_s,
        r.mailboxes_10_msgs_per_s,
        r.mailboxes_100_msgs_per_s,
    ] = figures;
    // What the most mailboxes could reach if each drained at its ceiling.
    let ceiling = super::drain::ceiling(&Throttling::default(), latency, 50);
    r.mailboxes_100_ratio_to_ceiling =
        r.mailboxes_100_msgs_per_s / (ceiling * s.mailbox_counts[2] as f64);
    let most = s.mailbox_counts[2];
    progress(&format!("  {most} mailboxes at zero latency"));
    r.mailboxes_100_zero_latency_msgs_per_s =
        aggregate(most, s.messages_per_mailbox, Latency::default()).await?;
    Ok(())
}

/// Messages per second of `count` companies draining their own mailbox of
/// `messages` at once.
async fn aggregate(count: usize, messages: usize, latency: Latency) -> anyhow::Result<f64> {
    let world = Arc::new(World::new(count, messages, 50).await?);
    world.emulator.set_throttling(Some(Throttling::default()));
    world.emulator.set_latency(latency);
    let started = Instant::now();
    let mut runs = tokio::task::JoinSet::new();
    for (company, mailbox) in world.companies.clone() {
        let world = world.clone();
        runs.spawn(
            async move { drain_company(&world.erp, &world.emulator, company, &mailbox).await },
        );
    }
    while let Some(done) = runs.join_next().await {
        done??;
    }
    Ok((count * messages) as f64 / started.elapsed().as_secs_f64())
}
