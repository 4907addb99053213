//! Entra ID (Microsoft identity platform v2) endpoints: `/authorize`, `/token` and admin consent.
//!
//! Error bodies follow Entra's shape (`AADSTSnnn: text` plus trace ids) and never contain a
//! secret, code or token from the request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::AppRegistration;
use crate::ids::{random_token, tenant_id, uuid_like};
use crate::state::{AccessToken, Audience, AuthCode, Inner, Principal, RefreshToken, State};

/// How long an authorization code can be redeemed, as in Entra.
const CODE_LIFETIME: Duration = Duration::from_secs(600);
const GRAPH_DEFAULT_SCOPES: &[&str] = &[
    "https://graph.microsoft.com/.default",
    "00000003-0000-0000-c000-000000000000/.default",
];
/// Exchange Online's resource, for EWS: app-only tokens ask for its `.default`.
const OUTLOOK_DEFAULT_SCOPES: &[&str] = &[
    "https://outlook.office365.com/.default",
    "https://outlook.office.com/.default",
    "00000002-0000-0ff1-ce00-000000000000/.default",
];
/// Prefixes of delegated scopes for Exchange Online (`.../EWS.AccessAsUser.All`).
const OUTLOOK_RESOURCES: &[&str] = &[
    "https://outlook.office365.com/",
    "https://outlook.office.com/",
    "00000002-0000-0ff1-ce00-000000000000/",
];

/// Which resource a token for this scope is for: Outlook when any scope names it.
fn audience_of(scope: &str) -> Audience {
    let outlook = scope.split_whitespace().any(|s| {
        OUTLOOK_RESOURCES
            .iter()
            .any(|r| s.len() > r.len() && s[..r.len()].eq_ignore_ascii_case(r))
    });
    if outlook {
        Audience::Outlook
    } else {
        Audience::Graph
    }
}

/// An OAuth error as Entra reports it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error} AADSTS{code}: {text}")]
pub(crate) struct AadError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    text: String,
}

impl AadError {
    fn new(error: &'static str, code: u32, text: impl Into<String>) -> Self {
        AadError {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            text: text.into(),
        }
    }

