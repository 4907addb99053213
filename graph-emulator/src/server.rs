//! The HTTP front door: one axum fallback handler that records every request and sends it to
//! the Graph, identity or Outlook-on-the-web part.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;

use crate::error::{Ctx, GraphError};
use crate::ids::uuid_like;
use crate::state::{Inner, RecordedRequest};
use crate::{graph, identity, owa};

/// Request bodies beyond this are refused; Graph's own limit for JSON payloads is 4 MB.
const MAX_BODY: usize = 4 * 1024 * 1024;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(dispatch).with_state(inner)
}

/// True when some `Prefer` value is `IdType="ImmutableId"` (quotes optional, any case).
fn wants_immutable(prefer: &str) -> bool {
    prefer.split(',').any(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("IdType")
                && v.trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case("ImmutableId")
        })
    })
}

fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

async fn dispatch(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let prefer = joined(&parts.headers, "prefer");
    let client_request_id = parts
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 100)
        .map(str::to_string)
        .unwrap_or_else(uuid_like);
    let ctx = Ctx {
        request_id: uuid_like(),
        client_request_id,
        immutable: prefer.as_deref().is_some_and(wants_immutable),
    };
    let response = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => route(
            &inner,
            &parts.method,
            &path,
            query.as_deref(),
            &parts.headers,
            &bytes,
            &ctx,
        ),
        Err(_) => ctx.error(&GraphError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The request body is too large or could not be read.",
        )),
    };
    inner.lock().requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path_and_query,
        prefer,
        authorization_present: parts.headers.contains_key(header::AUTHORIZATION),
        status: response.status().as_u16(),
    });
    response
}

fn route(
    inner: &Inner,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &Ctx,
) -> Response {
    if let Some(rest) = path.strip_prefix("/v1.0")
        && (rest.is_empty() || rest.starts_with('/'))
    {
        return graph::handle(inner, method, rest, query, headers, body, ctx);
    }
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    match segs.as_slice() {
        ["owa"] | ["owa", ""] if method == Method::GET => owa::open(&inner.lock(), query),
        [tenant, "oauth2", "v2.0", "token"] if !tenant.is_empty() => {
            if method == Method::POST {
                identity::token(inner, tenant, headers, body)
            } else {
                identity::post_only(method.as_str())
            }
        }
        [tenant, "oauth2", "v2.0", "authorize"] if !tenant.is_empty() && method == Method::GET => {
            identity::authorize(inner, tenant, query)
        }
        [tenant, "v2.0", "adminconsent"] | [tenant, "adminconsent"]
            if !tenant.is_empty() && method == Method::GET =>
        {
            identity::admin_consent(inner, tenant, query)
        }
        _ => ctx.error(&GraphError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested resource does not exist on this emulator.",
        )),
    }
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
