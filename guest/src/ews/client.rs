//! One EWS request on the wire: signing in (Basic or OAuth2), the SOAP
//! call with its retries under [`crate::retry`], and what Exchange's
//! response codes mean for the pipeline.

use super::soap::{self, Fault, Header, Request, Response};
use crate::host::{Host, HostError, HttpRequest};
use crate::mail_store::MailError;
use crate::retry::{MAX_ATTEMPTS, Patience, parse_retry_after};
use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use std::time::{Duration, Instant};

/// How the requests sign in.
pub enum EwsAuth<'a> {
    /// Basic authentication (Exchange on-premises): user name and password.
    Basic {
        /// The user name (`user@contoso.com` or `CONTOSO\user`).
        user: String,
        /// The password.
        password: SecretString,
    },
    /// OAuth2 bearer tokens (Exchange Online).
    Bearer(Box<dyn BearerSource + 'a>),
}

/// Where OAuth2 access tokens for Exchange come from.
pub trait BearerSource {
    /// A valid access token.
    fn token(&mut self) -> Result<String, MailError>;
    /// Forgets the token after Exchange refused it, so the next is new.
    fn forget(&mut self);
    /// Token requests made.
    fn requests(&self) -> u32;
}

/// A failed EWS call, before it is given its meaning for the pipeline.
#[derive(Debug)]
pub enum CallError {
    /// Exchange's own code.
    Code(Fault),
    /// The answer was larger than the host takes.
    TooLarge(String),
    /// The answer was EWS but not well-formed XML.
    Malformed(String),
    /// Already a store failure.
    Mail(MailError),
}

/// Sends EWS operations to one service URL as one account.
pub struct Client<'a> {
    host: &'a dyn Host,
    url: String,
    /// The account the requests act as.
    pub account: String,
    impersonate: bool,
    auth: EwsAuth<'a>,
    owa_host: String,
    /// Waits between attempts, and how many were for throttling.
    pub patience: Patience,
    /// Requests sent.
    pub requests: u32,
    /// Whether the URL has answered as EWS: after that, a page that is not
    /// EWS is a proxy's or a load balancer's passing fault, not a wrong URL.
    answered: bool,
}

impl<'a> Client<'a> {
    /// A client for `url`, acting as `account` (through impersonation when asked).
    pub fn new(
        host: &'a dyn Host,
        url: &str,
        account: &str,
        impersonate: bool,
        auth: EwsAuth<'a>,
    ) -> Self {
        let owa_host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        Self {
            host,
            url: url.to_string(),
            account: account.to_string(),
            impersonate,
            auth,
            owa_host,
            patience: Patience::default(),
            requests: 0,
            answered: false,
        }
    }

