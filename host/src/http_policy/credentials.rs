//! Credential injection: a connector names a credential from `[auth.NAME]`; the
//! host adds it to the request (a header or a query parameter), only for the
//! hosts it is granted to. The value never crosses into the connector.
//!
//! OAuth2 tokens (client credentials, or a refresh token) are fetched by the
//! host, cached until shortly before they expire, and refreshed once on a 401.
//! A refresh token the provider rotates is persisted in the state store, so the
//! next run uses the new one.

use super::HttpError;
use super::scrub::Scrubber;
use crate::config::{Credential, CredentialKind, OAuth2, origin};
use crate::store::StateStore;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Refresh this long before a token expires, or a quarter of its life when that
/// is shorter: a token that lives 30 s is used for 22 s, not refetched per call.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

struct Token {
    access: String,
    /// When to fetch a new one; `None` when the provider gave no lifetime.
    refresh_at: Option<Instant>,
}

pub struct Credentials {
    defs: BTreeMap<String, Credential>,
    tokens: tokio::sync::Mutex<HashMap<String, Token>>,
    client: reqwest::Client,
    store: Option<Arc<dyn StateStore>>,
}

impl Credentials {
    pub fn new(defs: BTreeMap<String, Credential>, store: Option<Arc<dyn StateStore>>, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain client builds");
        Credentials { defs, tokens: tokio::sync::Mutex::new(HashMap::new()), client, store }
    }

    pub fn is_oauth(&self, name: &str) -> bool {
        self.defs.get(name).is_some_and(|c| matches!(c.kind, CredentialKind::OAuth2(_)))
    }

