//! Microsoft Graph mail routes under `/v1.0`.
//!
//! Paths are parsed by hand rather than with axum's router because Graph mixes plain segments
//! with OData key segments (`mailFolders('Inbox')`) and is case-insensitive in segment names.

use std::time::Instant;

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::config::EmulatorConfig;
use crate::error::{Ctx, GraphError};
use crate::mailbox::{Folder, FolderExists, Mailbox};
use crate::odata::{DEFAULT_TOP, Query};
use crate::seed::check_message_id;
use crate::state::{Inner, Principal, State};

/// Handles one Graph request; `path` is everything after `/v1.0`.
pub(crate) fn handle(
    inner: &Inner,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &Ctx,
) -> Response {
    let mut st = inner.lock();
    st.graph_requests += 1;
    let folder_item_limit = st.folder_item_limit;
    let max_page_size = crate::headers::joined(headers, "prefer")
        .as_deref()
        .and_then(max_page_size);
    let result = authenticate(&st, headers).and_then(|principal| {
        let req = Req {
            cfg: &inner.config,
            folder_item_limit,
            max_page_size,
            method,
            query,
            body,
            ctx,
        };
        route(&mut st, &req, &principal, path)
    });
    match result {
        Ok(response) => response,
        Err(e) => ctx.error(&e),
    }
}

struct Req<'a> {
    cfg: &'a EmulatorConfig,
    /// Most messages a folder may hold before moves and creates into it fail.
    folder_item_limit: usize,
    /// `Prefer: odata.maxpagesize=N` (delta pages).
    max_page_size: Option<usize>,
    method: &'a Method,
    query: Option<&'a str>,
    body: &'a [u8],
    ctx: &'a Ctx,
}

/// `odata.maxpagesize=N` of a `Prefer` header (1 to 1000).
fn max_page_size(prefer: &str) -> Option<usize> {
    prefer.split(',').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("odata.maxpagesize") {
            return None;
        }
        v.trim()
            .trim_matches('"')
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=crate::odata::MAX_TOP).contains(n))
    })
}

/// The bearer token of the request, if it carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim()),
        _ => None,
    }
}

/// Throttling key of a request: (app client id, mailbox), both lower-case. `None` when the
/// token is unknown (the request fails authentication anyway) or the path names no mailbox.
pub(crate) fn throttle_key(
    st: &State,
    headers: &HeaderMap,
    path: &str,
) -> Option<(String, String)> {
    let info = st.access_tokens.get(bearer(headers)?)?;
    let segs = segments(path).ok()?;
    let mailbox = match (segs.as_slice(), &info.principal) {
        ([first, ..], Principal::User(upn)) if is(first, "me") => upn.clone(),
        ([first, address, ..], _) if is(first, "users") => address.clone(),
        _ => return None,
    };
    Some((
        info.client_id.to_ascii_lowercase(),
        crate::state::address_key(&mailbox),
    ))
}

fn authenticate(st: &State, headers: &HeaderMap) -> Result<Principal, GraphError> {
    const EXPIRED: &str = "Access token has expired or is not yet valid.";
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ if value.is_empty() || value.eq_ignore_ascii_case("bearer") => "",
        _ => return Err(GraphError::unauthorized(EXPIRED)),
    };
    if token.is_empty() {
        return Err(GraphError::unauthorized("Access token is empty."));
    }
    let info = st
        .access_tokens
        .get(token)
        .ok_or_else(|| GraphError::unauthorized(EXPIRED))?;
    let used_up = info.last_request.is_some_and(|n| st.graph_requests > n);
    if used_up || Instant::now() >= info.expires_at {
        return Err(GraphError::unauthorized(EXPIRED));
    }
    if info.audience != crate::state::Audience::Graph {
        return Err(GraphError::unauthorized("Invalid audience."));
    }
    Ok(info.principal.clone())
}

