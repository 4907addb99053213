//! Pacing of Graph requests per mailbox, so a drain stays under Outlook's
//! throttling limits instead of bouncing off 429s.
//!
//! Outlook allows 10,000 requests per 10 minutes and 4 concurrent requests
//! per (app, mailbox) (research/graph-api.md §3.1). A throttled request still
//! counts against the window, and a 429 at the window limit carries a
//! `Retry-After` of minutes, so bouncing off the limit costs far more than
//! waiting just long enough. Concurrency needs no bookkeeping here: this
//! client sends one request at a time, and Graph runs the inner requests of
//! one `$batch` at most 4 at once.
//!
//! The window is paced with a sliding log of this run's own requests: a
//! request (or a `$batch` of `n` inner requests, each counted by Graph) is
//! sent only when the requests of the last window plus `n` fit the budget.
//! Each request is logged at the time its answer arrived, which is never
//! earlier than the time Graph counted it, so the log can only over-count.

use crate::host::Host;
use serde::Deserialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The plugin-state key of an optional override of Graph's limits (JSON
/// [`GraphLimits`]); for tenants whose limits differ from the documented
/// ones, and for tests that compress the window.
pub const LIMITS_KEY: &str = "graph-limits";

/// Outlook's throttling limits as this client paces against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GraphLimits {
    /// Requests allowed per window per (app, mailbox) (Outlook: 10,000).
    pub max_requests: u32,
    /// The window in milliseconds (Outlook: 10 minutes).
    pub window_ms: u64,
    /// Whether to pace at all (off only to measure what pacing saves).
    pub pacing: bool,
}

impl Default for GraphLimits {
    fn default() -> Self {
        Self {
            max_requests: 10_000,
            window_ms: 600_000,
            pacing: true,
        }
    }
}

impl GraphLimits {
    /// The stored override, or the documented limits when there is none or
    /// it cannot be read (an unreadable override must not stop the job).
    pub fn load(host: &dyn Host) -> Self {
        match host.storage_get(LIMITS_KEY) {
            Ok(Some((text, _))) => match serde_json::from_str::<GraphLimits>(&text) {
                Ok(l) if l.max_requests > 0 && l.window_ms > 0 => l,
                _ => {
                    host.log(
                        crate::host::Level::Warn,
                        "the stored Graph limits are unreadable; using the documented ones",
                        &[("key", LIMITS_KEY)],
                    );
                    Self::default()
                }
            },
            _ => Self::default(),
        }
    }

    /// The budget paced against: 2% below the limit, to leave room for
    /// requests this run does not see (validation, another client).
    fn budget(&self) -> usize {
        ((u64::from(self.max_requests) * 98 / 100).max(1)) as usize
    }
}

/// The sliding log of one run's requests to one mailbox.
#[derive(Debug, Clone, Default)]
pub struct Pacer {
    limits: GraphLimits,
    sent: VecDeque<Instant>,
}

impl Pacer {
    /// A pacer for these limits.
    pub fn new(limits: GraphLimits) -> Self {
        Self {
            limits,
            sent: VecDeque::new(),
        }
    }

    /// How long to wait at `now` before sending `n` requests.
    pub fn delay(&mut self, n: usize, now: Instant) -> Duration {
        if !self.limits.pacing {
            return Duration::ZERO;
        }
        let window = Duration::from_millis(self.limits.window_ms);
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.sent.pop_front();
        }
        let budget = self.limits.budget();
        // A batch larger than the whole budget waits for an empty window.
        let n = n.min(budget);
        let over = (self.sent.len() + n).saturating_sub(budget);
        if over == 0 {
            return Duration::ZERO;
        }
        // The `over`-th oldest request must leave the window first.
        self.sent
            .get(over - 1)
            .map(|t| (*t + window).saturating_duration_since(now))
            .unwrap_or(Duration::ZERO)
    }

    /// Logs `n` requests whose answers arrived at `at`.
    pub fn record(&mut self, n: usize, at: Instant) {
        if self.limits.pacing {
            self.sent.extend(std::iter::repeat_n(at, n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_requests: u32, window_ms: u64) -> GraphLimits {
        GraphLimits {
            max_requests,
            window_ms,
            pacing: true,
        }
    }

    #[test]
    fn sends_freely_within_the_budget() {
        let mut p = Pacer::new(limits(100, 1000));
        let t0 = Instant::now();
        // The budget is 98: 4 batches of 20 and 18 single requests fit.
        for _ in 0..4 {
            assert_eq!(p.delay(20, t0), Duration::ZERO);
            p.record(20, t0);
        }
        for _ in 0..18 {
            assert_eq!(p.delay(1, t0), Duration::ZERO);
            p.record(1, t0);
        }
        // The 99th request waits until the first ones leave the window.
        assert_eq!(p.delay(1, t0), Duration::from_millis(1000));
        let later = t0 + Duration::from_millis(400);
        assert_eq!(p.delay(1, later), Duration::from_millis(600));
    }

    #[test]
    fn a_batch_waits_for_as_many_slots_as_it_has_requests() {
        let mut p = Pacer::new(limits(50, 1000)); // budget 49
        let t0 = Instant::now();
        p.record(20, t0);
        p.record(20, t0 + Duration::from_millis(300));
        // 40 sent; 20 more need 11 of the oldest to leave: the first batch's.
        let now = t0 + Duration::from_millis(500);
        assert_eq!(p.delay(20, now), Duration::from_millis(500));
        // Once they left, the batch goes at once.
        assert_eq!(
            p.delay(20, t0 + Duration::from_millis(1000)),
            Duration::ZERO
        );
    }

    #[test]
    fn never_more_than_the_budget_in_any_window() {
        let mut p = Pacer::new(limits(30, 1000)); // budget 29
        let mut now = Instant::now();
        let start = now;
        let mut log = Vec::new();
        for i in 0..300 {
            let n = if i % 3 == 0 { 20 } else { 1 };
            now += p.delay(n, now);
            p.record(n, now);
            log.extend(std::iter::repeat_n(now, n));
            now += Duration::from_millis(7);
        }
        for (i, t) in log.iter().enumerate() {
            let in_window = log[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < Duration::from_millis(1000))
                .count();
            assert!(in_window <= 29, "{in_window} requests in one window");
        }
        assert!(now > start);
    }

    #[test]
    fn off_means_no_waits() {
        let mut p = Pacer::new(GraphLimits {
            pacing: false,
            ..limits(1, 1000)
        });
        let t0 = Instant::now();
        p.record(100, t0);
        assert_eq!(p.delay(20, t0), Duration::ZERO);
    }
}
