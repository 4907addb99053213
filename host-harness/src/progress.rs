//! Progress on a terminal for long work: a run's pages and its waits for
//! Microsoft Graph (from the component's `progress` events), link repair and
//! CSV import. Drawn on stderr only when stderr is a terminal, so pipes,
//! logs and `--json` output never see it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::time::Duration;

pub use crate::host::log::ProgressSink;

/// A spinner line that follows a run.
pub struct RunProgress {
    bar: ProgressBar,
}

impl Default for RunProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl RunProgress {
    /// A spinner on stderr (hidden when stderr is not a terminal).
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message("Reading the Inbox ...");
        Self { bar }
    }

    /// Whether anything is drawn at all.
    pub fn is_shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// The sink to give the ERP for the component's events.
    pub fn sink(&self) -> ProgressSink {
        let bar = self.bar.clone();
        Arc::new(move |fields| bar.set_message(describe(fields)))
    }

    /// Removes the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for RunProgress {
    fn drop(&mut self) {
        // An error on the way out must not leave a stale line behind.
        self.bar.finish_and_clear();
    }
}

/// One `progress` event in an administrator's words.
pub fn describe(fields: &[(String, String)]) -> String {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| crate::terminal::plain(v).into_owned())
    };
    if let Some(ms) = get("waiting_ms").and_then(|ms| ms.parse::<u64>().ok()) {
        return format!(
            "waiting {:.1} s: {}",
            ms as f64 / 1000.0,
            get("reason").unwrap_or_else(|| "Microsoft Graph".into())
        );
    }
    let n = |k: &str| get(k).unwrap_or_else(|| "0".into());
    format!(
        "Inbox: {} seen, {} logged, {} already logged, {} not logged, {} quarantined, {} deferred; {} pages read",
        n("seen"),
        n("logged"),
        n("already_logged"),
        n("not_logged"),
        n("quarantined"),
        n("deferred"),
        n("pages")
    )
}

/// A bar over `total` items of long work (link repair, an import), on stderr
/// when it is a terminal.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} {{pos}}/{{len}} {{wide_bar}} {{eta}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn events_read_as_progress() {
        assert_eq!(
            describe(&f(&[
                ("seen", "120"),
                ("logged", "100"),
                ("deferred", "2"),
                ("pages", "3")
            ])),
            "Inbox: 120 seen, 100 logged, 0 already logged, 0 not logged, 0 quarantined, 2 deferred; 3 pages read"
        );
        assert_eq!(
            describe(&f(&[
                ("waiting_ms", "2500"),
                ("reason", "Microsoft Graph is throttling")
            ])),
            "waiting 2.5 s: Microsoft Graph is throttling"
        );
    }
}