/// Decodes `%XX` escapes of a path segment; `+` stays a plus, as in any URL path.
pub(crate) fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Splits the path into decoded segments, turning `name('key')` into `name`, `key`.
fn segments(path: &str) -> Result<Vec<String>, GraphError> {
    let mut out = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(raw).ok_or_else(GraphError::malformed_id)?;
        match seg.find('(') {
            Some(open) if seg.ends_with(')') => {
                let name = &seg[..open];
                let inner = seg[open + 1..seg.len() - 1].trim();
                let key = inner
                    .strip_prefix('\'')
                    .and_then(|k| k.strip_suffix('\''))
                    .map(|k| k.replace("''", "'"))
                    .unwrap_or_else(|| inner.to_string());
                out.push(name.to_string());
                out.push(key);
            }
            _ => out.push(seg),
        }
    }
    Ok(out)
}

fn is(seg: &str, name: &str) -> bool {
    seg.eq_ignore_ascii_case(name)
}

fn route(
    st: &mut State,
    req: &Req<'_>,
    principal: &Principal,
    path: &str,
) -> Result<Response, GraphError> {
    let segs = segments(path)?;
    let (mailbox_index, link_prefix, owner, rest) = match segs.as_slice() {
        [first, rest @ ..] if is(first, "me") => {
            let Principal::User(upn) = principal else {
                return Err(GraphError::bad_request(
                    "/me request is only valid with delegated authentication flow.",
                ));
            };
            if !st.rest_enabled(upn) {
                return Err(GraphError::rest_disabled());
            }
            // Graph names the signed-in user by object id in contexts.
            let owner = format!("users('{}')", crate::identity::object_id(upn));
            (st.ensure_mailbox(upn), "me".to_string(), owner, rest)
        }
        [first, address, rest @ ..] if is(first, "users") => {
            let address_given = address;
            if !st.rest_enabled(address) {
                return Err(GraphError::rest_disabled());
            }
            let index = st
                .mailbox_index(address)
                .ok_or_else(|| GraphError::invalid_user(address))?;
            if !st.may_access(principal, &st.mailboxes[index].address) {
                return Err(GraphError::access_denied());
            }
            // Only the characters that would end the path early need escaping in links.
            let address = st.mailboxes[index]
                .address
                .replace('%', "%25")
                .replace('?', "%3F")
                .replace('#', "%23");
            // The context names the user as the request did: `users('x%40y')`.
            let owner = format!("users{}", odata_key(address_given));
            (index, format!("users/{address}"), owner, rest)
        }
        [first, ..] => return Err(GraphError::segment_not_found(first)),
        [] => return Err(GraphError::bad_request("Invalid request.")),
    };
    let serial = &mut st.serial;
    let mb = &mut st.mailboxes[mailbox_index];
    let at = At {
        prefix: &link_prefix,
        owner: &owner,
    };
    mailbox_route(mb, serial, req, &at, rest)
}

/// Where a request is: the mailbox-relative prefix of its links (`users/x@y`, `me`) and the
/// owner in its `@odata.context` (`users('x%40y')`).
struct At<'a> {
    prefix: &'a str,
    owner: &'a str,
}

/// `('key')` as OData writes a key in a context URL: quotes doubled, then percent-encoded
/// except for unreserved characters (`users('x%40y')`, `mailFolders('AQMk...%3D')`).
fn odata_key(key: &str) -> String {
    let quoted = key.replace('\'', "''");
    let mut out = String::from("('");
    for b in quoted.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~'".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str("')");
    out
}

/// `(a,b)` after a context's collection when the request had `$select`.
fn selected(q: &Query) -> String {
    q.raw_select
        .as_ref()
        .map(|s| format!("({s})"))
        .unwrap_or_default()
}

/// `https://graph.microsoft.com/v1.0/$metadata#{path}` on the request's link base.
fn context(req: &Req<'_>, path: &str) -> Value {
    format!("{}/v1.0/$metadata#{path}", req.ctx.base).into()
}

