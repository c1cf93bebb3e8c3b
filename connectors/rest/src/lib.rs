//! `rest`: a declarative source for JSON APIs. The pipeline file describes the
//! streams (path, method, record selector, pagination, GraphQL, parent streams,
//! incremental cursor, columns); this connector turns that into requests through
//! the host, whose policy adds credentials, rate limits and retries.

mod config;
mod errors;
mod export;
mod incremental;
mod paginate;
mod request;
mod template;

use config::{Config, StreamConfig, column_of, field};
use headwater_sdk::http::Response;
use headwater_sdk::{Connector, Error, Result, StreamInfo, http, output, state};
use incremental::{CursorValue, Seen};
use paginate::Page;
use request::RequestSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

struct Rest;

/// What a stream commits with its rows.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StreamState {
    #[serde(default)]
    rows: u64,
    #[serde(default)]
    pages: u64,
    /// Rows landed inside the lookback window (only with `lookback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<Seen>,
    /// Where a sync paused by an exhausted quota continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<Resume>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Resume {
    /// The next request to send, with the lower bound the paused sync started from.
    next: RequestSpec,
}

impl Connector for Rest {
    type Config = Config;

    fn check(config: &Config) -> Result<()> {
        config.validate()?;
        let stream =
            config.streams.iter().find(|s| s.parent.is_none()).ok_or_else(|| {
                Error::Config("`streams` has no stream without a parent: declare at least one".into())
            })?;
        let req = stream.paginator.first(&RequestSpec::new(config, stream, &stream.path)?);
        match fetch(config, stream, &req)? {
            Some(page) => split(stream, &page).map(|_| ()),
            None => Ok(()),
        }
    }

    fn discover(config: &Config) -> Result<Vec<StreamInfo>> {
        config.validate()?;
        Ok(config.streams.iter().map(StreamConfig::info).collect())
    }

    fn read(config: &Config, streams: &[String]) -> Result<()> {
        config.validate()?;
        for stream in &config.streams {
            if streams.is_empty() || streams.contains(&stream.name) {
                read_stream(config, stream)?;
            }
        }
        Ok(())
    }
}

/// One fetched page: its body as bytes (see [`body`] for how it is read).
struct Fetched {
    url: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

/// A page, or `None` when an `on_error` rule says to skip it.
fn fetch(config: &Config, stream: &StreamConfig, req: &RequestSpec) -> Result<Option<Fetched>> {
    // A page request only reads, even sent by POST (GraphQL, search endpoints):
    // the host may retry it on 5xx like a GET.
    let request = request(config, stream, req);
    let mut retries = 0;
    loop {
        match judged(config, stream, req, http::send_read(&request)?) {
            Err(Retry { wait_s, max_retries }) => {
                if retries >= max_retries {
                    return Err(Error::Transient(format!(
                        "{}: still refused after {retries} retries asked by an on_error rule",
                        req.full_url()
                    )));
                }
                retries += 1;
                std::thread::sleep(std::time::Duration::from_secs(wait_s));
            }
            Ok(page) => return page,
        }
    }
}

/// A retry an `on_error` rule asks for.
struct Retry {
    wait_s: u64,
    max_retries: u32,
}

/// A response as the stream's `on_error` rules see it: a page, a skip (`None`), a
/// failure, or a retry to do.
fn judged(
    config: &Config,
    stream: &StreamConfig,
    req: &RequestSpec,
    response: Response,
) -> std::result::Result<Result<Option<Fetched>>, Retry> {
    let url = req.full_url();
    match errors::judge(&config.error_rules(stream), &response, &url) {
        errors::Verdict::Proceed => Ok(into_fetched(req, response).map(Some)),
        errors::Verdict::Skip => {
            output::info(&format!(
                "stream {}: {url} answered HTTP {}: skipped (on_error)",
                stream.name, response.status
            ));
            Ok(Ok(None))
        }
        errors::Verdict::Failed(e) => Ok(Err(e)),
        errors::Verdict::Retry { wait_s, max_retries } => Err(Retry { wait_s, max_retries }),
    }
}

fn request(config: &Config, stream: &StreamConfig, req: &RequestSpec) -> http::Request {
    let headers: Vec<(String, String)> =
        config.headers.iter().chain(stream.headers.iter()).map(|(k, v)| (k.clone(), v.clone())).collect();
    req.to_request(config.auth_for(stream).as_ref(), &headers)
}

fn into_fetched(req: &RequestSpec, response: Response) -> Result<Fetched> {
    let url = req.full_url();
    response.check(&url)?;
    Ok(Fetched { url, body: response.body, headers: response.headers })
}

/// A page parsed whole: the body with its records taken out (left `null`) and the
/// records. GraphQL `errors` fail it.
fn split(stream: &StreamConfig, page: &Fetched) -> Result<(Value, Vec<Value>)> {
    let url = &page.url;
    let mut body: Value = serde_json::from_slice(&page.body)
        .map_err(|e| Error::Data(format!("response from {url} is not valid JSON: {e}")))?;
    if stream.graphql.is_some()
        && let Some(errors) = body.get("errors").and_then(Value::as_array)
        && !errors.is_empty()
    {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| e.get("message").and_then(Value::as_str).map_or_else(|| e.to_string(), str::to_string))
            .collect();
        return Err(Error::Data(format!("GraphQL errors from {url}: {}", messages.join("; "))));
    }
    let pointer = &stream.records;
    let slot = if pointer.is_empty() { Some(&mut body) } else { body.pointer_mut(pointer) };
    match slot.map(Value::take) {
        Some(Value::Array(records)) => Ok((body, records)),
        Some(Value::Null) | None => Err(Error::Data(format!(
            "response from {url} has no records at `{pointer}`: check the stream's `records` pointer"
        ))),
        Some(other) => Err(Error::Data(format!(
            "response from {url}: `{pointer}` is a {} where an array of records was expected",
            kind(&other)
        ))),
    }
}

