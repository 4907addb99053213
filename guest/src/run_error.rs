//! Why a run, or a call that reads the mailbox, could not proceed at all.

use crate::host::HostError;

/// Why a run could not proceed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Email logging is off.
    #[error("email logging is not enabled")]
    NotEnabled,
    /// Setup values are missing.
    #[error("the setup is incomplete: {0}")]
    SetupIncomplete(String),
    /// A person must sign in again or fix the app registration.
    #[error("{0}")]
    SignInRequired(String),
    /// Throttled; retry after so many seconds.
    #[error("throttled by Microsoft Graph; retry after {0} s")]
    Throttled(u32),
    /// The mailbox cannot be used.
    #[error("{0}")]
    Mailbox(String),
    /// Transient or host failure.
    #[error("{0}")]
    Transient(String),
}

impl From<HostError> for RunError {
    fn from(e: HostError) -> Self {
        RunError::Transient(e.to_string())
    }
}
