//! `erp:host/http`: outbound HTTP with an allow-list, routing of the
//! Microsoft hosts to an emulator, a timeout and a response size cap.

use super::bindings::erp::host::http::{Host, Request, Response};
use super::{CrashPoint, PluginState, WitError};
use std::time::Duration;
use url::Url;

/// The hosts the component may reach.
pub const MICROSOFT_HOSTS: &[&str] = &[
    "graph.microsoft.com",
    "login.microsoftonline.com",
    "outlook.office365.com",
];

/// How the host sends the component's requests.
pub struct HttpPolicy {
    client: reqwest::Client,
    allowed_hosts: Vec<String>,
    route_to: Option<Url>,
    max_timeout: Duration,
    max_response_bytes: usize,
}

impl HttpPolicy {
    /// The policy for the Microsoft hosts; with `route_to`, every allowed
    /// request goes to that base URL instead (the Graph emulator), path and
    /// query unchanged, so the component keeps using the real URLs.
    pub fn new(route_to: Option<Url>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("email-logging-host/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allowed_hosts: MICROSOFT_HOSTS.iter().map(|h| h.to_string()).collect(),
            route_to,
            max_timeout: Duration::from_secs(120),
            max_response_bytes: 16 << 20,
        })
    }

    /// Checks a request against the allow-list (Microsoft's hosts, and the
    /// company's Exchange server when it has one) and routes it.
    pub fn target(&self, url: &str, exchange_host: Option<&str>) -> Result<Url, WitError> {
        let parsed = Url::parse(url).map_err(|e| WitError::Invalid(format!("not a URL: {e}")))?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let allowed = self.allowed_hosts.contains(&host)
            || exchange_host.is_some_and(|h| h.eq_ignore_ascii_case(&host));
        if parsed.scheme() != "https" || !allowed {
            return Err(WitError::Denied(format!(
                "{}://{host} is not an allowed host (allowed: https to {}{})",
                parsed.scheme(),
                self.allowed_hosts.join(", "),
                exchange_host.map(|h| format!(", {h}")).unwrap_or_default()
            )));
        }
        let Some(base) = &self.route_to else {
            return Ok(parsed);
        };
        let mut routed = base.clone();
        routed.set_path(parsed.path());
        routed.set_query(parsed.query());
        Ok(routed)
    }

    /// Sends one request.
    pub async fn send(
        &self,
        req: Request,
        exchange_host: Option<&str>,
    ) -> Result<Response, WitError> {
        let url = self.target(&req.url, exchange_host)?;
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| WitError::Invalid(format!("'{}' is not an HTTP method", req.method)))?;
        let timeout = req
            .timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms)))
            .unwrap_or(self.max_timeout)
            .min(self.max_timeout);
        let mut builder = self
            .client
            .request(method.clone(), url.clone())
            .timeout(timeout);
        // A routed request still names the Microsoft host it is for, as a
        // proxy's would: the emulator builds its links (`@odata.nextLink`)
        // from it, so the component keeps seeing the real URLs.
        if self.route_to.is_some()
            && let Some(host) = Url::parse(&req.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
        {
            builder = builder.header(reqwest::header::HOST, host);
        }
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let started = std::time::Instant::now();
        let mut resp = builder.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(WitError::Invalid(format!(
                    "the response is larger than {} bytes",
                    self.max_response_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        // Path only: queries and bodies may identify people or hold codes.
        tracing::debug!(
            target: "http",
            method = %method,
            host = url.host_str().unwrap_or(""),
            path = if req.sensitive { "<sensitive>" } else { url.path() },
            status,
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn transport_error(e: reqwest::Error) -> WitError {
    // reqwest's Display can include the URL; the URL holds no secret (tokens
    // travel in headers and bodies), but keep the message short anyway.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response broke off"
    } else {
        "the request failed"
    };
    WitError::Unavailable(format!("{kind}: {}", e.without_url()))
}

/// The operation a `SOAPAction` header names (`"…/messages/MoveItem"` → `MoveItem`).
fn soap_action(headers: &[(String, String)]) -> Option<&str> {
    let (_, v) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("soapaction"))?;
    v.trim_matches('"').rsplit('/').next()
}

impl Host for PluginState {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, WitError>> {
        if let Some(hook) = &self.ctx.crash_hook
            && hook(&CrashPoint::Request {
                method: &req.method,
                url: &req.url,
                soap_action: soap_action(&req.headers),
            })
        {
            wasmtime::bail!("simulated host crash before {} {}", req.method, req.url);
        }
        Ok(self.ctx.http.send(req, self.exchange_host.as_deref()).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_and_routing() {
        let p = HttpPolicy::new(Some(Url::parse("http://127.0.0.1:9/").unwrap())).unwrap();
        let u = p
            .target(
                "https://graph.microsoft.com/v1.0/users/a%40b/messages?$top=5",
                None,
            )
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/v1.0/users/a%40b/messages?$top=5"
        );
        assert!(matches!(
            p.target("https://evil.example/x", None),
            Err(WitError::Denied(_))
        ));
        assert!(matches!(
            p.target("http://graph.microsoft.com/x", None),
            Err(WitError::Denied(_))
        ));
        assert!(matches!(
            p.target("not a url", None),
            Err(WitError::Invalid(_))
        ));
        let direct = HttpPolicy::new(None).unwrap();
        assert_eq!(
            direct
                .target(
                    "https://login.microsoftonline.com/t/oauth2/v2.0/token",
                    None
                )
                .unwrap()
                .host_str(),
            Some("login.microsoftonline.com")
        );
    }

    #[test]
    fn a_companys_exchange_server_is_admitted_for_that_company_only() {
        let p = HttpPolicy::new(Some(Url::parse("http://127.0.0.1:9/").unwrap())).unwrap();
        let ews = "https://Mail.Contoso.com/EWS/Exchange.asmx";
        assert!(matches!(p.target(ews, None), Err(WitError::Denied(_))));
        assert_eq!(
            p.target(ews, Some("mail.contoso.com")).unwrap().as_str(),
            "http://127.0.0.1:9/EWS/Exchange.asmx",
            "routed to the emulator like Microsoft's hosts"
        );
        assert!(matches!(
            p.target(
                "https://other.contoso.com/EWS/Exchange.asmx",
                Some("mail.contoso.com")
            ),
            Err(WitError::Denied(_))
        ));
        assert!(matches!(
            p.target(
                "http://mail.contoso.com/EWS/Exchange.asmx",
                Some("mail.contoso.com")
            ),
            Err(WitError::Denied(_))
        ));
    }
}
