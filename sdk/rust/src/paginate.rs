//! Paginators: the pages of an API, fetched one after the other through the
//! host's `http` interface (so its allowlist, rate limit, retries and
//! credentials apply to each request), as an iterator.
//!
//! A [`Paging`] says how the next page is found: a cursor read from the page, a
//! next-page URL in the body or in the `Link` header, `offset`/`limit`
//! parameters, or a page number. [`Pages`] walks them in one of two ways:
//!
//! - [`Pages::emit`] hands each page's body to the host, which emits the
//!   records array at a JSON pointer natively (`output.emit-records`: the
//!   records are never parsed in the connector) and returns the rest of the
//!   page, from which the next page is found;
//! - [`Pages::json`] parses each page in the connector, for a connector that
//!   reads or reshapes the records ([`JsonPage::records`] deserializes them).
//!
//! Each page says where the next one starts ([`EmittedPage::next`],
//! [`JsonPage::next`]): a token to checkpoint, from which
//! [`Pages::resume_from`] continues on a later run (see
//! [`crate::incremental::Incremental`]).
//!
//! A server that loops does not keep a connector paging forever: a cursor or
//! URL that was already followed ends the pagination, as does an offset or
//! numbered page whose body is the previous page's byte for byte (a server
//! that ignores the parameter); either is logged as a warning.
//!
//! ```no_run
//! use headwater_sdk::http::Request;
//! use headwater_sdk::paginate::{Pages, Paging};
//!
//! # fn main() -> headwater_sdk::Result<()> {
//! let request = Request::get("https://api.example.com/orders").query("limit", "100");
//! for page in Pages::new(request, Paging::cursor("cursor", "/next_cursor")).emit("orders", "/data") {
//!     let page = page?;
//!     headwater_sdk::output::checkpoint("orders", &serde_json::json!({ "next": page.next }))?;
//! }
//! # Ok(())
//! # }
//! ```

