//! The WIT's enums by the names the WIT gives them (`no-recipients`,
//! `storage month`, `on-hold`...): how the store keeps them, and how the CLI,
//! the web page and the JSON output write them. One mapping per enum.
//!
//! The generated types serialize by their Rust names (`NoRecipients`), which
//! is no name the contract knows; the JSON functions here put the WIT's
//! names in their place.

use super::bindings::erp::host::crm::{Owner, Severity};
use super::bindings::erp::host::scheduler::JobState;
use super::bindings::erp::plugin::types::{FolderRole, FolderStat, NotLoggedReason, RunReport};
use serde_json::Value;
use std::fmt;

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// Its name in the WIT (and in the store and the JSON output).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The value of a name, exactly as [`Self::name`] writes it.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

names!(Severity { Info => "info", Warning => "warning", Error => "error" });
names!(Owner { Salesperson => "salesperson", Contact => "contact" });
names!(JobState {
    Ready => "ready",
    InProcess => "in-process",
    PartlyDone => "partly-done",
    Error => "error",
    OnHold => "on-hold",
});
names!(NotLoggedReason {
    Draft => "draft",
    Sensitive => "sensitive",
    NoSender => "no-sender",
    NoRecipients => "no-recipients",
    InternalOnly => "internal-only",
    NoContactAmongRecipients => "no-contact-among-recipients",
    ExternalOnly => "external-only",
    UnknownSender => "unknown-sender",
    SkippedByErp => "skipped-by-erp",
});
names!(FolderRole {
    Inbox => "inbox",
    Storage => "storage",
    StorageMonth => "storage month",
    NotLogged => "not-logged",
    Quarantine => "quarantine",
});

/// A run report as JSON, its not-logged reasons by name.
pub fn run_report_json(r: &RunReport) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Some(list) = v.get_mut("not_logged").and_then(Value::as_array_mut) {
        for (item, count) in list.iter_mut().zip(&r.not_logged) {
            item["reason"] = count.reason.name().into();
        }
    }
    v
}

/// `serialize_with` for a [`RunReport`] field.
pub fn serialize_run_report<S: serde::Serializer>(r: &RunReport, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&run_report_json(r), s)
}

/// Folder counts as JSON, their roles by name.
pub fn folder_stats_json(stats: &[FolderStat]) -> Value {
    let mut v = serde_json::to_value(stats).unwrap_or(Value::Null);
    if let Some(list) = v.as_array_mut() {
        for (item, stat) in list.iter_mut().zip(stats) {
            item["role"] = stat.role.name().into();
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back() {
        for s in [Severity::Info, Severity::Warning, Severity::Error] {
            assert_eq!(Severity::from_name(s.name()), Some(s));
        }
        for j in [
            JobState::Ready,
            JobState::InProcess,
            JobState::PartlyDone,
            JobState::Error,
            JobState::OnHold,
        ] {
            assert_eq!(JobState::from_name(&j.to_string()), Some(j));
        }
        assert_eq!(Owner::from_name("contact"), Some(Owner::Contact));
        assert_eq!(FolderRole::StorageMonth.to_string(), "storage month");
        assert_eq!(
            NotLoggedReason::from_name("skipped-by-erp"),
            Some(NotLoggedReason::SkippedByErp)
        );
        assert_eq!(
            NotLoggedReason::from_name("NoRecipients"),
            None,
            "only WIT names"
        );
    }
}
