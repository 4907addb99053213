//! The mailbox as the pipeline knows it: pages of Inbox messages, moves,
//! deletes, folders, and finding a logged message again.
//!
//! The pipeline (`process`), the setup checks (`admin`), link repair
//! (`links`) and the folder counts (`mailbox_stats`) use only this trait.
//! Microsoft Graph implements it (`graph::store`); a second store
//! (public folders over EWS) implements it the same way, and unit tests use
//! an in-memory one. A store turns its own wire errors into [`MailError`],
//! which says what the pipeline needs to know: defer, quarantine, stop.

use crate::message::{InboxMessage, Unreadable};
use crate::run_error::RunError;

/// Where a listing of the Inbox goes on. The store keeps its place: after
/// `First` it starts over (the run changed the Inbox), after `Next` it
/// continues past the items it handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// The oldest messages.
    First,
    /// The messages after the last page.
    Next,
}

/// One page of Inbox messages, oldest first.
#[derive(Debug, Default)]
pub struct Page {
    /// The items: messages, or what is known of items that cannot be logged
    /// as they are (too large, no id).
    pub items: Vec<Result<InboxMessage, Unreadable>>,
    /// Whether a page follows this one.
    pub more: bool,
}

/// A message after a move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Its id now.
    pub id: String,
    /// Its Outlook on the web link now (safe, as [`MailStore::web_link`] makes them).
    pub web_link: String,
}

/// A logged message to find again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    /// The mailbox it was logged from.
    pub mailbox: String,
    /// Its immutable id.
    pub message_id: String,
    /// Its `internetMessageId`.
    pub internet_message_id: Option<String>,
}

/// Where a message is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Found: its immutable id, web link and folder name now.
    Found {
        /// Immutable id.
        message_id: String,
        /// Outlook on the web link.
        web_link: String,
        /// Display name of its folder.
        folder: String,
    },
    /// Neither the id nor the `internetMessageId` is in the mailbox.
    NotFound,
    /// The mailbox could not be asked about this message.
    Failed(String),
}

/// A folder: its id and item count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    /// The id to move messages to.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Items in it.
    pub item_count: u64,
}

/// One line of the store's part of the setup checklist: can it sign in,
/// can it read the mailbox. The hint says what to do in the store's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessCheck {
    /// What was checked (`token`, `mailbox`).
    pub name: String,
    /// Whether it worked.
    pub passed: bool,
    /// What was found.
    pub detail: String,
    /// What to do about it (empty when it passed).
    pub hint: String,
}

impl AccessCheck {
    /// A check that passed.
    pub fn pass(name: &str, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            passed: true,
            detail: detail.into(),
            hint: String::new(),
        }
    }

    /// A check that failed, with what to do.
    pub fn fail(name: &str, detail: impl Into<String>, hint: &str) -> Self {
        Self {
            name: name.into(),
            passed: false,
            detail: detail.into(),
            hint: hint.into(),
        }
    }
}

/// What a store call cost, for the run report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Requests sent (token requests included).
    pub requests: u32,
    /// Waits for throttling or `Retry-After`.
    pub throttled_waits: u32,
}

/// Why a store call failed, by what it means for the message at hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The mailbox throttles; retry after so many seconds.
    #[error("{text}")]
    Throttled {
        /// Seconds to wait.
        retry_after_secs: u32,
        /// The store's words.
        text: String,
    },
    /// The item is no longer there (moved or deleted by someone else).
    #[error("{0}")]
    Gone(String),
    /// The destination folder is at its item limit.
    #[error("{0}")]
    Full(String),
    /// The sign-in was lost or refused; every later call fails alike.
    #[error("{0}")]
    SignInLost(String),
    /// The setup lacks what the store needs (the text says what).
    #[error("{0}")]
    Incomplete(String),
    /// The mailbox cannot be used at all (unknown, no rights, no licence).
    #[error("{0}")]
    Unusable(String),
    /// Refused for good for this item.
    #[error("{0}")]
    Refused(String),
    /// A fault that may pass.
    #[error("{0}")]
    Unavailable(String),
}

