//! Pacing ahead of 429s, per host: the rate-limit headers a server sends
//! (`X-RateLimit-Remaining`/`-Reset`, IETF `RateLimit-Remaining`/`-Reset` and
//! the structured `RateLimit: …;r=0;t=5`) hold requests back until the window
//! resets once the budget is spent; a `RateLimit-Policy` (`100;w=60`, or
//! `"default";q=100;w=60`) with a window of a minute or less spreads requests
//! at the policy's average rate; and after a 429 the host slows down (doubling
//! a gap between requests), then recovers step by step on success.
//!
//! Longer windows (hourly, daily quotas) are not spread: a sync that needs 50
//! requests of a 10,000-a-day quota should not take the day, and spreading it
//! would make every gap exceed `max_wait_s` and pause the stream. Such quotas
//! are spent as needed; once the server says the budget is gone, requests wait
//! for its reset, or the stream pauses until the next run.

use super::retry::{self, MAX_SERVER_WAIT};
use reqwest::header::HeaderMap;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Default, Clone, Copy)]
struct HostPace {
    not_before: Option<Instant>,
    /// The slowdown after 429s.
    gap: Duration,
    /// The average interval the server's `RateLimit-Policy` allows.
    policy_gap: Duration,
}

#[derive(Default)]
pub struct Pacer {
    hosts: Mutex<HashMap<String, HostPace>>,
}

const MIN_GAP_AFTER_429: Duration = Duration::from_millis(250);
const MAX_GAP: Duration = Duration::from_secs(10);

impl Pacer {
    /// How long to wait before the next request to `host`.
    pub fn delay(&self, host: &str) -> Duration {
        let hosts = self.hosts.lock().expect("pacer lock");
        hosts
            .get(host)
            .and_then(|p| p.not_before)
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(Instant::now()))
    }

    /// Learns from a response: its status and rate-limit headers.
    pub fn observe(&self, host: &str, status: u16, headers: &HeaderMap) {
        let mut hosts = self.hosts.lock().expect("pacer lock");
        let pace = hosts.entry(host.to_string()).or_default();
        if status == 429 {
            pace.gap = (pace.gap * 2).clamp(MIN_GAP_AFTER_429, MAX_GAP);
        } else {
            pace.gap = pace.gap * 3 / 4;
            if pace.gap < Duration::from_millis(5) {
                pace.gap = Duration::ZERO;
            }
        }
        if let Some(gap) = policy_interval(headers) {
            pace.policy_gap = gap;
        }
        // Each wait is at most MAX_SERVER_WAIT (`seconds`), so the sums stay in range;
        // checked all the same, as an `Instant` that overflows panics.
        let now = Instant::now();
        let wait = pace.gap.max(pace.policy_gap).max(exhausted_until(headers).unwrap_or_default());
        pace.not_before = now.checked_add(wait).or_else(|| now.checked_add(MAX_SERVER_WAIT));
    }
}

/// When the server says the budget is spent: how long until it resets.
pub fn exhausted_until(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let remaining_reset = [("x-ratelimit-remaining", "x-ratelimit-reset"), ("ratelimit-remaining", "ratelimit-reset")]
        .into_iter()
        .find_map(|(r, t)| Some((get(r)?.parse::<f64>().ok()?, get(t))));
    if let Some((remaining, reset)) = remaining_reset {
        return (remaining <= 0.0).then(|| reset.and_then(reset_delay).unwrap_or(Duration::from_secs(1)));
    }
    // Structured form: `RateLimit: "default";r=0;t=5` (draft-ietf-httpapi-ratelimit-headers-08+).
    let structured = get("ratelimit")?;
    let mut r = None;
    let mut t = None;
    for part in structured.split([';', ',']) {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("r=").or_else(|| part.strip_prefix("remaining=")) {
            r = v.parse::<f64>().ok();
        } else if let Some(v) = part.strip_prefix("t=").or_else(|| part.strip_prefix("reset=")) {
            t = reset_delay(v);
        }
    }
    (r? <= 0.0).then(|| t.unwrap_or(Duration::from_secs(1)))
}

/// Longest policy window whose average rate is kept (a burst limit, not a quota).
const SPREAD_WINDOW_S: f64 = 60.0;

