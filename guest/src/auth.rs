//! Signing in to Entra ID: delegated (authorization code + PKCE, refresh
//! tokens that rotate) and application (client credentials).
//!
//! Tokens are kept as host secrets, so the host encrypts them at rest; no
//! token or secret ever goes into an error text or a log field.

use crate::host::{Host, HostError, HttpRequest};
use crate::setup::{AuthMode, CLIENT_SECRET, Setup, SetupError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Entra ID's login host.
pub const LOGIN_BASE: &str = "https://login.microsoftonline.com";
/// What the delegated job asks for. `openid profile` only adds the id token
/// that tells the administrator which account signed in.
pub const DELEGATED_SCOPE: &str =
    "offline_access https://graph.microsoft.com/Mail.ReadWrite.Shared openid profile";
/// What an application token asks for.
pub const APPLICATION_SCOPE: &str = "https://graph.microsoft.com/.default";

/// What the delegated job asks for to read public folders over EWS.
pub const EXCHANGE_DELEGATED_SCOPE: &str =
    "offline_access https://outlook.office365.com/EWS.AccessAsUser.All openid profile";
/// What an application token for EWS asks for (`full_access_as_app`).
pub const EXCHANGE_APPLICATION_SCOPE: &str = "https://outlook.office365.com/.default";

const REFRESH_TOKEN: &str = "refresh-token";
const ACCESS_TOKEN: &str = "access-token";
const EXCHANGE_ACCESS_TOKEN: &str = "exchange-access-token";

/// What an access token is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Resource {
    /// Microsoft Graph (the new experience).
    #[default]
    Graph,
    /// Exchange Web Services in Exchange Online (the current experience).
    Exchange,
}

impl Resource {
    /// The resource the setup's experience signs in to.
    pub fn of(setup: &Setup) -> Self {
        match setup.experience {
            crate::setup::Experience::Graph => Self::Graph,
            crate::setup::Experience::Ews => Self::Exchange,
        }
    }

    fn delegated_scope(self) -> &'static str {
        match self {
            Self::Graph => DELEGATED_SCOPE,
            Self::Exchange => EXCHANGE_DELEGATED_SCOPE,
        }
    }

    fn application_scope(self) -> &'static str {
        match self {
            Self::Graph => APPLICATION_SCOPE,
            Self::Exchange => EXCHANGE_APPLICATION_SCOPE,
        }
    }

    /// Where its access token is cached; the refresh token serves both.
    fn cache(self) -> &'static str {
        match self {
            Self::Graph => ACCESS_TOKEN,
            Self::Exchange => EXCHANGE_ACCESS_TOKEN,
        }
    }
}
const PENDING_SIGN_IN: &str = "pending-sign-in";
/// Renew this long before expiry so a token never dies mid-request.
const EXPIRY_MARGIN_S: i64 = 60;
/// A started sign-in is good for this long (Entra's codes live ~10 minutes).
const SIGN_IN_LIFETIME_S: i64 = 15 * 60;

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Setup values are missing.
    #[error("{0}")]
    Incomplete(String),
    /// The grant is gone; a person must sign in again.
    #[error("{0}")]
    SignInRequired(String),
    /// The app registration refused the client id or secret.
    #[error("{0}")]
    InvalidClient(String),
    /// A transient failure; the next attempt may work.
    #[error("{0}")]
    Transient(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

impl From<HostError> for AuthError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Unavailable(m) => AuthError::Transient(m),
            other => AuthError::Failed(other.to_string()),
        }
    }
}

/// What a sign-in failure means for the pipeline.
impl From<AuthError> for crate::mail_store::MailError {
    fn from(a: AuthError) -> Self {
        use crate::mail_store::MailError;
        match a {
            AuthError::SignInRequired(m) | AuthError::InvalidClient(m) => MailError::SignInLost(m),
            AuthError::Incomplete(m) => MailError::Incomplete(m),
            AuthError::Transient(m) | AuthError::Failed(m) => MailError::Unavailable(m),
        }
    }
}

