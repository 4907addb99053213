//! Outlook on the web links (`/owa/?ItemID=...`): they open a message by its current REST id.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::identity::escape;
use crate::ids::ews_to_rest;
use crate::mailbox::Mailbox;
use crate::state::State;

/// The `ItemID` of an OWA query string, as the REST id it stands for.
pub(crate) fn item_id(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("ItemID"))
        .map(|(_, v)| ews_to_rest(&v))
        .filter(|id| !id.is_empty())
}

/// Finds the live message whose current REST id is `rest_id`, in a mailbox or in the public
/// folders (whose items EWS links to as well): its store and index there.
pub(crate) fn find<'a>(st: &'a State, rest_id: &str) -> Option<(&'a Mailbox, usize)> {
    st.mailboxes
        .iter()
        .chain(std::iter::once(&st.public))
        .find_map(|mb| {
            mb.messages
                .iter()
                .position(|m| m.rest_id() == rest_id)
                .map(|i| (mb, i))
        })
}

/// The message a public web link opens, as Graph would return it with immutable ids.
pub(crate) fn resolve(st: &State, web_link: &str, outlook_base: &str) -> Option<Value> {
    let url = url::Url::parse(web_link)
        .or_else(|_| url::Url::parse("https://outlook.office365.com")?.join(web_link))
        .ok()?;
    if url.path().trim_end_matches('/') != "/owa" {
        return None;
    }
    let id = item_id(url.query()?)?;
    let (mb, i) = find(st, &id)?;
    Some(Value::Object(mb.messages[i].to_json(true, outlook_base)))
}

/// `GET /owa/?ItemID=...`: a small page for a live message, 404 otherwise.
pub(crate) fn open(st: &State, query: Option<&str>) -> Response {
    let found = item_id(query.unwrap_or("")).and_then(|id| find(st, &id));
    let Some((mb, i)) = found else {
        return page(
            StatusCode::NOT_FOUND,
            "Item not found",
            "<p>The item you are trying to open can't be found. It may have been moved or deleted.</p>",
        );
    };
    let m = &mb.messages[i];
    let text = |path: &str| {
        crate::odata::lookup(&m.data, path)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let folder = mb
        .folders
        .iter()
        .find(|f| f.id == m.folder_id)
        .map(|f| f.display_name.clone())
        .unwrap_or_default();
    let body = format!(
        "<dl><dt>Mailbox</dt><dd id=\"mailbox\">{}</dd><dt>Subject</dt><dd id=\"subject\">{}</dd><dt>From</dt><dd id=\"from\">{}</dd><dt>Folder</dt><dd id=\"folder\">{}</dd></dl>",
        // Public folder items belong to no mailbox.
        escape(if mb.address.is_empty() {
            "Public Folders"
        } else {
            &mb.address
        }),
        escape(&text("subject")),
        escape(&text("from/emailAddress/address")),
        escape(&folder)
    );
    page(StatusCode::OK, "Outlook on the web (emulated)", &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html><head><title>{t}</title></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}