fn mailbox_route(
    mb: &mut Mailbox,
    serial: &mut u64,
    req: &Req<'_>,
    at: &At<'_>,
    rest: &[String],
) -> Result<Response, GraphError> {
    let m = req.method;
    let prefix = at.prefix;
    let owner = at.owner;
    match rest {
        [] if m == Method::GET => Ok(req.ctx.json(
            StatusCode::OK,
            json!({
                "@odata.context": format!("{}/v1.0/$metadata#users/$entity", req.ctx.base),
                "id": mb.address, "mail": mb.address, "userPrincipalName": mb.address,
            }),
        )),
        [s] if is(s, "mailFolders") => {
            let root = mb.root_id().to_string();
            let link = format!("{prefix}/mailFolders");
            let coll = format!("{owner}/mailFolders");
            folder_collection(mb, serial, req, &root, &link, &coll)
        }
        [s, key, tail @ ..] if is(s, "mailFolders") => {
            let mut folder = find_folder(mb, key)?;
            // Contexts name the folders as the request did: `mailFolders('inbox')`.
            let mut parent_coll = format!("{owner}/mailFolders");
            let mut path = format!("{parent_coll}{}", odata_key(key));
            let mut tail = tail;
            // mailFolders/{id}/childFolders/{id}/... addresses a descendant.
            while let [c, child, more @ ..] = tail {
                if !is(c, "childFolders") {
                    break;
                }
                let found = find_folder(mb, child)?;
                if found.parent_id != folder.id {
                    return Err(GraphError::item_not_found());
                }
                folder = found;
                parent_coll = format!("{path}/childFolders");
                path = format!("{parent_coll}{}", odata_key(child));
                tail = more;
            }
            let place = FolderAt {
                parent_coll: &parent_coll,
                path: &path,
            };
            folder_route(mb, serial, req, at, &place, &folder, tail)
        }
        [s] if is(s, "messages") => {
            let coll = format!("{owner}/messages");
            if m == Method::POST {
                let drafts = find_folder(mb, "drafts")?;
                return create_message(mb, serial, req, &drafts, &coll);
            }
            only(m, &[Method::GET])?;
            let q = Query::parse(req.query)?;
            let link = format!("{prefix}/messages");
            list_messages(mb, req, None, &q, &link, &coll)
        }
        [s, c] if is(s, "messages") && c == "$count" => count_messages(mb, req, None),
        [s, id, tail @ ..] if is(s, "messages") => {
            message_route(mb, req, id, tail, &format!("{owner}/messages"), owner)
        }
        [first, ..] => Err(GraphError::segment_not_found(first)),
        [] => Err(GraphError::method_not_allowed(m.as_str())),
    }
}

/// Fails with `ErrorQuotaExceeded` when `folder_id` already holds as many messages as allowed.
fn check_room(mb: &Mailbox, req: &Req<'_>, folder_id: &str) -> Result<(), GraphError> {
    if mb.messages_in(folder_id).count() >= req.folder_item_limit {
        Err(GraphError::quota_exceeded())
    } else {
        Ok(())
    }
}

/// POST to a message collection: stores the body as a new draft in `folder`, like Graph's
/// "create message". Caller-given ids are ignored.
fn create_message(
    mb: &mut Mailbox,
    serial: &mut u64,
    req: &Req<'_>,
    folder: &Folder,
    coll: &str,
) -> Result<Response, GraphError> {
    let mut data = parse_body(req.body)?;
    check_room(mb, req, &folder.id)?;
    data.remove("id");
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for key in ["createdDateTime", "lastModifiedDateTime"] {
        data.insert(key.into(), now.clone().into());
    }
    data.entry("receivedDateTime").or_insert(now.into());
    data.insert("isDraft".into(), true.into());
    data.entry("isRead").or_insert(true.into());
    let id = mb
        .add_message(&folder.id, data, serial)
        .map_err(GraphError::bad_request)?;
    let index = mb
        .find_message(&id)
        .ok_or_else(GraphError::item_not_found)?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        context(req, &format!("{coll}/$entity")),
    );
    out.extend(mb.messages[index].to_json(req.ctx.immutable, req.cfg.outlook_base()));
    Ok(req.ctx.json(StatusCode::CREATED, Value::Object(out)))
}

fn only(m: &Method, allowed: &[Method]) -> Result<(), GraphError> {
    if allowed.contains(m) {
        Ok(())
    } else {
        Err(GraphError::method_not_allowed(m.as_str()))
    }
}

fn find_folder(mb: &Mailbox, key: &str) -> Result<Folder, GraphError> {
    if check_message_id(key).is_err() {
        return Err(GraphError::malformed_id());
    }
    mb.folder(key)
        .cloned()
        .ok_or_else(GraphError::item_not_found)
}

