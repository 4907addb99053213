//! `GET .../mailFolders/{id}/messages/delta`: Graph's delta query for the messages of one
//! folder.
//!
//! A round is one or more calls: the first (no token, or the `$deltatoken` of the previous
//! round) works out what changed, the pages follow through `@odata.nextLink`
//! (`$skiptoken=...`), and the last page carries `@odata.deltaLink` (`$deltatoken=...`) for the
//! next round. The first round returns every message in the folder; a later one returns the
//! messages that arrived in the folder or changed (moved, patched) since its round started, and
//! `{"id", "@removed": {"reason": "deleted"}}` for each that left it (moved out or deleted).
//!
//! Options are taken from the first request of a round and kept in its tokens, as in Graph:
//! `$select`, `$filter`, `$top` (page size, like `Prefer: odata.maxpagesize=N`, which wins) and
//! `changeType=created|updated|deleted`. Tokens are opaque and belong to one mailbox and
//! folder; an unknown one answers 410 `syncStateNotFound` (the emulator's choice of status).

use std::collections::HashSet;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::delta_state::{Baseline, Change, ChangeType, Link, Round};
use crate::error::GraphError;
use crate::ids::random_token;
use crate::mailbox::{Folder, Mailbox};
use crate::odata::{DEFAULT_TOP, MAX_TOP, Query};

/// What one delta request needs to know besides the mailbox.
pub(crate) struct DeltaCall<'a> {
    /// `https://graph.microsoft.com` or wherever the request was sent.
    pub base: &'a str,
    /// Mailbox-relative link prefix, `users/x@y` or `me`.
    pub prefix: &'a str,
    pub query: Option<&'a str>,
    pub immutable: bool,
    pub outlook: &'a str,
    /// From `Prefer: odata.maxpagesize=N`.
    pub max_page_size: Option<usize>,
}

fn sync_state_not_found() -> GraphError {
    GraphError::new(
        StatusCode::GONE,
        "syncStateNotFound",
        "The sync state of this delta token was not found. Start a new round of synchronization without a token.",
    )
}

/// Answers one delta call: the page's body, and the page size applied when the request asked
/// for one with `Prefer`.
pub(crate) fn messages(
    mb: &mut Mailbox,
    folder: &Folder,
    call: &DeltaCall<'_>,
) -> Result<(Value, Option<usize>), GraphError> {
    let mut skiptoken = None;
    let mut deltatoken = None;
    let mut change_type = None;
    for (k, v) in url::form_urlencoded::parse(call.query.unwrap_or("").as_bytes()) {
        match k.trim_start_matches('$').to_ascii_lowercase().as_str() {
            "skiptoken" => skiptoken = Some(v.into_owned()),
            "deltatoken" => deltatoken = Some(v.into_owned()),
            "changetype" => {
                change_type = Some(match v.to_ascii_lowercase().as_str() {
                    "created" => ChangeType::Created,
                    "updated" => ChangeType::Updated,
                    "deleted" => ChangeType::Deleted,
                    _ => {
                        return Err(GraphError::bad_request(
                            "Invalid value for changeType. Supported values are created, updated and deleted.",
                        ));
                    }
                });
            }
            _ => {}
        }
    }
    let round = if let Some(token) = skiptoken {
        mb.delta
            .pages
            .get(&token)
            .filter(|r| r.folder_id == folder.id)
            .cloned()
            .ok_or_else(sync_state_not_found)?
    } else {
        let (q, change_type, baseline) = match deltatoken {
            Some(token) => {
                let link = mb
                    .delta
                    .links
                    .get(&token)
                    .filter(|l| l.folder_id == folder.id)
                    .cloned()
                    .ok_or_else(sync_state_not_found)?;
                (link.q, link.change_type, link.baseline)
            }
            None => (
                Query::parse(call.query)?,
                change_type,
                Arc::new(Baseline::default()),
            ),
        };
        let (changes, next) = diff(mb, folder, &q, change_type, &baseline, call.outlook);
        Round {
            folder_id: folder.id.clone(),
            q,
            change_type,
            changes: Arc::new(changes),
            pos: 0,
            next: Arc::new(next),
        }
    };
    let page_size = call
        .max_page_size
        .or(round.q.top)
        .unwrap_or(DEFAULT_TOP)
        .clamp(1, MAX_TOP);

    let mut value = Vec::new();
    let mut pos = round.pos;
    while pos < round.changes.len() && value.len() < page_size {
        if let Some(item) = render(mb, folder, &round.changes[pos], &round.q, call) {
            value.push(item);
        }
        pos += 1;
    }
    let link = format!(
        "{}/v1.0/{}/mailFolders('{}')/messages/delta",
        call.base, call.prefix, folder.id
    );
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        format!("{}/v1.0/$metadata#Collection(message)", call.base).into(),
    );
    if pos < round.changes.len() {
        let token = random_token("");
        mb.delta.pages.insert(
            token.clone(),
            Round {
                pos,
                ..round.clone()
            },
        );
        out.insert(
            "@odata.nextLink".into(),
            format!("{link}?$skiptoken={token}").into(),
        );
    } else {
        let token = random_token("");
        mb.delta.links.insert(
            token.clone(),
            Link {
                folder_id: round.folder_id.clone(),
                q: round.q.clone(),
                change_type: round.change_type,
                baseline: round.next.clone(),
            },
        );
        out.insert(
            "@odata.deltaLink".into(),
            format!("{link}?$deltatoken={token}").into(),
        );
    }
    out.insert("value".into(), Value::Array(value));
    Ok((Value::Object(out), call.max_page_size.map(|_| page_size)))
}