use crate::http::{self, Request, Response};
use crate::{Error, Level, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// How the next page is found.
#[derive(Debug, Clone, PartialEq)]
pub enum Paging {
    /// The page carries the next page's cursor at the JSON pointer `pointer`
    /// (null, empty or absent: this was the last page); the next request sends it
    /// as the query parameter `param`. The token to resume from is the cursor.
    Cursor { param: String, pointer: String },
    /// The page carries the next page's URL (absolute or relative to the page's)
    /// at the JSON pointer `pointer`; null, empty or absent: this was the last page.
    /// The token to resume from is the URL.
    NextUrl { pointer: String },
    /// The response's `Link` header names the next page (`<…>; rel="next"`,
    /// RFC 8288), as GitHub's and Shopify's REST APIs do. The token to resume
    /// from is the URL.
    LinkHeader,
    /// Pages of `limit` records from `offset`, sent as the query parameters
    /// `offset_param` and `limit_param`; a page with fewer than `limit` records
    /// was the last. The token to resume from is the next offset.
    Offset { limit: u64, offset_param: String, limit_param: String },
    /// Numbered pages from `first`, sent as the query parameter `param` (and, with
    /// `size`, the page size as `size.0`); an empty page, or one shorter than the
    /// page size, ends the pagination. The token to resume from is the next page's
    /// number.
    PageNumber { param: String, first: u64, size: Option<(String, u64)> },
}

impl Paging {
    /// [`Paging::Cursor`]: the cursor at the JSON pointer `pointer`, sent back as `param`.
    pub fn cursor(param: impl Into<String>, pointer: impl Into<String>) -> Paging {
        Paging::Cursor { param: param.into(), pointer: pointer.into() }
    }

    /// [`Paging::NextUrl`]: the next page's URL at the JSON pointer `pointer`.
    pub fn next_url(pointer: impl Into<String>) -> Paging {
        Paging::NextUrl { pointer: pointer.into() }
    }

    /// [`Paging::LinkHeader`].
    pub fn link_header() -> Paging {
        Paging::LinkHeader
    }

    /// [`Paging::Offset`] with the parameters `offset` and `limit`.
    pub fn offset(limit: u64) -> Paging {
        Paging::Offset { limit: limit.max(1), offset_param: "offset".into(), limit_param: "limit".into() }
    }

    /// [`Paging::PageNumber`] with the parameter `page`, from page 1, no page size.
    pub fn page_number() -> Paging {
        Paging::PageNumber { param: "page".into(), first: 1, size: None }
    }
}

/// Sends a page's request: the host's `send_read`, or a test's server.
type Sender = Box<dyn FnMut(&Request) -> Result<Response>>;
/// Emits a page's records: the host's `emit_records`, or a test's stand-in.
type Emitter = Box<dyn FnMut(&str, &[u8], &str) -> Result<(u64, Value)>>;

/// The pages of `request` under a [`Paging`]; call [`emit`](Pages::emit) or
/// [`json`](Pages::json) to walk them.
pub struct Pages {
    walker: Walker,
    send: Sender,
    log: fn(Level, &str),
}

impl Pages {
    /// The pages of `request` (the first page's request: its URL, query,
    /// headers and credential name; every page is sent with `http::send_read`,
    /// so a POST search is retried like a GET).
    pub fn new(request: Request, paging: Paging) -> Pages {
        Pages { walker: Walker::new(request, paging), send: Box::new(http::send_read), log: crate::output::log }
    }

    /// Starts at the page a token names (a page's `next`, checkpointed by an
    /// earlier run) rather than at the first page; `None` starts at the first.
    pub fn resume_from(mut self, token: Option<&str>) -> Pages {
        self.walker.next = token.map(str::to_string);
        self
    }

    /// Walks the pages handing each body to the host, which emits the records
    /// array at the JSON pointer `records` (empty: the body is the array) to
    /// `stream`. The next page is found in what the host returns, the page with
    /// its records replaced by `null`: a cursor or next URL must lie outside the
    /// records array.
    pub fn emit(self, stream: &str, records: &str) -> EmitPages {
        EmitPages {
            pages: self,
            stream: stream.to_string(),
            records: records.to_string(),
            emit: Box::new(crate::output::emit_records),
        }
    }

    /// Walks the pages parsing each as JSON in the connector; `records` is the
    /// JSON pointer of the page's records array (empty: the body is the array),
    /// counted to find the end of an offset or numbered pagination and read by
    /// [`JsonPage::records`].
    pub fn json(self, records: &str) -> JsonPages {
        JsonPages { pages: self, records: records.to_string() }
    }

    /// The next page's response, or `None` when the pagination is over.
    fn fetch(&mut self) -> Result<Option<(String, Response)>> {
        let Some(request) = self.walker.request() else { return Ok(None) };
        let response = (self.send)(&request).inspect_err(|_| self.walker.done = true)?;
        if let Err(e) = response.check(&request.url) {
            self.walker.done = true;
            return Err(e);
        }
        if let Some(warning) = self.walker.repeated_body(&response.body) {
            (self.log)(Level::Warn, &warning);
            return Ok(None);
        }
        Ok(Some((request.url, response)))
    }

    /// Finds the next page from this one, warning when it ends on a loop.
    fn advance(
        &mut self,
        url: &str,
        rest: &Value,
        response: &Response,
        records: Option<u64>,
    ) -> Result<Option<String>> {
        let next =
            self.walker.advance(url, rest, &response.headers, records).inspect_err(|_| self.walker.done = true)?;
        if let Some(warning) = self.walker.warning.take() {
            (self.log)(Level::Warn, &warning);
        }
        Ok(next)
    }

    #[cfg(test)]
    fn with_transport(mut self, send: impl FnMut(&Request) -> Result<Response> + 'static) -> Pages {
        self.send = Box::new(send);
        self.log = |_, _| {};
        self
    }
}

/// A page whose records the host emitted.
#[derive(Debug, Clone)]
pub struct EmittedPage {
    /// The URL the page was fetched from.
    pub url: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Records the host emitted from this page.
    pub rows: u64,
    /// The page with its records array replaced by `null`.
    pub rest: Value,
    /// Where the next page starts (see [`Paging`] for each kind's token);
    /// `None` after the last page.
    pub next: Option<String>,
}

/// The iterator of [`Pages::emit`]: each item is a page whose records were
/// emitted, or the error that ended the pagination (the last item).
pub struct EmitPages {
    pages: Pages,
    stream: String,
    records: String,
    emit: Emitter,
}

impl Iterator for EmitPages {
    type Item = Result<EmittedPage>;

    fn next(&mut self) -> Option<Self::Item> {
        let (url, response) = match self.pages.fetch() {
            Ok(Some(page)) => page,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let (rows, rest) = match (self.emit)(&self.stream, &response.body, &self.records) {
            Ok(emitted) => emitted,
            Err(e) => {
                self.pages.walker.done = true;
                return Some(Err(e));
            }
        };
        let next = match self.pages.advance(&url, &rest, &response, Some(rows)) {
            Ok(next) => next,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(EmittedPage { url, status: response.status, headers: response.headers, rows, rest, next }))
    }
}

/// A page parsed in the connector.
#[derive(Debug, Clone)]
pub struct JsonPage {
    /// The URL the page was fetched from.
    pub url: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The whole page.
    pub body: Value,
    /// Where the next page starts (see [`Paging`] for each kind's token);
    /// `None` after the last page.
    pub next: Option<String>,
    records: String,
}

impl JsonPage {
    /// The records array (the JSON pointer given to [`Pages::json`]); empty when
    /// the page has none there.
    pub fn records_json(&self) -> &[Value] {
        self.body.pointer(&self.records).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    /// The records deserialized as `T`; a record that does not fit is an error
    /// naming the URL and the record's index.
    pub fn records<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.records_json()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                T::deserialize(r).map_err(|e| Error::Data(format!("response from {}: record {i}: {e}", self.url)))
            })
            .collect()
    }
}

