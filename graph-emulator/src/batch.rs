//! JSON batching: `POST /v1.0/$batch`.
//!
//! Each inner request runs through the same path as a top-level Graph request
//! ([`crate::call::graph_call`]): the outer bearer token, its own `Prefer` header (else the
//! outer one), throttling counted per inner request, latency and (status) faults. At most 4
//! inner requests run at once, like Outlook; a request starts once its `dependsOn` requests are
//! done, and gets 424 without running when one of them did not succeed (non-2xx). Responses
//! come back in request order. Inner requests are recorded in [`crate::Emulator::requests`]
//! with `path_and_query` = `$batch[{id}] /v1.0{url}` (e.g. `$batch[1] /v1.0/users/x/messages`),
//! after the inner request completes and before the outer `/v1.0/$batch` record.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::call::{client_request_id, graph_call, record, wants_immutable};
use crate::conn::ConnMode;
use crate::error::{Ctx, GraphError};
use crate::headers::joined;
use crate::ids::uuid_like;
use crate::state::Inner;

/// Graph's limit on requests per batch.
pub(crate) const MAX_REQUESTS: usize = 20;
/// Inner requests Outlook runs in parallel.
const PARALLEL: usize = 4;

#[derive(Debug, Clone)]
struct Item {
    id: String,
    method: Method,
    /// Relative URL with a leading `/`, query included.
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    depends: Vec<usize>,
}

fn bad(message: impl Into<String>) -> GraphError {
    GraphError::bad_request(message)
}

fn parse(body: &[u8]) -> Result<Vec<Item>, GraphError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| GraphError::invalid_json())?;
    let Some(requests) = v.get("requests").and_then(Value::as_array) else {
        return Err(bad(
            "Invalid batch payload: the body must be an object with a 'requests' array.",
        ));
    };
    if requests.len() > MAX_REQUESTS {
        return Err(bad(format!(
            "Invalid batch payload: the number of requests ({}) exceeds the limit of {MAX_REQUESTS}.",
            requests.len()
        )));
    }
    let mut items: Vec<Item> = Vec::with_capacity(requests.len());
    for (n, r) in requests.iter().enumerate() {
        let field = |name: &str| {
            r.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_string())
                .ok_or_else(|| {
                    bad(format!(
                        "Invalid batch payload: request {} has no '{name}' string.",
                        n + 1
                    ))
                })
        };
        let id = field("id")?;
        if items.iter().any(|i| i.id.eq_ignore_ascii_case(&id)) {
            return Err(bad(format!(
                "Invalid batch payload: request id '{id}' is used more than once."
            )));
        }
        let method =
            Method::from_bytes(field("method")?.to_ascii_uppercase().as_bytes()).map_err(|_| {
                bad(format!(
                    "Invalid batch payload: request '{id}' has an invalid method."
                ))
            })?;
        let url = field("url")?;
        if url.contains("://") {
            return Err(bad(format!(
                "Invalid batch payload: request '{id}' must use a URL relative to the version, e.g. /users/x/messages."
            )));
        }
        let url = if url.starts_with('/') {
            url
        } else {
            format!("/{url}")
        };
        let mut headers = Vec::new();
        match r.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(h)) => {
                for (k, v) in h {
                    let Some(v) = v.as_str() else {
                        return Err(bad(format!(
                            "Invalid batch payload: header '{k}' of request '{id}' is not a string."
                        )));
                    };
                    headers.push((k.clone(), v.to_string()));
                }
            }
            Some(_) => {
                return Err(bad(format!(
                    "Invalid batch payload: 'headers' of request '{id}' must be an object."
                )));
            }
        }
        let body = r.get("body").filter(|b| !b.is_null()).cloned();
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            return Err(bad(format!(
                "Invalid batch payload: request '{id}' has a body but no Content-Type header."
            )));
        }
        let mut depends = Vec::new();
        match r.get("dependsOn") {
            None | Some(Value::Null) => {}
            Some(Value::Array(deps)) => {
                for d in deps {
                    let pos = d
                        .as_str()
                        .and_then(|d| items.iter().position(|i| i.id.eq_ignore_ascii_case(d)));
                    match pos {
                        Some(p) => depends.push(p),
                        None => {
                            return Err(bad(format!(
                                "Invalid batch payload: request '{id}' depends on {d}, which is not an earlier request of the batch."
                            )));
                        }
                    }
                }
            }
            Some(_) => {
                return Err(bad(format!(
                    "Invalid batch payload: 'dependsOn' of request '{id}' must be an array of ids."
                )));
            }
        }
        items.push(Item {
            id,
            method,
            url,
            headers,
            body,
            depends,
        });
    }
    Ok(items)
}