/// What changed in `folder` since `baseline`, and the baseline for the round after this one.
fn diff(
    mb: &Mailbox,
    folder: &Folder,
    q: &Query,
    change_type: Option<ChangeType>,
    baseline: &Baseline,
    outlook: &str,
) -> (Vec<Change>, Baseline) {
    let mut present: Vec<(Map<String, Value>, &crate::mailbox::StoredMessage)> = mb
        .messages_in(&folder.id)
        .map(|m| (m.to_json(true, outlook), m))
        .filter(|(json, _)| q.matches(json))
        .collect();
    // Newest first, as Graph's only supported order is receivedDateTime desc.
    let newest_first = Query {
        orderby: vec![("receivedDateTime".into(), true)],
        ..Query::default()
    };
    newest_first.sort(&mut present, |(json, _)| json);
    let wants = |t: ChangeType| change_type.is_none_or(|c| c == t);
    let now: HashSet<&str> = present
        .iter()
        .map(|(_, m)| m.immutable_id.as_str())
        .collect();
    let mut changes = Vec::new();
    if wants(ChangeType::Deleted) {
        let mut gone: Vec<(&String, &String)> = baseline
            .members
            .iter()
            .filter(|(imm, _)| !now.contains(imm.as_str()))
            .collect();
        gone.sort();
        changes.extend(gone.into_iter().map(|(imm, rest)| Change::Removed {
            immutable: imm.clone(),
            rest: rest.clone(),
        }));
    }
    for (_, m) in &present {
        let kind = if !baseline.members.contains_key(&m.immutable_id) {
            Some(ChangeType::Created)
        } else if m.changed > baseline.seq {
            Some(ChangeType::Updated)
        } else {
            None
        };
        if kind.is_some_and(wants) {
            changes.push(Change::Message(m.immutable_id.clone()));
        }
    }
    let next = Baseline {
        seq: mb.change_seq,
        members: present
            .iter()
            .map(|(_, m)| (m.immutable_id.clone(), m.rest_id()))
            .collect(),
    };
    (changes, next)
}

/// One entry of a page; `None` for a message that left the folder while the round was paged
/// (the next round reports it removed).
fn render(
    mb: &Mailbox,
    folder: &Folder,
    change: &Change,
    q: &Query,
    call: &DeltaCall<'_>,
) -> Option<Value> {
    let mut out = Map::new();
    out.insert("@odata.type".into(), "#microsoft.graph.message".into());
    match change {
        Change::Message(immutable) => {
            let m = &mb.messages[mb.find_message(immutable)?];
            if m.folder_id != folder.id {
                return None;
            }
            out.extend(q.project(m.to_json(call.immutable, call.outlook)));
        }
        Change::Removed { immutable, rest } => {
            let id = if call.immutable { immutable } else { rest };
            out.insert("id".into(), id.clone().into());
            out.insert("@removed".into(), serde_json::json!({"reason": "deleted"}));
        }
    }
    Some(Value::Object(out))
}