    fn missing(param: &str) -> Self {
        Self::new(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }

    fn invalid_grant(code: u32, text: &str) -> Self {
        Self::new("invalid_grant", code, text)
    }

    fn malformed_grant() -> Self {
        Self::invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
    }

    fn inactive_grant() -> Self {
        Self::invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    fn into_response(self) -> Response {
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let trace_id = uuid_like();
        let correlation_id = uuid_like();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.text
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        no_store_json(self.status, &body)
    }
}

fn no_store_json(status: StatusCode, body: &Value) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    (status, headers, body.to_string()).into_response()
}

fn params(raw: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        // The first value wins; a repeated parameter must not override what was checked.
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

fn get<'a>(p: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    p.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// Compares secrets without an early exit, so timing reveals nothing about the expected value.
pub(crate) fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// Answer for a token request that is not a POST.
pub(crate) fn post_only(method: &str) -> Response {
    let method: String = method.chars().take(10).collect();
    AadError::new(
        "invalid_request",
        900561,
        format!("The endpoint only accepts POST, OPTIONS requests. Received a {method} request."),
    )
    .into_response()
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) fn token(inner: &Inner, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    match token_inner(inner, tenant, headers, body) {
        Ok(v) => no_store_json(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

fn token_inner(
    inner: &Inner,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, AadError> {
    let form = params(body);
    let result = grant(inner, tenant, headers, &form);
    // Entra burns an authorization code on any failed redemption (wrong verifier, redirect
    // URI, client or secret): whoever tried it, the code can no longer be redeemed.
    if result.is_err()
        && get(&form, "grant_type") == Some("authorization_code")
        && let Some(code) = get(&form, "code")
        && let Some(entry) = inner.lock().codes.get_mut(code)
    {
        entry.burned = true;
    }
    result
}

fn grant(
    inner: &Inner,
    tenant: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Value, AadError> {
    let basic = basic_credentials(headers);
    let grant = get(form, "grant_type").ok_or_else(|| AadError::missing("grant_type"))?;
    let client_id = get(form, "client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| AadError::missing("client_id"))?;
    let app = inner
        .config
        .app(&client_id)
        .ok_or_else(|| unknown_app(&client_id, tenant))?;
    let secret = get(form, "client_secret")
        .map(str::to_string)
        .or_else(|| basic.map(|(_, s)| s));
    authenticate_client(app, secret.as_deref())?;
    let mut st = inner.lock();
    match grant {
        "authorization_code" => code_grant(inner, &mut st, app, tenant, form),
        "refresh_token" => refresh_grant(inner, &mut st, app, tenant, form),
        "client_credentials" => {
            let scope = get(form, "scope").ok_or_else(|| AadError::missing("scope"))?;
            let granted = if OUTLOOK_DEFAULT_SCOPES
                .iter()
                .any(|s| s.eq_ignore_ascii_case(scope))
            {
                OUTLOOK_DEFAULT_SCOPES[0]
            } else {
                GRAPH_DEFAULT_SCOPES[0]
            };
            if !GRAPH_DEFAULT_SCOPES
                .iter()
                .chain(OUTLOOK_DEFAULT_SCOPES)
                .any(|s| s.eq_ignore_ascii_case(scope))
            {
                return Err(AadError::new(
                    "invalid_scope",
                    1002012,
                    format!(
                        "The provided value for scope {} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                        scope.chars().take(200).collect::<String>()
                    ),
                ));
            }
            Ok(issue(
                inner,
                &mut st,
                Principal::App,
                granted,
                app,
                tenant,
                false,
                None,
            ))
        }
        other => Err(AadError::new(
            "unsupported_grant_type",
            70003,
            format!(
                "The app requested an unsupported grant type '{}'.",
                other.chars().take(60).collect::<String>()
            ),
        )),
    }
}

fn unknown_app(client_id: &str, tenant: &str) -> AadError {
    let id: String = client_id.chars().take(100).collect();
    AadError::new(
        "unauthorized_client",
        700016,
        format!(
            "Application with identifier '{id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
    )
}

fn authenticate_client(app: &AppRegistration, secret: Option<&str>) -> Result<(), AadError> {
    if app.client_secret.expose_secret().is_empty() {
        // A public client proves nothing with a secret; PKCE protects its codes.
        return Ok(());
    }
    let mut err = match secret {
        None => AadError::new(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ),
        Some(s) if secret_eq(s, app.client_secret.expose_secret()) => return Ok(()),
        Some(_) => AadError::new(
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.client_id
            ),
        ),
    };
    err.status = StatusCode::UNAUTHORIZED;
    Err(err)
}

fn code_grant(
    inner: &Inner,
    st: &mut State,
    app: &AppRegistration,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<Value, AadError> {
    let code = get(form, "code").ok_or_else(|| AadError::missing("code"))?;
    let entry = st
        .codes
        .get(code)
        .cloned()
        .ok_or_else(AadError::malformed_grant)?;
    if entry.redeemed {
        return Err(AadError::invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        ));
    }
    if entry.burned {
        return Err(AadError::invalid_grant(
            70000,
            "Provided grant is invalid or malformed. The authorization code was invalidated by an earlier failed redemption; send a new interactive authorization request.",
        ));
    }
    if entry.issued.elapsed() > CODE_LIFETIME {
        return Err(AadError::inactive_grant());
    }
    if entry.client_id != app.client_id {
        return Err(AadError::invalid_grant(
            70000,
            "Provided grant is invalid or malformed. The authorization code was issued to another application.",
        ));
    }
    let redirect = get(form, "redirect_uri").ok_or_else(|| AadError::missing("redirect_uri"))?;
    if redirect != entry.redirect_uri {
        return Err(AadError::invalid_grant(
            500112,
            "The reply address does not match the reply address provided when requesting the authorization code.",
        ));
    }
    if let Some((challenge, method)) = &entry.challenge {
        let verifier = get(form, "code_verifier").unwrap_or("");
        let computed = if method.eq_ignore_ascii_case("S256") {
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        } else {
            verifier.to_string()
        };
        if verifier.is_empty() || !secret_eq(&computed, challenge) {
            return Err(AadError::invalid_grant(
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
    }
    if let Some(c) = st.codes.get_mut(code) {
        c.redeemed = true;
    }
    let offline = has_scope(&entry.scope, "offline_access");
    Ok(issue(
        inner,
        st,
        Principal::User(entry.user),
        &entry.scope,
        app,
        tenant,
        offline,
        entry.nonce.as_deref(),
    ))
}

fn refresh_grant(
    inner: &Inner,
    st: &mut State,
    app: &AppRegistration,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<Value, AadError> {
    let rt = get(form, "refresh_token").ok_or_else(|| AadError::missing("refresh_token"))?;
    let entry = st
        .refresh_tokens
        .get(rt)
        .cloned()
        .ok_or_else(AadError::malformed_grant)?;
    if entry.client_id != app.client_id {
        return Err(AadError::invalid_grant(
            70000,
            "Provided grant is invalid or malformed. The refresh token was issued to another application.",
        ));
    }
    if entry.expired {
        return Err(AadError::invalid_grant(
            700082,
            "The refresh token has expired due to inactivity. The token was issued on a date before the emulator expired it and was inactive for 90.00:00:00.",
        ));
    }
    if entry.redeemed && inner.config.strict_refresh_rotation {
        return Err(AadError::inactive_grant());
    }
    if let Some(e) = st.refresh_tokens.get_mut(rt) {
        e.redeemed = true;
    }
    let scope = get(form, "scope").unwrap_or(&entry.scope).to_string();
    Ok(issue(
        inner,
        st,
        Principal::User(entry.user),
        &scope,
        app,
        tenant,
        true,
        // A refreshed id_token carries no nonce: there is no authentication request to echo.
        None,
    ))
}

fn has_scope(scope: &str, name: &str) -> bool {
    scope
        .split_whitespace()
        .any(|s| s.eq_ignore_ascii_case(name))
}

/// Creates the token response and remembers the tokens it contains. `nonce` is the one of the
/// authorize request the code came from, echoed in the id_token as Entra does.
#[allow(clippy::too_many_arguments)]
fn issue(
    inner: &Inner,
    st: &mut State,
    principal: Principal,
    scope: &str,
    app: &AppRegistration,
    tenant: &str,
    with_refresh: bool,
    nonce: Option<&str>,
) -> Value {
    let lifetime = inner.config.access_token_lifetime;
    let access = random_token("eyJ0eXAiOiJFTVUi.");
    st.access_tokens.insert(
        access.clone(),
        AccessToken {
            principal: principal.clone(),
            audience: audience_of(scope),
            client_id: app.client_id.clone(),
            expires_at: Instant::now() + lifetime,
            last_request: None,
        },
    );
    let mut out = Map::new();
    out.insert("token_type".into(), "Bearer".into());
    out.insert("scope".into(), scope.into());
    out.insert("expires_in".into(), lifetime.as_secs().into());
    out.insert("ext_expires_in".into(), lifetime.as_secs().into());
    out.insert("access_token".into(), access.into());
    if let Principal::User(user) = &principal {
        if with_refresh {
            let rt = random_token("1.AQoA");
            st.refresh_tokens.insert(
                rt.clone(),
                RefreshToken {
                    client_id: app.client_id.clone(),
                    user: user.clone(),
                    scope: scope.to_string(),
                    redeemed: false,
                    expired: false,
                },
            );
            out.insert("refresh_token".into(), rt.into());
        }
        if has_scope(scope, "openid") || has_scope(scope, "profile") {
            out.insert(
                "id_token".into(),
                id_token(user, &app.client_id, tenant, lifetime, nonce).into(),
            );
        }
    }
    Value::Object(out)
}

/// Stable object id for a user, so that repeated sign-ins look like the same account.
pub(crate) fn object_id(upn: &str) -> String {
    let h = Sha256::digest(upn.to_ascii_lowercase().as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An id_token signed with RS256 by the emulator's key, which the JWKS of its discovery
/// document publishes (see [`crate::oidc`]), so OpenID Connect clients can verify it.
fn id_token(
    upn: &str,
    client_id: &str,
    tenant: &str,
    lifetime: Duration,
    nonce: Option<&str>,
) -> String {
    let tid = tenant_id(tenant);
    let now = chrono::Utc::now().timestamp();
    let name = upn.split('@').next().unwrap_or(upn);
    let mut payload = json!({
        "aud": client_id,
        "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
        "iat": now,
        "nbf": now,
        "exp": now + i64::try_from(lifetime.as_secs()).unwrap_or(3600),
        "name": name,
        "oid": object_id(upn),
        "preferred_username": upn,
        "sub": object_id(&format!("sub:{upn}:{client_id}")),
        "tid": tid,
        "ver": "2.0",
    });
    if let Some(nonce) = nonce {
        payload["nonce"] = nonce.into();
    }
    crate::oidc::sign_jwt(&payload)
}

fn html(status: StatusCode, title: &str, text: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html><head><title>{}</title></head><body><h1>{}</h1><p>{}</p></body></html>",
        escape(title),
        escape(title),
        escape(text)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn redirect(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let location = match url::Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            let sep = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{sep}{}", q.finish())
        }
    };
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => html(
            StatusCode::BAD_REQUEST,
            "Sign in failed",
            "AADSTS50011: The redirect URI cannot be used.",
        ),
    }
}

/// Checks client and redirect URI; on failure answers with a page instead of redirecting,
/// because redirecting to an unregistered URI would leak the code to a stranger.
fn check_client<'a>(
    inner: &'a Inner,
    tenant: &str,
    q: &HashMap<String, String>,
) -> Result<(&'a AppRegistration, String), Box<Response>> {
    let Some(client_id) = get(q, "client_id") else {
        return Err(Box::new(html(
            StatusCode::BAD_REQUEST,
            "Sign in failed",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        )));
    };
    let Some(app) = inner.config.app(client_id) else {
        let e = unknown_app(client_id, tenant);
        return Err(Box::new(html(
            StatusCode::BAD_REQUEST,
            "Sign in failed",
            &format!("AADSTS{}: {}", e.code, e.text),
        )));
    };
    let redirect_uri = match get(q, "redirect_uri") {
        Some(r) => r.to_string(),
        // Entra falls back to the registered URI when there is exactly one.
        None if app.redirect_uris.len() == 1 => app.redirect_uris[0].clone(),
        None => {
            return Err(Box::new(html(
                StatusCode::BAD_REQUEST,
                "Sign in failed",
                "AADSTS900144: The request body must contain the following parameter: 'redirect_uri'.",
            )));
        }
    };
    if !app.redirect_uris.contains(&redirect_uri) {
        let shown: String = redirect_uri.chars().take(300).collect();
        return Err(Box::new(html(
            StatusCode::BAD_REQUEST,
            "Sign in failed",
            &format!(
                "AADSTS50011: The redirect URI '{shown}' specified in the request does not match the redirect URIs configured for the application '{}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.",
                app.client_id
            ),
        )));
    }
    Ok((app, redirect_uri))
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: consents automatically and redirects with a code.
///
/// An unknown `login_hint` redirects with `error=access_denied` (AADSTS50034), which is what a
/// client sees when the user cannot sign in.
pub(crate) fn authorize(inner: &Inner, tenant: &str, query: Option<&str>) -> Response {
    let q = params(query.unwrap_or("").as_bytes());
    let (app, redirect_uri) = match check_client(inner, tenant, &q) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let state = get(&q, "state").unwrap_or("");
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if !state.is_empty() {
            pairs.push(("state", state));
        }
        redirect(&redirect_uri, &pairs)
    };
    let response_type = get(&q, "response_type").unwrap_or("");
    if !response_type.split_whitespace().any(|t| t == "code") {
        return fail(
            "unsupported_response_type",
            "AADSTS700054: response_type must include 'code' for this application.",
        );
    }
    let challenge = match get(&q, "code_challenge") {
        None => None,
        Some(c) => {
            let method = get(&q, "code_challenge_method").unwrap_or("plain");
            if !method.eq_ignore_ascii_case("S256") && !method.eq_ignore_ascii_case("plain") {
                return fail(
                    "invalid_request",
                    "AADSTS501491: code_challenge_method must be 'S256' or 'plain'.",
                );
            }
            Some((c.to_string(), method.to_string()))
        }
    };
    let user = match get(&q, "login_hint") {
        Some(hint) => inner.config.user(hint).cloned(),
        None => inner.config.users.first().cloned(),
    };
    let Some(user) = user else {
        return fail(
            "access_denied",
            "AADSTS50034: The user account does not exist in the directory.",
        );
    };
    let code = random_token("1.AQoAcode");
    inner.lock().codes.insert(
        code.clone(),
        AuthCode {
            client_id: app.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            user,
            scope: get(&q, "scope")
                .unwrap_or("https://graph.microsoft.com/.default")
                .to_string(),
            challenge,
            nonce: get(&q, "nonce").map(|n| n.chars().take(1024).collect()),
            issued: Instant::now(),
            redeemed: false,
            burned: false,
        },
    );
    let session = uuid_like();
    let mut pairs = vec![("code", code.as_str())];
    if !state.is_empty() {
        pairs.push(("state", state));
    }
    pairs.push(("session_state", session.as_str()));
    redirect(&redirect_uri, &pairs)
}

/// `GET /{tenant}/v2.0/adminconsent`: grants consent and redirects back.
pub(crate) fn admin_consent(inner: &Inner, tenant: &str, query: Option<&str>) -> Response {
    let q = params(query.unwrap_or("").as_bytes());
    let (_, redirect_uri) = match check_client(inner, tenant, &q) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let tid = tenant_id(tenant);
    let shown_tenant = if tid == crate::DEMO_TENANT_ID {
        tenant
    } else {
        &tid
    };
    let mut pairs = vec![("admin_consent", "True"), ("tenant", shown_tenant)];
    if let Some(scope) = get(&q, "scope") {
        pairs.push(("scope", scope));
    }
    if let Some(state) = get(&q, "state") {
        pairs.push(("state", state));
    }
    redirect(&redirect_uri, &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_token_is_a_signed_jwt_with_upn() {
        let t = id_token(
            "a@b.example",
            "cid",
            "common",
            Duration::from_secs(60),
            None,
        );
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(!parts[2].is_empty());
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["preferred_username"], "a@b.example");
        assert_eq!(payload["aud"], "cid");
        assert_eq!(payload["tid"], crate::DEMO_TENANT_ID);
    }
}