    /// Waits never run past this instant.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.patience.set_deadline(deadline);
    }

    /// The service URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SOAP header of every request.
    pub fn header(&self) -> Header<'_> {
        Header {
            impersonate: self.impersonate.then_some(self.account.as_str()),
        }
    }

    /// Obtains a token now (OAuth2), so a lost grant shows before any mail is touched.
    pub fn sign_in(&mut self) -> Result<(), MailError> {
        match &mut self.auth {
            EwsAuth::Bearer(source) => source.token().map(|_| ()),
            EwsAuth::Basic { .. } => Ok(()),
        }
    }

    /// Forgets the token, so the next request signs in afresh.
    pub fn forget_token(&mut self) {
        if let EwsAuth::Bearer(source) = &mut self.auth {
            source.forget();
        }
    }

    /// Token requests made.
    pub fn token_requests(&self) -> u32 {
        match &self.auth {
            EwsAuth::Bearer(source) => source.requests(),
            EwsAuth::Basic { .. } => 0,
        }
    }

    /// What to do when signing in fails.
    pub fn sign_in_hint(&self) -> &'static str {
        match self.auth {
            EwsAuth::Basic { .. } => {
                "check the user name and password in the setup; Exchange Online takes OAuth2 only"
            }
            EwsAuth::Bearer(_) => {
                "check the app registration: Exchange's full_access_as_app permission with admin consent"
            }
        }
    }

    /// The link that opens item `id` in this server's Outlook on the web.
    pub fn link(&self, given: Option<&str>, id: &str) -> String {
        crate::web_link::owa_link(&self.owa_host, given, id)
    }

    fn authorization(&mut self) -> Result<String, MailError> {
        match &mut self.auth {
            EwsAuth::Basic { user, password } => {
                let pair = format!("{user}:{}", password.expose_secret());
                Ok(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            EwsAuth::Bearer(source) => Ok(format!("Bearer {}", source.token()?)),
        }
    }

    /// Sends one operation until it is answered, retrying what may pass.
    pub fn call(&mut self, request: Request) -> Result<Vec<Response>, CallError> {
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut headers = vec![
                (
                    "authorization".to_string(),
                    self.authorization().map_err(CallError::Mail)?,
                ),
                ("content-type".into(), "text/xml; charset=utf-8".into()),
                ("accept".into(), "text/xml".into()),
                ("soapaction".into(), request.soap_action()),
            ];
            if self.impersonate {
                headers.push(("x-anchormailbox".into(), self.account.clone()));
            }
            self.requests += 1;
            let result = self.host.http_send(HttpRequest {
                method: "POST".into(),
                url: self.url.clone(),
                headers,
                body: Some(request.body.clone()),
                timeout_ms: Some(60_000),
                // Every request carries the password or a token.
                sensitive: true,
            });
            let (wait, why, throttled) = match result {
                Ok(resp) => match resp.status {
                    200 | 500 => match self.read(&resp.body) {
                        Ok(messages) => {
                            match messages.iter().find(|m| m.code == "ErrorServerBusy") {
                                // One busy answer stands for the whole call.
                                Some(busy) => busy_wait(busy.back_off_ms),
                                None => return Ok(messages),
                            }
                        }
                        Err(Fault::Code {
                            code, back_off_ms, ..
                        }) if code == "ErrorServerBusy" => busy_wait(back_off_ms),
                        Err(f @ Fault::Code { .. }) => return Err(CallError::Code(f)),
                        Err(Fault::Malformed(m)) => return Err(CallError::Malformed(m)),
                        Err(Fault::NotEws(m)) if resp.status == 200 && !self.answered => {
                            return Err(CallError::Mail(MailError::Unusable(format!(
                                "{} does not answer as Exchange Web Services ({m}): check the service URL, which ends in /EWS/Exchange.asmx",
                                self.url
                            ))));
                        }
                        Err(Fault::NotEws(m)) => {
                            (None, format!("HTTP {} ({m})", resp.status), false)
                        }
                    },
                    401 if !renewed && matches!(self.auth, EwsAuth::Bearer(_)) => {
                        renewed = true;
                        if let EwsAuth::Bearer(source) = &mut self.auth {
                            source.forget();
                        }
                        continue;
                    }
                    401 => return Err(CallError::Mail(self.refused_sign_in(&resp.headers))),
                    403 => {
                        return Err(CallError::Mail(MailError::Unusable(format!(
                            "Exchange refused {} (HTTP 403): the account may not use EWS",
                            self.account
                        ))));
                    }
                    429 | 502 | 503 | 504 => (
                        resp.header("retry-after").and_then(parse_retry_after),
                        format!("HTTP {}", resp.status),
                        matches!(resp.status, 429 | 503),
                    ),
                    status => {
                        return Err(CallError::Mail(MailError::Unusable(format!(
                            "{} answered HTTP {status}: check the service URL",
                            self.url
                        ))));
                    }
                },
                Err(HostError::Unavailable(m)) => (None, m, false),
                Err(HostError::Invalid(m)) if m.contains("larger than") => {
                    return Err(CallError::TooLarge(m));
                }
                Err(HostError::Denied(m)) => {
                    return Err(CallError::Mail(MailError::Unusable(format!(
                        "the ERP host does not let the component reach the Exchange server ({m})"
                    ))));
                }
                Err(e) => return Err(CallError::Mail(MailError::Unavailable(e.to_string()))),
            };
            let wait = wait.unwrap_or_else(|| Patience::backoff(self.host, attempt));
            if throttled {
                self.patience.throttled_waits += 1;
            }
            if throttled && !self.patience.can_wait(wait) {
                return Err(CallError::Mail(MailError::Throttled {
                    retry_after_secs: wait.as_secs().max(1) as u32,
                    text: format!("Exchange is busy and throttles the job ({why})"),
                }));
            }
            if attempt >= MAX_ATTEMPTS || !self.patience.can_wait(wait) {
                return Err(CallError::Mail(MailError::Unavailable(format!(
                    "Exchange did not answer after {attempt} attempts ({why})"
                ))));
            }
            let reason = if throttled {
                format!("Exchange is busy and throttles the job ({why})")
            } else {
                format!("retrying after {why}")
            };
            Patience::wait(self.host, wait, &reason);
        }
    }

    fn refused_sign_in(&self, headers: &[(String, String)]) -> MailError {
        let offers_basic = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("www-authenticate")
                && v.to_ascii_lowercase().starts_with("basic")
        });
        MailError::SignInLost(match &self.auth {
            EwsAuth::Basic { .. } if !offers_basic && self.owa_host.ends_with("office365.com") => {
                "Exchange Online refused Basic authentication (HTTP 401): it takes OAuth2 only; set the authentication to oauth2".into()
            }
            EwsAuth::Basic { .. } => format!(
                "Exchange refused the user name and password of {} (HTTP 401): check them in the setup",
                self.account
            ),
            EwsAuth::Bearer(_) => "Exchange refused the access token (HTTP 401): check the app's EWS permission (full_access_as_app) and consent".into(),
        })
    }

    /// Reads an answer, remembering whether the URL speaks EWS.
    fn read(&mut self, body: &[u8]) -> Result<Vec<Response>, Fault> {
        let read = soap::read(body);
        if !matches!(read, Err(Fault::NotEws(_))) {
            self.answered = true;
        }
        read
    }

    /// An operation that must answer exactly one response message.
    pub fn call_one(&mut self, request: Request) -> Result<Response, MailError> {
        let answer = self.call(request);
        self.only(answer)
    }

    /// The one response message of an answer (see [`Client::call_one`]).
    pub fn only(&self, answer: Result<Vec<Response>, CallError>) -> Result<Response, MailError> {
        let mut messages = answer.map_err(|e| self.mail_error(e))?;
        let first = messages.drain(..).next().ok_or_else(|| {
            MailError::Unavailable("Exchange answered no response message".into())
        })?;
        match first.fault() {
            Some(f) => Err(code_error(f)),
            None => Ok(first),
        }
    }

    pub fn mail_error(&self, e: CallError) -> MailError {
        match e {
            CallError::Code(f) => code_error(f),
            CallError::TooLarge(m) => MailError::Refused(m),
            CallError::Malformed(m) => {
                MailError::Unavailable(format!("Exchange's answer is not well-formed XML ({m})"))
            }
            CallError::Mail(m) => m,
        }
    }
}