/// The app registration as resolved for one call.
#[derive(Debug)]
pub struct Credentials {
    /// The client id.
    pub client_id: String,
    /// The client secret; its `Debug` never shows it.
    pub client_secret: SecretString,
    /// The redirect URL, needed for delegated sign-in only.
    pub redirect_url: Option<String>,
}

/// Resolves client id, secret and redirect URL: the host's callbacks first
/// (`OnGetEmailLoggingClientId`/`...Secret`), then the setup record.
pub fn credentials(host: &dyn Host, setup: &Setup) -> Result<Credentials, AuthError> {
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let client_id = nonempty(host.host_client_id())
        .or_else(|| setup.client_id.clone())
        .ok_or_else(|| {
            AuthError::Incomplete(
                "no client id: enter the app registration's Application (client) ID in the setup, or let the host supply it".into(),
            )
        })?;
    let client_secret = match nonempty(host.host_client_secret()) {
        Some(s) => s,
        None => nonempty(host.secret_get(CLIENT_SECRET)?).ok_or_else(|| {
            AuthError::Incomplete(
                "no client secret: enter the app registration's client secret value in the setup, or let the host supply it".into(),
            )
        })?,
    };
    let redirect_url = nonempty(host.host_redirect_url()).or_else(|| setup.redirect_url.clone());
    Ok(Credentials {
        client_id,
        client_secret: client_secret.into(),
        redirect_url,
    })
}

#[derive(Serialize, Deserialize)]
struct StoredToken {
    token: String,
    expires_at: i64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct TokenErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Hands out access tokens for one call, renewing them when they expire.
#[derive(Default)]
pub struct TokenSource {
    resource: Resource,
    cached: Option<StoredToken>,
    /// Token requests made (for the run report).
    pub requests: u32,
}

impl TokenSource {
    /// A source of tokens for `resource`.
    pub fn for_resource(resource: Resource) -> Self {
        Self {
            resource,
            ..Self::default()
        }
    }

    /// A valid access token, from memory, from the host's secrets, or newly obtained.
    pub fn access_token(&mut self, host: &dyn Host, setup: &Setup) -> Result<String, AuthError> {
        let now = host.now().timestamp();
        let fresh = |t: &StoredToken| t.expires_at - EXPIRY_MARGIN_S > now;
        if let Some(t) = self.cached.as_ref().filter(|t| fresh(t)) {
            return Ok(t.token.clone());
        }
        if let Some(text) = host.secret_get(self.resource.cache())?
            && let Ok(t) = serde_json::from_str::<StoredToken>(&text)
            && fresh(&t)
        {
            let token = t.token.clone();
            self.cached = Some(t);
            return Ok(token);
        }
        let creds = credentials(host, setup)?;
        let response = match setup.auth_mode {
            AuthMode::Delegated => {
                let refresh = host.secret_get(REFRESH_TOKEN)?.ok_or_else(|| {
                    AuthError::SignInRequired(
                        "nobody has signed in yet: sign in with the job account (setup sign-in)"
                            .into(),
                    )
                })?;
                let resp = self.token_request(
                    host,
                    &setup.tenant,
                    &[
                        ("client_id", creds.client_id.as_str()),
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh.as_str()),
                        ("scope", self.resource.delegated_scope()),
                        ("client_secret", creds.client_secret.expose_secret()),
                    ],
                )?;
                // Refresh tokens rotate: keep the newest before using anything else.
                if let Some(r) = &resp.refresh_token {
                    host.secret_put(REFRESH_TOKEN, r.expose_secret())?;
                }
                resp
            }
            AuthMode::Application => {
                check_application_tenant(&setup.tenant)?;
                self.token_request(
                    host,
                    &setup.tenant,
                    &[
                        ("client_id", creds.client_id.as_str()),
                        ("grant_type", "client_credentials"),
                        ("scope", self.resource.application_scope()),
                        ("client_secret", creds.client_secret.expose_secret()),
                    ],
                )?
            }
        };
        Ok(self.keep(host, response)?)
    }

