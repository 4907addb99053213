//! One request on its way to the mailbox, top-level or inside `$batch`: Outlook's throttling,
//! the configured latency and faults, then the Graph operation. The front door and the batch
//! runner both send their requests through here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::conn::ConnMode;
use crate::error::{Ctx, GraphError};
use crate::faults::{FaultKind, Latency};
use crate::graph;
use crate::ids::uuid_like;
use crate::state::{Inner, RecordedRequest};
use crate::throttle::{Key, retry_after_value};

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

/// The request's `client-request-id`, or a new one when it sent none usable.
pub(crate) fn client_request_id(headers: &HeaderMap) -> String {
    headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 100)
        .map(str::to_string)
        .unwrap_or_else(uuid_like)
}

/// Keeps the request for [`crate::Emulator::requests`].
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

/// Gives the concurrency slot back when the request is done (or its future dropped).
pub(crate) struct Slot {
    inner: Arc<Inner>,
    key: Key,
}

/// A request the throttling refused: how long until the key may try again, and the wait the
/// test configured (see [`retry_after_value`]).
pub(crate) struct Throttled {
    pub wait: Duration,
    pub configured: Duration,
}

/// Counts a request of `key` against the throttling limits, when throttling is on: a slot to
/// hold while the request runs, or how long the caller must wait. Graph and EWS share this.
pub(crate) fn admit(inner: &Arc<Inner>, key: Option<Key>) -> Result<Option<Slot>, Throttled> {
    let mut st = inner.lock();
    let (Some(key), Some(limits)) = (key, st.throttle.limits.clone()) else {
        return Ok(None);
    };
    match st.throttle.admit(&key, Instant::now()) {
        Ok(()) => Ok(Some(Slot {
            inner: inner.clone(),
            key,
        })),
        Err(wait) => Err(Throttled {
            wait,
            configured: limits.retry_after,
        }),
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner.lock().throttle.release(&self.key);
    }
}

pub(crate) async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// [`FaultKind::Timeout`]: hold the request, then drop the connection.
pub(crate) async fn hold(d: Duration, ctx: &Ctx) -> (Response, ConnMode) {
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
pub(crate) enum Plan {
    /// Run the operation; reset the connection afterwards when `reset_after`.
    Run { reset_after: bool },
    /// Answer with this instead of running the operation.
    Respond(Response, ConnMode),
    /// Hold the request this long, then drop the connection.
    Hold(Duration),
}

pub(crate) fn plan(inner: &Inner, fault: Option<FaultKind>, ctx: &Ctx, in_batch: bool) -> Plan {
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
    let key = graph::throttle_key(&inner.lock(), headers, path);
    let _slot = match admit(inner, key) {
        Ok(slot) => slot,
        Err(t) => {
            let retry_after = retry_after_value(t.wait, t.configured);
            return (throttled(ctx, &retry_after), ConnMode::Normal);
        }
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
