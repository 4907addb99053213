//! The tables the command line prints: readable in a terminal, one row per
//! record, the same columns an ERP list page would show.

use crate::crm::opportunity::Opportunity;
use crate::crm::{ActivityView, EntryView};
use crate::jobs::{JobLogLine, JobQueueEntry};
use crate::link_repair::{LinkLine, RepairReport};
use crate::runtime::FolderStat;
use crate::terminal::plain;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::ASCII_BORDERS_ONLY_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    t
}

fn right(v: impl ToString) -> Cell {
    text(v.to_string()).set_alignment(CellAlignment::Right)
}

/// A cell holding text from the records, made safe for a terminal.
fn text(v: impl AsRef<str>) -> Cell {
    Cell::new(plain(v.as_ref()))
}

/// `2026-11-02T09:00:00Z` → `2026-11-02 09:00`.
pub fn short_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// Unix seconds → `2026-11-02 09:00 UTC`.
pub fn unix_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| secs.to_string())
}

/// The direction of an entry in words.
pub fn direction(e: &EntryView) -> &'static str {
    if e.information_flow == "inbound" {
        "from contact"
    } else {
        "to contact"
    }
}

/// Interaction log entries.
pub fn entries(list: &[EntryView]) -> String {
    let mut t = table(&[
        "No.",
        "Date",
        "Contact",
        "Salesperson",
        "Direction",
        "Subject",
        "Folder",
        "Opportunity",
    ]);
    for e in list {
        let folder = match (e.link_status.as_str(), e.folder.as_deref()) {
            ("not-found", _) => "(message not found)".to_string(),
            (_, Some(f)) => f.to_string(),
            (_, None) => String::new(),
        };
        t.add_row(vec![
            right(e.entry_no),
            text(short_time(&e.datetime)),
            text(&e.contact_no),
            text(&e.salesperson_code),
            text(direction(e)),
            text(&e.subject),
            text(folder),
            text(e.opportunity_no.as_deref().unwrap_or_default()),
        ]);
    }
    format!("{t}\n{} entries", list.len())
}

/// Opportunities.
pub fn opportunities(list: &[Opportunity]) -> String {
    let mut t = table(&[
        "No.",
        "Description",
        "Contact",
        "Salesperson",
        "Status",
        "Created",
        "From entry",
    ]);
    for o in list {
        t.add_row(vec![
            text(&o.no),
            text(&o.description),
            text(&o.contact_no),
            text(&o.salesperson_code),
            text(&o.status),
            text(short_time(&o.created_at)),
            right(o.from_entry_no.map(|n| n.to_string()).unwrap_or_default()),
        ]);
    }
    format!("{t}\n{} opportunities", list.len())
}

/// The activity log.
pub fn activity_log(list: &[ActivityView]) -> String {
    let mut t = table(&["When", "Source", "Severity", "Description"]);
    for a in list {
        t.add_row(vec![
            text(short_time(&a.at)),
            text(&a.source),
            text(&a.severity),
            text(&a.description),
        ]);
    }
    format!("{t}\n{} lines", list.len())
}

/// Job queue entries and the latest runs.
pub fn jobs(entries: &[JobQueueEntry], log: &[JobLogLine]) -> String {
    let mut t = table(&[
        "Job",
        "Status",
        "Every",
        "Last run",
        "Next run",
        "Last error",
    ]);
    for j in entries {
        t.add_row(vec![
            text(&j.job),
            text(&j.status),
            text(format!("{} min", j.every_seconds / 60)),
            text(
                j.last_run_at
                    .map(unix_time)
                    .unwrap_or_else(|| "never".into()),
            ),
            text(unix_time(j.next_run)),
            text(j.last_error.as_deref().unwrap_or_default()),
        ]);
    }
    let mut out = if entries.is_empty() {
        "No job queue entries: enable email logging to create one (setup enable).".to_string()
    } else {
        t.to_string()
    };
    if !log.is_empty() {
        let mut t = table(&[
            "Run", "Ended", "Outcome", "Seen", "Logged", "Entries", "Warnings", "Worker",
        ]);
        for l in log {
            let n = |k: &str| {
                l.report
                    .as_ref()
                    .and_then(|r| r.get(k))
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            };
            let warnings = l
                .report
                .as_ref()
                .and_then(|r| r.get("warnings"))
                .and_then(|w| w.as_array())
                .map(|w| w.len().to_string())
                .unwrap_or_default();
            t.add_row(vec![
                right(l.id),
                text(short_time(&l.at)),
                text(&l.outcome),
                right(n("messages_seen")),
                right(n("messages_logged")),
                right(n("entries_created")),
                right(warnings),
                text(l.worker.as_deref().unwrap_or_default()),
            ]);
        }
        out.push_str("\n\nLatest runs (job queue log):\n");
        out.push_str(&t.to_string());
    }
    out
}

/// Folder item counts against the limit.
pub fn folder_stats(list: &[FolderStat]) -> String {
    let mut t = table(&["Folder", "Used for", "Items", "Limit", "Share", ""]);
    for f in list {
        let share = if f.item_limit == 0 {
            0.0
        } else {
            f.item_count as f64 * 100.0 / f64::from(f.item_limit)
        };
        t.add_row(vec![
            text(&f.name),
            text(f.role.name()),
            right(if f.exists {
                f.item_count.to_string()
            } else {
                "(not created yet)".into()
            }),
            right(f.item_limit),
            right(format!("{share:.1}%")),
            text(if f.warning {
                "WARNING: nearly full"
            } else {
                ""
            }),
        ]);
    }
    t.to_string()
}

/// What `entries repair-links` did.
pub fn repair(r: &RepairReport) -> String {
    let mut out = format!(
        "Checked {} links: {} repaired, {} already right, {} not found, {} could not be checked.",
        r.checked,
        r.repaired.len(),
        r.unchanged,
        r.not_found.len(),
        r.failed.len()
    );
    let mut section = |title: &str, lines: &[LinkLine]| {
        if lines.is_empty() {
            return;
        }
        let mut t = table(&["Entries", "Subject", ""]);
        for l in lines {
            let nos: Vec<String> = l.entry_nos.iter().map(i64::to_string).collect();
            t.add_row(vec![
                text(nos.join(", ")),
                text(&l.subject),
                text(&l.detail),
            ]);
        }
        out.push_str(&format!("\n\n{title}:\n{t}"));
    };
    section("Repaired", &r.repaired);
    section("Not found", &r.not_found);
    section("Could not be checked", &r.failed);
    out
}
