//! Outbound HTTP through the host. The host applies its allowlist, rate limit,
//! retries and credentials; a connector names a credential, never holds it.

use crate::bindings::headwater::connector::http as wit;
use crate::{Error, Result};

pub use wit::{Request, Response};

impl Request {
    pub fn get(url: impl Into<String>) -> Self {
        Request { method: "GET".into(), url: url.into(), headers: Vec::new(), body: None, auth: None }
    }

    pub fn post_json(url: impl Into<String>, body: &serde_json::Value) -> Self {
        Request {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(body.to_string().into_bytes()),
            auth: None,
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Asks the host to inject the credential `[auth.NAME]` of the pipeline.
    pub fn auth(mut self, name: Option<impl Into<String>>) -> Self {
        self.auth = name.map(Into::into);
        self
    }

    pub fn send(&self) -> Result<Response> {
        send(self)
    }

    /// Sends a request that only reads (see [`send_read`]).
    pub fn send_read(&self) -> Result<Response> {
        send_read(self)
    }
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Fails on a non-2xx status, with the URL, the status and the start of the body.
    pub fn check(&self, url: &str) -> Result<()> {
        if (200..300).contains(&self.status) {
            return Ok(());
        }
        let snippet = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned();
        let msg = format!("{url} returned HTTP {}: {snippet}", self.status);
        Err(match self.status {
            401 | 403 => Error::Auth(msg),
            408 | 429 | 500..=599 => Error::Transient(msg),
            _ => Error::Other(msg),
        })
    }

    /// The body as JSON; a non-2xx status or a malformed body is an error naming the URL.
    pub fn json(&self, url: &str) -> Result<serde_json::Value> {
        self.check(url)?;
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Data(format!("response from {url} is not valid JSON: {e}")))
    }
}

/// Sends a request through the host.
pub fn send(request: &Request) -> Result<Response> {
    wit::send(request)
}

/// Sends a request that only reads, whatever its method (a GraphQL query, a
/// search sent by POST): the host retries it on 5xx and connection errors as it
/// does a GET. Never for a request that changes something on the server.
pub fn send_read(request: &Request) -> Result<Response> {
    wit::send_read(request)
}

/// Sends requests concurrently through the host (within its rate limit); the
/// results come back in the order of `requests`.
pub fn send_all(requests: &[Request]) -> Vec<Result<Response>> {
    wit::send_all(requests)
}