    /// Forgets the current access token (after Graph answered 401).
    pub fn invalidate(&mut self, host: &dyn Host) {
        self.cached = None;
        if let Err(e) = host.secret_remove(self.resource.cache()) {
            host.log(
                crate::host::Level::Warn,
                "could not drop the cached access token",
                &[("error", &e.to_string())],
            );
        }
    }

    fn keep(&mut self, host: &dyn Host, resp: TokenResponse) -> Result<String, HostError> {
        let expires_at = host.now().timestamp() + resp.expires_in.unwrap_or(3600).clamp(0, 86_400);
        let stored = StoredToken {
            token: resp.access_token.expose_secret().to_string(),
            expires_at,
        };
        let text = serde_json::to_string(&stored)
            .map_err(|e| HostError::Internal(format!("cannot encode a token: {e}")))?;
        host.secret_put(self.resource.cache(), &text)?;
        let token = stored.token.clone();
        self.cached = Some(stored);
        Ok(token)
    }

    fn token_request(
        &mut self,
        host: &dyn Host,
        tenant: &str,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, AuthError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let url = format!(
            "{LOGIN_BASE}/{}/oauth2/v2.0/token",
            url::form_urlencoded::byte_serialize(tenant.as_bytes()).collect::<String>()
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests += 1;
            let result = host.http_send(HttpRequest {
                method: "POST".into(),
                url: url.clone(),
                headers: vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )],
                body: Some(body.clone().into_bytes()),
                timeout_ms: Some(30_000),
                sensitive: true,
            });
            let transient = match result {
                Ok(resp) if resp.status == 200 => {
                    return serde_json::from_slice(&resp.body).map_err(|_| {
                        AuthError::Failed(
                            "the token endpoint answered with an unreadable token response".into(),
                        )
                    });
                }
                Ok(resp) if resp.status == 429 || resp.status >= 500 => {
                    format!("the token endpoint answered HTTP {}", resp.status)
                }
                Ok(resp) => return Err(token_error(resp.status, &resp.body)),
                Err(HostError::Unavailable(m)) => m,
                Err(e) => return Err(e.into()),
            };
            if attempt >= 3 {
                return Err(AuthError::Transient(transient));
            }
            host.sleep(Duration::from_millis(500 * attempt));
        }
    }
}

/// Maps Entra's error JSON to an error that says what to do; only the first
/// line of `error_description` is kept (the rest is trace ids).
fn token_error(status: u16, body: &[u8]) -> AuthError {
    let err: TokenErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let first = err.error_description.lines().next().unwrap_or("").trim();
    let said = if first.is_empty() {
        format!("HTTP {status} {}", err.error)
    } else {
        first.chars().take(400).collect()
    };
    match err.error.as_str() {
        "invalid_grant" => AuthError::SignInRequired(format!(
            "sign-in required: {said}. Sign in again with the job account (setup sign-in)"
        )),
        "invalid_client" => AuthError::InvalidClient(format!(
            "the app registration refused the client credentials: {said}. Check the client secret value (not its ID) and that it has not expired"
        )),
        "unauthorized_client" => AuthError::InvalidClient(format!(
            "the app registration was not found: {said}. Check the client id and the tenant"
        )),
        _ => AuthError::Failed(format!("the token request failed: {said}")),
    }
}

