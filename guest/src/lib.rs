//! The Email Logging component.
//!
//! The logic lives in plain modules that know nothing of WIT; `edge` is the
//! only place that sees the generated bindings: it implements the exported
//! interfaces and adapts the host imports to [`host::Host`].

pub mod address;
pub mod admin;
pub mod auth;
pub mod classify;
mod edge;
pub mod ews;
pub mod experience;
pub mod graph;
pub mod host;
pub mod links;
pub mod mail_store;
pub mod mailbox_stats;
pub mod message;
pub mod process;
pub mod retry;
pub mod run_error;
pub mod setup;
pub mod web_link;

#[cfg(test)]
mod testing;

pub use process::report;