    /// Adds credential `name` to a request for `url`, and every secret value it sent to `sent`.
    pub async fn apply(
        &self,
        name: &str,
        url: &mut Url,
        headers: &mut HeaderMap,
        sent: &mut Scrubber,
    ) -> Result<(), HttpError> {
        let cred = self.defs.get(name).ok_or_else(|| {
            HttpError::Invalid(format!(
                "credential `{name}` is not defined: add [auth.{name}] to the pipeline (defined: {})",
                self.defs.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if !cred.granted_for(url) {
            return Err(HttpError::Denied(format!(
                "credential `{name}` is not granted for {} (its hosts: {})",
                origin(url),
                cred.hosts_text()
            )));
        }
        if !cred.cleartext_ok(url) {
            return Err(HttpError::Denied(format!(
                "credential `{name}` is sent only over https, and {} is plain http: use https, or write the \
                 host as `http://…` in [auth.{name}] hosts to send it in clear text",
                origin(url)
            )));
        }
        let header = |v: &str| {
            let mut value = HeaderValue::from_str(v).map_err(|_| {
                HttpError::Invalid(format!("credential `{name}` has characters not allowed in a header"))
            })?;
            value.set_sensitive(true);
            Ok::<_, HttpError>(value)
        };
        match &cred.kind {
            CredentialKind::Bearer { token } => {
                headers.insert(AUTHORIZATION, header(&format!("Bearer {}", token.expose()))?);
                sent.add(token.expose());
            }
            CredentialKind::Header { header: h, value } => {
                let h = HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| HttpError::Invalid(format!("credential `{name}`: header name `{h}` is invalid")))?;
                headers.insert(h, header(value.expose())?);
                sent.add(value.expose());
            }
            CredentialKind::Basic { username, password } => {
                use base64::Engine;
                let pair = format!("{}:{}", username.expose(), password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                headers.insert(AUTHORIZATION, header(&format!("Basic {encoded}"))?);
                sent.add(&encoded);
                sent.add(password.expose());
            }
            CredentialKind::Query { param, value } => {
                url.query_pairs_mut().append_pair(param, value.expose());
                sent.add(value.expose());
            }
            CredentialKind::S3 { .. } | CredentialKind::Ssh(_) => {
                return Err(HttpError::Invalid(format!(
                    "credential `{name}` is for file roots (s3 or ssh); HTTP requests cannot use it"
                )));
            }
            CredentialKind::OAuth2(oauth) => {
                let token = self.token(name, oauth).await?;
                headers.insert(AUTHORIZATION, header(&format!("Bearer {token}"))?);
                sent.add(&token);
            }
        }
        Ok(())
    }

    /// Forgets a cached OAuth2 token (after a 401), so the next request fetches a new one.
    pub async fn invalidate(&self, name: &str) {
        self.tokens.lock().await.remove(name);
    }

    /// A valid access token, fetched or refreshed when needed. The lock is held
    /// across the fetch so concurrent requests refresh once, not once each.
    async fn token(&self, name: &str, oauth: &OAuth2) -> Result<String, HttpError> {
        let mut tokens = self.tokens.lock().await;
        if let Some(t) = tokens.get(name)
            && t.refresh_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(t.access.clone());
        }
        let token = self.fetch_token(name, oauth).await?;
        let access = token.access.clone();
        tokens.insert(name.to_string(), token);
        Ok(access)
    }

    async fn fetch_token(&self, name: &str, oauth: &OAuth2) -> Result<Token, HttpError> {
        let configured = oauth.refresh_token.as_ref().map(|t| t.expose().to_string());
        let refresh = configured.as_ref().map(|t| self.stored_refresh_token(name, t).unwrap_or_else(|| t.clone()));
        // Built in a block: the serializer is not `Send` and must not live across an await.
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            match &refresh {
                Some(r) => form.append_pair("grant_type", "refresh_token").append_pair("refresh_token", r),
                None => form.append_pair("grant_type", "client_credentials"),
            };
            form.append_pair("client_id", oauth.client_id.expose())
                .append_pair("client_secret", oauth.client_secret.expose());
            if !oauth.scopes.is_empty() {
                form.append_pair("scope", &oauth.scopes.join(" "));
            }
            form.finish()
        };
        let fail =
            |m: String| HttpError::Auth(format!("credential `{name}`: token request to {}: {m}", oauth.token_url));
        let response = self
            .client
            .post(oauth.token_url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = read_capped(response).await.map_err(|e| fail(format!("HTTP {status}, {e}")))?;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| fail(format!("HTTP {status}, the body is not JSON: {e}")))?;
        if !status.is_success() {
            // Only the error code and description: the body may echo secrets back.
            let code = body.get("error").and_then(|v| v.as_str()).unwrap_or("unknown error");
            let desc = body.get("error_description").and_then(|v| v.as_str()).unwrap_or("");
            return Err(fail(format!("HTTP {status}: {code} {desc}")));
        }
        let access = body
            .get("access_token")
            .and_then(|v| v.as_str())
            .ok_or_else(|| fail("the response has no access_token".into()))?
            .to_string();
        let refresh_at = body
            .get("expires_in")
            .and_then(lifetime)
            .and_then(|life| Instant::now().checked_add(life - EXPIRY_MARGIN.min(life / 4)));
        if let (Some(configured), Some(rotated)) = (&configured, body.get("refresh_token").and_then(|v| v.as_str()))
            && Some(rotated) != refresh.as_deref()
        {
            self.store_refresh_token(name, configured, rotated)?;
        }
        Ok(Token { access, refresh_at })
    }

    /// The rotated refresh token stored for this credential, if it still belongs
    /// to the configured one (a new token in the pipeline file wins).
    fn stored_refresh_token(&self, name: &str, configured: &str) -> Option<String> {
        let stored = self.store.as_ref()?.get_secret(name).ok()??;
        let (for_config, token) = stored.split_once(' ')?;
        (for_config == fingerprint(configured)).then(|| token.to_string())
    }

    fn store_refresh_token(&self, name: &str, configured: &str, rotated: &str) -> Result<(), HttpError> {
        match &self.store {
            Some(store) => store
                .put_secret(name, &format!("{} {rotated}", fingerprint(configured)))
                .map_err(|e| HttpError::Host(format!("credential `{name}`: saving the rotated refresh token: {e}"))),
            None => Ok(()),
        }
    }
}

/// The most of a token response the host reads: a token, even a large JWT with
/// its refresh token, is a few kilobytes.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// The body of a token response, refused past [`MAX_TOKEN_RESPONSE`] (a hostile
/// or broken provider must not make the host buffer without end).
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.without_url().to_string())? {
        if body.len().saturating_add(chunk.len()) > MAX_TOKEN_RESPONSE {
            return Err(format!("the response is larger than {} KiB, more than any token", MAX_TOKEN_RESPONSE >> 10));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A token's `expires_in`: seconds as a number (`3600`, `3600.0`) or, as some
/// providers send it, a string (`"3600"`); bounded like every figure a server
/// gives (`u64::MAX` must not overflow the clock). Absent or unreadable: the
/// token is used until a 401 says otherwise.
fn lifetime(expires_in: &serde_json::Value) -> Option<Duration> {
    match expires_in {
        serde_json::Value::Number(n) => super::retry::seconds(n.as_f64()?),
        serde_json::Value::String(s) => super::retry::server_seconds(s),
        _ => None,
    }
}

fn fingerprint(secret: &str) -> String {
    hex::encode(&Sha256::digest(secret.as_bytes())[..16])
}