fn check_application_tenant(tenant: &str) -> Result<(), AuthError> {
    if ["common", "organizations", "consumers"].contains(&tenant.to_lowercase().as_str()) {
        Err(AuthError::Incomplete(
            "application sign-in needs the tenant's id or domain, not common/organizations".into(),
        ))
    } else {
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct PendingSignIn {
    state: String,
    verifier: String,
    started_at: i64,
}

/// Starts a delegated sign-in: stores state and PKCE verifier, returns the
/// authorize URL.
pub fn begin_sign_in(
    host: &dyn Host,
    setup: &Setup,
    account: Option<&str>,
) -> Result<String, SetupError> {
    if setup.auth_mode != AuthMode::Delegated {
        return Err(SetupError::Incomplete(
            "sign-in is for delegated mode; application mode needs no sign-in, only admin consent"
                .into(),
        ));
    }
    let creds = credentials(host, setup).map_err(auth_to_setup)?;
    let redirect = creds.redirect_url.ok_or_else(|| {
        SetupError::Incomplete(
            "no redirect URL: enter the app registration's redirect URL in the setup".into(),
        )
    })?;
    let state = random_text(host)?;
    let verifier = random_text(host)?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let pending = PendingSignIn {
        state: state.clone(),
        verifier,
        started_at: host.now().timestamp(),
    };
    let text = serde_json::to_string(&pending)
        .map_err(|e| SetupError::Host(HostError::Internal(e.to_string())))?;
    host.secret_put(PENDING_SIGN_IN, &text)?;
    let mut url = url::Url::parse(&format!("{LOGIN_BASE}/"))
        .map_err(|e| SetupError::Host(HostError::Internal(e.to_string())))?;
    url.path_segments_mut()
        .map_err(|_| SetupError::Host(HostError::Internal("bad login URL".into())))?
        .pop_if_empty()
        .extend([setup.tenant.as_str(), "oauth2", "v2.0", "authorize"]);
    url.query_pairs_mut()
        .append_pair("client_id", &creds.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect)
        .append_pair("response_mode", "query")
        .append_pair("scope", Resource::of(setup).delegated_scope())
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "select_account");
    if let Some(a) = account.map(str::trim).filter(|a| !a.is_empty()) {
        url.query_pairs_mut().append_pair("login_hint", a);
    }
    Ok(url.into())
}

/// The tenant-wide admin consent URL for the app registration.
pub fn admin_consent_url(host: &dyn Host, setup: &Setup) -> Result<String, SetupError> {
    let creds = credentials(host, setup).map_err(auth_to_setup)?;
    let redirect = creds.redirect_url.ok_or_else(|| {
        SetupError::Incomplete(
            "no redirect URL: enter the app registration's redirect URL in the setup".into(),
        )
    })?;
    let tenant = if setup.tenant.eq_ignore_ascii_case("common") {
        "organizations"
    } else {
        setup.tenant.as_str()
    };
    let mut url = url::Url::parse(&format!("{LOGIN_BASE}/"))
        .map_err(|e| SetupError::Host(HostError::Internal(e.to_string())))?;
    url.path_segments_mut()
        .map_err(|_| SetupError::Host(HostError::Internal("bad login URL".into())))?
        .pop_if_empty()
        .extend([tenant, "v2.0", "adminconsent"]);
    url.query_pairs_mut()
        .append_pair("client_id", &creds.client_id)
        .append_pair("scope", Resource::of(setup).application_scope())
        .append_pair("redirect_uri", &redirect)
        .append_pair("state", &random_text(host)?);
    Ok(url.into())
}

/// Drops the cached access token so the next request obtains a new one.
pub fn forget_access_token(host: &dyn Host) -> Result<(), HostError> {
    host.secret_remove(ACCESS_TOKEN)?;
    host.secret_remove(EXCHANGE_ACCESS_TOKEN)
}

/// Completes a delegated sign-in from the redirect's query string: checks
/// `state`, redeems the code, stores the refresh token. Updates `setup`.
pub fn complete_sign_in(host: &dyn Host, setup: &mut Setup, query: &str) -> Result<(), SetupError> {
    let query = query.trim_start_matches('?');
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let pending: PendingSignIn = host
        .secret_get(PENDING_SIGN_IN)?
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| {
            SetupError::Incomplete("no sign-in was started: start the sign-in first".into())
        })?;
    if get("state").as_deref() != Some(pending.state.as_str()) {
        return Err(SetupError::StateMismatch);
    }
    host.secret_remove(PENDING_SIGN_IN)?;
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or_default();
        let first = description
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(400)
            .collect::<String>();
        return Err(SetupError::SignInFailed(format!(
            "the sign-in was not completed ({error}): {first}"
        )));
    }
    if host.now().timestamp() - pending.started_at > SIGN_IN_LIFETIME_S {
        return Err(SetupError::SignInFailed(
            "the sign-in took too long: start it again".into(),
        ));
    }
    let code = get("code")
        .ok_or_else(|| SetupError::SignInFailed("the sign-in response has no code".into()))?;
    let creds = credentials(host, setup).map_err(auth_to_setup)?;
    let redirect = creds.redirect_url.clone().unwrap_or_default();
    let mut source = TokenSource::for_resource(Resource::of(setup));
    let resp = source
        .token_request(
            host,
            &setup.tenant,
            &[
                ("client_id", creds.client_id.as_str()),
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect.as_str()),
                ("code_verifier", pending.verifier.as_str()),
                ("scope", source.resource.delegated_scope()),
                ("client_secret", creds.client_secret.expose_secret()),
            ],
        )
        .map_err(auth_to_setup)?;
    let refresh = resp
        .refresh_token
        .as_ref()
        .map(|r| r.expose_secret().to_string())
        .ok_or_else(|| {
            SetupError::SignInFailed(
                "Entra ID returned no refresh token: the app must be allowed offline_access".into(),
            )
        })?;
    host.secret_put(REFRESH_TOKEN, &refresh)?;
    setup.signed_in_account = resp.id_token.as_deref().and_then(account_of);
    source.keep(host, resp)?;
    setup.consent_given = true;
    setup.status = crate::setup::STATUS_OK.into();
    Ok(())
}

