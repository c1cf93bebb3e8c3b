//! Error rules (`on_error`): what a response means when an API says something
//! went wrong in its own way. The host already waits out 429s, retries 5xx and
//! reads the common rate-limit headers; a rule covers the rest: a 400 whose
//! body says the daily quota is spent (pause, and resume at that page next
//! run), a 404 for a parent that was deleted (skip it), a 409 "try again"
//! (retry after a wait), a GraphQL error code inside a 200, or a status that
//! should fail with a message of the user's own.

use headwater_sdk::http::Response;
use headwater_sdk::{Error, Result};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// The longest wait a `retry` rule may ask for: a connector call has a deadline.
const MAX_WAIT_S: u64 = 300;

/// How much of a body `body_contains` searches.
const SEARCHED: usize = 1 << 20;

/// One rule: the response it matches (every given condition must hold) and what to do.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    /// Statuses it matches, e.g. `[400, 403]` (any error status when empty).
    #[serde(default)]
    pub status: Vec<u16>,
    /// Text the body must contain, e.g. `"DAILY_LIMIT_EXCEEDED"`.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// A header the response must carry (its name, any case).
    #[serde(default)]
    pub header: Option<String>,
    /// A GraphQL error code (`errors[].extensions.code`) in a 200 response.
    #[serde(default)]
    pub graphql_code: Option<String>,
    pub action: Action,
    /// `retry`: seconds to wait (default: the response's `Retry-After`, else 5; at most 300).
    #[serde(default)]
    pub wait_s: Option<u64>,
    /// `retry`: retries before the stream fails (default 3).
    #[serde(default = "three")]
    pub max_retries: u32,
    /// `fail`: the message the stream fails with (default: the response's status and body).
    #[serde(default)]
    pub message: Option<String>,
}

fn three() -> u32 {
    3
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Wait and send the request again.
    Retry,
    /// Commit what was read and end the run as paused; the next run resumes at this request.
    Pause,
    /// Treat the response as the end of this request's pages (for a child stream, skip this parent).
    Skip,
    /// Fail the stream.
    Fail,
}

/// What a response turned out to mean.
pub enum Verdict {
    /// Go on with it (a success, or an error no rule matched: the usual handling applies).
    Proceed,
    Retry {
        wait_s: u64,
        max_retries: u32,
    },
    Skip,
    Failed(Error),
}

/// Checks the rules when loading the config: a rule that matches on nothing would
/// match every response.
pub fn validate(rules: &[ErrorRule], stream: &str) -> Result<()> {
    for (i, r) in rules.iter().enumerate() {
        if r.status.is_empty() && r.body_contains.is_none() && r.header.is_none() && r.graphql_code.is_none() {
            return Err(Error::Config(format!(
                "stream `{stream}`: on_error[{i}] matches nothing in particular: give `status`, `body_contains`, \
                 `header` or `graphql_code`"
            )));
        }
        if r.graphql_code.is_some() && !r.status.is_empty() && !r.status.contains(&200) {
            return Err(Error::Config(format!(
                "stream `{stream}`: on_error[{i}]: `graphql_code` matches errors inside a 200 response, not status {:?}",
                r.status
            )));
        }
    }
    Ok(())
}

/// The first rule that matches `response` (an error status, or GraphQL errors
/// in a 200) decides; `url` names the request in messages.
pub fn judge(rules: &[&ErrorRule], response: &Response, url: &str) -> Verdict {
    let failed = !(200..300).contains(&response.status);
    let codes = if failed || !rules.iter().any(|r| r.graphql_code.is_some()) {
        Vec::new()
    } else {
        graphql_codes(&response.body)
    };
    if !failed && codes.is_empty() {
        return Verdict::Proceed;
    }
    let body = &response.body[..response.body.len().min(SEARCHED)];
    let Some(rule) = rules.iter().find(|r| {
        let status = if r.graphql_code.is_some() {
            !failed
        } else {
            failed && (r.status.is_empty() || r.status.contains(&response.status))
        };
        status
            && r.body_contains.as_ref().is_none_or(|t| memmem(body, t.as_bytes()))
            && r.header.as_ref().is_none_or(|h| response.header(h).is_some())
            && r.graphql_code.as_ref().is_none_or(|c| codes.contains(c))
    }) else {
        return Verdict::Proceed;
    };
    let what = || {
        let snippet = String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).into_owned();
        format!("{url} returned HTTP {}: {snippet}", response.status)
    };
    match rule.action {
        Action::Retry => {
            let asked = response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
            Verdict::Retry { wait_s: rule.wait_s.or(asked).unwrap_or(5).min(MAX_WAIT_S), max_retries: rule.max_retries }
        }
        Action::Pause => Verdict::Failed(Error::Paused(format!("{} (an on_error rule pauses the stream)", what()))),
        Action::Skip => Verdict::Skip,
        Action::Fail => Verdict::Failed(Error::Data(match &rule.message {
            Some(m) => format!("{m} ({})", what()),
            None => what(),
        })),
    }
}

/// The `errors[].extensions.code` of a GraphQL response, if it has errors.
fn graphql_codes(body: &[u8]) -> Vec<String> {
    let Ok(doc) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    doc.get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.pointer("/extensions/code").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn memmem(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn rules(json: &str) -> Vec<ErrorRule> {
        serde_json::from_str(json).unwrap()
    }

    fn judge(rules: &[ErrorRule], response: &Response, url: &str) -> Verdict {
        super::judge(&rules.iter().collect::<Vec<_>>(), response, url)
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let r = rules(
            r#"[
                {"status": [400], "body_contains": "DAILY_LIMIT", "action": "pause"},
                {"status": [404], "action": "skip"},
                {"header": "x-try-again", "action": "retry", "wait_s": 1},
                {"graphql_code": "MAX_COST_EXCEEDED", "action": "fail", "message": "query too costly"}
            ]"#,
        );
        let url = "https://api/x";
        assert!(matches!(judge(&r, &response(200, &[], "{}"), url), Verdict::Proceed));
        assert!(
            matches!(judge(&r, &response(400, &[], "{\"e\":\"DAILY_LIMIT\"}"), url), Verdict::Failed(Error::Paused(m)) if m.contains("HTTP 400"))
        );
        assert!(
            matches!(judge(&r, &response(400, &[], "{\"e\":\"OTHER\"}"), url), Verdict::Proceed),
            "no rule: usual handling"
        );
        assert!(matches!(judge(&r, &response(404, &[], ""), url), Verdict::Skip));
        assert!(matches!(
            judge(&r, &response(409, &[("X-Try-Again", "1")], ""), url),
            Verdict::Retry { wait_s: 1, max_retries: 3 }
        ));
        let graphql =
            r#"{"data": null, "errors": [{"message": "too costly", "extensions": {"code": "MAX_COST_EXCEEDED"}}]}"#;
        assert!(
            matches!(judge(&r, &response(200, &[], graphql), url), Verdict::Failed(Error::Data(m)) if m.starts_with("query too costly"))
        );
    }

    #[test]
    fn a_rule_that_matches_nothing_in_particular_is_refused() {
        let r = rules(r#"[{"action": "skip"}]"#);
        assert!(validate(&r, "s").is_err());
        let r = rules(r#"[{"status": [400], "graphql_code": "X", "action": "skip"}]"#);
        assert!(validate(&r, "s").is_err());
    }
}
