//! Incremental reads: where a sync starts, and how a sync stopped part-way
//! resumes.
//!
//! A sync asks the source for the rows after `since`, the stream's watermark
//! ([`state::watermark`]): the highest value of the stream's cursor field
//! that the sink holds. The host computes it from the rows it committed, never
//! from what a connector says, and keeps it across phases, so after a backfill
//! the first API sync starts where the backfill's rows end.
//!
//! While a sync is under way, each checkpoint's state holds that `since` and
//! the token of the next page (`{"since": …, "next": …}`, see [`SyncState`]).
//! A run stopped between pages (a spent quota: [`Error::Paused`], a crash)
//! left the pages it checkpointed committed, and those moved the watermark;
//! the next run resumes the same sync, with the same `since`, at the page it
//! stopped at, rather than start a new sync from the moved watermark, which
//! would shift the API's result set under a saved offset or cursor. The last
//! page's checkpoint has no `next`; the next run then starts a new sync from
//! the watermark.
//!
//! # Rows at the watermark: the seam
//!
//! A source filter rarely says exactly "after". With an inclusive filter
//! (`updated_since` meaning `updated_at >= since`, as most APIs have it) a
//! sync reads again the rows whose cursor equals the watermark. The host
//! handles them, when the stream declares a primary key: its state keeps the
//! primary keys of the committed rows at the watermark, each with a hash of the
//! row's content, and drops a re-read row with the same key, cursor and content
//! as already landed. A row with the same key and cursor but new content (edited
//! again within the cursor's resolution) lands as a new version, as does a row
//! updated since, with its newer cursor. Where a backfill hands off to an API,
//! the two may shape a row differently, so there the key and cursor alone say it
//! is the same row. At most 100,000 keys are kept for one cursor value (beyond
//! that the host warns, and the others may land again).
//!
//! So prefer an inclusive filter: with a strict one (`>`), nothing is re-read,
//! but a row written after a sync with a cursor equal to the watermark (in the
//! same second) is never read. A stream without a primary key is not
//! deduplicated: every re-read row lands again.
//!
//! ```no_run
//! use headwater_sdk::http::Request;
//! use headwater_sdk::incremental::Incremental;
//! use headwater_sdk::paginate::{Pages, Paging};
//!
//! # fn main() -> headwater_sdk::Result<()> {
//! let sync = Incremental::new("orders")?;
//! let mut request = Request::get("https://api.example.com/orders");
//! if let Some(since) = sync.since() {
//!     request = request.query("updated_since", since);
//! }
//! let pages = Pages::new(request, Paging::cursor("cursor", "/next_cursor")).resume_from(sync.resume());
//! for page in pages.emit("orders", "/data") {
//!     sync.checkpoint(page?.next.as_deref())?;
//! }
//! # Ok(())
//! # }
//! ```

use crate::{Error, Result, output, state};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The state an [`Incremental`] checkpoints: the sync's lower bound, and where
/// its next page starts (`None` once the sync is complete).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    pub since: Option<String>,
    pub next: Option<String>,
}

/// One stream's incremental sync: its `since`, the page to resume at, and its
/// checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Incremental {
    stream: String,
    since: Option<String>,
    resume: Option<String>,
}

impl Incremental {
    /// The sync of `stream`: the one under way, if the stream's committed state
    /// says a sync stopped part-way, else a new one from the watermark.
    pub fn new(stream: &str) -> Result<Incremental> {
        let saved = match state::get(stream) {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| Error::Data(format!("the committed state of stream `{stream}` is not JSON: {e}")))?,
            ),
        };
        Ok(Incremental::from_state(stream, saved.as_ref(), || state::watermark(stream)))
    }

    /// The sync given the stream's committed state and its watermark (read only
    /// when a new sync starts). A state of another shape (written by an earlier
    /// version of the connector) starts a new sync.
    pub fn from_state(stream: &str, saved: Option<&Value>, watermark: impl FnOnce() -> Option<String>) -> Incremental {
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match saved.and_then(|s| text(s.get("next"))) {
            Some(next) => Incremental {
                stream: stream.to_string(),
                since: text(saved.and_then(|s| s.get("since"))),
                resume: Some(next),
            },
            None => Incremental { stream: stream.to_string(), since: watermark(), resume: None },
        }
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The lower bound of this sync: ask the source for rows after it. `None`
    /// on a first sync (nothing committed yet): read everything.
    pub fn since(&self) -> Option<&str> {
        self.since.as_deref()
    }

    /// The page this run resumes at (a token for
    /// [`Pages::resume_from`](crate::paginate::Pages::resume_from)), when the
    /// previous run stopped part-way; `None` to start at the first page.
    pub fn resume(&self) -> Option<&str> {
        self.resume.as_deref()
    }

    /// Whether this run continues a sync that an earlier run stopped part-way.
    pub fn is_resuming(&self) -> bool {
        self.resume.is_some()
    }

    /// The state a checkpoint with `next` commits.
    pub fn state(&self, next: Option<&str>) -> SyncState {
        SyncState { since: self.since.clone(), next: next.map(str::to_string) }
    }

    /// Commits the rows emitted since the last checkpoint with the state
    /// `{since, next}`: `next` is where the next page starts, `None` once the
    /// last page is emitted (the sync is complete).
    pub fn checkpoint(&self, next: Option<&str>) -> Result<()> {
        output::checkpoint(&self.stream, &self.state(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_first_sync_reads_everything() {
        let sync = Incremental::from_state("orders", None, || None);
        assert_eq!((sync.since(), sync.resume()), (None, None));
        assert_eq!(serde_json::to_value(sync.state(Some("40"))).unwrap(), json!({"since": null, "next": "40"}));
    }

    #[test]
    fn a_new_sync_starts_at_the_watermark() {
        let done = json!({"since": "2025-01-01T00:00:00Z", "next": null});
        let sync = Incremental::from_state("orders", Some(&done), || Some("2025-01-01T04:09:00Z".into()));
        assert_eq!(sync.since(), Some("2025-01-01T04:09:00Z"));
        assert!(!sync.is_resuming());
    }

    #[test]
    fn a_stopped_sync_resumes_with_its_own_since() {
        let stopped = json!({"since": "2025-01-01T04:09:00Z", "next": "80"});
        let sync = Incremental::from_state("orders", Some(&stopped), || panic!("the watermark is not asked for"));
        assert_eq!((sync.since(), sync.resume()), (Some("2025-01-01T04:09:00Z"), Some("80")));
        // A first sync stopped part-way resumes as a first sync.
        let stopped = json!({"since": null, "next": 120});
        let sync = Incremental::from_state("orders", Some(&stopped), || Some("later".into()));
        assert_eq!((sync.since(), sync.resume()), (None, Some("120")));
    }

    #[test]
    fn a_state_of_another_shape_starts_a_new_sync() {
        for other in [json!({}), json!([1]), json!("x"), json!({"cursor": "5"})] {
            let sync = Incremental::from_state("orders", Some(&other), || Some("w".into()));
            assert_eq!((sync.since(), sync.resume()), (Some("w"), None), "{other}");
        }
    }
}
