//! What the delta queries of one mailbox remember between calls: the data
//! only, kept in the mailbox; `delta` works on it.

use crate::odata::Query;
use std::collections::HashMap;
use std::sync::Arc;

/// The delta state of one mailbox: every token handed out, so a page can be asked again.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeltaStore {
    pub(crate) pages: HashMap<String, Round>,
    pub(crate) links: HashMap<String, Link>,
}

/// A round's `changeType` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Created,
    Updated,
    Deleted,
}

/// What the folder held when a round started: immutable id to the REST id of then, and the
/// mailbox's change number.
#[derive(Debug, Default)]
pub(crate) struct Baseline {
    pub(crate) seq: u64,
    pub(crate) members: HashMap<String, String>,
}

/// One change a round reports: a message (by immutable id) added or
/// changed, or one that left the folder.
#[derive(Debug)]
pub(crate) enum Change {
    Message(String),
    Removed { immutable: String, rest: String },
}

/// A round being paged through: its changes, where the next page starts, and the baseline the
/// round's deltaLink will hand on.
#[derive(Debug, Clone)]
pub(crate) struct Round {
    pub(crate) folder_id: String,
    pub(crate) q: Query,
    pub(crate) change_type: Option<ChangeType>,
    pub(crate) changes: Arc<Vec<Change>>,
    pub(crate) pos: usize,
    pub(crate) next: Arc<Baseline>,
}

/// The end of a round, for the next one.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) folder_id: String,
    pub(crate) q: Query,
    pub(crate) change_type: Option<ChangeType>,
    pub(crate) baseline: Arc<Baseline>,
}
