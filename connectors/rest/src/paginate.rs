//! Pagination: given the request that fetched a page and the page itself, the
//! request for the next page, or none when the stream is done.

use crate::config::{GraphQl, Place};
use crate::request::RequestSpec;
use headwater_sdk::paginate::next_link;
use headwater_sdk::{Error, Result};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Paginator {
    /// One request per stream.
    #[default]
    None,
    /// The next page's cursor is read from the body and sent back.
    Cursor {
        /// JSON pointer to the next cursor, e.g. `/meta/next_cursor`; null or empty ends the stream.
        #[serde(default)]
        cursor_path: String,
        /// Or the response header that holds it, e.g. `X-Next-Cursor` (empty, absent or `null` ends the stream).
        #[serde(default)]
        cursor_header: Option<String>,
        /// Parameter that carries the cursor, e.g. `cursor`.
        cursor_param: String,
        /// `query` (default) or `body`.
        #[serde(default)]
        cursor_in: Place,
        /// JSON pointer to a boolean that, true, ends the stream whatever the cursor
        /// (Zendesk's `/end_of_stream`).
        #[serde(default)]
        stop_path: Option<String>,
    },
    /// The next page starts after the last record of this one (Stripe's
    /// `starting_after`): the last record's `cursor_field` is sent as `cursor_param`
    /// while `has_more_path` says there is more (or, without it, while pages come back full or not empty).
    LastRecord {
        /// The record's field (or JSON pointer into it) that names it, e.g. `id`.
        cursor_field: String,
        /// Parameter that carries it, e.g. `starting_after`.
        cursor_param: String,
        /// `query` (default) or `body`.
        #[serde(default)]
        cursor_in: Place,
        /// JSON pointer to a boolean saying whether more pages follow, e.g. `/has_more`.
        #[serde(default)]
        has_more_path: Option<String>,
    },
    /// The body holds the next page's URL (absolute or relative).
    NextUrl {
        /// JSON pointer to it, e.g. `/links/next`; null or empty ends the stream.
        next_url_path: String,
    },
    /// The next page's URL is in the `Link` header (RFC 8288, `rel="next"`).
    LinkHeader,
    /// `limit`/`offset` parameters; a short page (or reaching `total_path`) ends the stream.
    Offset {
        limit: u64,
        #[serde(default = "limit_param")]
        limit_param: String,
        #[serde(default = "offset_param")]
        offset_param: String,
        /// JSON pointer to the total number of records, if the API gives it.
        #[serde(default)]
        total_path: Option<String>,
    },
    /// A page-number parameter; an empty page (or reaching `total_pages_path`) ends the stream.
    Page {
        #[serde(default = "page_param")]
        page_param: String,
        /// Number of the first page.
        #[serde(default = "one")]
        start: u64,
        /// Records per page, sent as `page_size_param` when both are given; a shorter page ends the stream.
        #[serde(default)]
        page_size: Option<u64>,
        #[serde(default)]
        page_size_param: Option<String>,
        /// JSON pointer to the number of pages, if the API gives it.
        #[serde(default)]
        total_pages_path: Option<String>,
    },
    /// The next request from templates over the page just read (MiniJinja, see
    /// `template`): `response.body` (the page without its records), `response.headers`
    /// (names in lower case), `last_record` (the page's last record), `records` (how
    /// many the page held).
    Template {
        /// Parameters of the next request, e.g. `{ cursor = "{{ response.body.meta.next }}" }`;
        /// one that renders empty ends the stream.
        params: std::collections::BTreeMap<String, String>,
        /// `query` (default) or `body`.
        #[serde(default)]
        params_in: Place,
        /// An expression that, true, ends the stream, e.g. `not response.body.has_more`.
        #[serde(default)]
        stop_when: Option<String>,
    },
}

fn limit_param() -> String {
    "limit".into()
}
fn offset_param() -> String {
    "offset".into()
}
fn page_param() -> String {
    "page".into()
}
fn one() -> u64 {
    1
}

/// What one page gave.
pub struct Page<'a> {
    pub url: &'a str,
    pub body: &'a Value,
    pub headers: &'a [(String, String)],
    pub records: usize,
    /// The page's last record, when the stream's records were read here (see
    /// [`Paginator::needs_records`]).
    pub last_record: Option<&'a Value>,
}

