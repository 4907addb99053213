//! The item counts of the folders the component uses, against the folder
//! item limit (research/graph-api.md §6: 1,000,000 items per folder).

use crate::host::Host;
use crate::mail_store::{FolderInfo, MailError, MailStore};
use crate::run_error::RunError;
use crate::setup::{NotLoggedPolicy, Setup};

/// What the component uses a folder for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The Inbox.
    Inbox,
    /// The storage folder.
    Storage,
    /// A monthly subfolder of the storage folder.
    StorageMonth,
    /// The folder for messages that cannot be logged.
    NotLogged,
    /// The quarantine folder.
    Quarantine,
}

/// One folder's count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderStat {
    /// What it is for.
    pub role: Role,
    /// Name or path as in the setup.
    pub name: String,
    /// Whether it exists.
    pub exists: bool,
    /// Items in it.
    pub item_count: u64,
    /// The limit it is held against.
    pub item_limit: u32,
    /// Past the warning share of the limit.
    pub warning: bool,
}

/// Counts the Inbox, the storage folder (and its monthly subfolders), and
/// the not-logged and quarantine folders of the setup's mailbox.
pub fn mailbox_stats(host: &dyn Host) -> Result<Vec<FolderStat>, RunError> {
    let (setup, _) = Setup::load(host)?;
    let mailbox = setup
        .mailbox()
        .map_err(RunError::SetupIncomplete)?
        .to_string();
    let mut store =
        crate::experience::open(host, &setup, &mailbox, None).map_err(MailError::into_run_error)?;
    store.connect().map_err(MailError::into_run_error)?;
    folder_stats(&setup, store.as_mut()).map_err(MailError::into_run_error)
}

/// The counts of the setup's folders in `store`.
pub fn folder_stats(
    setup: &Setup,
    store: &mut dyn MailStore,
) -> Result<Vec<FolderStat>, MailError> {
    let stat = |role, name: &str, found: Option<&FolderInfo>| FolderStat {
        role,
        name: name.to_string(),
        exists: found.is_some(),
        item_count: found.map_or(0, |f| f.item_count),
        item_limit: setup.folder_item_limit,
        warning: found.is_some_and(|f| setup.folder_warns(f.item_count)),
    };
    let mut out = vec![stat(
        Role::Inbox,
        "inbox",
        store.folder_info("inbox")?.as_ref(),
    )];
    let storage = store.folder_info(setup.storage())?;
    out.push(stat(Role::Storage, setup.storage(), storage.as_ref()));
    if let (true, Some(folder)) = (setup.monthly_subfolders, storage) {
        let mut months: Vec<FolderInfo> = store
            .child_folders(&folder.id)?
            .into_iter()
            .filter(|f| is_month(&f.name))
            .collect();
        months.sort_by(|a, b| a.name.cmp(&b.name));
        for month in months {
            let path = format!("{}/{}", setup.storage(), month.name);
            out.push(stat(Role::StorageMonth, &path, Some(&month)));
        }
    }
    if setup.not_logged_policy == NotLoggedPolicy::MoveToFolder {
        let found = store.folder_info(&setup.not_logged_folder)?;
        out.push(stat(
            Role::NotLogged,
            &setup.not_logged_folder,
            found.as_ref(),
        ));
    }
    let found = store.folder_info(&setup.quarantine_folder)?;
    out.push(stat(
        Role::Quarantine,
        &setup.quarantine_folder,
        found.as_ref(),
    ));
    Ok(out)
}

/// `2026-11`: the name of a monthly subfolder.
pub fn is_month(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit())
        && matches!(
            &name[5..],
            "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_names() {
        assert!(is_month("2026-11"));
        assert!(!is_month("2026-13"));
        assert!(!is_month("2026/11"));
        assert!(!is_month("Archive"));
    }
}