/// A folder's places in `@odata.context`: the collection it belongs to
/// (`users('x')/mailFolders`, `.../mailFolders('inbox')/childFolders`) and its own path
/// (`users('x')/mailFolders('inbox')`).
struct FolderAt<'a> {
    parent_coll: &'a str,
    path: &'a str,
}

fn folder_route(
    mb: &mut Mailbox,
    serial: &mut u64,
    req: &Req<'_>,
    at: &At<'_>,
    place: &FolderAt<'_>,
    folder: &Folder,
    tail: &[String],
) -> Result<Response, GraphError> {
    let m = req.method;
    let prefix = at.prefix;
    let path = place.path;
    // `messages/delta()` is the same function as `messages/delta`.
    let tail = match tail {
        [_, d, empty] if is(d, "delta") && empty.is_empty() => &tail[..2],
        t => t,
    };
    match tail {
        [] => {
            only(m, &[Method::GET])?;
            let q = Query::parse(req.query)?;
            let mut body = Map::new();
            body.insert(
                "@odata.context".into(),
                context(
                    req,
                    &format!("{}{}/$entity", place.parent_coll, selected(&q)),
                ),
            );
            body.extend(q.project(as_map(mb.folder_json(folder))));
            Ok(req.ctx.json(StatusCode::OK, Value::Object(body)))
        }
        [s] if is(s, "childFolders") => {
            let link = format!("{prefix}/mailFolders('{}')/childFolders", folder.id);
            let coll = format!("{path}/childFolders");
            folder_collection(mb, serial, req, &folder.id, &link, &coll)
        }
        [s] if is(s, "messages") => {
            let coll = format!("{path}/messages");
            if m == Method::POST {
                return create_message(mb, serial, req, folder, &coll);
            }
            only(m, &[Method::GET])?;
            let q = Query::parse(req.query)?;
            let link = format!("{prefix}/mailFolders('{}')/messages", folder.id);
            list_messages(mb, req, Some(folder), &q, &link, &coll)
        }
        [s, c] if is(s, "messages") && c == "$count" => count_messages(mb, req, Some(folder)),
        [s, d] if is(s, "messages") && is(d, "delta") => {
            only(m, &[Method::GET])?;
            let call = crate::delta::DeltaCall {
                base: &req.ctx.base,
                prefix,
                query: req.query,
                immutable: req.ctx.immutable,
                outlook: req.cfg.outlook_base(),
                max_page_size: req.max_page_size,
            };
            let (body, applied) = crate::delta::messages(mb, folder, &call)?;
            let mut r = req.ctx.json(StatusCode::OK, body);
            if let Some(n) = applied
                && let Ok(v) = axum::http::HeaderValue::from_str(&format!("odata.maxpagesize={n}"))
            {
                r.headers_mut().append("preference-applied", v);
            }
            Ok(r)
        }
        [s, id, tail @ ..] if is(s, "messages") => {
            message_route(mb, req, id, tail, &format!("{path}/messages"), at.owner)
        }
        [first, ..] => Err(GraphError::segment_not_found(first)),
    }
}

fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// GET lists child folders, POST creates one under `parent_id`.
fn folder_collection(
    mb: &mut Mailbox,
    serial: &mut u64,
    req: &Req<'_>,
    parent_id: &str,
    link: &str,
    coll: &str,
) -> Result<Response, GraphError> {
    if req.method == Method::POST {
        let body = parse_body(req.body)?;
        let name = match body.get("displayName") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                return Err(GraphError::invalid_parameter(
                    "The property 'displayName' is required and must be a non-empty string.",
                ));
            }
        };
        let hidden = match body.get("isHidden") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(GraphError::invalid_parameter(
                    "The property 'isHidden' must be a boolean.",
                ));
            }
        };
        let folder = mb
            .create_folder(parent_id, &name, hidden, serial)
            .map_err(|FolderExists| GraphError::folder_exists())?;
        let mut out = Map::new();
        out.insert(
            "@odata.context".into(),
            context(req, &format!("{coll}/$entity")),
        );
        out.extend(as_map(mb.folder_json(&folder)));
        return Ok(req.ctx.json(StatusCode::CREATED, Value::Object(out)));
    }
    only(req.method, &[Method::GET])?;
    let q = Query::parse(req.query)?;
    let mut items: Vec<Map<String, Value>> = mb
        .children(parent_id)
        .filter(|f| q.include_hidden || !f.hidden)
        .map(|f| as_map(mb.folder_json(f)))
        .filter(|f| q.matches(f))
        .collect();
    q.sort(&mut items, |m| m);
    Ok(page(req, &q, items, link, coll))
}

