//! Drain throughput of one mailbox against the emulator's latency and
//! throttling model, next to the sequential strategy (Business Central's: a
//! page of 50, then one move request at a time) measured in the same run;
//! and what pacing saves against a compressed throttling window.

use super::{Results, Sizes, World, progress};
use anyhow::Context as _;
use graph_emulator::{Latency, Throttling};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Messages per page, the setup's default and Business Central's.
const PAGE: u32 = 50;

/// The drain figures.
pub(super) async fn measure(s: &Sizes, latency: Latency, r: &mut Results) -> anyhow::Result<()> {
    let world = World::new(1, s.drain_messages, PAGE).await?;
    let (company, mailbox) = world.companies[0].clone();
    let throttling = Throttling::default();
    world.emulator.set_throttling(Some(throttling.clone()));
    world.emulator.set_latency(latency);
    let before = world.throttled();
    let took = world.drain(company, &mailbox).await?;
    r.drain_429 = world.throttled() - before;
    r.drain_messages = s.drain_messages as u64;
    r.drain_msgs_per_s = s.drain_messages as f64 / took.as_secs_f64();
    r.drain_ceiling_msgs_per_s = ceiling(&throttling, latency, PAGE);
    r.drain_ratio_to_ceiling = r.drain_msgs_per_s / r.drain_ceiling_msgs_per_s;

    // The sequential strategy, on its own mailbox (its own throttling key)
    // of the same emulator, so both see the same latency and limits.
    progress("the sequential strategy, same conditions");
    let sequential = "sequential@cronus.example";
    world.emulator.add_mailbox(sequential);
    for i in 0..s.sequential_messages {
        world
            .emulator
            .add_message(sequential, "inbox", super::message(sequential, i))
            .map_err(|e| anyhow::anyhow!("cannot add a message: {e}"))?;
    }
    let took = sequential_drain(&world.base, sequential).await?;
    anyhow::ensure!(
        world.emulator.folder_counts(sequential).get("inbox") == Some(&0),
        "the sequential strategy left messages in the Inbox"
    );
    r.drain_sequential_msgs_per_s = s.sequential_messages as f64 / took.as_secs_f64();
    r.drain_speedup_vs_sequential = r.drain_msgs_per_s / r.drain_sequential_msgs_per_s;
    Ok(())
}

/// The most messages per second one mailbox allows: each message costs one
/// move plus its share of a page read; at most `max_concurrent` requests
/// are in flight, each holding its slot for its latency, and at most
/// `max_requests` are sent per window. The lower of the two bounds.
pub(super) fn ceiling(t: &Throttling, latency: Latency, page: u32) -> f64 {
    let page = f64::from(page);
    let requests_per_msg = 1.0 + 1.0 / page;
    let by_rate = f64::from(t.max_requests) / t.window.as_secs_f64() / requests_per_msg;
    let slot_secs = latency.move_.as_secs_f64() + latency.list.as_secs_f64() / page;
    if slot_secs <= 0.0 {
        return by_rate;
    }
    by_rate.min(t.max_concurrent as f64 / slot_secs)
}

