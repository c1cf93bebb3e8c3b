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

    /// Sets the query parameter `name` to `value`, percent-encoded, replacing any
    /// parameter of that name already in the URL.
    ///
    /// ```
    /// # use headwater_sdk::http::Request;
    /// let r = Request::get("https://api.example.com/orders?limit=50").query("updated_since", "2025-01-01T00:00:00Z");
    /// assert_eq!(r.url, "https://api.example.com/orders?limit=50&updated_since=2025-01-01T00%3A00%3A00Z");
    /// ```
    pub fn query(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.url = set_query(&self.url, name, value.as_ref());
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

/// `url` with the query parameter `name` set to `value` (percent-encoded), after
/// removing every parameter of that name; a fragment stays at the end.
pub(crate) fn set_query(url: &str, name: &str, value: &str) -> String {
    let (url, fragment) = match url.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (url, None),
    };
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let encoded = encode(name);
    let mut out = String::with_capacity(url.len() + name.len() + value.len() + 2);
    out.push_str(path);
    let mut sep = '?';
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        if key == encoded || key == name {
            continue;
        }
        out.push(sep);
        out.push_str(pair);
        sep = '&';
    }
    out.push(sep);
    out.push_str(&encoded);
    out.push('=');
    out.push_str(&encode(value));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Percent-encodes a query component: everything but RFC 3986's unreserved characters.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The absolute URL of `reference` (absolute, scheme-relative, absolute-path,
/// query-only or relative, as a `Link` header or a `next` field may give it),
/// read against the URL of the page that named it (RFC 3986, section 5.2).
pub(crate) fn resolve(base: &str, reference: &str) -> String {
    let reference = reference.trim();
    let has_scheme = reference.split_once(':').is_some_and(|(s, _)| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if has_scheme {
        return reference.to_string();
    }
    let base = base.split_once('#').map_or(base, |(b, _)| b);
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(authority_and_path) = reference.strip_prefix("//") {
        return format!("{scheme}://{authority_and_path}");
    }
    let (authority, path_and_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => rest.split_once('?').map_or((rest, ""), |(a, _)| (a, "")),
    };
    let path = path_and_query.split_once('?').map_or(path_and_query, |(p, _)| p);
    let path = if path.is_empty() { "/" } else { path };
    let origin = format!("{scheme}://{authority}");
    if reference.is_empty() {
        return base.to_string();
    }
    if reference.starts_with('#') {
        return format!("{base}{reference}");
    }
    if reference.starts_with('?') {
        return format!("{origin}{path}{reference}");
    }
    let (ref_path, ref_query) = match reference.find(['?', '#']) {
        Some(i) => (&reference[..i], &reference[i..]),
        None => (reference, ""),
    };
    let merged = if ref_path.starts_with('/') {
        ref_path.to_string()
    } else {
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{ref_path}")
    };
    format!("{origin}{}{ref_query}", remove_dot_segments(&merged))
}

/// RFC 3986's `remove_dot_segments`, on a path that starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_set_once_and_encoded() {
        assert_eq!(set_query("https://a.io/o", "cursor", "x y"), "https://a.io/o?cursor=x%20y");
        assert_eq!(set_query("https://a.io/o?cursor=1&limit=5", "cursor", "2"), "https://a.io/o?limit=5&cursor=2");
        assert_eq!(
            set_query("https://a.io/o?a=1#top", "since", "2025-01-01T00:00:00+01:00"),
            "https://a.io/o?a=1&since=2025-01-01T00%3A00%3A00%2B01%3A00#top"
        );
        assert_eq!(set_query("https://a.io/o?", "page", "3"), "https://a.io/o?page=3");
        assert_eq!(Request::get("https://a.io/o").query("q", "é").url, "https://a.io/o?q=%C3%A9");
    }

    #[test]
    fn references_resolve_against_the_page_that_named_them() {
        let base = "http://127.0.0.1:8080/api/v1/orders?page=1";
        assert_eq!(resolve(base, "https://other.io/x?page=2"), "https://other.io/x?page=2");
        assert_eq!(resolve(base, "//cdn.io/x"), "http://cdn.io/x");
        assert_eq!(resolve(base, "/linked?page=2"), "http://127.0.0.1:8080/linked?page=2");
        assert_eq!(resolve(base, "?page=2"), "http://127.0.0.1:8080/api/v1/orders?page=2");
        assert_eq!(resolve(base, "orders?page=2"), "http://127.0.0.1:8080/api/v1/orders?page=2");
        assert_eq!(resolve(base, "../v2/orders"), "http://127.0.0.1:8080/api/v2/orders");
        assert_eq!(resolve(base, "./"), "http://127.0.0.1:8080/api/v1/");
        assert_eq!(resolve("http://a.io", "next"), "http://a.io/next");
        assert_eq!(resolve("http://a.io?x=1", "/n"), "http://a.io/n");
    }
}
