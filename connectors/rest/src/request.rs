//! One request of a stream, kept as parts (URL, query, JSON body) so that
//! paginators and the incremental cursor can set values in the right place.

use crate::config::{Config, Method, Place, StreamConfig};
use headwater_sdk::http::Request;
use headwater_sdk::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestSpec {
    pub method: Method,
    /// URL without the parameters in `query`.
    pub url: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Whether the body is a GraphQL `{query, variables}` document (body values go into `variables`).
    pub graphql: bool,
}

impl RequestSpec {
    /// The stream's first request for one set of path values (from a parent record).
    pub fn new(config: &Config, stream: &StreamConfig, path: &str) -> Result<RequestSpec> {
        let url = format!("{}{}", config.base_url.trim_end_matches('/'), path);
        url::Url::parse(&url)
            .map_err(|e| Error::Config(format!("stream `{}`: URL `{url}` is invalid: {e}", stream.name)))?;
        let query = stream.params.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        let (method, body, graphql) = match &stream.graphql {
            Some(g) => {
                let doc = serde_json::json!({ "query": g.query, "variables": g.variables });
                (Method::Post, Some(doc), true)
            }
            None => (stream.method, stream.body.clone(), false),
        };
        Ok(RequestSpec { method, url, query, body, graphql })
    }

    /// Sets `name` in the query or in the body (for GraphQL, in `variables`).
    pub fn set(&mut self, place: Place, name: &str, value: Value) {
        match place {
            Place::Query => {
                self.query.retain(|(k, _)| k != name);
                self.query.push((name.to_string(), text(&value)));
            }
            Place::Body => {
                let body = self.body.get_or_insert_with(|| Value::Object(Default::default()));
                let target = if self.graphql { &mut body["variables"] } else { body };
                if !target.is_object() {
                    *target = Value::Object(Default::default());
                }
                match name.strip_prefix('/') {
                    // A JSON pointer: the value goes deep into the body the stream configured.
                    Some(pointer) => set_at(target, pointer, value),
                    None => target[name] = value,
                }
            }
        }
    }

    /// Every parameter value and body string, for templates to render.
    pub fn strings_mut(&mut self) -> Vec<&mut String> {
        let mut out: Vec<&mut String> = self.query.iter_mut().map(|(_, v)| v).collect();
        if let Some(body) = &mut self.body {
            strings(body, &mut out);
        }
        out
    }

    pub fn query_u64(&self, name: &str) -> Option<u64> {
        self.query.iter().rev().find(|(k, _)| k == name).and_then(|(_, v)| v.parse().ok())
    }

    /// The request for a URL a page pointed to (its own query replaces ours).
    pub fn follow(&self, next: &str, current: &str) -> Result<RequestSpec> {
        let base = url::Url::parse(current).map_err(|e| Error::Other(format!("{current}: {e}")))?;
        let url = base.join(next).map_err(|e| Error::Data(format!("next page URL `{next}` from {current}: {e}")))?;
        Ok(RequestSpec { url: url.into(), query: Vec::new(), ..self.clone() })
    }

    /// The full URL, parameters included.
    pub fn full_url(&self) -> String {
        let mut url = url::Url::parse(&self.url).expect("checked when built");
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(self.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        url.into()
    }

    pub fn to_request(&self, auth: Option<&String>, headers: &[(String, String)]) -> Request {
        let url = self.full_url();
        let mut r = match (self.method, &self.body) {
            (Method::Post, Some(b)) => Request::post_json(url, b),
            (Method::Post, None) => Request { method: "POST".into(), ..Request::get(url) },
            (Method::Get, _) => Request::get(url),
        };
        r.headers.extend(headers.iter().cloned());
        r.auth(auth.cloned())
    }
}

/// A JSON value as a parameter: strings bare, everything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sets the value at `pointer` (RFC 6901, without its leading `/`) inside `target`,
/// creating objects on the way where keys are missing; an array index must exist,
/// or be its length (appended).
fn set_at(target: &mut Value, pointer: &str, value: Value) {
    let segments: Vec<String> = pointer.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
    let mut at = target;
    for (n, segment) in segments.iter().enumerate() {
        let last = n + 1 == segments.len();
        at = match at {
            Value::Array(items) => match segment.parse::<usize>() {
                Ok(i) if i < items.len() => &mut items[i],
                Ok(i) if i == items.len() => {
                    items.push(Value::Object(Default::default()));
                    &mut items[i]
                }
                _ => return,
            },
            other => {
                if !other.is_object() {
                    *other = Value::Object(Default::default());
                }
                let map = other.as_object_mut().expect("made an object");
                map.entry(segment.clone()).or_insert_with(|| Value::Object(Default::default()))
            }
        };
        if last {
            *at = value;
            return;
        }
    }
}

/// The strings of a JSON value, at any depth (a body from the pipeline file).
fn strings<'a>(value: &'a mut Value, out: &mut Vec<&'a mut String>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter_mut().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values_mut().for_each(|v| strings(v, out)),
        _ => {}
    }
}
