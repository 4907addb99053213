//! `erp:host/secrets`: the host's client id / secret / redirect URL and EWS
//! password callbacks (Business Central's `OnGetEmailLoggingClientId`/`...Secret`).

use super::PluginState;
use super::bindings::erp::host::secrets::Host;
use secrecy::ExposeSecret as _;

impl Host for PluginState {
    async fn client_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.ctx.app.client_id.clone())
    }

    async fn client_secret(&mut self) -> wasmtime::Result<Option<String>> {
        // Exposed only here, where it crosses into the component.
        Ok(self
            .ctx
            .app
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_string()))
    }

    async fn redirect_url(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.ctx.app.redirect_url.clone())
    }

    async fn ews_password(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self
            .ctx
            .app
            .ews_password
            .as_ref()
            .map(|s| s.expose_secret().to_string()))
    }
}
