//! Where retries are decided, for every mail store: the one verdict about an
//! HTTP answer (done, renew the token, wait and send again, fail), used by
//! single calls and by each inner answer of a Graph `$batch` alike, and the
//! waiting between attempts (backoff, the longest wait, the run's deadline).
//!
//! What a failure that outlasts these retries means for a message (defer,
//! quarantine, stop the run) is `process::failure`'s; the job's own attempts
//! after a failed run are the host's job queue's.

use crate::host::{Host, Level};
use std::time::{Duration, Instant};

/// Attempts of one request before its failure is given to the caller.
pub const MAX_ATTEMPTS: u32 = 4;
/// Longest single wait a store does by itself; longer `Retry-After`s (or
/// EWS back-offs) end the run and postpone the job instead.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// What to do after an answer with this status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx: take the answer.
    Done,
    /// The access token expired or was revoked: renew it once, send again.
    Renew,
    /// Throttled (429) or a server fault that may pass: wait, send again.
    Retry {
        /// Whether it is throttling, which ends the run when it lasts.
        throttled: bool,
    },
    /// The server refused the request for good.
    Fail,
}

/// The waiting a store does between attempts within one run.
#[derive(Debug, Default)]
pub struct Patience {
    deadline: Option<Instant>,
    /// Waits for throttling (`Retry-After`, back-offs, pacing) so far.
    pub throttled_waits: u32,
}

impl Patience {
    /// Waits never run past this instant.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Whether waiting `wait` would pass the deadline.
    pub fn past_deadline(&self, wait: Duration) -> bool {
        self.deadline.is_some_and(|d| Instant::now() + wait > d)
    }

    /// Whether a wait this long is one to do here: not past [`MAX_WAIT`]
    /// nor the deadline.
    pub fn can_wait(&self, wait: Duration) -> bool {
        wait <= MAX_WAIT && !self.past_deadline(wait)
    }

    /// Exponential backoff with up to 50% jitter: 0.25 s, 0.5 s, 1 s, 2 s …
    /// capped at 8 s, for faults that come without a `Retry-After`.
    pub fn backoff(host: &dyn Host, attempt: u32) -> Duration {
        let base = 250u64 << attempt.min(6).saturating_sub(1);
        let mut r = [0u8; 2];
        let jitter = match host.random(&mut r) {
            Ok(()) => u64::from(u16::from_le_bytes(r)) % (base / 2 + 1),
            Err(_) => 0,
        };
        Duration::from_millis((base + jitter).min(8_000))
    }

    /// Waits `wait`, saying so in a `progress` event first, so a host can
    /// show why a long run is quiet.
    pub fn wait(host: &dyn Host, wait: Duration, reason: &str) {
        host.log(
            Level::Info,
            crate::process::report::PROGRESS,
            &[
                ("waiting_ms", &wait.as_millis().to_string()),
                ("reason", reason),
            ],
        );
        host.sleep(wait);
    }
}

/// Judges one answer; `renewed` says whether the token was renewed already.
pub fn verdict(status: u16, renewed: bool) -> Verdict {
    match status {
        200..=299 => Verdict::Done,
        401 if !renewed => Verdict::Renew,
        429 => Verdict::Retry { throttled: true },
        500 | 502 | 503 | 504 => Verdict::Retry { throttled: false },
        _ => Verdict::Fail,
    }
}

/// `Retry-After` as Graph sends it: whole or decimal seconds (HTTP dates
/// are not used by Graph).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_one_verdict() {
        assert_eq!(verdict(200, false), Verdict::Done);
        assert_eq!(verdict(204, true), Verdict::Done);
        assert_eq!(verdict(401, false), Verdict::Renew);
        assert_eq!(verdict(401, true), Verdict::Fail, "renewed once only");
        assert_eq!(verdict(429, true), Verdict::Retry { throttled: true });
        for s in [500, 502, 503, 504] {
            assert_eq!(verdict(s, false), Verdict::Retry { throttled: false });
        }
        for s in [400, 403, 404, 409, 501] {
            assert_eq!(verdict(s, false), Verdict::Fail);
        }
    }

    #[test]
    fn retry_after_is_whole_or_decimal_seconds() {
        assert_eq!(parse_retry_after("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_retry_after(" 10 "), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("NaN"), None);
    }
}