/// What an `ErrorServerBusy` asks: its back-off as given (at least 100 ms,
/// so a zero never turns into a storm of retries; 30 s when it names none).
fn busy_wait(back_off_ms: Option<u64>) -> (Option<Duration>, String, bool) {
    let wait = Duration::from_millis(back_off_ms.unwrap_or(30_000).max(100));
    (
        Some(wait),
        format!("ErrorServerBusy, back off {} ms", wait.as_millis()),
        true,
    )
}

/// What an EWS response code means for the pipeline.
pub fn code_error(f: Fault) -> MailError {
    let Fault::Code {
        code,
        text,
        back_off_ms,
    } = f
    else {
        return MailError::Unavailable(f.to_string());
    };
    let said = format!("{code}: {text}");
    match code.as_str() {
        "ErrorServerBusy" => MailError::Throttled {
            retry_after_secs: back_off_ms.unwrap_or(30_000).div_ceil(1000).max(1) as u32,
            text: said,
        },
        "ErrorItemNotFound" => MailError::Gone(said),
        "ErrorQuotaExceeded" | "ErrorFolderSizeLimitExceeded" => MailError::Full(said),
        "ErrorAccessDenied"
        | "ErrorNonExistentMailbox"
        | "ErrorImpersonateUserDenied"
        | "ErrorImpersonationDenied"
        | "ErrorFolderNotFound"
        | "ErrorNoPublicFolderReplicaAvailable"
        | "ErrorInvalidServerVersion"
        | "ErrorIncorrectSchemaVersion"
        | "ErrorInvalidSchemaVersionForMailboxVersion" => MailError::Unusable(said),
        "ErrorTimeoutExpired"
        | "ErrorInternalServerTransientError"
        | "ErrorMailboxStoreUnavailable"
        | "ErrorConnectionFailed"
        | "ErrorMailboxMoveInProgress"
        | "ErrorInternalServerError"
        | "ErrorBatchProcessingStopped" => MailError::Unavailable(said),
        _ => MailError::Refused(said),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes_mean_what_the_pipeline_needs() {
        let code = |c: &str| {
            code_error(Fault::Code {
                code: c.into(),
                text: "t".into(),
                back_off_ms: Some(1_500),
            })
        };
        assert!(matches!(
            code("ErrorServerBusy"),
            MailError::Throttled {
                retry_after_secs: 2,
                ..
            }
        ));
        assert!(matches!(code("ErrorItemNotFound"), MailError::Gone(_)));
        assert!(matches!(code("ErrorQuotaExceeded"), MailError::Full(_)));
        assert!(matches!(code("ErrorAccessDenied"), MailError::Unusable(_)));
        assert!(matches!(
            code("ErrorTimeoutExpired"),
            MailError::Unavailable(_)
        ));
        assert!(matches!(
            code("ErrorInvalidIdMalformed"),
            MailError::Refused(_)
        ));
    }
}
