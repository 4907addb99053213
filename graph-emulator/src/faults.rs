//! Latency per operation and injected faults.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Artificial latency per kind of operation; all zero by default.
///
/// Which applies: a Graph GET whose path ends in a collection (`messages`, `mailFolders`,
/// `childFolders`) is a `list`, any other Graph GET a `get`; POST `.../move` is a `move`; every
/// other Graph request (PATCH, DELETE, create) is `other`. The token endpoint takes `token`.
/// Inside `$batch` every inner request takes its own latency; the outer request adds none.
/// `/authorize`, admin consent and `/owa` take none. The latency is spent after throttling has
/// admitted the request (so it holds a concurrency slot) and before the operation runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Listing messages or folders.
    pub list: Duration,
    /// Getting one item.
    pub get: Duration,
    /// Moving a message.
    pub move_: Duration,
    /// The token endpoint.
    pub token: Duration,
    /// Every other Graph request.
    pub other: Duration,
}

/// Parses `150ms`, `2s`, `0.5s`.
fn parse_duration(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    let (number, unit_secs) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(format!(
            "duration {value:?} needs a unit: ms or s (e.g. 150ms, 2s)"
        ));
    };
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("duration {value:?} is not a number followed by ms or s"))?;
    if !n.is_finite() || n < 0.0 || n * unit_secs > 86_400.0 {
        return Err(format!("duration {value:?} must be between 0 and one day"));
    }
    Ok(Duration::from_secs_f64(n * unit_secs))
}

/// Splits `a=1,b=2` into trimmed pairs, skipping empty parts.
fn pairs(spec: &str) -> Result<Vec<(&str, &str, &str)>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((part, k.trim(), v.trim())),
            _ => Err(format!("{part:?} is not of the form name=value")),
        })
        .collect()
}

impl Latency {
    /// Parses `list=150ms,move=250ms,token=50ms,get=10ms,other=5ms`: any subset, in any order,
    /// units `ms` or `s` (decimals allowed). Unnamed operations stay zero; an empty spec is all
    /// zero.
    pub fn parse(spec: &str) -> Result<Latency, String> {
        let mut out = Latency::default();
        for (part, key, value) in pairs(spec).map_err(|e| format!("latency: {e}"))? {
            let d = parse_duration(value).map_err(|e| format!("latency {part:?}: {e}"))?;
            let slot = match key.to_ascii_lowercase().as_str() {
                "list" => &mut out.list,
                "get" => &mut out.get,
                "move" => &mut out.move_,
                "token" => &mut out.token,
                "other" => &mut out.other,
                _ => {
                    return Err(format!(
                        "latency {part:?}: unknown operation {key:?} (expected list, get, move, token or other)"
                    ));
                }
            };
            *slot = d;
        }
        Ok(out)
    }
}

/// What an injected fault does to one request. Except for
/// [`FaultKind::ResetAfterCommit`], a faulted request never reaches the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// 429 `TooManyRequests` with `Retry-After` ([`Faults::retry_after`]).
    TooManyRequests,
    /// 500 `InternalServerError`.
    InternalError,
    /// 503 `serviceNotAvailable` with `Retry-After`.
    Unavailable,
    /// 504 `GatewayTimeout`.
    GatewayTimeout,
    /// The connection is closed without any response.
    Reset,
    /// The request is held for [`Faults::timeout_hold`], then the connection is closed
    /// without a response (a client with a shorter timeout sees its own timeout).
    Timeout,
    /// 200 with a JSON content type and a `Content-Length` larger than what is sent before the
    /// connection is closed.
    TruncatedBody,
    /// 200 with a JSON content type and a body that is not JSON.
    InvalidJson,
    /// The operation IS applied (a move moves), then the connection is closed without a
    /// response: the client cannot know that it succeeded, and a retry finds the old REST id
    /// gone (404) while the immutable id is in the destination already.
    ResetAfterCommit,
}

impl FaultKind {
    /// Every kind, in spec order.
    pub const ALL: [FaultKind; 9] = [
        FaultKind::TooManyRequests,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::GatewayTimeout,
        FaultKind::Reset,
        FaultKind::Timeout,
        FaultKind::TruncatedBody,
        FaultKind::InvalidJson,
        FaultKind::ResetAfterCommit,
    ];