impl Paginator {
    /// The first request: the paginator's parameters at their start values.
    pub fn first(&self, base: &RequestSpec) -> RequestSpec {
        let mut r = base.clone();
        match self {
            Paginator::Offset { limit, limit_param, offset_param, .. } => {
                r.set(Place::Query, limit_param, Value::from(*limit));
                r.set(Place::Query, offset_param, Value::from(0));
            }
            Paginator::Page { page_param, start, page_size, page_size_param, .. } => {
                r.set(Place::Query, page_param, Value::from(*start));
                if let (Some(size), Some(p)) = (page_size, page_size_param) {
                    r.set(Place::Query, p, Value::from(*size));
                }
            }
            _ => {}
        }
        r
    }

    /// Whether the paginator reads a record (so the connector must parse the page's
    /// records rather than hand them to the host unread).
    pub fn needs_records(&self) -> bool {
        match self {
            Paginator::LastRecord { .. } => true,
            Paginator::Template { params, stop_when, .. } => {
                params.values().chain(stop_when).any(|t| t.contains("last_record"))
            }
            _ => false,
        }
    }

    /// Whether pages can be requested ahead of knowing the previous one (offset and page numbers).
    pub fn is_numbered(&self) -> bool {
        matches!(self, Paginator::Offset { .. } | Paginator::Page { .. })
    }

    /// The request `steps` pages after `req` (numbered paginators only).
    pub fn advance(&self, req: &RequestSpec, steps: u64) -> RequestSpec {
        let mut r = req.clone();
        match self {
            Paginator::Offset { limit, offset_param, .. } => {
                let offset = r.query_u64(offset_param).unwrap_or(0);
                r.set(Place::Query, offset_param, Value::from(offset + steps * limit));
            }
            Paginator::Page { page_param, start, .. } => {
                let page = r.query_u64(page_param).unwrap_or(*start);
                r.set(Place::Query, page_param, Value::from(page + steps));
            }
            _ => {}
        }
        r
    }

    /// The request for the page after `page`, or `None` when it was the last.
    pub fn next(&self, req: &RequestSpec, page: &Page) -> Result<Option<RequestSpec>> {
        if page.records == 0 {
            return Ok(None);
        }
        match self {
            Paginator::None => Ok(None),
            Paginator::Template { params, params_in, stop_when } => {
                let headers: serde_json::Map<String, Value> =
                    page.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone()))).collect();
                let ctx = serde_json::json!({
                    "response": { "body": page.body, "headers": headers },
                    "last_record": page.last_record,
                    "records": page.records,
                });
                if let Some(expr) = stop_when
                    && crate::template::holds(expr, &ctx, page.url)?
                {
                    return Ok(None);
                }
                let mut r = req.clone();
                for (name, template) in params {
                    let value = crate::template::render(template, &ctx, page.url)?;
                    if value.is_empty() || value == "none" {
                        return Ok(None);
                    }
                    r.set(*params_in, name, Value::String(value));
                }
                Ok(Some(r))
            }
            Paginator::Cursor { cursor_path, cursor_header, cursor_param, cursor_in, stop_path } => {
                if stop_path.as_deref().is_some_and(|p| page.body.pointer(p) == Some(&Value::Bool(true))) {
                    return Ok(None);
                }
                let cursor = match (cursor_header, cursor_path.is_empty()) {
                    (Some(name), true) => page
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.trim().to_string())
                        .filter(|v| !v.is_empty() && v != "null"),
                    (None, false) => scalar_at(page.body, cursor_path, page.url)?,
                    _ => {
                        return Err(Error::Config(
                            "a cursor paginator takes its cursor from `cursor_path` or from `cursor_header`: give one"
                                .into(),
                        ));
                    }
                };
                let Some(cursor) = cursor else { return Ok(None) };
                let mut r = req.clone();
                r.set(*cursor_in, cursor_param, Value::String(cursor));
                Ok(Some(r))
            }
            Paginator::LastRecord { cursor_field, cursor_param, cursor_in, has_more_path } => {
                if let Some(pointer) = has_more_path {
                    match page.body.pointer(pointer) {
                        Some(Value::Bool(true)) => {}
                        None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(None),
                        Some(other) => {
                            return Err(Error::Data(format!(
                                "response from {}: `{pointer}` is a {}, expected true or false",
                                page.url,
                                crate::kind(other)
                            )));
                        }
                    }
                }
                let last = page.last_record.ok_or_else(|| Error::Other("the page's records were not read".into()))?;
                let cursor = match crate::config::field(last, cursor_field) {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => {
                        return Err(Error::Data(format!(
                            "response from {}: the last record has no `{cursor_field}` to continue after",
                            page.url
                        )));
                    }
                };
                let mut r = req.clone();
                r.set(*cursor_in, cursor_param, Value::String(cursor));
                Ok(Some(r))
            }
            Paginator::NextUrl { next_url_path } => match scalar_at(page.body, next_url_path, page.url)? {
                None => Ok(None),
                Some(next) => Ok(Some(req.follow(&next, page.url)?)),
            },
            Paginator::LinkHeader => {
                let link = page.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("link")).map(|(_, v)| v.as_str());
                match link.flat_map(next_link).next() {
                    None => Ok(None),
                    Some(next) => Ok(Some(req.follow(&next, page.url)?)),
                }
            }
            Paginator::Offset { limit, offset_param, total_path, .. } => {
                let offset = req.query_u64(offset_param).unwrap_or(0);
                let seen = offset + page.records as u64;
                let total = match total_path {
                    Some(p) => number_at(page.body, p, page.url)?,
                    None => None,
                };
                if (page.records as u64) < *limit || total.is_some_and(|t| seen >= t) {
                    return Ok(None);
                }
                Ok(Some(self.advance(req, 1)))
            }
            Paginator::Page { page_param, start, page_size, total_pages_path, .. } => {
                let current = req.query_u64(page_param).unwrap_or(*start);
                let total = match total_pages_path {
                    Some(p) => number_at(page.body, p, page.url)?,
                    None => None,
                };
                // Pages count from `start`; `total` counts pages.
                let last = total.map(|t| t + start - 1);
                if page_size.is_some_and(|s| (page.records as u64) < s) || last.is_some_and(|l| current >= l) {
                    return Ok(None);
                }
                Ok(Some(self.advance(req, 1)))
            }
        }
    }
}

