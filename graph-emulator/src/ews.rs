//! Exchange Web Services at `/EWS/Exchange.asmx` (SOAP 1.1): sign-in (Basic against the seed's
//! accounts, or Bearer tokens for `https://outlook.office365.com`), the SOAP envelope, the
//! acting mailbox (impersonation), then throttling, latency and faults as for Graph, and
//! finally the operation on the state Graph serves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret as _;

use crate::call::{admit, hold, sleep};
use crate::conn::ConnMode;
use crate::error::Ctx;
use crate::ews_ops::OPERATIONS;
use crate::ews_soap::{Fault, begin, close_response, fault_response, open_response, xml_response};
use crate::ews_store::Acting;
use crate::ews_xml::{Element, MESSAGES_NS, SOAP_NS, TYPES_NS, XmlError};
use crate::faults::FaultKind;
use crate::identity::secret_eq;
use crate::state::{Audience, Inner, Principal, State, address_key};
use crate::{ews_ops, ews_xml};

/// `RequestServerVersion` values the emulator answers to (Exchange 2010 to 2016 schemas).
const VERSIONS: &[&str] = &[
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
    "V2017_01_07",
    "V2017_04_14",
    "V2017_07_11",
    "V2017_10_09",
    "V2018_01_08",
];

/// The operation a request named, for [`crate::Emulator::requests`] (`EWS FindItem`).
#[derive(Debug, Clone)]
pub(crate) struct Operation(pub String);

/// Who signed in.
struct Caller {
    principal: Principal,
    /// Throttling budgets are per app (or per Basic account) and mailbox.
    client: String,
}

/// `POST /EWS/Exchange.asmx`.
pub(crate) async fn call(
    inner: &Arc<Inner>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &Ctx,
) -> (Response, ConnMode) {
    if method != Method::POST {
        let mut r = (
            StatusCode::METHOD_NOT_ALLOWED,
            "The HTTP verb used to access this page is not allowed.",
        )
            .into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return (r, ConnMode::Normal);
    }
    let caller = match authenticate(&inner.lock(), headers) {
        Some(c) => c,
        None => return (unauthorized(headers), ConnMode::Normal),
    };
    let envelope = match ews_xml::parse(body) {
        Ok(e) => e,
        Err(e) => return (fault_response(&not_well_formed(body, &e)), ConnMode::Normal),
    };
    let (op, req) = match operation(&envelope) {
        Ok(x) => x,
        Err(f) => return (fault_response(&f), ConnMode::Normal),
    };
    let (mut response, mode) = run_checked(inner, &caller, &envelope, &op, req, ctx).await;
    response.extensions_mut().insert(Operation(op));
    (response, mode)
}

async fn run_checked(
    inner: &Arc<Inner>,
    caller: &Caller,
    envelope: &Element,
    op: &str,
    req: &Element,
    ctx: &Ctx,
) -> (Response, ConnMode) {
    if let Err(f) = check_version(envelope) {
        return (fault_response(&f), ConnMode::Normal);
    }
    let mailbox = match acting_mailbox(&inner.lock(), caller, envelope) {
        Ok(m) => m,
        Err(f) => return (fault_response(&f), ConnMode::Normal),
    };
    let key = (caller.client.clone(), address_key(&mailbox));
    let _slot = match admit(inner, Some(key)) {
        Ok(slot) => slot,
        Err(t) => {
            let ms = u64::try_from(t.wait.as_millis()).unwrap_or(u64::MAX).max(1);
            return (fault_response(&Fault::server_busy(ms)), ConnMode::Normal);
        }
    };
    let delay = {
        let st = inner.lock();
        let l = &st.latency;
        match op {
            "FindItem" | "FindFolder" => l.list,
            "GetItem" | "GetFolder" => l.get,
            "MoveItem" | "CopyItem" => l.move_,
            _ => l.other,
        }
    };
    sleep(delay).await;
    let fault = inner.lock().faults.draw();
    let reset_after = match fault {
        None => false,
        Some(FaultKind::ResetAfterCommit) => true,
        Some(FaultKind::Timeout) => {
            let d = inner.lock().faults.faults.timeout_hold;
            return hold(d, ctx).await;
        }
        Some(kind) => return injected(inner, kind, ctx),
    };
    let acting = Acting {
        mailbox,
        outlook_base: inner.config.outlook_base().to_string(),
    };
    let mut out = begin();
    open_response(&mut out, op);
    let result = ews_ops::run(&mut inner.lock(), &acting, op, req, &mut out);
    let response = match result {
        Ok(()) => {
            close_response(&mut out, op);
            xml_response(StatusCode::OK, out.finish())
        }
        Err(f) => fault_response(&f),
    };
    let mode = if reset_after {
        ConnMode::Reset
    } else {
        ConnMode::Normal
    };
    (response, mode)
}

