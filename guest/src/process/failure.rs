//! What a failed step means for the message: defer it to the next run,
//! quarantine it, count it as gone, or end the run.

use crate::host::HostError;
use crate::mail_store::MailError;

/// How a failed step is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// Try again in a later run: the fault may pass (429, 5xx, timeouts, resets).
    Transient(String),
    /// It will fail the same way every time: quarantine the message.
    Permanent(String),
    /// The message is gone from the Inbox (moved or deleted by someone else).
    Vanished,
    /// The mailbox throttles: defer, end the run, postpone the job by so many seconds.
    Throttled(u32, String),
    /// Nothing more can be done in this run (a full folder, a lost sign-in, a
    /// mailbox that cannot be used): defer and end the run.
    StopRun(String),
}

impl Failure {
    /// What a mail store's failure means for the message at hand.
    pub(super) fn of_mail(e: &MailError) -> Self {
        match e {
            MailError::Throttled {
                retry_after_secs,
                text,
            } => Failure::Throttled(*retry_after_secs, text.clone()),
            MailError::Gone(_) => Failure::Vanished,
            MailError::Full(t) => Failure::StopRun(format!("a folder is full: {t}")),
            // A grant lost mid-run fails every later call alike: stop; the
            // next run's sign-in check records it on the setup.
            MailError::SignInLost(t) | MailError::Incomplete(t) | MailError::Unusable(t) => {
                Failure::StopRun(t.clone())
            }
            MailError::Refused(t) => Failure::Permanent(t.clone()),
            MailError::Unavailable(t) => Failure::Transient(t.clone()),
        }
    }

    /// What an ERP failure while doing `what` means for the message.
    pub(super) fn of_host(what: &str, e: HostError) -> Self {
        match e {
            HostError::Invalid(m) | HostError::Denied(m) | HostError::NotFound(m) => {
                Failure::Permanent(format!("{what}: {m}"))
            }
            other => Failure::Transient(format!("{what}: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_treatment() {
        let throttled = MailError::Throttled {
            retry_after_secs: 9,
            text: "slow down".into(),
        };
        assert_eq!(
            Failure::of_mail(&throttled),
            Failure::Throttled(9, "slow down".into())
        );
        assert_eq!(
            Failure::of_mail(&MailError::Gone("x".into())),
            Failure::Vanished
        );
        assert!(matches!(
            Failure::of_mail(&MailError::Full("q".into())),
            Failure::StopRun(t) if t.contains("a folder is full")
        ));
        for stop in [
            MailError::SignInLost("s".into()),
            MailError::Incomplete("i".into()),
            MailError::Unusable("u".into()),
        ] {
            assert!(
                matches!(Failure::of_mail(&stop), Failure::StopRun(_)),
                "{stop:?}"
            );
        }
        assert_eq!(
            Failure::of_mail(&MailError::Refused("r".into())),
            Failure::Permanent("r".into())
        );
        assert_eq!(
            Failure::of_mail(&MailError::Unavailable("t".into())),
            Failure::Transient("t".into())
        );
        assert!(matches!(
            Failure::of_host("saving", HostError::Invalid("key too long".into())),
            Failure::Permanent(t) if t == "saving: key too long"
        ));
        assert!(matches!(
            Failure::of_host("saving", HostError::Unavailable("busy".into())),
            Failure::Transient(_)
        ));
    }
}