/// Reads every page of one stream (for each parent record, for a child stream),
/// then checkpoints once: pages need not be sorted by the cursor, so only after
/// the last page is it certain that nothing older is still to come.
fn read_stream(config: &Config, stream: &StreamConfig) -> Result<()> {
    if let Some(job) = &stream.export {
        return export::run(config, stream, job);
    }
    let name = stream.name.as_str();
    let previous: StreamState = state::get_json(name)?.unwrap_or_default();
    let lookback = match stream.incremental.as_ref().and_then(|i| i.lookback.as_deref()) {
        Some(l) => Some(incremental::parse_duration(l).map_err(Error::Config)?),
        None => None,
    };
    let mut sync = Sync {
        config,
        stream,
        rows: 0,
        pages: 0,
        requested: HashSet::new(),
        seen: previous.seen.clone().unwrap_or_default(),
        max_cursor: None,
        lookback,
        emitted: Default::default(),
        emit_calls: 0,
    };

    let since = match &stream.incremental {
        Some(inc) => match state::watermark(name) {
            Some(w) => Some(incremental::since(&w, lookback)?),
            None => inc.start_value.clone(),
        },
        None => None,
    };

    let result = match &stream.parent {
        None => {
            let first = match &previous.resume {
                Some(r) => r.next.clone(),
                None => {
                    let mut base = RequestSpec::new(config, stream, &stream.path)?;
                    apply_since(config, stream, &mut base, since.as_deref(), None)?;
                    stream.paginator.first(&base)
                }
            };
            sync.paginate(first, &[])
        }
        Some(parent) => {
            let parent_cfg = config.stream(parent).expect("validated: the parent exists");
            let parents = collect_records(config, parent_cfg)?;
            let mut result = Ok(None);
            for record in &parents {
                let (path, vars) = fill_path(&stream.path, record, name)?;
                // A child stream sliced across workers: each owns the parents whose
                // filled path hashes to its slice (`state.owns`).
                if !state::owns(name, &path) {
                    continue;
                }
                let mut base = RequestSpec::new(config, stream, &path)?;
                apply_since(config, stream, &mut base, since.as_deref(), Some(record))?;
                result = sync.paginate(stream.paginator.first(&base), &vars);
                if !matches!(result, Ok(None)) {
                    break;
                }
            }
            result
        }
    };

    match result {
        Ok(_) => {
            output::info(&format!("stream {name}: {} rows in {} pages", sync.rows, sync.pages));
            let state = sync.state(None);
            output::checkpoint(name, &state).map_err(|e| sync.page_named(e, false))
        }
        // A spent quota: commit what was read with the request to resume from. A child
        // stream cannot resume mid-parent, so it commits nothing and starts over.
        Err((Error::Paused(why), next)) => {
            if stream.parent.is_none()
                && let Some(next) = next
            {
                let state = sync.state(Some(Resume { next }));
                output::checkpoint(name, &state).map_err(|e| sync.page_named(e, false))?;
            }
            Err(Error::Paused(why))
        }
        Err((e, _)) => Err(e),
    }
}