    /// The name used in fault specs: `429`, `500`, `503`, `504`, `reset`, `timeout`,
    /// `truncated`, `invalid-json`, `reset-after-commit`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::TooManyRequests => "429",
            FaultKind::InternalError => "500",
            FaultKind::Unavailable => "503",
            FaultKind::GatewayTimeout => "504",
            FaultKind::Reset => "reset",
            FaultKind::Timeout => "timeout",
            FaultKind::TruncatedBody => "truncated",
            FaultKind::InvalidJson => "invalid-json",
            FaultKind::ResetAfterCommit => "reset-after-commit",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown fault {s:?} (expected one of {})", names.join(", "))
            })
    }
}

/// Injected faults. The default injects none.
///
/// For every request a fault applies to, the next script entry is consumed if the script is
/// not empty (`None` = no fault); otherwise one random draw from `probabilities` (a seeded
/// generator, so a given seed and request sequence always fault the same way).
///
/// Faults apply to Graph requests, the `$batch` outer request and each inner `$batch` request
/// (an inner request gets status faults only: `Reset`, `TruncatedBody` and `InvalidJson` become
/// 500 and `Timeout` 504 for it, without running it; `ResetAfterCommit` runs it and then resets
/// the connection of the whole batch). The token endpoint only draws when
/// `token_endpoint` is true.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Probability per kind; their sum must not exceed 1.
    pub probabilities: Vec<(FaultKind, f64)>,
    /// Faults for the next requests, consumed one per request before any random draw.
    pub script: VecDeque<Option<FaultKind>>,
    /// Seed of the random draws.
    pub seed: u64,
    /// How long [`FaultKind::Timeout`] holds a request before dropping it (default 30 s).
    pub timeout_hold: Duration,
    /// `Retry-After` sent with injected 429 and 503 (default 1 s). Whole seconds as Graph
    /// sends them (`1`; a value such as 1.5 s is rounded up to `2`); a value under one second is
    /// sent in decimal seconds as asked (`retry-after=10ms` gives `0.01`), for tests that keep
    /// their waits short.
    pub retry_after: Duration,
    /// Whether the token endpoint gets faults too (default false).
    pub token_endpoint: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            probabilities: Vec::new(),
            script: VecDeque::new(),
            seed: 0,
            timeout_hold: Duration::from_secs(30),
            retry_after: Duration::from_secs(1),
            token_endpoint: false,
        }
    }
}

impl Faults {
    /// Parses `429=0.05,500=0.01,503=0.02,504=0.01,reset=0.01,timeout=0.01,truncated=0.01,
    /// invalid-json=0.01,reset-after-commit=0.01`, plus optional `seed=N`, `hold=30s`
    /// (timeout hold), `retry-after=1s` and `token=true|false`. Probabilities must be numbers
    /// in 0..=1, each kind named once, summing to at most 1.
    pub fn parse(spec: &str) -> Result<Faults, String> {
        let mut out = Faults::default();
        for (part, key, value) in pairs(spec).map_err(|e| format!("faults: {e}"))? {
            match key.to_ascii_lowercase().as_str() {
                "seed" => {
                    out.seed = value.parse().map_err(|_| {
                        format!("faults {part:?}: seed must be a non-negative integer")
                    })?;
                }
                "hold" => {
                    out.timeout_hold =
                        parse_duration(value).map_err(|e| format!("faults {part:?}: {e}"))?;
                }
                "retry-after" => {
                    out.retry_after =
                        parse_duration(value).map_err(|e| format!("faults {part:?}: {e}"))?;
                }
                "token" => {
                    out.token_endpoint = value
                        .parse()
                        .map_err(|_| format!("faults {part:?}: token must be true or false"))?;
                }
                _ => {
                    let kind: FaultKind =
                        key.parse().map_err(|e| format!("faults {part:?}: {e}"))?;
                    let p: f64 = value.parse().map_err(|_| {
                        format!("faults {part:?}: probability {value:?} is not a number")
                    })?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(format!(
                            "faults {part:?}: probability must be between 0 and 1"
                        ));
                    }
                    if out.probabilities.iter().any(|(k, _)| *k == kind) {
                        return Err(format!("faults {part:?}: {kind} is given twice"));
                    }
                    out.probabilities.push((kind, p));
                }
            }
        }
        let sum: f64 = out.probabilities.iter().map(|(_, p)| p).sum();
        if sum > 1.0 + 1e-9 {
            return Err(format!("faults: probabilities sum to {sum}, more than 1"));
        }
        Ok(out)
    }
}

