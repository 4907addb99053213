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
//! The window is paced with a sliding log of the job's own requests: a
//! request (or a `$batch` of `n` inner requests, each counted by Graph) is
//! sent only when the requests of the last window plus `n` fit the budget.
//! Each request is logged at the time its answer arrived, which is never
//! earlier than the time Graph counted it, so the log can only over-count.
//!
//! The log outlives a run: it is kept in plugin storage ([`WINDOW_KEY`]) by
//! the second, so a run that starts within the window of an earlier one
//! paces against that one's requests too instead of meeting a 429.

use crate::host::Host;
use serde::Deserialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The plugin-state key of an optional override of Graph's limits (JSON
/// [`GraphLimits`]); for tenants whose limits differ from the documented
/// ones, and for tests that compress the window.
pub const LIMITS_KEY: &str = "graph-limits";

/// The plugin-state key of the pacing log between runs (JSON [`Window`]).
pub const WINDOW_KEY: &str = "graph-pacing";

/// The requests of the last window, as kept between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Window {
    /// The mailbox the requests went to (another mailbox has its own limits).
    pub mailbox: String,
    /// (Unix time in milliseconds, requests), oldest first, by the second.
    pub sent: Vec<(u64, u32)>,
}

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

    /// The log as kept between runs: `now` is `now_ms` on the wall clock.
    /// Requests are grouped by the second and logged at its end, which can
    /// only over-count.
    pub fn window(&self, mailbox: &str, now: Instant, now_ms: u64) -> Window {
        let window = Duration::from_millis(self.limits.window_ms);
        let mut sent: Vec<(u64, u32)> = Vec::new();
        for t in &self.sent {
            let age = now.saturating_duration_since(*t);
            if age >= window {
                continue;
            }
            let at = now_ms.saturating_sub(age.as_millis() as u64);
            let second = (at / 1000 + 1) * 1000;
            match sent.last_mut() {
                Some((s, n)) if *s == second => *n += 1,
                _ => sent.push((second, 1)),
            }
        }
        Window {
            mailbox: mailbox.to_string(),
            sent,
        }
    }

    /// Takes in the requests an earlier run logged for `mailbox`.
    pub fn restore(&mut self, w: &Window, mailbox: &str, now: Instant, now_ms: u64) {
        if !self.limits.pacing || !w.mailbox.eq_ignore_ascii_case(mailbox) {
            return;
        }
        let window = self.limits.window_ms;
        let mut earlier: Vec<Instant> = Vec::new();
        for &(at, n) in &w.sent {
            // From the future (a clock set back): as if sent now.
            let age = now_ms.saturating_sub(at);
            if age >= window {
                continue;
            }
            let Some(t) = now.checked_sub(Duration::from_millis(age)) else {
                continue;
            };
            // At most a window's budget: a corrupt count must not stall the job.
            let room = self.limits.budget().saturating_sub(earlier.len());
            earlier.extend(std::iter::repeat_n(t, (n as usize).min(room)));
        }
        earlier.sort();
        earlier.extend(self.sent.drain(..));
        self.sent = earlier.into();
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
    fn the_window_outlives_a_run() {
        let l = limits(100, 10_000); // budget 98
        let t0 = Instant::now();
        let mut first = Pacer::new(l);
        first.record(20, t0);
        first.record(50, t0 + Duration::from_millis(1500));
        let now_ms = 1_800_000_000_000;
        let kept = first.window("box@x", t0 + Duration::from_millis(2000), now_ms);
        assert_eq!(kept.sent.iter().map(|(_, n)| n).sum::<u32>(), 70);
        assert!(kept.sent.iter().all(|(at, _)| *at <= now_ms + 1000));
        let text = serde_json::to_string(&kept).unwrap();

        // A run three seconds later knows of the 70.
        let mut next = Pacer::new(l);
        let t1 = Instant::now() + Duration::from_secs(60);
        let w: Window = serde_json::from_str(&text).unwrap();
        next.restore(&w, "BOX@x", t1, now_ms + 1000);
        assert_eq!(next.delay(28, t1), Duration::ZERO);
        assert!(next.delay(29, t1) > Duration::ZERO, "70 + 29 > 98");
        // Another mailbox, or a window long past, counts nothing.
        let mut other = Pacer::new(l);
        other.restore(&w, "other@x", t1, now_ms + 1000);
        assert_eq!(other.delay(98, t1), Duration::ZERO);
        let mut later = Pacer::new(l);
        later.restore(&w, "box@x", t1, now_ms + 20_000);
        assert_eq!(later.delay(98, t1), Duration::ZERO);
        // A corrupt count is held to one window's budget.
        let mut bad = Pacer::new(l);
        let huge = Window {
            mailbox: "box@x".into(),
            sent: vec![(now_ms, u32::MAX)],
        };
        bad.restore(&huge, "box@x", t1, now_ms);
        assert!(bad.delay(1, t1) <= Duration::from_millis(10_000));
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
