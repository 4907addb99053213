//! The one decision about a Graph answer: done, renew the token and send
//! again, wait and send again, or fail. Single calls and each inner answer
//! of a `$batch` are judged by it alike.

use std::time::Duration;

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
    /// Graph refused the request for good.
    Fail,
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
