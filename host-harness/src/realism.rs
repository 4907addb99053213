//! The Graph emulator's realism options (throttling, latency, faults), as
//! the `demo` and `emulator` commands take them.

use clap::Args;

/// The emulator's realism options, shared by `demo` and `emulator`.
#[derive(Debug, Args)]
pub struct Realism {
    /// Throttle like Outlook: at most 4 concurrent requests and 10,000 per 10
    /// minutes per app and mailbox, 429 ApplicationThrottled with Retry-After.
    #[arg(long)]
    pub throttle: bool,
    /// Latency per operation, for example `list=150ms,move=250ms,token=50ms`
    /// (operations: list, get, move, token, other).
    #[arg(long, value_parser = graph_emulator::Latency::parse)]
    pub latency: Option<graph_emulator::Latency>,
    /// Faults by probability, for example
    /// `429=0.05,503=0.02,reset=0.01,timeout=0.01` (kinds: 429, 500, 503,
    /// 504, reset, timeout, truncated, invalid-json, reset-after-commit;
    /// also seed=N, hold=DURATION, retry-after=DURATION, token=true).
    #[arg(long, value_parser = graph_emulator::Faults::parse)]
    pub faults: Option<graph_emulator::Faults>,
}

impl Realism {
    /// Turns the options on in an emulator.
    pub fn apply(&self, emulator: &graph_emulator::Emulator) {
        if self.throttle {
            emulator.set_throttling(Some(graph_emulator::Throttling::default()));
        }
        if let Some(l) = &self.latency {
            emulator.set_latency(*l);
        }
        if let Some(f) = &self.faults {
            emulator.set_faults(f.clone());
        }
    }
}
