//! The host's HTTP policy, applied to every request a connector makes:
//! - the host allowlist, with every redirect re-checked, and non-public
//!   addresses refused unless listed ([`address`]);
//! - credentials injected by name, never seen by the connector ([`credentials`]);
//! - a token-bucket rate limit per host (governor), pacing from the server's
//!   rate-limit headers and a slowdown after 429s ([`pacing`]);
//! - retries of 429s (Retry-After in seconds or as a date, else exponential
//!   backoff with full jitter), 5xx and connection errors for idempotent
//!   requests and for reads sent with `http.send-read`, bounded in attempts; a 429 asking to wait beyond `max_wait_s`
//!   pauses the stream rather than failing it.
//!
//! The connector sees only the final response.

mod address;
mod credentials;
mod error;
mod pacing;
mod retry;
mod scrub;

pub use error::HttpError;

use crate::bindings::headwater::connector::http::{Request, Response};
use crate::config::{Allowlist, Credential, Limits, origin};
use crate::store::StateStore;
use address::{PrivateAddress, VettingResolver};
use credentials::Credentials;
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use pacing::Pacer;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
pub(crate) use scrub::Scrubber;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Request counters of one host, for the run summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HostStats {
    pub requests: u64,
    pub retries: u64,
    pub throttled_429: u64,
    pub bytes: u64,
    /// Time spent waiting for the rate limit, pacing, Retry-After and backoff.
    pub waited_ms: u64,
}

pub struct HttpPolicy {
    allowlist: Arc<Allowlist>,
    credentials: Credentials,
    limits: Limits,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    pacer: Pacer,
    /// Follows redirects to allowed hosts.
    client: reqwest::Client,
    /// For requests carrying a credential: follows redirects only within the same
    /// origin, so a credential never travels to another host.
    client_with_credential: reqwest::Client,
    /// For downloads: follows no redirect, so the caller checks each one
    /// against what it was granted (an http(s) file root's prefix) before it is sent.
    client_no_redirect: reqwest::Client,
    stats: Mutex<BTreeMap<String, HostStats>>,
}

const MAX_REDIRECTS: usize = 10;

/// Which requests are retried after a 5xx or a connection error (429s always are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Idempotent methods only (GET, HEAD, PUT, DELETE; OPTIONS is not sent at all): `http.send`.
    ByMethod,
    /// Whatever the method: the connector declares the request a read (a GraphQL
    /// query, a search by POST) with `http.send-read`.
    AsRead,
}

/// What one attempt came to.
enum Attempt {
    Done(Response),
    Retry { wait: Duration, last: String },
    Fail(HttpError),
}