/// Business Central's way, as a plain Graph client: read a page of 50
/// (oldest first, the same `$select`), move its messages one request at a
/// time, read the next page; waits out 429s. Returns the time it took.
async fn sequential_drain(base: &url::Url, mailbox: &str) -> anyhow::Result<Duration> {
    let client = reqwest::Client::new();
    let token: Value = client
        .post(base.join(&format!(
            "{}/oauth2/v2.0/token",
            graph_emulator::DEMO_TENANT_ID
        ))?)
        .form(&[
            ("client_id", graph_emulator::DEMO_CLIENT_ID),
            ("client_secret", graph_emulator::DEMO_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await?
        .error_for_status()
        .context("the emulator refused a client-credentials token")?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .context("no access token")?
        .to_string();
    let enc = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let users = format!("v1.0/users/{}", enc(mailbox));
    let list = base.join(&format!(
        "{users}/mailFolders/inbox/messages?$select=id,internetMessageId,subject,sender,from,toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime,isDraft,webLink&$top={PAGE}&$orderby=receivedDateTime%20asc"
    ))?;
    let send = |req: reqwest::RequestBuilder| {
        req.bearer_auth(&token)
            .header("prefer", "IdType=\"ImmutableId\"")
    };
    let started = Instant::now();
    loop {
        let page: Value = with_retry(|| send(client.get(list.clone()))).await?;
        let ids: Vec<String> = page["value"]
            .as_array()
            .context("a page without 'value'")?
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect();
        if ids.is_empty() {
            return Ok(started.elapsed());
        }
        for id in ids {
            let url = base.join(&format!("{users}/messages/{}/move", enc(&id)))?;
            with_retry(|| {
                send(client.post(url.clone()))
                    .json(&serde_json::json!({"destinationId": "archive"}))
            })
            .await?;
        }
    }
}

/// Sends a request, waiting out 429s as Graph asks.
async fn with_retry(make: impl Fn() -> reqwest::RequestBuilder) -> anyhow::Result<Value> {
    for _ in 0..20 {
        let resp = make().send().await?;
        if resp.status().as_u16() == 429 {
            let wait = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(1.0);
            tokio::time::sleep(Duration::from_secs_f64(wait.clamp(0.0, 60.0))).await;
            continue;
        }
        return Ok(resp.error_for_status()?.json().await?);
    }
    anyhow::bail!("throttled 20 times in a row")
}

/// A drain against a compressed throttling window.
#[derive(Debug, Clone)]
pub struct PacingRun {
    /// 429 answers the emulator gave during the drain.
    pub throttled: u64,
    /// Messages per second.
    pub msgs_per_s: f64,
    /// Messages logged (one `logged_message` row each) and expected.
    pub logged: u64,
    /// Messages that should be logged.
    pub expected_logged: u64,
    /// Interaction log entries written and expected.
    pub entries: u64,
    /// Entries that should exist.
    pub expected_entries: u64,
    /// Messages left in the Inbox.
    pub left_in_inbox: usize,
}

/// The compressed window: 40 requests per second per (app, mailbox), so a
/// drain of a hundred messages crosses it several times in seconds.
pub const PACING_MAX_REQUESTS: u32 = 40;
/// See [`PACING_MAX_REQUESTS`].
pub const PACING_WINDOW: Duration = Duration::from_secs(1);

/// Drains `messages` generated messages against a window of
/// [`PACING_MAX_REQUESTS`] per [`PACING_WINDOW`], with the component's
/// pacing on or off (told the same limits through its storage), and checks
/// what was logged.
pub async fn pacing_run(messages: usize, pacing: bool) -> anyhow::Result<PacingRun> {
    let world = World::new(1, messages, PAGE).await?;
    let (company, mailbox) = world.companies[0].clone();
    world.set_pacing(company, PACING_MAX_REQUESTS, PACING_WINDOW, pacing)?;
    world.emulator.set_throttling(Some(Throttling {
        max_concurrent: 4,
        max_requests: PACING_MAX_REQUESTS,
        window: PACING_WINDOW,
        retry_after: Duration::from_millis(500),
    }));
    let before = world.throttled();
    let took = world.drain(company, &mailbox).await?;
    let throttled = world.throttled() - before;
    // Generated mail: kinds 0-4 inbound to one salesperson (one entry),
    // 5-7 outbound to two contacts (two entries), 8-9 not loggable.
    let kinds = (0..messages).map(|i| i % 10);
    Ok(PacingRun {
        throttled,
        msgs_per_s: messages as f64 / took.as_secs_f64(),
        logged: crate::store::entries::logged_count(&world.erp.db, company)? as u64,
        expected_logged: kinds.clone().filter(|k| *k <= 7).count() as u64,
        entries: crate::store::entries::count_for_company(&world.erp.db, company)? as u64,
        expected_entries: kinds
            .map(|k| match k {
                0..=4 => 1,
                5..=7 => 2,
                _ => 0,
            })
            .sum(),
        left_in_inbox: world
            .emulator
            .folder_counts(&mailbox)
            .get("inbox")
            .copied()
            .unwrap_or(0),
    })
}

/// 429s and throughput with and without pacing.
pub(super) async fn measure_pacing(s: &Sizes, r: &mut Results) -> anyhow::Result<()> {
    let n = if s.quick { 120 } else { 400 };
    let with = pacing_run(n, true).await?;
    let without = pacing_run(n, false).await?;
    for run in [&with, &without] {
        anyhow::ensure!(
            run.logged == run.expected_logged && run.entries == run.expected_entries,
            "the pacing drain logged {} messages with {} entries; expected {} and {}",
            run.logged,
            run.entries,
            run.expected_logged,
            run.expected_entries
        );
    }
    r.pacing_429_with = with.throttled;
    r.pacing_429_without = without.throttled;
    r.pacing_msgs_per_s_with = with.msgs_per_s;
    r.pacing_msgs_per_s_without = without.msgs_per_s;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_is_the_lower_bound() {
        let t = Throttling::default();
        // 250 ms moves, 150 ms lists: 4 slots / 0.253 s = 15.8 msg/s, below
        // the rate bound of 16.67 req/s / 1.02 = 16.3 msg/s.
        let l = Latency::parse("list=150ms,move=250ms").unwrap();
        let c = ceiling(&t, l, 50);
        assert!((c - 4.0 / 0.253).abs() < 1e-9, "{c}");
        // Without latency only the window bounds it.
        let c = ceiling(&t, Latency::default(), 50);
        assert!((c - 10_000.0 / 600.0 / 1.02).abs() < 1e-9, "{c}");
    }
}
