//! `erp:host/log`: guest events into the host's tracing log, and the
//! `progress` events to whoever watches a run.

use super::PluginState;
use super::bindings::erp::host::log::{Host, Level};

/// Receives the fields of the component's `progress` events.
pub type ProgressSink = std::sync::Arc<dyn Fn(&[(String, String)]) + Send + Sync>;

impl Host for PluginState {
    async fn event(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        // Field values come from the guest, which never passes secrets; they
        // are still capped so a misbehaving guest cannot flood the log.
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .take(16)
            .map(|(k, v)| (k.chars().take(40).collect(), v.chars().take(200).collect()))
            .collect();
        let message: String = message.chars().take(500).collect();
        if message == "progress" {
            let sink = self
                .ctx
                .progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(sink) = sink {
                sink(&fields);
            }
        }
        let fields: String = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let company = self.company;
        match level {
            Level::Debug => tracing::debug!(target: "guest", company, %fields, "{message}"),
            Level::Info => tracing::info!(target: "guest", company, %fields, "{message}"),
            Level::Warn => tracing::warn!(target: "guest", company, %fields, "{message}"),
            Level::Error => tracing::error!(target: "guest", company, %fields, "{message}"),
        }
        Ok(())
    }
}
