//! Why a run, or a call that reads the mailbox, could not proceed at all.

use crate::auth::AuthError;
use crate::graph::GraphError;
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

/// Maps a failure before any message was handled to what the job reports.
pub(crate) fn run_error(e: GraphError, mailbox: &str) -> RunError {
    match e {
        GraphError::Throttled(s) => RunError::Throttled(s),
        GraphError::Auth(AuthError::SignInRequired(m) | AuthError::InvalidClient(m)) => {
            RunError::SignInRequired(m)
        }
        GraphError::Auth(AuthError::Incomplete(m)) => RunError::SetupIncomplete(m),
        GraphError::Api {
            status: 404, code, ..
        } if code == "MailboxNotEnabledForRESTAPI" => RunError::Mailbox(format!(
            "the mailbox {mailbox} is inactive, soft-deleted or on-premises ({code}): it must be an Exchange Online mailbox with a licence"
        )),
        GraphError::Api {
            status: 404, code, ..
        } if code == "ErrorInvalidUser" => RunError::Mailbox(format!(
            "there is no mailbox {mailbox} ({code}): check the shared mailbox address in the setup"
        )),
        GraphError::Api {
            status: 403, code, ..
        } => RunError::Mailbox(format!(
            "access to {mailbox} was denied ({code}): give the job account Full Access to the shared mailbox, and the app Mail.ReadWrite.Shared"
        )),
        other => RunError::Transient(other.to_string()),
    }
}
