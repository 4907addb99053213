//! The HTTP front door: one axum fallback handler that records every request and sends it to
//! the Graph, identity or Outlook-on-the-web part.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::conn::{ConnHandle, ConnMode};
use crate::error::{Ctx, GraphError};
use crate::faults::{FaultKind, Latency};
use crate::headers::joined;
use crate::ids::uuid_like;
use crate::state::{Inner, RecordedRequest};
use crate::throttle::{Slot, retry_after_value};
use crate::{batch, graph, identity, oidc, owa};

/// Request bodies beyond this are refused; Graph's own limit for JSON payloads is 4 MB.
const MAX_BODY: usize = 4 * 1024 * 1024;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(dispatch).with_state(inner)
}

/// True when some `Prefer` value is `IdType="ImmutableId"` (quotes optional, any case).
pub(crate) fn wants_immutable(prefer: &str) -> bool {
    prefer.split(',').any(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("IdType")
                && v.trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case("ImmutableId")
        })
    })
}

/// Microsoft's public host names. A request that names one of them in its `Host` came through
/// a proxy that routes the public (https) URLs to the emulator.
const MICROSOFT_HOSTS: &[&str] = &[
    "graph.microsoft.com",
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "outlook.office365.com",
    "outlook.office.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "login.microsoftonline.us",
    "microsoftgraph.chinacloudapi.cn",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
];

/// Used when a request names no usable host at all (HTTP/1.0 without `Host`).
const FALLBACK_BASE: &str = "https://graph.microsoft.com";
const LOGIN_FALLBACK_BASE: &str = "https://login.microsoftonline.com";

/// `scheme://authority` of the address a request was sent to, for the links in its answer
/// (see [`crate::EmulatorConfig::graph_public_base`]); `None` when it names no usable host.
pub(crate) fn request_base(uri: &axum::http::Uri, headers: &HeaderMap) -> Option<String> {
    // An absolute request URI (a client talking to the emulator as its HTTP proxy) names the
    // address itself; otherwise the Host header does.
    let authority = uri.authority().map(|a| a.as_str().to_string()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    });
    let (host, port) = authority.as_deref().and_then(parse_authority)?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        Some(s) if s.eq_ignore_ascii_case("http") => "http",
        _ if MICROSOFT_HOSTS.contains(&host.as_str()) => "https",
        _ => "http",
    };
    // The scheme's default port is left out, as a browser would.
    Some(match port {
        Some(p) if !(scheme == "https" && p == 443) => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Host (lower case; IPv6 in brackets) and port of a `Host` value; `None` for anything that is
/// not a plain `host[:port]`, so nothing odd ever ends up in a link.
fn parse_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let a = authority.trim();
    if a.is_empty()
        || a.len() > 255
        || a.contains(['@', '/', '?', '#', '\\', '%'])
        || a.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    // `http://` only to parse; its default port (80) comes back as `None`.
    let url = url::Url::parse(&format!("http://{a}/")).ok()?;
    Some((url.host_str()?.to_ascii_lowercase(), url.port()))
}

async fn dispatch(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let prefer = joined(&parts.headers, "prefer");
    let ctx = Ctx {
        request_id: uuid_like(),
        client_request_id: client_request_id(&parts.headers),
        immutable: prefer.as_deref().is_some_and(wants_immutable),
        base: inner
            .config
            .graph_base_override()
            .map(str::to_string)
            .or_else(|| request_base(&parts.uri, &parts.headers))
            .unwrap_or_else(|| FALLBACK_BASE.to_string()),
        login_base: request_base(&parts.uri, &parts.headers)
            .unwrap_or_else(|| LOGIN_FALLBACK_BASE.to_string()),
    };
    let (response, mode) = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            route(
                &inner,
                &parts.method,
                &path,
                query.as_deref(),
                &parts.headers,
                &bytes,
                &ctx,
            )
            .await
        }
        Err(_) => (
            ctx.error(&GraphError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                "The request body is too large or could not be read.",
            )),
            ConnMode::Normal,
        ),
    };
    record(
        &inner,
        &parts.method,
        path_and_query,
        prefer,
        parts.headers.contains_key(header::AUTHORIZATION),
        response.status().as_u16(),
    );
    if mode != ConnMode::Normal
        && let Some(conn) = conn
    {
        conn.set(mode);
    }
    response
}

pub(crate) fn client_request_id(headers: &HeaderMap) -> String {
    headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 100)
        .map(str::to_string)
        .unwrap_or_else(uuid_like)
}