pub(crate) async fn run(
    inner: &Arc<Inner>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &Ctx,
) -> (Response, ConnMode) {
    if method != Method::POST {
        return (
            ctx.error(&GraphError::method_not_allowed(method.as_str())),
            ConnMode::Normal,
        );
    }
    let items = match parse(body) {
        Ok(items) => items,
        Err(e) => return (ctx.error(&e), ConnMode::Normal),
    };
    let n = items.len();
    let mut results: Vec<Option<(u16, Value)>> = vec![None; n];
    let mut started = vec![false; n];
    let mut running = JoinSet::new();
    let mut task_index = HashMap::new();
    let mut reset_after = false;
    loop {
        for i in 0..n {
            if started[i] {
                continue;
            }
            let deps = &items[i].depends;
            if deps.iter().any(|d| results[*d].is_none()) {
                continue;
            }
            if deps.iter().any(|d| {
                !results[*d]
                    .as_ref()
                    .is_some_and(|(s, _)| (200..300).contains(s))
            }) {
                started[i] = true;
                let entry = failed_dependency(&items[i]);
                record(
                    inner,
                    &items[i].method,
                    recorded_path(&items[i]),
                    None,
                    headers.contains_key(header::AUTHORIZATION),
                    424,
                );
                results[i] = Some((424, entry));
                continue;
            }
            if running.len() >= PARALLEL {
                continue;
            }
            started[i] = true;
            let task = exec(
                inner.clone(),
                items[i].clone(),
                headers.clone(),
                ctx.base.clone(),
            );
            let handle = running.spawn(task);
            task_index.insert(handle.id(), i);
        }
        let Some(done) = running.join_next_with_id().await else {
            break;
        };
        let (id, outcome) = match done {
            Ok((id, outcome)) => (id, Some(outcome)),
            Err(e) => (e.id(), None),
        };
        let Some(i) = task_index.remove(&id) else {
            continue;
        };
        let (status, entry) = match outcome {
            Some((status, entry, mode)) => {
                reset_after |= mode == ConnMode::Reset;
                (status, entry)
            }
            None => (
                500,
                json!({"id": items[i].id, "status": 500, "headers": {}, "body": {"error": {
                    "code": "InternalServerError", "message": "The request failed inside the emulator."}}}),
            ),
        };
        results[i] = Some((status, entry));
    }
    let responses: Vec<Value> = results
        .into_iter()
        .map(|r| r.map(|(_, e)| e).unwrap_or(Value::Null))
        .collect();
    let mode = if reset_after {
        ConnMode::Reset
    } else {
        ConnMode::Normal
    };
    (
        ctx.json(StatusCode::OK, json!({"responses": responses})),
        mode,
    )
}

fn recorded_path(item: &Item) -> String {
    format!("$batch[{}] /v1.0{}", item.id, item.url)
}

fn failed_dependency(item: &Item) -> Value {
    json!({
        "id": item.id,
        "status": 424,
        "headers": {"Content-Type": "application/json"},
        "body": {"error": {
            "code": "FailedDependency",
            "message": "The request could not be executed because a request it depends on failed.",
        }},
    })
}

/// Graph spells inner response headers like `Content-Type`, `Retry-After`.
fn title_case(name: &str) -> String {
    if name.ends_with("request-id") {
        return name.to_string();
    }
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Runs one inner request; returns its status, its entry in `responses` and the connection
/// mode it asks for (reset after a committed fault). Links in its answer use `base`, the
/// outer request's.
async fn exec(
    inner: Arc<Inner>,
    item: Item,
    outer: HeaderMap,
    base: String,
) -> (u16, Value, ConnMode) {
    let mut headers = HeaderMap::new();
    if let Some(auth) = outer.get(header::AUTHORIZATION) {
        headers.insert(header::AUTHORIZATION, auth.clone());
    }
    for (k, v) in &item.headers {
        if k.eq_ignore_ascii_case("authorization") {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    if !headers.contains_key("prefer") {
        for v in outer.get_all("prefer") {
            headers.append("prefer", v.clone());
        }
    }
    let prefer = joined(&headers, "prefer");
    let ctx = Ctx {
        request_id: uuid_like(),
        client_request_id: client_request_id(&headers),
        immutable: prefer.as_deref().is_some_and(wants_immutable),
        base,
        login_base: String::new(),
    };
    let body = item
        .body
        .as_ref()
        .map(|b| b.to_string().into_bytes())
        .unwrap_or_default();
    let (path, query) = match item.url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (item.url.as_str(), None),
    };
    let (response, mode) = graph_call(
        &inner,
        &item.method,
        path,
        query,
        &headers,
        &body,
        &ctx,
        true,
    )
    .await;
    let status = response.status().as_u16();
    record(
        &inner,
        &item.method,
        recorded_path(&item),
        prefer,
        outer.contains_key(header::AUTHORIZATION),
        status,
    );
    let mut out_headers = Map::new();
    for (k, v) in response.headers() {
        if k == header::CONTENT_LENGTH {
            continue;
        }
        if let Ok(v) = v.to_str() {
            out_headers.insert(title_case(k.as_str()), v.into());
        }
    }
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mut entry = json!({"id": item.id, "status": status, "headers": out_headers});
    if !bytes.is_empty() {
        entry["body"] = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    }
    (status, entry, mode)
}