impl MailError {
    /// What a failure before any message was handled means for the job.
    pub fn into_run_error(self) -> RunError {
        match self {
            MailError::Throttled {
                retry_after_secs, ..
            } => RunError::Throttled(retry_after_secs),
            MailError::SignInLost(m) => RunError::SignInRequired(m),
            MailError::Incomplete(m) => RunError::SetupIncomplete(m),
            MailError::Unusable(m) => RunError::Mailbox(m),
            other => RunError::Transient(other.to_string()),
        }
    }
}

/// The mailbox the pipeline works on.
pub trait MailStore {
    /// The mailbox's address, as entries keep it.
    fn mailbox(&self) -> &str;
    /// Signs in now, so that a lost grant shows before any mail is touched.
    fn connect(&mut self) -> Result<(), MailError>;
    /// Signs in afresh and reads the Inbox, for the setup checklist; stops at
    /// the first line that fails.
    fn check_access(&mut self) -> Vec<AccessCheck>;
    /// A page of Inbox messages, oldest first, at most `batch` of them.
    fn page(&mut self, cursor: Cursor, batch: u32) -> Result<Page, MailError>;
    /// Moves messages (id, destination folder id); one answer per move, in
    /// order: where the message is now, or `None` when it was moved but the
    /// store cannot tell its new id (an EWS move into a public folder, of an
    /// item with nothing to find it by), which link repair then looks for.
    fn move_many(&mut self, moves: &[(String, String)]) -> Vec<Result<Option<Moved>, MailError>>;
    /// [`Self::move_many`], reading the Inbox's first page of `batch` at the
    /// same time where the store can do it without a request of its own
    /// (Graph: one more inner request of the last `$batch`), for the drain's
    /// next page: a following `page(Cursor::First, batch)` takes it. The
    /// page read while the moves are in flight may still hold some of them,
    /// which the drain has seen already. By default it only moves.
    fn move_many_and_read_ahead(
        &mut self,
        moves: &[(String, String)],
        batch: u32,
    ) -> Vec<Result<Option<Moved>, MailError>> {
        let _ = batch;
        self.move_many(moves)
    }
    /// Deletes a message the way a person would (it goes to Deleted Items).
    fn delete(&mut self, id: &str) -> Result<(), MailError>;
    /// The folder id for a folder path, creating missing levels.
    fn ensure_folder(&mut self, path: &str) -> Result<String, MailError>;
    /// The id of the child folder `name` of folder `parent`, created when missing.
    fn ensure_child_folder(&mut self, parent: &str, name: &str) -> Result<String, MailError>;
    /// A folder by path, if every level exists.
    fn folder_info(&mut self, path: &str) -> Result<Option<FolderInfo>, MailError>;
    /// A folder's child folders.
    fn child_folders(&mut self, id: &str) -> Result<Vec<FolderInfo>, MailError>;
    /// A folder's item count by id.
    fn folder_count(&mut self, id: &str) -> Result<u64, MailError>;
    /// Creates a harmless message that says what it is (in Drafts, or in
    /// the queue folder); its id.
    fn create_probe(&mut self) -> Result<String, MailError>;
    /// What to grant when the store refuses the job account something: the
    /// checklist's hint, in the store's own terms.
    fn rights_hint(&self) -> &'static str;
    /// Where the item limit of a folder comes from, for the checklist.
    fn folder_limit_source(&self) -> &'static str;
    /// Deletes a message for good, leaving nothing in Deleted Items.
    fn delete_for_good(&mut self, id: &str) -> Result<(), MailError>;
    /// Finds a logged message again: by immutable id, else by `internetMessageId`.
    fn find_again(&mut self, r: &MessageRef) -> Resolution;
    /// The link that opens message `id` in Outlook on the web: the link the
    /// server gave when it is a safe one to this store's Outlook, else the
    /// one Outlook opens for the id. Links end up as `href`s in the ERP, so a
    /// store never hands out another.
    fn web_link(&self, id: &str, given: Option<&str>) -> String;
    /// What the calls so far cost.
    fn usage(&self) -> Usage;
    /// Ends a run: keeps what the next run should know (Graph: its requests
    /// within the throttling window). By default nothing.
    fn finish(&mut self) {}
}
