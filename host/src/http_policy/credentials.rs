//! Credential injection: a connector names a credential from `[auth.NAME]`; the
//! host adds it to the request's headers, only for the hosts it is granted to.
//! The value never crosses into the connector.

use super::allowlist::HostRule;
use crate::bindings::WitError;
use crate::pipeline::{Credential, CredentialKind};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use url::Url;

pub fn inject(name: &str, cred: &Credential, url: &Url, headers: &mut HeaderMap) -> Result<(), WitError> {
    if !cred.hosts.is_empty() {
        let granted = cred.hosts.iter().any(|h| HostRule::parse(h).is_ok_and(|r| r.allows(url)));
        if !granted {
            return Err(WitError::Denied(format!(
                "credential `{name}` is not granted for {} (its hosts: {})",
                super::allowlist::origin(url),
                cred.hosts.join(", ")
            )));
        }
    }
    let secret = |v: &str| {
        let mut value = HeaderValue::from_str(v)
            .map_err(|_| WitError::Config(format!("credential `{name}` has characters not allowed in a header")))?;
        value.set_sensitive(true);
        Ok::<_, WitError>(value)
    };
    match &cred.kind {
        CredentialKind::Bearer { token } => {
            headers.insert(AUTHORIZATION, secret(&format!("Bearer {}", token.expose()))?);
        }
        CredentialKind::Header { header, value } => {
            let header = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| WitError::Config(format!("credential `{name}`: header name `{header}` is invalid")))?;
            headers.insert(header, secret(value.expose())?);
        }
    }
    Ok(())
}