/// Puts the watermark (or `start_value`) where the stream says, as `cursor_param`,
/// and renders the templates of the stream's parameters and body (`template`):
/// the watermark in any form, the parent record, the config's `vars`.
fn apply_since(
    config: &Config,
    stream: &StreamConfig,
    req: &mut RequestSpec,
    since: Option<&str>,
    parent: Option<&Value>,
) -> Result<()> {
    if let Some(inc) = &stream.incremental
        && let (Some(param), Some(since)) = (&inc.cursor_param, since)
    {
        req.set(inc.cursor_in, param, Value::String(since.to_string()));
    }
    let ctx = template::Context::new(since, parent, &config.vars);
    template::render_all(req.strings_mut().into_iter(), &ctx, &stream.name)
}

/// The state of one stream's sync in progress.
struct Sync<'a> {
    config: &'a Config,
    stream: &'a StreamConfig,
    rows: u64,
    pages: u64,
    /// Every request of this sync, to tell a paginator that goes round in circles.
    requested: HashSet<String>,
    seen: Seen,
    max_cursor: Option<CursorValue>,
    lookback: Option<i64>,
    /// The URLs of the last pages handed to `emit-records`, numbered as the host
    /// counts them: it decodes a page's records while the next is fetched, so a
    /// failure of page N's records can come back from a later call (`page_named`).
    emitted: std::collections::VecDeque<(u64, String)>,
    emit_calls: u64,
}

/// A failure, with the request that was about to be sent (to resume from).
type Failure = (Error, Option<RequestSpec>);