/// Removes every token this module keeps.
pub fn forget_tokens(host: &dyn Host) -> Result<(), HostError> {
    for name in [
        REFRESH_TOKEN,
        ACCESS_TOKEN,
        EXCHANGE_ACCESS_TOKEN,
        PENDING_SIGN_IN,
    ] {
        host.secret_remove(name)?;
    }
    Ok(())
}

/// Whether a refresh token is stored.
pub fn has_refresh_token(host: &dyn Host) -> Result<bool, HostError> {
    Ok(host.secret_get(REFRESH_TOKEN)?.is_some())
}

/// The account named in an id token. The token came straight from Entra
/// over TLS, so its payload is read without checking the signature.
fn account_of(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    ["preferred_username", "upn", "email"]
        .iter()
        .find_map(|k| claims.get(k).and_then(|v| v.as_str()))
        .map(str::to_string)
}

fn random_text(host: &dyn Host) -> Result<String, HostError> {
    let mut buf = [0u8; 32];
    host.random(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// Maps a token failure to the setup error an administrator sees.
pub fn auth_to_setup(e: AuthError) -> SetupError {
    match e {
        AuthError::Incomplete(m) => SetupError::Incomplete(m),
        AuthError::SignInRequired(m) | AuthError::InvalidClient(m) | AuthError::Failed(m) => {
            SetupError::SignInFailed(m)
        }
        AuthError::Transient(m) => SetupError::Host(HostError::Unavailable(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_say_what_to_do_and_drop_trace_lines() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: 1\r\nCorrelation ID: 2"}"#;
        let AuthError::SignInRequired(m) = token_error(400, body) else {
            panic!()
        };
        assert!(m.contains("AADSTS700082") && m.contains("Sign in again"));
        assert!(!m.contains("Trace ID"));
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
        assert!(
            matches!(token_error(401, body), AuthError::InvalidClient(m) if m.contains("AADSTS7000215"))
        );
        assert!(matches!(token_error(400, b"<html>"), AuthError::Failed(_)));
    }

    #[test]
    fn reads_the_account_from_an_id_token() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"preferred_username":"agent@cronus.example"}"#);
        assert_eq!(
            account_of(&format!("e30.{payload}.")).as_deref(),
            Some("agent@cronus.example")
        );
        assert_eq!(account_of("garbage"), None);
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let c = Credentials {
            client_id: "id".into(),
            client_secret: SecretString::from("s3cr3t"),
            redirect_url: None,
        };
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