/// Where APIs commonly say that more pages follow, as a boolean: at the top of
/// the page or under its pagination object.
const MORE_FLAGS: [&str; 5] = ["has_more", "hasMore", "has_next_page", "hasNextPage", "more"];
const MORE_PARENTS: [&str; 6] = ["", "/meta", "/pagination", "/paging", "/page_info", "/pageInfo"];

/// A flag in the page that says more pages follow (`/has_more` is true), for a
/// paginator that found no next page: the stream must fail saying so rather than
/// land the first page and report success.
pub fn says_more(body: &Value) -> Option<String> {
    MORE_PARENTS
        .iter()
        .flat_map(|parent| MORE_FLAGS.iter().map(move |flag| format!("{parent}/{flag}")))
        .find(|p| body.pointer(p) == Some(&Value::Bool(true)))
}

/// The next page of a GraphQL connection: Relay's `pageInfo { hasNextPage endCursor }`.
pub fn relay_next(graphql: &GraphQl, req: &RequestSpec, page: &Page) -> Result<Option<RequestSpec>> {
    let Some(pointer) = &graphql.page_info else { return Ok(None) };
    let info = page
        .body
        .pointer(pointer)
        .ok_or_else(|| Error::Data(format!("GraphQL response from {} has no pageInfo at `{pointer}`", page.url)))?;
    if info.get("hasNextPage").and_then(Value::as_bool) != Some(true) || page.records == 0 {
        return Ok(None);
    }
    let Some(cursor) = scalar_at(info, "/endCursor", page.url)? else { return Ok(None) };
    let mut r = req.clone();
    r.set(Place::Body, &graphql.cursor_variable, Value::String(cursor));
    Ok(Some(r))
}

/// A string or number at `pointer`; `None` when absent, null or empty.
fn scalar_at(body: &Value, pointer: &str, url: &str) -> Result<Option<String>> {
    match body.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(Error::Data(format!(
            "response from {url}: `{pointer}` is a {}, expected a string or number",
            crate::kind(other)
        ))),
    }
}

fn number_at(body: &Value, pointer: &str, url: &str) -> Result<Option<u64>> {
    match body.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_u64()),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| Error::Data(format!("response from {url}: `{pointer}` = `{s}` is not a count"))),
        Some(other) => Err(Error::Data(format!("response from {url}: `{pointer}` is a {}", crate::kind(other)))),
    }
}

#[cfg(test)]
mod tests {
    use headwater_sdk::paginate::next_link;

    #[test]
    fn link_headers() {
        let h = r#"<https://api.x.com/o?page=1>; rel="prev", <https://api.x.com/o?page=3>; rel="next""#;
        assert_eq!(next_link(h).as_deref(), Some("https://api.x.com/o?page=3"));
        assert_eq!(next_link(r#"</o?after=9>; rel="next last""#).as_deref(), Some("/o?after=9"));
        assert_eq!(next_link(r#"<https://api.x.com/o?page=1>; rel="prev""#), None);
    }
}
