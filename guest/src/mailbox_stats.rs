//! The item counts of the folders the component uses, against the folder
//! item limit (research/graph-api.md §6: 1,000,000 items per folder).

use crate::graph::{Graph, GraphError};
use crate::host::Host;
use crate::run_error::{RunError, run_error};
use crate::setup::{NotLoggedPolicy, Setup};

/// One folder's count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderStat {
    /// `inbox`, `storage`, `storage month`, `not-logged` or `quarantine`.
    pub role: &'static str,
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
    let mut graph = Graph::new(host, &setup, &mailbox);
    let fail = |e: GraphError| run_error(e, &mailbox);
    graph.sign_in().map_err(|e| fail(GraphError::Auth(e)))?;
    let stat = |role, name: &str, found: Option<(String, u64)>| FolderStat {
        role,
        name: name.to_string(),
        exists: found.is_some(),
        item_count: found.as_ref().map_or(0, |f| f.1),
        item_limit: setup.folder_item_limit,
        warning: found.as_ref().is_some_and(|f| setup.folder_warns(f.1)),
    };
    let mut out = vec![stat(
        "inbox",
        "inbox",
        graph.folder_info("inbox").map_err(fail)?,
    )];
    let storage = graph.folder_info(&setup.storage_folder).map_err(fail)?;
    out.push(stat("storage", &setup.storage_folder, storage.clone()));
    if let (true, Some((id, _))) = (setup.monthly_subfolders, storage) {
        let mut months: Vec<(String, String, u64)> = graph
            .child_folders(&id)
            .map_err(fail)?
            .into_iter()
            .filter(|(_, name, _)| is_month(name))
            .collect();
        months.sort_by(|a, b| a.1.cmp(&b.1));
        for (id, name, count) in months {
            let path = format!("{}/{name}", setup.storage_folder);
            out.push(stat("storage month", &path, Some((id, count))));
        }
    }
    if setup.not_logged_policy == NotLoggedPolicy::MoveToFolder {
        let found = graph.folder_info(&setup.not_logged_folder).map_err(fail)?;
        out.push(stat("not-logged", &setup.not_logged_folder, found));
    }
    let found = graph.folder_info(&setup.quarantine_folder).map_err(fail)?;
    out.push(stat("quarantine", &setup.quarantine_folder, found));
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