fn list_messages(
    mb: &Mailbox,
    req: &Req<'_>,
    folder: Option<&Folder>,
    q: &Query,
    link: &str,
    coll: &str,
) -> Result<Response, GraphError> {
    let outlook = req.cfg.outlook_base();
    let mut items: Vec<Map<String, Value>> = mb
        .messages
        .iter()
        .filter(|m| folder.is_none_or(|f| m.folder_id == f.id))
        .map(|m| m.to_json(req.ctx.immutable, outlook))
        .filter(|m| q.matches(m))
        .collect();
    if q.orderby.is_empty() {
        // Graph lists newest first when no order is asked for.
        let default = Query {
            orderby: vec![("receivedDateTime".into(), true)],
            ..Query::default()
        };
        default.sort(&mut items, |m| m);
    } else {
        q.sort(&mut items, |m| m);
    }
    Ok(page(req, q, items, link, coll))
}

/// `GET .../messages/$count`: the number of messages (in `folder`, matching `$filter`) as plain
/// text, as Graph answers it. Graph wants `ConsistencyLevel: eventual` only for directory
/// objects (users, groups), not for Outlook messages, so the header is neither needed nor
/// refused here.
fn count_messages(
    mb: &Mailbox,
    req: &Req<'_>,
    folder: Option<&Folder>,
) -> Result<Response, GraphError> {
    only(req.method, &[Method::GET])?;
    let q = Query::parse(req.query)?;
    let outlook = req.cfg.outlook_base();
    let n = mb
        .messages
        .iter()
        .filter(|m| folder.is_none_or(|f| m.folder_id == f.id))
        .filter(|m| q.filter.is_empty() || q.matches(&m.to_json(req.ctx.immutable, outlook)))
        .count();
    Ok(req.ctx.text(StatusCode::OK, n.to_string()))
}

/// Cuts one page out of `items` and adds `@odata.nextLink` when more remain. Paging is by
/// `$skip` over what the collection holds now, exactly like Graph's message lists. `link` is
/// the collection's mailbox-relative path for the nextLink, `coll` its place in the context.
fn page(
    req: &Req<'_>,
    q: &Query,
    items: Vec<Map<String, Value>>,
    link: &str,
    coll: &str,
) -> Response {
    let top = q.top.unwrap_or(DEFAULT_TOP);
    let total = items.len();
    let value: Vec<Value> = items
        .into_iter()
        .skip(q.skip)
        .take(top)
        .map(|m| Value::Object(q.project(m)))
        .collect();
    let base = &req.ctx.base;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        context(req, &format!("{coll}{}", selected(q))),
    );
    if q.count {
        out.insert("@odata.count".into(), total.into());
    }
    out.insert("value".into(), Value::Array(value));
    let next_skip = q.skip.saturating_add(top);
    if next_skip < total {
        let mut params = url::form_urlencoded::Serializer::new(String::new());
        for (name, v) in [
            ("$select", &q.raw_select),
            ("$expand", &q.raw_expand),
            ("$filter", &q.raw_filter),
            ("$orderby", &q.raw_orderby),
        ] {
            if let Some(v) = v {
                params.append_pair(name, v);
            }
        }
        if q.count {
            params.append_pair("$count", "true");
        }
        params.append_pair("$top", &top.to_string());
        params.append_pair("$skip", &next_skip.to_string());
        let query = params.finish().replace('+', "%20");
        out.insert(
            "@odata.nextLink".into(),
            format!("{base}/v1.0/{link}?{query}").into(),
        );
    }
    req.ctx.json(StatusCode::OK, Value::Object(out))
}

