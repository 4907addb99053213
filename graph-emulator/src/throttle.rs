//! Outlook's per (app, mailbox) throttling: a concurrency limit and a request budget per window.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Throttling limits applied per (application client id, mailbox), as Outlook applies them to
/// Graph mail requests. Switched off unless [`crate::EmulatorConfig::throttling`] is `Some` (or
/// [`crate::Emulator::set_throttling`] is called).
///
/// A throttled request gets 429 `ApplicationThrottled` "Application is over its
/// MailboxConcurrency limit." with `Retry-After` in whole seconds as Graph sends it (the wait
/// rounded up, e.g. `3` for 2.5 s), or, when `retry_after` is set under one second, in decimal
/// seconds (`0.05`) so that a test can keep its waits short. Rules, checked
/// in this order for every Graph request that names a mailbox and carries a valid token:
/// 1. The request is counted against the window budget, throttled or not (as in Graph, so
///    hammering keeps a client throttled).
/// 2. While the key is blocked (an earlier 429's `Retry-After` has not elapsed) the request is
///    throttled again, with the remaining time as `Retry-After`.
/// 3. More than `max_requests` counted requests within the last `window`: throttled; the
///    suggestion is the time until the oldest counted request leaves the window (computed from
///    the window), and the key is blocked that long.
/// 4. `max_concurrent` requests of the key already in flight (latency makes requests overlap):
///    throttled with `retry_after` as the suggestion, and the key is blocked that long.
///
/// Throttled requests are answered at once (no latency, no fault) and never reach the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttling {
    /// Requests of one (app, mailbox) that may be in flight at once (Outlook: 4).
    pub max_concurrent: usize,
    /// Requests of one (app, mailbox) allowed per `window` (Outlook: 10 000).
    pub max_requests: u32,
    /// The budget window (Outlook: 10 minutes).
    pub window: Duration,
    /// `Retry-After` suggested when the concurrency limit is hit (default 2.5 s, sent as `3`);
    /// when the window budget is used up the suggestion is computed from the window instead.
    /// Under one second, every `Retry-After` of this throttling is sent in decimal seconds.
    pub retry_after: Duration,
}

impl Default for Throttling {
    fn default() -> Self {
        Throttling {
            max_concurrent: 4,
            max_requests: 10_000,
            window: Duration::from_secs(600),
            retry_after: Duration::from_millis(2500),
        }
    }
}

/// Lower-case (client id, mailbox address).
pub(crate) type Key = (String, String);

#[derive(Debug, Default)]
struct KeyState {
    in_flight: usize,
    hits: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct ThrottleState {
    pub limits: Option<Throttling>,
    keys: HashMap<Key, KeyState>,
}

impl ThrottleState {
    pub fn new(limits: Option<Throttling>) -> Self {
        ThrottleState {
            limits,
            keys: HashMap::new(),
        }
    }

    /// Counts a request for `key`; `Err(retry_after)` when it is throttled, `Ok(())` when it
    /// took a concurrency slot (give it back with [`ThrottleState::release`]).
    pub fn admit(&mut self, key: &Key, now: Instant) -> Result<(), Duration> {
        let Some(t) = self.limits.clone() else {
            return Ok(());
        };
        let ks = self.keys.entry(key.clone()).or_default();
        while ks
            .hits
            .front()
            .is_some_and(|h| now.saturating_duration_since(*h) >= t.window)
        {
            ks.hits.pop_front();
        }
        ks.hits.push_back(now);
        if let Some(until) = ks.blocked_until.filter(|u| *u > now) {
            return Err(until - now);
        }
        if ks.hits.len() > t.max_requests as usize {
            let oldest = ks.hits.front().copied().unwrap_or(now);
            let wait = (oldest + t.window)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            ks.blocked_until = Some(now + wait);
            return Err(wait);
        }
        if ks.in_flight >= t.max_concurrent {
            ks.blocked_until = Some(now + t.retry_after);
            return Err(t.retry_after);
        }
        ks.in_flight += 1;
        Ok(())
    }

    pub fn release(&mut self, key: &Key) {
        if let Some(ks) = self.keys.get_mut(key) {
            ks.in_flight = ks.in_flight.saturating_sub(1);
        }
    }
}

/// The `Retry-After` value for a wait of `wait`, given the `Retry-After` a test configured
/// (`configured`: [`Throttling::retry_after`] or [`crate::Faults::retry_after`]).
///
/// Graph sends whole seconds (`Retry-After: 2`), and the SDKs' retry handlers parse nothing
/// else: a value with a decimal point is ignored and they fall back to their own backoff. So
/// the wait is rounded up to whole seconds, at least 1, and written as an integer; a client
/// that waits that long is never throttled again.
///
/// A test that configures a wait under one second asks for short waits to keep itself fast:
/// it gets them, as decimal seconds rounded up to the millisecond (`0.05`; `0.001` at least;
/// still an integer when the value is whole, such as a window wait of exactly `2`).
pub(crate) fn retry_after_value(wait: Duration, configured: Duration) -> String {
    if configured < Duration::from_secs(1) {
        let ms = wait.as_nanos().div_ceil(1_000_000).max(1);
        if ms.is_multiple_of(1000) {
            return (ms / 1000).to_string();
        }
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        s.trim_end_matches('0').to_string()
    } else {
        wait.as_nanos().div_ceil(1_000_000_000).max(1).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds() {
        let normal = Duration::from_secs(1);
        assert_eq!(retry_after_value(Duration::from_secs(1), normal), "1");
        assert_eq!(retry_after_value(Duration::from_millis(2500), normal), "3");
        assert_eq!(retry_after_value(Duration::from_secs(600), normal), "600");
        assert_eq!(retry_after_value(Duration::from_micros(1), normal), "1");
        assert_eq!(retry_after_value(Duration::ZERO, normal), "1");
        assert_eq!(
            retry_after_value(Duration::from_millis(2128), Duration::from_millis(2500)),
            "3"
        );
    }

    #[test]
    fn a_configured_sub_second_wait_gives_decimal_seconds() {
        let fine = Duration::from_millis(10);
        assert_eq!(retry_after_value(Duration::from_millis(10), fine), "0.01");
        assert_eq!(
            retry_after_value(Duration::from_millis(2128), fine),
            "2.128"
        );
        assert_eq!(retry_after_value(Duration::from_micros(1), fine), "0.001");
        assert_eq!(retry_after_value(Duration::from_secs(2), fine), "2");
    }

    #[test]
    fn window_and_concurrency() {
        let mut s = ThrottleState::new(Some(Throttling {
            max_concurrent: 1,
            max_requests: 2,
            window: Duration::from_secs(10),
            retry_after: Duration::from_secs(1),
        }));
        let k: Key = ("app".into(), "mb".into());
        let t0 = Instant::now();
        assert!(s.admit(&k, t0).is_ok());
        assert_eq!(s.admit(&k, t0), Err(Duration::from_secs(1)));
        // Blocked: the remaining time is suggested.
        let t1 = t0 + Duration::from_millis(400);
        assert_eq!(s.admit(&k, t1), Err(Duration::from_millis(600)));
        s.release(&k);
        // Four hits counted in the window now: over the budget of 2.
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(s.admit(&k, t2), Err(Duration::from_secs(8)));
    }
}
