//! The Email Logging reference host: a small ERP (SQLite records, a job
//! queue, a CLI) that loads the Email Logging component in wasmtime and
//! gives it HTTP, storage, scheduling and the app registration callbacks.

pub mod bench;
pub mod cli;
pub mod console;
pub mod crm;
pub mod crypto;
pub mod demo;
pub mod erp;
pub mod host;
pub mod jobs;
pub mod link_repair;
pub mod pg_cluster;
pub mod progress;
pub mod realism;
pub mod runtime;
pub mod setup_form;
pub mod store;
pub mod terminal;
pub mod views;
pub mod web;
pub mod wizard;

pub use erp::{Erp, ErpOptions, JobOutcome};
