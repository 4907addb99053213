//! Which mail store a setup reads: the shared mailbox over Graph (the new
//! experience) or public folders over EWS (the current experience). The one
//! place that knows both; everything else works on a [`MailStore`].

use crate::auth::{Resource, TokenSource};
use crate::ews::store::{BearerSource, EwsAuth, EwsConfig, EwsStore};
use crate::graph::store::GraphStore;
use crate::host::Host;
use crate::mail_store::{MailError, MailStore};
use crate::setup::{AuthMode, EWS_PASSWORD, EwsAuthMode, Experience, Setup};
use secrecy::SecretString;
use std::time::Instant;

/// The store of `setup`'s experience, for `mailbox` (Graph; EWS acts as
/// the setup's account). With a `deadline`, it is a run's store: waits end
/// there and Graph requests are paced.
pub fn open<'a>(
    host: &'a dyn Host,
    setup: &'a Setup,
    mailbox: &str,
    deadline: Option<Instant>,
) -> Result<Box<dyn MailStore + 'a>, MailError> {
    match setup.experience {
        Experience::Graph => Ok(Box::new(match deadline {
            Some(d) => GraphStore::for_run(host, setup, mailbox, d),
            None => GraphStore::new(host, setup, mailbox),
        })),
        Experience::Ews => {
            let mut store = ews_store(host, setup)?;
            if let Some(d) = deadline {
                store.set_deadline(d);
            }
            Ok(Box::new(store))
        }
    }
}

fn ews_store<'a>(host: &'a dyn Host, setup: &'a Setup) -> Result<EwsStore<'a>, MailError> {
    if let Some(missing) = setup.ews.missing() {
        return Err(MailError::Incomplete(missing));
    }
    let account = setup.ews.account.clone().unwrap_or_default();
    let auth = match setup.ews.auth {
        EwsAuthMode::Basic => {
            let password = match host.host_ews_password().filter(|p| !p.is_empty()) {
                Some(p) => p,
                None => host
                    .secret_get(EWS_PASSWORD)
                    .map_err(|e| MailError::Unavailable(e.to_string()))?
                    .ok_or_else(|| {
                        MailError::Incomplete(
                            "no password is stored for the EWS account: set it (setup set --ews-password-stdin)".into(),
                        )
                    })?,
            };
            EwsAuth::Basic {
                user: account.clone(),
                password: SecretString::from(password),
            }
        }
        EwsAuthMode::Oauth2 => EwsAuth::Bearer(Box::new(ExchangeTokens {
            host,
            setup,
            source: TokenSource::for_resource(Resource::Exchange),
        })),
    };
    let config = EwsConfig {
        url: setup.ews.url.clone().unwrap_or_default(),
        impersonate: setup.ews.auth == EwsAuthMode::Oauth2
            && setup.auth_mode == AuthMode::Application,
        queue: setup.ews.queue_folder.clone(),
        search: vec![
            setup.ews.storage_folder.clone(),
            setup.not_logged_folder.clone(),
            setup.quarantine_folder.clone(),
        ],
        account,
    };
    Ok(EwsStore::new(host, config, auth))
}

/// Access tokens for Exchange Online from the setup's app registration.
struct ExchangeTokens<'a> {
    host: &'a dyn Host,
    setup: &'a Setup,
    source: TokenSource,
}

impl BearerSource for ExchangeTokens<'_> {
    fn token(&mut self) -> Result<String, MailError> {
        Ok(self.source.access_token(self.host, self.setup)?)
    }

    fn forget(&mut self) {
        self.source.invalidate(self.host);
    }

    fn requests(&self) -> u32 {
        self.source.requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::{EwsChange, SetupChange};
    use crate::testing::MemHost;

    fn incomplete(host: &MemHost, setup: &Setup) -> String {
        match open(host, setup, "", None) {
            Err(MailError::Incomplete(m)) => m,
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("opened an incomplete store"),
        }
    }

    #[test]
    fn the_current_experience_needs_its_url_account_and_password() {
        let host = MemHost::new();
        let mut setup = Setup::default();
        assert!(
            open(&host, &setup, "shared@contoso.com", None).is_ok(),
            "Graph opens at once"
        );
        setup
            .apply(SetupChange {
                experience: Some(Experience::Ews),
                ..Default::default()
            })
            .unwrap();
        assert!(incomplete(&host, &setup).contains("service URL"));
        setup
            .apply(SetupChange {
                ews: EwsChange {
                    url: Some("https://mail.contoso.com/EWS/Exchange.asmx".into()),
                    account: Some("logging@contoso.com".into()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .unwrap();
        assert!(incomplete(&host, &setup).contains("password"));
        assert_eq!(setup.mailbox(), Ok("logging@contoso.com"));
        host.secret_put(EWS_PASSWORD, "pa55").unwrap();
        let store = open(&host, &setup, "", None).unwrap();
        assert_eq!(store.mailbox(), "logging@contoso.com");
    }
}