pub(crate) fn record(
    inner: &Inner,
    method: &Method,
    path_and_query: String,
    prefer: Option<String>,
    authorization_present: bool,
    status: u16,
) {
    inner.lock().requests.push(RecordedRequest {
        method: method.to_string(),
        path_and_query,
        prefer,
        authorization_present,
        status,
    });
}

async fn route(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &Ctx,
) -> (Response, ConnMode) {
    if let Some(rest) = path.strip_prefix("/v1.0")
        && (rest.is_empty() || rest.starts_with('/'))
    {
        if rest.trim_end_matches('/').eq_ignore_ascii_case("/$batch") {
            let fault = inner.lock().faults.draw();
            return match plan(inner, fault, ctx, false) {
                Plan::Respond(r, mode) => (r, mode),
                Plan::Hold(d) => hold(d, ctx).await,
                Plan::Run { reset_after } => {
                    let (r, mode) = batch::run(inner, method, headers, body, ctx).await;
                    (r, if reset_after { ConnMode::Reset } else { mode })
                }
            };
        }
        return graph_call(inner, method, rest, query, headers, body, ctx, false).await;
    }
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    match segs.as_slice() {
        ["owa"] | ["owa", ""] if method == Method::GET => {
            (owa::open(&inner.lock(), query), ConnMode::Normal)
        }
        [tenant, "oauth2", "v2.0", "token"] if !tenant.is_empty() => {
            if method != Method::POST {
                return (identity::post_only(method.as_str()), ConnMode::Normal);
            }
            let (delay, fault) = {
                let mut st = inner.lock();
                let fault = if st.faults.faults.token_endpoint {
                    st.faults.draw()
                } else {
                    None
                };
                (st.latency.token, fault)
            };
            sleep(delay).await;
            match plan(inner, fault, ctx, false) {
                Plan::Respond(r, mode) => (r, mode),
                Plan::Hold(d) => hold(d, ctx).await,
                Plan::Run { reset_after } => (
                    identity::token(inner, tenant, headers, body),
                    if reset_after {
                        ConnMode::Reset
                    } else {
                        ConnMode::Normal
                    },
                ),
            }
        }
        [tenant, "v2.0", ".well-known", "openid-configuration"]
            if !tenant.is_empty() && method == Method::GET =>
        {
            (oidc::discovery(tenant, &ctx.login_base), ConnMode::Normal)
        }
        [tenant, "discovery", "v2.0", "keys"] | [tenant, "discovery", "keys"]
            if !tenant.is_empty() && method == Method::GET =>
        {
            (oidc::keys(tenant), ConnMode::Normal)
        }
        [_, "discovery", "instance"] if method == Method::GET => {
            (oidc::instance(query, &ctx.login_base), ConnMode::Normal)
        }
        [tenant, "oauth2", "v2.0", "authorize"] if !tenant.is_empty() && method == Method::GET => {
            (identity::authorize(inner, tenant, query), ConnMode::Normal)
        }
        [tenant, "v2.0", "adminconsent"] | [tenant, "adminconsent"]
            if !tenant.is_empty() && method == Method::GET =>
        {
            (
                identity::admin_consent(inner, tenant, query),
                ConnMode::Normal,
            )
        }
        _ => (
            ctx.error(&GraphError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                "The requested resource does not exist on this emulator.",
            )),
            ConnMode::Normal,
        ),
    }
}

async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// [`FaultKind::Timeout`]: hold the request, then drop the connection.
async fn hold(d: Duration, ctx: &Ctx) -> (Response, ConnMode) {
    sleep(d).await;
    (
        ctx.empty(StatusCode::INTERNAL_SERVER_ERROR),
        ConnMode::Reset,
    )
}

/// Which latency applies to a Graph request (see [`crate::Latency`]).
fn latency_of(l: &Latency, method: &Method, path: &str) -> Duration {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if method == Method::GET {
        if ["messages", "mailFolders", "childFolders"]
            .iter()
            .any(|c| last.eq_ignore_ascii_case(c))
        {
            l.list
        } else {
            l.get
        }
    } else if method == Method::POST && last.eq_ignore_ascii_case("move") {
        l.move_
    } else {
        l.other
    }
}

/// What to do with a request given its fault.
enum Plan {
    /// Run the operation; reset the connection afterwards when `reset_after`.
    Run { reset_after: bool },
    /// Answer with this instead of running the operation.
    Respond(Response, ConnMode),
    /// Hold the request this long, then drop the connection.
    Hold(Duration),
}