/// The iterator of [`Pages::json`]: each item is a parsed page, or the error
/// that ended the pagination (the last item).
pub struct JsonPages {
    pages: Pages,
    records: String,
}

impl Iterator for JsonPages {
    type Item = Result<JsonPage>;

    fn next(&mut self) -> Option<Self::Item> {
        let (url, response) = match self.pages.fetch() {
            Ok(Some(page)) => page,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let parsed = response.json(&url).and_then(|body| {
            let count = count_records(&body, &self.records, &url)?;
            Ok((body, count))
        });
        let (body, count) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                self.pages.walker.done = true;
                return Some(Err(e));
            }
        };
        let next = match self.pages.advance(&url, &body, &response, Some(count)) {
            Ok(next) => next,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(JsonPage {
            url,
            status: response.status,
            headers: response.headers,
            body,
            next,
            records: self.records.clone(),
        }))
    }
}

/// The number of records at `pointer`: an array's length, 0 when absent or null.
fn count_records(body: &Value, pointer: &str, url: &str) -> Result<u64> {
    match body.pointer(pointer) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Array(a)) => Ok(a.len() as u64),
        Some(other) => Err(Error::Data(format!(
            "response from {url}: the records at `{pointer}` are {}, not an array",
            kind(other)
        ))),
    }
}

/// The pagination's position, apart from any I/O: the request for the next
/// page, and the token of the page after it, found from the page just read.
struct Walker {
    first: Request,
    paging: Paging,
    /// The token of the next page to fetch; `None` before the first page.
    next: Option<String>,
    /// Whether a page was fetched (`next: None` then means no next page).
    started: bool,
    done: bool,
    /// Cursors and URLs followed so far.
    followed: HashSet<String>,
    /// A hash of the previous page's body (offset and numbered pages).
    previous_body: Option<u64>,
    /// A loop that ended the pagination, to log.
    warning: Option<String>,
}

impl Walker {
    fn new(first: Request, paging: Paging) -> Walker {
        Walker {
            first,
            paging,
            next: None,
            started: false,
            done: false,
            followed: HashSet::new(),
            previous_body: None,
            warning: None,
        }
    }