/// The strictest average interval (window / quota) of a `RateLimit-Policy`
/// header's burst limits: its policies with a window of at most a minute.
pub fn policy_interval(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("ratelimit-policy")?.to_str().ok()?;
    value
        .split(',')
        .filter_map(|policy| {
            let mut quota = None;
            let mut window = None;
            for (i, part) in policy.split(';').map(str::trim).enumerate() {
                if let Some(w) = part.strip_prefix("w=") {
                    window = w.parse::<f64>().ok();
                } else if let Some(q) = part.strip_prefix("q=") {
                    quota = q.parse::<f64>().ok();
                } else if i == 0 {
                    quota = part.parse::<f64>().ok();
                }
            }
            let (q, w) = (quota?, window?);
            // `q=1e-320` makes `w / q` infinite: `seconds` bounds it.
            if q > 0.0 && w > 0.0 && w <= SPREAD_WINDOW_S { retry::seconds(w / q) } else { None }
        })
        .max()
}

/// A reset given as delta seconds, or as a Unix time (GitHub's `X-RateLimit-Reset`).
fn reset_delay(value: &str) -> Option<Duration> {
    let v: f64 = value.trim().parse().ok()?;
    if v > 1_000_000_000.0 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
        return retry::seconds(v - now);
    }
    retry::seconds(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn spent_budgets_in_every_dialect() {
        let d = exhausted_until(&headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "3")]));
        assert_eq!(d, Some(Duration::from_secs(3)));
        assert_eq!(exhausted_until(&headers(&[("x-ratelimit-remaining", "5"), ("x-ratelimit-reset", "3")])), None);
        let d = exhausted_until(&headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "2")]));
        assert_eq!(d, Some(Duration::from_secs(2)));
        let d = exhausted_until(&headers(&[("ratelimit", "\"default\";r=0;t=4")]));
        assert_eq!(d, Some(Duration::from_secs(4)));
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 30;
        let d = exhausted_until(&headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &epoch.to_string())]));
        assert!(d.unwrap() > Duration::from_secs(25));
    }

    #[test]
    fn a_policy_spreads_requests_at_its_average_rate() {
        assert_eq!(policy_interval(&headers(&[("ratelimit-policy", "10;w=1")])), Some(Duration::from_millis(100)));
        let both = headers(&[("ratelimit-policy", "\"burst\";q=100;w=60, \"sec\";q=5;w=1")]);
        assert_eq!(policy_interval(&both), Some(Duration::from_millis(600)), "the strictest burst limit");
        // A daily quota is spent as needed, not spread over the day.
        let quota = headers(&[("ratelimit-policy", "\"burst\";q=100;w=10, \"day\";q=1000;w=86400")]);
        assert_eq!(policy_interval(&quota), Some(Duration::from_millis(100)));
        assert_eq!(policy_interval(&headers(&[("ratelimit-policy", "1000;w=86400")])), None);
        let p = Pacer::default();
        p.observe("h", 200, &headers(&[("ratelimit-policy", "4;w=1")]));
        assert!(p.delay("h") > Duration::from_millis(200));
    }

    /// Regression (review D1): resets of `inf`, `1e300` or 9.3e18 s, and a policy
    /// with `q=1e-320`, panicked in `Duration::from_secs_f64` or `Instant + reset`.
    #[test]
    fn hostile_rate_limit_figures_are_bounded_waits() {
        let p = Pacer::default();
        for reset in ["inf", "1e300", "9300000000000000000", "1e15", "NaN", "-inf"] {
            for (r, t) in [("x-ratelimit-remaining", "x-ratelimit-reset"), ("ratelimit-remaining", "ratelimit-reset")] {
                let h = headers(&[(r, "0"), (t, reset)]);
                assert!(exhausted_until(&h).unwrap() <= MAX_SERVER_WAIT, "{reset}");
                p.observe("h", 200, &h);
                assert!(p.delay("h") <= MAX_SERVER_WAIT);
            }
            let h = headers(&[("ratelimit", &format!("r=0;t={reset}"))]);
            assert!(exhausted_until(&h).unwrap() <= MAX_SERVER_WAIT, "{reset}");
        }
        let tiny = headers(&[("ratelimit-policy", "\"x\";q=1e-320;w=60")]);
        assert_eq!(policy_interval(&tiny), Some(MAX_SERVER_WAIT));
        p.observe("h", 429, &tiny);
        assert!(p.delay("h") > Duration::from_secs(3600));
    }

    #[test]
    fn a_429_opens_a_gap_that_closes_on_success() {
        let p = Pacer::default();
        p.observe("h", 429, &HeaderMap::new());
        assert!(p.delay("h") > Duration::from_millis(100));
        for _ in 0..20 {
            p.observe("h", 200, &HeaderMap::new());
        }
        assert_eq!(p.delay("h"), Duration::ZERO);
    }
}
