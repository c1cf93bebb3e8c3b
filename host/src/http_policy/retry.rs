//! When to try a request again: Retry-After (delta seconds or HTTP date) when
//! the server gives it, otherwise exponential backoff with full jitter.

use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// The wait a 429/503 response asks for, if it says.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
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
    }

    #[test]
    fn backoff_is_bounded() {
        for attempt in 0..40 {
            assert!(backoff(attempt) <= Duration::from_secs(30));
        }
    }
}