    /// The request for the next page; `None` when the pagination is over.
    fn request(&mut self) -> Option<Request> {
        if self.done || (self.started && self.next.is_none()) {
            self.done = true;
            return None;
        }
        self.started = true;
        let token = self.next.take();
        if let Some(t) = &token {
            self.followed.insert(t.clone());
        }
        let mut r = self.first.clone();
        match (&self.paging, token) {
            (Paging::Cursor { param, .. }, Some(cursor)) => r.url = http::set_query(&r.url, param, &cursor),
            (Paging::NextUrl { .. } | Paging::LinkHeader, Some(url)) => r.url = url,
            (Paging::Offset { limit, offset_param, limit_param }, token) => {
                let offset = token.unwrap_or_else(|| "0".into());
                r.url =
                    http::set_query(&http::set_query(&r.url, offset_param, &offset), limit_param, &limit.to_string());
            }
            (Paging::PageNumber { param, first, size }, token) => {
                r.url = http::set_query(&r.url, param, &token.unwrap_or_else(|| first.to_string()));
                if let Some((size_param, size)) = size {
                    r.url = http::set_query(&r.url, size_param, &size.to_string());
                }
            }
            (_, None) => {}
        }
        Some(r)
    }

    /// Whether `body` repeats the previous page's, for offset and numbered pages
    /// (the server ignores the parameter): a warning, and the pagination ends.
    fn repeated_body(&mut self, body: &[u8]) -> Option<String> {
        if !matches!(self.paging, Paging::Offset { .. } | Paging::PageNumber { .. }) {
            return None;
        }
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        let hash = hasher.finish();
        if self.previous_body.replace(hash) == Some(hash) {
            self.done = true;
            return Some(format!(
                "pagination stopped: the page at {} is the previous page again (does the server ignore the {} parameter?)",
                self.first.url,
                match &self.paging {
                    Paging::Offset { offset_param, .. } => offset_param,
                    Paging::PageNumber { param, .. } => param,
                    _ => unreachable!("checked above"),
                }
            ));
        }
        None
    }

    /// The next page's token, from the page at `url`: its body (or the rest
    /// the host returned), headers and number of records.
    fn advance(
        &mut self,
        url: &str,
        page: &Value,
        headers: &[(String, String)],
        records: Option<u64>,
    ) -> Result<Option<String>> {
        let next = match &self.paging {
            Paging::Cursor { pointer, .. } => self.unseen(scalar_at(page, pointer, url)?, url),
            Paging::NextUrl { pointer } => {
                let next = scalar_at(page, pointer, url)?.map(|n| http::resolve(url, &n));
                self.unseen(next, url)
            }
            Paging::LinkHeader => {
                let links = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("link"));
                let next = links.filter_map(|(_, v)| next_link(v)).next().map(|n| http::resolve(url, &n));
                self.unseen(next, url)
            }
            Paging::Offset { limit, .. } => {
                let records = records.unwrap_or(0);
                let offset: u64 = self.current_number(url).unwrap_or(0);
                (records >= *limit).then(|| (offset + records).to_string())
            }
            Paging::PageNumber { first, size, .. } => {
                let records = records.unwrap_or(0);
                let page = self.current_number(url).unwrap_or(*first);
                let short = size.as_ref().is_some_and(|(_, s)| records < *s);
                (records > 0 && !short).then(|| (page + 1).to_string())
            }
        };
        self.next = next.clone();
        if next.is_none() {
            self.done = true;
        }
        Ok(next)
    }

    /// `next`, unless it was followed already (a loop: warn and end).
    fn unseen(&mut self, next: Option<String>, url: &str) -> Option<String> {
        let next = next?;
        if self.followed.contains(&next) {
            self.warning =
                Some(format!("pagination stopped: the page at {url} points back to `{next}`, which was already read"));
            return None;
        }
        Some(next)
    }

    /// The offset or page number the page at `url` was asked for.
    fn current_number(&self, url: &str) -> Option<u64> {
        let param = match &self.paging {
            Paging::Offset { offset_param, .. } => offset_param,
            Paging::PageNumber { param, .. } => param,
            _ => return None,
        };
        let encoded = http::encode(param);
        let query = url.split_once('?')?.1.split('#').next()?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == encoded).then(|| v.parse().ok()).flatten()
        })
    }
}