impl Sync<'_> {
    /// Fetches and emits pages from `first` on. `parent_vars` are added to each record.
    fn paginate(&mut self, first: RequestSpec, parent_vars: &[(String, Value)]) -> Result<Option<()>, Failure> {
        let paginator = &self.stream.paginator;
        let concurrency = if paginator.is_numbered() { self.stream.concurrency.max(1) as u64 } else { 1 };
        let mut req = first;
        loop {
            // Numbered pages can be fetched ahead: `concurrency` at once.
            let batch: Vec<RequestSpec> = (0..concurrency).map(|i| paginator.advance(&req, i)).collect();
            let fetched: Vec<Result<Option<Fetched>>> = if batch.len() == 1 {
                vec![fetch(self.config, self.stream, &batch[0])]
            } else {
                let requests: Vec<_> = batch.iter().map(|r| request(self.config, self.stream, r)).collect();
                http::send_all(&requests)
                    .into_iter()
                    .zip(&batch)
                    .map(|(res, r)| {
                        // A page a rule asks to retry is sent again on its own.
                        res.and_then(|x| {
                            judged(self.config, self.stream, r, x)
                                .unwrap_or_else(|_| fetch(self.config, self.stream, r))
                        })
                    })
                    .collect()
            };
            for (spec, page) in batch.iter().zip(fetched) {
                self.bound(spec).map_err(|e| (e, None))?;
                // A page an `on_error` rule skips ends this request's pages (a parent's, for a child stream).
                let Some(page) = page.map_err(|e| (e, Some(spec.clone())))? else { return Ok(None) };
                let (count, skeleton, last) = self.land(&page, parent_vars).map_err(|e| (e, None))?;
                let page_ref = Page {
                    url: &page.url,
                    body: &skeleton,
                    headers: &page.headers,
                    records: count,
                    last_record: last.as_ref(),
                };
                match next_request(self.stream, spec, &page_ref).map_err(|e| (e, None))? {
                    None => {
                        self.check_no_more(&page_ref).map_err(|e| (e, None))?;
                        return Ok(None);
                    }
                    Some(next) => req = next,
                }
            }
        }
    }

    /// Stops a paginator that never ends: a request sent before in this sync (a
    /// cursor returned again), or more pages than the stream's `max_pages`.
    fn bound(&mut self, spec: &RequestSpec) -> Result<()> {
        let name = &self.stream.name;
        let key = serde_json::to_string(spec).map_err(|e| Error::Other(e.to_string()))?;
        if !self.requested.insert(key) {
            return Err(Error::Data(format!(
                "stream `{name}`: the paginator asked for a page it already fetched ({}{}): \
                 the API returned the same cursor again; stopping rather than looping forever",
                spec.url,
                if spec.query.is_empty() { String::new() } else { format!(" with {:?}", spec.query) }
            )));
        }
        if self.requested.len() as u64 > self.stream.max_pages {
            return Err(Error::Data(format!(
                "stream `{name}`: more than max_pages = {} pages in one sync: the paginator does not end \
                 (raise max_pages if the API really has that many)",
                self.stream.max_pages
            )));
        }
        Ok(())
    }

    /// A page after which the paginator stops, though the page says more follow
    /// (`has_more: true`): the stream fails, naming the flag, instead of landing
    /// one page and reporting success. A page without records ends a stream whatever it says.
    fn check_no_more(&self, page: &Page) -> Result<()> {
        match paginate::says_more(page.body) {
            Some(flag) if page.records > 0 && self.stream.graphql.is_none() => Err(Error::Data(format!(
                "stream `{}`: the page from {} says more pages follow (`{flag}` is true), but the paginator \
                 found no next page: configure the stream's `paginator` (e.g. `type = \"last_record\"` for \
                 `starting_after` cursors, or `type = \"cursor\"` with the right `cursor_path`)",
                self.stream.name, page.url
            ))),
            _ => Ok(()),
        }
    }

    /// Emits one page's records; returns how many the page held, the rest of its
    /// body, and its last record when the records were read here.
    fn land(&mut self, page: &Fetched, parent_vars: &[(String, Value)]) -> Result<(usize, Value, Option<Value>)> {
        let stream = self.stream;
        let with_page = |e: Error| match e {
            Error::Data(m) => Error::Data(format!("{m} (page {})", page.url)),
            other => other,
        };
        // Records land untouched, never parsed here, unless something must be added to
        // or checked in each (lookback, a nested cursor, parent fields, GraphQL errors).
        let nested_cursor = stream.incremental.as_ref().is_some_and(|i| i.cursor_field.starts_with('/'));
        let unread = self.lookback.is_none()
            && !nested_cursor
            && parent_vars.is_empty()
            && stream.graphql.is_none()
            && !stream.paginator.needs_records();
        if unread {
            self.emit_calls += 1;
            if self.emitted.len() == 2 {
                self.emitted.pop_front();
            }
            self.emitted.push_back((self.emit_calls, page.url.clone()));
            let (count, skeleton) = output::emit_records(&stream.name, &page.body, &stream.records)
                .map_err(|e| self.page_named(e, true))?;
            self.rows += count;
            self.pages += 1;
            output::progress(&stream.name, self.rows, None);
            return Ok((count as usize, skeleton, None));
        }
        let (skeleton, records) = split(stream, page)?;
        let count = records.len();
        let last = records.last().cloned();
        let mut rows = Vec::with_capacity(count);
        for mut record in records {
            if let Some(inc) = &stream.incremental {
                let cursor = field(&record, &inc.cursor_field).cloned().unwrap_or(Value::Null);
                if self.lookback.is_some() {
                    let key = Seen::key(&record, &stream.primary_key, &cursor);
                    if !self.seen.rows.insert(key) {
                        continue; // re-read inside the lookback window, landed before
                    }
                }
                if let Some(c) = CursorValue::of(&cursor)
                    && self.max_cursor.as_ref().is_none_or(|m| c > *m)
                {
                    self.max_cursor = Some(c);
                }
                if nested_cursor && let Value::Object(map) = &mut record {
                    map.insert(column_of(&inc.cursor_field), cursor);
                }
            }
            if let Value::Object(map) = &mut record {
                for (k, v) in parent_vars {
                    map.entry(format!("parent_{k}")).or_insert_with(|| v.clone());
                }
            }
            rows.push(record);
        }
        output::emit_json_rows(&stream.name, &rows).map_err(with_page)?;
        self.rows += rows.len() as u64;
        self.pages += 1;
        output::progress(&stream.name, self.rows, None);
        Ok((count, skeleton, last))
    }

    /// A data failure of `emit-records` or of the checkpoint, with the page named
    /// whose records failed: the one the host's message numbers (`page N of this
    /// call's emit-records`), which may be the page before the current one, or
    /// else, for `emit-records` (`current`), the page it was given.
    fn page_named(&self, e: Error, current: bool) -> Error {
        match e {
            Error::Data(m) => {
                let url =
                    self.emitted.iter().find(|(n, _)| m.contains(&format!("page {n} of this call's emit-records")));
                match url.or(self.emitted.back().filter(|_| current)) {
                    Some((_, url)) => Error::Data(format!("{m} (page {url})")),
                    None => Error::Data(m),
                }
            }
            other => other,
        }
    }

    fn state(&mut self, resume: Option<Resume>) -> StreamState {
        let seen = self.lookback.map(|window| {
            let mut seen = std::mem::take(&mut self.seen);
            let max = match &self.max_cursor {
                Some(CursorValue::Time(t)) => Some(*t),
                Some(CursorValue::Number(n)) => Some(*n as i64),
                _ => None,
            };
            seen.trim(max, window);
            seen
        });
        StreamState { rows: self.rows, pages: self.pages, seen, resume }
    }
}