impl HttpPolicy {
    pub fn new(
        allowlist: &Allowlist,
        credentials: BTreeMap<String, Credential>,
        limits: &Limits,
        store: Option<Arc<dyn StateStore>>,
    ) -> Result<Self, HttpError> {
        let allowlist = Arc::new(allowlist.clone());
        let limiter = limits.rate.map(|r| RateLimiter::keyed(r.quota()));
        // Addresses listed literally in [allow] hosts may be private (e.g. a test server).
        let listed: HashSet<IpAddr> = allowlist.listed_addresses().collect();
        let build = |policy: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .no_proxy()
                .user_agent(concat!("headwater/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(limits.request_timeout_s))
                .dns_resolver(Arc::new(VettingResolver::new(listed.clone())))
                .redirect(policy)
                .build()
                .map_err(|e| HttpError::Host(format!("cannot build the HTTP client: {e}")))
        };
        let allow = allowlist.clone();
        let client = build(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if !allow.allows(attempt.url()) {
                let denied = format!("redirect to {} is not in [allow] hosts", origin(attempt.url()));
                attempt.error(denied)
            } else {
                attempt.follow()
            }
        }))?;
        let allow = allowlist.clone();
        let client_with_credential = build(reqwest::redirect::Policy::custom(move |attempt| {
            let first = attempt.previous().first().map(origin);
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if first.as_deref() != Some(origin(attempt.url()).as_str()) || !allow.allows(attempt.url()) {
                let denied = format!(
                    "redirect to {} leaves the origin of a request carrying a credential",
                    origin(attempt.url())
                );
                attempt.error(denied)
            } else {
                attempt.follow()
            }
        }))?;
        let client_no_redirect = build(reqwest::redirect::Policy::none())?;
        let credentials = Credentials::new(credentials, store, Duration::from_secs(limits.request_timeout_s));
        Ok(HttpPolicy {
            allowlist,
            credentials,
            limits: limits.clone(),
            limiter,
            pacer: Pacer::default(),
            client,
            client_with_credential,
            client_no_redirect,
            stats: Mutex::new(BTreeMap::new()),
        })
    }

    /// The largest response body handed to a connector (`[limits] max_response_mb`).
    pub fn max_response_bytes(&self) -> u64 {
        self.limits.max_response_mb << 20
    }

    pub fn stats(&self) -> BTreeMap<String, HostStats> {
        self.stats.lock().expect("stats lock").clone()
    }

    fn count(&self, host: &str, f: impl FnOnce(&mut HostStats)) {
        f(self.stats.lock().expect("stats lock").entry(host.to_string()).or_default());
    }

    /// Sends a connector's request under the policy. 5xx and connection errors
    /// are retried only for idempotent methods.
    pub async fn send(&self, req: Request) -> Result<Response, HttpError> {
        self.send_as(req, Retry::ByMethod).await
    }

    /// Sends a request under the policy, retrying 5xx and connection errors as `retry` says.
    pub async fn send_as(&self, req: Request, retry: Retry) -> Result<Response, HttpError> {
        self.send_within(req, retry, None).await
    }

    /// [`send_as`](Self::send_as), with the body's bytes counted against `budget`
    /// as they arrive (shared by the requests of one `send-all`, so that their
    /// responses together stay within it, however many are in flight).
    pub async fn send_within(
        &self,
        req: Request,
        retry: Retry,
        budget: Option<&Budget>,
    ) -> Result<Response, HttpError> {
        self.send_to(req, retry, BodyTo::Memory(budget)).await
    }

    /// Sends a GET under the policy and writes the body into `file` as it arrives,
    /// for an http(s) root's file: bounded by the disk and `request_timeout_s`, not
    /// by `max_response_mb`, and never whole in memory (review D16). The response
    /// returned has an empty body; `file` holds it.
    /// A redirect is not followed but answered (3xx with its `Location`), for the
    /// caller to check against what it was granted before it asks again.
    /// At most `max_bytes` of body are written: a larger one fails, naming `max_file_mb`.
    pub async fn download(
        &self,
        req: Request,
        file: &mut std::fs::File,
        max_bytes: u64,
    ) -> Result<Response, HttpError> {
        self.send_to(req, Retry::ByMethod, BodyTo::File(file, max_bytes)).await
    }

    async fn send_to(&self, req: Request, retry: Retry, mut to: BodyTo<'_>) -> Result<Response, HttpError> {
        let url =
            url::Url::parse(&req.url).map_err(|e| HttpError::Invalid(format!("URL `{}` is invalid: {e}", req.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::Denied(format!("URL `{}`: only http and https are allowed", req.url)));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HttpError::Denied(format!(
                "URL `{}` carries credentials: name a credential from [auth] instead",
                origin(&url)
            )));
        }
        let host = self.allowlist.key_for(&url);
        if !self.allowlist.allows(&url) {
            return Err(HttpError::Denied(format!(
                "host {host} is not in [allow] hosts (allowed: {})",
                self.allowlist.describe()
            )));
        }
        let method = request_method(&req.method)?;
        let headers = request_headers(&req.headers)?;
        let idempotent = retry == Retry::AsRead || matches!(method.as_str(), "GET" | "HEAD" | "PUT" | "DELETE");
        // Messages name the URL as the connector wrote it: never with an injected credential.
        let shown = format!("{method} {url}");
        let mut last = String::new();
        let mut refreshed = false;
        let mut attempt = 0;

        // Attempts are counted for retries only: the one resend after an OAuth
        // refresh is not a retry, so it never spends `max_retries`.
        while attempt <= self.limits.max_retries {
            if attempt > 0 {
                self.count(&host, |s| s.retries += 1);
            }
            self.wait_turn(&host, &shown).await?;
            let mut target = url.clone();
            let mut attempt_headers = headers.clone();
            let mut sent = Scrubber::default();
            if let Some(name) = &req.auth {
                self.credentials.apply(name, &mut target, &mut attempt_headers, &mut sent).await?;
            }
            let client = match (&to, req.auth.is_some()) {
                (BodyTo::File(..), _) => &self.client_no_redirect,
                (_, true) => &self.client_with_credential,
                (_, false) => &self.client,
            };
            let mut builder = client.request(method.clone(), target).headers(attempt_headers);
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            self.count(&host, |s| s.requests += 1);
            let outcome = match builder.send().await {
                Ok(response) => self.answer(&host, &shown, response, attempt, idempotent, &mut to).await,
                Err(e) => self.failed(&shown, e, attempt, idempotent),
            };
            match outcome {
                Attempt::Done(mut response) => {
                    // An OAuth2 token the server no longer accepts: refresh once and try again.
                    if response.status == 401
                        && !refreshed
                        && let Some(name) = req.auth.as_deref().filter(|n| self.credentials.is_oauth(n))
                    {
                        refreshed = true;
                        self.credentials.invalidate(name).await;
                        continue;
                    }
                    sent.scrub(&mut response);
                    return Ok(response);
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { wait, last: why } => {
                    last = why;
                    if attempt < self.limits.max_retries {
                        self.wait(&host, wait).await;
                    }
                }
            }
            attempt += 1;
        }
        Err(HttpError::Unavailable(format!(
            "{shown}: gave up after {} attempts; last: {last}",
            self.limits.max_retries + 1
        )))
    }

    /// Waits for the rate limit and the host's pacing.
    async fn wait_turn(&self, host: &str, shown: &str) -> Result<(), HttpError> {
        let pace = self.pacer.delay(host);
        if pace > Duration::from_secs(self.limits.max_wait_s) {
            return Err(self.paused(shown, pace));
        }
        if !pace.is_zero() {
            self.wait(host, pace).await;
        }
        if let Some(limiter) = &self.limiter {
            let start = Instant::now();
            limiter.until_key_ready(&host.to_string()).await;
            self.count(host, |s| s.waited_ms += start.elapsed().as_millis() as u64);
        }
        Ok(())
    }

    /// Classifies a response: a result, or a 429/5xx to retry.
    async fn answer(
        &self,
        host: &str,
        shown: &str,
        response: reqwest::Response,
        attempt: u32,
        idempotent: bool,
        to: &mut BodyTo<'_>,
    ) -> Attempt {
        let status = response.status();
        let throttled = retry::throttled(status.as_u16(), response.headers());
        // The server's own word on retrying (Stripe's `Stripe-Should-Retry`) overrides the method's.
        let should_retry = retry::should_retry(response.headers());
        self.pacer.observe(host, if throttled { 429 } else { status.as_u16() }, response.headers());
        if throttled && should_retry != Some(false) {
            self.count(host, |s| s.throttled_429 += 1);
            let wait = retry::retry_after(response.headers()).unwrap_or_else(|| retry::backoff(attempt));
            return self.retry_or_pause(shown, wait, format!("HTTP {}", status.as_u16()));
        }
        let retryable = match status.as_u16() {
            500..=599 => should_retry.unwrap_or(idempotent),
            409 => should_retry == Some(true),
            _ => false,
        };
        if retryable {
            // A 503 asking for hours is a maintenance window: it pauses, as a 429 does, rather than sleep through it.
            let wait = retry::retry_after(response.headers()).unwrap_or_else(|| retry::backoff(attempt));
            return self.retry_or_pause(shown, wait, format!("HTTP {status}"));
        }
        match self.read(host, shown, response, to).await {
            Ok(r)
                if r.status == 200
                    && let Some(wait) = retry::graphql_throttled(&r.body) =>
            {
                self.count(host, |s| s.throttled_429 += 1);
                self.retry_or_pause(shown, wait.unwrap_or_else(|| retry::backoff(attempt)), "GraphQL THROTTLED".into())
            }
            Ok(r) => Attempt::Done(r),
            Err(e) => Attempt::Fail(e),
        }
    }

    fn failed(&self, shown: &str, e: reqwest::Error, attempt: u32, idempotent: bool) -> Attempt {
        let e = e.without_url();
        if let Some(private) = find_cause::<PrivateAddress>(&e) {
            return Attempt::Fail(HttpError::Denied(format!("{shown}: {private}")));
        }
        if e.is_redirect() {
            return Attempt::Fail(HttpError::Denied(format!("{shown}: {}", error_chain(&e))));
        }
        if idempotent {
            Attempt::Retry { wait: retry::backoff(attempt), last: error_chain(&e) }
        } else {
            Attempt::Fail(HttpError::Unavailable(format!("{shown}: {}", error_chain(&e))))
        }
    }

    /// A retry after `wait`, or, when the server asks for longer than `max_wait_s`,
    /// a pause of the stream until the next run.
    fn retry_or_pause(&self, shown: &str, wait: Duration, why: String) -> Attempt {
        if wait > Duration::from_secs(self.limits.max_wait_s) {
            return Attempt::Fail(self.paused(shown, wait));
        }
        Attempt::Retry { wait, last: format!("{why} (retry after {}s)", wait.as_secs_f64().ceil()) }
    }

    fn paused(&self, shown: &str, wait: Duration) -> HttpError {
        // `wait` is at most MAX_SERVER_WAIT (`retry::seconds`); the date is checked all the same.
        let now = chrono::Utc::now();
        let resets = chrono::Duration::from_std(wait).ok().and_then(|d| now.checked_add_signed(d)).unwrap_or(now);
        HttpError::QuotaSpent(format!(
            "rate limit: {shown} must wait {}s, more than [limits] max_wait_s = {} (resets at {})",
            wait.as_secs(),
            self.limits.max_wait_s,
            resets.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
    }

    async fn wait(&self, host: &str, d: Duration) {
        tokio::time::sleep(d).await;
        self.count(host, |s| s.waited_ms += d.as_millis() as u64);
    }

    /// Reads the body: into memory up to `[limits] max_response_mb`, or into a file.
    async fn read(
        &self,
        host: &str,
        shown: &str,
        mut response: reqwest::Response,
        to: &mut BodyTo<'_>,
    ) -> Result<Response, HttpError> {
        let max = self.max_response_bytes();
        let mut written = 0u64;
        if let BodyTo::File(file, _) = to {
            // An earlier attempt (a 401 before a refresh) may have written its body.
            use std::io::Seek;
            file.set_len(0).and_then(|()| file.rewind()).map_err(|e| self.download_failed(shown, e))?;
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if let BodyTo::File(file, max_bytes) = to => {
                    use std::io::Write;
                    written = written.saturating_add(chunk.len() as u64);
                    if written > *max_bytes {
                        return Err(HttpError::Denied(format!(
                            "{shown}: the file is larger than [limits] max_file_mb = {} MiB: refused, not left to \
                             fill the disk (raise max_file_mb for larger exports)",
                            *max_bytes >> 20
                        )));
                    }
                    file.write_all(&chunk).map_err(|e| self.download_failed(shown, e))?;
                }
                Ok(Some(chunk)) => {
                    let budget = match to {
                        BodyTo::Memory(budget) => *budget,
                        BodyTo::File(..) => None,
                    };
                    if (body.len() as u64).saturating_add(chunk.len() as u64) > max {
                        return Err(HttpError::Denied(format!(
                            "{shown}: the response is larger than [limits] max_response_mb = {}",
                            self.limits.max_response_mb
                        )));
                    }
                    if let Some(b) = budget
                        && !b.take(chunk.len() as u64)
                    {
                        return Err(HttpError::Denied(format!(
                            "{shown}: send-all's responses together are larger than [limits] max_response_mb = {}: \
                             send fewer at once",
                            self.limits.max_response_mb
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    return Err(HttpError::Unavailable(format!(
                        "{shown}: the response took longer than [limits] request_timeout_s = {}",
                        self.limits.request_timeout_s
                    )));
                }
                Err(e) => {
                    return Err(HttpError::Unavailable(format!(
                        "{shown}: reading the response: {}",
                        error_chain(&e.without_url())
                    )));
                }
            }
        }
        let bytes = written.saturating_add(body.len() as u64);
        self.count(host, |s| s.bytes += bytes);
        Ok(Response { status, headers, body })
    }

    fn download_failed(&self, shown: &str, e: std::io::Error) -> HttpError {
        HttpError::Host(format!("{shown}: writing the response to disk: {e}"))
    }
}

/// Where a response's body goes: into memory, within `max_response_mb` (and a
/// `send-all`'s shared budget), or into a file.
enum BodyTo<'a> {
    Memory(Option<&'a Budget>),
    /// A file, and the most bytes it may take.
    File(&'a mut std::fs::File, u64),
}

/// Bytes that several responses may hold together, taken as they arrive.
pub struct Budget {
    left: std::sync::atomic::AtomicU64,
}

impl Budget {
    pub fn new(bytes: u64) -> Self {
        Budget { left: std::sync::atomic::AtomicU64::new(bytes) }
    }

    /// Takes `n` bytes; false (taking nothing) when fewer are left.
    fn take(&self, n: u64) -> bool {
        use std::sync::atomic::Ordering;
        self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(n)).is_ok()
    }
}

/// The methods the WIT `request` documents; anything else (TRACE, CONNECT, an
/// arbitrary token) is refused: TRACE echoes the request, credential included.
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

fn request_method(method: &str) -> Result<reqwest::Method, HttpError> {
    let upper = method.to_ascii_uppercase();
    match METHODS.iter().find(|m| **m == upper) {
        Some(m) => Ok(reqwest::Method::from_bytes(m.as_bytes()).expect("a standard method")),
        None => Err(HttpError::Denied(format!(
            "HTTP method `{}` is not allowed (allowed: {})",
            method.escape_debug(),
            METHODS.join(", ")
        ))),
    }
}

/// Headers the host owns: routing (`Host`), framing and hop-by-hop headers that
/// would let a connector pick a virtual host behind an allowed address, smuggle
/// a second request, or tunnel, and proxy credentials.
const RESERVED_HEADERS: [&str; 12] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "forwarded",
    "expect",
];

fn request_headers(headers: &[(String, String)]) -> Result<HeaderMap, HttpError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| HttpError::Invalid(format!("header name `{}` is invalid", k.escape_debug())))?;
        if RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(HttpError::Denied(format!(
                "header `{name}` is set by the host, not by a connector (reserved: {})",
                RESERVED_HEADERS.join(", ")
            )));
        }
        let value = HeaderValue::from_str(v)
            .map_err(|_| HttpError::Invalid(format!("header `{name}` has an invalid value")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// An error with its causes, which is where reqwest puts the useful part.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn find_cause<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut current = Some(e);
    while let Some(c) = current {
        if let Some(t) = c.downcast_ref::<T>() {
            return Some(t);
        }
        current = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review D18: `send-all` checked its budget only once a response was whole,
    /// so 8 in flight could each read `max_response_mb`. Bytes are taken from one
    /// budget as they arrive; what does not fit is refused and takes nothing.
    #[test]
    fn a_shared_budget_is_taken_byte_by_byte() {
        let budget = Budget::new(10);
        assert!(budget.take(6));
        assert!(!budget.take(5), "6 + 5 is more than 10");
        assert!(budget.take(4));
        assert!(!budget.take(1));
        assert!(budget.take(0));
    }

    #[test]
    fn only_documented_methods_are_sent() {
        for m in ["get", "POST", "Patch", "HEAD"] {
            request_method(m).unwrap();
        }
        for m in ["TRACE", "CONNECT", "OPTIONS", "PROPFIND", "GET\r\nX: y", ""] {
            assert!(matches!(request_method(m), Err(HttpError::Denied(_))), "{m:?}");
        }
    }

    #[test]
    fn routing_and_hop_by_hop_headers_are_the_hosts() {
        request_headers(&[("Accept".into(), "application/json".into())]).unwrap();
        for h in ["Host", "HOST", "Transfer-Encoding", "Content-Length", "Connection", "Proxy-Authorization"] {
            let err = request_headers(&[(h.into(), "x".into())]).unwrap_err().to_string();
            assert!(err.contains("is set by the host"), "{h}: {err}");
        }
    }
}