/// The live fault source.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub faults: Faults,
    rng: StdRng,
    pub count: u64,
}

impl FaultState {
    pub fn new(faults: Faults) -> Self {
        let rng = StdRng::seed_from_u64(faults.seed);
        FaultState {
            faults,
            rng,
            count: 0,
        }
    }

    /// The fault for the next request, if any (counted in `count`).
    pub fn draw(&mut self) -> Option<FaultKind> {
        let fault = match self.faults.script.pop_front() {
            Some(scripted) => scripted,
            None if self.faults.probabilities.is_empty() => None,
            None => {
                let r: f64 = self.rng.r#gen();
                let mut acc = 0.0;
                self.faults
                    .probabilities
                    .iter()
                    .find(|(_, p)| {
                        acc += p;
                        r < acc
                    })
                    .map(|(k, _)| *k)
            }
        };
        if fault.is_some() {
            self.count += 1;
        }
        fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_parse() {
        let l = Latency::parse("list=150ms, move=0.25s,token=50ms,get=10ms,other=5ms").unwrap();
        assert_eq!(l.list, Duration::from_millis(150));
        assert_eq!(l.move_, Duration::from_millis(250));
        assert_eq!(l.token, Duration::from_millis(50));
        assert_eq!(l.get, Duration::from_millis(10));
        assert_eq!(l.other, Duration::from_millis(5));
        assert_eq!(Latency::parse("").unwrap(), Latency::default());
        let e = Latency::parse("list=150ms,lsit=3ms").unwrap_err();
        assert!(
            e.contains("\"lsit=3ms\"") && e.contains("unknown operation"),
            "{e}"
        );
        let e = Latency::parse("get=10").unwrap_err();
        assert!(e.contains("\"get=10\"") && e.contains("unit"), "{e}");
        let e = Latency::parse("get=abcms").unwrap_err();
        assert!(
            e.contains("\"get=abcms\"") && e.contains("not a number"),
            "{e}"
        );
        let e = Latency::parse("get").unwrap_err();
        assert!(e.contains("\"get\"") && e.contains("name=value"), "{e}");
        assert!(Latency::parse("get=-1ms").is_err());
    }

    #[test]
    fn faults_parse() {
        let f = Faults::parse(
            "429=0.05,500=0.01,503=0.02,504=0.01,reset=0.01,timeout=0.01,truncated=0.01,invalid-json=0.01,reset-after-commit=0.01,seed=7,hold=2s",
        )
        .unwrap();
        assert_eq!(f.probabilities.len(), 9);
        assert_eq!(f.probabilities[0], (FaultKind::TooManyRequests, 0.05));
        assert_eq!(f.seed, 7);
        assert_eq!(f.timeout_hold, Duration::from_secs(2));
        assert!(!f.token_endpoint);
        assert_eq!(Faults::parse("").unwrap(), Faults::default());
        let e = Faults::parse("429=0.6,500=0.5").unwrap_err();
        assert!(e.contains("sum") && e.contains("more than 1"), "{e}");
        let e = Faults::parse("502=0.1").unwrap_err();
        assert!(
            e.contains("\"502=0.1\"") && e.contains("unknown fault"),
            "{e}"
        );
        let e = Faults::parse("reset=lots").unwrap_err();
        assert!(
            e.contains("\"reset=lots\"") && e.contains("not a number"),
            "{e}"
        );
        let e = Faults::parse("reset=1.5").unwrap_err();
        assert!(e.contains("between 0 and 1"), "{e}");
        let e = Faults::parse("reset=0.1,reset=0.1").unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = Faults::parse("seed=x").unwrap_err();
        assert!(e.contains("seed"), "{e}");
    }

    #[test]
    fn draws_are_seeded_and_script_first() {
        let spec = "500=0.3,reset=0.3";
        let run = |seed: u64| {
            let mut f = Faults::parse(spec).unwrap();
            f.seed = seed;
            let mut s = FaultState::new(f);
            (0..50).map(|_| s.draw()).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let mut s = FaultState::new(Faults {
            script: [Some(FaultKind::Reset), None].into(),
            ..Faults::default()
        });
        assert_eq!(s.draw(), Some(FaultKind::Reset));
        assert_eq!(s.draw(), None);
        assert_eq!(s.draw(), None);
        assert_eq!(s.count, 1);
    }
}