/// A configured fault, shaped as EWS clients meet it.
fn injected(inner: &Inner, kind: FaultKind, ctx: &Ctx) -> (Response, ConnMode) {
    let retry_ms = {
        let st = inner.lock();
        u64::try_from(st.faults.faults.retry_after.as_millis()).unwrap_or(u64::MAX)
    };
    let html = |status: StatusCode, text: &'static str| {
        let mut r = (status, text).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    };
    match kind {
        // Exchange's throttling is ErrorServerBusy, not HTTP 429.
        FaultKind::TooManyRequests => (
            fault_response(&Fault::server_busy(retry_ms.max(1))),
            ConnMode::Normal,
        ),
        FaultKind::InternalError => (fault_response(&Fault::internal()), ConnMode::Normal),
        FaultKind::Unavailable => {
            let mut r = html(
                StatusCode::SERVICE_UNAVAILABLE,
                "<html><body><h1>Service Unavailable</h1></body></html>",
            );
            let secs = Duration::from_millis(retry_ms).as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            (r, ConnMode::Normal)
        }
        FaultKind::GatewayTimeout => (
            html(
                StatusCode::GATEWAY_TIMEOUT,
                "<html><body><h1>504 Gateway Timeout</h1></body></html>",
            ),
            ConnMode::Normal,
        ),
        FaultKind::Reset => (
            ctx.empty(StatusCode::INTERNAL_SERVER_ERROR),
            ConnMode::Reset,
        ),
        FaultKind::TruncatedBody => {
            let mut out = begin();
            open_response(&mut out, "FindItem");
            close_response(&mut out, "FindItem");
            let body = out.finish();
            let keep = body.len() / 2;
            (xml_response(StatusCode::OK, body), ConnMode::Truncate(keep))
        }
        FaultKind::InvalidJson => (
            html(
                StatusCode::OK,
                "<html><head><title>502 Bad Gateway</title></head><body>upstream sent an invalid response</body></html>",
            ),
            ConnMode::Normal,
        ),
        // Handled by the caller, which runs the operation first.
        FaultKind::ResetAfterCommit | FaultKind::Timeout => {
            (fault_response(&Fault::internal()), ConnMode::Normal)
        }
    }
}

fn authenticate(st: &State, headers: &HeaderMap) -> Option<Caller> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(STANDARD.decode(credentials).ok()?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        // Windows sign-in also takes DOMAIN\user; the part after the backslash is the account.
        let user = user.rsplit('\\').next().unwrap_or(user);
        let expected = st.accounts.get(&address_key(user))?;
        if !secret_eq(expected.expose_secret(), password) {
            return None;
        }
        return Some(Caller {
            principal: Principal::User(user.trim().to_string()),
            client: format!("basic:{}", address_key(user)),
        });
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let info = st.access_tokens.get(credentials)?;
        let used_up = info.last_request.is_some_and(|n| st.graph_requests > n);
        if info.audience != Audience::Outlook || used_up || Instant::now() >= info.expires_at {
            return None;
        }
        return Some(Caller {
            principal: info.principal.clone(),
            client: info.client_id.to_ascii_lowercase(),
        });
    }
    None
}

/// 401 as IIS in front of Exchange sends it: both schemes offered.
fn unauthorized(headers: &HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h))
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        })
        .unwrap_or("outlook.office365.com");
    let mut r = (StatusCode::UNAUTHORIZED, "").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{host}\"")) {
        r.headers_mut().append(header::WWW_AUTHENTICATE, v);
    }
    r.headers_mut().append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", token_types=\"app_asserted_user_v1 service_asserted_app_v1\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", error=\"invalid_token\"",
        ),
    );
    r
}

/// ErrorSchemaValidation for a body that is not XML, with the line and column Exchange gives.
fn not_well_formed(body: &[u8], e: &XmlError) -> Fault {
    let upto = &body[..usize::try_from(e.position).unwrap_or(0).min(body.len())];
    let line = 1 + upto.iter().filter(|b| **b == b'\n').count() as u64;
    let column = 1 + upto.iter().rev().take_while(|b| **b != b'\n').count() as u64;
    Fault::schema_at(line, column, e.message.clone())
}

/// The operation element in the body and its name.
fn operation(envelope: &Element) -> Result<(String, &Element), Fault> {
    if !envelope.is(SOAP_NS, "Envelope") {
        return Err(Fault::invalid_request());
    }
    let body = envelope
        .child(SOAP_NS, "Body")
        .ok_or_else(Fault::invalid_request)?;
    let req = body.children.first().ok_or_else(Fault::invalid_request)?;
    if req.ns != MESSAGES_NS || !OPERATIONS.contains(&req.name.as_str()) {
        return Err(Fault::invalid_request());
    }
    Ok((req.name.clone(), req))
}

fn header_child<'a>(envelope: &'a Element, name: &str) -> Option<&'a Element> {
    envelope.child(SOAP_NS, "Header")?.child(TYPES_NS, name)
}

fn check_version(envelope: &Element) -> Result<(), Fault> {
    let Some(v) = header_child(envelope, "RequestServerVersion") else {
        return Ok(());
    };
    match v.attr("Version").map(str::trim) {
        Some(version) if VERSIONS.contains(&version) => Ok(()),
        _ => Err(Fault::new(
            "ErrorInvalidServerVersion",
            "The specified server version is invalid.",
        )),
    }
}

/// The mailbox a request acts on: the impersonated one, else the signed-in user's.
fn acting_mailbox(st: &State, caller: &Caller, envelope: &Element) -> Result<String, Fault> {
    let impersonated = header_child(envelope, "ExchangeImpersonation")
        .and_then(|i| i.child(TYPES_NS, "ConnectingSID"))
        .and_then(|sid| {
            ["PrimarySmtpAddress", "SmtpAddress", "PrincipalName"]
                .iter()
                .find_map(|n| sid.child(TYPES_NS, n))
        })
        .map(|e| e.text().to_string());
    let mailbox = match (&caller.principal, impersonated) {
        (Principal::App, Some(address)) => address,
        (Principal::App, None) => {
            return Err(Fault::new(
                "ErrorInvalidExchangeImpersonationHeaderData",
                "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
            ));
        }
        (Principal::User(user), Some(address)) if !address.eq_ignore_ascii_case(user) => {
            return Err(Fault::new(
                "ErrorImpersonationDenied",
                "The account does not have permission to impersonate the requested user.",
            ));
        }
        (Principal::User(user), _) => user.clone(),
    };
    if st.mailbox(&mailbox).is_none() {
        return Err(Fault::new(
            "ErrorNonExistentMailbox",
            "The SMTP address has no mailbox associated with it.",
        ));
    }
    Ok(mailbox)
}