/// A parameter of an action's body (`move`'s `destinationId`). Graph matches action parameter
/// names case-insensitively: its metadata spells them `DestinationId`, which is what the SDKs
/// send, while the docs write `destinationId`. An exact match wins over one that differs in case.
fn action_param<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).or_else(|| {
        body.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(GraphError::invalid_json()),
    }
}

/// One message. `coll` is the collection the request reached it through, for the context
/// (`users('x')/messages`, `users('x')/mailFolders('inbox')/messages`); `owner` the mailbox's
/// (a moved message answers as `users('x')/messages/$entity`).
fn message_route(
    mb: &mut Mailbox,
    req: &Req<'_>,
    id: &str,
    tail: &[String],
    coll: &str,
    owner: &str,
) -> Result<Response, GraphError> {
    if check_message_id(id).is_err() {
        return Err(GraphError::malformed_id());
    }
    let m = req.method;
    let outlook = req.cfg.outlook_base();
    let immutable = req.ctx.immutable;
    let entity = |path: String, message: Map<String, Value>| {
        let mut out = Map::new();
        out.insert(
            "@odata.context".into(),
            context(req, &format!("{path}/$entity")),
        );
        out.extend(message);
        Value::Object(out)
    };
    match tail {
        [] => {
            let index = mb.find_message(id).ok_or_else(GraphError::item_not_found)?;
            if m == Method::DELETE {
                if let Some(deleted) = mb.delete_target(index) {
                    check_room(mb, req, &deleted)?;
                }
                mb.delete_message(index);
                return Ok(req.ctx.empty(StatusCode::NO_CONTENT));
            }
            if m == Method::PATCH {
                let patch = parse_body(req.body)?;
                mb.touch(index);
                let message = &mut mb.messages[index];
                for (k, v) in patch {
                    if !["id", "parentFolderId", "webLink", "@odata.etag"].contains(&k.as_str()) {
                        message.data.insert(k, v);
                    }
                }
                let json = message.to_json(immutable, outlook);
                return Ok(req.ctx.json(StatusCode::OK, entity(coll.to_string(), json)));
            }
            only(m, &[Method::GET])?;
            let q = Query::parse(req.query)?;
            let body = q.project(mb.messages[index].to_json(immutable, outlook));
            let path = format!("{coll}{}", selected(&q));
            Ok(req.ctx.json(StatusCode::OK, entity(path, body)))
        }
        [s] if is(s, "move") => {
            only(m, &[Method::POST])?;
            let body = parse_body(req.body)?;
            let dest = match action_param(&body, "destinationId") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                _ => {
                    return Err(GraphError::invalid_parameter(
                        "The property 'destinationId' is required and must be a folder id or well-known folder name.",
                    ));
                }
            };
            let index = mb.find_message(id).ok_or_else(GraphError::item_not_found)?;
            let dest = mb
                .folder(&dest)
                .ok_or_else(GraphError::item_not_found)?
                .id
                .clone();
            if mb.messages[index].folder_id != dest {
                check_room(mb, req, &dest)?;
            }
            mb.move_message(index, &dest);
            let json = mb.messages[index].to_json(immutable, outlook);
            Ok(req.ctx.json(
                StatusCode::CREATED,
                entity(format!("{owner}/messages"), json),
            ))
        }
        [s] if is(s, "permanentDelete") => {
            only(m, &[Method::POST])?;
            let index = mb.find_message(id).ok_or_else(GraphError::item_not_found)?;
            mb.remove_message(index);
            Ok(req.ctx.empty(StatusCode::NO_CONTENT))
        }
        [first, ..] => Err(GraphError::segment_not_found(first)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_handle_key_form_and_escapes() {
        let s = segments("/users/a%40b.example/mailFolders('Bob''s')/messages/AA%2FB").unwrap();
        assert_eq!(
            s,
            [
                "users",
                "a@b.example",
                "mailFolders",
                "Bob's",
                "messages",
                "AA/B"
            ]
        );
        assert_eq!(percent_decode("%zz%4").as_deref(), Some("%zz%4"));
        assert!(percent_decode("%ff").is_none());
    }
}
