//! The host's HTTP policy, applied to every request a connector makes: the host
//! allowlist (redirects re-checked), credentials injected by name, a token-bucket
//! rate limit per host, and retries of 429s (honouring Retry-After), 5xx and
//! connection errors. The connector sees only the final response.

mod allowlist;
mod credentials;
mod retry;

pub use allowlist::Allowlist;

use crate::bindings::WitError;
use crate::bindings::headwater::connector::http::{Request, Response};
use crate::pipeline::{Credential, Limits};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Request counters of one host, for the run summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HostStats {
    pub requests: u64,
    pub retries: u64,
    pub throttled_429: u64,
    pub bytes: u64,
    /// Time spent waiting for the rate limit and for Retry-After / backoff.
    pub waited_ms: u64,
}

pub struct HttpPolicy {
    allowlist: Arc<Allowlist>,
    credentials: BTreeMap<String, Credential>,
    limits: Limits,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    /// Follows redirects to allowed hosts.
    client: reqwest::Client,
    /// For requests carrying a credential: follows redirects only within the same
    /// origin, so a credential never travels to another host.
    client_with_credential: reqwest::Client,
    stats: Mutex<BTreeMap<String, HostStats>>,
}

const MAX_REDIRECTS: usize = 10;

impl HttpPolicy {
    pub fn new(
        allowed_hosts: &[String],
        credentials: BTreeMap<String, Credential>,
        limits: &Limits,
    ) -> Result<Self, String> {
        let allowlist = Arc::new(Allowlist::parse(allowed_hosts)?);
        let limiter = limits.requests_per_second.map(|rps| {
            let rps = NonZeroU32::new(rps).expect("validated > 0 when the pipeline was loaded");
            let burst = limits.burst.and_then(NonZeroU32::new).unwrap_or(rps);
            RateLimiter::keyed(Quota::per_second(rps).allow_burst(burst))
        });
        let build = |policy: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .no_proxy()
                .user_agent(concat!("headwater/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(limits.request_timeout_s))
                .redirect(policy)
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        };
        let allow = allowlist.clone();
        let client = build(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if !allow.allows(attempt.url()) {
                let denied = format!("redirect to {} is not in [allow] hosts", allowlist::origin(attempt.url()));
                attempt.error(denied)
            } else {
                attempt.follow()
            }
        }))?;
        let allow = allowlist.clone();
        let client_with_credential = build(reqwest::redirect::Policy::custom(move |attempt| {
            let first = attempt.previous().first().map(allowlist::origin);
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if first.as_deref() != Some(allowlist::origin(attempt.url()).as_str())
                || !allow.allows(attempt.url())
            {
                let denied = format!(
                    "redirect to {} leaves the origin of a request carrying a credential",
                    allowlist::origin(attempt.url())
                );
                attempt.error(denied)
            } else {
                attempt.follow()
            }
        }))?;
        Ok(HttpPolicy {
            allowlist,
            credentials,
            limits: limits.clone(),
            limiter,
            client,
            client_with_credential,
            stats: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn stats(&self) -> BTreeMap<String, HostStats> {
        self.stats.lock().expect("stats lock").clone()
    }

    fn count(&self, host: &str, f: impl FnOnce(&mut HostStats)) {
        f(self.stats.lock().expect("stats lock").entry(host.to_string()).or_default());
    }

    /// Sends a connector's request under the policy.
    pub async fn send(&self, req: Request) -> Result<Response, WitError> {
        let url =
            url::Url::parse(&req.url).map_err(|e| WitError::Config(format!("URL `{}` is invalid: {e}", req.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WitError::Denied(format!("URL `{}`: only http and https are allowed", req.url)));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WitError::Denied(format!(
                "URL `{}` carries credentials: name a credential from [auth] instead",
                allowlist::origin(&url)
            )));
        }
        let host = allowlist::origin(&url);
        if !self.allowlist.allows(&url) {
            return Err(WitError::Denied(format!(
                "host {host} is not in [allow] hosts (allowed: {})",
                self.allowlist.describe()
            )));
        }
        let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| WitError::Config(format!("HTTP method `{}` is invalid", req.method)))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| WitError::Config(format!("header name `{k}` is invalid")))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| WitError::Config(format!("header `{k}` has an invalid value")))?;
            headers.append(name, value);
        }
        let with_credential = match &req.auth {
            Some(name) => {
                let cred = self.credentials.get(name).ok_or_else(|| {
                    WitError::Config(format!(
                        "credential `{name}` is not defined: add [auth.{name}] to the pipeline (defined: {})",
                        self.credentials.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })?;
                credentials::inject(name, cred, &url, &mut headers)?;
                true
            }
            None => false,
        };
        let client = if with_credential { &self.client_with_credential } else { &self.client };
        let idempotent = matches!(method.as_str(), "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS");
        let max_wait = Duration::from_secs(self.limits.max_wait_s);
        let mut last = String::new();

        for attempt in 0..=self.limits.max_retries {
            if attempt > 0 {
                self.count(&host, |s| s.retries += 1);
            }
            if let Some(limiter) = &self.limiter {
                let start = Instant::now();
                limiter.until_key_ready(&host).await;
                self.count(&host, |s| s.waited_ms += start.elapsed().as_millis() as u64);
            }
            self.count(&host, |s| s.requests += 1);
            let mut builder = client.request(method.clone(), url.clone()).headers(headers.clone());
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            let response = match builder.send().await {
                Ok(r) => r,
                Err(e) if e.is_redirect() => {
                    return Err(WitError::Denied(format!("{method} {host}{}: {}", url.path(), error_chain(&e))));
                }
                Err(e) => {
                    last = error_chain(&e);
                    if idempotent && attempt < self.limits.max_retries {
                        self.wait(&host, retry::backoff(attempt)).await;
                        continue;
                    }
                    break;
                }
            };
            let status = response.status();
            if status.as_u16() == 429 {
                self.count(&host, |s| s.throttled_429 += 1);
                let wait = retry::retry_after(response.headers()).unwrap_or_else(|| retry::backoff(attempt));
                last = format!("HTTP 429 (retry after {}s)", wait.as_secs_f64().ceil());
                if wait > max_wait {
                    return Err(WitError::Transient(format!(
                        "{method} {url}: HTTP 429 asks to wait {}s, more than [limits] max_wait_s = {}",
                        wait.as_secs(),
                        self.limits.max_wait_s
                    )));
                }
                if attempt < self.limits.max_retries {
                    self.wait(&host, wait).await;
                    continue;
                }
                break;
            }
            if status.is_server_error() && idempotent && attempt < self.limits.max_retries {
                last = format!("HTTP {status}");
                self.wait(&host, retry::backoff(attempt)).await;
                continue;
            }
            return self.read(&host, &url, response).await;
        }
        Err(WitError::Transient(format!(
            "{method} {url}: gave up after {} attempts; last: {last}",
            self.limits.max_retries + 1
        )))
    }

    async fn wait(&self, host: &str, d: Duration) {
        tokio::time::sleep(d).await;
        self.count(host, |s| s.waited_ms += d.as_millis() as u64);
    }

    /// Reads the body up to `[limits] max_response_mb`.
    async fn read(&self, host: &str, url: &url::Url, mut response: reqwest::Response) -> Result<Response, WitError> {
        let max = self.limits.max_response_mb * 1024 * 1024;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > max {
                        return Err(WitError::Denied(format!(
                            "response from {url} is larger than [limits] max_response_mb = {}",
                            self.limits.max_response_mb
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(WitError::Transient(format!("reading the response from {url}: {}", error_chain(&e))));
                }
            }
        }
        self.count(host, |s| s.bytes += body.len() as u64);
        Ok(Response { status, headers, body })
    }
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
