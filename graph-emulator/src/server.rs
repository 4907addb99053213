//! The HTTP front door: one axum fallback handler that records every request and sends it to
//! the Graph, identity or Outlook-on-the-web part.

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;

use crate::call::{
    Plan, client_request_id, graph_call, hold, plan, record, sleep, wants_immutable,
};
use crate::conn::{ConnHandle, ConnMode};
use crate::error::{Ctx, GraphError};
use crate::headers::joined;
use crate::ids::uuid_like;
use crate::state::Inner;
use crate::{batch, ews, identity, oidc, owa};

/// Request bodies beyond this are refused; Graph's own limit for JSON payloads is 4 MB.
const MAX_BODY: usize = 4 * 1024 * 1024;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(dispatch).with_state(inner)
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
    // EWS has one URL for every operation; tests count calls by operation.
    let recorded = match response.extensions().get::<ews::Operation>() {
        Some(op) => format!("EWS {}", op.0),
        None => path_and_query,
    };
    record(
        &inner,
        &parts.method,
        recorded,
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

async fn route(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &Ctx,
) -> (Response, ConnMode) {
    if path
        .trim_end_matches('/')
        .eq_ignore_ascii_case("/EWS/Exchange.asmx")
    {
        return ews::call(inner, method, headers, body, ctx).await;
    }
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