/// The next page's request: GraphQL's pageInfo when the stream is a GraphQL query, else its paginator.
fn next_request(stream: &StreamConfig, req: &RequestSpec, page: &Page) -> Result<Option<RequestSpec>> {
    match &stream.graphql {
        Some(g) => paginate::relay_next(g, req, page),
        None => stream.paginator.next(req, page),
    }
}

/// Every record of a (parent) stream, without emitting them.
fn collect_records(config: &Config, stream: &StreamConfig) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut req = stream.paginator.first(&RequestSpec::new(config, stream, &stream.path)?);
    loop {
        let Some(page) = fetch(config, stream, &req)? else { return Ok(out) };
        let (skeleton, records) = split(stream, &page)?;
        let p = Page {
            url: &page.url,
            body: &skeleton,
            headers: &page.headers,
            records: records.len(),
            last_record: records.last(),
        };
        let next = next_request(stream, &req, &p)?;
        out.extend(records);
        match next {
            Some(next) => req = next,
            None => return Ok(out),
        }
    }
}

/// Fills `{field}` placeholders from a parent record (URL-encoded).
fn fill_path(template: &str, record: &Value, stream: &str) -> Result<(String, Vec<(String, Value)>)> {
    let mut path = String::new();
    let mut vars = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = open
            + rest[open..]
                .find('}')
                .ok_or_else(|| Error::Config(format!("stream `{stream}`: unclosed `{{` in path `{template}`")))?;
        let name = &rest[open + 1..close];
        let value = field(record, name).cloned().unwrap_or(Value::Null);
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(Error::Data(format!(
                    "stream `{stream}`: parent record has {} for `{{{name}}}`: {record}",
                    kind(other)
                )));
            }
        };
        path.push_str(&rest[..open]);
        path.extend(url::form_urlencoded::byte_serialize(text.as_bytes()));
        vars.push((name.trim_start_matches('/').replace('/', "_"), value));
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    Ok((path, vars))
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

headwater_sdk::export!(Rest);