fn plan(inner: &Inner, fault: Option<FaultKind>, ctx: &Ctx, in_batch: bool) -> Plan {
    let Some(kind) = fault else {
        return Plan::Run { reset_after: false };
    };
    let (retry_after, hold_for) = {
        let st = inner.lock();
        (st.faults.faults.retry_after, st.faults.faults.timeout_hold)
    };
    // Inside a batch there is no connection of its own: only statuses can be faulted.
    let kind = match kind {
        FaultKind::Reset | FaultKind::TruncatedBody | FaultKind::InvalidJson if in_batch => {
            FaultKind::InternalError
        }
        FaultKind::Timeout if in_batch => FaultKind::GatewayTimeout,
        k => k,
    };
    let status = |status, code, message: &str, retry: bool| {
        let mut r = ctx.error(&GraphError::new(status, code, message));
        if retry && let Ok(v) = HeaderValue::from_str(&retry_after_value(retry_after, retry_after))
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        Plan::Respond(r, ConnMode::Normal)
    };
    match kind {
        FaultKind::TooManyRequests => status(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Please retry again later.",
            true,
        ),
        FaultKind::InternalError => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "An internal server error occurred while processing the request.",
            false,
        ),
        FaultKind::Unavailable => status(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
            true,
        ),
        FaultKind::GatewayTimeout => status(
            StatusCode::GATEWAY_TIMEOUT,
            "GatewayTimeout",
            "The gateway did not receive a timely response from the upstream server.",
            false,
        ),
        FaultKind::Reset => Plan::Respond(
            ctx.empty(StatusCode::INTERNAL_SERVER_ERROR),
            ConnMode::Reset,
        ),
        FaultKind::Timeout => Plan::Hold(hold_for),
        FaultKind::TruncatedBody => {
            let body = json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/messages",
                "value": [{"id": "AAMkAGtruncated", "subject": "This response is cut off before its end"}],
            });
            let keep = body.to_string().len() / 2;
            Plan::Respond(ctx.json(StatusCode::OK, body), ConnMode::Truncate(keep))
        }
        FaultKind::InvalidJson => {
            let mut r = ctx.json(StatusCode::OK, Value::Null);
            *r.body_mut() = axum::body::Body::from(
                "<html><head><title>502 Bad Gateway</title></head><body>upstream sent an invalid response</body></html>",
            );
            Plan::Respond(r, ConnMode::Normal)
        }
        FaultKind::ResetAfterCommit => Plan::Run { reset_after: true },
    }
}

/// One Graph request (`path` after `/v1.0`), top-level or inside `$batch`: throttling,
/// latency, faults, then the operation.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn graph_call(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &Ctx,
    in_batch: bool,
) -> (Response, ConnMode) {
    let admitted = {
        let mut st = inner.lock();
        match graph::throttle_key(&st, headers, path) {
            Some(key) if st.throttle.limits.is_some() => {
                let configured = st
                    .throttle
                    .limits
                    .as_ref()
                    .map_or(Duration::ZERO, |t| t.retry_after);
                match st.throttle.admit(&key, Instant::now()) {
                    Ok(()) => Ok(Some(Slot {
                        inner: inner.clone(),
                        key,
                    })),
                    Err(wait) => Err(retry_after_value(wait, configured)),
                }
            }
            _ => Ok(None),
        }
    };
    let _slot = match admitted {
        Ok(slot) => slot,
        Err(retry_after) => return (throttled(ctx, &retry_after), ConnMode::Normal),
    };
    let delay = latency_of(&inner.lock().latency, method, path);
    sleep(delay).await;
    let fault = inner.lock().faults.draw();
    match plan(inner, fault, ctx, in_batch) {
        Plan::Respond(r, mode) => (r, mode),
        Plan::Hold(d) => hold(d, ctx).await,
        Plan::Run { reset_after } => {
            let r = graph::handle(inner, method, path, query, headers, body, ctx);
            let mode = if reset_after {
                ConnMode::Reset
            } else {
                ConnMode::Normal
            };
            (r, mode)
        }
    }
}

/// Outlook's throttling answer (the body Outlook really sends, without `innerError`).
fn throttled(ctx: &Ctx, retry_after: &str) -> Response {
    let mut r = ctx.json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {
            "code": "ApplicationThrottled",
            "message": "Application is over its MailboxConcurrency limit.",
        }}),
    );
    if let Ok(v) = HeaderValue::from_str(retry_after) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::wants_immutable;

    #[test]
    fn prefer_parsing() {
        assert!(wants_immutable("IdType=\"ImmutableId\""));
        assert!(wants_immutable(
            "outlook.body-content-type=\"text\", idtype=immutableid"
        ));
        assert!(!wants_immutable("outlook.body-content-type=\"text\""));
        assert!(!wants_immutable("IdType=\"RestId\""));
    }
}
