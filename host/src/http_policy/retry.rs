//! When to try a request again: Retry-After (delta seconds or HTTP date) when
//! the server gives it, otherwise exponential backoff with full jitter.
//!
//! Every figure a server sends is hostile input: [`server_seconds`] is the one
//! door through which a number of seconds from a header or a token response
//! becomes a [`Duration`], total over every string (`inf`, `1e300`, `-5`, `NaN`)
//! and bounded by [`MAX_SERVER_WAIT`], so that no later `Instant` or date
//! arithmetic on it can overflow.

use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// The longest wait the host takes from a server's word. `[limits] max_wait_s`
/// is at most a day, so any wait this long pauses the stream anyway; the bound
/// only keeps what follows (`Instant + wait`, a reset time in the message)
/// within range.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A number of seconds a server gave (`3`, `1.0`, `0.25`), clamped to
/// `[0, MAX_SERVER_WAIT]`; `None` for what is not a number (`soon`, `NaN`).
pub fn server_seconds(value: &str) -> Option<Duration> {
    seconds(value.trim().parse().ok()?)
}

/// Seconds as a [`Duration`] in `[0, MAX_SERVER_WAIT]`: negative is now, beyond
/// the bound (`inf` too) is the bound, and `NaN` is nothing.
pub fn seconds(secs: f64) -> Option<Duration> {
    if secs.is_nan() {
        return None;
    }
    let secs = secs.clamp(0.0, MAX_SERVER_WAIT.as_secs_f64());
    Some(Duration::try_from_secs_f64(secs).unwrap_or(MAX_SERVER_WAIT))
}

/// The wait a 429/503 response asks for, if it says: delta seconds (vendors
/// send `1.0` as well as `1`) or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Some(wait) = server_seconds(value) {
        return Some(wait);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO).min(MAX_SERVER_WAIT))
}

/// Whether a response is a rate limit's refusal: a 429, or a 403 that says when
/// to come back or that the budget is spent (GitHub's secondary rate limit and
/// its primary one, which answer 403 rather than 429).
pub fn throttled(status: u16, headers: &HeaderMap) -> bool {
    let spent = headers.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "0");
    status == 429 || (status == 403 && (headers.contains_key(RETRY_AFTER) || spent))
}

/// The server's own word on whether to retry, when it gives one
/// (`Stripe-Should-Retry: true|false`).
pub fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match headers.get("stripe-should-retry")?.to_str().ok()?.trim() {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A GraphQL API's rate limit answered in-band, in a 200 (Shopify's cost-based
/// throttle: `errors[].extensions.code = "THROTTLED"`; GitHub's:
/// `errors[].type = "RATE_LIMITED"`): `Some` with the wait the response's cost
/// figures give (Shopify: the points missing over the restore rate), or `None`
/// inside when it gives none. Only bodies that name such a code are parsed.
pub fn graphql_throttled(body: &[u8]) -> Option<Option<Duration>> {
    // A throttle's answer is small: data pages (the hot path) are not searched past 1 MiB.
    let finder = |needle: &str| memchr::memmem::find(body, needle.as_bytes()).is_some();
    if body.len() > 1 << 20 || !(finder("THROTTLED") || finder("RATE_LIMITED")) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let errors = value.get("errors")?.as_array()?;
    let throttled = errors.iter().any(|e| {
        e.pointer("/extensions/code").and_then(|c| c.as_str()) == Some("THROTTLED")
            || e.get("type").and_then(|t| t.as_str()) == Some("RATE_LIMITED")
    });
    if !throttled {
        return None;
    }
    let cost = value.pointer("/extensions/cost");
    let number = |p: &str| cost.and_then(|c| c.pointer(p)).and_then(|v| v.as_f64());
    let wait = match (
        number("/requestedQueryCost"),
        number("/throttleStatus/currentlyAvailable"),
        number("/throttleStatus/restoreRate"),
    ) {
        (Some(requested), Some(available), Some(rate)) if rate > 0.0 => seconds((requested - available) / rate),
        _ => None,
    };
    Some(wait)
}

/// Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^attempt)].
pub fn backoff(attempt: u32) -> Duration {
    const BASE_MS: u64 = 250;
    const CAP_MS: u64 = 30_000;
    let ceiling = BASE_MS.saturating_mul(1 << attempt.min(16)).min(CAP_MS);
    Duration::from_millis(jitter(ceiling))
}

/// A uniform value in [0, ceiling], from the std hasher's per-process random keys
/// (no cryptographic need, and no extra dependency for it).
fn jitter(ceiling: u64) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    RandomState::new().hash_one(nanos) % (ceiling + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_seconds_and_date() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(RETRY_AFTER, HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("1.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    }

    /// Regression (review D1): `Retry-After: 10000000000000`, `inf` or `1e300`
    /// reached `Duration::from_secs_f64` and date arithmetic, and the host panicked.
    #[test]
    fn any_figure_a_server_sends_is_a_bounded_wait() {
        for huge in ["10000000000000", "1e300", "inf", "+inf", "18446744073709551616", "1.7976931348623157e308"] {
            assert_eq!(server_seconds(huge), Some(MAX_SERVER_WAIT), "{huge}");
        }
        for now in ["-1", "-inf", "0", "-0.0", "1e-320"] {
            assert!(server_seconds(now).unwrap() < Duration::from_millis(1), "{now}");
        }
        for junk in ["NaN", "", "1s", "0x10", "one"] {
            assert_eq!(server_seconds(junk), None, "{junk}");
        }
        assert_eq!(server_seconds(" 2 "), Some(Duration::from_secs(2)));
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"));
        assert_eq!(retry_after(&h), Some(MAX_SERVER_WAIT));
    }

    #[test]
    fn a_403_is_a_rate_limit_only_when_it_says_so() {
        let mut h = HeaderMap::new();
        assert!(throttled(429, &h) && !throttled(403, &h), "a plain 403 is a refusal");
        h.insert(RETRY_AFTER, HeaderValue::from_static("60"));
        assert!(throttled(403, &h), "GitHub's secondary rate limit");
        let mut spent = HeaderMap::new();
        spent.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        assert!(throttled(403, &spent), "GitHub's primary rate limit");
        spent.insert("stripe-should-retry", HeaderValue::from_static("False"));
        assert_eq!(should_retry(&spent), Some(false));
        assert_eq!(should_retry(&HeaderMap::new()), None);
    }

    /// Real-world issue: Shopify's `THROTTLED` inside a 200 failed the stream
    /// as a GraphQL error; it is a rate limit, waited out as its cost figures say.
    #[test]
    fn graphql_throttles_in_a_200_are_rate_limits() {
        let shopify = br#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":102,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":52,"restoreRate":50.0}}}}"#;
        assert_eq!(graphql_throttled(shopify), Some(Some(Duration::from_secs(1))));
        let github = br#"{"errors":[{"type":"RATE_LIMITED","message":"API rate limit exceeded"}]}"#;
        assert_eq!(graphql_throttled(github), Some(None));
        assert_eq!(graphql_throttled(br#"{"data":{"note":"THROTTLED is just a word here"}}"#), None);
        assert_eq!(graphql_throttled(br#"{"errors":[{"message":"Field unknown"}]}"#), None);
    }

    #[test]
    fn backoff_is_bounded() {
        for attempt in 0..40 {
            assert!(backoff(attempt) <= Duration::from_secs(30));
        }
    }
}