/// A string or number at `pointer`; `None` when absent, null or empty.
fn scalar_at(body: &Value, pointer: &str, url: &str) -> Result<Option<String>> {
    match body.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(Error::Data(format!(
            "response from {url}: `{pointer}` is {}, expected a string or number",
            kind(other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `rel="next"` target of one `Link` header value (RFC 8288).
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let params_end = rest[end..].find('<').map_or(rest.len(), |i| end + i);
        let params = &rest[end + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p.strip_prefix("rel=")
                .is_some_and(|v| v.trim_matches('"').split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("next")))
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        rest = &rest[params_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// What a test server answers: headers and a JSON body.
    type Answer = (Vec<(String, String)>, Value);
    /// The URLs a test server was asked for.
    type Asked = Rc<RefCell<Vec<String>>>;

    /// A server answering each request with `answer(url)`, logging the URLs asked for.
    fn server(
        answer: impl Fn(&str) -> Answer + 'static,
    ) -> (impl FnMut(&Request) -> Result<Response> + 'static, Asked) {
        let log = Asked::default();
        let seen = log.clone();
        let send = move |r: &Request| {
            seen.borrow_mut().push(r.url.clone());
            let (headers, body) = answer(&r.url);
            Ok(Response { status: 200, headers, body: body.to_string().into_bytes() })
        };
        (send, log)
    }

    fn param(url: &str, name: &str) -> Option<u64> {
        url.split_once('?')?.1.split('&').find_map(|p| p.strip_prefix(&format!("{name}=")).and_then(|v| v.parse().ok()))
    }

    /// Ids 1..=`total`, `size` a page, as `{"data": [...], "next": <cursor>}`.
    fn cursor_api(total: u64, size: u64) -> impl Fn(&str) -> Answer {
        move |url| {
            let start = param(url, "cursor").unwrap_or(0);
            let end = (start + size).min(total);
            let next = (end < total).then(|| end.to_string());
            (Vec::new(), json!({ "data": (start + 1..=end).collect::<Vec<_>>(), "next": next }))
        }
    }

    fn ids(pages: impl Iterator<Item = Result<JsonPage>>) -> Vec<u64> {
        pages.flat_map(|p| p.expect("a page").records::<u64>().expect("ids")).collect()
    }

    #[test]
    fn cursor_pages_follow_the_cursor_to_the_end() {
        let (send, log) = server(cursor_api(25, 10));
        let pages = Pages::new(Request::get("http://api.io/o?limit=10"), Paging::cursor("cursor", "/next"))
            .with_transport(send)
            .json("/data");
        assert_eq!(ids(pages), (1..=25).collect::<Vec<_>>());
        assert_eq!(
            *log.borrow(),
            ["http://api.io/o?limit=10", "http://api.io/o?limit=10&cursor=10", "http://api.io/o?limit=10&cursor=20"]
        );
    }

    #[test]
    fn cursor_pages_resume_from_a_token() {
        let (send, log) = server(cursor_api(25, 10));
        let mut pages = Pages::new(Request::get("http://api.io/o"), Paging::cursor("cursor", "/next"))
            .resume_from(Some("10"))
            .with_transport(send)
            .json("/data");
        let first = pages.next().expect("a page").expect("no error");
        assert_eq!(first.next.as_deref(), Some("20"));
        assert_eq!(pages.next().expect("a page").expect("no error").next, None);
        assert!(pages.next().is_none());
        assert_eq!(*log.borrow(), ["http://api.io/o?cursor=10", "http://api.io/o?cursor=20"]);
    }

    #[test]
    fn a_cursor_seen_before_ends_the_pagination() {
        // A server that answers every page with the cursor of the second.
        let (send, log) = server(|url| {
            let data = if url.contains("cursor") { json!([2]) } else { json!([1]) };
            (Vec::new(), json!({ "data": data, "next": "abc" }))
        });
        let pages = Pages::new(Request::get("http://api.io/o"), Paging::cursor("cursor", "/next"))
            .with_transport(send)
            .json("/data");
        assert_eq!(ids(pages), [1, 2]);
        assert_eq!(log.borrow().len(), 2);
    }

    #[test]
    fn next_urls_resolve_against_the_page_and_do_not_loop() {
        let (send, log) = server(|url| {
            let after = param(url, "after").unwrap_or(0);
            // The third page points back to the second.
            let next = if after < 20 { format!("/api/next?after={}", after + 10) } else { "next?after=10".into() };
            (Vec::new(), json!({ "items": [after], "links": { "next": next } }))
        });
        let pages = Pages::new(Request::get("http://api.io/api/next"), Paging::next_url("/links/next"))
            .with_transport(send)
            .json("/items");
        assert_eq!(ids(pages), [0, 10, 20]);
        assert_eq!(
            *log.borrow(),
            ["http://api.io/api/next", "http://api.io/api/next?after=10", "http://api.io/api/next?after=20"]
        );
    }

    #[test]
    fn link_headers_name_the_next_page() {
        let (send, log) = server(|url| {
            let page = param(url, "page").unwrap_or(1);
            let mut link = "<http://127.0.0.1/linked?page=1>; rel=\"first\"".to_string();
            if page < 3 {
                link.push_str(&format!(", </linked?page={}>; rel=\"next\"", page + 1));
            }
            (vec![("Link".into(), link)], json!([page]))
        });
        let pages =
            Pages::new(Request::get("http://api.io:81/linked"), Paging::link_header()).with_transport(send).json("");
        assert_eq!(ids(pages), [1, 2, 3]);
        assert_eq!(log.borrow()[2], "http://api.io:81/linked?page=3");
    }

    #[test]
    fn link_header_values() {
        let h = r#"<https://api.x.com/o?page=1>; rel="prev", <https://api.x.com/o?page=3>; rel="next""#;
        assert_eq!(next_link(h).as_deref(), Some("https://api.x.com/o?page=3"));
        assert_eq!(next_link(r#"</o?after=9>; rel="next last""#).as_deref(), Some("/o?after=9"));
        assert_eq!(next_link(r#"<https://api.x.com/o?page=1>; rel="prev""#), None);
    }

    /// Ids 1..=`total` by offset and limit, as `{"items": [...]}`.
    fn offset_api(total: u64) -> impl Fn(&str) -> Answer {
        move |url| {
            let (offset, limit) = (param(url, "offset").unwrap_or(0), param(url, "limit").unwrap_or(10));
            (Vec::new(), json!({ "items": (offset + 1..=(offset + limit).min(total)).collect::<Vec<_>>() }))
        }
    }

    #[test]
    fn offset_pages_stop_at_a_short_page() {
        let (send, log) = server(offset_api(25));
        let pages = Pages::new(Request::get("http://api.io/o"), Paging::offset(10)).with_transport(send).json("/items");
        assert_eq!(ids(pages), (1..=25).collect::<Vec<_>>());
        assert_eq!(log.borrow()[2], "http://api.io/o?offset=20&limit=10");
        assert_eq!(log.borrow().len(), 3);

        // A multiple of the limit: one empty page ends it.
        let (send, log) = server(offset_api(20));
        let pages = Pages::new(Request::get("http://api.io/o"), Paging::offset(10)).with_transport(send).json("/items");
        assert_eq!(ids(pages).len(), 20);
        assert_eq!(log.borrow().len(), 3);
    }

    #[test]
    fn a_server_that_ignores_the_offset_does_not_loop() {
        let (send, log) = server(|_| (Vec::new(), json!({ "items": [1, 2] })));
        let pages = Pages::new(Request::get("http://api.io/o"), Paging::offset(2)).with_transport(send).json("/items");
        assert_eq!(ids(pages), [1, 2]);
        assert_eq!(log.borrow().len(), 2, "the second page is the first again: not yielded");
    }

    #[test]
    fn numbered_pages_stop_at_an_empty_page_or_a_short_one() {
        let api = |url: &str| {
            let (page, per) = (param(url, "page").unwrap_or(1), param(url, "per_page").unwrap_or(10));
            let ids: Vec<u64> = ((page - 1) * per + 1..=(page * per).min(25)).collect();
            (Vec::new(), json!({ "results": ids }))
        };
        let (send, log) = server(api);
        let pages =
            Pages::new(Request::get("http://api.io/p"), Paging::page_number()).with_transport(send).json("/results");
        assert_eq!(ids(pages).len(), 25);
        assert_eq!(*log.borrow().last().expect("requests"), "http://api.io/p?page=4", "page 4 is empty");

        let (send, log) = server(api);
        let paging = Paging::PageNumber { param: "page".into(), first: 1, size: Some(("per_page".into(), 10)) };
        let pages = Pages::new(Request::get("http://api.io/p"), paging).with_transport(send).json("/results");
        assert_eq!(ids(pages).len(), 25);
        assert_eq!(*log.borrow().last().expect("requests"), "http://api.io/p?page=3&per_page=10", "page 3 is short");
    }

    #[test]
    fn emitted_pages_find_the_next_page_in_the_rest() {
        let (send, _log) = server(cursor_api(25, 10));
        let emitted = Rc::new(RefCell::new(0));
        let count = emitted.clone();
        let mut pages = Pages::new(Request::get("http://api.io/o"), Paging::cursor("cursor", "/next"))
            .with_transport(send)
            .emit("orders", "/data");
        // What the host does: emit the array, return the page without it.
        pages.emit = Box::new(move |stream, body, records| {
            assert_eq!((stream, records), ("orders", "/data"));
            let mut page: Value = serde_json::from_slice(body).expect("JSON");
            let rows = page.pointer(records).and_then(Value::as_array).map_or(0, Vec::len) as u64;
            *count.borrow_mut() += rows;
            *page.pointer_mut(records).expect("records") = Value::Null;
            Ok((rows, page))
        });
        let pages: Vec<EmittedPage> = pages.collect::<Result<_>>().expect("no error");
        assert_eq!(pages.iter().map(|p| p.rows).collect::<Vec<_>>(), [10, 10, 5]);
        assert_eq!(
            pages.iter().map(|p| p.next.clone()).collect::<Vec<_>>(),
            [Some("10".into()), Some("20".into()), None]
        );
        assert_eq!(*emitted.borrow(), 25);
    }

    #[test]
    fn an_error_ends_the_pagination() {
        let mut calls = 0;
        let send = move |_: &Request| {
            calls += 1;
            match calls {
                1 => Ok(Response { status: 200, headers: Vec::new(), body: br#"{"data":[1],"next":"a"}"#.to_vec() }),
                _ => Ok(Response { status: 503, headers: Vec::new(), body: b"down".to_vec() }),
            }
        };
        let mut pages = Pages::new(Request::get("http://api.io/o"), Paging::cursor("cursor", "/next"))
            .with_transport(send)
            .json("/data");
        assert!(pages.next().expect("a page").is_ok());
        let err = pages.next().expect("the error").expect_err("HTTP 503");
        assert!(matches!(&err, Error::Transient(m) if m.contains("http://api.io/o?cursor=a")), "{err:?}");
        assert!(pages.next().is_none());
    }

    #[test]
    fn a_cursor_of_the_wrong_kind_is_a_data_error() {
        let (send, _) = server(|_| (Vec::new(), json!({ "data": [], "next": {"at": 1} })));
        let mut pages = Pages::new(Request::get("http://api.io/o"), Paging::cursor("cursor", "/next"))
            .with_transport(send)
            .json("/data");
        let err = pages.next().expect("the error").expect_err("an object cursor");
        assert!(err.message().contains("`/next` is an object"), "{err:?}");
        assert!(pages.next().is_none());
    }
}
